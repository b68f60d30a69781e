"""Slow float64 NumPy references of RoIAlign and RoIPool (and their gradients), written from
torchvision's definitions:

RoIAlign: a RoI [b, x1, y1, x2, y2] maps to the map as corner * spatial_scale (- 0.5 when
aligned; unaligned RoIs are at least 1x1). Bin (ph, pw) averages grid_h x grid_w samples at
start + p * bin + (i + 0.5) * bin / grid (grid = sampling_ratio, or ceil(extent / pooled) when
sampling_ratio <= 0), divided by max(grid_h * grid_w, 1). A sample (y, x) outside
[-1, H] x [-1, W] is 0; otherwise coordinates <= 0 become 0, and a low index >= size - 1 pins
both taps (and the coordinate) to size - 1.

RoIPool: corners round(corner * spatial_scale) (half away from zero), extent max(end - start
+ 1, 1); bin p covers [floor(p * R / P), ceil((p + 1) * R / P)) (torchvision) or floor(R / P)
pixels with the remainder in the last bin (seed); clipped to the map; the max over the bin by a
row-major scan with `>` from -FLT_MAX (0 and argmax -1 for an empty bin).
"""
from __future__ import annotations

import math

import numpy as np

FLT_MAX = float(np.finfo(np.float32).max)


def _align_geometry(roi, scale, ph, pw, sampling_ratio, aligned):
    off = 0.5 if aligned else 0.0
    sx, sy, ex, ey = (float(v) * scale - off for v in roi[1:])
    rw, rh = ex - sx, ey - sy
    if not aligned:
        rw, rh = max(rw, 1.0), max(rh, 1.0)
    gh = sampling_ratio if sampling_ratio > 0 else max(math.ceil(rh / ph), 0)
    gw = sampling_ratio if sampling_ratio > 0 else max(math.ceil(rw / pw), 0)
    return sy, sx, rh / ph, rw / pw, gh, gw, max(gh * gw, 1)


def _taps(v, size):
    """Per-axis (lo, hi, w_lo, w_hi, valid) for coordinates v (float64 array)."""
    valid = (v >= -1.0) & (v <= size)
    v = np.where(v <= 0, 0.0, v)
    lo = np.floor(v).astype(np.int64)
    edge = lo >= size - 1
    lo = np.where(edge, size - 1, lo)
    hi = np.where(edge, size - 1, lo + 1)
    v = np.where(edge, lo.astype(np.float64), v)
    l = v - lo
    return lo.clip(0, size - 1), hi.clip(0, size - 1), 1.0 - l, l, valid


def _align_samples(roi, scale, h, w, ph, pw, sampling_ratio, aligned):
    """For each bin: list of (flat index, weight) over all samples, weights already / count."""
    sy, sx, bh, bw, gh, gw, count = _align_geometry(roi, scale, ph, pw, sampling_ratio, aligned)
    out = {}
    for p in range(ph):
        ys = sy + p * bh + (np.arange(gh) + 0.5) * bh / max(gh, 1)
        ylo, yhi, ywl, ywh, yv = _taps(ys, h)
        for q in range(pw):
            xs = sx + q * bw + (np.arange(gw) + 0.5) * bw / max(gw, 1)
            xlo, xhi, xwl, xwh, xv = _taps(xs, w)
            idx, wts = [], []
            for i in range(gh):
                for j in range(gw):
                    if not (yv[i] and xv[j]):
                        continue
                    for yy, wy in ((ylo[i], ywl[i]), (yhi[i], ywh[i])):
                        for xx, wx in ((xlo[j], xwl[j]), (xhi[j], xwh[j])):
                            idx.append(yy * w + xx)
                            wts.append(wy * wx / count)
            out[p, q] = (np.array(idx, np.int64), np.array(wts, np.float64))
    return out


