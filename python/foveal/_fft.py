# SPDX-License-Identifier: Apache-2.0
"""numpy-facing FFTs over the last axes, on foveal's C++ FFT (private: Wiener deconvolution uses it).

Same results and layouts as ``numpy.fft.fftn / ifftn / rfftn / irfftn`` with ``axes`` the last
``naxes`` axes, but complex64 stays complex64 (float32 and float16 inputs compute in single
precision, as ``scipy.fft`` does); other real dtypes compute in double precision.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from . import _core
from ._errors import FovealTypeError, FovealValueError

_NORMS = {None: 0, "backward": 0, "ortho": 1, "forward": 2}


def _norm(op: str, norm: Any) -> int:
    if not isinstance(norm, (str, type(None))) or norm not in _NORMS:
        raise FovealValueError(f"{op}: norm must be 'backward', 'ortho' or 'forward', got {norm!r}")
    return _NORMS[norm]


def _naxes(op: str, naxes: Any, ndim: int) -> int:
    if naxes is None:
        naxes = ndim
    if isinstance(naxes, bool) or not isinstance(naxes, (int, np.integer)) or not 1 <= naxes <= ndim:
        raise FovealValueError(f"{op}: naxes must be an integer in [1, {ndim}] (the array's ndim), got {naxes!r}")
    return int(naxes)


def _single(dt: np.dtype) -> bool:
    return dt in (np.float32, np.float16, np.complex64)


def _as_complex(op: str, x: Any) -> np.ndarray:
    a = np.asarray(x)
    if a.dtype.kind not in "biufc":
        raise FovealTypeError(f"{op}: input must have a numeric dtype, got {a.dtype}")
    return np.ascontiguousarray(a, dtype=np.complex64 if _single(a.dtype) else np.complex128)


def _pairs(c: np.ndarray) -> np.ndarray:
    """A complex array's float view with a trailing axis of 2 (re, im)."""
    return c.view(c.real.dtype).reshape(c.shape + (2,))


def fftn(x: Any, naxes: int | None = None, norm: str | None = "backward", *, inverse: bool = False) -> np.ndarray:
    """Complex FFT (inverse: sign +1) over the last ``naxes`` axes (default: all)."""
    op = "ifftn" if inverse else "fftn"
    c = _as_complex(op, x)
    k = _naxes(op, naxes, c.ndim)
    out = np.empty_like(c)
    _core.fftn(_pairs(c), _pairs(out), k, bool(inverse), _norm(op, norm))
    return out


def ifftn(x: Any, naxes: int | None = None, norm: str | None = "backward") -> np.ndarray:
    """Inverse complex FFT over the last ``naxes`` axes (default: all)."""
    return fftn(x, naxes, norm, inverse=True)


def rfftn(x: Any, naxes: int | None = None, norm: str | None = "backward") -> np.ndarray:
    """FFT of a real array over the last ``naxes`` axes: the half spectrum (last axis n // 2 + 1)."""
    a = np.asarray(x)
    if a.dtype.kind not in "biuf":
        raise FovealTypeError(f"rfftn: input must be real, got dtype {a.dtype}")
    a = np.ascontiguousarray(a, dtype=np.float32 if _single(a.dtype) else np.float64)
    k = _naxes("rfftn", naxes, a.ndim)
    out = np.empty(a.shape[:-1] + (a.shape[-1] // 2 + 1,), dtype=np.complex64 if a.dtype == np.float32 else np.complex128)
    _core.rfftn(a, _pairs(out), k, _norm("rfftn", norm))
    return out


def irfftn(x: Any, shape: tuple[int, ...] | None = None, naxes: int | None = None, norm: str | None = "backward") -> np.ndarray:
    """Inverse of :func:`rfftn`. ``shape``: the transformed axes' output lengths (default: the
    input's, with the last one ``2 * (m - 1)``), as numpy's ``s``; other axes are cropped or
    zero-padded to it as numpy does."""
    c = _as_complex("irfftn", x)
    k = _naxes("irfftn", naxes, c.ndim)
    if shape is None:
        shape = tuple(c.shape[c.ndim - k:-1]) + (2 * (c.shape[-1] - 1),)
    shape = tuple(int(s) for s in shape)
    if len(shape) != k or any(s < 1 for s in shape):
        raise FovealValueError(f"irfftn: shape must have {k} lengths >= 1, got {shape}")
    # numpy's s: crop or zero-pad each transformed axis (the last to n // 2 + 1) before transforming
    want = tuple(c.shape[: c.ndim - k]) + shape[:-1] + (shape[-1] // 2 + 1,)
    if want != c.shape:
        fit = np.zeros(want, dtype=c.dtype)
        sl = tuple(slice(0, min(a, b)) for a, b in zip(want, c.shape))
        fit[sl] = c[sl]
        c = fit
    out = np.empty(tuple(c.shape[: c.ndim - k]) + shape, dtype=c.real.dtype)
    _core.irfftn(_pairs(c), out, k, _norm("irfftn", norm))
    return out
