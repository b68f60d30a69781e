# SPDX-License-Identifier: Apache-2.0
"""Slow float64 NumPy reference of Richardson-Lucy deconvolution, written from the update rule

    f_0 = 0.5,   f_{n+1} = f_n * conv(image / (conv(f_n, psf) + 1e-12), flip(psf)),

with scikit-image's conventions: 'same' convolution centred as scipy's (output i of a length-k
kernel = sum_j in[i + (k-1)//2 - j] psf[j]), the ratio set to 0 where conv + 1e-12 < filter_epsilon
(when filter_epsilon is truthy), the result clamped to [-1, 1] when clip. The boundary is a
``numpy.pad`` of the input: 'constant' (zeros), 'reflect' (numpy's 'symmetric': edge repeated)
or 'wrap'. Every tap is an explicit shifted slice; no scipy.
"""
from __future__ import annotations

import itertools

import numpy as np

_PAD = {"constant": "constant", "reflect": "symmetric", "wrap": "wrap"}


def conv_same(x: np.ndarray, psf: np.ndarray, mode: str = "constant") -> np.ndarray:
    """'same' convolution of ``x`` with ``psf`` (same ndim, psf no larger), boundary ``mode``."""
    x = np.asarray(x, np.float64)
    psf = np.asarray(psf, np.float64)
    c = [(k - 1) // 2 for k in psf.shape]
    # out[i] = sum_j in[i + c - j] psf[j]; in index runs over [i + c - k + 1, i + c]
    lo = [k - 1 - ci for k, ci in zip(psf.shape, c)]
    hi = list(c)
    xp = np.pad(x, list(zip(lo, hi)), mode=_PAD[mode])
    out = np.zeros(x.shape)
    for j in itertools.product(*[range(k) for k in psf.shape]):
        w = psf[j]
        if w == 0:
            continue
        # in index i + c - j  ->  padded index i + c - j + lo = i + (k - 1 - j)
        sl = tuple(slice(k - 1 - ja, k - 1 - ja + n) for k, ja, n in zip(psf.shape, j, x.shape))
        out += w * xp[sl]
    return out


def richardson_lucy(image, psf, num_iter=50, clip=True, filter_epsilon=None, mode="constant") -> np.ndarray:
    image = np.asarray(image, np.float64)
    psf = np.asarray(psf, np.float64)
    f = np.full(image.shape, 0.5)
    flipped = np.flip(psf)
    for _ in range(num_iter):
        conv = conv_same(f, psf, mode) + 1e-12
        if filter_epsilon:
            rel = np.where(conv < filter_epsilon, 0.0, image / conv)
        else:
            rel = image / conv
        f = f * conv_same(rel, flipped, mode)
    if clip:
        f = np.clip(f, -1, 1)
    return f


# -- variants: float64 references of each update (tests/python/test_rl_variants.py) ---------------


def _extrapolate(x, x_prev, alpha):
    """Biggs-Andrews point y = x + alpha (x - x_prev), floored at min(x, 0)."""
    return np.maximum(x + alpha * (x - x_prev), np.minimum(x, 0.0))


def _biggs_alpha(g1, g2):
    den = float(np.sum(g2 * g2))
    if not den > 0:
        return 0.0
    return float(np.clip(np.sum(g1 * g2) / den, 0.0, 1.0))


def tv_divisor(x: np.ndarray, regularization: float, eps: float = 1e-3) -> np.ndarray:
    """1 - lambda div(grad x / sqrt(|grad x|^2 + eps^2)): forward differences (0 at the last
    sample) for the gradient, backward differences (the negative adjoint) for the divergence."""
    x = np.asarray(x, np.float64)
    grads = []
    for a in range(x.ndim):
        g = np.zeros_like(x)
        lo = [slice(None)] * x.ndim
        lo[a] = slice(0, -1)
        g[tuple(lo)] = np.diff(x, axis=a)
        grads.append(g)
    mag = np.sqrt(sum(g * g for g in grads) + eps * eps)
    div = np.zeros_like(x)
    for a, g in enumerate(grads):
        u = g / mag  # 0 at the last sample along a (its difference is 0)
        prev = np.zeros_like(u)
        dst = [slice(None)] * x.ndim
        src = [slice(None)] * x.ndim
        dst[a] = slice(1, None)
        src[a] = slice(0, -1)
        prev[tuple(dst)] = u[tuple(src)]
        div += u - prev
    floor = 1.0 - 2.0 * x.ndim * regularization
    return np.maximum(1.0 - regularization * div, floor)


def _rl_step(image, y, psf, mode, filter_epsilon, divisor=None):
    conv = conv_same(y, psf, mode) + 1e-12
    rel = np.where(conv < filter_epsilon, 0.0, image / conv) if filter_epsilon else image / conv
    out = y * conv_same(rel, np.flip(psf), mode)
    return out if divisor is None else out / divisor


def richardson_lucy_variant(image, psf, num_iter=50, clip=True, filter_epsilon=None, mode="constant",
                            acceleration=None, regularization=0.0) -> np.ndarray:
    """RL from f_0 = 0.5 with Biggs-Andrews extrapolation (acceleration='biggs') and/or the TV
    divisor of Dey et al. (regularization = lambda), evaluated at the extrapolated point."""
    image = np.asarray(image, np.float64)
    psf = np.asarray(psf, np.float64)
    x = np.full(image.shape, 0.5)
    x_prev = x.copy()
    g1 = g2 = None
    for it in range(num_iter):
        alpha = _biggs_alpha(g1, g2) if acceleration == "biggs" and it >= 2 else 0.0
        y = _extrapolate(x, x_prev, alpha) if acceleration == "biggs" else x
        div = tv_divisor(y, regularization) if regularization > 0 else None
        new = _rl_step(image, y, psf, mode, filter_epsilon, div)
        g2, g1 = g1, new - y
        x_prev, x = x, new
    return np.clip(x, -1, 1) if clip else x


def psf_correlation(ratio: np.ndarray, x: np.ndarray, shape, mode: str = "constant") -> np.ndarray:
    """corr[j] = sum_i ratio[i] x[i + c - j] over an odd psf support of ``shape`` (c its centre),
    x read with the boundary ``mode``: the gradient of conv_same(x, k) with respect to k."""
    x = np.asarray(x, np.float64)
    c = [(k - 1) // 2 for k in shape]
    xp = np.pad(x, [(ci, ci) for ci in c], mode=_PAD[mode])
    out = np.zeros(shape)
    for j in itertools.product(*[range(k) for k in shape]):
        # x index i + c - j  ->  padded index i + 2c - j = i + (k - 1 - j)
        sl = tuple(slice(k - 1 - ja, k - 1 - ja + n) for k, ja, n in zip(shape, j, x.shape))
        out[j] = np.sum(ratio * xp[sl])
    return out


def blind_richardson_lucy(image, psf0, num_iter=50, psf_iter=20, image_iter=1, clip=True, filter_epsilon=None,
                          mode="constant", acceleration=None):
    """Blind RL: x_0 = max(image, 0), k_0 = psf0 / sum; per outer iteration image_iter image
    updates (k fixed), then psf_iter psf updates k <- max(k corr(ratio, x) / sum(x), 0) / sum.
    Biggs-Andrews extrapolation (restarted every outer iteration) on both when asked."""
    image = np.asarray(image, np.float64)
    k = np.asarray(psf0, np.float64)
    k = k / k.sum()
    x = np.maximum(image, 0.0)
    acc = acceleration == "biggs"
    for _ in range(num_iter):
        x_prev, g1, g2 = x.copy(), None, None
        for it in range(image_iter):
            alpha = _biggs_alpha(g1, g2) if acc and it >= 2 else 0.0
            y = _extrapolate(x, x_prev, alpha)
            new = _rl_step(image, y, k, mode, filter_epsilon)
            g2, g1 = g1, new - y
            x_prev, x = x, new
        xs = x.sum()
        if not xs > 0:
            break
        k_prev, g1, g2 = k.copy(), None, None
        for it in range(psf_iter):
            alpha = _biggs_alpha(g1, g2) if acc and it >= 2 else 0.0
            y = _extrapolate(k, k_prev, alpha)
            conv = conv_same(x, y, mode) + 1e-12
            rel = np.where(conv < filter_epsilon, 0.0, image / conv) if filter_epsilon else image / conv
            new = np.maximum(y * psf_correlation(rel, x, k.shape, mode) / xs, 0.0)
            s = new.sum()
            if not (s > 0 and np.isfinite(s)):
                break
            new /= s
            g2, g1 = g1, new - y
            k_prev, k = k, new
    return (np.clip(x, -1, 1) if clip else x), k


def total_variation(x: np.ndarray) -> float:
    """Anisotropic TV: sum of |forward differences| over every axis."""
    x = np.asarray(x, np.float64)
    return float(sum(np.abs(np.diff(x, axis=a)).sum() for a in range(x.ndim)))
