"""foveal.nn.interpolate against torch.nn.functional.interpolate and the NumPy oracles
(tests/reference/interp_ref.py): sizes, integer and non-integer scale factors, align_corners,
recompute_scale_factor, and bad input."""

import numpy as np
import pytest

import foveal
import foveal.nn as fnn
from reference.interp_ref import bilinear_ref, nearest_ref

torch = pytest.importorskip("torch")
F = torch.nn.functional

SHAPES = [(2, 3, 5, 7), (1, 2, 1, 1), (1, 1, 9, 4), (2, 2, 6, 6)]
# (size, scale_factor): one of them
RESIZES = [
    (None, 2), (None, 3), (None, 0.5), (None, 1.7), (None, (2.5, 0.75)), (None, 1.0), (None, 1 / 3),
    ((4, 13), None), (11, None), ((1, 1), None), ((10, 14), None), ((7, 3), None),
]


def _nonempty(shape, size, scale):
    if size is not None:
        return True
    s = scale if isinstance(scale, tuple) else (scale, scale)
    return all(int(np.floor(float(n) * f)) >= 1 for n, f in zip(shape[2:], s))


# every (shape, resize) pair whose output is not empty (empty ones: test_empty_output_refused)
PAIRS = [(shape, r) for shape in SHAPES for r in RESIZES if _nonempty(shape, *r)]


def _torch(x, **kw):
    return F.interpolate(torch.from_numpy(x), **kw).numpy()


def _out_hw(x, size, scale):
    if size is not None:
        return (size, size) if isinstance(size, int) else size
    s = (scale, scale) if not isinstance(scale, tuple) else scale
    return tuple(int(np.floor(float(n) * f)) for n, f in zip(x.shape[2:], s))


def _scales(scale):
    if scale is None:
        return (None, None)
    return (scale, scale) if not isinstance(scale, tuple) else scale


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape, resize", PAIRS)
def test_nearest(shape, resize, dtype):
    size, scale = resize
    x = np.random.default_rng(0).standard_normal(shape).astype(dtype)
    got = fnn.interpolate(x, size=size, scale_factor=scale)
    want = _torch(x, size=size, scale_factor=scale)
    assert got.dtype == dtype
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(got, nearest_ref(x, _out_hw(x, size, scale), _scales(scale)))


@pytest.mark.parametrize("align_corners", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape, resize", PAIRS)
def test_bilinear(shape, resize, dtype, align_corners):
    size, scale = resize
    x = np.random.default_rng(1).standard_normal(shape).astype(dtype)
    got = fnn.interpolate(x, size=size, scale_factor=scale, mode="bilinear", align_corners=align_corners)
    want = _torch(x, size=size, scale_factor=scale, mode="bilinear", align_corners=align_corners)
    tol = dict(rtol=1e-5, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(got, want, **tol)
    ref = bilinear_ref(x, _out_hw(x, size, scale), align_corners, _scales(scale))
    np.testing.assert_allclose(got, ref, **tol)


def test_non_integer_scale_uses_the_given_factor():
    """H 10, scale 0.75: out 7; the rule uses 1/0.75, not 10/7, and picks row 6, not 7, for dst 5
    (torch too)."""
    x = np.arange(10, dtype=np.float32).reshape(1, 1, 10, 1)
    got = fnn.interpolate(x, scale_factor=(0.75, 1))[0, 0, :, 0]
    want = _torch(x, scale_factor=(0.75, 1))[0, 0, :, 0]
    np.testing.assert_array_equal(got, want)
    recomputed = fnn.interpolate(x, scale_factor=(0.75, 1), recompute_scale_factor=True)[0, 0, :, 0]
    np.testing.assert_array_equal(recomputed, fnn.interpolate(x, size=(7, 1))[0, 0, :, 0])
    np.testing.assert_array_equal(
        recomputed, _torch(x, scale_factor=(0.75, 1), recompute_scale_factor=True)[0, 0, :, 0])
    np.testing.assert_array_equal(got, [0, 1, 2, 4, 5, 6, 8])
    np.testing.assert_array_equal(recomputed, [0, 1, 2, 4, 5, 7, 8])


def test_bilinear_align_corners_none_is_false():
    x = np.random.default_rng(2).standard_normal((1, 2, 4, 5)).astype(np.float32)
    np.testing.assert_array_equal(fnn.interpolate(x, scale_factor=2, mode="bilinear"),
                                  fnn.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False))


def test_nearest_2x_fast_path_large_and_torch_io():
    x = torch.randn(2, 8, 13, 19)
    got = fnn.interpolate(x, scale_factor=2)
    assert isinstance(got, torch.Tensor)
    assert torch.equal(got, F.interpolate(x, scale_factor=2))
    assert torch.equal(fnn.interpolate(x, size=(26, 38)), F.interpolate(x, size=(26, 38)))


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        (dict(), foveal.FovealValueError, "give exactly one of size and scale_factor"),
        (dict(size=4, scale_factor=2), foveal.FovealValueError, "give exactly one of size and scale_factor"),
        (dict(size=4, mode="bicubic"), foveal.FovealValueError, "mode must be 'nearest' or 'bilinear'"),
        (dict(size=4, align_corners=True), foveal.FovealValueError, "align_corners must be None with mode 'nearest'"),
        (dict(size=4, mode="bilinear", align_corners=1), foveal.FovealTypeError, "align_corners must be None or a bool"),
        (dict(size=0), foveal.FovealValueError, "size must be positive"),
        (dict(size=2.5), foveal.FovealTypeError, "size must be an int"),
        (dict(scale_factor=-2), foveal.FovealValueError, "scale_factor must be finite and positive"),
        (dict(scale_factor=float("inf")), foveal.FovealValueError, "scale_factor must be finite and positive"),
        (dict(scale_factor="2"), foveal.FovealTypeError, "scale_factor must be a real number"),
        (dict(size=4, recompute_scale_factor=True), foveal.FovealValueError, "recompute_scale_factor needs"),
    ],
)
def test_bad_arguments(kwargs, exc, match):
    x = np.zeros((1, 1, 3, 3), np.float32)
    with pytest.raises(exc, match=f"interpolate: {match}"):
        fnn.interpolate(x, **kwargs)


