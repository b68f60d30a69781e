# SPDX-License-Identifier: Apache-2.0
"""Image quality metrics with scikit-image's names and rules (``skimage.metrics``), on CPU arrays
(numpy, or torch / cupy / jax arrays on the CPU, read without a copy where possible; results are
numpy).

mse and psnr are computed in float64, or float32 when both images are float16/float32, as skimage
does (integer images are not rescaled); structural_similarity in float64 in the C++ core.
"""
from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np

from . import _core
from ._arrays import host_array
from ._errors import FovealTypeError, FovealValueError

__all__ = ["mse", "psnr", "ssim", "structural_similarity"]


def _pair(op: str, a: Any, b: Any, na: str, nb: str) -> tuple[np.ndarray, np.ndarray]:
    a, b = host_array(op, na, a, sequences=False), host_array(op, nb, b, sequences=False)
    for name, x in ((na, a), (nb, b)):
        if x.dtype.kind not in "biuf":
            raise FovealTypeError(f"{op}: {name} must have a real numeric dtype, got {x.dtype}")
    if a.shape != b.shape:
        raise FovealValueError(f"{op}: {na} and {nb} must have the same shape, got {a.shape} and {b.shape}")
    if a.size == 0:  # skimage: NaN and a "mean of empty slice" warning
        raise FovealValueError(f"{op}: {na} and {nb} must not be empty, got shape {a.shape}")
    return a, b


def _mse(a: np.ndarray, b: np.ndarray) -> float:
    # skimage: both cast to float32 when both are float16/float32, else float64; mean in float64.
    # The same infinity in both images gives NaN (inf - inf), as in skimage, without its warning.
    small = a.dtype in (np.float16, np.float32) and b.dtype in (np.float16, np.float32)
    ft = np.float32 if small else np.float64
    with np.errstate(invalid="ignore", over="ignore"):
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
    image_true, image_test : array
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


_SSIM_KWARGS = ("K1", "K2", "sigma", "use_sample_covariance")


def _ssim_float_type(dt: np.dtype) -> type:
    # skimage's _supported_float_type: float16 -> float32, float32 and float64 kept, else float64
    return np.float32 if dt in (np.float16, np.float32) else np.float64


def _ssim_number(op: str, name: str, v: Any) -> float:
    if isinstance(v, (bool, np.bool_, str, bytes)) or not isinstance(v, (int, float, np.integer, np.floating)):
        raise FovealTypeError(f"{op}: {name} must be a real number, got {type(v).__name__} {v!r}")
    f = float(v)
    if not math.isfinite(f):
        raise FovealValueError(f"{op}: {name} must be finite, got {f}")
    return f


