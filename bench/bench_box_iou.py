"""``box_iou_4k`` (BENCHMARKS.md): a 4096 x 4096 float32 IoU matrix.

Implementations side by side: foveal and torchvision.ops.box_iou, on the CPU and on CUDA when
available; foveal must be allclose to torchvision.
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
        name="box_iou_4k",
        definition=(
            "two sets of 4096 boxes from the generator (foveal.synthetic.clustered_box_pair, seed 0, "
            "drawn one after the other), 4096x4096 float32 output"
        ),
        inputs=functools.partial(synthetic.clustered_box_pair, 4096, seed=0),
        impls=[
            Impl("foveal", lambda a, b: _fops().box_iou(a, b)),
            Impl("torchvision", lambda a, b: _tv().box_iou(a, b), lib="torch"),
        ],
        reference="torchvision",
        check=allclose(rtol=1e-5, atol=1e-6),
        items=4096 * 4096,
        unit="IoU pairs/s",
        extra={"n": 4096},
    )
]


@pytest.mark.parametrize(("workload", "impl", "device"), cases(WORKLOADS))
def bench_box_iou(benchmark, workload, impl, device):
    run_case(benchmark, workload, impl, device)
