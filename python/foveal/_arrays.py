# SPDX-License-Identifier: Apache-2.0
"""Array-library policy: which library an argument comes from, dtype promotion, contiguity,
output allocation in the caller's library, and the CUDA stream to run on.

The native core borrows every array zero-copy (buffer protocol, ``__cuda_array_interface__`` or
DLPack); this module only decides *what* to hand it.
"""
from __future__ import annotations

import sys
from typing import Any

import numpy as np

_FLOAT_RANK = {"float16": 1, "float32": 2, "float64": 3}


def _is_torch(x: Any) -> bool:
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(x, torch.Tensor)


def _is_cupy(x: Any) -> bool:
    cupy = sys.modules.get("cupy")
    return cupy is not None and isinstance(x, cupy.ndarray)


def _is_jax(x: Any) -> bool:
    jax = sys.modules.get("jax")
    return jax is not None and isinstance(x, jax.Array)


def library_of(x: Any, name: str) -> str:
    """Name the array library of argument ``name``: 'numpy', 'torch', 'cupy' or 'jax'."""
    if isinstance(x, np.ndarray):
        return "numpy"
    if _is_torch(x):
        return "torch"
    if _is_cupy(x):
        return "cupy"
    if _is_jax(x):
        return "jax"
    raise TypeError(
        f"{name} must be an array (numpy.ndarray, cupy.ndarray, torch.Tensor or jax.Array), "
        f"got {type(x).__module__}.{type(x).__qualname__}"
    )


def common_library(**arrays: Any) -> str:
    """The one library all ``arrays`` come from; TypeError when they mix libraries."""
    libs = {name: library_of(x, name) for name, x in arrays.items()}
    if len(set(libs.values())) > 1:
        desc = ", ".join(f"{n} is {lib}" for n, lib in libs.items())
        raise TypeError(f"arrays must come from the same array library, got {desc}")
    return next(iter(libs.values()))


_DTYPE_NAMES: dict = {}


def dtype_name(x: Any) -> str:
    """numpy-style dtype name of any supported array ('float32', 'bfloat16', 'int64', ...)."""
    dt = x.dtype
    try:
        return _DTYPE_NAMES[dt]
    except (KeyError, TypeError):
        pass
    name = str(dt).rsplit(".", 1)[-1] if _is_torch(x) else str(np.dtype(dt).name)
    try:
        _DTYPE_NAMES[dt] = name
    except TypeError:  # unhashable dtype object
        pass
    return name


def is_cuda(x: Any, lib: str) -> bool:
    if lib == "numpy":
        return False
    if lib == "torch":
        return x.device.type == "cuda"
    if lib == "cupy":
        return True
    return any(d.platform == "gpu" for d in x.devices())  # jax


def float_type(name: str, dtypes: dict[str, str], cuda: bool) -> str:
    """Float dtype an op computes in, from the argument dtypes (policy of the detection ops).

    float64 -> float64; float32 -> float32; float16 -> float16 on CUDA, float32 on the CPU;
    bfloat16, integers and bool -> float32. Mixed arguments use the widest of those.
    """
    best = 0
    for arg, dt in dtypes.items():
        if dt in _FLOAT_RANK:
            rank = _FLOAT_RANK[dt]
        elif dt == "bfloat16" or dt == "bool" or dt.startswith(("int", "uint")):
            rank = _FLOAT_RANK["float32"]
        else:
            raise TypeError(f"{name}: {arg} must have a real numeric dtype, got {dt}")
        best = max(best, rank)
    if best == 1 and not cuda:
        best = 2
    return {1: "float16", 2: "float32", 3: "float64"}[best]


def prepare(x: Any, lib: str, dtype: str) -> Any:
    """``x`` as a C-contiguous array of ``dtype`` in its own library (no copy when it already is)."""
    if lib == "numpy":
        return np.ascontiguousarray(x, dtype=dtype)
    if lib == "torch":
        import torch

        return x.detach().to(getattr(torch, dtype)).contiguous()
    if lib == "cupy":
        import cupy

        with x.device:
            return cupy.ascontiguousarray(x, dtype=dtype)
    return x.astype(dtype)  # jax arrays are dense


def empty(shape: tuple[int, ...], dtype: str, like: Any, lib: str) -> Any:
    """Uninitialised array of ``shape`` / ``dtype`` on ``like``'s device, in a library foveal can
    write into (jax arrays are immutable: their outputs are made in numpy, cupy or torch and
    handed back through DLPack by :func:`wrap`)."""
    if lib == "numpy":
        return np.empty(shape, dtype=dtype)
    if lib == "torch":
        import torch

        return torch.empty(shape, dtype=getattr(torch, dtype), device=like.device)
    if lib == "cupy":
        import cupy

        with like.device:
            return cupy.empty(shape, dtype=dtype)
    # jax
    if not is_cuda(like, lib):
        return np.empty(shape, dtype=dtype)
    index = next(iter(like.devices())).id
    if "cupy" in sys.modules or _importable("cupy"):
        import cupy

        with cupy.cuda.Device(index):
            return cupy.empty(shape, dtype=dtype)
    if _importable("torch"):
        import torch

        return torch.empty(shape, dtype=getattr(torch, dtype), device=f"cuda:{index}")
    raise RuntimeError("jax CUDA arrays need cupy or torch installed, to allocate foveal's outputs")


def wrap(out: Any, lib: str) -> Any:
    """Hand ``out`` back in the caller's library."""
    if lib != "jax":
        return out
    import jax.dlpack
    import jax.numpy as jnp

    try:
        return jax.dlpack.from_dlpack(out)
    except Exception:  # noqa: BLE001 - an unaligned or unsupported buffer: copy instead
        return jnp.asarray(out)


def stream_of(x: Any, lib: str) -> int:
    """The caller's current CUDA stream for ``x``'s device (0 on the CPU)."""
    if lib == "torch" and x.device.type == "cuda":
        import torch

        return int(torch.cuda.current_stream(x.device).cuda_stream)
    if lib == "cupy":
        import cupy

        with x.device:
            return int(cupy.cuda.get_current_stream().ptr)
    return 0


def _importable(mod: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(mod) is not None