def roi_align_ref(x, rois, output_size, spatial_scale=1.0, sampling_ratio=-1, aligned=False):
    x = np.asarray(x, np.float64)
    rois = np.asarray(rois, np.float64)
    ph, pw = output_size
    n, c, h, w = x.shape
    out = np.zeros((rois.shape[0], c, ph, pw))
    flat = x.reshape(n, c, h * w)
    for k, roi in enumerate(rois):
        b = int(roi[0])
        for (p, q), (idx, wts) in _align_samples(roi, spatial_scale, h, w, ph, pw, sampling_ratio, aligned).items():
            if idx.size:
                out[k, :, p, q] = flat[b][:, idx] @ wts
    return out


def roi_align_backward_ref(grad, rois, input_shape, spatial_scale=1.0, sampling_ratio=-1, aligned=False):
    grad = np.asarray(grad, np.float64)
    rois = np.asarray(rois, np.float64)
    n, c, h, w = input_shape
    _, _, ph, pw = grad.shape
    gi = np.zeros((n, c, h * w))
    for k, roi in enumerate(rois):
        b = int(roi[0])
        for (p, q), (idx, wts) in _align_samples(roi, spatial_scale, h, w, ph, pw, sampling_ratio, aligned).items():
            for i, wt in zip(idx, wts):
                gi[b, :, i] += grad[k, :, p, q] * wt
    return gi.reshape(n, c, h, w)


def _round_half_away(v):
    return math.copysign(math.floor(abs(v) + 0.5), v)


def _pool_span(c0, c1, scale, pooled, p, size, seed, dtype):
    s = int(_round_half_away(float(dtype(c0) * dtype(scale))))
    e = int(_round_half_away(float(dtype(c1) * dtype(scale))))
    r = max(e - s + 1, 1)
    if seed:
        q = r // pooled
        lo, hi = p * q, (r if p == pooled - 1 else (p + 1) * q)
    else:
        binsz = dtype(r) / dtype(pooled)  # torchvision divides in the input's dtype
        lo, hi = int(math.floor(dtype(p) * binsz)), int(math.ceil(dtype(p + 1) * binsz))
    return min(max(lo + s, 0), size), min(max(hi + s, 0), size)


def roi_pool_ref(x, rois, output_size, spatial_scale=1.0, bins="torchvision"):
    """Returns (out float64, argmax int64). Geometry in x's dtype, as torchvision computes it."""
    dtype = np.float32 if np.asarray(x).dtype == np.float32 else np.float64
    x = np.asarray(x, np.float64)
    rois = np.asarray(rois, np.float64)
    ph, pw = output_size
    n, c, h, w = x.shape
    out = np.zeros((rois.shape[0], c, ph, pw))
    am = np.full((rois.shape[0], c, ph, pw), -1, np.int64)
    for k, roi in enumerate(rois):
        b = int(roi[0])
        for p in range(ph):
            h0, h1 = _pool_span(roi[2], roi[4], spatial_scale, ph, p, h, bins == "seed", dtype)
            for q in range(pw):
                w0, w1 = _pool_span(roi[1], roi[3], spatial_scale, pw, q, w, bins == "seed", dtype)
                if h1 <= h0 or w1 <= w0:
                    continue
                for ch in range(c):
                    m, at = -FLT_MAX, -1
                    for yy in range(h0, h1):
                        for xx in range(w0, w1):
                            if x[b, ch, yy, xx] > m:
                                m, at = x[b, ch, yy, xx], yy * w + xx
                    out[k, ch, p, q], am[k, ch, p, q] = m, at
    return out, am


def roi_pool_backward_ref(grad, rois, argmax, input_shape):
    n, c, h, w = input_shape
    gi = np.zeros((n, c, h * w))
    for k, roi in enumerate(np.asarray(rois, np.float64)):
        b = int(roi[0])
        for ch in range(c):
            for a, g in zip(argmax[k, ch].ravel(), np.asarray(grad, np.float64)[k, ch].ravel()):
                if a >= 0:
                    gi[b, ch, a] += g
    return gi.reshape(n, c, h, w)
