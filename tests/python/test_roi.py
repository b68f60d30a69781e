"""foveal.ops.roi_align / roi_pool and their backward passes against torchvision.ops (the
peer), the float64 NumPy references in tests/reference/roi_ref.py, the seed worked example R1,
properties, and bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torchvision
from hypothesis import given
from hypothesis import strategies as st

from foveal.ops import roi_align, roi_align_backward, roi_pool, roi_pool_backward
from reference.roi_ref import roi_align_backward_ref, roi_align_ref, roi_pool_backward_ref, roi_pool_ref

H, W, C = 19, 23, 3  # odd sizes: SIMD main loops and tails
TOL = {np.float32: dict(rtol=1e-5, atol=2e-5), np.float64: dict(rtol=1e-12, atol=1e-12)}


def make_rois(rng, k, n, scale, dtype, outside=True):
    """k RoIs in image coordinates of a map (H, W) at `scale`: most inside, some partly or
    wholly outside, some degenerate (x2 < x1), some tiny."""
    img_h, img_w = H / scale, W / scale
    lo = -0.3 if outside else 0.0
    hi = 1.3 if outside else 1.0
    x1 = rng.uniform(lo, hi, k) * img_w
    y1 = rng.uniform(lo, hi, k) * img_h
    x2 = x1 + rng.uniform(-0.1, 0.8, k) * img_w
    y2 = y1 + rng.uniform(-0.1, 0.8, k) * img_h
    if not outside:
        x2, y2 = np.minimum(x2, img_w - 1), np.minimum(y2, img_h - 1)
    rois = np.stack([rng.integers(0, n, k), x1, y1, x2, y2], 1).astype(dtype)
    rois[0, 1:] = [2 / scale, 3 / scale, 2.2 / scale, 3.1 / scale]  # smaller than a pixel
    return rois


def tv_align(x, rois, size, scale, sr, aligned):
    return torchvision.ops.roi_align(torch.from_numpy(x), torch.from_numpy(rois), size, scale, sr, aligned).numpy()


def tv_pool(x, rois, size, scale):
    return torchvision.ops.roi_pool(torch.from_numpy(x), torch.from_numpy(rois), size, scale).numpy()


# ------------------------------------------------------------------ forward vs torchvision


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("size", [(1, 1), (7, 7), (7, 5), (14, 14)])
@pytest.mark.parametrize("scale", [1.0, 0.25, 0.0625])
@pytest.mark.parametrize("aligned", [False, True])
@pytest.mark.parametrize("sr", [-1, 0, 2])
def test_roi_align_matches_torchvision(sr, aligned, scale, size, batch, dtype):
    rng = np.random.default_rng([sr + 1, aligned, int(1 / scale), size[0], size[1], batch])
    x = rng.standard_normal((batch, C, H, W)).astype(dtype)
    rois = make_rois(rng, 17, batch, scale, dtype)
    if aligned and sr <= 0:
        # torchvision sizes a vector by grid_h * grid_w, which is negative for an aligned RoI with
        # one negative extent ("cannot create std::vector larger than max_size()"); those RoIs
        # are covered by the reference test.
        rois = np.concatenate([rois[:, :1], np.minimum(rois[:, 1:3], rois[:, 3:]), np.maximum(rois[:, 1:3], rois[:, 3:])], 1)
    got = roi_align(x, rois, size, scale, sr, aligned)
    assert got.dtype == dtype and got.shape == (17, C) + size
    np.testing.assert_allclose(got, tv_align(x, rois, size, scale, sr, aligned), **TOL[dtype])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("size", [(1, 1), (7, 7), (7, 5), (14, 14)])
@pytest.mark.parametrize("scale", [1.0, 0.25, 0.0625])
def test_roi_pool_matches_torchvision(scale, size, batch, dtype, simd_level):
    rng = np.random.default_rng([int(1 / scale), size[0], size[1], batch])
    x = rng.standard_normal((batch, C, H, W)).astype(dtype)
    rois = make_rois(rng, 17, batch, scale, dtype)
    want = tv_pool(x, rois, size, scale)
    np.testing.assert_array_equal(roi_pool(x, rois, size, scale), want)
    out, am = roi_pool(x, rois, size, scale, return_argmax=True)
    np.testing.assert_array_equal(out, want)
    assert am.dtype == np.int64


@pytest.mark.parametrize("aligned", [False, True])
@pytest.mark.parametrize("sr", [-1, 2])
def test_roi_align_simd_levels(sr, aligned, simd_level):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, C, 37, 41)).astype(np.float32)
    rois = make_rois(rng, 40, 2, 0.5, np.float32)
    rois = np.concatenate([rois[:, :1], np.minimum(rois[:, 1:3], rois[:, 3:]), np.maximum(rois[:, 1:3], rois[:, 3:])], 1)
    np.testing.assert_allclose(roi_align(x, rois, (7, 5), 0.5, sr, aligned),
                               tv_align(x, rois, (7, 5), 0.5, sr, aligned), **TOL[np.float32])


# ------------------------------------------------------------------ forward vs float64 reference


@pytest.mark.parametrize("size", [(1, 1), (7, 5), (14, 14)])
@pytest.mark.parametrize("scale", [1.0, 0.25])
@pytest.mark.parametrize("aligned", [False, True])
@pytest.mark.parametrize("sr", [-1, 2])
def test_roi_align_matches_reference(sr, aligned, scale, size):
    rng = np.random.default_rng([sr + 2, aligned, int(1 / scale), size[0]])
    x = rng.standard_normal((2, C, H, W))
    rois = make_rois(rng, 9, 2, scale, np.float64)
    want = roi_align_ref(x, rois, size, scale, sr, aligned)
    np.testing.assert_allclose(roi_align(x, rois, size, scale, sr, aligned), want, rtol=1e-12, atol=1e-12)
    got32 = roi_align(x.astype(np.float32), rois.astype(np.float32), size, scale, sr, aligned)
    np.testing.assert_allclose(got32, want, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("size", [(1, 1), (7, 5), (3, 4)])
@pytest.mark.parametrize("bins", ["torchvision", "seed"])
def test_roi_pool_matches_reference(bins, size, dtype):
    rng = np.random.default_rng([size[0], size[1], bins == "seed"])
    x = rng.standard_normal((2, C, H, W)).astype(dtype)
    rois = make_rois(rng, 9, 2, 0.5, dtype)
    want, want_am = roi_pool_ref(x, rois, size, 0.5, bins)
    out, am = roi_pool(x, rois, size, 0.5, bins=bins, return_argmax=True)
    np.testing.assert_array_equal(out, want.astype(dtype))
    np.testing.assert_array_equal(am, want_am)
    np.testing.assert_array_equal(roi_pool(x, rois, size, 0.5, bins=bins), want.astype(dtype))


# ------------------------------------------------------------------ backward


def tv_align_grad(x, rois, size, scale, sr, aligned, g):
    xt = torch.from_numpy(x).requires_grad_(True)
    torchvision.ops.roi_align(xt, torch.from_numpy(rois), size, scale, sr, aligned).backward(torch.from_numpy(g))
    return xt.grad.numpy()


def tv_pool_grad(x, rois, size, scale, g):
    xt = torch.from_numpy(x).requires_grad_(True)
    torchvision.ops.roi_pool(xt, torch.from_numpy(rois), size, scale).backward(torch.from_numpy(g))
    return xt.grad.numpy()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("size", [(1, 1), (7, 5)])
@pytest.mark.parametrize("scale", [1.0, 0.25])
@pytest.mark.parametrize("aligned", [False, True])
@pytest.mark.parametrize("sr", [-1, 0, 2])
def test_roi_align_backward_matches_torchvision(sr, aligned, scale, size, dtype):
    rng = np.random.default_rng([sr + 3, aligned, int(1 / scale), size[0]])
    x = rng.standard_normal((3, C, H, W)).astype(dtype)
    rois = make_rois(rng, 13, 3, scale, dtype)
    rois = np.concatenate([rois[:, :1], np.minimum(rois[:, 1:3], rois[:, 3:]), np.maximum(rois[:, 1:3], rois[:, 3:])], 1)
    g = rng.standard_normal((13, C) + size).astype(dtype)
    got = roi_align_backward(g, rois, x.shape, size, scale, sr, aligned)
    assert got.dtype == dtype and got.shape == x.shape
    np.testing.assert_allclose(got, tv_align_grad(x, rois, size, scale, sr, aligned, g), **TOL[dtype])


@pytest.mark.parametrize("aligned", [False, True])
@pytest.mark.parametrize("sr", [-1, 2])
def test_roi_align_backward_reference_and_adjoint(sr, aligned):
    rng = np.random.default_rng([sr + 4, aligned])
    x = rng.standard_normal((2, C, H, W))
    rois = make_rois(rng, 8, 2, 0.5, np.float64)
    g = rng.standard_normal((8, C, 7, 5))
    gi = roi_align_backward(g, rois, x.shape, (7, 5), 0.5, sr, aligned)
    np.testing.assert_allclose(gi, roi_align_backward_ref(g, rois, x.shape, 0.5, sr, aligned), rtol=1e-12, atol=1e-12)
    # <roi_align(x), g> == <x, roi_align_backward(g)>
    lhs = np.vdot(roi_align(x, rois, (7, 5), 0.5, sr, aligned), g)
    rhs = np.vdot(x, gi)
    assert abs(lhs - rhs) <= 1e-10 * max(1.0, abs(lhs))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("size", [(1, 1), (7, 5), (14, 14)])
@pytest.mark.parametrize("scale", [1.0, 0.25])
def test_roi_pool_backward_matches_torchvision(scale, size, dtype):
    rng = np.random.default_rng([int(1 / scale), size[0]])
    x = rng.standard_normal((3, C, H, W)).astype(dtype)
    rois = make_rois(rng, 13, 3, scale, dtype)
    g = rng.standard_normal((13, C) + size).astype(dtype)
    _, am = roi_pool(x, rois, size, scale, return_argmax=True)
    got = roi_pool_backward(g, rois, am, x.shape)
    np.testing.assert_allclose(got, tv_pool_grad(x, rois, size, scale, g), **TOL[dtype])
    np.testing.assert_allclose(got, roi_pool_backward_ref(g, rois, am, x.shape), **TOL[dtype])


def test_roi_pool_argmax_ties_pick_first_row_major():
    x = np.zeros((1, 1, 4, 4), np.float32)
    x[0, 0, 1, 2] = x[0, 0, 2, 1] = 5.0  # equal maxima: (1, 2) comes first row-major
    out, am = roi_pool(x, np.array([[0, 0, 0, 3, 3]], np.float32), 1, return_argmax=True)
    assert out[0, 0, 0, 0] == 5.0 and am[0, 0, 0, 0] == 1 * 4 + 2
    xt = torch.from_numpy(x).requires_grad_(True)
    torchvision.ops.roi_pool(xt, torch.tensor([[0.0, 0, 0, 3, 3]]), 1).sum().backward()
    np.testing.assert_array_equal(roi_pool_backward(np.ones((1, 1, 1, 1), np.float32),
                                                    np.array([[0, 0, 0, 3, 3]], np.float32), am, x.shape),
                                  xt.grad.numpy())


# ------------------------------------------------------------------ seed oracle R1

R1_MAP = np.array([
    [0.85, 0.34, 0.76, 0.84, 0.29, 0.75, 0.62],
    [0.32, 0.74, 0.21, 0.39, 0.34, 0.03, 0.33],
    [0.20, 0.14, 0.16, 0.13, 0.73, 0.65, 0.96],
    [0.19, 0.69, 0.09, 0.86, 0.88, 0.07, 0.01],
    [0.83, 0.24, 0.97, 0.04, 0.24, 0.35, 0.50],
])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_seed_R1_floor_bins(dtype):
    x = R1_MAP.astype(dtype)[None, None]
    rois = np.array([[0, 0, 0, 6, 4]], dtype)
    got = roi_pool(x, rois, 2, bins="seed")
    np.testing.assert_array_equal(got[0, 0], np.array([[0.85, 0.84], [0.97, 0.96]], dtype))
    # torchvision's overlapping bins differ in the top-right bin (column 3 is shared) and the
    # default follows torchvision
    tv = roi_pool(x, rois, 2)
    np.testing.assert_array_equal(tv, tv_pool(x, rois, 2, 1.0))
    assert tv[0, 0, 0, 1] == dtype(0.96)


# ------------------------------------------------------------------ properties


@given(
    value=st.floats(-1e3, 1e3),
    box=st.tuples(st.floats(0, 22), st.floats(0, 18), st.floats(0, 22), st.floats(0, 18)),
    sr=st.sampled_from([-1, 1, 2, 3]),
    aligned=st.booleans(),
    size=st.tuples(st.integers(1, 9), st.integers(1, 9)),
)
def test_roi_align_of_constant_map_is_constant(value, box, sr, aligned, size):
    x1, y1 = min(box[0], box[2]), min(box[1], box[3])
    x2, y2 = max(box[0], box[2]), max(box[1], box[3])
    x = np.full((1, 2, H, W), value)
    got = roi_align(x, np.array([[0, x1, y1, x2, y2]]), size, 1.0, sr, aligned)
    if aligned and ((x2 - 0.5) - (x1 - 0.5) == 0 or (y2 - 0.5) - (y1 - 0.5) == 0) and sr <= 0:
        np.testing.assert_array_equal(got, 0.0)  # an empty aligned RoI has no samples
    else:
        np.testing.assert_allclose(got, value, rtol=1e-12, atol=1e-9)


@pytest.mark.parametrize("sr", [-1, 0, 1])  # one sample at the pixel centre
def test_roi_align_one_pixel_aligned_returns_that_pixel(sr):
    rng = np.random.default_rng(7)
    x = rng.standard_normal((2, C, H, W))
    for b, i, j in [(0, 0, 0), (1, 5, 7), (1, H - 1, W - 1)]:
        got = roi_align(x, np.array([[b, j, i, j + 1, i + 1]]), 1, 1.0, sr, True)
        np.testing.assert_allclose(got[0, :, 0, 0], x[b, :, i, j], rtol=1e-14, atol=1e-14)


def test_rois_outside_the_map_give_zeros_and_partial_ones_match():
    x = np.random.default_rng(8).standard_normal((1, C, H, W)).astype(np.float32)
    rois = np.array([[0, -50, -50, -10, -10], [0, 100, 100, 140, 150], [0, -5, -5, 3, 4]], np.float32)
    a = roi_align(x, rois, 7)
    np.testing.assert_array_equal(a[:2], 0.0)
    np.testing.assert_allclose(a, tv_align(x, rois, (7, 7), 1.0, -1, False), **TOL[np.float32])
    p = roi_pool(x, rois, 7)
    np.testing.assert_array_equal(p[:2], 0.0)
    np.testing.assert_array_equal(p, tv_pool(x, rois, (7, 7), 1.0))


@pytest.mark.parametrize("aligned", [False, True])
@pytest.mark.parametrize("shape", [(1, 2, 0, 5), (1, 2, 5, 0)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_roi_align_of_an_empty_map_is_zero(shape, dtype, aligned):
    # samples in [-1, 0] were clamped onto pixel -1 of the empty axis: a read before the map
    rois = np.array([[0, -0.5, -0.5, 0.2, 0.2], [0, -0.9, -0.2, 0.0, 0.1]], dtype)
    np.testing.assert_array_equal(roi_align(np.zeros(shape, dtype), rois, 2, aligned=aligned), 0.0)


@pytest.mark.parametrize("aligned", [False, True])
def test_huge_adaptive_roi_matches_torchvision(aligned):
    # a 2000-pixel RoI on a 16x16 map: 2000 x 2000 samples per bin, nearly all off the map
    x = np.random.default_rng(9).standard_normal((1, 2, 16, 16))
    rois = np.array([[0, -900, -700, 1100, 1300], [0, 3, 4, 1e5, 2e5]])
    got = roi_align(x, rois, 1, 1.0, -1, aligned)
    np.testing.assert_allclose(got[:1], tv_align(x, rois[:1], (1, 1), 1.0, -1, aligned), rtol=1e-10, atol=1e-14)
    assert np.isfinite(got).all()
    np.testing.assert_array_equal(roi_pool(x, rois, 2), tv_pool(x, rois, (2, 2), 1.0))
    # enormous coordinates stay defined (grid capped, RoIPool corners clamped)
    big = np.array([[0, -1e30, -1e30, 1e30, 1e30]])
    assert np.isfinite(roi_align(x, big, 2, 1.0, -1, aligned)).all()
    np.testing.assert_array_equal(roi_pool(x, big, 1)[0, :, 0, 0], x[0].max(axis=(1, 2)))


@pytest.mark.parametrize("aligned", [False, True])
def test_a_roi_whose_extent_overflows_float32_finishes(aligned):
    # x2 - x1 = 6e38 is inf in float32: bin inf, first sample 0 * inf = NaN; the sample range was
    # then NaN-compared into the whole capped grid (2^40 samples per axis: a hang)
    x = np.random.default_rng(11).standard_normal((1, 2, 16, 16)).astype(np.float32)
    rois = np.array([[0, -3e38, 0, 3e38, 10], [0, 0, -3e38, 10, 3e38]], np.float32)
    np.testing.assert_array_equal(roi_align(x, rois, 2, 1.0, -1, aligned), 0.0)


def test_empty_rois_and_list_form_and_torch():
    rng = np.random.default_rng(10)
    x = rng.standard_normal((2, C, H, W)).astype(np.float32)
    assert roi_align(x, np.zeros((0, 5), np.float32), 7).shape == (0, C, 7, 7)
    assert roi_pool(x, [], 3).shape == (0, C, 3, 3)
    b0 = np.array([[1, 2, 10, 12], [0, 0, 5, 5]], np.float32)
    b1 = np.array([[3, 3, 15, 9]], np.float32)
    stacked = np.array([[0, 1, 2, 10, 12], [0, 0, 0, 5, 5], [1, 3, 3, 15, 9]], np.float32)
    np.testing.assert_array_equal(roi_align(x, [b0, b1], (7, 5), 1.0, 2, True),
                                  roi_align(x, stacked, (7, 5), 1.0, 2, True))
    np.testing.assert_array_equal(roi_pool(x, [b0, b1], 2), roi_pool(x, stacked, 2))
    xt = torch.from_numpy(x)
    got = roi_align(xt, [torch.from_numpy(b0), torch.from_numpy(b1)], 7, 0.5, 2, True)
    assert isinstance(got, torch.Tensor) and got.dtype == torch.float32
    want = torchvision.ops.roi_align(xt, [torch.from_numpy(b0), torch.from_numpy(b1)], 7, 0.5, 2, True)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=2e-5)
    torch.testing.assert_close(roi_pool(xt, torch.from_numpy(stacked), 3), torchvision.ops.roi_pool(xt, torch.from_numpy(stacked), 3))


def test_inputs_untouched_and_non_contiguous():
    rng = np.random.default_rng(11)
    x = rng.standard_normal((2, C, H, 2 * W))[..., ::2]  # non-contiguous
    rois = make_rois(rng, 6, 2, 1.0, np.float64)
    x0, r0 = x.copy(), rois.copy()
    got = roi_align(x, rois, 3, 1.0, 2)
    np.testing.assert_array_equal(got, roi_align(np.ascontiguousarray(x), rois, 3, 1.0, 2))
    roi_pool(x, rois, 3)
    np.testing.assert_array_equal(x, x0)
    np.testing.assert_array_equal(rois, r0)
    # float32 input with float64 RoIs: the RoIs are converted, the output stays float32
    assert roi_align(x.astype(np.float32), rois, 3).dtype == np.float32


# ------------------------------------------------------------------ bad input


X = np.zeros((2, C, 8, 8), np.float32)
OK = np.array([[0, 1, 1, 5, 5]], np.float32)


@pytest.mark.parametrize("fn", [roi_align, roi_pool])
@pytest.mark.parametrize(
    "rois, match",
    [
        (np.array([[2, 1, 1, 5, 5]], np.float32), r"batch indices in \[0, 2\).*got 2"),
        (np.array([[-1, 1, 1, 5, 5]], np.float32), "batch indices"),
        (np.array([[0.5, 1, 1, 5, 5]], np.float32), "integral batch indices"),
        (np.array([[np.nan, 1, 1, 5, 5]], np.float32), "batch indices"),
        (np.array([[0, 1, np.nan, 5, 5]], np.float32), "finite coordinates"),
        (np.array([[0, 1, 1, np.inf, 5]], np.float32), "finite coordinates"),
        (np.array([[0, 1, 1, 5]], np.float32), r"rois must have shape \(K, 5\)"),
        (np.zeros((1, 6), np.float32), r"rois must have shape \(K, 5\)"),
        ([np.zeros((2, 5), np.float32)], r"boxes\[0\] must have shape \(Ki, 4\)"),
    ],
)
def test_bad_rois(fn, rois, match):
    with pytest.raises(ValueError, match=f"{fn.__name__}: .*{match}"):
        fn(X, rois, 2)


@pytest.mark.parametrize("fn", [roi_align, roi_pool])
def test_bad_arguments(fn):
    name = fn.__name__
    for size in (0, (2, 0), (-1, 3)):
        with pytest.raises(ValueError, match=f"{name}: output_size must be >= 1"):
            fn(X, OK, size)
    for size in (2.5, (1, 2, 3), "7", True):
        with pytest.raises(TypeError, match=f"{name}: output_size must be an int or a pair"):
            fn(X, OK, size)
    for scale in (0.0, -1.0, float("inf")):
        with pytest.raises(ValueError, match=f"{name}: spatial_scale must be a positive finite number"):
            fn(X, OK, 2, scale)
    with pytest.raises(ValueError, match=f"{name}: spatial_scale must not be NaN, got nan"):
        fn(X, OK, 2, float("nan"))
    with pytest.raises(TypeError, match=f"{name}: input must be float32, float64"):
        fn(X.astype(np.int32), OK, 2)
    with pytest.raises(TypeError, match=f"{name}: input must be float32, float64 on the CPU"):
        fn(X.astype(np.float16), OK, 2)
    with pytest.raises(ValueError, match=rf"{name}: input must have shape \(N, C, H, W\)"):
        fn(X[0], OK, 2)
    with pytest.raises(TypeError, match=f"{name}: boxes must have a real numeric dtype"):
        fn(X, OK.astype(np.complex64), 2)
    # errors are also RuntimeError, as torchvision's
    with pytest.raises(RuntimeError):
        fn(X, OK, 0)


def test_bad_arguments_specific():
    with pytest.raises(TypeError, match="roi_align: sampling_ratio must be an int"):
        roi_align(X, OK, 2, 1.0, 2.0)
    with pytest.raises(ValueError, match="roi_pool: bins must be 'torchvision' or 'seed'"):
        roi_pool(X, OK, 2, bins="caffe")
    g = np.zeros((1, C, 2, 2), np.float32)
    with pytest.raises(ValueError, match="roi_align_backward: grad_output must have PH, PW = output_size"):
        roi_align_backward(g, OK, X.shape, 3)
    with pytest.raises(ValueError, match=r"roi_align_backward: input_shape must be 4"):
        roi_align_backward(g, OK, (2, C, 8), 2)
    with pytest.raises(ValueError, match=r"roi_align_backward: grad_output must have shape \(K, C, PH, PW\) with K = 2"):
        roi_align_backward(g, np.concatenate([OK, OK]), X.shape, 2)
    am = np.full((1, C, 2, 2), 64, np.int64)
    with pytest.raises(ValueError, match=r"roi_pool_backward: argmax values must be -1 or a flat index in \[0, 64\)"):
        roi_pool_backward(g, OK, am, X.shape)
    with pytest.raises(TypeError, match="roi_pool_backward: argmax must have an integer dtype"):
        roi_pool_backward(g, OK, am.astype(np.float32), X.shape)
    with pytest.raises(ValueError, match="roi_pool_backward: argmax must have the shape of grad_output"):
        roi_pool_backward(g, OK, am[:, :, :1], X.shape)
    xt = torch.zeros(1, 1, 4, 4, requires_grad=True)
    with pytest.raises(ValueError, match="roi_align: input requires grad"):
        roi_align(xt, torch.tensor([[0.0, 0, 0, 2, 2]]), 2)


@pytest.mark.parametrize("fn", [roi_align, roi_align_backward, roi_pool, roi_pool_backward])
def test_docstring_examples(fn):
    import doctest

    runner = doctest.DocTestRunner()
    for test in doctest.DocTestFinder().find(fn):
        runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.attempted >= 3 and result.failed == 0


@pytest.mark.needs_cuda
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32])
def test_cuda_matches_cpu(dtype):
    rng = np.random.default_rng(12)
    x = rng.standard_normal((2, C, 37, 41)).astype(np.float32)
    rois = make_rois(rng, 40, 2, 0.5, np.float32)
    xc = torch.from_numpy(x).cuda().to(dtype)
    rc = torch.from_numpy(rois).cuda()
    x16 = xc.float().cpu().numpy()
    tol = dict(rtol=1e-2, atol=1e-2) if dtype != torch.float32 else dict(rtol=1e-5, atol=1e-5)
    for sr, aligned in [(-1, False), (2, True)]:
        got = roi_align(xc, rc, (7, 5), 0.5, sr, aligned)
        assert got.dtype == dtype and got.is_cuda
        np.testing.assert_allclose(got.float().cpu().numpy(), roi_align(x16, rois, (7, 5), 0.5, sr, aligned), **tol)
        g = torch.ones_like(got)
        gi = roi_align_backward(g, rc, xc.shape, (7, 5), 0.5, sr, aligned)
        np.testing.assert_allclose(gi.float().cpu().numpy(),
                                   roi_align_backward(np.ones(got.shape, np.float32), rois, x.shape, (7, 5), 0.5, sr,
                                                      aligned), **tol)
    out, am = roi_pool(xc, rc, (7, 5), 0.5, return_argmax=True)
    want, want_am = roi_pool(x16, rois, (7, 5), 0.5, return_argmax=True)
    np.testing.assert_allclose(out.float().cpu().numpy(), want, **tol)
    if dtype == torch.float32:
        np.testing.assert_array_equal(am.cpu().numpy(), want_am)
    gi = roi_pool_backward(torch.ones_like(out), rc, am, xc.shape)
    assert gi.dtype == dtype


@pytest.mark.parametrize("channels", [2, 4, 6, 8])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_roi_align_channel_blocks_match_torchvision(channels, dtype, simd_level):
    """The CPU kernel pools 4, 2 or 1 channels per task (by C and plane size): every block size
    and a plane too large for a block of 4 (300 x 310) give torchvision's result."""
    rng = np.random.default_rng([channels, dtype == np.float64])
    for h, w in [(H, W), (300, 310)]:
        x = rng.standard_normal((2, channels, h, w)).astype(dtype)
        rois = np.stack([rng.integers(0, 2, 40), *(rng.uniform(-20, 1.1 * max(h, w), (4, 40)))], 1).astype(dtype)
        rois[:, 3:] = np.maximum(rois[:, 3:], rois[:, 1:3] + rng.uniform(-2, 90, (40, 2)))
        for sr, aligned in [(2, False), (-1, True)]:
            np.testing.assert_allclose(roi_align(x, rois, (7, 5), 1.0, sr, aligned),
                                       tv_align(x, rois, (7, 5), 1.0, sr, aligned), **TOL[dtype])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_roi_pool_non_finite_maps_and_wide_bins_match_torchvision(dtype, simd_level):
    """Bins up to and past 16 columns (the CPU's vector and scalar maxima), on maps holding NaN,
    +-inf and -FLT_MAX: torchvision's values exactly."""
    rng = np.random.default_rng(13)
    x = rng.standard_normal((2, 3, 40, 90)).astype(dtype)
    for value in (np.nan, np.inf, -np.inf, -np.finfo(np.float32).max):
        x.flat[rng.integers(0, x.size, 300)] = value
    x[1, :, 5:20, 10:60] = np.nan  # whole bins of NaN
    w = rng.uniform(0, 90, 60)
    rois = np.stack([rng.integers(0, 2, 60), rng.uniform(-5, 60, 60), rng.uniform(-5, 30, 60),
                     np.zeros(60), rng.uniform(0, 45, 60)], 1).astype(dtype)
    rois[:, 3] = rois[:, 1] + w
    for size in [(3, 2), (5, 5), (2, 7)]:
        np.testing.assert_array_equal(roi_pool(x, rois, size), tv_pool(x, rois, size, 1.0))


