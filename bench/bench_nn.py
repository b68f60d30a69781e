"""``maxpool_resnet`` and ``avgpool_2x2`` (BENCHMARKS.md): foveal.nn pooling against
torch.nn.functional (oneDNN on the CPU), on the CPU and on CUDA when available. foveal must equal
torch's max pooling exactly and be allclose to its average pooling before it is timed. torch's
thread count is in each row's record (thread_info).
"""

import numpy as np
import pytest

from _harness import Impl, Workload, allclose, cases, run_case


def _fnn():
    import foveal.nn

    return foveal.nn


def _F():
    import torch.nn.functional

    return torch.nn.functional


def _normal(shape):
    def make():
        return (np.random.default_rng(0).standard_normal(shape, dtype=np.float32),)

    return make


WORKLOADS = [
    Workload(
        name="maxpool_resnet",
        definition="x (8,64,112,112) N(0,1) float32 (rng(0)), max_pool2d kernel 3, stride 2, pad 1",
        inputs=_normal((8, 64, 112, 112)),
        impls=[
            Impl("foveal", lambda x: _fnn().max_pool2d(x, 3, 2, 1)),
            Impl("torch", lambda x: _F().max_pool2d(x, 3, 2, 1), lib="torch"),
        ],
        reference="torch",
        check=allclose(rtol=0, atol=0),
        items=8 * 64 * 56 * 56,
        unit="outputs/s",
        extra={"kernel_size": 3, "stride": 2, "padding": 1},
    ),
    Workload(
        name="avgpool_2x2",
        definition="x (8,256,56,56) N(0,1) float32 (rng(0)), avg_pool2d kernel 2, stride 2",
        inputs=_normal((8, 256, 56, 56)),
        impls=[
            Impl("foveal", lambda x: _fnn().avg_pool2d(x, 2, 2)),
            Impl("torch", lambda x: _F().avg_pool2d(x, 2, 2), lib="torch"),
        ],
        reference="torch",
        check=allclose(rtol=1e-6, atol=1e-7),
        items=8 * 256 * 28 * 28,
        unit="outputs/s",
        extra={"kernel_size": 2, "stride": 2, "padding": 0},
    ),
]


@pytest.mark.parametrize(("workload", "impl", "device"), cases(WORKLOADS))
def bench_nn(benchmark, workload, impl, device):
    run_case(benchmark, workload, impl, device)
