# SPDX-License-Identifier: Apache-2.0
"""Image restoration, with scikit-image's names, signatures and semantics (``skimage.restoration``).

dtype policy ('restoration', scikit-image's): float32 stays float32, float64 stays float64,
float16 computes and returns float32; integer and bool images are converted as
``skimage.img_as_float`` does (unsigned: ``x / max``; signed: ``max(x / max, -1)``; bool: 0/1) and
return float64. Inputs are never modified.

Errors: bad values raise :class:`foveal.FovealValueError`, bad types and dtypes
:class:`foveal.FovealTypeError`.
"""
from __future__ import annotations

import operator
from typing import Any

import numpy as np

from . import _core
from ._arrays import Call, dtype_name, real, register_policy
from ._errors import FovealTypeError, FovealValueError

__all__ = ["denoise_tv_chambolle"]


def restoration_policy(op: str, dtypes: dict[str, str], cuda: bool) -> str:
    """skimage's ``_supported_float_type`` after ``img_as_float``: float32/float64 kept, float16
    -> float32, integers and bool -> float64 (rescaled by :func:`_float_image`)."""
    arg, dt = next(iter(dtypes.items()))
    if dt in ("float32", "float64"):
        return dt
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


def _tv_chambolle(image: Any, weight: Any, eps: Any, max_num_iter: Any, channel_axis: Any) -> tuple[Any, list[int]]:
    op = "denoise_tv_chambolle"
    call = Call(op, policy="restoration", image=image)
    w = real(op, "weight", weight)
    if not (0 < w < float("inf")):
        raise FovealValueError(f"{op}: weight must be a finite number > 0, got {w}")
    e = real(op, "eps", eps)
    if not (0 <= e < float("inf")):
        raise FovealValueError(f"{op}: eps must be a finite number >= 0, got {e}")
    n = _int_arg(op, "max_num_iter", max_num_iter, 1)
    ax = _channel_axis(op, channel_axis, image.ndim)
    x = _float_image(call, "image")
    if x.ndim == 0:
        raise FovealValueError(f"{op}: image must have at least 1 dimension, got a 0-d array")
    if not _all_finite(x):
        raise FovealValueError(f"{op}: image must hold finite values, got NaN or infinity")
    if ax is None:
        out = call.empty(tuple(x.shape))
        iters = call.run(_core.denoise_tv_chambolle, x, out, w, e, n, 0)
        return call.wrap(out), iters
    xc = _contiguous(_moveaxis(x, ax, 0))
    out = call.empty(tuple(xc.shape))
    iters = call.run(_core.denoise_tv_chambolle, xc, out, w, e, n, 1)
    out = _moveaxis(out, 0, ax)
    if isinstance(out, np.ndarray):
        out = np.ascontiguousarray(out)  # skimage returns a C-ordered array
    return call.wrap(out), iters


def denoise_tv_chambolle(
    image: Any, weight: float = 0.1, eps: float = 2.0e-4, max_num_iter: int = 200, *, channel_axis: int | None = None
) -> Any:
    """Total-variation denoising by Chambolle's projection algorithm, on nD images.

    Minimises ``sum |grad u| + 1/(2 weight) ||u - image||^2`` (the ROF model), as
    ``skimage.restoration.denoise_tv_chambolle``.

    Parameters
    ----------
    image : array
        Image of 1 to 7 dimensions (plus a channel axis when ``channel_axis`` is given): numpy, or
        cupy / torch / jax (CPU or CUDA). Integer images are rescaled as ``img_as_float`` does.
        Values must be finite.
    weight : float, optional
        Denoising weight, > 0. The greater, the smoother (and the further from ``image``).
    eps : float, optional
        Stopping tolerance, >= 0: with E_n the ROF energy of iteration n (divided by the image
        size), iterations stop when ``|E_{n-1} - E_n| < eps * E_0``. 0 runs ``max_num_iter``.
    max_num_iter : int, optional
        Maximal number of iterations, >= 1 (1 returns the image itself, as in skimage).
    channel_axis : int or None, optional
        Axis of channels; each channel is denoised separately (its own stopping rule).

    Returns
    -------
    out : array
        Denoised image, same shape, in the inputs' library and device; float32 for float16 and
        float32 images, float64 otherwise.

    Notes
    -----
    Same iterates and the same stopping rule as scikit-image (tested to 1e-4 against it, with
    equal iteration counts). Neumann boundaries: the gradient is 0 across the last element of
    each axis. Energies are summed in float64, so on a float32 image an energy change that sits
    exactly at the ``eps`` threshold can stop one iteration apart from skimage's float32 sums.

    Examples
    --------
    >>> import numpy as np, foveal
    >>> img = np.zeros((4, 4), dtype=np.float32)
    >>> img[1:3, 1:3] = 1
    >>> out = foveal.restoration.denoise_tv_chambolle(img, weight=0.1)
    >>> out.dtype, bool(out[1, 1] < 1), bool(out[0, 0] > 0)
    (dtype('float32'), True, True)
    """
    return _tv_chambolle(image, weight, eps, max_num_iter, channel_axis)[0]
