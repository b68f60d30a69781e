# SPDX-License-Identifier: Apache-2.0
"""Shared plumbing of the restoration module: the dtype policy and argument checks."""
from __future__ import annotations

import operator
from typing import Any

import numpy as np

from .._arrays import Call, dtype_name, register_policy
from .._errors import FovealTypeError, FovealValueError


def restoration_policy(op: str, dtypes: dict[str, str], cuda: bool) -> str:
    """skimage's ``_supported_float_type`` after ``img_as_float``: float32/float64 kept, float16
    -> float32, longdouble -> float64, integers and bool -> float64 (rescaled by
    :func:`_float_image`)."""
    arg, dt = next(iter(dtypes.items()))
    if dt in ("float32", "float64"):
        return dt
    if dt in ("float96", "float128", "longdouble"):
        return "float64"
    if dt in ("float16", "bfloat16"):
        return "float32"
    if dt == "bool" or dt.startswith(("int", "uint")):
        return "float64"
    raise FovealTypeError(f"{op}: {arg} must have a real numeric dtype, got {dt}")


register_policy("restoration", restoration_policy)


def _float_image(call: Call, name: str) -> Any:
    """Array ``name`` as the C-contiguous float image the restoration ops compute on: the policy's
    dtype, integers rescaled as ``skimage.img_as_float`` does."""
    src = dtype_name(call.arrays[name])
    x = call.floats(name)
    if not src.startswith(("int", "uint")):
        return x
    x = x * (1.0 / np.iinfo(src).max)  # a new array: the caller's stays untouched
    if src.startswith("int"):  # the most negative integer maps below -1; skimage clips it
        xp = _xp(x)
        x = x.clamp_min(-1.0) if xp.__name__ == "torch" else xp.maximum(x, -1.0)
    return x


def _xp(x: Any) -> Any:
    """The array namespace of a prepared array (numpy, torch, cupy or jax.numpy)."""
    if isinstance(x, np.ndarray):
        return np
    mod = type(x).__module__.split(".")[0]
    if mod == "torch":
        import torch

        return torch
    if mod == "cupy":
        import cupy

        return cupy
    import jax.numpy as jnp

    return jnp


def _moveaxis(x: Any, src: int, dst: int) -> Any:
    xp = _xp(x)
    if xp is np:
        return np.moveaxis(x, src, dst)
    if xp.__name__ == "torch":
        return x.movedim(src, dst)
    return xp.moveaxis(x, src, dst)


def _contiguous(x: Any) -> Any:
    xp = _xp(x)
    if xp.__name__ == "torch":
        return x.contiguous()
    if xp.__name__.startswith("jax"):
        return x
    return xp.ascontiguousarray(x)


def _all_finite(x: Any) -> bool:
    return bool(_xp(x).isfinite(x).all())


def _int_arg(op: str, name: str, value: Any, minimum: int) -> int:
    if isinstance(value, (bool, np.bool_)):
        raise FovealTypeError(f"{op}: {name} must be an integer, got bool {value!r}")
    try:
        v = operator.index(value)
    except TypeError:
        raise FovealTypeError(f"{op}: {name} must be an integer, got {type(value).__name__} {value!r}") from None
    if v < minimum:
        raise FovealValueError(f"{op}: {name} must be >= {minimum}, got {v}")
    return v


def _channel_axis(op: str, channel_axis: Any, ndim: int) -> int | None:
    if channel_axis is None:
        return None
    if isinstance(channel_axis, (bool, np.bool_)) or not isinstance(channel_axis, (int, np.integer)):
        raise FovealTypeError(
            f"{op}: channel_axis must be None or an integer, got {type(channel_axis).__name__} {channel_axis!r}"
        )
    ax = int(channel_axis)
    if ndim < 2 or not -ndim <= ax < ndim:
        raise FovealValueError(
            f"{op}: channel_axis must be None or an axis of an image with at least 2 dimensions "
            f"(-{ndim} <= channel_axis < {ndim}), got {ax} for an image of {ndim} dimensions"
        )
    return ax % ndim


def _choice(op: str, name: str, value: Any, choices: dict[str, int]) -> int:
    if not isinstance(value, str) or value not in choices:
        raise FovealValueError(f"{op}: {name} must be one of {', '.join(map(repr, choices))}, got {value!r}")
    return choices[value]
