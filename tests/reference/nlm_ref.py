# SPDX-License-Identifier: Apache-2.0
"""Slow float64 NumPy reference of non-local means, written from the definitions (Buades, Coll &
Morel 2005; the fast box formulation of Darbon et al. 2008), with scikit-image's conventions:

- image (spatial..., C), padded with numpy's 'reflect' mode;
- out(p) = sum_t w(p, t) x(p + t) / sum_t w(p, t), t in [-d, d]^D;
- d2(q, t) = sum_c (x_c(q) - x_c(q + t))^2 - 2 C sigma^2;
- fast: dist = max(sum of d2 over the box [p - o + 1, p + o]^D, 0) / (C h^2 s^D), o = s // 2;
  w = 0 if dist > 5 else fexp(-dist);
- classic: g = Gaussian(std (s - 1) / 4) on the s^D patch, scaled to sum 1 / (C h^2);
  dist = sum g(k) d2(p - o + k, t); only t with p + t inside the image; w = 0 when a partial sum
  over the first i patch rows (planes in 3-D), 1 <= i < s, exceeds 5, else fexp(-max(dist, 0)).

fexp is Schraudolph's approximation of exp, which scikit-image uses; ``exact=True`` swaps in
numpy's exp (for property checks).
"""
from __future__ import annotations

import itertools

import numpy as np


def fexp(y: np.ndarray) -> np.ndarray:
    """Schraudolph's exp: high 32 bits = trunc(2^20 / ln 2 * y) + 1072632447, low bits 0 (0 below -700)."""
    y = np.asarray(y, dtype=np.float64)
    hi = np.trunc(1512775.3951951856938 * np.maximum(y, -700.0)).astype(np.int64) + 1072632447
    out = (hi.astype(np.uint64) << np.uint64(32)).view(np.float64)
    return np.where(y < -700.0, 0.0, out)


def _shifted(p: np.ndarray, start: tuple[int, ...], shape: tuple[int, ...]) -> np.ndarray:
    return p[tuple(slice(a, a + n) for a, n in zip(start, shape))]


def nl_means(x: np.ndarray, s: int, d: int, h: float, sigma: float, fast: bool, exact: bool = False) -> np.ndarray:
    """NLM of ``x`` of shape (spatial..., C) in float64 (see the module docstring)."""
    x = np.asarray(x, dtype=np.float64)
    D, C = x.ndim - 1, x.shape[-1]
    shape = x.shape[:-1]
    o = s // 2
    pad = o + d + 1
    P = np.pad(x, [(pad, pad)] * D + [(0, 0)], mode="reflect")
    ex = np.exp if exact else fexp
    num = np.zeros(x.shape)
    den = np.zeros(shape)
    var2c = 2.0 * C * sigma * sigma
    if not fast:
        r = np.arange(s) - o
        a = (s - 1) / 4.0
        grids = np.meshgrid(*([r] * D), indexing="ij")
        g = np.ones([s] * D) if s == 1 else np.exp(-sum(q * q for q in grids) / (2 * a * a))
        g = g / (C * g.sum() * h * h)
    for t in itertools.product(range(-d, d + 1), repeat=D):
        val = _shifted(P, tuple(pad + ti for ti in t), shape)
        if fast:
            # d2 on the region the boxes need: coordinates [-o + 1 - 1, n + o) (one extra for cumsum)
            lo = [pad - o for _ in range(D)]
            ext = tuple(n + 2 * o for n in shape)
            a_ = _shifted(P, tuple(lo), ext)
            b_ = _shifted(P, tuple(l + ti for l, ti in zip(lo, t)), ext)
            d2 = ((a_ - b_) ** 2).sum(-1) - var2c  # d2[k] at coordinate k - o
            cs = d2
            for ax in range(D):
                cs = np.cumsum(cs, axis=ax)
                cs = np.concatenate([np.zeros_like(np.take(cs, [0], axis=ax)), cs], axis=ax)
            # box over coordinates [p - o + 1, p + o] = d2 indices [p + 1, p + 2o]: S[p + 2o + 1] - S[p + 1]
            box = np.zeros(shape)
            for corner in itertools.product((0, 1), repeat=D):
                idx = tuple(slice(1 + 2 * o * c, 1 + 2 * o * c + n) for c, n in zip(corner, shape))
                box += (-1) ** (D - sum(corner)) * cs[idx]
            dist = np.maximum(box, 0) / (C * h * h * float(s) ** D)
            w = np.where(dist > 5.0, 0.0, ex(-dist))
        else:
            inside = np.ones(shape, dtype=bool)
            for ax, ti in enumerate(t):
                coord = np.arange(shape[ax]).reshape([-1 if i == ax else 1 for i in range(D)]) + ti
                inside &= (coord >= 0) & (coord < shape[ax])
            rows = np.zeros((s,) + shape)
            for k in itertools.product(range(s), repeat=D):
                a_ = _shifted(P, tuple(pad - o + ki for ki in k), shape)
                b_ = _shifted(P, tuple(pad - o + ki + ti for ki, ti in zip(k, t)), shape)
                rows[k[0]] += g[k] * (((a_ - b_) ** 2).sum(-1) - var2c)
            part = np.cumsum(rows, axis=0)
            cut = (part[:-1] > 5.0).any(axis=0) if s > 1 else np.zeros(shape, dtype=bool)
            w = np.where(cut | ~inside, 0.0, ex(-np.maximum(part[-1], 0)))
        den += w
        num += w[..., None] * val
    return num / den[..., None]
