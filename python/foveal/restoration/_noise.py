# SPDX-License-Identifier: Apache-2.0
"""Seeded noise models, computed on floats."""
from __future__ import annotations

from typing import Any

import numpy as np

from .._arrays import host_array, real
from .._errors import FovealTypeError, FovealValueError
from ._psf import _positive


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
    image : array
        numpy, or a torch / cupy / jax array on the CPU (the result is numpy). Floating-point
        image (noise is never added in an integer dtype, where it would clip and wrap). Finite
        values.
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
    image = host_array(op, "image", image, sequences=False)
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
