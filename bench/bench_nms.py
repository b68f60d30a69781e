"""NMS workloads of BENCHMARKS.md (``nms_1k``, ``nms_10k``, ``nms_100k``) and the per-call
overhead row ``nms_100_torch`` (100 boxes as torch CPU tensors, as per-image / per-class loops
call it).

Implementations side by side: foveal, torchvision.ops.nms and cv2.dnn.NMSBoxes on the CPU;
foveal and torchvision on CUDA when available. foveal's keep list must equal torchvision's.
"""

import functools

import numpy as np
import pytest

from _harness import Impl, Workload, cases, exact, run_case, synthetic

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


@pytest.mark.parametrize(("workload", "impl", "device"), cases(WORKLOADS))
def bench_nms(benchmark, workload, impl, device):
    run_case(benchmark, workload, impl, device)
