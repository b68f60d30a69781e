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

import math
import operator
from typing import Any

import numpy as np

from . import _core
from ._arrays import Call, dtype_name, real, register_policy
from ._errors import FovealTypeError, FovealValueError

__all__ = [
    "add_noise",
    "bilateral_filter",
    "box_psf",
    "denoise_bilateral",
    "denoise_tv_bregman",
    "denoise_tv_chambolle",
    "disk_psf",
    "gaussian_psf",
    "motion_psf",
    "richardson_lucy",
]


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


_RL_MODES = {"constant": 0, "reflect": 1, "wrap": 2}
_RL_METHODS = {"auto": 0, "direct": 1, "separable": 2}


def _tv_bregman(
    image: Any, weight: Any, max_num_iter: Any, eps: Any, isotropic: Any, channel_axis: Any
) -> tuple[Any, list[int]]:
    op = "denoise_tv_bregman"
    call = Call(op, policy="restoration", image=image)
    w = real(op, "weight", weight)
    if not (0 < w < float("inf")):
        raise FovealValueError(f"{op}: weight must be a finite number > 0, got {w}")
    n = _int_arg(op, "max_num_iter", max_num_iter, 0)
    e = real(op, "eps", eps)
    if not (0 <= e < float("inf")):
        raise FovealValueError(f"{op}: eps must be a finite number >= 0, got {e}")
    if not isinstance(isotropic, (bool, np.bool_)):
        raise FovealTypeError(f"{op}: isotropic must be a bool, got {type(isotropic).__name__} {isotropic!r}")
    ax = _channel_axis(op, channel_axis, image.ndim)
    shape = tuple(image.shape)
    if ax is None and len(shape) not in (2, 3):
        raise FovealValueError(
            f"{op}: image must have shape (rows, cols) or (rows, cols, channels) when channel_axis is None, got {shape}"
        )
    if ax is not None and len(shape) != 3:
        raise FovealValueError(f"{op}: image must have 3 dimensions when channel_axis is given, got shape {shape}")
    x = _float_image(call, "image")
    if ax is not None:
        x = _moveaxis(x, ax, -1)
    if x.shape[0] < 2 or x.shape[1] < 2:
        raise FovealValueError(f"{op}: image must have at least 2 rows and 2 columns, got shape {shape}")
    if not _all_finite(x):
        raise FovealValueError(f"{op}: image must hold finite values, got NaN or infinity")
    planes = x.reshape((1,) + tuple(x.shape)) if x.ndim == 2 else _contiguous(_moveaxis(x, -1, 0))
    planes = _contiguous(planes)
    out = call.empty(tuple(planes.shape))
    iters = call.run(_core.denoise_tv_bregman, planes, out, w, e, n, bool(isotropic), ax is None)
    if out.shape[0] == 1:  # skimage squeezes a single channel away
        out = out.reshape(tuple(out.shape[1:]))
    else:
        out = _moveaxis(out, 0, -1 if ax is None else ax)
        if isinstance(out, np.ndarray):
            out = np.ascontiguousarray(out)
    return call.wrap(out), iters


