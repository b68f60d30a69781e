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
