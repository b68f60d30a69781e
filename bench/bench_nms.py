"""NMS workloads ``nms_1k``, ``nms_10k``, ``nms_100k`` (BENCHMARKS.md).

Implementations timed side by side: foveal, torchvision.ops.nms and
cv2.dnn.NMSBoxes on the CPU; foveal and torchvision on CUDA when available.
"""

import pytest

from _harness import cases, run_case


@pytest.mark.parametrize(("workload", "impl"), cases("nms"))
def bench_nms(benchmark, workload, impl):
    run_case(benchmark, workload, impl)