def denoise_tv_bregman(
    image: Any,
    weight: Any = 5.0,
    max_num_iter: Any = 100,
    eps: Any = 1e-3,
    isotropic: Any = True,
    *,
    channel_axis: Any = None,
) -> Any:
    """Total-variation denoising by split-Bregman iteration, as
    ``skimage.restoration.denoise_tv_bregman``.

    Minimises ``sum |grad u| + weight / 2 * sum (u - image)^2`` (``lambda = 2 weight`` in Goldstein
    and Osher's notation) with one Gauss-Seidel sweep per iteration, on scikit-image's border (the
    image extended by its second row/column at the top/left and its last row/column at the
    bottom/right, held fixed).

    Parameters
    ----------
    image : array_like, (rows, cols) or (rows, cols, channels)
        NumPy, torch, CuPy or JAX array; at least 2 rows and 2 columns, finite. Integer images are
        rescaled as ``skimage.img_as_float`` does. Without ``channel_axis``, the channels of a 3-D
        image are denoised together (one stopping rule for all).
    weight : float, optional
        Data-fidelity weight > 0 (more weight: less smoothing).
    max_num_iter : int, optional
        Maximum number of sweeps, >= 0 (0 returns the image).
    eps : float, optional
        Stop once the root mean square change of a sweep is <= eps (computed in the image dtype,
        as skimage does); >= 0.
    isotropic : bool, optional
        Isotropic (True) or anisotropic TV.
    channel_axis : int or None, optional
        Axis of a 3-D image holding channels, each denoised on its own with its own stopping
        rule (in parallel on the CPU): each channel's result is skimage's for that channel alone.
        skimage's own channel loop agrees on the first channel only, because it starts the d and
        b variables of every later channel from the previous channel's result (a reused buffer).

    Returns
    -------
    out : array
        Same shape (a single channel is squeezed away, as skimage does) and library as
        ``image``; float32 for float32/float16 input, else float64.

    Notes
    -----
    CPU: Gauss-Seidel's dependency order is kept exactly; the sum in each update is reassociated
    and the stopping statistic is summed in float64, so results agree with skimage to about 1e-6
    rather than bit for bit (the tests hold them to 1e-4, with the same sweep count). A single
    plane runs on one thread (a Gauss-Seidel sweep is sequential); channels run in parallel.
    CUDA: the same sweep, one image row at a time across the GPU's threads, so it is no faster
    per plane than the CPU; planes run concurrently. It has not been run on a GPU yet.

    Examples
    --------
    >>> import numpy as np
    >>> import foveal.restoration
    >>> img = np.zeros((32, 32), np.float32)
    >>> img[8:24, 8:24] = 1
    >>> noisy = img + np.random.default_rng(0).normal(0, 0.1, img.shape).astype(np.float32)
    >>> out = foveal.restoration.denoise_tv_bregman(noisy, weight=5.0)
    >>> out.shape, out.dtype
    ((32, 32), dtype('float32'))
    >>> bool(np.abs(out - img).mean() < np.abs(noisy - img).mean())
    True
    """
    return _tv_bregman(image, weight, max_num_iter, eps, isotropic, channel_axis)[0]


def _choice(op: str, name: str, value: Any, choices: dict[str, int]) -> int:
    if not isinstance(value, str) or value not in choices:
        raise FovealValueError(f"{op}: {name} must be one of {', '.join(map(repr, choices))}, got {value!r}")
    return choices[value]


def _rl(image: Any, psf: Any, num_iter: Any, clip: Any, filter_epsilon: Any, mode: Any, method: Any) -> tuple[Any, str]:
    op = "richardson_lucy"
    call = Call(op, policy="restoration", image=image, psf=psf)
    n = _int_arg(op, "num_iter", num_iter, 1)
    fe = 0.0 if filter_epsilon is None else real(op, "filter_epsilon", filter_epsilon)
    if not abs(fe) < float("inf"):
        raise FovealValueError(f"{op}: filter_epsilon must be None or a finite number, got {fe}")
    m = _choice(op, "mode", mode, _RL_MODES)
    me = _choice(op, "method", method, _RL_METHODS)
    pdt = dtype_name(psf)
    if not (pdt == "bool" or pdt.startswith(("int", "uint", "float", "bfloat"))):
        raise FovealTypeError(f"{op}: psf must have a real numeric dtype, got {pdt}")
    # skimage casts both to the image's float type, without rescaling integers (no img_as_float)
    x, p = call.floats("image", "psf")
    if not 1 <= x.ndim <= 3:
        raise FovealValueError(f"{op}: image must have 1 to 3 dimensions, got shape {tuple(x.shape)}")
    if not _all_finite(x):
        raise FovealValueError(f"{op}: image must hold finite values, got NaN or infinity")
    out = call.empty(tuple(x.shape))
    used = call.run(_core.richardson_lucy, x, p, out, n, bool(clip), fe, m, me)
    return call.wrap(out), ("direct", "direct", "separable")[used]