def _wide_mix_rois(rng, k, n, h, w):
    """k RoIs (scale 1) on an h x w map: narrow, medium (1 to 4 warps' worth of the up to 128
    columns the CUDA RoIPool stages in shared memory) and wide (past them), partly outside,
    degenerate, and sub-pixel."""
    x1 = rng.uniform(-20, w, k)
    y1 = rng.uniform(-10, h, k)
    kind = rng.uniform(0, 1, k)
    widths = np.where(kind < 0.25, rng.uniform(120, 1.2 * w, k),
                      np.where(kind < 0.6, rng.uniform(60, 135, k), rng.uniform(-3, 60, k)))
    rois = np.stack([rng.integers(0, n, k), x1, y1, x1 + widths, y1 + rng.uniform(-3, 0.7 * h, k)], 1)
    rois[0, 1:] = [3.2, 4.1, 3.4, 4.3]
    return rois


@pytest.mark.needs_cuda
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("values", ["normal", "ties", "non_finite"])
@pytest.mark.parametrize("bins", ["torchvision", "seed"])
def test_cuda_roi_pool_equals_cpu(bins, values, dtype):
    """The warp-per-bin-row CUDA RoIPool gives the CPU's values and argmax exactly: 130 RoIs
    (runs of 26 RoIs per block on a 132-SM device), batch 3, odd map (45 x 300), RoIs wider than the
    128 staged columns, pooled widths above 32 lanes, ties (small integers: the first maximum in
    row-major order wins), NaN / inf / -FLT_MAX."""
    rng = np.random.default_rng([len(values), bins == "seed", dtype == np.float64])
    h, w = 45, 300
    if values == "ties":
        x = rng.integers(-2, 3, (3, 5, h, w)).astype(dtype)
    else:
        x = rng.standard_normal((3, 5, h, w)).astype(dtype)
    if values == "non_finite":
        for v in (np.nan, np.inf, -np.inf, -np.finfo(np.float32).max):
            x.flat[rng.integers(0, x.size, 2000)] = v
        x[1, :, 5:20, 10:200] = np.nan
    rois = _wide_mix_rois(rng, 130, 3, h, w).astype(dtype)
    xc, rc = torch.from_numpy(x).cuda(), torch.from_numpy(rois).cuda()
    for size in [(7, 7), (1, 1), (3, 40), (40, 3), (5, 33)]:
        out, am = roi_pool(xc, rc, size, 1.0, bins=bins, return_argmax=True)
        want, want_am = roi_pool(x, rois, size, 1.0, bins=bins, return_argmax=True)
        np.testing.assert_array_equal(out.cpu().numpy(), want)
        np.testing.assert_array_equal(am.cpu().numpy(), want_am)
        if bins == "torchvision":
            np.testing.assert_array_equal(out.cpu().numpy(), tv_pool(x, rois, size, 1.0))
    # a scale below 1, and one RoI only (a single, mostly idle block)
    out = roi_pool(xc, rc[:1], (7, 7), 0.5, bins=bins)
    np.testing.assert_array_equal(out.cpu().numpy(), roi_pool(x, rois[:1], (7, 7), 0.5, bins=bins))


