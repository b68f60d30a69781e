"""foveal.ops.rpn_postprocess, box_head_postprocess and retinanet_postprocess against
torchvision's RPN (BoxCoder.decode + filter_proposals), RoIHeads.postprocess_detections and
RetinaNet.postprocess_detections (tests/reference/postprocess_ref.py): the same proposals / detections in the same order, boxes and scores within
an ulp or two (exp and softmax differ by an ulp between libm and torch's vectorised kernels)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import foveal
from foveal.ops import box_head_postprocess, retinanet_postprocess, rpn_postprocess
from reference.postprocess_ref import (
    box_head_ref,
    fpn_anchors,
    retina_anchors,
    retinanet_np,
    retinanet_ref,
    rpn_ref,
)

DTYPES = [np.float32, np.float64]
TORCH = {np.float32: torch.float32, np.float64: torch.float64}


def assert_same_rows(got_boxes, got_scores, count, want_boxes, want_scores, dtype):
    tol = dict(rtol=4e-7, atol=1e-4) if dtype == np.float32 else dict(rtol=1e-13, atol=1e-10)
    assert count == len(want_boxes), (count, len(want_boxes))
    np.testing.assert_allclose(got_boxes[:count], want_boxes.numpy(), **tol)
    np.testing.assert_allclose(got_scores[:count], want_scores.numpy(), rtol=tol["rtol"] * 8, atol=1e-7)
    assert not got_boxes[count:].any() and not got_scores[count:].any()  # zero padding


def rpn_inputs(dtype, batch=3, height=192, width=256, feats=((48, 64), (24, 32), (12, 16)), scale=0.1, seed=0):
    anchors, levels = fpn_anchors(height, width, feats, dtype=TORCH[dtype])
    g = torch.Generator().manual_seed(seed)
    obj = torch.randn((batch, anchors.shape[0]), generator=g, dtype=TORCH[dtype])
    deltas = torch.randn((batch, anchors.shape[0], 4), generator=g, dtype=TORCH[dtype]) * scale
    return anchors, obj, deltas, levels


def run_rpn(anchors, obj, deltas, shapes, levels, **kw):
    return rpn_postprocess(anchors.numpy(), obj.numpy(), deltas.numpy(), shapes, levels, **kw)


# ----------------------------------------------------------------- rpn_postprocess


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "kw",
    [
        {},
        {"pre_nms_top_n": 50, "post_nms_top_n": 70},
        {"pre_nms_top_n": 300, "post_nms_top_n": 2000, "nms_thresh": 0.5, "score_thresh": 0.6},
        {"pre_nms_top_n": 5000, "post_nms_top_n": 100, "min_size": 20.0},
        {"pre_nms_top_n": 0},
        {"post_nms_top_n": 0},
        {"nms_thresh": 1.0, "post_nms_top_n": 400},
    ],
)
def test_rpn_matches_torchvision(dtype, kw):
    anchors, obj, deltas, levels = rpn_inputs(dtype)
    # Images of different sizes (anchors shared); the last is 0 x 0: every box clips to nothing,
    # min_size removes them all, and the image has no proposals.
    shapes = [(192, 256), (150, 201), (0, 0)]
    want_boxes, want_scores = rpn_ref(anchors, obj, deltas, shapes, levels, **kw)
    boxes, scores, counts = run_rpn(anchors, obj, deltas, shapes, levels, **kw)
    assert boxes.dtype == dtype and scores.dtype == dtype and counts.dtype == np.int64
    assert counts[2] == 0
    for i in range(3):
        assert_same_rows(boxes[i], scores[i], counts[i], want_boxes[i], want_scores[i], dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_rpn_large_deltas_clip_and_remove_small(dtype):
    # Deltas N(0, 1): many boxes leave the image (clipped), some collapse (removed), dw above the
    # clamp log(1000/16) appears.
    anchors, obj, deltas, levels = rpn_inputs(dtype, scale=1.0, seed=3)
    deltas[0, :50, 2:] = 9.0
    shapes = [(192, 256), (100, 80), (192, 256)]
    kw = {"pre_nms_top_n": 400, "post_nms_top_n": 500, "min_size": 2.0}
    want_boxes, want_scores = rpn_ref(anchors, obj, deltas, shapes, levels, **kw)
    boxes, scores, counts = run_rpn(anchors, obj, deltas, shapes, levels, **kw)
    for i in range(3):
        assert_same_rows(boxes[i], scores[i], counts[i], want_boxes[i], want_scores[i], dtype)


def test_rpn_benchmark_scene_matches_torchvision():
    # The rpn_postprocess workload of BENCHMARKS.md: 2 images 800 x 1216, 242,991 anchors.
    anchors, levels = fpn_anchors(800, 1216, [(200, 304), (100, 152), (50, 76), (25, 38), (13, 19)])
    g = torch.Generator().manual_seed(0)
    obj = torch.randn((2, anchors.shape[0]), generator=g)
    deltas = torch.randn((2, anchors.shape[0], 4), generator=g) * 0.1
    shapes = [(800, 1216)] * 2
    want_boxes, want_scores = rpn_ref(anchors, obj, deltas, shapes, levels)
    boxes, scores, counts = run_rpn(anchors, obj, deltas, shapes, levels)
    for i in range(2):
        assert_same_rows(boxes[i], scores[i], counts[i], want_boxes[i], want_scores[i], np.float32)


def test_rpn_tie_rules():
    # Equal logits: the lower anchor is selected (top-1 of the level) and visited first.
    anchors = np.array([[0, 0, 10, 10], [0, 0, 10, 10.5], [30, 30, 40, 40]], np.float64)
    obj = np.array([[1.0, 1.0, 1.0]])
    deltas = np.zeros((1, 3, 4))
    boxes, scores, counts = rpn_postprocess(anchors, obj, deltas, [(100, 100)], [2, 1], pre_nms_top_n=1)
    assert counts.tolist() == [2]
    np.testing.assert_array_equal(boxes[0], anchors[[0, 2]])
    boxes, _, counts = rpn_postprocess(anchors, obj, deltas, [(100, 100)], [3])
    assert counts.tolist() == [2]  # anchor 1 suppressed by anchor 0 (IoU 0.95)
    np.testing.assert_array_equal(boxes[0, :2], anchors[[0, 2]])
    assert not boxes[0, 2:].any()
    # NaN logits rank last: selected only when nothing else is left, then dropped (score NaN).
    obj = np.array([[np.nan, 0.0, 1.0]])
    boxes, _, counts = rpn_postprocess(anchors, obj, deltas, [(100, 100)], [3], pre_nms_top_n=2)
    np.testing.assert_array_equal(boxes[0, : counts[0]], anchors[[2, 1]])


def test_rpn_torch_in_torch_out():
    anchors, obj, deltas, levels = rpn_inputs(np.float32, batch=2)
    boxes, scores, counts = rpn_postprocess(anchors, obj, deltas, torch.tensor([[192, 256], [100, 100]]), levels)
    assert all(isinstance(x, torch.Tensor) for x in (boxes, scores, counts))
    nb, ns, nc = run_rpn(anchors, obj, deltas, [(192, 256), (100, 100)], levels)
    np.testing.assert_array_equal(boxes.numpy(), nb)
    np.testing.assert_array_equal(counts.numpy(), nc)


def test_rpn_empty_batch():
    anchors, _, _, levels = rpn_inputs(np.float32)
    boxes, scores, counts = rpn_postprocess(
        anchors.numpy(), np.zeros((0, len(anchors)), np.float32), np.zeros((0, len(anchors), 4), np.float32),
        np.zeros((0, 2)), levels,
    )
    assert boxes.shape == (0, 1000, 4) and counts.shape == (0,)


def _rpn_ok():
    anchors = np.array([[0, 0, 10, 10], [5, 5, 20, 20], [30, 30, 40, 40]], np.float32)
    return anchors, np.zeros((2, 3), np.float32), np.zeros((2, 3, 4), np.float32), [(50, 50), (60, 60)], [2, 1]


@pytest.mark.parametrize(
    ("change", "exc", "match"),
    [
        ({"pre_nms_top_n": -1}, foveal.FovealValueError, r"rpn_postprocess: pre_nms_top_n must be >= 0, got -1"),
        ({"post_nms_top_n": -5}, foveal.FovealValueError, r"rpn_postprocess: post_nms_top_n must be >= 0, got -5"),
        ({"pre_nms_top_n": 10.0}, foveal.FovealTypeError, r"rpn_postprocess: pre_nms_top_n must be an integer"),
        ({"deltas": np.zeros((2, 4, 4), np.float32)}, foveal.FovealValueError, r"rpn_postprocess: deltas must have shape \(B, A, 4\) = \(2, 3, 4\)"),
        ({"deltas": np.zeros((2, 3), np.float32)}, foveal.FovealValueError, r"rpn_postprocess: deltas must have shape"),
        ({"objectness": np.zeros((2, 5), np.float32)}, foveal.FovealValueError, r"rpn_postprocess: objectness must have shape \(B, A\) with A = 3"),
        ({"anchors": np.zeros((3, 5), np.float32)}, foveal.FovealValueError, r"rpn_postprocess: anchors must have shape \(A, 4\)"),
        ({"image_sizes": [(50, np.inf), (60, 60)]}, foveal.FovealValueError, r"rpn_postprocess: image_sizes must be finite and >= 0, got inf for image 0"),
        ({"image_sizes": [(50, 50), (np.nan, 60)]}, foveal.FovealValueError, r"rpn_postprocess: image_sizes must be finite and >= 0, got nan for image 1"),
        ({"image_sizes": [(50, -1), (60, 60)]}, foveal.FovealValueError, r"rpn_postprocess: image_sizes must be finite and >= 0, got -1"),
        ({"image_sizes": [(50, 50)]}, foveal.FovealValueError, r"rpn_postprocess: image_sizes must have shape \(B, 2\) with B = 2"),
        ({"image_sizes": [("a", "b")] * 2}, foveal.FovealTypeError, r"rpn_postprocess: image_sizes must hold real numbers"),
        ({"levels": [2, 2]}, foveal.FovealValueError, r"rpn_postprocess: num_anchors_per_level must sum to A = 3"),
        ({"levels": [4, -1]}, foveal.FovealValueError, r"rpn_postprocess: num_anchors_per_level must be >= 0"),
        ({"levels": 3}, foveal.FovealTypeError, r"rpn_postprocess: num_anchors_per_level must be a sequence of integers"),
        ({"nms_thresh": math.nan}, foveal.FovealValueError, r"rpn_postprocess: nms_thresh must not be NaN, got nan"),
        ({"weights": (1, 1, 1)}, foveal.FovealValueError, r"rpn_postprocess: weights must be a sequence of 4 numbers"),
        ({"weights": (1, 1, 0, 1)}, foveal.FovealValueError, r"rpn_postprocess: weights must be 4 finite non-zero"),
        ({"objectness": np.zeros((2, 3), np.int32) + 1j}, foveal.FovealTypeError, r"rpn_postprocess: objectness must have a real numeric dtype"),
    ],
)
def test_rpn_bad_inputs_name_the_argument(change, exc, match):
    anchors, obj, deltas, sizes, levels = _rpn_ok()
    args = {"anchors": anchors, "objectness": obj, "deltas": deltas, "image_sizes": sizes, "levels": levels}
    kw = {}
    for key, value in change.items():
        if key in args:
            args[key] = value
        else:
            kw[key] = value
    with pytest.raises(exc, match=match):
        rpn_postprocess(args["anchors"], args["objectness"], args["deltas"], args["image_sizes"], args["levels"], **kw)


def test_rpn_inputs_not_modified():
    anchors, obj, deltas, levels = rpn_inputs(np.float32, batch=2)
    a, o, d = anchors.numpy(), obj.numpy(), deltas.numpy()
    copies = a.copy(), o.copy(), d.copy()
    rpn_postprocess(a, o, d, [(192, 256)] * 2, levels)
    for x, y in zip((a, o, d), copies):
        np.testing.assert_array_equal(x, y)


# ----------------------------------------------------------------- box_head_postprocess


def head_inputs(dtype, counts, n_classes, seed=0, logit_scale=3.0, reg_scale=0.1, height=300, width=400):
    g = torch.Generator().manual_seed(seed)
    p = max(counts)
    xy = torch.rand((len(counts), p, 2), generator=g, dtype=TORCH[dtype]) * torch.tensor([width, height], dtype=TORCH[dtype])
    wh = torch.rand((len(counts), p, 2), generator=g, dtype=TORCH[dtype]) * 120 + 4
    proposals = torch.cat([xy - wh / 2, xy + wh / 2], dim=2)  # some leave the image (negative too)
    logits = torch.randn((len(counts), p, n_classes), generator=g, dtype=TORCH[dtype]) * logit_scale
    reg = torch.randn((len(counts), p, 4 * n_classes), generator=g, dtype=TORCH[dtype]) * reg_scale
    return proposals, logits, reg


def head_ref(proposals, logits, reg, counts, shapes, **kw):
    props = [proposals[i, :c] for i, c in enumerate(counts)]
    cl = torch.cat([logits[i, :c] for i, c in enumerate(counts)])
    br = torch.cat([reg[i, :c] for i, c in enumerate(counts)])
    return box_head_ref(cl, br, props, shapes, **kw)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n_classes", [2, 5, 91])
@pytest.mark.parametrize(
    "kw",
    [{}, {"score_thresh": 0.0, "detections_per_img": 500}, {"nms_thresh": 0.3, "detections_per_img": 7}, {"score_thresh": 0.5}],
)
def test_box_head_matches_torchvision(dtype, n_classes, kw):
    counts = [300, 211, 0, 300]
    proposals, logits, reg = head_inputs(dtype, counts, n_classes, seed=n_classes)
    # Image 3 is 0 x 0: every box clips to nothing and is removed; image 2 has no proposals.
    shapes = [(300, 400), (250, 333), (300, 400), (0, 0)]
    want = head_ref(proposals, logits, reg, counts, shapes, **kw)
    fkw = {"score_thresh": kw.get("score_thresh", 0.05), "nms_thresh": kw.get("nms_thresh", 0.5),
           "detections_per_img": kw.get("detections_per_img", 100)}
    boxes, scores, labels, got_counts = box_head_postprocess(
        proposals.numpy(), logits.numpy(), reg.numpy(), shapes, proposal_counts=np.array(counts), **fkw
    )
    assert boxes.dtype == dtype and labels.dtype == np.int64
    assert got_counts[2] == 0 and got_counts[3] == 0
    for i in range(len(counts)):
        wb, ws, wl = want[0][i], want[1][i], want[2][i]
        assert_same_rows(boxes[i], scores[i], got_counts[i], wb, ws, dtype)
        np.testing.assert_array_equal(labels[i, : got_counts[i]], wl.numpy())
        assert not labels[i, got_counts[i]:].any()


def test_box_head_benchmark_scene_matches_torchvision():
    # The box_head_postprocess workload of BENCHMARKS.md on torchvision's own proposals.
    anchors, levels = fpn_anchors(800, 1216, [(200, 304), (100, 152), (50, 76), (25, 38), (13, 19)])
    g = torch.Generator().manual_seed(0)
    obj = torch.randn((2, anchors.shape[0]), generator=g)
    deltas = torch.randn((2, anchors.shape[0], 4), generator=g) * 0.1
    shapes = [(800, 1216)] * 2
    props, _ = rpn_ref(anchors, obj, deltas, shapes, levels)
    cl = torch.randn((2000, 91), generator=g) * 3
    br = torch.randn((2000, 364), generator=g) * 0.1
    want = box_head_ref(cl, br, props, shapes)
    boxes, scores, labels, counts = box_head_postprocess(
        torch.stack(props).numpy(), cl.reshape(2, 1000, 91).numpy(), br.reshape(2, 1000, 364).numpy(), shapes
    )
    for i in range(2):
        assert_same_rows(boxes[i], scores[i], counts[i], want[0][i], want[1][i], np.float32)
        np.testing.assert_array_equal(labels[i, : counts[i]], want[2][i].numpy())


def test_box_head_after_rpn_postprocess_padded():
    # rpn_postprocess's padded output feeds box_head_postprocess directly.
    anchors, obj, deltas, levels = rpn_inputs(np.float32, batch=2)
    shapes = [(192, 256), (40, 50)]
    props, _, pcounts = rpn_postprocess(anchors.numpy(), obj.numpy(), deltas.numpy(), shapes, levels,
                                        post_nms_top_n=300)
    assert pcounts[1] < props.shape[1]  # padded
    g = torch.Generator().manual_seed(1)
    logits = torch.randn((2, props.shape[1], 11), generator=g) * 3
    reg = torch.randn((2, props.shape[1], 44), generator=g) * 0.1
    want = head_ref(torch.from_numpy(props), logits, reg, pcounts.tolist(), shapes)
    boxes, scores, labels, counts = box_head_postprocess(props, logits.numpy(), reg.numpy(), shapes,
                                                         proposal_counts=pcounts)
    for i in range(2):
        assert_same_rows(boxes[i], scores[i], counts[i], want[0][i], want[1][i], np.float32)
        np.testing.assert_array_equal(labels[i, : counts[i]], want[2][i].numpy())


def test_box_head_ties_follow_flattened_order():
    # Two classes with identical logits and boxes far apart: equal scores, listed (proposal,
    # class) in flattened order; one class only background -> nothing.
    proposals = np.array([[[0, 0, 10, 10], [50, 50, 60, 60]]], np.float64)
    logits = np.array([[[0.0, 1.0, 1.0], [0.0, 1.0, 1.0]]])
    reg = np.zeros((1, 2, 12))
    boxes, scores, labels, counts = box_head_postprocess(proposals, logits, reg, [(100, 100)])
    assert counts.tolist() == [4]
    np.testing.assert_array_equal(labels[0], [1, 2, 1, 2])
    np.testing.assert_array_equal(boxes[0], proposals[0][[0, 0, 1, 1]])
    boxes, scores, labels, counts = box_head_postprocess(proposals, logits[..., :1], reg[..., :4], [(100, 100)])
    assert counts.tolist() == [0] and boxes.shape == (1, 0, 4)


def _head_ok():
    return (np.zeros((2, 3, 4), np.float32), np.zeros((2, 3, 5), np.float32), np.zeros((2, 3, 20), np.float32),
            [(50, 50), (60, 60)])


@pytest.mark.parametrize(
    ("change", "exc", "match"),
    [
        ({"box_regression": np.zeros((2, 3, 16), np.float32)}, foveal.FovealValueError, r"box_head_postprocess: box_regression must have shape \(B, P, 4 C\) = \(2, 3, 20\)"),
        ({"class_logits": np.zeros((2, 4, 5), np.float32)}, foveal.FovealValueError, r"box_head_postprocess: class_logits must have shape \(B, P, C\)"),
        ({"class_logits": np.zeros((2, 3, 0), np.float32)}, foveal.FovealValueError, r"box_head_postprocess: class_logits must have shape"),
        ({"proposals": np.zeros((2, 3, 5), np.float32)}, foveal.FovealValueError, r"box_head_postprocess: proposals must have shape \(B, P, 4\)"),
        ({"image_sizes": [(50, 50), (60, np.inf)]}, foveal.FovealValueError, r"box_head_postprocess: image_sizes must be finite and >= 0, got inf for image 1"),
        ({"proposal_counts": np.array([3, 4])}, foveal.FovealValueError, r"box_head_postprocess: proposal_counts must lie in \[0, P\] = \[0, 3\], got 4 for image 1"),
        ({"proposal_counts": np.array([3, -1])}, foveal.FovealValueError, r"box_head_postprocess: proposal_counts must lie in"),
        ({"proposal_counts": np.array([3])}, foveal.FovealValueError, r"box_head_postprocess: proposal_counts must have shape \(B,\) with B = 2"),
        ({"proposal_counts": np.array([3.0, 3.0])}, foveal.FovealTypeError, r"box_head_postprocess: proposal_counts must have an integer dtype"),
        ({"detections_per_img": -1}, foveal.FovealValueError, r"box_head_postprocess: detections_per_img must be >= 0, got -1"),
        ({"detections_per_img": 1.5}, foveal.FovealTypeError, r"box_head_postprocess: detections_per_img must be an integer"),
        ({"score_thresh": math.nan}, foveal.FovealValueError, r"box_head_postprocess: score_thresh must not be NaN, got nan"),
        ({"class_logits": torch.zeros(2, 3, 5)}, foveal.FovealTypeError, r"box_head_postprocess: arrays must come from the same array library"),
    ],
)
def test_box_head_bad_inputs_name_the_argument(change, exc, match):
    p, c, r, s = _head_ok()
    args = {"proposals": p, "class_logits": c, "box_regression": r, "image_sizes": s}
    kw = {}
    for key, value in change.items():
        if key in args:
            args[key] = value
        else:
            kw[key] = value
    with pytest.raises(exc, match=match):
        box_head_postprocess(args["proposals"], args["class_logits"], args["box_regression"], args["image_sizes"], **kw)


# ----------------------------------------------------------------- retinanet_postprocess

RETINA_FEATS = ((16, 20), (8, 10), (4, 5), (2, 3), (1, 2))  # 128 x 160, strides 8 .. 128


def retina_inputs(dtype, batch=3, n_classes=91, seed=0, logit_shift=-4.0, reg_scale=0.2, feats=RETINA_FEATS):
    anchors, levels = retina_anchors(128, 160, feats, dtype=TORCH[dtype])
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn((batch, anchors.shape[0], n_classes), generator=g, dtype=TORCH[dtype]) + logit_shift
    reg = torch.randn((batch, anchors.shape[0], 4), generator=g, dtype=TORCH[dtype]) * reg_scale
    return anchors, logits, reg, levels


def run_retina(anchors, logits, reg, shapes, levels, **kw):
    return retinanet_postprocess(anchors.numpy(), logits.numpy(), reg.numpy(), shapes, levels, **kw)


def assert_same_detections(got, want, dtype, canonical=False):
    """foveal's padded outputs against torchvision's list of dicts, row for row; canonical=True
    compares rows of equal score as sets (torch.topk orders ties arbitrarily)."""
    boxes, scores, labels, counts = got
    tol = dict(rtol=4e-7, atol=1e-4) if dtype == np.float32 else dict(rtol=1e-13, atol=1e-10)
    for i, w in enumerate(want):
        c = counts[i]
        wb, ws, wl = (w[k].numpy() for k in ("boxes", "scores", "labels"))
        assert c == len(wb), (i, c, len(wb))
        gb, gs, gl = boxes[i, :c], scores[i, :c], labels[i, :c]
        if canonical:
            go = np.lexsort((gb[:, 1], gb[:, 0], gl, -gs))
            wo = np.lexsort((wb[:, 1], wb[:, 0], wl, -ws))
            gb, gs, gl, wb, ws, wl = gb[go], gs[go], gl[go], wb[wo], ws[wo], wl[wo]
        np.testing.assert_array_equal(gl, wl)
        np.testing.assert_allclose(gb, wb, **tol)
        np.testing.assert_allclose(gs, ws, rtol=tol["rtol"] * 8, atol=1e-7)
        assert not boxes[i, c:].any() and not scores[i, c:].any() and not labels[i, c:].any()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "kw",
    [
        {},
        {"topk_candidates": 50, "detections_per_img": 40},
        {"score_thresh": 0.3, "nms_thresh": 0.3},
        {"score_thresh": 0.0, "topk_candidates": 3000, "detections_per_img": 5000},
        {"nms_thresh": 1.0, "detections_per_img": 10},
        {"topk_candidates": 0},
        {"detections_per_img": 0},
    ],
)
def test_retinanet_matches_torchvision(dtype, kw):
    anchors, logits, reg, levels = retina_inputs(dtype)
    logits[2] -= 12.0  # image 2: no score passes, no detections
    shapes = [(128, 160), (100, 131), (128, 160)]
    want = retinanet_ref(anchors, logits, reg, shapes, levels, **kw)
    got = run_retina(anchors, logits, reg, shapes, levels, **kw)
    assert got[0].dtype == dtype and got[1].dtype == dtype and got[2].dtype == np.int64
    if kw.get("topk_candidates", 1) and kw.get("detections_per_img", 1):
        assert got[3][0] > 0 and got[3][1] > 0
    if kw.get("score_thresh", 0.05) > 0:
        assert got[3][2] == 0
    # Tiny scores of image 2 (score_thresh 0) tie in float32: compared as sets where equal.
    assert_same_detections(got, want, dtype, canonical=True)


@pytest.mark.parametrize("n_classes", [1, 3, 91])
def test_retinanet_classes_and_many_candidates(n_classes):
    # Logits around 0: most scores pass, the top-k cut and the sampled threshold are exercised
    # on every level; regression N(0, 1) clips many boxes at the border.
    anchors, logits, reg, levels = retina_inputs(np.float32, batch=2, n_classes=n_classes, logit_shift=0.0,
                                                 reg_scale=1.0, seed=5)
    shapes = [(128, 160), (77, 60)]
    for kw in ({}, {"topk_candidates": 200, "nms_thresh": 0.6}):
        want = retinanet_ref(anchors, logits, reg, shapes, levels, **kw)
        assert_same_detections(run_retina(anchors, logits, reg, shapes, levels, **kw), want, np.float32)


@pytest.mark.parametrize("dtype", DTYPES)
def test_retinanet_matches_float64_numpy_reference(dtype):
    anchors, logits, reg, levels = retina_inputs(dtype, batch=2, n_classes=7, logit_shift=-2.0, seed=11)
    shapes = [(128, 160), (90, 100)]
    kw = {"topk_candidates": 300, "detections_per_img": 150, "nms_thresh": 0.45}
    boxes, scores, labels, counts = run_retina(anchors, logits, reg, shapes, levels, **kw)
    want = retinanet_np(anchors.numpy(), logits.numpy(), reg.numpy(), shapes, levels, **kw)
    tol = dict(rtol=2e-6, atol=2e-4) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-9)
    for i, (wb, ws, wl) in enumerate(want):
        assert counts[i] == len(wb)
        np.testing.assert_array_equal(labels[i, : counts[i]], wl)
        np.testing.assert_allclose(boxes[i, : counts[i]], wb, **tol)
        np.testing.assert_allclose(scores[i, : counts[i]], ws, rtol=tol["rtol"], atol=1e-7)


def test_retinanet_ties_match_torchvision_as_sets():
    # Every class of an anchor has the same logit: equal scores for the same box under different
    # labels (which never suppress one another), listed in torchvision's arbitrary order among
    # themselves, so rows of equal score are compared as sets.
    anchors, logits, reg, levels = retina_inputs(np.float32, batch=2, n_classes=20, logit_shift=-1.0, seed=7)
    logits = logits[:, :, :1].expand(-1, -1, 20).contiguous()
    shapes = [(128, 160), (128, 160)]
    kw = {"topk_candidates": 100000, "detections_per_img": 100000, "score_thresh": 0.3}
    want = retinanet_ref(anchors, logits, reg, shapes, levels, **kw)
    got = run_retina(anchors, logits, reg, shapes, levels, **kw)
    assert got[3].min() > 1000
    assert_same_detections(got, want, np.float32, canonical=True)


def test_retinanet_tie_rules():
    # Equal scores at the top-k cut: the lower flattened (anchor, class) index is selected, and
    # equal scores are listed in that order. Saturated logits (sigmoid == 1 in float32) tie too,
    # whatever the logit: the sampled threshold must not skip lower-index ties.
    n_anchors, n_classes = 200, 91
    anchors = np.tile(np.array([[0, 0, 10, 10]], np.float32), (n_anchors, 1))
    anchors += np.arange(n_anchors, dtype=np.float32)[:, None] * 20  # far apart: no suppression
    logits = np.full((1, n_anchors, n_classes), -20.0, np.float32)
    flat = logits.reshape(-1)
    rng = np.random.default_rng(0)
    hot = np.sort(rng.choice(flat.size, 400, replace=False))
    flat[hot] = rng.uniform(20, 40, 400).astype(np.float32)  # sigmoid(x) == 1.0f for all of them
    reg = np.zeros((1, n_anchors, 4), np.float32)
    boxes, scores, labels, counts = retinanet_postprocess(
        anchors, logits, reg, [(5000, 5000)], [n_anchors], topk_candidates=50, detections_per_img=1000)
    assert counts.tolist() == [50]
    np.testing.assert_array_equal(scores[0, :50], 1.0)
    np.testing.assert_array_equal(labels[0, :50], hot[:50] % n_classes)
    np.testing.assert_array_equal(boxes[0, :50], anchors[hot[:50] // n_classes])


def test_retinanet_nan_and_threshold_in_dtype():
    # NaN logits never pass; a score equal to float32(score_thresh) does not pass (torch compares
    # in the tensor's dtype: float32(0.05) > 0.05 in float64, yet is not > the threshold).
    x = np.float32(-2.944439)  # near logit(0.05)
    while torch.sigmoid(torch.tensor(x)).item() != np.float32(0.05):
        x = np.nextafter(x, np.float32(np.inf) if torch.sigmoid(torch.tensor(x)).item() < np.float32(0.05) else np.float32(-np.inf))
    anchors = np.array([[0, 0, 10, 10], [20, 20, 30, 30], [40, 40, 50, 50]], np.float32)
    logits = np.array([[[x], [np.nan], [1.0]]], np.float32)
    reg = np.zeros((1, 3, 4), np.float32)
    got = retinanet_postprocess(anchors, logits, reg, [(100, 100)], [3])
    want = retinanet_ref(torch.from_numpy(anchors), torch.from_numpy(logits), torch.from_numpy(reg), [(100, 100)], [3])
    assert got[3].tolist() == [1]
    assert_same_detections(got, want, np.float32)


def test_retinanet_torch_in_torch_out_and_inputs_not_modified():
    anchors, logits, reg, levels = retina_inputs(np.float32, batch=2)
    copies = anchors.clone(), logits.clone(), reg.clone()
    boxes, scores, labels, counts = retinanet_postprocess(anchors, logits, reg, torch.tensor([[128, 160]] * 2), levels)
    assert all(isinstance(x, torch.Tensor) for x in (boxes, scores, labels, counts))
    nb, ns, nl, nc = run_retina(anchors, logits, reg, [(128, 160)] * 2, levels)
    np.testing.assert_array_equal(boxes.numpy(), nb)
    np.testing.assert_array_equal(labels.numpy(), nl)
    for x, y in zip((anchors, logits, reg), copies):
        assert torch.equal(x, y)


def test_retinanet_empty_batch():
    anchors, _, _, levels = retina_inputs(np.float32, batch=1)
    a = len(anchors)
    boxes, scores, labels, counts = retinanet_postprocess(
        anchors.numpy(), np.zeros((0, a, 4), np.float32), np.zeros((0, a, 4), np.float32), np.zeros((0, 2)), levels)
    assert boxes.shape == (0, 300, 4) and counts.shape == (0,)


def _retina_ok():
    anchors = np.array([[0, 0, 10, 10], [5, 5, 20, 20], [30, 30, 40, 40]], np.float32)
    return anchors, np.zeros((2, 3, 5), np.float32), np.zeros((2, 3, 4), np.float32), [(50, 50), (60, 60)], [2, 1]


@pytest.mark.parametrize(
    ("change", "exc", "match"),
    [
        ({"topk_candidates": -1}, foveal.FovealValueError, r"retinanet_postprocess: topk_candidates must be >= 0, got -1"),
        ({"detections_per_img": -2}, foveal.FovealValueError, r"retinanet_postprocess: detections_per_img must be >= 0, got -2"),
        ({"topk_candidates": 1.5}, foveal.FovealTypeError, r"retinanet_postprocess: topk_candidates must be an integer"),
        ({"class_logits": np.zeros((2, 4, 5), np.float32)}, foveal.FovealValueError, r"retinanet_postprocess: class_logits must have shape \(B, A, C\) with A = 3"),
        ({"class_logits": np.zeros((2, 3, 0), np.float32)}, foveal.FovealValueError, r"retinanet_postprocess: class_logits must have shape"),
        ({"box_regression": np.zeros((2, 3, 5), np.float32)}, foveal.FovealValueError, r"retinanet_postprocess: box_regression must have shape \(B, A, 4\) = \(2, 3, 4\)"),
        ({"box_regression": np.zeros((1, 3, 4), np.float32)}, foveal.FovealValueError, r"retinanet_postprocess: box_regression must have shape"),
        ({"anchors": np.zeros((3, 2), np.float32)}, foveal.FovealValueError, r"retinanet_postprocess: anchors must have shape \(A, 4\)"),
        ({"image_sizes": [(50, 50)]}, foveal.FovealValueError, r"retinanet_postprocess: image_sizes must have shape \(B, 2\) with B = 2"),
        ({"image_sizes": [(50, 50), (60, -3)]}, foveal.FovealValueError, r"retinanet_postprocess: image_sizes must be finite and >= 0, got -3"),
        ({"levels": [1, 1]}, foveal.FovealValueError, r"retinanet_postprocess: num_anchors_per_level must sum to A = 3"),
        ({"levels": [4, -1]}, foveal.FovealValueError, r"retinanet_postprocess: num_anchors_per_level must be >= 0"),
        ({"levels": "ab"}, foveal.FovealTypeError, r"retinanet_postprocess: num_anchors_per_level must be a sequence of integers"),
        ({"score_thresh": math.nan}, foveal.FovealValueError, r"retinanet_postprocess: score_thresh must not be NaN, got nan"),
        ({"nms_thresh": math.nan}, foveal.FovealValueError, r"retinanet_postprocess: nms_thresh must not be NaN, got nan"),
        ({"weights": (1, 1, 1, math.inf)}, foveal.FovealValueError, r"retinanet_postprocess: weights must be 4 finite non-zero"),
        ({"class_logits": torch.zeros(2, 3, 5)}, foveal.FovealTypeError, r"retinanet_postprocess: arrays must come from the same array library"),
    ],
)
def test_retinanet_bad_inputs_name_the_argument(change, exc, match):
    anchors, logits, reg, sizes, levels = _retina_ok()
    args = {"anchors": anchors, "class_logits": logits, "box_regression": reg, "image_sizes": sizes, "levels": levels}
    kw = {}
    for key, value in change.items():
        if key in args:
            args[key] = value
        else:
            kw[key] = value
    with pytest.raises(exc, match=match):
        retinanet_postprocess(args["anchors"], args["class_logits"], args["box_regression"], args["image_sizes"],
                              args["levels"], **kw)


# ----------------------------------------------------------------- CUDA: parity with the CPU path
# The CUDA path against the CPU path on the same values (inputs rounded to the 16-bit dtype first,
# the CPU run in float32 on them): the same counts and labels, boxes and scores within an ulp or
# two of the dtype. Thresholds are kept away from every score (rounding a score to 16 bits may move
# it across score_thresh, which the CUDA path compares in the input dtype, as torch).

CUDA_DTYPES = [torch.float32, torch.float16, torch.bfloat16]
CUDA_TOL = {
    torch.float32: dict(rtol=1e-5, atol=1e-3),
    torch.float16: dict(rtol=2e-3, atol=1e-3),
    torch.bfloat16: dict(rtol=1.6e-2, atol=1e-3),
}


def _rounded(dtype, *xs):
    return [x.to(dtype).float() for x in xs]


def assert_cuda_matches_cpu(got, want, dtype):
    assert all(g.is_cuda for g in got)  # counts included: they stay on the device
    assert got[0].dtype == dtype and got[1].dtype == dtype and got[-1].dtype == torch.int64
    g = [x.cpu() for x in got]
    w = [torch.as_tensor(np.asarray(x)) for x in want]
    np.testing.assert_array_equal(g[-1].numpy(), w[-1].numpy())
    assert w[-1].sum() > 0  # something to compare
    if len(g) == 4:
        np.testing.assert_array_equal(g[2].numpy(), w[2].numpy())
    tol = CUDA_TOL[dtype]
    np.testing.assert_allclose(g[0].float().numpy(), w[0].to(dtype).float().numpy(), **tol)
    np.testing.assert_allclose(g[1].float().numpy(), w[1].to(dtype).float().numpy(), **tol)


def test_postprocess_dtype_policy():
    from foveal.ops._postprocess import _postprocess_policy as policy

    three = ("a", "b", "c")
    assert policy("op", dict(zip(three, ["float16"] * 3)), True) == "float16"
    assert policy("op", dict(zip(three, ["bfloat16"] * 3)), True) == "bfloat16"
    assert policy("op", dict(zip(three, ["float32", "float16", "float16"])), True) == "float32"
    assert policy("op", dict(zip(three, ["bfloat16", "float16", "float16"])), True) == "float32"
    assert policy("op", dict(zip(three, ["float16"] * 3)), False) == "float32"  # CPU: float32 / float64
    assert policy("op", dict(zip(three, ["float64", "float32", "float32"])), False) == "float64"
    with pytest.raises(foveal.FovealTypeError, match="op: b must be float16, bfloat16 or float32 on CUDA, got float64"):
        policy("op", dict(zip(three, ["float32", "float64", "float32"])), True)


@pytest.mark.needs_cuda
@pytest.mark.parametrize("dtype", CUDA_DTYPES)
@pytest.mark.parametrize("kw", [{}, {"pre_nms_top_n": 300, "post_nms_top_n": 200, "nms_thresh": 0.5}])
def test_rpn_cuda_matches_cpu(dtype, kw):
    anchors, obj, deltas, levels = rpn_inputs(np.float32)
    anchors, obj, deltas = _rounded(dtype, anchors, obj, deltas)
    sizes = [(192, 256), (150, 201), (0, 0)]  # the last: every box clipped away
    want = rpn_postprocess(anchors.numpy(), obj.numpy(), deltas.numpy(), sizes, levels, **kw)
    got = rpn_postprocess(*(x.to(dtype).cuda() for x in (anchors, obj, deltas)), sizes, levels, **kw)
    assert_cuda_matches_cpu(got, want, dtype)


@pytest.mark.needs_cuda
@pytest.mark.parametrize("dtype", CUDA_DTYPES)
@pytest.mark.parametrize("n_classes", [2, 91])
@pytest.mark.parametrize("kw", [{}, {"nms_thresh": 0.3, "detections_per_img": 7}])
def test_box_head_cuda_matches_cpu(dtype, n_classes, kw):
    counts = [300, 211, 0, 300]
    proposals, logits, reg = _rounded(dtype, *head_inputs(np.float32, counts, n_classes, seed=n_classes))
    prob = torch.softmax(logits, dim=2)[..., 1:]
    logits[(abs(prob - 0.05) < 1e-3).any(dim=2)] = 0  # rows near the threshold: uniform
    shapes = [(300, 400), (250, 333), (300, 400), (0, 0)]
    want = box_head_postprocess(proposals.numpy(), logits.numpy(), reg.numpy(), shapes,
                                proposal_counts=np.array(counts), **kw)
    got = box_head_postprocess(*(x.to(dtype).cuda() for x in (proposals, logits, reg)), shapes,
                               proposal_counts=np.array(counts), **kw)
    assert_cuda_matches_cpu(got, want, dtype)


@pytest.mark.needs_cuda
@pytest.mark.parametrize("dtype", CUDA_DTYPES)
@pytest.mark.parametrize("kw", [{}, {"topk_candidates": 50, "detections_per_img": 40, "nms_thresh": 0.4}])
def test_retinanet_cuda_matches_cpu(dtype, kw):
    anchors, logits, reg, levels = retina_inputs(np.float32, n_classes=20, logit_shift=-3.0)
    anchors, logits, reg = _rounded(dtype, anchors, logits, reg)
    logits[abs(torch.sigmoid(logits) - 0.05) < 1e-3] = -20.0
    sizes = [(128, 160), (100, 121), (0, 0)]
    want = retinanet_postprocess(anchors.numpy(), logits.numpy(), reg.numpy(), sizes, levels, **kw)
    got = retinanet_postprocess(*(x.to(dtype).cuda() for x in (anchors, logits, reg)), sizes, levels, **kw)
    assert_cuda_matches_cpu(got, want, dtype)


@pytest.mark.needs_cuda
def test_cuda_mixed_dtypes_run_in_float32_and_float64_is_refused():
    anchors, logits, reg, levels = retina_inputs(np.float32, n_classes=4)
    sizes = [(128, 160)] * 3
    want = retinanet_postprocess(anchors.numpy(), logits.half().float().numpy(), reg.numpy(), sizes, levels)
    got = retinanet_postprocess(anchors.cuda(), logits.half().cuda(), reg.cuda(), sizes, levels)
    assert_cuda_matches_cpu(got, want, torch.float32)
    with pytest.raises(foveal.FovealTypeError, match="retinanet_postprocess: anchors must be float16, bfloat16 or float32 on CUDA"):
        retinanet_postprocess(anchors.double().cuda(), logits.cuda(), reg.cuda(), sizes, levels)


@pytest.mark.needs_cuda
def test_cuda_rpn_to_box_head_on_device():
    anchors, obj, deltas, levels = rpn_inputs(np.float32)
    sizes = [(192, 256)] * 3
    props, _, pcounts = rpn_postprocess(anchors.cuda(), obj.cuda(), deltas.cuda(), sizes, levels, post_nms_top_n=100)
    g = torch.Generator().manual_seed(1)
    logits = torch.randn((3, props.shape[1], 5), generator=g) * 3
    reg = torch.randn((3, props.shape[1], 20), generator=g) * 0.1
    want = box_head_postprocess(props.cpu().numpy(), logits.numpy(), reg.numpy(), sizes, proposal_counts=pcounts.cpu().numpy())
    got = box_head_postprocess(props, logits.cuda(), reg.cuda(), sizes, proposal_counts=pcounts)
    assert_cuda_matches_cpu(got, want, torch.float32)


@pytest.mark.needs_cuda
@pytest.mark.parametrize("dtype", CUDA_DTYPES)
def test_rpn_cuda_long_level_sorted_device_wide(dtype):
    # A level of 37632 anchors (>= 1 << 15 keys) in 6 (image, level) segments: segmented_sort's
    # device-wide branch (one cub::DeviceRadixSort per segment), so far only emulated.
    anchors, obj, deltas, levels = rpn_inputs(np.float32, batch=2, height=448, width=448,
                                              feats=((112, 112), (56, 56), (28, 28)), seed=3)
    assert levels[0] >= 1 << 15
    anchors, obj, deltas = _rounded(dtype, anchors, obj, deltas)
    sizes = [(448, 448), (300, 401)]
    kw = {"pre_nms_top_n": 2000, "post_nms_top_n": 500}
    want = rpn_postprocess(anchors.numpy(), obj.numpy(), deltas.numpy(), sizes, levels, **kw)
    got = rpn_postprocess(*(x.to(dtype).cuda() for x in (anchors, obj, deltas)), sizes, levels, **kw)
    assert_cuda_matches_cpu(got, want, dtype)


@pytest.mark.needs_cuda
def test_retinanet_cuda_many_long_segments_sorted_segmented():
    # 13 images x 5 levels = 65 segments (> 64), the longest 57600 keys: cub's segmented sort
    # with long segments (the other branch of segmented_sort, which RetinaNet's usual batches skip).
    anchors, logits, reg, levels = retina_inputs(np.float32, batch=13, n_classes=20, logit_shift=-3.0, seed=4)
    assert levels[0] * 20 >= 1 << 15
    logits[abs(torch.sigmoid(logits) - 0.05) < 1e-3] = -20.0
    sizes = [(128, 160), (100, 121)] * 6 + [(0, 0)]
    want = retinanet_postprocess(anchors.numpy(), logits.numpy(), reg.numpy(), sizes, levels)
    got = retinanet_postprocess(anchors.cuda(), logits.cuda(), reg.cuda(), sizes, levels)
    assert_cuda_matches_cpu(got, want, torch.float32)


@pytest.mark.needs_cuda
def test_cuda_ties_and_nan_scores_follow_the_cpu_order():
    # Logits on a 1/64 grid (many equal; distinct ones far apart in score, so libm's and CUDA's
    # exp cannot reorder them), saturated logits (score 1 on both), NaN logits (ranked last,
    # never kept): exact rows, not only close values, so a tie broken the other way fails.
    anchors, obj, deltas, levels = rpn_inputs(np.float32, batch=2)
    obj = torch.round(obj * 64) / 64
    obj[:, ::5] = 0.75
    obj[:, 3::11] = 31.0
    obj[:, 1::13] = float("nan")
    sizes = [(192, 256), (150, 201)]
    want = rpn_postprocess(anchors.numpy(), obj.numpy(), deltas.numpy(), sizes, levels, pre_nms_top_n=300)
    got = rpn_postprocess(anchors.cuda(), obj.cuda(), deltas.cuda(), sizes, levels, pre_nms_top_n=300)
    assert_cuda_matches_cpu(got, want, torch.float32)
    np.testing.assert_array_equal(got[0].cpu().numpy(), want[0])  # the same boxes in the same rows
    anchors, logits, reg, levels = retina_inputs(np.float32, n_classes=6, logit_shift=-3.0)
    logits = torch.round(logits * 64) / 64
    logits[:, ::4, 0] = 0.5
    logits[:, 1::9, 5] = 30.0
    logits[:, 2::15, :] = float("nan")
    logits[abs(torch.sigmoid(logits) - 0.05) < 1e-3] = -20.0
    sizes = [(128, 160), (100, 121), (128, 160)]
    want = retinanet_postprocess(anchors.numpy(), logits.numpy(), reg.numpy(), sizes, levels, topk_candidates=200)
    got = retinanet_postprocess(anchors.cuda(), logits.cuda(), reg.cuda(), sizes, levels, topk_candidates=200)
    assert_cuda_matches_cpu(got, want, torch.float32)
    np.testing.assert_array_equal(got[0].cpu().numpy(), want[0])
    np.testing.assert_array_equal(got[2].cpu().numpy(), want[2])