def richardson_lucy(
    image: Any,
    psf: Any,
    num_iter: int = 50,
    clip: bool = True,
    filter_epsilon: float | None = None,
    *,
    mode: str = "constant",
    method: str = "auto",
) -> Any:
    """Richardson-Lucy deconvolution, as ``skimage.restoration.richardson_lucy``.

    Starting from ``f = 0.5`` everywhere, each iteration computes
    ``f *= conv(image / (conv(f, psf) + 1e-12), flip(psf))``, with ``conv`` scipy's 'same'
    convolution (output centred as ``scipy.signal.convolve(..., mode='same')``).

    Parameters
    ----------
    image : array
        1-, 2- or 3-D image (numpy, or cupy / torch / jax, CPU or CUDA). Values must be finite.
        float32 and float64 are kept, float16 computes in float32; integer and bool images are
        converted to float64 *without* rescaling, as skimage's ``astype`` does.
    psf : array
        Point spread function, as many dimensions as ``image`` and no larger along any axis;
        finite values with a sum > 0. Cast to the image's float dtype.
    num_iter : int, optional
        Number of iterations, >= 1; exactly that many are run.
    clip : bool, optional
        Clamp the result to [-1, 1] (skimage's convention for float images).
    filter_epsilon : float or None, optional
        When given and nonzero, the ratio is 0 wherever ``conv(f, psf) + 1e-12 < filter_epsilon``.
    mode : {'constant', 'reflect', 'wrap'}, optional
        Boundary of both convolutions: 'constant' is zero padding (skimage's), 'reflect' repeats
        the edge sample (``d c b a | a b c d``, scipy.ndimage's 'reflect'), 'wrap' is periodic.
    method : {'auto', 'direct', 'separable'}, optional
        Convolution path. 'auto' takes 'separable' when the psf is rank 1 (a product of one
        vector per axis: Gaussian, box, axis-aligned motion; checked by exact reconstruction) and
        that needs fewer taps, else 'direct' (which skips zero taps). 'separable' on a psf that is
        not rank 1 raises. All paths give the same result up to rounding.

    Returns
    -------
    out : array
        Deconvolved image, same shape, in the image's library and device; float32 for float16 and
        float32 images, float64 otherwise.

    Notes
    -----
    Tested against scikit-image to 1e-4. With an odd-sized psf of sum 1 and ``mode`` 'constant'
    or 'wrap', the second convolution is the adjoint of the first, so the total flux ``sum(f)``
    equals ``sum(image)`` after every iteration (up to the 1e-12 regulariser); an even-sized psf
    (scipy's 'same' centring shifts one step against the other) or 'reflect' does not keep it.
    There is no FFT path: large psfs run the direct sum (cost per iteration ~ 2 x image size x
    non-zero taps).

    Examples
    --------
    >>> import numpy as np, foveal
    >>> img = np.zeros((5, 5), dtype=np.float32)
    >>> img[2, 2] = 1
    >>> psf = np.ones((3, 3), dtype=np.float32) / 9
    >>> out = foveal.restoration.richardson_lucy(img, psf, num_iter=10)
    >>> out.dtype, out.shape, bool(out[2, 2] == out.max())
    (dtype('float32'), (5, 5), True)
    """
    return _rl(image, psf, num_iter, clip, filter_epsilon, mode, method)[0]


# -- point spread functions and noise (NumPy, float64 by default) -----------------------------------


def _psf_shape(op: str, shape: Any) -> tuple[int, ...]:
    dims = (shape,) if isinstance(shape, (int, np.integer)) and not isinstance(shape, (bool, np.bool_)) else shape
    try:
        out = tuple(_int_arg(op, "shape", d, 1) for d in dims)
    except TypeError:
        raise FovealTypeError(f"{op}: shape must be an integer or a tuple of integers, got {shape!r}") from None
    if not out:
        raise FovealValueError(f"{op}: shape must have at least one dimension, got {shape!r}")
    return out


def _positive(op: str, name: str, value: Any) -> float:
    v = real(op, name, value)
    if not 0 < v < float("inf"):
        raise FovealValueError(f"{op}: {name} must be a finite number > 0, got {v}")
    return v