@pytest.mark.needs_cuda
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_cuda_roi_pool_16bit_equals_cpu_of_rounded_map(dtype):
    """16-bit maps: a maximum is one of the map's values, so the CUDA result equals the CPU's
    on the same (rounded) map, argmax included."""
    rng = np.random.default_rng(21)
    x = rng.standard_normal((2, 3, 33, 150)).astype(np.float32)
    rois = _wide_mix_rois(rng, 70, 2, 33, 150).astype(np.float32)
    xc = torch.from_numpy(x).cuda().to(dtype)
    x32 = xc.float().cpu().numpy()
    out, am = roi_pool(xc, torch.from_numpy(rois).cuda(), (7, 7), 1.0, return_argmax=True)
    want, want_am = roi_pool(x32, rois, (7, 7), 1.0, return_argmax=True)
    assert out.dtype == dtype
    np.testing.assert_array_equal(out.float().cpu().numpy(), want)
    np.testing.assert_array_equal(am.cpu().numpy(), want_am)


@pytest.mark.needs_cuda
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cuda_roi_align_blocks_match_cpu(dtype):
    """The CUDA RoIAlign's blocks (one channel, runs of 32 RoIs): 130 RoIs, batch 3, odd map,
    pooled widths above 32, adaptive and fixed grids; CUDA is built without FMA contraction, so it
    matches the CPU to rounding of the sum only."""
    rng = np.random.default_rng([31, dtype == np.float64])
    h, w = 45, 300
    x = rng.standard_normal((3, 5, h, w)).astype(dtype)
    rois = _wide_mix_rois(rng, 130, 3, h, w).astype(dtype)
    xc, rc = torch.from_numpy(x).cuda(), torch.from_numpy(rois).cuda()
    tol = TOL[dtype]
    for size, scale, sr, aligned in [((7, 7), 1.0, 2, True), ((3, 40), 0.5, -1, False), ((5, 33), 1.0, 0, True),
                                     ((1, 1), 0.25, 3, False)]:
        got = roi_align(xc, rc, size, scale, sr, aligned).cpu().numpy()
        np.testing.assert_allclose(got, roi_align(x, rois, size, scale, sr, aligned), **tol)
        np.testing.assert_allclose(got, tv_align(x, rois, size, scale, sr, aligned), **tol)


