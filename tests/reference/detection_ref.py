"""Slow float64 NumPy oracles for anchors, Faster R-CNN box coding and soft-NMS.

Written from the definitions, for clarity, not speed:

* torchvision anchors: cell anchor ``round((-w/2, -h/2, w/2, h/2))`` with ``h = size * sqrt(r)``,
  ``w = size / sqrt(r)`` (``r = h / w``), shifted by ``(x * stride_x, y * stride_y)`` for every grid
  point (row-major), anchors of a point ratio-major. The rounding is computed here in float64,
  which agrees with torchvision's float32 rounding except within float32 rounding of a half.
* matterport anchors (``generate_pyramid_anchors``): ``h = scale / sqrt(r)``, ``w = scale *
  sqrt(r)`` (``r = w / h``), boxes ``(cy - h/2, cx - w/2, cy + h/2, cx + w/2)``; grid
  ``ceil(image / stride)``; optional ``norm_boxes``.
* box coding: the Faster R-CNN parametrisation, ``dx = wx * (gx - px) / pw`` ... with the
  ``exp`` clamp of the decoder.
* soft-NMS (Bodla et al., 2017, Algorithm 1): select the highest current score (ties: lower
  index), stop when it is below ``score_threshold`` (or NaN), decay every remaining box of the same
  label by ``exp(-iou^2 / sigma)`` (gaussian) or ``1 - iou`` where ``iou > iou_threshold``
  (linear). A box with a non-finite coordinate or no area has IoU 0 with everything.
"""

from __future__ import annotations

import math

import numpy as np


def torchvision_anchors(image_size, feature_sizes, sizes, aspect_ratios):
    out = []
    for (fh, fw), ls, lr in zip(feature_sizes, sizes, aspect_ratios):
        sy, sx = image_size[0] // fh, image_size[1] // fw
        cells = []
        for r in lr:
            for s in ls:
                h = s * math.sqrt(r)
                w = s / math.sqrt(r)
                cells.append(np.round(np.array([-w / 2, -h / 2, w / 2, h / 2])))
        cells = np.array(cells).reshape(-1, 4)
        ys, xs = np.meshgrid(np.arange(fh) * sy, np.arange(fw) * sx, indexing="ij")
        shifts = np.stack([xs.ravel(), ys.ravel(), xs.ravel(), ys.ravel()], axis=1).astype(np.float64)
        out.append((shifts[:, None, :] + cells[None, :, :]).reshape(-1, 4))
    return np.concatenate(out)


def matterport_anchors(scales, ratios, image_shape, feature_strides, anchor_stride=1, normalize=False):
    h_img, w_img = image_shape[:2]
    out = []
    for scale, stride in zip(scales, feature_strides):
        fh, fw = math.ceil(h_img / stride), math.ceil(w_img / stride)
        anchors = []
        for y in range(0, fh, anchor_stride):
            for x in range(0, fw, anchor_stride):
                cy, cx = y * stride, x * stride
                for r in ratios:
                    h = scale / math.sqrt(r)
                    w = scale * math.sqrt(r)
                    anchors.append([cy - 0.5 * h, cx - 0.5 * w, cy + 0.5 * h, cx + 0.5 * w])
        out.append(np.array(anchors, dtype=np.float64).reshape(-1, 4))
    boxes = np.concatenate(out)
    if normalize:
        boxes = (boxes - np.array([0, 0, 1, 1])) / np.array([h_img - 1, w_img - 1, h_img - 1, w_img - 1])
    return boxes


def encode(reference_boxes, proposals, weights=(1.0, 1.0, 1.0, 1.0)):
    g = np.asarray(reference_boxes, dtype=np.float64)
    p = np.asarray(proposals, dtype=np.float64)
    wx, wy, ww, wh = weights
    pw, ph = p[:, 2] - p[:, 0], p[:, 3] - p[:, 1]
    px, py = p[:, 0] + 0.5 * pw, p[:, 1] + 0.5 * ph
    gw, gh = g[:, 2] - g[:, 0], g[:, 3] - g[:, 1]
    gx, gy = g[:, 0] + 0.5 * gw, g[:, 1] + 0.5 * gh
    return np.stack([wx * (gx - px) / pw, wy * (gy - py) / ph, ww * np.log(gw / pw), wh * np.log(gh / ph)], axis=1)