def test_empty_output_refused():
    with pytest.raises(foveal.FovealValueError, match="interpolate: scale_factor 0.1 gives an empty output"):
        fnn.interpolate(np.zeros((1, 1, 3, 3), np.float32), scale_factor=0.1)


def test_bad_input_shape_and_dtype():
    with pytest.raises(foveal.FovealValueError, match=r"interpolate: input must have shape \(N, C, H, W\)"):
        fnn.interpolate(np.zeros((3, 3, 3), np.float32), size=4)
    with pytest.raises(foveal.FovealTypeError, match="interpolate: input"):
        fnn.interpolate(np.zeros((1, 1, 3, 3), np.int32), size=4)


# CUDA: the general kernel and the nearest-2x copy kernels (16-byte vectors when the width is a
# multiple of 16 bytes and both buffers are aligned, else one element per thread), every dtype.
CUDA_SHAPES = [(2, 3, 5, 7), (1, 1, 1, 1), (1, 2, 9, 8), (2, 4, 13, 16), (1, 3, 6, 4), (3, 2, 17, 2)]


@pytest.mark.needs_cuda
@pytest.mark.parametrize("dtype", ["float32", "float64", "float16", "bfloat16"])
@pytest.mark.parametrize("shape", CUDA_SHAPES)
def test_cuda_matches_torch_cuda(shape, dtype):
    dt = getattr(torch, dtype)
    x = torch.randn(shape, generator=torch.Generator().manual_seed(5)).to("cuda", dt)
    for kw in (dict(scale_factor=2), dict(size=(2 * shape[2], 2 * shape[3])), dict(scale_factor=3),
               dict(size=(7, 5)), dict(scale_factor=(2, 1))):
        got = fnn.interpolate(x, **kw)
        assert got.is_cuda and got.dtype == dt
        assert torch.equal(got, F.interpolate(x, **kw)), kw
    tol = dict(rtol=1e-2, atol=1e-2) if dtype in ("float16", "bfloat16") else {}
    for ac in (False, True):
        got = fnn.interpolate(x, scale_factor=2, mode="bilinear", align_corners=ac)
        torch.testing.assert_close(got, F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=ac), **tol)


@pytest.mark.needs_cuda
def test_cuda_nearest_2x_unaligned_and_large():
    # a view starting one element into its buffer: not 16-byte aligned, the scalar kernel
    base = torch.randn(1 + 2 * 3 * 8 * 8, device="cuda")
    x = base[1:].view(2, 3, 8, 8)
    assert torch.equal(fnn.interpolate(x, scale_factor=2), F.interpolate(x, scale_factor=2))
    x = torch.randn(2, 256, 100, 152, generator=torch.Generator().manual_seed(6)).cuda()  # the benchmark shape
    assert torch.equal(fnn.interpolate(x, scale_factor=2), F.interpolate(x, scale_factor=2))