def gaussian_psf(shape: Any, sigma: Any, dtype: Any = np.float64) -> np.ndarray:
    """Normalised Gaussian point spread function, centred at ``(k - 1) / 2`` on every axis.

    Parameters
    ----------
    shape : int or tuple of int
        Size of the psf (an int makes it 1-D); any number of dimensions. Odd sizes keep the
        centre on a pixel.
    sigma : float or sequence of float
        Standard deviation in pixels, > 0, one for all axes or one per axis.
    dtype : dtype, optional
        Floating-point dtype of the result.

    Returns
    -------
    psf : numpy.ndarray
        ``exp(-sum_a x_a^2 / (2 sigma_a^2))`` on the grid, divided by its sum: rank 1 (the
        product of one 1-D Gaussian per axis), so ``richardson_lucy`` runs it separably.

    Examples
    --------
    >>> import foveal
    >>> p = foveal.restoration.gaussian_psf((5, 5), 1.0)
    >>> p.shape, round(float(p.sum()), 12), bool(p[2, 2] == p.max())
    ((5, 5), 1.0, True)
    """
    op = "gaussian_psf"
    dims = _psf_shape(op, shape)
    sig = [sigma] * len(dims) if np.ndim(sigma) == 0 else list(sigma)
    if len(sig) != len(dims):
        raise FovealValueError(f"{op}: sigma must be a number or have one value per axis ({len(dims)}), got {sigma!r}")
    sig = [_positive(op, "sigma", v) for v in sig]
    psf = np.ones((), np.float64)
    for k, sd in zip(dims, sig):
        x = np.arange(k) - (k - 1) / 2
        g = np.exp(-(x**2) / (2 * sd * sd))
        psf = np.multiply.outer(psf, g / g.sum())
    return (psf / psf.sum()).astype(dtype)


def box_psf(shape: Any, dtype: Any = np.float64) -> np.ndarray:
    """Uniform (box) point spread function of ``shape``, summing to 1.

    Examples
    --------
    >>> import foveal
    >>> foveal.restoration.box_psf((1, 4)).tolist()
    [[0.25, 0.25, 0.25, 0.25]]
    """
    dims = _psf_shape("box_psf", shape)
    return np.full(dims, 1.0 / float(np.prod(dims)), dtype=dtype)


def motion_psf(length: Any, angle: Any = 0.0, dtype: Any = np.float64) -> np.ndarray:
    """Linear motion blur: a segment of ``length`` pixels through the centre of an odd square psf.

    Each pixel weighs the length of the segment inside its unit square (an anti-aliased line,
    computed from 64 samples per pixel of length), normalised to sum 1. At 0 and 90 degrees the
    psf is one row (column) of equal weights, so it is rank 1.

    Parameters
    ----------
    length : float
        Length of the motion in pixels, >= 1.
    angle : float, optional
        Direction in degrees, counter-clockwise from the +x (column) axis, with rows growing
        downward (so 90 is straight up).
    dtype : dtype, optional

    Returns
    -------
    psf : numpy.ndarray
        Square, odd-sized, as small as the segment allows, centred.

    Examples
    --------
    >>> import foveal
    >>> p = foveal.restoration.motion_psf(5)
    >>> p.shape, p[2].tolist()
    ((5, 5), [0.2, 0.2, 0.2, 0.2, 0.2])
    """
    op = "motion_psf"
    L = real(op, "length", length)
    if not 1 <= L < 1e6:
        raise FovealValueError(f"{op}: length must be a finite number >= 1 (and < 1e6), got {L}")
    a = real(op, "angle", angle)
    if not abs(a) < float("inf"):
        raise FovealValueError(f"{op}: angle must be a finite number, got {a}")
    c, s = np.cos(np.deg2rad(a)), np.sin(np.deg2rad(a))
    c, s = (0.0 if abs(c) < 1e-12 else c), (0.0 if abs(s) < 1e-12 else s)
    r = int(np.ceil(L / 2 * max(abs(c), abs(s)) - 0.5))
    n = 2 * r + 1
    samples = max(1, int(np.ceil(L * 64)))
    t = -L / 2 + (np.arange(samples) + 0.5) * (L / samples)
    cols = np.clip(np.rint(t * c).astype(np.int64) + r, 0, n - 1)
    rows = np.clip(np.rint(-t * s).astype(np.int64) + r, 0, n - 1)
    psf = np.zeros((n, n))
    np.add.at(psf, (rows, cols), 1.0)
    return (psf / psf.sum()).astype(dtype)


