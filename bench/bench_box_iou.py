"""``box_iou_4k`` workload (BENCHMARKS.md): a 4096 x 4096 float32 IoU matrix.

Implementations timed side by side: foveal and torchvision.ops.box_iou, on the
CPU and on CUDA when available.
"""

import pytest

from _harness import cases, run_case


@pytest.mark.parametrize(("workload", "impl"), cases("box_iou"))
def bench_box_iou(benchmark, workload, impl):
    run_case(benchmark, workload, impl)