def decode(rel_codes, boxes, weights=(1.0, 1.0, 1.0, 1.0), clip=math.log(1000.0 / 16)):
    """``rel_codes`` (N, 4K) -> (N, 4K)."""
    c = np.asarray(rel_codes, dtype=np.float64)
    b = np.asarray(boxes, dtype=np.float64)
    n = c.shape[0]
    c = c.reshape(n, -1, 4)
    w, h = b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]
    cx, cy = b[:, 0] + 0.5 * w, b[:, 1] + 0.5 * h
    dx, dy = c[..., 0] / weights[0], c[..., 1] / weights[1]
    dw = np.minimum(c[..., 2] / weights[2], clip)
    dh = np.minimum(c[..., 3] / weights[3], clip)
    pcx, pcy = dx * w[:, None] + cx[:, None], dy * h[:, None] + cy[:, None]
    pw, ph = np.exp(dw) * w[:, None], np.exp(dh) * h[:, None]
    out = np.stack([pcx - 0.5 * pw, pcy - 0.5 * ph, pcx + 0.5 * pw, pcy + 0.5 * ph], axis=-1)
    return out.reshape(n, -1)


def _iou_row(b, i, valid):
    x1 = np.maximum(b[i, 0], b[:, 0])
    y1 = np.maximum(b[i, 1], b[:, 1])
    x2 = np.minimum(b[i, 2], b[:, 2])
    y2 = np.minimum(b[i, 3], b[:, 3])
    inter = np.maximum(0.0, x2 - x1) * np.maximum(0.0, y2 - y1)
    area = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        iou = inter / (area[i] + area - inter)
    iou[~valid] = 0.0
    if not valid[i]:
        iou[:] = 0.0
    return iou


def soft_nms(boxes, scores, iou_threshold=0.3, sigma=0.5, score_threshold=0.001, method="gaussian", idxs=None):
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    s = np.asarray(scores, dtype=np.float64).copy()
    n = s.shape[0]
    labels = np.zeros(n, dtype=np.int64) if idxs is None else np.asarray(idxs, dtype=np.int64)
    with np.errstate(invalid="ignore", over="ignore"):
        w, h = b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]
        valid = np.isfinite(b).all(axis=1) & (w > 0) & (h > 0) & np.isfinite(w * h)
    live = ~np.isnan(s)
    keep, kept = [], []
    while live.any():
        cand = np.nonzero(live)[0]
        i = cand[np.argmax(s[cand])]  # first maximum: the lowest index among equal scores
        if not s[i] >= score_threshold:
            break
        keep.append(i)
        kept.append(s[i])
        live[i] = False
        iou = _iou_row(b, i, valid)
        if method == "gaussian":
            factor = np.exp(-(iou * iou) / sigma)
        else:
            factor = np.where(iou > iou_threshold, 1.0 - iou, 1.0)
        hit = live & (labels == labels[i])
        s[hit] *= factor[hit]
    return np.array(keep, dtype=np.int64), np.array(kept, dtype=np.float64)


def hard_nms(boxes, scores, iou_threshold):
    """Greedy NMS (suppress when iou > threshold), ties by lower index."""
    b = np.asarray(boxes, dtype=np.float64)
    order = sorted(range(len(scores)), key=lambda i: (-float(scores[i]), i))
    with np.errstate(invalid="ignore", over="ignore"):
        w, h = b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]
        valid = np.isfinite(b).all(axis=1) & (w > 0) & (h > 0) & np.isfinite(w * h)
    keep = []
    for i in order:
        if all(_iou_row(b, k, valid)[i] <= iou_threshold for k in keep):
            keep.append(i)
    return np.array(keep, dtype=np.int64)
