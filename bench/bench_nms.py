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


# Outlier scenes (foveal.synthetic.outlier_scene): one far box, two clusters 1e6 apart, one huge
# box at threshold 0; each beside the same scene without the outlier. foveal's time should not
# depend on the outlier (within 2x). Boxes 128..512 px so that torchvision, the check, keeps few
# boxes and runs in seconds; it is not timed here (devices=()): the ratio of record is foveal with
# vs without the outlier.
OUTLIER_N = 100_000
OUTLIER_SIZES = (128.0, 512.0)


def _outlier_workload(kind, outlier):
    thr = synthetic.OUTLIER_KINDS[kind]
    name = f"nms_outlier_{kind}_100k" + ("" if outlier else "_base")
    return Workload(
        name=name,
        definition=(
            f"foveal.synthetic.outlier_scene({OUTLIER_N}, {kind!r}, seed=0, outlier={outlier}, "
            f"size_range={OUTLIER_SIZES}), IoU threshold {thr}"
        ),
        inputs=functools.partial(synthetic.outlier_scene, OUTLIER_N, kind, 0, outlier, OUTLIER_SIZES),
        impls=[
            Impl("foveal", lambda b, s, t=thr: _fops().nms(b, s, t)),
            Impl("torchvision", lambda b, s, t=thr: _tv().nms(b, s, t), lib="torch", devices=()),
        ],
        reference="torchvision",
        check=exact(),
        items=OUTLIER_N,
        unit="boxes/s",
        extra={"n": OUTLIER_N, "iou_threshold": thr, "outlier": outlier, "kind": kind},
    )


WORKLOADS += [_outlier_workload(k, o) for k in ("far", "split", "huge") for o in (True, False)]


@pytest.mark.parametrize(("workload", "impl", "device"), cases(WORKLOADS))
def bench_nms(benchmark, workload, impl, device):
    run_case(benchmark, workload, impl, device)
