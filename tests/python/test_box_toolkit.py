"""The box toolkit of foveal.ops (box_area, box_convert, clip_boxes_to_image,
remove_small_boxes, generalized/distance/complete_box_iou and their losses, box_iou's fmt=
and batch dimensions) against torchvision.ops, the float64 references in
tests/reference/box_ref.py and hand-worked examples."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
import torchvision.ops as tv

import foveal
from foveal import FovealTypeError, FovealValueError
from foveal import ops as fo
from reference.box_data import SIMD_SIZES
from reference.box_ref import (
    ciou_loss_pair,
    ciou_pair,
    diou_loss_pair,
    diou_pair,
    elementwise_ref,
    giou_loss_pair,
    giou_pair,
    pairwise_ref,
    rotated_corners,
)

DTYPES = [np.float32, np.float64]
LIBS = ["numpy", "torch"]
AXIS_FMTS = ["xyxy", "xywh", "cxcywh"]
ROTATED_FMTS = ["xywhr", "cxcywhr", "xyxyxyxy"]
PAIRWISE = {
    "generalized_box_iou": (fo.generalized_box_iou, tv.generalized_box_iou, giou_pair),
    "distance_box_iou": (fo.distance_box_iou, tv.distance_box_iou, diou_pair),
    "complete_box_iou": (fo.complete_box_iou, tv.complete_box_iou, ciou_pair),
}
LOSSES = {
    "generalized_box_iou_loss": (fo.generalized_box_iou_loss, tv.generalized_box_iou_loss, giou_loss_pair),
    "distance_box_iou_loss": (fo.distance_box_iou_loss, tv.distance_box_iou_loss, diou_loss_pair),
    "complete_box_iou_loss": (fo.complete_box_iou_loss, tv.complete_box_iou_loss, ciou_loss_pair),
}


def boxes(rng, *shape, degenerate=True):
    """xyxy boxes with corners in [-60, 60): negative coordinates, sizes in [0, 40); with
    ``degenerate`` about one in six has zero width, zero height, or both, and some are equal to
    another box, so coinciding and touching boxes occur."""
    shape = shape or (1,)
    x1 = rng.uniform(-60, 60, shape)
    y1 = rng.uniform(-60, 60, shape)
    w = rng.uniform(0, 40, shape)
    h = rng.uniform(0, 40, shape)
    if degenerate:
        k = rng.integers(0, 12, shape)
        w = np.where(k == 0, 0.0, w)
        h = np.where(k == 1, 0.0, h)
        both = k == 2
        w, h = np.where(both, 0.0, w), np.where(both, 0.0, h)
    b = np.stack([x1, y1, x1 + w, y1 + h], axis=-1)
    if degenerate and b.ndim >= 2 and b.shape[-2] >= 4:
        b[..., 3, :] = b[..., 0, :]  # a duplicate: GIoU/DIoU/CIoU of a box with itself
    return b


def as_lib(x, lib):
    return torch.from_numpy(np.ascontiguousarray(x)) if lib == "torch" else x


def to_numpy(x):
    return x.numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def tol(dtype):
    # float32: the same formula in the same order as torchvision; libm vs torch's vectorised
    # atan/cos differ in the last bits, which cancellation can raise to ~1e-5 absolute.
    return dict(rtol=1e-5, atol=2e-5) if np.dtype(dtype) == np.float32 else dict(rtol=1e-11, atol=1e-11)


# ------------------------------------------------------------------ pairwise GIoU / DIoU / CIoU


@pytest.mark.parametrize("name", list(PAIRWISE))
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("lib", LIBS)
@pytest.mark.parametrize("n, m", [(0, 5), (5, 0), (1, 1), (7, 17), (33, 8), (16, 100)])
def test_pairwise_matches_torchvision(name, dtype, lib, n, m):
    ours, theirs, _ = PAIRWISE[name]
    rng = np.random.default_rng(n * 1000 + m)
    b1, b2 = boxes(rng, n).astype(dtype), boxes(rng, m).astype(dtype)
    got = ours(as_lib(b1, lib), as_lib(b2, lib))
    assert isinstance(got, torch.Tensor) == (lib == "torch")
    want = theirs(torch.from_numpy(b1), torch.from_numpy(b2)).numpy()
    got = to_numpy(got)
    assert got.dtype == np.dtype(dtype) and got.shape == (n, m)
    np.testing.assert_allclose(got, want, equal_nan=True, **tol(dtype))


@pytest.mark.parametrize("name", list(PAIRWISE))
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_pairwise_matches_float64_reference(name, dtype):
    ours, _, ref = PAIRWISE[name]
    rng = np.random.default_rng(7)
    b1, b2 = boxes(rng, 19).astype(dtype), boxes(rng, 23).astype(dtype)
    want = pairwise_ref(ref, b1, b2)
    got = ours(b1, b2)
    if dtype == np.float64:
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12, equal_nan=True)
    else:  # float32 rounding of well-defined values only
        ok = np.isfinite(want)
        np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
        np.testing.assert_allclose(got[ok], want[ok], rtol=0, atol=5e-5)


def test_pairwise_hand_worked_examples():
    a = np.array([[0.0, 0, 2, 2]])
    b = np.array([[1.0, 1, 3, 3], [3, 0, 4, 2], [0, 0, 2, 2]])
    # IoU(a, b0) = 1/7; enclosing box 3x3 = 9, union 7.
    np.testing.assert_allclose(fo.generalized_box_iou(a, b), [[1 / 7 - 2 / 9, 0 - (8 - 6) / 8, 1]])
    # centres (1, 1), (2, 2): d^2 = 2; enclosing diagonal^2 = 18.
    np.testing.assert_allclose(fo.distance_box_iou(a, b[:1], eps=0.0), [[1 / 7 - 2 / 18]])
    # equal aspect ratios: v = 0, CIoU = DIoU.
    np.testing.assert_allclose(fo.complete_box_iou(a, b[:1]), fo.distance_box_iou(a, b[:1]))
    # a 2x2 box against a 1x4 one with the same centre: IoU = 2/6, d = 0,
    # v = 4/pi^2 (atan(1) - atan(1/4))^2, alpha = v / (1 - 1/3 + v + eps).
    c = np.array([[0.5, -1.0, 1.5, 3.0]])
    v = 4 / math.pi**2 * (math.atan(1.0) - math.atan(0.25)) ** 2
    np.testing.assert_allclose(fo.complete_box_iou(a, c, eps=0.0), [[1 / 3 - v / (1 - 1 / 3 + v) * v]], rtol=1e-14)


@pytest.mark.parametrize("name", ["distance_box_iou", "complete_box_iou"])  # GIoU has no eps
def test_pairwise_eps_is_used(name):
    ours, theirs, _ = PAIRWISE[name]
    rng = np.random.default_rng(3)
    b1, b2 = boxes(rng, 9), boxes(rng, 11)
    for eps in (0.0, 1e-3, 10.0):
        want = theirs(torch.from_numpy(b1), torch.from_numpy(b2), eps=eps).numpy()
        np.testing.assert_allclose(ours(b1, b2, eps=eps), want, equal_nan=True, **tol(np.float64))


@pytest.mark.parametrize("name", list(PAIRWISE) + ["box_iou"])
@pytest.mark.parametrize(
    "s1, s2",
    [((2, 5, 4), (2, 6, 4)), ((3, 2, 5, 4), (2, 6, 4)), ((1, 5, 4), (4, 6, 4)), ((5, 4), (3, 6, 4)),
     ((2, 1, 5, 4), (1, 3, 6, 4)), ((0, 5, 4), (6, 4))],
    ids=str,
)
@pytest.mark.parametrize("lib", LIBS)
def test_batch_dimensions_broadcast_as_torchvision(name, s1, s2, lib):
    ours, theirs = (fo.box_iou, tv.box_iou) if name == "box_iou" else PAIRWISE[name][:2]
    rng = np.random.default_rng(11)
    b1 = boxes(rng, *s1[:-1]).astype(np.float32)
    b2 = boxes(rng, *s2[:-1]).astype(np.float32)
    want = theirs(torch.from_numpy(b1), torch.from_numpy(b2)).numpy()
    got = to_numpy(ours(as_lib(b1, lib), as_lib(b2, lib)))
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, equal_nan=True, **tol(np.float32))


def test_batched_equals_loop_over_batches():
    rng = np.random.default_rng(5)
    b1, b2 = boxes(rng, 3, 17), boxes(rng, 3, 33)
    for fn in (fo.box_iou, fo.generalized_box_iou, fo.distance_box_iou, fo.complete_box_iou):
        got = fn(b1, b2)
        for k in range(3):
            np.testing.assert_array_equal(got[k], fn(b1[k], b2[k]))


def test_batch_dimensions_that_do_not_broadcast_name_both():
    with pytest.raises(FovealValueError, match=r"generalized_box_iou: the batch dimensions of boxes1 and boxes2 "
                       r"must broadcast, got shapes \(2, 3, 4\) and \(3, 5, 4\)"):
        fo.generalized_box_iou(np.zeros((2, 3, 4)), np.zeros((3, 5, 4)))


@pytest.mark.parametrize("name", list(PAIRWISE))
def test_every_simd_level_agrees_with_torchvision(simd_level, name):
    ours, theirs, _ = PAIRWISE[name]
    rng = np.random.default_rng(17)
    for m in SIMD_SIZES:
        for dtype in DTYPES:
            b1, b2 = boxes(rng, 5).astype(dtype), boxes(rng, m).astype(dtype)
            want = theirs(torch.from_numpy(b1), torch.from_numpy(b2)).numpy()
            np.testing.assert_allclose(ours(b1, b2), want, equal_nan=True, **tol(dtype))


def test_pairwise_dtype_policy():
    b = np.array([[0, 0, 2, 2], [1, 1, 3, 3]])
    assert fo.generalized_box_iou(b, b).dtype == np.float32  # integers -> float32
    assert fo.complete_box_iou(b.astype(np.float16), b.astype(np.float16)).dtype == np.float32
    assert fo.distance_box_iou(b.astype(np.float32), b.astype(np.float64)).dtype == np.float64
    np.testing.assert_allclose(
        fo.generalized_box_iou(b, b), tv.generalized_box_iou(torch.from_numpy(b), torch.from_numpy(b)).numpy()
    )


def test_pairwise_inputs_are_not_modified_and_strided_inputs_work():
    rng = np.random.default_rng(2)
    big = np.concatenate([boxes(rng, 20), boxes(rng, 20)], axis=1)  # (20, 8)
    b1 = big[:, 4:]  # non-contiguous rows
    strided = big[::2, :4]
    keep = strided.copy()
    np.testing.assert_array_equal(fo.complete_box_iou(strided, b1), fo.complete_box_iou(keep, b1))
    np.testing.assert_array_equal(strided, keep)


@pytest.mark.needs_cuda
@pytest.mark.parametrize("name", list(PAIRWISE) + ["box_iou"])
@pytest.mark.parametrize("dtype", [torch.float16, torch.float32, torch.float64], ids=str)
def test_cuda_matches_cpu(name, dtype):
    ours = fo.box_iou if name == "box_iou" else PAIRWISE[name][0]
    rng = np.random.default_rng(23)
    b1, b2 = boxes(rng, 2, 37), boxes(rng, 2, 300)
    c1, c2 = (torch.from_numpy(b).to(dtype) for b in (b1, b2))
    got = ours(c1.cuda(), c2.cuda())
    assert got.is_cuda and got.dtype == dtype
    want = ours(c1.float() if dtype == torch.float16 else c1, c2.float() if dtype == torch.float16 else c2)
    t = dict(rtol=2e-3, atol=2e-3) if dtype == torch.float16 else tol(np.float32 if dtype == torch.float32 else np.float64)
    np.testing.assert_allclose(got.float().cpu().numpy(), want.float().numpy(), equal_nan=True, **t)


# ------------------------------------------------------------------ box_iou fmt=


@pytest.mark.parametrize("fmt", AXIS_FMTS)
@pytest.mark.parametrize("lib", LIBS)
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_box_iou_fmt_matches_torchvision(fmt, lib, dtype):
    rng = np.random.default_rng(31)
    b1 = tv.box_convert(torch.from_numpy(boxes(rng, 2, 13)), "xyxy", fmt).numpy().astype(dtype)
    b2 = tv.box_convert(torch.from_numpy(boxes(rng, 29)), "xyxy", fmt).numpy().astype(dtype)
    want = tv.box_iou(torch.from_numpy(b1), torch.from_numpy(b2), fmt=fmt).numpy()
    got = to_numpy(fo.box_iou(as_lib(b1, lib), as_lib(b2, lib), fmt=fmt))
    # xywh / cxcywh go through corners here, through w * h in torchvision: a few ulps apart.
    np.testing.assert_allclose(got, want, equal_nan=True, rtol=1e-4 if dtype == np.float32 else 1e-10,
                               atol=1e-5 if dtype == np.float32 else 1e-12)


@pytest.mark.parametrize("fmt", ROTATED_FMTS)
def test_box_iou_rotated_fmt_goes_to_box_iou_rotated(fmt):
    # formerly a clear error; now torchvision's routing (tested in depth in test_rotated.py)
    b = np.array([[2.0, 3.0, 4.0, 2.0, 30.0], [3.0, 3.0, 4.0, 2.0, 0.0]])
    b_fmt = fo.box_convert(b, "cxcywhr", fmt)
    np.testing.assert_allclose(fo.box_iou(b_fmt, b_fmt, fmt=fmt), fo.box_iou_rotated(b, b), atol=1e-12)


def test_box_iou_unknown_fmt_is_a_clear_error():
    msg = r"box_iou: fmt must be 'xyxy', 'xywh' or 'cxcywh' \(or a rotated format: 'cxcywhr', 'xywhr', 'xyxyxyxy'\)"
    with pytest.raises(FovealValueError, match=msg + r", got 'xxyy'"):
        fo.box_iou(np.zeros((2, 4)), np.zeros((2, 4)), fmt="xxyy")


def test_box_iou_fmt_bad_shape_names_the_argument():
    with pytest.raises(FovealValueError, match=r"box_iou: boxes2 must have shape \(M, 4\), got \(3, 5\)"):
        fo.box_iou(np.zeros((2, 4)), np.zeros((3, 5)), fmt="cxcywh")


# ------------------------------------------------------------------ box_convert


def _fmt_boxes(rng, fmt, *shape):
    """Valid boxes in ``fmt``: rotated ones are true rectangles (from cxcywhr)."""
    if fmt in AXIS_FMTS:
        return tv.box_convert(torch.from_numpy(boxes(rng, *shape, degenerate=False)), "xyxy", fmt).numpy()
    c = np.stack(
        [rng.uniform(-50, 50, shape), rng.uniform(-50, 50, shape), rng.uniform(1, 30, shape),
         rng.uniform(1, 30, shape), rng.uniform(-180, 180, shape)], axis=-1,
    )
    return tv.box_convert(torch.from_numpy(c), "cxcywhr", fmt).numpy()


_PAIRS = [p for g in (AXIS_FMTS, ROTATED_FMTS) for p in itertools.product(g, g)]


@pytest.mark.parametrize("in_fmt, out_fmt", _PAIRS, ids=lambda p: str(p))
@pytest.mark.parametrize("lib", LIBS)
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_box_convert_matches_torchvision(in_fmt, out_fmt, lib, dtype):
    rng = np.random.default_rng(41)
    b = _fmt_boxes(rng, in_fmt, 3, 7).astype(dtype)
    want = tv.box_convert(torch.from_numpy(b), in_fmt, out_fmt).numpy()
    x = as_lib(b, lib)
    got = fo.box_convert(x, in_fmt, out_fmt)
    assert isinstance(got, torch.Tensor) == (lib == "torch")
    got = to_numpy(got)
    assert got.dtype == np.dtype(dtype) and got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-5 if dtype == np.float32 else 1e-12,
                               atol=1e-4 if dtype == np.float32 else 1e-10)
    np.testing.assert_array_equal(to_numpy(x), b)  # input untouched
    if in_fmt == out_fmt:  # a copy, never the input itself
        assert got is not b and not np.shares_memory(got, b)


@pytest.mark.parametrize("in_fmt, out_fmt", [p for p in _PAIRS if p[0] != p[1]], ids=lambda p: str(p))
def test_box_convert_round_trip(in_fmt, out_fmt):
    rng = np.random.default_rng(43)
    b = _fmt_boxes(rng, in_fmt, 50)
    back = fo.box_convert(fo.box_convert(b, in_fmt, out_fmt), out_fmt, in_fmt)
    if in_fmt in ("xywhr", "cxcywhr"):  # angles come back modulo 360
        d = (back[:, 4] - b[:, 4] + 180) % 360 - 180
        np.testing.assert_allclose(d, 0, atol=1e-9)
        back, b = back[:, :4], b[:, :4]
    np.testing.assert_allclose(back, b, rtol=1e-12, atol=1e-9)


@pytest.mark.parametrize("in_fmt, out_fmt", [p for p in _PAIRS if p[0] != p[1]], ids=lambda p: str(p))
@pytest.mark.parametrize("dtype", [torch.int32, torch.int64], ids=str)
def test_box_convert_integer_boxes_as_torchvision(in_fmt, out_fmt, dtype):
    rng = np.random.default_rng(47)
    b = torch.from_numpy(np.round(_fmt_boxes(rng, in_fmt, 40))).to(dtype)
    want = tv.box_convert(b, in_fmt, out_fmt)
    got = fo.box_convert(b, in_fmt, out_fmt)
    assert got.dtype == want.dtype
    torch.testing.assert_close(got, want, rtol=0, atol=0)


def test_rotated_conventions_hand_worked():
    # A 4 x 2 box centred at (10, 20), turned 90 degrees counter-clockwise on screen: its top edge
    # now runs upwards (towards smaller y), on the left side.
    got = fo.box_convert(np.array([[10.0, 20, 4, 2, 90]]), "cxcywhr", "xyxyxyxy")
    np.testing.assert_allclose(got, [[9, 22, 9, 18, 11, 18, 11, 22]], atol=1e-12)
    np.testing.assert_allclose(fo.box_convert(got, "xyxyxyxy", "cxcywhr"), [[10, 20, 4, 2, 90]], atol=1e-12)
    # Independent oracle: corners by a rotation matrix, at many angles (degrees, including negative).
    rng = np.random.default_rng(53)
    c = np.stack([rng.uniform(-9, 9, 40), rng.uniform(-9, 9, 40), rng.uniform(1, 9, 40), rng.uniform(1, 9, 40),
                  rng.uniform(-400, 400, 40)], axis=1)
    want = np.array([rotated_corners(*row) for row in c])
    np.testing.assert_allclose(fo.box_convert(c, "cxcywhr", "xyxyxyxy"), want, atol=1e-12)
    xywhr = fo.box_convert(c, "cxcywhr", "xywhr")
    np.testing.assert_allclose(xywhr[:, :2], want[:, :2], atol=1e-12)  # (x1, y1) is the top-left corner


@pytest.mark.parametrize("lib", LIBS)
def test_box_convert_keeps_batch_dimensions(lib):
    rng = np.random.default_rng(59)
    b = _fmt_boxes(rng, "cxcywhr", 2, 3, 5)
    got = to_numpy(fo.box_convert(as_lib(b, lib), "cxcywhr", "xyxyxyxy"))
    assert got.shape == (2, 3, 5, 8)
    np.testing.assert_allclose(got.reshape(-1, 8), fo.box_convert(b.reshape(-1, 5), "cxcywhr", "xyxyxyxy"))


def test_box_convert_flows_torch_autograd():
    b = torch.tensor([[1.0, 2.0, 3.0, 5.0]], requires_grad=True)
    fo.box_convert(b, "xyxy", "cxcywh").sum().backward()
    # d(cx + cy + w + h)/dx1 = 1/2 - 1, /dx2 = 1/2 + 1
    torch.testing.assert_close(b.grad, torch.tensor([[-0.5, -0.5, 1.5, 1.5]]))


def test_box_convert_bad_inputs():
    b = np.zeros((3, 4))
    with pytest.raises(FovealValueError, match=r"box_convert: in_fmt must be one of 'xyxy'.*got 'xyzw'"):
        fo.box_convert(b, "xyzw", "xyxy")
    with pytest.raises(FovealValueError, match=r"box_convert: out_fmt must be one of .*got None"):
        fo.box_convert(b, "xyxy", None)
    with pytest.raises(FovealValueError, match=r"box_convert: in_fmt 'xyxy' and out_fmt 'cxcywhr' must both be"):
        fo.box_convert(b, "xyxy", "cxcywhr")
    with pytest.raises(FovealValueError, match=r"box_convert: boxes must have shape \(\.\.\., 5\), got \(3, 4\)"):
        fo.box_convert(b, "xywhr", "cxcywhr")
    with pytest.raises(FovealTypeError, match=r"box_convert: boxes must be an array"):
        fo.box_convert([[0, 0, 1, 1]], "xyxy", "xywh")
    with pytest.raises(FovealTypeError, match=r"box_convert: boxes must have a real numeric dtype, got complex128"):
        fo.box_convert(b.astype(complex), "xyxy", "xywh")


# ------------------------------------------------------------------ box_area, clip, remove_small


@pytest.mark.parametrize("fmt", AXIS_FMTS)
@pytest.mark.parametrize("dtype", [torch.float16, torch.float32, torch.float64, torch.int16, torch.int64], ids=str)
@pytest.mark.parametrize("lib", LIBS)
def test_box_area_matches_torchvision(fmt, dtype, lib):
    rng = np.random.default_rng(61)
    b = torch.from_numpy(np.round(boxes(rng, 2, 9) * 2) / 2).to(dtype)
    b = tv.box_convert(b, "xyxy", fmt) if dtype.is_floating_point else b
    want = tv.box_area(b, fmt=fmt)
    got = fo.box_area(b if lib == "torch" else b.numpy(), fmt=fmt)
    got = torch.from_numpy(got) if lib == "numpy" else got
    assert got.dtype == want.dtype and got.shape == want.shape == (2, 9)
    torch.testing.assert_close(got, want, rtol=0, atol=0)


def test_box_area_bad_inputs():
    with pytest.raises(FovealValueError, match=r"box_area: fmt must be 'xyxy', 'xywh' or 'cxcywh', got the rotated"):
        fo.box_area(np.zeros((2, 5)), fmt="cxcywhr")
    with pytest.raises(FovealValueError, match=r"box_area: boxes must have shape \(\.\.\., 4\), got \(2, 5\)"):
        fo.box_area(np.zeros((2, 5)))


@pytest.mark.parametrize("lib", LIBS)
@pytest.mark.parametrize("size", [(40, 30), (25.5, 60), (0, 0)], ids=str)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.int64], ids=str)
def test_clip_boxes_to_image_matches_torchvision(lib, size, dtype):
    rng = np.random.default_rng(67)
    b = torch.from_numpy(boxes(rng, 3, 20) + 20).to(dtype)
    want = tv.clip_boxes_to_image(b, size)
    got = fo.clip_boxes_to_image(b if lib == "torch" else b.numpy(), size)
    got = torch.from_numpy(np.asarray(got)) if lib == "numpy" else got
    assert got.shape == want.shape
    if lib == "torch":
        assert got.dtype == want.dtype
    torch.testing.assert_close(got.to(want.dtype), want, rtol=0, atol=0)


def test_clip_boxes_to_image_integer_boxes_and_sizes_past_their_dtype():
    # found by tools/fuzz_contract.py: numpy raised OverflowError clipping uint8 boxes to 300 or -1
    b = np.array([[10, 20, 250, 255], [0, 0, 5, 5]], np.uint8)
    np.testing.assert_array_equal(fo.clip_boxes_to_image(b, (300, 300)), b)
    np.testing.assert_array_equal(fo.clip_boxes_to_image(b, (100, 200)), [[10, 20, 200, 100], [0, 0, 5, 5]])
    np.testing.assert_array_equal(fo.clip_boxes_to_image(b, (-1, -1)), np.zeros((2, 4)))
    t = torch.from_numpy(b)
    assert torch.equal(fo.clip_boxes_to_image(t, (300, 100)), tv.clip_boxes_to_image(t.int(), (300, 100)).to(torch.uint8))


def test_clip_boxes_to_image_bad_size():
    for size in (40, (1, 2, 3), "ab"):
        with pytest.raises(FovealValueError, match=r"clip_boxes_to_image: size must be \(height, width\)"):
            fo.clip_boxes_to_image(np.zeros((1, 4)), size)
    with pytest.raises(FovealTypeError, match=r"clip_boxes_to_image: size\[1\] must be a real number"):
        fo.clip_boxes_to_image(np.zeros((1, 4)), (3, "w"))


@pytest.mark.parametrize("lib", LIBS)
@pytest.mark.parametrize("min_size", [0.0, 1.0, 7.5, 100.0])
@pytest.mark.parametrize("shape", [(0,), (30,), (2, 30), ()], ids=str)
def test_remove_small_boxes_matches_torchvision(lib, min_size, shape):
    rng = np.random.default_rng(71)
    b = boxes(rng, *shape) if shape else boxes(rng, 1)[0]
    want = tv.remove_small_boxes(torch.from_numpy(b), min_size)
    got = fo.remove_small_boxes(as_lib(b, lib), min_size)
    got = torch.from_numpy(got) if lib == "numpy" else got
    assert got.dtype == torch.int64
    torch.testing.assert_close(got, want, rtol=0, atol=0)


@pytest.mark.parametrize("min_size", [1e300, -1e300, 1e39])
def test_remove_small_boxes_past_the_dtype_range(min_size):
    # found by tools/fuzz_contract.py: numpy warned "overflow encountered in cast" (an error under
    # warnings-as-errors) while casting min_size to float32; it compares as +-infinity
    b = boxes(np.random.default_rng(72), 20).astype(np.float32)
    want = np.arange(20) if min_size < 0 else np.zeros(0, np.int64)
    np.testing.assert_array_equal(fo.remove_small_boxes(b, min_size), want)


def test_remove_small_boxes_bad_inputs():
    with pytest.raises(FovealValueError, match=r"remove_small_boxes: min_size must not be NaN, got nan"):
        fo.remove_small_boxes(np.zeros((1, 4)), math.nan)
    with pytest.raises(FovealValueError, match=r"remove_small_boxes: boxes must have shape \(\.\.\., 4\), got \(1, 3\)"):
        fo.remove_small_boxes(np.zeros((1, 3)), 1.0)


# ------------------------------------------------------------------ losses


@pytest.mark.parametrize("name", list(LOSSES))
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("lib", LIBS)
@pytest.mark.parametrize("shape", [(0,), (1,), (37,), (3, 5), ()], ids=str)
def test_losses_match_torchvision(name, reduction, dtype, lib, shape):
    ours, theirs, _ = LOSSES[name]
    rng = np.random.default_rng(73)
    b1 = (boxes(rng, *shape) if shape else boxes(rng, 1)[0]).astype(dtype)
    b2 = (boxes(rng, *shape) if shape else boxes(rng, 1)[0]).astype(dtype)
    want = theirs(torch.from_numpy(b1), torch.from_numpy(b2), reduction=reduction).numpy()
    got = ours(as_lib(b1, lib), as_lib(b2, lib), reduction=reduction)
    assert isinstance(got, torch.Tensor) == (lib == "torch")
    got = to_numpy(got)
    assert got.dtype == np.dtype(dtype) and got.shape == want.shape
    np.testing.assert_allclose(got, want, equal_nan=True, **tol(dtype))


@pytest.mark.parametrize("name", list(LOSSES))
@pytest.mark.parametrize("eps", [0.0, 1e-7, 0.5])
def test_losses_match_float64_reference(name, eps):
    ours, _, ref = LOSSES[name]
    rng = np.random.default_rng(79)
    b1, b2 = boxes(rng, 4, 25), boxes(rng, 25)  # boxes2 broadcast over the leading dimension
    want = elementwise_ref(ref, b1, b2, eps=eps)
    with np.errstate(all="ignore"):
        got = ours(b1, b2, eps=eps)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12, equal_nan=True)


def test_ciou_loss_keeps_torchvisions_fixed_diou_eps():
    # torchvision's complete_box_iou_loss computes its DIoU part with eps = 1e-7 whatever eps is.
    b1 = torch.tensor([[0.0, 0, 2, 2]], dtype=torch.float64)
    b2 = torch.tensor([[1.0, 1, 3, 4]], dtype=torch.float64)
    for eps in (1e-7, 0.3, 5.0):
        want = tv.complete_box_iou_loss(b1, b2, eps=eps)
        torch.testing.assert_close(fo.complete_box_iou_loss(b1, b2, eps=eps), want, rtol=1e-14, atol=0)
        assert float(want[0]) == pytest.approx(ciou_loss_pair(b1[0].numpy(), b2[0].numpy(), eps), rel=1e-14)


@pytest.mark.parametrize("name", list(LOSSES))
def test_losses_flow_torch_autograd_like_torchvision(name):
    ours, theirs, _ = LOSSES[name]
    rng = np.random.default_rng(83)
    b1 = torch.from_numpy(boxes(rng, 20, degenerate=False))
    b2 = torch.from_numpy(boxes(rng, 20, degenerate=False))
    grads = []
    for fn in (ours, theirs):
        p = b1.clone().requires_grad_(True)
        fn(p, b2, reduction="mean").backward()
        grads.append(p.grad)
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-10, atol=1e-12)


def test_losses_hand_worked():
    p = np.array([[0.0, 0, 2, 2], [0, 0, 1, 1]])
    t = np.array([[1.0, 1, 3, 3], [0, 0, 1, 1]])
    # GIoU(p0, t0) = 1/7 - 2/9 (see the pairwise example), identical boxes: loss 0.
    np.testing.assert_allclose(fo.generalized_box_iou_loss(p, t, eps=0.0), [1 - (1 / 7 - 2 / 9), 0.0])
    np.testing.assert_allclose(fo.distance_box_iou_loss(p, t, eps=0.0), [1 - 1 / 7 + 2 / 18, 0.0])
    assert fo.generalized_box_iou_loss(p[:0], t[:0], reduction="mean") == 0.0


@pytest.mark.parametrize("name", list(LOSSES))
def test_losses_bad_inputs(name):
    ours = LOSSES[name][0]
    ok = np.zeros((3, 4))
    with pytest.raises(FovealValueError, match=rf"{name}: Invalid value for reduction: must be 'none', 'mean' or 'sum', got 'max'"):
        ours(ok, ok, reduction="max")
    with pytest.raises(FovealValueError, match=rf"{name}: boxes2 must have shape \(\.\.\., 4\), got \(3, 5\)"):
        ours(ok, np.zeros((3, 5)))
    with pytest.raises(FovealValueError, match=rf"{name}: the batch dimensions of boxes1 and boxes2 must broadcast"):
        ours(ok, np.zeros((2, 4)))
    with pytest.raises(FovealTypeError, match=rf"{name}: eps must be a real number"):
        ours(ok, ok, eps="small")
    with pytest.raises(FovealTypeError, match=rf"{name}: arrays must come from the same array library"):
        ours(ok, torch.zeros(3, 4))
    with pytest.raises(FovealTypeError, match=rf"{name}: boxes1 must be an array"):
        ours([[0, 0, 1, 1]], ok)


# ------------------------------------------------------------------ bad input of the pairwise ops


@pytest.mark.parametrize("name", list(PAIRWISE))
def test_pairwise_bad_inputs(name):
    ours = PAIRWISE[name][0]
    ok = np.zeros((3, 4), np.float32)
    with pytest.raises(FovealValueError, match=rf"{name}: boxes1 must have shape \(N, 4\), got \(3, 5\)"):
        ours(np.zeros((3, 5), np.float32), ok)
    with pytest.raises(FovealValueError, match=rf"{name}: boxes2 must have shape \(M, 4\), got \(4,\)"):
        ours(ok, np.zeros(4, np.float32))
    with pytest.raises(FovealTypeError, match=rf"{name}: boxes1 must have a real numeric dtype, got complex64"):
        ours(ok.astype(np.complex64), ok)
    with pytest.raises(FovealTypeError, match=rf"{name}: boxes2 must be an array"):
        ours(ok, [[0, 0, 1, 1]])
    with pytest.raises(FovealValueError, match=rf"{name}: boxes1 requires grad"):
        ours(torch.zeros(3, 4, requires_grad=True), torch.zeros(3, 4))
    if name != "generalized_box_iou":
        with pytest.raises(FovealValueError, match=rf"{name}: eps must not be NaN, got nan"):
            ours(ok, ok, eps=math.nan)
        with pytest.raises(FovealTypeError, match=rf"{name}: eps must be a real number"):
            ours(ok, ok, eps=None)


def test_core_entry_points_validate_shapes_too():
    # The C++ front end checks what it is handed (C++ SDK users skip the Python layer).
    ok = np.zeros((2, 3, 4))
    with pytest.raises(FovealValueError, match=r"distance_box_iou: boxes1 and boxes2 must have the same batch"):
        foveal._core.distance_box_iou(ok, np.zeros((3, 3, 4)), 1e-7, np.zeros((2, 3, 3)))
    with pytest.raises(FovealValueError, match=r"complete_box_iou: out must have shape \(2, 3, 3\), got \(2, 3\)"):
        foveal._core.complete_box_iou(ok, ok, 1e-7, np.zeros((2, 3)))
    with pytest.raises(FovealValueError, match=r"generalized_box_iou: boxes2 must have shape \(M, 4\), got \(3, 3\)"):
        foveal._core.generalized_box_iou(ok[0], np.zeros((3, 3)), np.zeros((3, 3)))


def test_docstring_examples():
    from reference import doctests

    result = doctests.run(fo)
    assert result.attempted >= 20 and result.failed == 0