@pytest.mark.needs_cuda
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cuda_roi_align_warp_paths_equal_torchvision_cpu(dtype):
    """The CUDA RoIAlign forward (a warp per RoI and channel, sample columns on lanes, each bin
    summed in torchvision's order through shuffles, no FMA contraction) equals torchvision's CPU
    result bit for bit, on every path: 2x2 grids (2 bin rows a pass, y taps by shuffle), 5x5
    grids on 7 bin rows (35 sample rows: y taps per lane) and 8 bins (2 column passes), adaptive
    grids up to and past 32 samples (past: one lane per bin), pooled width 40, 14x14; RoIs off
    the map, empty, inverted; batch 3; 700 RoIs (several blocks per channel, the last partial)."""
    rng = np.random.default_rng([41, dtype == np.float64])
    h, w = 45, 300
    x = rng.standard_normal((3, 5, h, w)).astype(dtype)
    rois = _wide_mix_rois(rng, 700, 3, h, w).astype(dtype)
    rois[1, 1:] = [10, 10, 10, 30]  # empty width
    rois[2, 1:] = [40, 20, 30, 10]  # inverted
    rois[3, 1:] = [-90, -50, -20, -10]  # wholly off the map
    xc, rc = torch.from_numpy(x).cuda(), torch.from_numpy(rois).cuda()
    for size, scale, sr, aligned in [((7, 7), 0.5, 2, True), ((7, 8), 1.0, 5, False), ((2, 1), 1.0, 0, False),
                                     ((3, 5), 0.5, -1, True), ((1, 40), 1.0, 1, True), ((14, 14), 1.0, 2, False)]:
        got = roi_align(xc, rc, size, scale, sr, aligned).cpu().numpy()
        np.testing.assert_array_equal(got, tv_align(x, rois, size, scale, sr, aligned))
    got = roi_align(xc, rc[:1], (7, 7), 1.0, 2, True).cpu().numpy()  # one RoI: one mostly idle block
    np.testing.assert_array_equal(got, tv_align(x, rois[:1], (7, 7), 1.0, 2, True))


