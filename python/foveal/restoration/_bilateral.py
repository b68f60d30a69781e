# SPDX-License-Identifier: Apache-2.0
"""Bilateral filters: scikit-image style and OpenCV style."""
from __future__ import annotations

import math
import operator
import warnings
from typing import Any

import numpy as np

from .. import _core
from .._arrays import Call, real, register_policy
from .._errors import FovealTypeError, FovealValueError
from ._batch import batchable, cancel_flag
from ._common import _all_finite, _channel_axis, _choice, _contiguous, _float_image, _int_arg, _moveaxis, _xp


# -- bilateral -------------------------------------------------------------------------------------

_SK_MODES = {"constant": 0, "edge": 1, "symmetric": 2, "reflect": 3, "wrap": 4}
_CV_BORDERS = {"constant": 0, "replicate": 1, "reflect": 2, "reflect_101": 3, "wrap": 4}


def opencv_policy(op: str, dtypes: dict[str, str], cuda: bool) -> str:
    """OpenCV's bilateralFilter depths: uint8 and float32 only, kept."""
    arg, dt = next(iter(dtypes.items()))
    if dt in ("uint8", "float32"):
        return dt
    raise FovealTypeError(f"{op}: {arg} must be uint8 or float32 (OpenCV's bilateralFilter types), got {dt}")


register_policy("opencv_bilateral", opencv_policy)


def _reduce(x: Any, how: str) -> float:
    """min / max / std (population) of a prepared or caller array, as a Python float."""
    xp = _xp(x)
    if xp.__name__ == "torch":
        if how == "std":
            return float(x.std(correction=0))
        return float(getattr(x, "amin" if how == "min" else "amax")())
    return float(getattr(xp, how)(x))


def _sigma(op: str, name: str, value: Any) -> float:
    v = real(op, name, value)
    if not (0 < v < math.inf):
        raise FovealValueError(f"{op}: {name} must be a finite number > 0, got {v}")
    return v


def _copy(x: Any) -> Any:
    xp = _xp(x)
    if xp.__name__ == "torch":
        return x.clone()
    if xp.__name__.startswith("jax"):
        return x
    return x.copy()


