"""Slow float64 NumPy oracles of 2-D pooling, written from torch.nn.functional's documented
semantics (independent of foveal's C++ math): explicit windows, one output element at a time.

Every function takes ``x`` of shape (P, H, W) (planes) and returns float64 values (and int64
indices for max pooling)."""

from __future__ import annotations

import math

import numpy as np


def out_size(n: int, k: int, s: int, p: int, d: int = 1, ceil_mode: bool = False) -> int:
    """torch's rule: floor (or ceil) of the sliding-window count; in ceil mode a last window that
    would start at or past ``n + p`` (in the right padding) is dropped."""
    span = d * (k - 1) + 1
    num = n + 2 * p - span
    o = (math.ceil(num / s) if ceil_mode else math.floor(num / s)) + 1
    if ceil_mode and (o - 1) * s >= n + p:
        o -= 1
    return o


def _taps(o: int, n: int, k: int, s: int, p: int, d: int) -> list[int]:
    """Input positions of window ``o`` that lie inside [0, n), in order."""
    return [o * s - p + i * d for i in range(k) if 0 <= o * s - p + i * d < n]


def _max_window(vals: np.ndarray, flat: list[int]) -> tuple[float, int]:
    """NaN if any tap is NaN (index: the last NaN), else the maximum (index: its first place)."""
    nan = np.flatnonzero(np.isnan(vals))
    if nan.size:
        return math.nan, flat[nan[-1]]
    j = int(np.argmax(vals))  # argmax returns the first maximum
    return float(vals[j]), flat[j]


def max_pool2d_ref(x, k, s, p, d=(1, 1), ceil_mode=False):
    x = np.asarray(x, dtype=np.float64)
    P, H, W = x.shape
    oh, ow = out_size(H, k[0], s[0], p[0], d[0], ceil_mode), out_size(W, k[1], s[1], p[1], d[1], ceil_mode)
    out = np.empty((P, oh, ow))
    idx = np.empty((P, oh, ow), np.int64)
    for i in range(oh):
        rows = _taps(i, H, k[0], s[0], p[0], d[0])
        for j in range(ow):
            cols = _taps(j, W, k[1], s[1], p[1], d[1])
            flat = [r * W + c for r in rows for c in cols]
            for q in range(P):
                if not flat:
                    out[q, i, j], idx[q, i, j] = -math.inf, -1  # torch's index here is its own
                    continue
                out[q, i, j], idx[q, i, j] = _max_window(x[q].reshape(-1)[flat], flat)
    return out, idx


def avg_pool2d_ref(x, k, s, p, ceil_mode=False, count_include_pad=True, divisor_override=None):
    x = np.asarray(x, dtype=np.float64)
    P, H, W = x.shape
    oh, ow = out_size(H, k[0], s[0], p[0], 1, ceil_mode), out_size(W, k[1], s[1], p[1], 1, ceil_mode)
    out = np.empty((P, oh, ow))

    def padded_len(o, n, kk, ss, pp):
        # window positions counted by count_include_pad: inside [-p, n + p)
        return len([t for t in range(o * ss - pp, o * ss - pp + kk) if -pp <= t < n + pp])

    for i in range(oh):
        rows = _taps(i, H, k[0], s[0], p[0], 1)
        for j in range(ow):
            cols = _taps(j, W, k[1], s[1], p[1], 1)
            if divisor_override is not None:
                div = divisor_override
            elif count_include_pad:
                div = padded_len(i, H, k[0], s[0], p[0]) * padded_len(j, W, k[1], s[1], p[1])
            else:
                div = len(rows) * len(cols)
            win = x[:, rows][:, :, cols]
            out[:, i, j] = win.sum(axis=(1, 2)) / div
    return out


def _bins(o: int, n: int) -> list[tuple[int, int]]:
    return [((i * n) // o, -((-(i + 1) * n) // o)) for i in range(o)]


def adaptive_max_pool2d_ref(x, output_size):
    x = np.asarray(x, dtype=np.float64)
    P, H, W = x.shape
    out = np.empty((P, *output_size))
    idx = np.empty((P, *output_size), np.int64)
    for i, (r0, r1) in enumerate(_bins(output_size[0], H)):
        for j, (c0, c1) in enumerate(_bins(output_size[1], W)):
            flat = [r * W + c for r in range(r0, r1) for c in range(c0, c1)]
            for q in range(P):
                out[q, i, j], idx[q, i, j] = _max_window(x[q].reshape(-1)[flat], flat)
    return out, idx


def adaptive_avg_pool2d_ref(x, output_size):
    x = np.asarray(x, dtype=np.float64)
    P, H, W = x.shape
    out = np.empty((P, *output_size))
    for i, (r0, r1) in enumerate(_bins(output_size[0], H)):
        for j, (c0, c1) in enumerate(_bins(output_size[1], W)):
            out[:, i, j] = x[:, r0:r1, c0:c1].mean(axis=(1, 2))
    return out