@pytest.mark.needs_cuda
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_cuda_roi_align_16bit_equals_torchvision_of_rounded_map(dtype):
    """16-bit maps are computed in float32 from their exact values and rounded once: torchvision's
    float32 CPU result on the same (rounded) map, rounded to the dtype, bit for bit."""
    rng = np.random.default_rng(43)
    x = rng.standard_normal((2, 3, 33, 150)).astype(np.float32)
    rois = _wide_mix_rois(rng, 90, 2, 33, 150).astype(np.float32)
    xc = torch.from_numpy(x).cuda().to(dtype)
    x32 = xc.float().cpu().numpy()
    for size, sr, aligned in [((7, 7), 2, True), ((3, 5), 0, False)]:
        got = roi_align(xc, torch.from_numpy(rois).cuda(), size, 1.0, sr, aligned)
        assert got.dtype == dtype
        want = torch.from_numpy(tv_align(x32, rois, size, 1.0, sr, aligned)).to(dtype)
        assert torch.equal(got.cpu(), want)


@pytest.mark.needs_cuda
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cuda_long_roi_runs_equal_cpu(dtype):
    """Many channels and RoIs, as detectors run them: the forward blocks then take one channel and
    runs of up to 512 RoIs (here 3 uneven runs of 366-367 per channel). RoIAlign equals
    torchvision's CPU result bit for bit, RoIPool the CPU's values and argmax."""
    rng = np.random.default_rng([44, dtype == np.float64])
    h, w = 40, 64
    x = rng.standard_normal((2, 256, h, w)).astype(dtype)
    rois = _wide_mix_rois(rng, 1100, 2, h, w).astype(dtype)
    rois = rois[np.argsort(rois[:, 0], kind="stable")]  # sorted by image, as detectors give them
    xc, rc = torch.from_numpy(x).cuda(), torch.from_numpy(rois).cuda()
    got = roi_align(xc, rc, (7, 7), 1.0, 2, True).cpu().numpy()
    np.testing.assert_array_equal(got, tv_align(x, rois, (7, 7), 1.0, 2, True))
    out, am = roi_pool(xc, rc, (7, 7), 1.0, return_argmax=True)
    want, want_am = roi_pool(x, rois, (7, 7), 1.0, return_argmax=True)
    np.testing.assert_array_equal(out.cpu().numpy(), want)
    np.testing.assert_array_equal(am.cpu().numpy(), want_am)


