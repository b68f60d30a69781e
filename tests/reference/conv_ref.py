"""Slow float64 NumPy oracles of conv2d and linear, written from torch.nn.functional's documented
semantics (independent of foveal's C++ code): explicit zero padding, then one kernel tap at a
time, a channel contraction per group."""

from __future__ import annotations

import math

import numpy as np

ACTIVATIONS = {
    None: lambda v, s: v,
    "relu": lambda v, s: np.maximum(v, 0.0),
    "leaky_relu": lambda v, s: np.where(v < 0, v * s, v),
    "silu": lambda v, s: v / (1.0 + np.exp(-v)),
    "sigmoid": lambda v, s: 1.0 / (1.0 + np.exp(-v)),
}


def same_padding(k: int, d: int) -> tuple[int, int]:
    """torch's padding='same' along one axis: d (k - 1) in all, the odd sample after."""
    total = d * (k - 1)
    return total // 2, total - total // 2


def conv2d_ref(x, w, bias=None, stride=(1, 1), pad=(0, 0, 0, 0), dilation=(1, 1), groups=1, residual=None,
               activation=None, slope=0.01):
    """x (N, C, H, W), w (O, C/groups, kH, kW), pad (top, bottom, left, right); float64 out."""
    x = np.asarray(x, dtype=np.float64)
    w = np.asarray(w, dtype=np.float64)
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    og = o // groups
    sh, sw = stride
    dh, dw = dilation
    pt, pb, pl, pr = pad
    xp = np.zeros((n, c, h + pt + pb, wd + pl + pr))
    xp[:, :, pt:pt + h, pl:pl + wd] = x
    oh = math.floor((h + pt + pb - dh * (kh - 1) - 1) / sh) + 1
    ow = math.floor((wd + pl + pr - dw * (kw - 1) - 1) / sw) + 1
    out = np.zeros((n, o, oh, ow))
    for g in range(groups):
        xs = xp[:, g * cg:(g + 1) * cg]
        ws = w[g * og:(g + 1) * og]
        for i in range(kh):
            for j in range(kw):
                patch = xs[:, :, i * dh:i * dh + (oh - 1) * sh + 1:sh, j * dw:j * dw + (ow - 1) * sw + 1:sw]
                out[:, g * og:(g + 1) * og] += np.einsum("ncyx,oc->noyx", patch, ws[:, :, i, j])
    if bias is not None:
        out += np.asarray(bias, dtype=np.float64)[None, :, None, None]
    if residual is not None:
        out += np.asarray(residual, dtype=np.float64)
    return ACTIVATIONS[activation](out, slope)


def linear_ref(x, w, bias=None, activation=None, slope=0.01):
    x = np.asarray(x, dtype=np.float64)
    out = x @ np.asarray(w, dtype=np.float64).T
    if bias is not None:
        out = out + np.asarray(bias, dtype=np.float64)
    return ACTIVATIONS[activation](out, slope)


def conv_transpose2d_ref(x, w, bias=None, stride=(1, 1), padding=(0, 0), output_padding=(0, 0), dilation=(1, 1),
                         groups=1, residual=None, activation=None, slope=0.01):
    """The scatter-add definition: x (N, C, H, W), w (C, O/groups, kH, kW); each input pixel adds
    its kernel, scaled, at (y stride + i dilation, x stride + j dilation) of the full output, which
    is then cropped by padding (and extended by output_padding); float64 out."""
    x = np.asarray(x, dtype=np.float64)
    w = np.asarray(w, dtype=np.float64)
    n, c, h, wd = x.shape
    _, og, kh, kw = w.shape
    cg = c // groups
    sh, sw = stride
    dh, dw = dilation
    fh = (h - 1) * sh + dh * (kh - 1) + 1 + output_padding[0]
    fw = (wd - 1) * sw + dw * (kw - 1) + 1 + output_padding[1]
    full = np.zeros((n, og * groups, fh, fw))
    for g in range(groups):
        xs = x[:, g * cg:(g + 1) * cg]
        ws = w[g * cg:(g + 1) * cg]
        for i in range(kh):
            for j in range(kw):
                contrib = np.einsum("ncyx,co->noyx", xs, ws[:, :, i, j])
                full[:, g * og:(g + 1) * og, i * dh:i * dh + (h - 1) * sh + 1:sh,
                     j * dw:j * dw + (wd - 1) * sw + 1:sw] += contrib
    ph, pw = padding
    # torch's size rule: the full extent less 2 padding, output_padding included
    out = full[:, :, ph:ph + (h - 1) * sh - 2 * ph + dh * (kh - 1) + output_padding[0] + 1,
               pw:pw + (wd - 1) * sw - 2 * pw + dw * (kw - 1) + output_padding[1] + 1]
    if bias is not None:
        out = out + np.asarray(bias, dtype=np.float64)[None, :, None, None]
    if residual is not None:
        out = out + np.asarray(residual, dtype=np.float64)
    return ACTIVATIONS[activation](out, slope)
