"""``generalized_box_iou_4k`` (BENCHMARKS.md): the box_iou_4k inputs, a 4096 x 4096 float32
GIoU matrix.

Implementations side by side: foveal and torchvision.ops.generalized_box_iou, on the CPU and on
CUDA when available; foveal must be allclose to torchvision.
"""

import functools

import pytest

from _harness import Impl, Workload, allclose, cases, run_case, synthetic


def _fops():
    import foveal.ops

    return foveal.ops


def _tv():
    import torchvision.ops

    return torchvision.ops


WORKLOADS = [
    Workload(
        name="generalized_box_iou_4k",
        definition=(
            "the box_iou_4k inputs: two sets of 4096 boxes from the generator "
            "(foveal.synthetic.clustered_box_pair, seed 0, drawn one after the other), 4096x4096 "
            "float32 generalized IoU"
        ),
        inputs=functools.partial(synthetic.clustered_box_pair, 4096, seed=0),
        impls=[
            Impl("foveal", lambda a, b: _fops().generalized_box_iou(a, b)),
            Impl("torchvision", lambda a, b: _tv().generalized_box_iou(a, b), lib="torch"),
        ],
        reference="torchvision",
        check=allclose(rtol=1e-5, atol=1e-6),
        items=4096 * 4096,
        unit="GIoU pairs/s",
        extra={"n": 4096},
    )
]


@pytest.mark.parametrize(("workload", "impl", "device"), cases(WORKLOADS))
def bench_box_toolkit(benchmark, workload, impl, device):
    run_case(benchmark, workload, impl, device)
