"""Slow NumPy oracles of torch.nn.functional.interpolate (nearest, bilinear) for NCHW, written
from torch's documented index rules (independent of foveal's C++ code)."""

from __future__ import annotations

import numpy as np


def _scale(n_in, n_out, scale_factor, dtype):
    if scale_factor:
        return dtype(1.0 / scale_factor)
    return dtype(n_in) / dtype(n_out)


def nearest_ref(x, out_hw, scales=(None, None)):
    """src = min(floor(dst * scale), n_in - 1), scale in float32 (torch's legacy nearest)."""
    x = np.asarray(x)
    idx = []
    for n_in, n_out, sf in zip(x.shape[2:], out_hw, scales):
        if n_out == n_in:
            idx.append(np.arange(n_out))
        elif n_out == 2 * n_in:
            idx.append(np.arange(n_out) // 2)
        else:
            s = _scale(n_in, n_out, sf, np.float32)
            src = np.floor(np.arange(n_out, dtype=np.float32) * s).astype(np.int64)
            idx.append(np.minimum(src, n_in - 1))
    return x[:, :, idx[0][:, None], idx[1][None, :]]


def bilinear_ref(x, out_hw, align_corners=False, scales=(None, None)):
    """Float64 2x2 blend at torch's source coordinates."""
    x = np.asarray(x, dtype=np.float64)
    taps = []
    for n_in, n_out, sf in zip(x.shape[2:], out_hw, scales):
        d = np.arange(n_out, dtype=np.float64)
        if align_corners:
            s = (n_in - 1) / (n_out - 1) if n_out > 1 else 0.0
            src = d * s
        else:
            s = 1.0 / sf if sf else n_in / n_out
            src = np.maximum((d + 0.5) * s - 0.5, 0.0)
        lo = np.minimum(np.floor(src).astype(np.int64), n_in - 1)
        hi = np.minimum(lo + 1, n_in - 1)
        w = np.clip(src - lo, 0.0, 1.0)
        taps.append((lo, hi, w))
    (ylo, yhi, wy), (xlo, xhi, wx) = taps
    wy, wx = wy[:, None], wx[None, :]
    a = x[:, :, ylo[:, None], xlo[None, :]]
    b = x[:, :, ylo[:, None], xhi[None, :]]
    c = x[:, :, yhi[:, None], xlo[None, :]]
    e = x[:, :, yhi[:, None], xhi[None, :]]
    return (1 - wy) * ((1 - wx) * a + wx * b) + wy * ((1 - wx) * c + wx * e)