# ------------------------------------------------------------------ channels-last (NHWC) input


@pytest.mark.parametrize("channels", [1, 3, 64, 70, 130])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_roi_align_channels_last_matches_torchvision(channels, dtype, simd_level):
    """A channels-last map (numpy (N, C, H, W) view of (N, H, W, C) memory, or a torch
    channels_last tensor) runs the NHWC kernel without a copy: torchvision's values for channel
    counts below, at and past the 64-channel block, every sampling mode, RoIs outside the map."""
    rng = np.random.default_rng([channels, dtype == np.float64])
    nhwc = rng.standard_normal((2, H, W, channels)).astype(dtype)
    x = nhwc.transpose(0, 3, 1, 2)
    assert not x.flags.c_contiguous or channels == 1
    for scale, sr, aligned, size in [(1.0, 2, False, (7, 7)), (0.5, -1, True, (7, 5)), (0.25, 0, False, (3, 4))]:
        rois = make_rois(rng, 23, 2, scale, dtype)
        rois = np.concatenate([rois[:, :1], np.minimum(rois[:, 1:3], rois[:, 3:]), np.maximum(rois[:, 1:3], rois[:, 3:])], 1)
        want = tv_align(np.ascontiguousarray(x), rois, size, scale, sr, aligned)
        got = roi_align(x, rois, size, scale, sr, aligned)
        assert got.shape == want.shape and got.flags.c_contiguous
        np.testing.assert_allclose(got, want, **TOL[dtype])
        np.testing.assert_allclose(got, roi_align(np.ascontiguousarray(x), rois, size, scale, sr, aligned),
                                   **TOL[dtype])
        t = torch.from_numpy(np.ascontiguousarray(x)).contiguous(memory_format=torch.channels_last)
        got_t = roi_align(t, torch.from_numpy(rois), size, scale, sr, aligned)
        assert isinstance(got_t, torch.Tensor)
        np.testing.assert_array_equal(got_t.numpy(), got)


