"""``maxpool_resnet`` and ``avgpool_2x2`` (BENCHMARKS.md): foveal.nn pooling against
torch.nn.functional (oneDNN on the CPU), on the CPU and on CUDA when available. foveal must equal
torch's max pooling exactly and be allclose to its average pooling before it is timed. torch's
thread count is in each row's record (thread_info).

``conv3x3_64``, ``conv1x1_256_64``, ``conv7x7_stem``, ``dwconv3x3_128`` (foveal.nn.conv2d against
torch F.conv2d) and ``fc6_boxhead`` (foveal.nn.linear against F.linear): inputs N(0,1) float32
from numpy.random.default_rng(0), drawn in the order x, weight, bias; fc6's weight scaled by 0.01
as BENCHMARKS.md says. Throughput in FLOP/s (2 per multiply-add). foveal must be allclose to
torch (sums round differently) before it is timed.

``convT_mask`` and ``convT_k4s2`` (foveal.nn.conv_transpose2d against F.conv_transpose2d; inputs
as for conv, weight (C_in, C_out, kH, kW)) and ``upsample_nearest2x`` (foveal.nn.interpolate
against F.interpolate, which must agree exactly).

CUDA only, the tensor-core paths: ``conv3x3_64_fp16`` / ``fc6_boxhead_fp16`` (the same inputs
rounded to float16, against torch in float16) and ``conv3x3_64_tf32`` / ``fc6_boxhead_tf32``
(float32 with ``allow_tf32=True``, against torch with cuDNN / cuBLAS TF32 allowed for its call).
Both sides round, so the checks allow float16 / TF32 error.
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


def _dense(x_shape, w_shape, bias, w_scale=1.0):
    def make():
        rng = np.random.default_rng(0)
        x = rng.standard_normal(x_shape, dtype=np.float32)
        w = rng.standard_normal(w_shape, dtype=np.float32) * np.float32(w_scale)
        b = rng.standard_normal(w_shape[0], dtype=np.float32) if bias else None
        return (x, w, b)

    return make


def _conv(name, x_shape, w_shape, out_hw, bias, **kw):
    macs = x_shape[0] * w_shape[0] * out_hw[0] * out_hw[1] * w_shape[1] * w_shape[2] * w_shape[3]
    return Workload(
        name=name,
        definition=f"x {x_shape}, w {w_shape}, {kw}{', bias' if bias else ''}; N(0,1) float32 (rng(0): x, w, b)",
        inputs=_dense(x_shape, w_shape, bias),
        impls=[
            Impl("foveal", lambda x, w, b: _fnn().conv2d(x, w, b, **kw)),
            Impl("torch", lambda x, w, b: _F().conv2d(x, w, b, **kw), lib="torch"),
        ],
        reference="torch",
        check=allclose(rtol=1e-4, atol=1e-3),
        items=2 * macs,
        unit="FLOP/s",
        extra=dict(kw),
    )


def _half(make):
    def make16():
        return tuple(None if a is None else a.astype(np.float16) for a in make())

    return make16


def _torch_tf32(fn):
    """fn with TF32 allowed in cuDNN and cuBLAS for the call (the harness turns it off for fp32)."""

    def run(*args):
        import torch

        flags = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
        torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = True
        try:
            return fn(*args)
        finally:
            torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = flags

    return run


def _tensor_core(name, op, x_shape, w_shape, bias, precision, tol, w_scale=1.0, **kw):
    """A CUDA-only row of conv2d (op 'conv2d') or linear on tensor cores: float16 data, or float32
    with TF32 allowed on both sides."""
    if op == "conv2d":
        oh, ow = x_shape[2] + 2 * kw.get("padding", 0) - w_shape[2] + 1, x_shape[3] + 2 * kw.get("padding", 0) - w_shape[3] + 1
        macs = x_shape[0] * w_shape[0] * oh * ow * w_shape[1] * w_shape[2] * w_shape[3]
    else:
        macs = x_shape[0] * w_shape[0] * w_shape[1]
    inputs = _dense(x_shape, w_shape, bias, w_scale)
    tf32 = precision == "tf32"
    ours = (lambda x, w, b: getattr(_fnn(), op)(x, w, b, allow_tf32=tf32, **kw))
    theirs = (lambda x, w, b: getattr(_F(), op)(x, w, b, **kw))
    return Workload(
        name=name,
        definition=f"x {x_shape}, w {w_shape}{' * ' + str(w_scale) if w_scale != 1.0 else ''}, {kw}"
        f"{', bias' if bias else ''}; N(0,1) (rng(0): x, w, b); {op} "
        + ("float32, TF32 allowed (foveal allow_tf32=True; torch cudnn / matmul allow_tf32)" if tf32 else "in float16"),
        inputs=inputs if tf32 else _half(inputs),
        impls=[
            Impl("foveal", ours, devices=("cuda",)),
            Impl("torch", _torch_tf32(theirs) if tf32 else theirs, lib="torch", devices=("cuda",)),
        ],
        reference="torch",
        check=allclose(rtol=tol[0], atol=tol[1]),
        items=2 * macs,
        unit="FLOP/s",
        extra=dict(kw, precision=precision),
    )


def _conv_t(name, x_shape, w_shape, **kw):
    macs = x_shape[0] * x_shape[1] * x_shape[2] * x_shape[3] * w_shape[1] * w_shape[2] * w_shape[3]
    return Workload(
        name=name,
        definition=f"x {x_shape}, w {w_shape}, {kw}; N(0,1) float32 (rng(0): x, w); conv_transpose2d",
        inputs=_dense(x_shape, w_shape, False),
        impls=[
            Impl("foveal", lambda x, w, b: _fnn().conv_transpose2d(x, w, b, **kw)),
            Impl("torch", lambda x, w, b: _F().conv_transpose2d(x, w, b, **kw), lib="torch"),
        ],
        reference="torch",
        check=allclose(rtol=1e-4, atol=1e-3),
        items=2 * macs,
        unit="FLOP/s",
        extra=dict(kw),
    )


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
    _conv("conv3x3_64", (8, 64, 56, 56), (64, 64, 3, 3), (56, 56), True, padding=1),
    _conv("conv1x1_256_64", (8, 256, 56, 56), (64, 256, 1, 1), (56, 56), False),
    _conv("conv7x7_stem", (8, 3, 224, 224), (64, 3, 7, 7), (112, 112), False, stride=2, padding=3),
    _conv("dwconv3x3_128", (8, 128, 56, 56), (128, 1, 3, 3), (56, 56), False, padding=1, groups=128),
    _conv_t("convT_mask", (100, 256, 14, 14), (256, 256, 2, 2), stride=2),
    _conv_t("convT_k4s2", (8, 64, 64, 64), (64, 32, 4, 4), stride=2, padding=1),
    Workload(
        name="upsample_nearest2x",
        definition="x (2,256,100,152) N(0,1) float32 (rng(0)), interpolate nearest, scale_factor 2",
        inputs=_normal((2, 256, 100, 152)),
        impls=[
            Impl("foveal", lambda x: _fnn().interpolate(x, scale_factor=2)),
            Impl("torch", lambda x: _F().interpolate(x, scale_factor=2), lib="torch"),
        ],
        reference="torch",
        check=allclose(rtol=0, atol=0),
        items=2 * 256 * 200 * 304,
        unit="outputs/s",
        extra={"mode": "nearest", "scale_factor": 2},
    ),
    Workload(
        name="fc6_boxhead",
        definition="x (1000, 12544) N(0,1), w (1024, 12544) N(0,1)*0.01, bias N(0,1); float32 (rng(0): x, w, b); linear",
        inputs=_dense((1000, 12544), (1024, 12544), True, w_scale=0.01),
        impls=[
            Impl("foveal", lambda x, w, b: _fnn().linear(x, w, b)),
            Impl("torch", lambda x, w, b: _F().linear(x, w, b), lib="torch"),
        ],
        reference="torch",
        check=allclose(rtol=1e-4, atol=1e-4),
        items=2 * 1000 * 1024 * 12544,
        unit="FLOP/s",
    ),
    # Tensor cores (CUDA only). conv3x3_64's outputs are about 24 (K = 576): float16's ulp there is
    # 2^-6; TF32 rounding leaves about 1e-3 relative per product on each side.
    _tensor_core("conv3x3_64_fp16", "conv2d", (8, 64, 56, 56), (64, 64, 3, 3), True, "fp16", (5e-3, 0.1), padding=1),
    _tensor_core("conv3x3_64_tf32", "conv2d", (8, 64, 56, 56), (64, 64, 3, 3), True, "tf32", (1e-2, 0.2), padding=1),
    _tensor_core("fc6_boxhead_fp16", "linear", (1000, 12544), (1024, 12544), True, "fp16", (1e-2, 0.05), w_scale=0.01),
    _tensor_core("fc6_boxhead_tf32", "linear", (1000, 12544), (1024, 12544), True, "tf32", (1e-2, 1e-2), w_scale=0.01),
]


@pytest.mark.parametrize(("workload", "impl", "device"), cases(WORKLOADS))
def bench_nn(benchmark, workload, impl, device):
    run_case(benchmark, workload, impl, device)
