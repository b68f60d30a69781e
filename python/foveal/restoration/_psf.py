# SPDX-License-Identifier: Apache-2.0
"""Point spread functions (NumPy, float64 by default)."""
from __future__ import annotations

from typing import Any

import numpy as np

from .._arrays import real
from .._errors import FovealTypeError, FovealValueError
from ._common import _int_arg


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
