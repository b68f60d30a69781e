"""NMS workloads of BENCHMARKS.md (``nms_1k``, ``nms_10k``, ``nms_100k``,
``batched_nms_10k_80cls``) and the per-call overhead row ``nms_100_torch`` (100 boxes as torch
CPU tensors, as per-image / per-class loops call it).

Implementations side by side: foveal, torchvision.ops.nms and cv2.dnn.NMSBoxes on the CPU;
foveal and torchvision on CUDA when available. foveal's keep list must equal torchvision's.
"""

import functools

import numpy as np
import pytest

from _harness import Impl, Workload, cases, exact, inputs_of, run_case, synthetic

IOU = 0.5


def _fops():
    import foveal.ops

    return foveal.ops


def _tv():
    import torchvision.ops

    return torchvision.ops


def _cv2_nms(xywh, scores):
    import cv2

    return cv2.dnn.NMSBoxes(xywh, scores, 0.0, IOU)


def _to_xywh(boxes, scores):  # OpenCV's boxes; score_threshold must be >= 0
    b64 = boxes.astype(np.float64)
    return np.ascontiguousarray(np.concatenate([b64[:, :2], b64[:, 2:] - b64[:, :2]], axis=1)), scores


IMPLS = [
    Impl("foveal", lambda b, s: _fops().nms(b, s, IOU)),
    Impl("torchvision", lambda b, s: _tv().nms(b, s, IOU), lib="torch"),
    Impl("opencv", _cv2_nms, lib="numpy", devices=("cpu",), prepare=_to_xywh),
]


def _nms_workload(name, n, impls=IMPLS):
    return Workload(
        name=name,
        definition=(
            f"{n} boxes from the clustered generator (foveal.synthetic.clustered_boxes, seed 0), "
            f"scores uniform(0,1) float32, IoU threshold {IOU}"
        ),
        inputs=functools.partial(synthetic.clustered_boxes, n, seed=0),
        impls=impls,
        reference="torchvision",
        check=exact(),
        items=n,
        unit="boxes/s",
        extra={"n": n, "iou_threshold": IOU},
    )


WORKLOADS = [
    _nms_workload("nms_1k", 1_000),
    _nms_workload("nms_10k", 10_000),
    _nms_workload("nms_100k", 100_000),
    _nms_workload(
        "nms_100_torch",
        100,
        [
            Impl("foveal", lambda b, s: _fops().nms(b, s, IOU), lib="torch", devices=("cpu",)),
            Impl("torchvision", lambda b, s: _tv().nms(b, s, IOU), lib="torch", devices=("cpu",)),
        ],
    ),
]


N_CLASSES = 80


def _batched_inputs(n=10_000):
    """The nms_10k boxes and scores, then labels uniform 0..79 from the same rng continued."""
    rng = np.random.default_rng(0)
    boxes, scores = synthetic._draw(rng, n)
    labels = rng.integers(0, N_CLASSES, n)
    return boxes.astype(np.float32), scores.astype(np.float32), labels


def _keep_up_to_ties():
    """The same kept boxes in the same order, except that boxes of equal score may come in any
    order (torchvision's sort leaves ties unordered; foveal puts the lower index first)."""

    def check(got, want, workload):
        got, want = np.asarray(got).reshape(-1), np.asarray(want).reshape(-1)
        scores = inputs_of(workload.name)[1]
        if got.shape != want.shape or set(got.tolist()) != set(want.tolist()):
            return False, f"{got.size} vs {want.size} kept, {len(set(got.tolist()) ^ set(want.tolist()))} differ"
        if not np.array_equal(scores[got], scores[want]):
            return False, "same kept set, different order of scores"
        ties = int(np.count_nonzero(got != want))
        return True, f"identical up to the order of tied scores ({want.size} kept, {ties} positions among ties)"

    return check


def _cv2_batched(xywh, scores, labels):
    import cv2

    return cv2.dnn.NMSBoxesBatched(xywh, scores, labels, 0.0, IOU)


def _to_xywh_batched(boxes, scores, labels):
    return (*_to_xywh(boxes, scores), labels.astype(np.int32))


WORKLOADS.append(
    Workload(
        name="batched_nms_10k_80cls",
        definition=(
            "the nms_10k boxes and scores (clustered generator, rng(0)), labels uniform 0..79 "
            f"int64 from the same rng continued; IoU threshold {IOU}"
        ),
        inputs=_batched_inputs,
        impls=[
            Impl("foveal", lambda b, s, c: _fops().batched_nms(b, s, c, IOU)),
            Impl("torchvision", lambda b, s, c: _tv().batched_nms(b, s, c, IOU), lib="torch"),
            Impl("opencv", _cv2_batched, lib="numpy", devices=("cpu",), prepare=_to_xywh_batched),
        ],
        reference="torchvision",
        check=_keep_up_to_ties(),
        items=10_000,
        unit="boxes/s",
        extra={"n": 10_000, "classes": N_CLASSES, "iou_threshold": IOU},
    )
)


@pytest.mark.parametrize(("workload", "impl", "device"), cases(WORKLOADS))
def bench_nms(benchmark, workload, impl, device):
    run_case(benchmark, workload, impl, device)
