"""Detection workloads of BENCHMARKS.md: ``anchors_fpn`` and ``soft_nms_10k``.

``anchors_fpn``: torchvision-style FPN anchors for an 800x1216 image (strides 4..64, feature maps
200x304 .. 13x19, sizes 32..512, ratios 0.5, 1, 2: 242,991 anchors), then decode deltas
N(0,1)*0.1 (rng(0)) with weights (1,1,1,1): foveal (AnchorGenerator + decode_boxes) against
torchvision (AnchorGenerator + BoxCoder.decode), timed as one call each.

``soft_nms_10k``: the 10k boxes of the clustered generator, corners rounded to integers; OpenCV
gets them as integer (x, y, w, h), foveal as float32 (x1, y1, x2, y2); gaussian, sigma 0.5, IoU
threshold 0.3, score threshold 0.001. foveal's kept indices must equal OpenCV's and its scores
match to float32 rounding.
"""

import functools
import math

import numpy as np
import pytest

from _harness import Impl, Workload, allclose, cases, run_case, synthetic

IMAGE = (800, 1216)
FEATS = [(math.ceil(IMAGE[0] / s), math.ceil(IMAGE[1] / s)) for s in (4, 8, 16, 32, 64)]
SIZES = ((32,), (64,), (128,), (256,), (512,))
RATIOS = ((0.5, 1.0, 2.0),) * 5
N_ANCHORS = 3 * sum(h * w for h, w in FEATS)  # 242,991


def _anchor_inputs():
    rng = np.random.default_rng(0)
    return ((rng.standard_normal((N_ANCHORS, 4)) * 0.1).astype(np.float32),)


@functools.lru_cache(maxsize=None)
def _foveal_gen():
    import foveal.ops

    return foveal.ops.AnchorGenerator(SIZES, RATIOS)


def _foveal_anchors_decode(deltas):
    import foveal.ops

    anchors = _foveal_gen()(IMAGE, FEATS, like=deltas)
    return foveal.ops.decode_boxes(deltas, anchors)


@functools.lru_cache(maxsize=None)
def _tv_parts():
    from torchvision.models.detection._utils import BoxCoder
    from torchvision.models.detection.anchor_utils import AnchorGenerator

    return AnchorGenerator(SIZES, RATIOS), BoxCoder((1.0, 1.0, 1.0, 1.0))


def _tv_prepare(deltas):
    import torch
    from torchvision.models.detection.image_list import ImageList

    # Only shapes and dtypes are read: 1-channel feature maps keep the inputs small.
    images = ImageList(torch.zeros(1, 3, *IMAGE), [IMAGE])
    feats = [torch.zeros(1, 1, h, w) for h, w in FEATS]
    return deltas, images, feats


def _tv_anchors_decode(deltas, images, feats):
    gen, coder = _tv_parts()
    if feats[0].device != deltas.device:  # the harness moved only the deltas
        feats = [f.to(deltas.device) for f in feats]
    anchors = gen(images, feats)
    return coder.decode(deltas, anchors).reshape(-1, 4)


def _soft_nms_inputs():
    boxes, scores = synthetic.clustered_boxes(10000, seed=0)
    return np.round(boxes).astype(np.float32), scores


def _to_cv2(boxes, scores):
    xywh = np.concatenate([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]], axis=1).astype(np.int32)
    return np.ascontiguousarray(xywh), scores


def _cv2_soft_nms(xywh, scores):
    import cv2

    updated, idx = cv2.dnn.softNMSBoxes(xywh, scores, 0.001, 0.3, sigma=0.5)
    return np.asarray(idx, np.int64).reshape(-1), np.asarray(updated, np.float32).reshape(-1)


def _foveal_soft_nms(boxes, scores):
    import foveal.ops

    return foveal.ops.soft_nms(boxes, scores, iou_threshold=0.3, sigma=0.5, score_threshold=0.001)


def _same_keep_close_scores(got, want, workload):
    (gk, gs), (wk, ws) = got, want
    gk, wk = np.asarray(gk).reshape(-1), np.asarray(wk).reshape(-1)
    if gk.shape != wk.shape or not np.array_equal(gk, wk):
        return False, f"keep lists differ ({gk.size} vs {wk.size} kept)"
    ok, note = allclose(rtol=1e-6, atol=0)(np.asarray(gs, np.float32), np.asarray(ws, np.float32), workload)
    return ok, f"same {gk.size} kept indices; scores {note}"


WORKLOADS = [
    Workload(
        name="anchors_fpn",
        definition=(
            "torchvision-style anchors for an 800x1216 image, strides 4..64 (feature maps 200x304 .. 13x19), "
            "sizes 32..512 (one per level), aspect ratios 0.5,1,2 (242,991 anchors); then decode deltas "
            "N(0,1)*0.1 (rng(0)) with weights (1,1,1,1)"
        ),
        inputs=_anchor_inputs,
        impls=[
            Impl("foveal", _foveal_anchors_decode),
            Impl("torchvision", _tv_anchors_decode, lib="torch", prepare=_tv_prepare),
        ],
        reference="torchvision",
        check=allclose(rtol=1e-5, atol=1e-3),
        items=N_ANCHORS,
        unit="anchors/s",
        extra={"image": IMAGE, "anchors": N_ANCHORS},
    ),
    Workload(
        name="soft_nms_10k",
        definition=(
            "the 10k clustered boxes (seed 0) rounded to integers: (x, y, w, h) int32 for OpenCV, "
            "(x1, y1, x2, y2) float32 for foveal; gaussian, sigma 0.5, IoU threshold 0.3, score threshold 0.001"
        ),
        inputs=_soft_nms_inputs,
        impls=[
            Impl("foveal", _foveal_soft_nms, lib="numpy", devices=("cpu",)),
            Impl("opencv", _cv2_soft_nms, lib="numpy", devices=("cpu",), prepare=_to_cv2),
        ],
        reference="opencv",
        check=_same_keep_close_scores,
        items=10000,
        unit="boxes/s",
        extra={"n": 10000, "sigma": 0.5, "iou_threshold": 0.3, "score_threshold": 0.001},
    ),
]


@pytest.mark.parametrize(("workload", "impl", "device"), cases(WORKLOADS))
def bench_detection(benchmark, workload, impl, device):
    run_case(benchmark, workload, impl, device)
