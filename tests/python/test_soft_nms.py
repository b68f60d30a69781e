"""foveal.ops.soft_nms against a float64 NumPy transcription of Bodla et al.'s algorithm
(tests/reference/detection_ref.py), OpenCV's cv2.dnn.softNMSBoxes on integer boxes, and
properties (sigma -> 0 is hard NMS; selection order)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from foveal import FovealTypeError, FovealValueError
from foveal.ops import nms, soft_nms
from foveal.synthetic import clustered_boxes
from reference import detection_ref as ref

METHODS = ["gaussian", "linear"]


def scene(n, seed, integer=False, span=600.0):
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, span, (n, 2))
    wh = rng.uniform(4, 120, (n, 2))
    boxes = np.concatenate([xy, xy + wh], axis=1)
    if integer:
        boxes = np.round(boxes)
    return boxes, rng.random(n)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("n", [0, 1, 2, 17, 300, 1500])
@pytest.mark.parametrize("score_threshold", [0.001, 0.3, -np.inf])
def test_matches_float64_reference(method, n, score_threshold):
    boxes, scores = scene(n, n)
    keep, kept = soft_nms(boxes, scores, 0.3, 0.5, score_threshold, method)
    rk, rs = ref.soft_nms(boxes, scores, 0.3, 0.5, score_threshold, method)
    assert keep.dtype == np.int64 and kept.dtype == np.float64
    np.testing.assert_array_equal(keep, rk)
    np.testing.assert_allclose(kept, rs, rtol=1e-13, atol=0)


@pytest.mark.parametrize("method", METHODS)
def test_clustered_scene_matches_reference(method):
    boxes, scores = clustered_boxes(2000, seed=3, dtype=np.float64)
    keep, kept = soft_nms(boxes, scores, 0.5, 0.3, 0.01, method)
    rk, rs = ref.soft_nms(boxes, scores, 0.5, 0.3, 0.01, method)
    np.testing.assert_array_equal(keep, rk)
    np.testing.assert_allclose(kept, rs, rtol=1e-13, atol=0)


@pytest.mark.parametrize("method", METHODS)
def test_wildly_different_sizes_and_far_boxes(method):
    rng = np.random.default_rng(5)
    small, _ = scene(400, 6)
    big = np.array([[-1e4, -1e4, 2e4, 2e4], [0, 0, 5000, 40], [100, -3000, 130, 9000], [1e6, 1e6, 1e6 + 1, 1e6 + 1]])
    boxes = np.concatenate([small, big])
    scores = rng.random(len(boxes))
    keep, kept = soft_nms(boxes, scores, 0.1, 0.5, 1e-4, method)
    rk, rs = ref.soft_nms(boxes, scores, 0.1, 0.5, 1e-4, method)
    np.testing.assert_array_equal(keep, rk)
    np.testing.assert_allclose(kept, rs, rtol=1e-13, atol=0)


@pytest.mark.parametrize("method", METHODS)
def test_per_class_matches_reference_and_separate_calls(method):
    boxes, scores = clustered_boxes(1500, seed=7, dtype=np.float64)
    labels = np.random.default_rng(8).integers(-3, 5, 1500)
    keep, kept = soft_nms(boxes, scores, 0.3, 0.5, 0.001, method, idxs=labels)
    rk, rs = ref.soft_nms(boxes, scores, 0.3, 0.5, 0.001, method, idxs=labels)
    np.testing.assert_array_equal(keep, rk)
    np.testing.assert_allclose(kept, rs, rtol=1e-13, atol=0)
    for c in np.unique(labels):  # each class alone gives that class's part, in the same order
        sel = np.nonzero(labels == c)[0]
        k, s = soft_nms(boxes[sel], scores[sel], 0.3, 0.5, 0.001, method)
        np.testing.assert_array_equal(sel[k], keep[labels[keep] == c])
        np.testing.assert_array_equal(s, kept[labels[keep] == c])


def cv2_soft_nms(boxes, scores, method, score_threshold=0.001, iou_threshold=0.3, sigma=0.5):
    xywh = [(int(b[0]), int(b[1]), int(b[2] - b[0]), int(b[3] - b[1])) for b in boxes]
    m = cv2.dnn.SoftNMSMethod_SOFTNMS_LINEAR if method == "linear" else cv2.dnn.SoftNMSMethod_SOFTNMS_GAUSSIAN
    updated, idx = cv2.dnn.softNMSBoxes(xywh, [float(s) for s in scores], score_threshold, iou_threshold,
                                        sigma=sigma, method=m)
    return np.asarray(idx, np.int64).ravel(), np.asarray(updated, np.float64).ravel()


@pytest.mark.parametrize("method", METHODS)
def test_matches_opencv_on_integer_boxes(method):
    boxes, scores = scene(1200, 11, integer=True)
    scores = scores.astype(np.float32)
    want_k, want_s = cv2_soft_nms(boxes, scores, method)
    # OpenCV's IoU of integer rectangles is a double: compare with foveal in float64
    keep, kept = soft_nms(boxes, scores.astype(np.float64), method=method)
    np.testing.assert_array_equal(keep, want_k)
    np.testing.assert_allclose(kept, want_s, rtol=2e-6, atol=0)


def test_matches_opencv_float32_on_the_benchmark_scene():
    boxes, scores = clustered_boxes(3000, seed=0)
    boxes = np.round(boxes)
    want_k, want_s = cv2_soft_nms(boxes, scores, "gaussian")
    keep, kept = soft_nms(boxes.astype(np.float32), scores)
    assert kept.dtype == np.float32
    np.testing.assert_array_equal(keep, want_k)
    np.testing.assert_allclose(kept, want_s, rtol=1e-6, atol=0)


int_coord = st.integers(0, 60)
int_size = st.integers(1, 30)


@given(
    st.lists(st.tuples(int_coord, int_coord, int_size, int_size, st.integers(0, 1000)), min_size=1, max_size=40),
)
def test_tiny_sigma_is_hard_nms_at_iou_zero(rows):
    a = np.array(rows, np.float64)
    boxes = np.stack([a[:, 0], a[:, 1], a[:, 0] + a[:, 2], a[:, 1] + a[:, 3]], axis=1)
    scores = a[:, 4] / 1000 + 0.01
    keep, kept = soft_nms(boxes, scores, sigma=1e-300, score_threshold=1e-3)
    # gaussian with sigma -> 0 zeroes every box that overlaps a selected one: hard NMS at IoU > 0
    np.testing.assert_array_equal(keep, nms(boxes, scores, 0.0))
    np.testing.assert_array_equal(keep, ref.hard_nms(boxes, scores, 0.0))
    np.testing.assert_array_equal(kept, scores[keep])


@given(
    st.lists(st.tuples(int_coord, int_coord, int_size, int_size, st.integers(0, 5)), min_size=1, max_size=40),
    st.sampled_from(METHODS),
    st.floats(0.05, 2.0),
)
def test_selection_order_and_ties(rows, method, sigma):
    a = np.array(rows, np.float64)
    boxes = np.stack([a[:, 0], a[:, 1], a[:, 0] + a[:, 2], a[:, 1] + a[:, 3]], axis=1)
    scores = a[:, 4] / 5  # many ties
    keep, kept = soft_nms(boxes, scores, 0.2, sigma, 0.05, method)
    assert np.all(np.diff(kept) <= 0)
    assert np.all(kept >= 0.05)
    assert len(np.unique(keep)) == len(keep)
    rk, rs = ref.soft_nms(boxes, scores, 0.2, sigma, 0.05, method)
    np.testing.assert_array_equal(keep, rk)
    np.testing.assert_allclose(kept, rs, rtol=1e-13, atol=0)


def test_nan_scores_and_invalid_boxes():
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [5, 5, 5, 9], [0, 0, np.nan, 10], [2, 2, 12, 12]], np.float64)
    scores = np.array([0.9, np.nan, 0.8, 0.7, 0.6])
    keep, kept = soft_nms(boxes, scores)
    rk, rs = ref.soft_nms(boxes, scores)
    np.testing.assert_array_equal(keep, rk)
    np.testing.assert_allclose(kept, rs, rtol=1e-15)
    assert 1 not in keep.tolist()
    assert kept[list(keep).index(2)] == 0.8 and kept[list(keep).index(3)] == 0.7  # overlap nothing


def test_torch_in_torch_out_and_inputs_untouched():
    boxes, scores = scene(200, 3)
    tb, ts = torch.from_numpy(boxes.astype(np.float32)), torch.from_numpy(scores.astype(np.float32))
    b0, s0 = tb.clone(), ts.clone()
    keep, kept = soft_nms(tb, ts, idxs=torch.zeros(200, dtype=torch.int32))
    assert isinstance(keep, torch.Tensor) and keep.dtype == torch.int64 and kept.dtype == torch.float32
    assert torch.equal(tb, b0) and torch.equal(ts, s0)
    k2, s2 = soft_nms(boxes.astype(np.float32), scores.astype(np.float32))
    np.testing.assert_array_equal(keep.numpy(), k2)
    np.testing.assert_array_equal(kept.numpy(), s2)


def test_errors_name_the_argument():
    boxes, scores = scene(5, 0)
    with pytest.raises(FovealValueError, match="soft_nms: method must be 'gaussian' or 'linear', got 'hard'"):
        soft_nms(boxes, scores, method="hard")
    with pytest.raises(FovealValueError, match="soft_nms: sigma must be positive and finite, got -0.5"):
        soft_nms(boxes, scores, sigma=-0.5)
    with pytest.raises(FovealValueError, match="soft_nms: sigma must be positive"):
        soft_nms(boxes, scores, sigma=0.0, method="linear")
    with pytest.raises(FovealValueError, match=r"soft_nms: scores must have shape \(N,\) with N = 5"):
        soft_nms(boxes, scores[:4])
    with pytest.raises(FovealValueError, match=r"soft_nms: boxes must have shape \(N, 4\)"):
        soft_nms(boxes[:, :3], scores)
    with pytest.raises(FovealValueError, match=r"soft_nms: idxs must have shape \(N,\) with N = 5"):
        soft_nms(boxes, scores, idxs=np.zeros(3, np.int64))
    with pytest.raises(FovealTypeError, match="soft_nms: idxs must have an integer dtype"):
        soft_nms(boxes, scores, idxs=np.zeros(5))
    with pytest.raises(FovealValueError, match="soft_nms: score_threshold must not be NaN"):
        soft_nms(boxes, scores, score_threshold=float("nan"))
    with pytest.raises(FovealTypeError, match="soft_nms: iou_threshold must be a real number"):
        soft_nms(boxes, scores, iou_threshold="0.3")


@pytest.mark.needs_cuda
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("dtype", [torch.float16, torch.float32, torch.float64], ids=str)
@pytest.mark.parametrize("per_class", [False, True])
def test_cuda_matches_cpu(method, dtype, per_class):
    boxes, scores = scene(800, 21, integer=True)
    labels = torch.from_numpy(np.random.default_rng(3).integers(0, 4, 800)) if per_class else None
    b, s = torch.from_numpy(boxes).to(dtype), torch.from_numpy(scores).to(dtype)
    keep, kept = soft_nms(b.cuda(), s.cuda(), method=method, idxs=None if labels is None else labels.cuda())
    assert keep.is_cuda and keep.dtype == torch.int64 and kept.dtype == dtype
    cpu_dtype = torch.float32 if dtype == torch.float16 else dtype
    want_k, want_s = soft_nms(b.to(cpu_dtype), s.to(cpu_dtype), method=method, idxs=labels)
    if dtype == torch.float16:  # float32 arithmetic on float16 inputs, then rounded: near-ties may swap
        assert abs(len(keep) - len(want_k)) <= 2
        assert torch.all(kept[1:].float() <= kept[:-1].float())
        return
    np.testing.assert_array_equal(keep.cpu().numpy(), want_k.numpy())
    tol = 1e-12 if dtype == torch.float64 else 1e-5
    np.testing.assert_allclose(kept.cpu().numpy(), want_s.numpy(), rtol=tol, atol=0)