def test_roi_align_other_strided_maps_are_copied():
    rng = np.random.default_rng(6)
    x = rng.standard_normal((2, 4, H, W, 2))[..., 0]  # neither C-contiguous nor channels-last
    rois = make_rois(rng, 9, 2, 1.0, np.float64)
    np.testing.assert_array_equal(roi_align(x, rois, 4, 1.0, 2), roi_align(np.ascontiguousarray(x), rois, 4, 1.0, 2))


def _rois_of_every_width(rng, k, n, h, w, dtype=np.float32, inverted=True):
    """k RoIs on an (h, w) map, widths from under a pixel to past the map (bins of 1 to 60
    columns), some partly or wholly outside it, some inverted (x2 < x1) unless not `inverted`
    (torchvision's adaptive aligned RoIAlign fails on those)."""
    wide = rng.choice([0.5, 4.0, 20.0, 40.0, 120.0, 400.0], k) * rng.uniform(0.2, 1.0, k)
    x1 = rng.uniform(-0.2, 1.1, k) * w
    y1 = rng.uniform(-0.2, 1.1, k) * h
    x2 = x1 + wide * rng.choice([1.0, 1.0, 1.0, -0.1 if inverted else 0.0], k)
    y2 = y1 + rng.uniform(-2 if inverted else 0, 0.6 * h, k)
    return np.stack([rng.integers(0, n, k), x1, y1, x2, y2], 1).astype(dtype)


