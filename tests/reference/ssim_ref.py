# SPDX-License-Identifier: Apache-2.0
"""Slow float64 NumPy reference of the structural similarity index (Wang et al. 2004), with
scikit-image's conventions, written from the formulas:

    mu_x = w * x, sigma_x^2 = c (w * x^2 - mu_x^2), sigma_xy = c (w * xy - mu_x mu_y)
    S = (2 mu_x mu_y + C1)(2 sigma_xy + C2) / ((mu_x^2 + mu_y^2 + C1)(sigma_x^2 + sigma_y^2 + C2))

with w a separable window (uniform of side win_size, or a normalised Gaussian of radius
int(3.5 sigma + 0.5)) applied with half-sample symmetric extension at every border, c = NP / (NP - 1)
for the sample covariance (NP = win_size^ndim), C1 = (K1 R)^2, C2 = (K2 R)^2, and the mean of S
over the image cropped by (win_size - 1) // 2 on every side. The gradient with respect to y is
Avanaki's (2009, eqs. 7-8). Each output pixel is an explicit sum over its window (no running sums).
"""
from __future__ import annotations

import math

import numpy as np


def taps(win_size: int, gaussian: bool, sigma: float) -> np.ndarray:
    if not gaussian:
        return np.full(win_size, 1.0 / win_size)
    if sigma <= 1e-15:
        return np.ones(1)
    r = int(3.5 * sigma + 0.5)
    x = np.arange(-r, r + 1, dtype=np.float64)
    w = np.exp(-0.5 * x * x / (sigma * sigma))
    return w / w.sum()


def _sym(j: int, n: int) -> int:
    """Half-sample symmetric index: ... b a | a b c ... c b a | a b ..."""
    m = j % (2 * n)
    return m if m < n else 2 * n - 1 - m


def window_mean(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """sum_k w[k] x[i + k - r] along every axis, symmetric extension, pixel by pixel."""
    r = (len(w) - 1) // 2
    out = np.asarray(x, dtype=np.float64)
    for a in range(out.ndim):
        n = out.shape[a]
        res = np.zeros_like(out)
        for i in range(n):
            acc = np.zeros_like(np.take(out, 0, axis=a))
            for k in range(len(w)):
                acc = acc + w[k] * np.take(out, _sym(i - r + k, n), axis=a)
            idx = [slice(None)] * out.ndim
            idx[a] = i
            res[tuple(idx)] = acc
        out = res
    return out


def ssim(x, y, *, data_range, win_size=None, gaussian=False, sigma=1.5, K1=0.01, K2=0.03, sample_cov=True,
         gradient=False):
    """Returns (mean SSIM, S image[, gradient wrt y])."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if win_size is None:
        win_size = 2 * int(3.5 * sigma + 0.5) + 1 if gaussian else 7
    w = taps(win_size, gaussian, sigma)
    np_ = win_size**x.ndim
    c = np_ / (np_ - 1) if sample_cov else 1.0
    mx, my = window_mean(x, w), window_mean(y, w)
    vx = c * (window_mean(x * x, w) - mx * mx)
    vy = c * (window_mean(y * y, w) - my * my)
    vxy = c * (window_mean(x * y, w) - mx * my)
    C1, C2 = (K1 * data_range) ** 2, (K2 * data_range) ** 2
    a1, a2 = 2 * mx * my + C1, 2 * vxy + C2
    b1, b2 = mx * mx + my * my + C1, vx + vy + C2
    s = a1 * a2 / (b1 * b2)
    p = (win_size - 1) // 2
    inner = s[tuple(slice(p, n - p) for n in s.shape)]
    mean = math.fsum(inner.ravel().tolist()) / inner.size
    if not gradient:
        return mean, s
    d = b1 * b2
    g = window_mean(a1 / d, w) * x + window_mean(-s / b2, w) * y + window_mean((mx * (a2 - a1) - my * (b2 - b1) * s) / d, w)
    return mean, s, g * (2.0 / x.size)
