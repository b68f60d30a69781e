"""Slow float64 NumPy oracles for rotated boxes: IoU by convex polygon clipping, greedy rotated
NMS and RoIAlignRotated.

Boxes are ``(cx, cy, w, h, angle)``, angle in degrees, counter-clockwise as seen in an image
(y axis down), as detectron2 and torchvision define them: corner offsets ``(+-w/2, +-h/2)`` are
turned by the matrix ``[[cos, sin], [-sin, cos]]``.

The IoU oracle works in world coordinates: box 1's corner polygon is clipped by the four edge
lines of box 2 (Sutherland-Hodgman, each edge a half-plane), and the shoelace formula gives the
area. It shares no code and no frame choice with the C++ kernel (which clips in box 2's own
frame).
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["corners", "poly_area", "clip_convex", "iou_pair", "box_iou_rotated_ref", "nms_rotated_ref",
           "roi_align_rotated_ref"]


def corners(box) -> np.ndarray:
    """(4, 2) corners of a rotated box, counter-clockwise in y-up axes order irrelevant: a convex
    loop."""
    cx, cy, w, h, a = (float(v) for v in box)
    t = math.radians(a)
    c, s = math.cos(t), math.sin(t)
    pts = []
    for ox, oy in ((-w / 2, -h / 2), (w / 2, -h / 2), (w / 2, h / 2), (-w / 2, h / 2)):
        pts.append((cx + c * ox + s * oy, cy - s * ox + c * oy))
    return np.array(pts, dtype=np.float64)


def poly_area(p: np.ndarray) -> float:
    if len(p) < 3:
        return 0.0
    x, y = p[:, 0], p[:, 1]
    return 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))


def _orientation(p: np.ndarray) -> float:
    x, y = p[:, 0], p[:, 1]
    return float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)))


def clip_convex(subject: np.ndarray, clipper: np.ndarray) -> np.ndarray:
    """Sutherland-Hodgman: the part of convex polygon ``subject`` inside convex ``clipper``."""
    if _orientation(clipper) < 0:
        clipper = clipper[::-1]
    out = [tuple(p) for p in subject]
    n = len(clipper)
    for k in range(n):
        a, b = clipper[k], clipper[(k + 1) % n]
        ex, ey = b[0] - a[0], b[1] - a[1]

        def side(p):  # > 0: left of a->b (inside for a counter-clockwise clipper in y-up axes)
            return ex * (p[1] - a[1]) - ey * (p[0] - a[0])

        inp, out = out, []
        if not inp:
            break
        for i in range(len(inp)):
            p, q = inp[i], inp[(i + 1) % len(inp)]
            sp, sq = side(p), side(q)
            if sp >= 0:
                out.append(p)
            if (sp > 0 > sq) or (sp < 0 < sq):
                t = sp / (sp - sq)
                out.append((p[0] + t * (q[0] - p[0]), p[1] + t * (q[1] - p[1])))
    return np.array(out, dtype=np.float64).reshape(-1, 2)


def iou_pair(b1, b2) -> float:
    """IoU of two rotated boxes in float64; 0 when either has no area, NaN for a non-finite
    value (foveal's rule)."""
    v = np.concatenate([np.asarray(b1, np.float64), np.asarray(b2, np.float64)])
    if not np.all(np.isfinite(v)):
        return math.nan
    a1, a2 = float(b1[2]) * float(b1[3]), float(b2[2]) * float(b2[3])
    if not (b1[2] > 0 and b1[3] > 0 and b2[2] > 0 and b2[3] > 0):
        return 0.0
    # Centred on box 2 (still world axes), so that tiny boxes far from the origin keep their digits.
    c1 = np.array(b1, np.float64)
    c2 = np.array(b2, np.float64)
    c1[:2] -= c2[:2]
    c2[:2] = 0.0
    inter = poly_area(clip_convex(corners(c1), corners(c2)))
    inter = min(inter, a1, a2)
    return inter / (a1 + a2 - inter)


def box_iou_rotated_ref(boxes1, boxes2) -> np.ndarray:
    b1 = np.asarray(boxes1, np.float64)
    b2 = np.asarray(boxes2, np.float64)
    out = np.zeros((len(b1), len(b2)))
    for i in range(len(b1)):
        for j in range(len(b2)):
            out[i, j] = iou_pair(b1[i], b2[j])
    return out


def nms_order(scores) -> list[int]:
    """Descending score, ties by lower index, NaN last (by index)."""
    s = np.asarray(scores, np.float64)
    idx = list(range(len(s)))
    return sorted(idx, key=lambda i: (1, 0.0, i) if s[i] != s[i] else (0, -s[i], i))


def nms_rotated_ref(boxes, scores, iou_threshold, idxs=None, iou=None) -> np.ndarray:
    """Greedy rotated NMS: a box is suppressed by a kept box of the same class (``idxs``) with
    IoU > threshold. ``iou`` may pass a precomputed (N, N) matrix."""
    b = np.asarray(boxes, np.float64)
    n = len(b)
    if iou is None:
        iou = box_iou_rotated_ref(b, b)
    cls = np.zeros(n, np.int64) if idxs is None else np.asarray(idxs)
    removed = np.zeros(n, bool)
    keep = []
    for i in nms_order(scores):
        if removed[i]:
            continue
        keep.append(i)
        for j in range(n):
            if j != i and not removed[j] and cls[j] == cls[i] and iou[i, j] > iou_threshold:
                removed[j] = True
    return np.array(keep, dtype=np.int64)


def _bilinear(plane: np.ndarray, y: float, x: float) -> float:
    h, w = plane.shape
    if y < -1.0 or y > h or x < -1.0 or x > w:
        return 0.0
    y, x = max(y, 0.0), max(x, 0.0)
    y0, x0 = int(y), int(x)
    if y0 >= h - 1:
        y0 = y1 = h - 1
        y = float(y0)
    else:
        y1 = y0 + 1
    if x0 >= w - 1:
        x0 = x1 = w - 1
        x = float(x0)
    else:
        x1 = x0 + 1
    ly, lx = y - y0, x - x0
    hy, hx = 1 - ly, 1 - lx
    return hy * hx * plane[y0, x0] + hy * lx * plane[y0, x1] + ly * hx * plane[y1, x0] + ly * lx * plane[y1, x1]


def roi_align_rotated_ref(inp, rois, output_size, spatial_scale=1.0, sampling_ratio=-1, aligned=True):
    """RoIAlignRotated (detectron2's definition; ``aligned=False`` drops the half-pixel offset and
    makes the RoI at least 1x1, as torchvision's roi_align does)."""
    x = np.asarray(inp, np.float64)
    r = np.asarray(rois, np.float64)
    ph_n, pw_n = output_size
    out = np.zeros((len(r), x.shape[1], ph_n, pw_n))
    off = 0.5 if aligned else 0.0
    for k, roi in enumerate(r):
        b = int(roi[0])
        cx, cy = roi[1] * spatial_scale - off, roi[2] * spatial_scale - off
        rw, rh = roi[3] * spatial_scale, roi[4] * spatial_scale
        if not aligned:
            rw, rh = max(rw, 1.0), max(rh, 1.0)
        t = math.radians(roi[5])
        c, s = math.cos(t), math.sin(t)
        bh, bw = rh / ph_n, rw / pw_n
        gh = sampling_ratio if sampling_ratio > 0 else max(math.ceil(rh / ph_n), 0)
        gw = sampling_ratio if sampling_ratio > 0 else max(math.ceil(rw / pw_n), 0)
        count = max(gh * gw, 1)
        for ph in range(ph_n):
            for pw in range(pw_n):
                acc = np.zeros(x.shape[1])
                for iy in range(gh):
                    yy = -rh / 2 + ph * bh + (iy + 0.5) * bh / gh
                    for ix in range(gw):
                        xx = -rw / 2 + pw * bw + (ix + 0.5) * bw / gw
                        y = yy * c - xx * s + cy
                        xv = yy * s + xx * c + cx
                        for ch in range(x.shape[1]):
                            acc[ch] += _bilinear(x[b, ch], y, xv)
                out[k, :, ph, pw] = acc / count
    return out
