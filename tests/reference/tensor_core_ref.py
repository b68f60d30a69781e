"""What a tensor-core product multiplies, and how far its result may lie from the float64 oracle:
TF32 rounding as the hardware's cvt.rna.tf32.f32 (10 mantissa bits, to nearest, ties away from
zero), an error bound for float accumulation of 16-bit / TF32 products, and the CUDA tests' use
of both (inputs as the product sees them; the check of a result)."""

from __future__ import annotations

import numpy as np

# Half an ulp of the output dtype, relative (float32 out: 2 ulps, for the float activation).
OUTPUT_ROUNDING = {"float16": 2.0**-11, "bfloat16": 2.0**-8, "float32": 2.0**-22}


def tf32_round(a) -> np.ndarray:
    """float32 values rounded to TF32 as cvt.rna.tf32.f32 does (Inf and NaN as they are)."""
    a = np.asarray(a, np.float32)
    u = a.view(np.uint32).astype(np.uint64)
    r = (((u + 0x1000) & ~np.uint64(0x1FFF)) & 0xFFFFFFFF).astype(np.uint32).view(np.float32)
    return np.where(np.isfinite(a), r, a)


def tensor_core_bound(want, scale, terms: int, out_dtype: str) -> np.ndarray:
    """Per-element bound on |result - want| for a sum of `terms` exact products accumulated in float
    (tensor cores may truncate: 4 units of 2^-23 per term, times the sum of |terms| `scale`, and a
    1.1-Lipschitz activation such as SiLU), plus the output dtype's rounding of |want|."""
    want = np.asarray(want, np.float64)
    return (1.1 * (terms + 4) * 2.0**-21 * np.asarray(scale, np.float64)
            + OUTPUT_ROUNDING[out_dtype] * np.abs(want) + 1e-6)


def tensor_core_inputs(shapes, dtype, gen):
    """Random CUDA tensors of `dtype` ("float16", "bfloat16"; "tf32": float32) and the float64
    values a tensor-core product multiplies (TF32: rounded as cvt.rna, the first two only: x and w)."""
    import torch

    dt = torch.float32 if dtype == "tf32" else getattr(torch, dtype)
    out = []
    for i, (shape, div) in enumerate(shapes):
        t = (torch.randn(shape, generator=gen) / div).to("cuda", dt)
        v = t.float().cpu().numpy()
        out.append((t, (tf32_round(v) if dtype == "tf32" and i < 2 else v).astype(np.float64)))
    return out


def check_tensor_core(y, want, scale, terms, dtype, exact=None):
    """y (CUDA, tensor cores) within the float-accumulation bound of the float64 oracle `want`; for
    TF32 also far closer to the TF32 oracle than the exact float32 product is (`exact`: the float64
    result on unrounded inputs), which only a TF32 product achieves."""
    got = y.double().cpu().numpy()
    assert got.shape == want.shape and np.isfinite(got).all()
    out_dtype = "float32" if dtype == "tf32" else dtype
    bound = tensor_core_bound(want, scale, terms, out_dtype)
    excess = np.abs(got - want) / bound
    assert excess.max() <= 1, f"max |y - oracle| / bound = {excess.max():.3g}"
    if exact is not None:
        assert np.abs(got - want).max() <= 0.1 * np.abs(exact - want).max()
