"""Rotated boxes: foveal.ops.box_iou_rotated, nms_rotated, batched_nms_rotated and
roi_align_rotated against the float64 NumPy references in tests/reference/rotated_ref.py, the peer
libraries (torchvision's box_iou(fmt='cxcywhr'), OpenCV's NMSBoxesRotated, torchvision's
roi_align at angle 0), symmetries, and bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torchvision
from hypothesis import given
from hypothesis import strategies as st

import foveal
from foveal import FovealTypeError, FovealValueError
from foveal.ops import (
    batched_nms_rotated,
    box_iou,
    box_iou_rotated,
    nms_rotated,
    roi_align,
    roi_align_rotated,
    roi_align_rotated_backward,
)
from reference.rotated_ref import box_iou_rotated_ref, nms_rotated_ref, roi_align_rotated_ref

TOL = {np.float32: dict(rtol=0, atol=2e-5), np.float64: dict(rtol=0, atol=1e-10)}


def random_boxes(rng, n, span=60.0, size=(2.0, 40.0), angle=(-180.0, 180.0)):
    return np.concatenate(
        [rng.uniform(0, span, (n, 2)), rng.uniform(*size, (n, 2)), rng.uniform(*angle, (n, 1))], 1
    )


def edge_boxes():
    """Identical, nested, touching, near-parallel, tiny, huge, degenerate boxes."""
    b = [
        [10, 10, 8, 4, 30],
        [10, 10, 8, 4, 30],  # identical
        [10, 10, 8, 4, 210],  # the same box turned by 180
        [10, 10, 4, 8, 120],  # the same box as w/h swap + 90
        [10, 10, 3, 1, 30],  # nested
        [18, 10, 8, 4, 0],  # touching an axis-aligned neighbour
        [26, 10, 8, 4, 0],
        [10, 10, 8, 4, 30.0001],  # near-parallel
        [10.0, 10.5, 8, 4, 29.9999],
        [10, 10, 1e-3, 2e-3, 10],  # tiny
        [10, 10, 1e5, 3e5, -20],  # huge
        [1e4, -1e4, 5, 5, 45],  # far away
        [10, 10, 0, 4, 0],  # degenerate
        [10, 10, 8, -1, 0],
        [12, 9, 6, 6, 45],
        [12, 9, 6, 6, 45 + 90],  # square at 90: the same box
        [0, 0, 10, 10, 90],
        [10, 0, 10, 10, 0],  # touching at an edge
        [10, 10, 10, 10, 0],  # touching at a corner
    ]
    return np.array(b, dtype=np.float64)


# -- box_iou_rotated ---------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_iou_against_reference(simd_level, dtype):
    rng = np.random.default_rng(0)
    b1 = np.concatenate([random_boxes(rng, 37), edge_boxes()])
    b2 = np.concatenate([edge_boxes(), random_boxes(rng, 23)])
    b1, b2 = b1.astype(dtype), b2.astype(dtype)
    got = box_iou_rotated(b1, b2)
    assert got.dtype == dtype and got.shape == (len(b1), len(b2))
    ref = box_iou_rotated_ref(b1, b2)
    if dtype == np.float32:  # relative to the smaller area of tiny / huge boxes
        np.testing.assert_allclose(got, ref, rtol=0, atol=5e-5)
    else:
        np.testing.assert_allclose(got, ref, **TOL[dtype])
    assert np.all((got >= 0) & (got <= 1))


def test_iou_edge_values():
    b = edge_boxes()
    iou = box_iou_rotated(b, b)
    for i, j in [(0, 1), (0, 2), (0, 3), (14, 15)]:
        assert iou[i, j] == pytest.approx(1.0, abs=1e-12)
    assert iou[0, 4] == pytest.approx(3 / 32, abs=1e-12)  # nested: small / large area
    assert iou[5, 6] == 0.0 and iou[16, 17] == 0.0 and iou[16, 18] == 0.0  # touching: no area
    assert np.all(iou[12] == 0) and np.all(iou[:, 13] == 0)  # zero / negative size
    assert 0.999 < iou[7, 0] < 1.0


def test_iou_non_finite_is_nan():
    b = np.array([[0, 0, 2, 2, 0], [np.nan, 0, 2, 2, 0], [0, 0, np.inf, 2, 0], [0, 0, 2, 2, np.nan]])
    iou = box_iou_rotated(b, b)
    assert iou[0, 0] == 1.0
    assert np.all(np.isnan(iou[1:, :])) and np.all(np.isnan(iou[:, 1:]))


@pytest.mark.parametrize("bad", [[np.nan, 0, 2, 2, 0], [np.inf, 0, 2, 2, 0], [0, -np.inf, 2, 2, 0],
                                 [0, 0, np.nan, 2, 0], [0, 0, 2, 2, np.inf]])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_iou_non_finite_is_nan_even_far_away(bad, dtype):
    # the CPU's bounding-box shortcut once wrote 0 for these: the other axis said "apart"
    far = np.array([[0, 100, 2, 2, 0], [100, 0, 2, 2, 30], [-50, -50, 4, 1, 90]], dtype)
    b = np.array([bad], dtype)
    assert np.all(np.isnan(box_iou_rotated(b, far))) and np.all(np.isnan(box_iou_rotated(far, b)))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_iou_against_torchvision(dtype):
    g = torch.Generator().manual_seed(1)
    n, m = 300, 200

    def draw(k):
        return torch.cat(
            [torch.rand(k, 2, generator=g) * 300, torch.rand(k, 2, generator=g) * 80 + 1,
             torch.rand(k, 1, generator=g) * 360 - 180], 1).to(dtype)

    b1, b2 = draw(n), draw(m)
    want = torchvision.ops.box_iou(b1, b2, fmt="cxcywhr").to(dtype)  # torchvision's is float32 always
    got = box_iou_rotated(b1, b2)
    assert isinstance(got, torch.Tensor) and got.dtype == dtype
    # torchvision's kernel (detectron2's) sorts hull points with 1e-6 tolerances
    torch.testing.assert_close(got, want, rtol=0, atol=1e-5)
    assert (want > 0).float().mean() > 0.01  # the scene has overlaps


@pytest.mark.parametrize("fmt", ["cxcywhr", "xywhr", "xyxyxyxy"])
def test_box_iou_rotated_formats_match_torchvision(fmt):
    rng = np.random.default_rng(2)
    b = torch.from_numpy(random_boxes(rng, 40))
    b1 = torchvision.ops.box_convert(b, "cxcywhr", fmt)
    b2 = torchvision.ops.box_convert(b[:25], "cxcywhr", fmt)
    got = box_iou(b1, b2, fmt=fmt)
    assert got.dtype == torch.float64  # torchvision's rotated IoU is float32 even for float64 boxes
    torch.testing.assert_close(got.float(), torchvision.ops.box_iou(b1, b2, fmt=fmt), rtol=0, atol=1e-6)


def test_box_iou_rotated_format_shape_error():
    with pytest.raises(FovealValueError, match=r"box_iou: boxes1 must have shape \(N, 5\)"):
        box_iou(np.zeros((3, 4)), np.zeros((3, 5)), fmt="cxcywhr")


def test_angle_zero_is_axis_aligned_iou():
    rng = np.random.default_rng(3)
    b = random_boxes(rng, 50, angle=(0, 0))
    xyxy = np.concatenate([b[:, :2] - b[:, 2:4] / 2, b[:, :2] + b[:, 2:4] / 2], 1)
    np.testing.assert_allclose(box_iou_rotated(b, b[:30]), box_iou(xyxy, xyxy[:30]), rtol=0, atol=1e-12)


def test_rotation_symmetries():
    rng = np.random.default_rng(4)
    b1, b2 = random_boxes(rng, 40), random_boxes(rng, 30)
    base = box_iou_rotated(b1, b2)
    # 180 degrees: the same box
    turned = b1.copy()
    turned[:, 4] += 180
    np.testing.assert_allclose(box_iou_rotated(turned, b2), base, rtol=0, atol=1e-10)
    # 90 degrees with w and h swapped: the same box
    swapped = b1[:, [0, 1, 3, 2, 4]].copy()
    swapped[:, 4] += 90
    np.testing.assert_allclose(box_iou_rotated(swapped, b2), base, rtol=0, atol=1e-10)
    # turning the whole scene about a point changes nothing
    t = np.radians(37.0)
    c, s = np.cos(t), np.sin(t)

    def turn(b):  # counter-clockwise in the image: x' = c x + s y, y' = -s x + c y
        out = b.copy()
        out[:, 0], out[:, 1] = c * b[:, 0] + s * b[:, 1], -s * b[:, 0] + c * b[:, 1]
        out[:, 4] += 37.0
        return out

    np.testing.assert_allclose(box_iou_rotated(turn(b1), turn(b2)), base, rtol=0, atol=1e-10)
    # the IoU is symmetric
    np.testing.assert_allclose(box_iou_rotated(b2, b1), base.T, rtol=0, atol=1e-12)


def test_iou_far_from_origin_keeps_precision():
    b = np.array([[1e6 + 0.5, 2e6, 2.0, 1.0, 30.0]], dtype=np.float32)
    c = b.copy()
    c[0, 0] += 0.25
    ref = box_iou_rotated_ref(b.astype(np.float64), c.astype(np.float64))
    np.testing.assert_allclose(box_iou_rotated(b, c), ref, atol=2e-5)


def test_iou_empty_and_inputs_untouched():
    assert box_iou_rotated(np.zeros((0, 5)), np.zeros((4, 5))).shape == (0, 4)
    rng = np.random.default_rng(5)
    b = random_boxes(rng, 10)
    keep = b.copy()
    box_iou_rotated(b, b)
    np.testing.assert_array_equal(b, keep)


def test_iou_bad_inputs():
    with pytest.raises(FovealValueError, match=r"box_iou_rotated: boxes1 must have shape \(N, 5\)"):
        box_iou_rotated(np.zeros((3, 4)), np.zeros((3, 5)))
    with pytest.raises(FovealValueError, match=r"box_iou_rotated: boxes2 must have shape \(M, 5\)"):
        box_iou_rotated(np.zeros((3, 5)), np.zeros((2, 3, 5)))
    with pytest.raises(FovealTypeError, match="box_iou_rotated: boxes2 must be an array"):
        box_iou_rotated(np.zeros((3, 5)), [[0, 0, 1, 1, 0]])
    with pytest.raises(FovealTypeError, match="same array library"):
        box_iou_rotated(np.zeros((3, 5)), torch.zeros(3, 5))


# -- nms_rotated -------------------------------------------------------------------------------


def clustered_rotated(rng, k, per, angle_spread=20.0):
    """k clusters of `per` jittered copies of one rotated box."""
    centre = rng.uniform(0, 200, (k, 1, 2)) + rng.normal(0, 2, (k, per, 2))
    size = rng.uniform(5, 40, (k, 1, 2)) * (1 + 0.1 * rng.normal(0, 1, (k, per, 2)))
    angle = rng.uniform(-90, 90, (k, 1, 1)) + rng.normal(0, angle_spread, (k, per, 1))
    return np.concatenate([centre, size, angle], 2).reshape(-1, 5)


@pytest.mark.parametrize("thr", [-0.5, 0.0, 0.3, 0.5, 0.7, 1.0, 1.5])
def test_nms_against_reference(thr):
    rng = np.random.default_rng(6)
    b = np.concatenate([clustered_rotated(rng, 6, 10), edge_boxes()])
    s = rng.uniform(0, 1, len(b))
    s[3:9] = 0.5  # ties: lower index first
    s[10] = np.nan  # NaN scores last
    iou = box_iou_rotated_ref(b, b)
    got = nms_rotated(b, s, thr)
    np.testing.assert_array_equal(got, nms_rotated_ref(b, s, thr, iou=iou))
    assert got.dtype == np.int64


def test_nms_float32_against_reference():
    rng = np.random.default_rng(7)
    b = clustered_rotated(rng, 8, 12).astype(np.float32)
    s = rng.uniform(0, 1, len(b)).astype(np.float32)
    iou = box_iou_rotated_ref(b, b)
    thr = 0.45
    assert not np.any(np.abs(iou - thr) < 1e-4)  # no pair so close that float32 rounding decides
    np.testing.assert_array_equal(nms_rotated(b, s, thr), nms_rotated_ref(b, s, thr, iou=iou))


@pytest.mark.parametrize("scene", ["clustered", "mixed_sizes", "spread"])
def test_nms_large_against_torchvision_iou(scene):
    """Many boxes, so the size-levelled grids and pruning bounds are exercised; the greedy
    reference uses the IoU matrix of torchvision (the peer)."""
    rng = np.random.default_rng(8)
    if scene == "clustered":
        b = clustered_rotated(rng, 40, 30, angle_spread=10.0)
    elif scene == "mixed_sizes":
        b = clustered_rotated(rng, 30, 30)
        b[::7, 2:4] *= 30  # a level of big boxes
        b[::11, 2:4] *= 0.01  # and of tiny ones
    else:
        b = clustered_rotated(rng, 30, 30)
        b[::5, :2] *= 1e4  # far apart: a sparse grid
    s = rng.uniform(0, 1, len(b))
    tb = torch.from_numpy(b)
    iou = torchvision.ops.box_iou(tb, tb, fmt="cxcywhr").numpy()
    for thr in (0.0, 0.2, 0.5, 0.8):
        np.testing.assert_array_equal(nms_rotated(b, s, thr), nms_rotated_ref(b, s, thr, iou=iou))


def test_nms_against_opencv():
    """cv2.dnn.NMSBoxesRotated takes the angle clockwise (the opposite sign, checked pairwise by
    cv2.rotatedRectangleIntersection) and scores an enclosed box as IoU 1: with congruent boxes
    (one w, h) nothing is enclosed but identical boxes, and the keep lists agree."""
    cv2 = pytest.importorskip("cv2")
    rng = np.random.default_rng(9)
    n = 400
    b = np.concatenate([rng.uniform(0, 150, (n, 2)), np.tile([[30.0, 12.0]], (n, 1)),
                        rng.uniform(-90, 90, (n, 1))], 1).astype(np.float32)
    s = (rng.permutation(n).astype(np.float32) + 1) / (n + 1)  # distinct, > 0 (OpenCV drops scores <= 0)
    rects = [((float(r[0]), float(r[1])), (float(r[2]), float(r[3])), -float(r[4])) for r in b]
    for thr in (0.3, 0.5):
        want = np.array(cv2.dnn.NMSBoxesRotated(rects, s.tolist(), 0.0, thr)).ravel()
        got = nms_rotated(b, s, thr)
        assert len(got) < n
        np.testing.assert_array_equal(got, want)


def test_batched_nms_rotated():
    rng = np.random.default_rng(10)
    b = clustered_rotated(rng, 6, 12)
    s = rng.uniform(0, 1, len(b))
    idxs = rng.integers(0, 3, len(b))
    iou = box_iou_rotated_ref(b, b)
    got = batched_nms_rotated(b, s, idxs, 0.4)
    np.testing.assert_array_equal(got, nms_rotated_ref(b, s, 0.4, idxs=idxs, iou=iou))
    # one category: plain NMS
    np.testing.assert_array_equal(batched_nms_rotated(b, s, np.zeros(len(b), np.int32), 0.4), nms_rotated(b, s, 0.4))
    # torch in, torch out
    t = batched_nms_rotated(torch.from_numpy(b), torch.from_numpy(s), torch.from_numpy(idxs), 0.4)
    assert isinstance(t, torch.Tensor) and t.dtype == torch.int64
    np.testing.assert_array_equal(t.numpy(), got)


def test_nms_degenerate_boxes_kept_suppress_nothing():
    b = np.array([[0, 0, 4, 4, 0], [0, 0, 4, 4, 0], [0, 0, 0, 4, 0], [np.nan, 0, 4, 4, 0], [0, 0, 4, 4, 1]])
    s = np.array([0.1, 0.9, 0.95, 0.99, 0.5])
    np.testing.assert_array_equal(nms_rotated(b, s, 0.5), [3, 2, 1])
    # below 0 every pair with a numeric IoU suppresses, degenerate boxes included, NaN not
    np.testing.assert_array_equal(nms_rotated(b, s, -1.0), [3, 2])


def test_nms_empty_and_bad_inputs():
    assert nms_rotated(np.zeros((0, 5)), np.zeros(0), 0.5).shape == (0,)
    b, s = np.zeros((3, 5)), np.zeros(3)
    with pytest.raises(FovealValueError, match="nms_rotated: iou_threshold must not be NaN"):
        nms_rotated(b, s, float("nan"))
    with pytest.raises(FovealValueError, match=r"nms_rotated: boxes must have shape \(N, 5\)"):
        nms_rotated(np.zeros((3, 4)), s, 0.5)
    with pytest.raises(FovealValueError, match=r"nms_rotated: scores must have shape \(N,\)"):
        nms_rotated(b, np.zeros(2), 0.5)
    with pytest.raises(FovealValueError, match=r"batched_nms_rotated: idxs must have shape \(N,\)"):
        batched_nms_rotated(b, s, np.zeros(2, np.int64), 0.5)
    with pytest.raises(FovealTypeError, match="batched_nms_rotated: idxs must have an integer dtype"):
        batched_nms_rotated(b, s, np.zeros(3), 0.5)
    with pytest.raises(FovealTypeError, match="iou_threshold"):
        nms_rotated(b, s, "0.5")


# -- roi_align_rotated -------------------------------------------------------------------------

H, W, C = 13, 17, 3


def make_rotated_rois(rng, k, n, scale):
    img_h, img_w = H / scale, W / scale
    return np.stack(
        [rng.integers(0, n, k), rng.uniform(-0.2, 1.2, k) * img_w, rng.uniform(-0.2, 1.2, k) * img_h,
         rng.uniform(0, 0.7, k) * img_w, rng.uniform(0, 0.7, k) * img_h, rng.uniform(-180, 180, k)], 1)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("sampling_ratio,aligned,scale", [(-1, True, 1.0), (2, True, 0.5), (-1, False, 0.5),
                                                          (1, False, 1.0)])
def test_roi_align_rotated_against_reference(dtype, sampling_ratio, aligned, scale):
    rng = np.random.default_rng(11)
    x = rng.normal(size=(2, C, H, W)).astype(dtype)
    rois = make_rotated_rois(rng, 12, 2, scale).astype(dtype)
    rois[0, 3:5] = [0.3, 0.2]  # smaller than a pixel
    got = roi_align_rotated(x, rois, (3, 4), scale, sampling_ratio, aligned)
    assert got.dtype == dtype and got.shape == (12, C, 3, 4)
    ref = roi_align_rotated_ref(x, rois, (3, 4), scale, sampling_ratio, aligned)
    np.testing.assert_allclose(got, ref, rtol=1e-5 if dtype == np.float32 else 1e-12,
                               atol=1e-5 if dtype == np.float32 else 1e-12)


@pytest.mark.parametrize("aligned", [True, False])
def test_roi_align_rotated_angle_zero_is_roi_align(aligned):
    rng = np.random.default_rng(12)
    x = rng.normal(size=(2, C, H, W)).astype(np.float32)
    r = make_rotated_rois(rng, 20, 2, 0.5)
    r[:, 3:5] = np.maximum(r[:, 3:5], 2.0)  # unaligned RoIs grow to 1x1 around different anchors
    r[:, 5] = 0
    boxes = np.stack([r[:, 0], r[:, 1] - r[:, 3] / 2, r[:, 2] - r[:, 4] / 2, r[:, 1] + r[:, 3] / 2,
                      r[:, 2] + r[:, 4] / 2], 1)
    got = roi_align_rotated(x, r.astype(np.float32), (5, 4), 0.5, -1, aligned)
    want = torchvision.ops.roi_align(torch.from_numpy(x), torch.from_numpy(boxes.astype(np.float32)), (5, 4), 0.5,
                                     -1, aligned).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=2e-5)
    np.testing.assert_allclose(got, roi_align(x, boxes.astype(np.float32), (5, 4), 0.5, -1, aligned), rtol=1e-5,
                               atol=2e-5)


def test_roi_align_rotated_half_turn_reverses_bins():
    rng = np.random.default_rng(13)
    x = rng.normal(size=(1, C, H, W))
    r = make_rotated_rois(rng, 10, 1, 1.0)
    out = roi_align_rotated(x, r, (3, 5), 1.0, 2)
    r2 = r.copy()
    r2[:, 5] += 180
    np.testing.assert_allclose(roi_align_rotated(x, r2, (3, 5), 1.0, 2), out[:, :, ::-1, ::-1], atol=1e-10)


def test_roi_align_rotated_backward_is_adjoint():
    rng = np.random.default_rng(14)
    x = rng.normal(size=(2, C, H, W))
    rois = make_rotated_rois(rng, 9, 2, 1.0)
    for sr, aligned in [(-1, True), (2, False)]:
        g = rng.normal(size=(9, C, 2, 3))
        gi = roi_align_rotated_backward(g, rois, x.shape, 1.0, sr, aligned)
        lhs = float(np.sum(roi_align_rotated(x, rois, (2, 3), 1.0, sr, aligned) * g))
        assert lhs == pytest.approx(float(np.sum(x * gi)), rel=1e-12, abs=1e-12)


def test_roi_align_rotated_empty_map_and_empty_rois():
    x = np.zeros((1, 2, 0, 5), np.float32)
    out = roi_align_rotated(x, np.array([[0, 1, 1, 2, 2, 30]], np.float32), 2)
    assert out.shape == (1, 2, 2, 2) and np.all(out == 0)
    assert roi_align_rotated(np.zeros((1, 2, 4, 4)), np.zeros((0, 6)), 2).shape == (0, 2, 2, 2)


def test_roi_align_rotated_bad_inputs():
    x = np.zeros((1, 2, 4, 4), np.float32)
    with pytest.raises(FovealValueError, match=r"roi_align_rotated: rois must have shape \(K, 6\)"):
        roi_align_rotated(x, np.zeros((1, 5), np.float32), 2)
    with pytest.raises(FovealValueError, match=r"roi_align_rotated: rois\[:, 0\] must hold integral batch"):
        roi_align_rotated(x, np.array([[1, 1, 1, 2, 2, 0]], np.float32), 2)
    with pytest.raises(FovealValueError, match="roi_align_rotated: rois must have non-negative w and h"):
        roi_align_rotated(x, np.array([[0, 1, 1, -2, 2, 0]], np.float32), 2)
    with pytest.raises(FovealValueError, match="roi_align_rotated: rois must hold finite values"):
        roi_align_rotated(x, np.array([[0, 1, 1, 2, 2, np.inf]], np.float32), 2)
    with pytest.raises(FovealValueError, match="roi_align_rotated: spatial_scale must be a positive"):
        roi_align_rotated(x, np.zeros((1, 6), np.float32), 2, spatial_scale=0.0)
    with pytest.raises(FovealValueError, match=r"roi_align_rotated: input must have shape \(N, C, H, W\)"):
        roi_align_rotated(np.zeros((2, 4, 4), np.float32), np.zeros((1, 6), np.float32), 2)
    with pytest.raises(FovealValueError, match="output_size must be >= 1"):
        roi_align_rotated(x, np.zeros((1, 6), np.float32), 0)


# -- CUDA parity (runs where a GPU is lent) ----------------------------------------------------


@pytest.mark.usefixtures("needs_cuda")
def test_cuda_parity():
    rng = np.random.default_rng(15)
    b1 = np.concatenate([random_boxes(rng, 50), edge_boxes()])
    b2 = random_boxes(rng, 70)
    for dt in (torch.float32, torch.float64):
        t1, t2 = torch.from_numpy(b1).to(dt), torch.from_numpy(b2).to(dt)
        got = box_iou_rotated(t1.cuda(), t2.cuda()).cpu()
        torch.testing.assert_close(got, box_iou_rotated(t1, t2), rtol=0, atol=1e-5 if dt == torch.float32 else 1e-12,
                                   equal_nan=True)
    x = torch.from_numpy(rng.normal(size=(2, C, H, W)))
    rois = torch.from_numpy(make_rotated_rois(rng, 12, 2, 0.5))
    for dt in (torch.float32, torch.float64):
        xc, rc = x.to(dt), rois.to(dt)
        got = roi_align_rotated(xc.cuda(), rc.cuda(), (3, 4), 0.5, -1, True).cpu()
        torch.testing.assert_close(got, roi_align_rotated(xc, rc, (3, 4), 0.5, -1, True), rtol=1e-5, atol=1e-5)
        g = torch.randn(12, C, 3, 4, dtype=dt)
        gi = roi_align_rotated_backward(g.cuda(), rc.cuda(), x.shape, 0.5, 2, True).cpu()
        torch.testing.assert_close(gi, roi_align_rotated_backward(g, rc, x.shape, 0.5, 2, True), rtol=1e-5, atol=1e-4)
    assert foveal.cuda_available()


@pytest.mark.usefixtures("needs_cuda")
def test_cuda_nms_rotated_parity():
    """The CUDA bitmask NMS keeps the CPU's boxes in the CPU's order: every threshold regime,
    invalid boxes, tied scores, categories."""
    rng = np.random.default_rng(16)
    boxes = np.concatenate([random_boxes(rng, 300), edge_boxes()])
    scores = rng.uniform(0, 1, len(boxes)).round(2)  # ties
    scores[:5] = np.nan
    idxs = rng.integers(0, 3, len(boxes))
    for dt in (torch.float32, torch.float64):
        b, s, i = torch.from_numpy(boxes).to(dt), torch.from_numpy(scores).to(dt), torch.from_numpy(idxs)
        for thr in (-0.5, 0.0, 0.3, 0.7, 1.0):
            torch.testing.assert_close(nms_rotated(b.cuda(), s.cuda(), thr).cpu(), nms_rotated(b, s, thr))
            torch.testing.assert_close(batched_nms_rotated(b.cuda(), s.cuda(), i.cuda(), thr).cpu(),
                                       batched_nms_rotated(b, s, i, thr))


@pytest.mark.parametrize("fn", [box_iou_rotated, nms_rotated, batched_nms_rotated, roi_align_rotated,
                                roi_align_rotated_backward])
def test_docstring_examples(fn):
    import doctest

    runner = doctest.DocTestRunner()
    for test in doctest.DocTestFinder().find(fn):
        runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.attempted >= 3 and result.failed == 0


_coord = st.floats(-50, 50, allow_nan=False)
_size = st.floats(1e-2, 80, allow_nan=False)
_angle = st.one_of(st.floats(-360, 360, allow_nan=False), st.sampled_from([0.0, 90.0, -90.0, 180.0, 45.0, 1e-7]))
_box = st.tuples(_coord, _coord, _size, _size, _angle)


@given(st.lists(_box, min_size=1, max_size=6), st.lists(_box, min_size=1, max_size=6))
def test_iou_property_against_reference(b1, b2):
    b1, b2 = np.array(b1), np.array(b2)
    np.testing.assert_allclose(box_iou_rotated(b1, b2), box_iou_rotated_ref(b1, b2), rtol=0, atol=1e-9)


@pytest.mark.parametrize("aligned", [True, False])
def test_roi_align_rotated_large_rois_skip_only_samples_off_the_map(aligned):
    # grids of 70+ samples per bin axis take the narrowed loops (math/rotated.hpp
    # roi_align_rotated_rows / _cols); the reference visits every sample
    rng = np.random.default_rng(15)
    x = rng.normal(size=(1, C, H, W))
    # (centres off the pixel grid: at 0 / 90 degrees a sample exactly on the map's edge is in or out
    # by the last bit of cos / sin, which foveal makes exact there and NumPy does not)
    rois = np.array([[0, 8.13, 6.07, 150.0, 140.0, 0.0],   # the map inside the RoI
                     [0, -60.0, 10.0, 150.0, 146.0, 30.0],  # an edge of the RoI crosses the map
                     [0, 9.13, 80.37, 141.0, 150.0, 90.0],
                     [0, 70.0, -50.0, 160.0, 150.0, -135.0],
                     [0, 300.0, 300.0, 150.0, 150.0, 10.0]])  # off the map
    got = roi_align_rotated(x, rois, (2, 2), 1.0, -1, aligned)
    ref = roi_align_rotated_ref(x, rois, (2, 2), 1.0, -1, aligned)
    np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-15)
    assert np.count_nonzero(got[:4]) > 0 and np.all(got[4] == 0)


def test_roi_align_rotated_huge_rois_finish():
    # found by tools/fuzz_contract.py: a 1e30 RoI looped over its whole capped grid (2^80 samples)
    x = np.random.default_rng(16).normal(size=(1, C, H, W)).astype(np.float32)
    rois = np.array([[0, 5, 5, 1e30, 4, 30], [0, 5, 5, 3e38, 3e38, 45], [0, -1e30, 7, 1e30, 1e30, 0]], np.float32)
    out = roi_align_rotated(x, rois, (3, 3), 1.0, -1, True)
    assert np.isfinite(out).all()
    g = np.ones_like(out)
    gi = roi_align_rotated_backward(g, rois, x.shape, 1.0, -1, True)
    assert np.isfinite(gi).all()
    assert float(np.sum(out.astype(np.float64) * g)) == pytest.approx(float(np.sum(x.astype(np.float64) * gi)),
                                                                        rel=1e-4, abs=1e-6)


@pytest.mark.parametrize("which", ["box_iou_rotated", "nms_rotated", "roi_align_rotated"])
def test_complex_inputs_are_refused(which):
    # found by tools/fuzz_contract.py: complex arrays were cast to real, the imaginary part dropped
    b = np.array([[5, 5, 4, 3, 30]], np.complex64)
    with pytest.raises(FovealTypeError, match=r"must have a real numeric dtype, got complex64"):
        if which == "box_iou_rotated":
            box_iou_rotated(b, b)
        elif which == "nms_rotated":
            nms_rotated(b, np.ones(1, np.complex64), 0.5)
        else:
            roi_align_rotated(np.zeros((1, 1, 4, 4), np.complex64), np.array([[0, 2, 2, 2, 2, 0]], np.float32), 2)
