# SPDX-License-Identifier: Apache-2.0
"""Slow float64 NumPy reference of Chambolle's total-variation denoising (ROF), written from the
formulas (Chambolle 2004, with scikit-image's conventions for the weight, step and stop rule):

    u_n = f - div p_n,   E_n = (||u_n - f||^2 + weight * sum |grad u_n|) / size,
    p_{n+1} = (p_n - tau grad u_n) / (1 + tau / weight * |grad u_n|),   tau = 1 / (2 ndim),

forward differences for grad (0 across the last element of an axis), its negative adjoint for div.
Iteration n = 0, 1, ... stops after ``max_num_iter`` iterations or at the first n >= 1 with
|E_{n-1} - E_n| < eps * E_0, returning u_n.
"""
from __future__ import annotations

import numpy as np


def grad(u: np.ndarray) -> np.ndarray:
    """Forward differences along every axis, shape (ndim, *u.shape); 0 at each axis' end."""
    g = np.zeros((u.ndim,) + u.shape)
    for a in range(u.ndim):
        n = u.shape[a]
        for i in range(n - 1):
            idx = [slice(None)] * u.ndim
            nxt = list(idx)
            idx[a], nxt[a] = i, i + 1
            g[(a, *idx)] = u[tuple(nxt)] - u[tuple(idx)]
    return g


def div(p: np.ndarray) -> np.ndarray:
    """Backward differences, the negative adjoint of :func:`grad`."""
    ndim = p.shape[0]
    d = np.zeros(p.shape[1:])
    for a in range(ndim):
        pa = p[a]
        prev = np.zeros_like(pa)
        src = [slice(None)] * ndim
        dst = [slice(None)] * ndim
        src[a], dst[a] = slice(0, -1), slice(1, None)
        prev[tuple(dst)] = pa[tuple(src)]
        d += pa - prev
    return d


def total_variation(u: np.ndarray) -> float:
    """Isotropic TV: sum over elements of |grad u|."""
    return float(np.sqrt((grad(u) ** 2).sum(axis=0)).sum())


def rof_energy(u: np.ndarray, f: np.ndarray, weight: float) -> float:
    """The ROF energy Chambolle's iteration minimises: TV(u) + ||u - f||^2 / (2 weight).

    (skimage's stop quantity E_n, (||u - f||^2 + weight TV(u)) / size, lacks the 1/2 and is not
    this energy: it rises after the first iterations while this one falls.)"""
    return total_variation(u) + float(((u - f) ** 2).sum()) / (2.0 * weight)


def tv_chambolle(f, weight=0.1, eps=2e-4, max_num_iter=200):
    """Returns (u, iterations run, [E_0, E_1, ...])."""
    f = np.asarray(f, dtype=np.float64)
    tau = 1.0 / (2.0 * f.ndim)
    p = np.zeros((f.ndim,) + f.shape)
    energies = []
    for n in range(max_num_iter):
        u = f - div(p)
        g = grad(u)
        norm = np.sqrt((g**2).sum(axis=0))
        energies.append(float((((u - f) ** 2).sum() + weight * norm.sum()) / f.size))
        if n > 0 and abs(energies[-2] - energies[-1]) < eps * energies[0]:
            return u, n + 1, energies
        p = (p - tau * g) / (1.0 + tau / weight * norm)
    return u, max_num_iter, energies