@pytest.mark.parametrize("channels", [1, 2, 4, 6])
@pytest.mark.parametrize("size", [(7, 7), (5, 16), (3, 17), (1, 1), (14, 14)])
@pytest.mark.parametrize(("sr", "aligned"), [(2, False), (2, True), (-1, True), (0, False), (5, True)])
def test_roi_align_float32_equal_at_every_simd_level(sr, aligned, size, channels):
    """With AVX-512, float32 RoIAlign (<= 16 bins per row) permutes blended rows in registers
    instead of reading one column per bin; it must equal the other levels bit for bit (the same
    adds and multiplies in the same order) on RoIs of every width (runs of bins over 32
    columns, bins wider than 32 columns, more than 8 taps per bin), non-finite map values (a
    bin must not pick up 0 * inf from a tap it does not have), and equal torchvision."""
    import foveal._core as core

    rng = np.random.default_rng([channels, size[1], sr + 10])
    x = rng.standard_normal((2, channels, 41, 150)).astype(np.float32)
    x[0, 0, 5, 7], x[1, -1, 30, 100], x[0, -1, 20, 60] = np.inf, np.nan, -np.inf
    rois = _rois_of_every_width(rng, 60, 2, 41, 150, inverted=not (aligned and sr <= 0))
    previous = core.set_simd_level(core.simd_levels()[0])
    try:
        got = {}
        for level in core.simd_levels():
            core.set_simd_level(level)
            got[level] = roi_align(x, rois, size, 1.0, sr, aligned)
    finally:
        core.set_simd_level(previous)
    want = tv_align(x, rois, size, 1.0, sr, aligned)
    for level, out in got.items():
        np.testing.assert_array_equal(out, got["baseline"], err_msg=level)
    np.testing.assert_allclose(got["baseline"], want, **TOL[np.float32])


@pytest.mark.parametrize("aligned", [False, True])
def test_roi_align_bin_with_a_dropped_sample_next_to_inf(aligned, simd_level):
    """A RoI over the right edge: its last bin keeps one of its two column samples (the other
    lies past the map). An inf column at the RoI's first column makes bin 0 inf; the last bin
    must stay finite (the permute kernel must not add 0 * inf for the sample it lacks)."""
    x = np.random.default_rng(3).standard_normal((1, 2, 12, 40)).astype(np.float32)
    x[:, :, :, 31] = np.inf
    rois = np.array([[0, 30.3, 2, 41.7, 9], [0, 30.8, 1, 40.9, 11.5]], np.float32)
    got = roi_align(x, rois, (3, 4), 1.0, 2, aligned)
    assert np.isfinite(got[:, :, :, -1]).all()
    np.testing.assert_allclose(got, tv_align(x, rois, (3, 4), 1.0, 2, aligned), **TOL[np.float32])


def test_roi_align_large_output_streaming_stores():
    """Outputs of 16 MiB and more are written with streaming stores by the AVX-512 float32
    kernel (whole cache lines; the partial lines at each RoI's ends with ordinary stores):
    1500 RoIs x 72 channels x 7 x 7 (21 MB), against the baseline level and torchvision."""
    import foveal._core as core

    rng = np.random.default_rng(11)
    x = rng.standard_normal((2, 72, 48, 64)).astype(np.float32)
    rois = _rois_of_every_width(rng, 1500, 2, 48, 64, inverted=False)
    assert rois.shape[0] * 72 * 49 * 4 >= 16 << 20
    got = roi_align(x, rois, 7, 1.0, 2, False)
    previous = core.set_simd_level("baseline")
    try:
        base = roi_align(x, rois, 7, 1.0, 2, False)
    finally:
        core.set_simd_level(previous)
    np.testing.assert_array_equal(got, base)
    np.testing.assert_allclose(got, tv_align(x, rois, 7, 1.0, 2, False), **TOL[np.float32])