def disk_psf(radius: Any, dtype: Any = np.float64) -> np.ndarray:
    """Defocus blur: a uniform disk of ``radius`` pixels, anti-aliased, centred, summing to 1.

    Each pixel weighs the fraction of its unit square inside the disk (16 x 16 sub-samples).

    Examples
    --------
    >>> import foveal
    >>> p = foveal.restoration.disk_psf(1.5)
    >>> p.shape, bool(p[1, 1] == p.max()), bool(p[0, 0] < p[0, 1])
    ((3, 3), True, True)
    """
    op = "disk_psf"
    R = _positive(op, "radius", radius)
    if R >= 1e4:
        raise FovealValueError(f"{op}: radius must be < 1e4, got {R}")
    r = max(0, int(np.ceil(R - 0.5)))
    sub = (np.arange(16) + 0.5) / 16 - 0.5
    x = np.arange(-r, r + 1)
    fine = (x[:, None] + sub[None, :]).ravel()  # sub-sample coordinates along one axis
    inside = (fine[:, None] ** 2 + fine[None, :] ** 2) <= R * R
    n = 2 * r + 1
    psf = inside.reshape(n, 16, n, 16).mean(axis=(1, 3))
    return (psf / psf.sum()).astype(dtype)


_NOISE_KINDS = ("gaussian", "poisson", "salt_pepper")


def add_noise(
    image: Any,
    kind: str = "gaussian",
    *,
    sigma: float = 0.1,
    mean: float = 0.0,
    peak: float = 255.0,
    amount: float = 0.05,
    salt_vs_pepper: float = 0.5,
    low: float = 0.0,
    high: float = 1.0,
    rng: Any = None,
) -> np.ndarray:
    """A noisy copy of a float image (NumPy), drawn from ``numpy.random.default_rng(rng)``.

    Parameters
    ----------
    image : numpy.ndarray
        Floating-point image (noise is never added in an integer dtype, where it would clip and
        wrap). Finite values.
    kind : {'gaussian', 'poisson', 'salt_pepper'}
        'gaussian': ``image + normal(mean, sigma)``. 'poisson': ``poisson(image * peak) / peak``
        (``peak`` counts per unit intensity; the image must be >= 0). 'salt_pepper': a fraction
        ``amount`` of the pixels (rounded) is replaced, ``salt_vs_pepper`` of those by ``high``,
        the rest by ``low``.
    sigma, mean, peak, amount, salt_vs_pepper, low, high : float, optional
        Parameters of the chosen kind (the others are ignored).
    rng : None, int or numpy.random.Generator, optional
        Seed or generator; the same seed gives the same noise.

    Returns
    -------
    noisy : numpy.ndarray
        Same shape and dtype as ``image``; not clipped.

    Examples
    --------
    >>> import numpy as np, foveal
    >>> x = np.full((100, 100), 0.5)
    >>> y = foveal.restoration.add_noise(x, "gaussian", sigma=0.1, rng=0)
    >>> round(float(y.std()), 2), y.dtype
    (0.1, dtype('float64'))
    """
    op = "add_noise"
    if not isinstance(image, np.ndarray):
        raise FovealTypeError(f"{op}: image must be a numpy.ndarray, got {type(image).__name__}")
    if image.dtype.kind != "f":
        raise FovealTypeError(f"{op}: image must have a floating-point dtype (convert it first), got {image.dtype}")
    if not np.isfinite(image).all():
        raise FovealValueError(f"{op}: image must hold finite values, got NaN or infinity")
    if kind not in _NOISE_KINDS:
        raise FovealValueError(f"{op}: kind must be one of {', '.join(map(repr, _NOISE_KINDS))}, got {kind!r}")
    gen = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    x = image.astype(np.float64)
    if kind == "gaussian":
        sd = real(op, "sigma", sigma)
        mu = real(op, "mean", mean)
        if not (0 <= sd < float("inf") and abs(mu) < float("inf")):
            raise FovealValueError(f"{op}: sigma must be finite and >= 0 and mean finite, got {sd}, {mu}")
        out = x + gen.normal(mu, sd, x.shape)
    elif kind == "poisson":
        pk = _positive(op, "peak", peak)
        if x.size and x.min() < 0:
            raise FovealValueError(f"{op}: image must be >= 0 for poisson noise, got a minimum of {x.min()}")
        out = gen.poisson(x * pk) / pk
    else:
        am = real(op, "amount", amount)
        sv = real(op, "salt_vs_pepper", salt_vs_pepper)
        if not (0 <= am <= 1 and 0 <= sv <= 1):
            raise FovealValueError(f"{op}: amount and salt_vs_pepper must be in [0, 1], got {am}, {sv}")
        lo_v, hi_v = real(op, "low", low), real(op, "high", high)
        out = x.copy()
        flat = out.reshape(-1)
        n = int(round(am * flat.size))
        idx = gen.choice(flat.size, size=n, replace=False)
        n_salt = int(round(sv * n))
        flat[idx[:n_salt]] = hi_v
        flat[idx[n_salt:]] = lo_v
    return out.astype(image.dtype)


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
    call.run(_core.denoise_bilateral, xc, out, ws, sc, ss, nb, border, cv, raw_min, raw_max)
    if ax is None:
        out = out.reshape(tuple(x.shape))
    else:
        out = _moveaxis(out, 2, ax)
        if isinstance(out, np.ndarray):
            out = np.ascontiguousarray(out)
    return call.wrap(out)


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
    call.run(_core.bilateral_filter, xc, out, dd, sc, ss, lo, hi, b, bool(exact))
    return call.wrap(out.reshape(shape))