def _ssim_one(im1: np.ndarray, im2: np.ndarray, win_size: Any, gradient: bool, data_range: Any,
              gaussian_weights: bool, full: bool, k1: float, k2: float, sigma: float, sample_cov: bool) -> Any:
    op = "structural_similarity"
    ft = _ssim_float_type(im1.dtype)
    truncate = 3.5  # skimage: an 11-tap Gaussian for sigma 1.5, as Wang et al.
    if win_size is None:
        win_size = 2 * int(truncate * sigma + 0.5) + 1 if gaussian_weights else 7
    elif isinstance(win_size, (bool, np.bool_)) or not isinstance(win_size, (int, np.integer)):
        raise FovealTypeError(f"{op}: win_size must be None or an odd integer, got {type(win_size).__name__} {win_size!r}")
    win_size = int(win_size)
    if im1.ndim == 0 or im1.ndim > 8:
        raise FovealValueError(f"{op}: im1 must have 1 to 8 dimensions, got shape {im1.shape}")
    if any(n < win_size for n in im1.shape):
        raise FovealValueError(
            f"{op}: win_size exceeds image extent: win_size {win_size} for shape {im1.shape}. Either ensure that your "
            "images are at least 7x7; or pass win_size explicitly in the function call, with an odd value less than or "
            "equal to the smaller side of your images. If your images are multichannel (with color channels), set "
            "channel_axis to the axis number corresponding to the channels."
        )
    if win_size % 2 != 1:
        raise FovealValueError(f"{op}: Window size must be odd, got win_size {win_size}.")
    if sample_cov and win_size == 1:
        raise FovealValueError(
            f"{op}: win_size must be > 1 with use_sample_covariance=True (NP / (NP - 1) with NP = 1 window element)"
        )
    if data_range is None:
        if im1.dtype.kind == "f" or im2.dtype.kind == "f":
            raise FovealValueError(
                f"{op}: Since image dtype is floating point, you must specify the data_range parameter. Please read "
                "the documentation carefully (including the note). It is recommended that you always specify the "
                "data_range anyway."
            )
        if im1.dtype != im2.dtype:
            warnings.warn("Inputs have mismatched dtypes. Setting data_range based on im1.dtype.", stacklevel=3)
        if im1.dtype.kind == "b":
            rng = 1.0
        else:
            info = np.iinfo(im1.dtype)
            rng = float(info.max - info.min)
        if im1.dtype.kind in "iu" and im1.dtype != np.uint8:
            warnings.warn(
                f"Setting data_range based on im1.dtype. data_range = {rng:.0f}. Please specify data_range explicitly "
                "to avoid mistakes.",
                stacklevel=3,
            )
    else:
        rng = _ssim_number(op, "data_range", data_range)
    a = np.ascontiguousarray(im1, dtype=ft)
    b = np.ascontiguousarray(im2, dtype=ft)
    s_img = np.empty(a.shape, ft) if full else None
    g_img = np.empty(a.shape, ft) if gradient else None
    m = _core.structural_similarity(a, b, s_img, g_img, win_size, bool(gaussian_weights), sigma, truncate, rng, k1,
                                    k2, sample_cov)
    res: tuple[Any, ...] = (np.float64(m),)
    if gradient:
        res += (g_img,)
    if full:
        res += (s_img,)
    return res if len(res) > 1 else res[0]