@batchable
def denoise_bilateral(
    image: Any,
    win_size: int | None = None,
    sigma_color: float | None = None,
    sigma_spatial: float = 1,
    bins: int | None = 10000,
    mode: str = "constant",
    cval: float = 0,
    *,
    channel_axis: int | None = None,
) -> Any:
    """Edge-preserving bilateral denoising, as ``skimage.restoration.denoise_bilateral``.

    Each pixel becomes the average of its window, weighted by a spatial Gaussian of the pixel
    offset and a range Gaussian of the colour difference (Tomasi & Manduchi 1998).

    Parameters
    ----------
    image : array
        (H, W) grayscale image, or (H, W, C) with ``channel_axis`` (any axis of a 3-D array):
        numpy, or cupy / torch / jax (CPU or CUDA). Integer images are rescaled as
        ``img_as_float`` does. Values must be finite.
    win_size : int or None, optional
        Window size, 1 to 1025; default ``max(5, 2 * ceil(3 * sigma_spatial) + 1)``. As skimage, the
        window spans ``(win_size - 1) // 2`` pixels each way (an even size acts as the odd size
        below it); must be odd when ``bins=None``.
    sigma_color : float or None, optional
        Standard deviation of the range Gaussian, in the units of the float image ([0, 1] for
        integer images). None or 0: the standard deviation of the image. Must be >= 0.
    sigma_spatial : float, optional
        Standard deviation of the spatial Gaussian, in pixels, > 0.
    bins : int or None, optional
        Size of skimage's range-weight table, >= 1. None evaluates the definition exactly
        instead (see Notes).
    mode : {'constant', 'edge', 'symmetric', 'reflect', 'wrap'}, optional
        Values outside the image, as ``numpy.pad``.
    cval : float, optional
        The outside value for ``mode='constant'``.
    channel_axis : int or None, optional
        Axis of colour channels; their distance is Euclidean.

    Returns
    -------
    out : array
        Filtered image, same shape, in the input's library and device: float32 for float16 and
        float32 images, float64 otherwise.

    Notes
    -----
    With ``bins`` an integer, foveal reproduces skimage's filter including its conventions
    (tested equal to skimage to 1e-12 in float64, 1e-4 in float32): the range weight of a
    Euclidean colour distance d is ``table[min(int(d * (bins // C) / span), bins - 1)]``, C
    channels, with ``table[k] = exp(-(k * raw_max / bins)**2 / (2 sigma_color**2))`` where raw_max
    is the maximum of the image *as given* (255 for a uint8 image, which is filtered rescaled to
    [0, 1]) and span = raw_max - min(raw_min, 0); the spatial weight of window cell (kr, kc) is
    entry ``kr * win_size + kc`` of the flattened Gaussian table over the grid
    ``arange(-win_size // 2, win_size // 2 + 1)**2`` (which is not centred for an odd size); for an
    image with negative values the constant border value is ``cval + min(image)``.

    ``bins=None`` is the exact filter of the definition, without those conventions:
    ``w = exp(-(dy**2 + dx**2) / (2 sigma_spatial**2) - |I(q) - I(p)|**2 / (2 sigma_color**2))``
    over the centred window, border values ``cval`` (tested against a float64 reference to 1e-5).

    Differences from skimage: a constant image returns a float copy (skimage returns the input
    object, of its own dtype); negative ``sigma_color`` and non-positive ``sigma_spatial`` raise
    (skimage squares them or divides by zero); float16 computes in float32.

    Examples
    --------
    >>> import numpy as np, foveal
    >>> img = np.zeros((6, 6))
    >>> img[:, 3:] = 1.0
    >>> img[2, 1] = 0.1  # noise in the flat part
    >>> out = foveal.restoration.denoise_bilateral(img, sigma_color=0.2, sigma_spatial=1.0, bins=None)
    >>> bool(out[2, 1] < 0.1), bool(out[2, 4] > 0.99)  # noise smoothed, edge kept
    (True, True)
    """
    op = "denoise_bilateral"
    call = Call(op, policy="restoration", image=image)
    raw = call.arrays["image"]
    ndim = raw.ndim
    ax = _channel_axis(op, channel_axis, ndim)
    if ax is None and ndim != 2:
        raise FovealValueError(
            f"{op}: image must be 2-D (H, W) without channel_axis, or 3-D with a channel_axis, got shape "
            f"{tuple(raw.shape)}"
        )
    if ax is not None and ndim != 3:
        raise FovealValueError(
            f"{op}: image must be 3-D (H, W, C) with channel_axis, got shape {tuple(raw.shape)}; for a "
            f"grayscale image use channel_axis=None"
        )
    if ax is not None and raw.shape[ax] > 4:
        # as skimage, which filters it all the same
        warnings.warn(
            f"{op}: the channel axis of the image (shape {tuple(raw.shape)}) holds {raw.shape[ax]} channels; "
            f"denoise_bilateral is meant for 2D grayscale and color images (a 3-D grayscale volume needs "
            f"another filter)",
            UserWarning,
            stacklevel=3,
        )
    ss = _sigma(op, "sigma_spatial", sigma_spatial)
    if win_size is None:
        ws = max(5, 2 * int(math.ceil(3 * ss)) + 1)
        if ws > 1025:
            raise FovealValueError(
                f"{op}: sigma_spatial must be <= 170 when win_size is None (window {ws} > 1025), got {ss}"
            )
    else:
        ws = _int_arg(op, "win_size", win_size, 1)
        if ws > 1025:
            raise FovealValueError(f"{op}: win_size must be <= 1025, got {ws}")
    exact = bins is None
    nb = 0 if exact else _int_arg(op, "bins", bins, 1)
    if exact and ws % 2 == 0:
        raise FovealValueError(f"{op}: win_size must be odd with bins=None, got {ws}")
    if nb > 1 << 30:
        raise FovealValueError(f"{op}: bins must be <= 2**30, got {nb}")
    if sigma_color is not None:
        sc = real(op, "sigma_color", sigma_color)
        if not (0 <= sc < math.inf):
            raise FovealValueError(f"{op}: sigma_color must be None or a finite number >= 0, got {sc}")
    else:
        sc = 0.0
    border = _choice(op, "mode", mode, _SK_MODES)
    cv = real(op, "cval", cval)
    if not math.isfinite(cv):
        raise FovealValueError(f"{op}: cval must be finite, got {cv}")
    x = _float_image(call, "image")
    if not _all_finite(x):
        raise FovealValueError(f"{op}: image must hold finite values, got NaN or infinity")
    if x.shape[0] * x.shape[1] == 0 or (ax is not None and x.shape[ax] == 0):
        return call.wrap(_copy(x))
    raw_min, raw_max = _reduce(raw, "min"), _reduce(raw, "max")
    if raw_min == raw_max:
        return call.wrap(_copy(x))
    if not sc:
        sc = _reduce(x, "std")
    if ax is None:
        xc = x.reshape(tuple(x.shape) + (1,))
    else:
        xc = _contiguous(_moveaxis(x, ax, 2))
    out = call.empty(tuple(xc.shape))
    call.run(_core.denoise_bilateral, xc, out, ws, sc, ss, nb, border, cv, raw_min, raw_max, cancel=cancel_flag())
    if ax is None:
        out = out.reshape(tuple(x.shape))
    else:
        out = _moveaxis(out, 2, ax)
        if isinstance(out, np.ndarray):
            out = np.ascontiguousarray(out)
    return call.wrap(out)