# -- non-local means --------------------------------------------------------------------------------

__all__ += ["denoise_nl_means"]


def denoise_nl_means(
    image: Any,
    patch_size: int = 7,
    patch_distance: int = 11,
    h: float = 0.1,
    fast_mode: bool = True,
    sigma: float = 0.0,
    *,
    preserve_range: bool = False,
    channel_axis: int | None = None,
) -> Any:
    """Non-local means denoising of 2-D and 3-D images, as ``skimage.restoration.denoise_nl_means``.

    Each pixel becomes the weighted mean of the pixels within ``patch_distance`` of it (along
    every axis), a pixel weighing more the more its patch resembles the pixel's own patch. The
    image is padded with numpy's 'reflect' mode. With C channels, s = ``patch_size`` and
    ``sigma`` known, the patch distance is the squared difference summed over channels, minus
    ``2 C sigma**2`` per pixel, and the weight ``exp(-max(distance, 0))`` (computed, as in
    skimage, with Schraudolph's fast approximation of exp, within ~4%):

    - ``fast_mode=True``: distance = sum over the ``(s - 1)**D`` box ``[p - s//2 + 1, p + s//2]``
      (skimage's integral-image box) divided by ``C h**2 s**D``; weight 0 beyond 5. The cost does
      not depend on ``patch_size`` (running box sums per shift).
    - ``fast_mode=False``: every term of the ``s**D`` patch weighted by a Gaussian of standard
      deviation ``(s - 1) / 4`` normalised to sum ``1 / (C h**2)``; only search positions inside
      the image count, and a distance already above 5 at the start of a patch row (plane, in 3-D)
      gives weight 0.

    Parameters
    ----------
    image : array
        2-D or 3-D image, plus a channel axis when ``channel_axis`` is given (numpy, or cupy /
        torch / jax, CPU or CUDA). Values must be finite. Every spatial size must be at least
        ``patch_size``.
    patch_size : int, optional
        Size of the patches, an odd integer >= 1 (skimage silently adds 1 to an even size; foveal
        refuses it).
    patch_distance : int, optional
        Maximal distance, in pixels along each axis, of the patches compared, >= 0.
    h : float, optional
        Cut-off distance in grey levels, > 0: the larger, the more permissive (the smoother).
    fast_mode : bool, optional
        The fast, box-patch formulation (default) or the classic Gaussian-weighted one.
    sigma : float, optional
        Standard deviation of the noise, >= 0; subtracted from the patch distances as above.
    preserve_range : bool, optional
        Keep integer values as they are (converted to float64) instead of rescaling them as
        ``img_as_float`` does.
    channel_axis : int or None, optional
        Axis of the channels, if any; patch distances sum over the channels.

    Returns
    -------
    out : array
        Denoised image, same shape, in the image's library and device; float32 for float16 and
        float32 images, float64 otherwise.

    Notes
    -----
    Tested against scikit-image 0.26 to 1e-4 in both modes (2-D, 2-D with channels, 3-D).
    Differences from skimage: even ``patch_size`` and images smaller than the patch raise; 4-D
    images are not supported; the classic mode also accepts 3-D images with channels; where
    skimage's fast exponential overflows (a classic-mode distance above ~700, i.e. a very
    small ``h``) foveal gives weight 0 and skimage a garbage value. On CUDA a first, direct
    version runs (one thread per pixel; fast mode there costs O(patch_size**D) per shift).

    Examples
    --------
    >>> import numpy as np, foveal
    >>> rng = np.random.default_rng(0)
    >>> img = np.zeros((32, 32))
    >>> img[8:24, 8:24] = 1
    >>> noisy = img + 0.2 * rng.standard_normal(img.shape)
    >>> out = foveal.restoration.denoise_nl_means(noisy, patch_size=5, patch_distance=6, h=0.2)
    >>> out.dtype, bool(np.abs(out - img).mean() < np.abs(noisy - img).mean())
    (dtype('float64'), True)
    """
    op = "denoise_nl_means"
    call = Call(op, policy="restoration", image=image)
    ps = _int_arg(op, "patch_size", patch_size, 1)
    if ps % 2 == 0:
        raise FovealValueError(f"{op}: patch_size must be an odd integer >= 1, got {ps}")
    pd = _int_arg(op, "patch_distance", patch_distance, 0)
    hv = real(op, "h", h)
    if not 0 < hv < float("inf"):
        raise FovealValueError(f"{op}: h must be a finite number > 0, got {hv}")
    sg = real(op, "sigma", sigma)
    if not 0 <= sg < float("inf"):
        raise FovealValueError(f"{op}: sigma must be a finite number >= 0, got {sg}")
    ax = _channel_axis(op, channel_axis, image.ndim)
    shape = tuple(image.shape)
    spatial = [n for i, n in enumerate(shape) if i != ax]
    if len(spatial) not in (2, 3):
        extra = " besides the channel axis" if ax is not None else " (pass channel_axis for a colour image)"
        raise FovealValueError(f"{op}: image must have 2 or 3 spatial dimensions{extra}, got shape {shape}")
    if min(spatial) < ps:
        raise FovealValueError(f"{op}: image must be at least patch_size ({ps}) along every spatial axis, got shape {shape}")
    if ax is not None and shape[ax] == 0:
        raise FovealValueError(f"{op}: image must have at least one channel, got shape {shape}")
    x = call.floats("image") if preserve_range else _float_image(call, "image")
    if not _all_finite(x):
        raise FovealValueError(f"{op}: image must hold finite values, got NaN or infinity")
    xc = x.reshape(shape + (1,)) if ax is None else _contiguous(_moveaxis(x, ax, -1))
    out = call.empty(tuple(xc.shape))
    call.run(_core.denoise_nl_means, xc, out, ps, pd, hv, sg, bool(fast_mode))
    if ax is None:
        out = out.reshape(shape)
    else:
        out = _moveaxis(out, -1, ax)
        if isinstance(out, np.ndarray):
            out = np.ascontiguousarray(out)
    return call.wrap(out)


