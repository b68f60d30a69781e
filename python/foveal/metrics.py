# SPDX-License-Identifier: Apache-2.0
"""Image quality metrics with scikit-image's names and rules (``skimage.metrics``), on NumPy arrays.

Computed in float64, or float32 when both images are float16/float32, as skimage does (integer
images are not rescaled).
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from ._errors import FovealTypeError, FovealValueError

__all__ = ["mse", "psnr"]


def _pair(op: str, a: Any, b: Any, na: str, nb: str) -> tuple[np.ndarray, np.ndarray]:
    for name, x in ((na, a), (nb, b)):
        if not isinstance(x, np.ndarray):
            raise FovealTypeError(f"{op}: {name} must be a numpy.ndarray, got {type(x).__name__}")
        if x.dtype.kind not in "biuf":
            raise FovealTypeError(f"{op}: {name} must have a real numeric dtype, got {x.dtype}")
    if a.shape != b.shape:
        raise FovealValueError(f"{op}: {na} and {nb} must have the same shape, got {a.shape} and {b.shape}")
    return a, b


def _mse(a: np.ndarray, b: np.ndarray) -> float:
    # skimage: both cast to float32 when both are float16/float32, else float64; mean in float64
    small = a.dtype in (np.float16, np.float32) and b.dtype in (np.float16, np.float32)
    ft = np.float32 if small else np.float64
    d = a.astype(ft) - b.astype(ft)
    return float(np.mean(d * d, dtype=np.float64))


def mse(image0: Any, image1: Any) -> float:
    """Mean squared error ``mean((image0 - image1)^2)``, as ``skimage.metrics.mean_squared_error``.

    Examples
    --------
    >>> import numpy as np, foveal
    >>> foveal.metrics.mse(np.zeros((2, 2)), np.ones((2, 2)))
    1.0
    """
    a, b = _pair("mse", image0, image1, "image0", "image1")
    return _mse(a, b)


def _dtype_range(dt: np.dtype) -> tuple[float, float]:
    if dt.kind == "b":
        return 0.0, 1.0
    if dt.kind in "iu":
        info = np.iinfo(dt)
        return float(info.min), float(info.max)
    return -1.0, 1.0


def psnr(image_true: Any, image_test: Any, *, data_range: float | None = None) -> float:
    """Peak signal-to-noise ratio ``10 log10(data_range^2 / mse)`` in dB, as
    ``skimage.metrics.peak_signal_noise_ratio``.

    Parameters
    ----------
    image_true, image_test : numpy.ndarray
        Same shape.
    data_range : float, optional
        The value range. Default (skimage's rule, from ``image_true``'s dtype): the dtype's
        maximum when ``image_true >= 0`` (255 for uint8, 1 for floats), else max - min of the
        dtype; values of ``image_true`` outside the dtype's range (floats outside [-1, 1]) raise
        -- pass ``data_range`` then.

    Returns
    -------
    float
        ``inf`` for identical images.

    Examples
    --------
    >>> import numpy as np, foveal
    >>> round(foveal.metrics.psnr(np.zeros(4), np.full(4, 0.1)), 6)
    20.0
    """
    op = "psnr"
    a, b = _pair(op, image_true, image_test, "image_true", "image_test")
    if data_range is None:
        dmin, dmax = _dtype_range(a.dtype)
        tmin, tmax = (float(a.min()), float(a.max())) if a.size else (0.0, 0.0)
        if tmax > dmax or tmin < dmin:
            raise FovealValueError(
                f"{op}: image_true has values in [{tmin}, {tmax}], outside the range [{dmin}, {dmax}] expected for "
                f"its dtype {a.dtype}; pass data_range"
            )
        rng = dmax if tmin >= 0 else dmax - dmin
    else:
        if isinstance(data_range, (str, bytes)) or not isinstance(data_range, (int, float, np.integer, np.floating)):
            raise FovealTypeError(f"{op}: data_range must be a number, got {data_range!r}")
        rng = float(data_range)
        if not 0 < rng < math.inf:
            raise FovealValueError(f"{op}: data_range must be a finite number > 0, got {rng}")
    err = _mse(a, b)
    if err == 0:
        return math.inf
    return 10.0 * math.log10(rng * rng / err)