@batchable
def bilateral_filter(
    image: Any, d: int, sigma_color: float, sigma_space: float, border: str = "reflect_101", *, exact: bool = False
) -> Any:
    """Bilateral filter with OpenCV's parameters and results (``cv2.bilateralFilter``).

    Parameters
    ----------
    image : array
        (H, W), (H, W, 1) or (H, W, 3) image (channels last), uint8 or float32: numpy, or cupy /
        torch / jax (CPU or CUDA). Values must be finite.
    d : int
        Diameter of the window, <= 1025; d <= 0 derives the radius from sigma_space: ``round(1.5 *
        sigma_space)`` (at most 512). The radius ``d // 2`` (at least 1) bounds a disk of taps.
    sigma_color : float
        Range standard deviation, in image units (0..255 for uint8), > 0.
    sigma_space : float
        Spatial standard deviation in pixels, > 0.
    border : {'reflect_101', 'reflect', 'replicate', 'constant', 'wrap'}, optional
        OpenCV's border modes (BORDER_REFLECT_101 is 'dcb|abcd|cba', BORDER_REFLECT 'cba|abcd|dcb';
        'constant' is 0).
    exact : bool, optional
        Evaluate the range weight ``exp(-d**2 / (2 sigma_color**2))`` exactly instead of through
        OpenCV's table (see Notes).

    Returns
    -------
    out : array
        Filtered image, same shape and dtype, in the input's library and device.

    Notes
    -----
    The colour distance d is OpenCV's: the sum of absolute channel differences. OpenCV's tables
    are reproduced: uint8 weights per integer distance, results rounded to nearest (equal to
    cv2's except, on about 1 value in 10^5 or fewer, by 1 where cv2's fused multiply-adds round a
    tie the other way; cv2 5.0's special path for grayscale windows of radius 1 and 2 truncates
    instead of rounding, so there foveal is often 1 above it); float32, 4096 bins per channel
    over C * (max - min) of the image, linearly interpolated (within 1e-5 of cv2's for images in
    [0, 1]). ``exact=True`` is within 1e-6 of the float64 definition. As OpenCV, sigmas <= 1e-6
    and float images with max - min < FLT_EPSILON return a copy; unlike OpenCV, NaN and infinite
    values and negative sigmas are refused.

    Examples
    --------
    >>> import numpy as np, foveal
    >>> img = np.full((8, 8), 10, dtype=np.uint8)
    >>> img[:, 4:] = 200
    >>> img[3, 1] = 30
    >>> out = foveal.restoration.bilateral_filter(img, 5, 50.0, 2.0)
    >>> int(out[3, 1]) < 30, int(out[3, 6])
    (True, 200)
    """
    op = "bilateral_filter"
    call = Call(op, policy="opencv_bilateral", image=image)
    raw = call.arrays["image"]
    if isinstance(d, (bool, np.bool_)):
        raise FovealTypeError(f"{op}: d must be an integer, got bool {d!r}")
    try:
        dd = operator.index(d)
    except TypeError:
        raise FovealTypeError(f"{op}: d must be an integer, got {type(d).__name__} {d!r}") from None
    if dd > 1025:
        raise FovealValueError(f"{op}: d must be <= 1025, got {dd}")
    sc = _sigma(op, "sigma_color", sigma_color)
    ss = _sigma(op, "sigma_space", sigma_space)
    if dd <= 0 and round(ss * 1.5) > 512:
        raise FovealValueError(
            f"{op}: sigma_space must be <= 341 when d <= 0 (radius round(1.5 sigma_space)), got {ss}"
        )
    b = _choice(op, "border", border, _CV_BORDERS)
    if not isinstance(exact, (bool, np.bool_)):
        raise FovealTypeError(f"{op}: exact must be a bool, got {type(exact).__name__} {exact!r}")
    shape = tuple(raw.shape)
    if not (len(shape) == 2 or (len(shape) == 3 and shape[2] in (1, 3))):
        raise FovealValueError(f"{op}: image must have shape (H, W), (H, W, 1) or (H, W, 3), got {shape}")
    x = call.floats("image")
    lo = hi = 0.0
    if call.dtype == "float32":
        if not _all_finite(x):
            raise FovealValueError(f"{op}: image must hold finite values, got NaN or infinity")
        if x.shape[0] * x.shape[1]:
            lo, hi = _reduce(x, "min"), _reduce(x, "max")
    xc = x.reshape(shape + (1,)) if len(shape) == 2 else x
    out = call.empty(tuple(xc.shape))
    call.run(_core.bilateral_filter, xc, out, dd, sc, ss, lo, hi, b, bool(exact), cancel=cancel_flag())
    return call.wrap(out.reshape(shape))