__all__ += ["fast_nl_means"]


def _uint8_policy(op: str, dtypes: dict[str, str], cuda: bool) -> str:
    """uint8 images only (OpenCV's L2 fastNlMeansDenoising)."""
    arg, dt = next(iter(dtypes.items()))
    if dt != "uint8":
        raise FovealTypeError(f"{op}: {arg} must be uint8, got {dt}")
    return "uint8"


register_policy("nlm_uint8", _uint8_policy)


def fast_nl_means(
    image: Any, h: float = 3, template_window_size: int = 7, search_window_size: int = 21, *, h_color: float | None = None
) -> Any:
    """Non-local means of a grey uint8 image, as OpenCV's ``cv2.fastNlMeansDenoising`` (L2 norm).

    Every pixel is the weighted mean of the ``search_window_size``-square window around it; a
    pixel weighs by the sum of squared differences ``ssd`` between the ``template_window_size``
    patches (t x t) around the two, through OpenCV's fixed-point table: with S the search size,
    ``M = (2**31 - 1) // (S**2 * 255)`` and ``k = ceil(log2(t**2))``, the weight is
    ``W[ssd >> k]``, ``W[a] = round(M * exp(-a * 2**k / t**2 / h**2))`` (0 below ``0.001 M``),
    and the result ``(sum W x + sum W // 2) // sum W``. The border is reflect-101 (OpenCV's
    default).

    Parameters
    ----------
    image : array
        2-D uint8 grey image (numpy, or a CPU torch tensor / jax array).
    h : float, optional
        Filter strength, > 0: the larger, the smoother.
    template_window_size : int, optional
        Patch size, odd >= 1 (OpenCV's recommended 7).
    search_window_size : int, optional
        Search window size, odd >= 1 (OpenCV's recommended 21); the cost grows with its square.
    h_color : float or None, optional
        For colour images in OpenCV's ``fastNlMeansDenoisingColored``; colour is not supported
        yet, so it must be None.

    Returns
    -------
    out : array
        Denoised uint8 image, same shape, in the image's library.

    Notes
    -----
    Tested equal to cv2.fastNlMeansDenoising (OpenCV 5.0) pixel for pixel. CPU only (CUDA arrays
    raise). OpenCV rounds even window sizes down to odd ones; foveal refuses them. Only uint8
    (OpenCV's L2 norm); uint16 needs OpenCV's L1 norm and is not provided.

    Examples
    --------
    >>> import numpy as np, foveal
    >>> img = np.full((16, 16), 100, np.uint8)
    >>> img[4:12, 4:12] = 200
    >>> noisy = np.clip(img + np.random.default_rng(0).normal(0, 10, img.shape), 0, 255).astype(np.uint8)
    >>> out = foveal.restoration.fast_nl_means(noisy, h=10)
    >>> out.dtype, bool(np.abs(out.astype(int) - img).mean() < np.abs(noisy.astype(int) - img).mean())
    (dtype('uint8'), True)
    """
    op = "fast_nl_means"
    call = Call(op, policy="nlm_uint8", image=image)
    hv = real(op, "h", h)
    if not 0 < hv < float("inf"):
        raise FovealValueError(f"{op}: h must be a finite number > 0, got {hv}")
    t = _int_arg(op, "template_window_size", template_window_size, 1)
    s = _int_arg(op, "search_window_size", search_window_size, 1)
    for name, v in (("template_window_size", t), ("search_window_size", s)):
        if v % 2 == 0:
            raise FovealValueError(f"{op}: {name} must be an odd integer >= 1, got {v}")
    if h_color is not None:
        raise FovealValueError(f"{op}: h_color must be None: colour images are not supported yet, got {h_color!r}")
    if image.ndim != 2:
        raise FovealValueError(f"{op}: image must be a 2-D grey image (rows, cols), got shape {tuple(image.shape)}")
    x = call.floats("image")
    out = call.empty(tuple(x.shape))
    call.run(_core.fast_nl_means, x, out, hv, t, s)
    return call.wrap(out)
