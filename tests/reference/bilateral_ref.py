# SPDX-License-Identifier: Apache-2.0
"""Slow float64 NumPy reference of the bilateral filter (Tomasi & Manduchi 1998), written from
the definition

    out(p) = sum_q w(p, q) I(q) / sum_q w(p, q),
    w(p, q) = s(q - p) * r(dist(I(p), I(q))),

over a list of window taps q - p = (dy, dx) with spatial weights s, an image padded by
``numpy.pad`` (one border mode per call) and a range weight r of the colour distance (Euclidean
'l2' or the sum of absolute channel differences 'l1', OpenCV's). The tap lists and range weights
of scikit-image and OpenCV are built here from their documented parameters.
"""
from __future__ import annotations

import math

import numpy as np

# OpenCV border names -> numpy.pad modes.
CV_BORDERS = {
    "reflect_101": "reflect",
    "reflect": "symmetric",
    "replicate": "edge",
    "wrap": "wrap",
    "constant": "constant",
}


def gaussian_taps(radius: int, sigma: float, disk: bool = False):
    """Taps (dy, dx, exp(-(dy^2 + dx^2) / (2 sigma^2))) of the square window of half-width
    ``radius`` (or of its disk dy^2 + dx^2 <= radius^2), row-major."""
    taps = []
    for dy in range(-radius, radius + 1):
        for dx in range(-radius, radius + 1):
            r2 = dy * dy + dx * dx
            if disk and math.sqrt(r2) > radius:
                continue
            taps.append((dy, dx, math.exp(-0.5 * r2 / (sigma * sigma))))
    return taps


def skimage_taps(win_size: int, sigma_spatial: float):
    """scikit-image's taps: window half-width (win_size - 1) // 2; the spatial weight of window
    cell (kr, kc) is entry kr * win_size + kc of the flattened Gaussian table over the grid
    arange(-win_size // 2, win_size // 2 + 1)^2 (that grid has win_size + 1 points per axis for
    an odd win_size, so the weights are not centred: skimage's behaviour, reproduced)."""
    grid = np.arange(-win_size // 2, win_size // 2 + 1)
    rr, cc = np.meshgrid(grid, grid, indexing="ij")
    lut = np.exp(-0.5 * np.hypot(rr, cc) ** 2 / sigma_spatial**2).ravel()
    ext = (win_size - 1) // 2
    taps = []
    for kr in range(2 * ext + 1):
        for kc in range(2 * ext + 1):
            taps.append((kr - ext, kc - ext, float(lut[kr * win_size + kc])))
    return taps


def bilateral(image, taps, range_weight, norm="l2", mode="constant", cval=0.0):
    """The definition on an (H, W) or (H, W, C) image, in float64. ``range_weight`` maps an
    array of distances to weights."""
    x = np.asarray(image, dtype=np.float64)
    gray = x.ndim == 2
    if gray:
        x = x[..., None]
    h, w, _ = x.shape
    r = max(max(abs(dy), abs(dx)) for dy, dx, _ in taps)
    kw = {"constant_values": cval} if mode == "constant" else {}
    p = np.pad(x, ((r, r), (r, r), (0, 0)), mode=mode, **kw)
    num = np.zeros_like(x)
    den = np.zeros((h, w, 1))
    for dy, dx, s in taps:
        q = p[r + dy : r + dy + h, r + dx : r + dx + w]
        d = q - x
        dist = np.sqrt((d * d).sum(-1, keepdims=True)) if norm == "l2" else np.abs(d).sum(-1, keepdims=True)
        wgt = s * range_weight(dist)
        num += wgt * q
        den += wgt
    out = num / den
    return out[..., 0] if gray else out


def gauss(sigma: float):
    return lambda d: np.exp(-0.5 * d * d / (sigma * sigma))


def skimage_binned(sigma_color: float, bins: int, lut_max: float, span: float, channels: int):
    """scikit-image's binned range weight: bin ``min(int(d * (bins // channels) / span), bins - 1)``
    (integer division: skimage's Cython divides C integers) of the table exp(-v^2 / (2 sigma^2)), v = linspace(0, lut_max, bins, endpoint=False). skimage
    takes ``lut_max`` = the maximum of the image as given (255 for a uint8 image although it
    filters the image rescaled to [0, 1]) and ``span`` = that maximum minus min(minimum, 0)."""
    lut = np.exp(-0.5 * np.linspace(0, lut_max, bins, endpoint=False) ** 2 / sigma_color**2)
    scale = (bins // channels) / span
    return lambda d: lut[np.minimum((d * scale).astype(np.int64), bins - 1)]


def denoise_bilateral(image, win_size=None, sigma_color=None, sigma_spatial=1.0, bins=10000, mode="constant",
                      cval=0.0, channel_axis=None, exact=False):
    """scikit-image's denoise_bilateral (``exact``: the definition, centred Gaussian window,
    Euclidean distance, no binning). Integer images are rescaled as img_as_float does; the range
    table keeps their raw extremes, as skimage."""
    raw = np.asarray(image)
    x = raw.astype(np.float64)
    if raw.dtype.kind in "ui":
        x = np.maximum(x / np.iinfo(raw.dtype).max, -1.0)
    if channel_axis is not None:
        x = np.moveaxis(x, channel_axis, -1)
    if win_size is None:
        win_size = max(5, 2 * int(math.ceil(3 * sigma_spatial)) + 1)
    lo, hi = float(raw.min()), float(raw.max())
    if lo == hi:
        return np.moveaxis(x, -1, channel_axis) if channel_axis is not None else x
    sigma_color = sigma_color or float(x.std())
    c = 1 if x.ndim == 2 else x.shape[-1]
    if exact:
        out = bilateral(x, gaussian_taps((win_size - 1) // 2, sigma_spatial), gauss(sigma_color), "l2", mode, cval)
    else:
        # skimage filters x - shift and pads that with cval: the same as padding x with cval + shift
        shift = min(lo, 0.0)
        rw = skimage_binned(sigma_color, bins, hi, hi - shift, c)
        out = bilateral(x, skimage_taps(win_size, sigma_spatial), rw, "l2", mode, cval + shift)
    return np.moveaxis(out, -1, channel_axis) if channel_axis is not None else out


def cv_radius(d: int, sigma_space: float) -> int:
    r = int(np.rint(sigma_space * 1.5)) if d <= 0 else d // 2
    return max(r, 1)


def bilateral_filter(image, d, sigma_color, sigma_space, border="reflect_101"):
    """OpenCV's bilateralFilter without its range table: disk window of radius ``cv_radius``,
    range weight exp(-L1^2 / (2 sigma_color^2)) of the summed absolute channel differences."""
    taps = gaussian_taps(cv_radius(d, sigma_space), sigma_space, disk=True)
    return bilateral(image, taps, gauss(sigma_color), "l1", CV_BORDERS[border])