def structural_similarity(
    im1: Any,
    im2: Any,
    *,
    win_size: Any = None,
    gradient: bool = False,
    data_range: Any = None,
    channel_axis: Any = None,
    gaussian_weights: bool = False,
    full: bool = False,
    **kwargs: Any,
) -> Any:
    """Mean structural similarity index (SSIM) of two images, as
    ``skimage.metrics.structural_similarity`` (same arguments, defaults, errors and outputs).

    Parameters
    ----------
    im1, im2 : array
        Same shape, any real dtype, 1 to 8 dimensions (plus a channel axis). Integer images are not
        rescaled. Computed in float64; the returned arrays are float32 when ``im1`` is
        float16/float32, else float64 (skimage's ``_supported_float_type`` of ``im1``).
    win_size : int or None, optional
        Odd side of the sliding window, at most the smallest image side. Default 7, or with
        ``gaussian_weights`` the Gaussian's extent ``2 int(3.5 sigma + 0.5) + 1`` (11); it sets the
        crop ``(win_size - 1) // 2`` and the sample-covariance factor in both cases, and the filter
        in the uniform case.
    gradient : bool, optional
        Also return the gradient of the mean SSIM with respect to ``im2``.
    data_range : float, optional
        Value range of the images. Required for floating-point images; for integer images the
        dtype's max - min (a warning unless uint8; a warning when the dtypes differ).
    channel_axis : int or None, optional
        Axis of channels: SSIM per channel, then their mean (and per-channel gradient/full maps).
    gaussian_weights : bool, optional
        Weight the window by a normalised Gaussian (``sigma``, truncated at 3.5 sigma) instead of
        a uniform window.
    full : bool, optional
        Also return the SSIM image.
    **kwargs
        ``K1`` (0.01), ``K2`` (0.03), ``sigma`` (1.5) -- all >= 0 -- and ``use_sample_covariance``
        (True: covariances times ``NP / (NP - 1)``, ``NP = win_size ** ndim``). Unknown names raise
        TypeError (skimage ignores them).

    Returns
    -------
    mssim : numpy.float64 (the channels' mean in the image float type with ``channel_axis``)
    grad : numpy.ndarray, when ``gradient``
    S : numpy.ndarray, when ``full``

    Notes
    -----
    Windowed moments come from separable filters with scipy.ndimage's ``'reflect'`` boundary
    (skimage's ``uniform_filter`` / ``gaussian``), the mean is over the image cropped by
    ``(win_size - 1) // 2`` on every side. Tested against skimage to 1e-7 in float64. For float32
    images skimage computes in float32 while foveal computes in float64, so they differ by
    skimage's float32 rounding (about 1e-5 on [0, 1] images).

    Examples
    --------
    >>> import numpy as np, foveal
    >>> x = np.random.default_rng(0).random((32, 32))
    >>> foveal.metrics.structural_similarity(x, x, data_range=1.0)
    np.float64(1.0)
    >>> s, img = foveal.metrics.ssim(x, 1 - x, data_range=1.0, full=True)
    >>> bool(s < 0), img.shape
    (True, (32, 32))
    """
    op = "structural_similarity"
    a, b = _pair(op, im1, im2, "im1", "im2")
    for name, v in (("gradient", gradient), ("gaussian_weights", gaussian_weights), ("full", full)):
        if not isinstance(v, (bool, np.bool_)):
            raise FovealTypeError(f"{op}: {name} must be a bool, got {type(v).__name__} {v!r}")
    unknown = sorted(set(kwargs) - set(_SSIM_KWARGS))
    if unknown:
        raise FovealTypeError(f"{op}: unexpected keyword arguments {unknown}; expected some of {list(_SSIM_KWARGS)}")
    k1 = _ssim_number(op, "K1", kwargs.get("K1", 0.01))
    k2 = _ssim_number(op, "K2", kwargs.get("K2", 0.03))
    sigma = _ssim_number(op, "sigma", kwargs.get("sigma", 1.5))
    for name, v in (("K1", k1), ("K2", k2), ("sigma", sigma)):
        if v < 0:
            raise FovealValueError(f"{op}: {name} must be positive, got {v}")
    sample_cov = kwargs.get("use_sample_covariance", True)
    if not isinstance(sample_cov, (bool, np.bool_)):
        raise FovealTypeError(f"{op}: use_sample_covariance must be a bool, got {type(sample_cov).__name__}")
    args = (win_size, bool(gradient), data_range, bool(gaussian_weights), bool(full), k1, k2, sigma, bool(sample_cov))
    if channel_axis is None:
        return _ssim_one(a, b, *args)
    if isinstance(channel_axis, (bool, np.bool_)) or not isinstance(channel_axis, (int, np.integer)):
        raise FovealTypeError(f"{op}: channel_axis must be None or an integer, got {type(channel_axis).__name__}")
    if not -a.ndim <= int(channel_axis) < a.ndim:
        raise FovealValueError(f"{op}: channel_axis must be in [-{a.ndim}, {a.ndim}), got {channel_axis} for shape {a.shape}")
    ax = int(channel_axis) % a.ndim
    ft = _ssim_float_type(a.dtype)
    nch = a.shape[ax]
    mssim = np.empty(nch, dtype=ft)
    g_all = np.empty(a.shape, ft) if gradient else None
    s_all = np.empty(a.shape, ft) if full else None
    for c in range(nch):
        r = _ssim_one(np.take(a, c, axis=ax), np.take(b, c, axis=ax), *args)
        if not isinstance(r, tuple):
            r = (r,)
        mssim[c] = r[0]
        i = 1
        if gradient:
            np.moveaxis(g_all, ax, 0)[c] = r[i]
            i += 1
        if full:
            np.moveaxis(s_all, ax, 0)[c] = r[i]
    res: tuple[Any, ...] = (mssim.mean(),)
    if gradient:
        res += (g_all,)
    if full:
        res += (s_all,)
    return res if len(res) > 1 else res[0]


ssim = structural_similarity
