"""Slow, obviously-correct NumPy oracles for box IoU and greedy NMS.

These are the references the test-suite checks ``foveal.ops.box_iou`` and
``foveal.ops.nms`` against.  They are written for clarity, not speed.

Conventions (docs/CONTRACT.md, seed oracles I1-I3, N1):

* boxes are ``(x1, y1, x2, y2)`` in continuous coordinates; area has no ``+1``:
  ``area = (x2 - x1) * (y2 - y1)``;
* ``inter = max(0, min(x2) - max(x1)) * max(0, min(y2) - max(y1))`` and
  ``iou = inter / (area1 + area2 - inter)``, evaluated with IEEE arithmetic
  (NaN propagates, nothing is clamped or special-cased);
* NMS ranks candidates by score descending, ties by lower index first, NaN
  scores after every other score (including ``-inf``), NaNs among themselves by
  lower index; it is greedy and suppresses a candidate when its IoU with a kept
  box is ``> iou_threshold`` (any real threshold, as torchvision).  For
  ``iou_threshold >= 0`` a box with a NaN/Inf coordinate or a non-positive
  width/height never suppresses and is never suppressed; below 0 every pair
  whose IoU is not NaN suppresses, even disjoint boxes (IoU 0).

By default everything is computed in float64.  ``dtype=np.float32`` evaluates
the *same* expression with every intermediate rounded to float32 (numpy scalar
and element-wise ufunc arithmetic, no fused multiply-add), which is what a
float32 kernel that follows the contract produces bit for bit.  The threshold
comparison is always done in float64: ``float(iou) > float(iou_threshold)``,
i.e. the IoU value is compared with the threshold the caller passed, exactly.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = [
    "iou_pair",
    "box_iou_ref",
    "iou_one_to_many",
    "valid_boxes",
    "nms_order",
    "nms_ref",
    "nms_ref_scalar",
    "compute_dtype",
    "giou_pair",
    "diou_pair",
    "ciou_pair",
    "pairwise_ref",
    "giou_loss_pair",
    "diou_loss_pair",
    "ciou_loss_pair",
    "elementwise_ref",
    "rotated_corners",
]


def compute_dtype(*dtypes, device: str = "cpu") -> np.dtype:
    """dtype policy of the contract (torch-style promotion): each input maps to
    float64 -> float64, float32 -> float32, float16 -> float16, bool / integers ->
    float32; the widest of those wins; float16 becomes float32 on the CPU."""
    rank = 0
    for d in dtypes:
        d = np.dtype(d)
        if d.kind not in "biuf":
            raise TypeError(f"no numeric dtype policy for {d}")
        rank = max(rank, {np.dtype(np.float64): 3, np.dtype(np.float16): 1}.get(d, 2))
    if rank == 1 and device != "cuda":
        rank = 2
    return np.dtype({1: np.float16, 2: np.float32, 3: np.float64}[rank])


def _scalar_type(dtype):
    return np.dtype(dtype).type


def _ieee_max(p, q):
    """max that propagates NaN (IEEE 754-2019 ``maximum``)."""
    if p != p:
        return p
    if q != q:
        return q
    return p if p >= q else q


def _ieee_min(p, q):
    """min that propagates NaN (IEEE 754-2019 ``minimum``)."""
    if p != p:
        return p
    if q != q:
        return q
    return p if p <= q else q


def iou_pair(a, b, dtype=np.float64):
    """IoU of two boxes ``a``, ``b`` (each ``(x1, y1, x2, y2)``), every operation
    rounded to ``dtype``. Returns a numpy scalar of ``dtype``."""
    t = _scalar_type(dtype)
    ax1, ay1, ax2, ay2 = (t(v) for v in a)
    bx1, by1, bx2, by2 = (t(v) for v in b)
    zero = t(0)
    with np.errstate(all="ignore"):
        w = _ieee_max(zero, _ieee_min(ax2, bx2) - _ieee_max(ax1, bx1))
        h = _ieee_max(zero, _ieee_min(ay2, by2) - _ieee_max(ay1, by1))
        inter = w * h
        area_a = (ax2 - ax1) * (ay2 - ay1)
        area_b = (bx2 - bx1) * (by2 - by1)
        union = area_a + area_b - inter
        return inter / union


def box_iou_ref(boxes1, boxes2, dtype=np.float64) -> np.ndarray:
    """(N, M) IoU matrix by a plain double loop over :func:`iou_pair`."""
    b1 = np.asarray(boxes1)
    b2 = np.asarray(boxes2)
    assert b1.ndim == 2 and b1.shape[1] == 4, b1.shape
    assert b2.ndim == 2 and b2.shape[1] == 4, b2.shape
    b1 = b1.astype(dtype)
    b2 = b2.astype(dtype)
    out = np.empty((b1.shape[0], b2.shape[0]), dtype=dtype)
    for i in range(b1.shape[0]):
        for j in range(b2.shape[0]):
            out[i, j] = iou_pair(b1[i], b2[j], dtype)
    return out


def iou_one_to_many(box, boxes, dtype=np.float64) -> np.ndarray:
    """IoU of one box against each row of ``boxes``: the expression of
    :func:`iou_pair`, written element-wise (the same rounding per element;
    checked against :func:`iou_pair` in tests/python/test_reference.py)."""
    t = _scalar_type(dtype)
    a = np.asarray(box).astype(dtype)
    b = np.asarray(boxes).astype(dtype).reshape(-1, 4)
    zero = t(0)
    with np.errstate(all="ignore"):
        w = np.maximum(zero, np.minimum(a[2], b[:, 2]) - np.maximum(a[0], b[:, 0]))
        h = np.maximum(zero, np.minimum(a[3], b[:, 3]) - np.maximum(a[1], b[:, 1]))
        inter = w * h
        area_a = (a[2] - a[0]) * (a[3] - a[1])
        area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
        union = area_a + area_b - inter
        return (inter / union).astype(dtype)


def valid_boxes(boxes, dtype=np.float64) -> np.ndarray:
    """Boxes that may take part in suppression: all four coordinates finite and
    ``x2 > x1``, ``y2 > y1`` (after conversion to ``dtype``)."""
    b = np.asarray(boxes).astype(dtype).reshape(-1, 4)
    return np.isfinite(b).all(axis=1) & (b[:, 2] > b[:, 0]) & (b[:, 3] > b[:, 1])


def _score_key(index, score):
    s = float(score)
    if math.isnan(s):
        return (1, 0.0, index)
    return (0, -s, index)  # -(-0.0) == 0.0 == -(0.0): +0 and -0 are a tie


def nms_order(scores) -> list[int]:
    """Candidate order: score descending, ties lower index first, NaN last."""
    s = np.asarray(scores)
    assert s.ndim == 1
    return sorted(range(s.shape[0]), key=lambda i: _score_key(i, s[i]))


def _check_threshold(iou_threshold):
    thr = float(iou_threshold)
    assert thr == thr, thr  # any real number; NaN is rejected by foveal
    return thr


def _takes_part(b, thr, dtype):
    """Boxes that can suppress or be suppressed. For ``thr >= 0`` an invalid box
    (:func:`valid_boxes`) has IoU 0 or NaN with every box, so leaving it out
    changes nothing; below 0 an IoU of 0 suppresses, so every box takes part."""
    if thr >= 0:
        return valid_boxes(b, dtype)
    return np.ones(b.shape[0], dtype=bool)


def nms_ref(boxes, scores, iou_threshold, dtype=np.float64) -> np.ndarray:
    """Greedy NMS. Returns int64 indices of kept boxes in rank order.

    Loop over candidates in :func:`nms_order`; a candidate that is not yet
    suppressed is kept and suppresses every later candidate whose IoU with it
    (computed in ``dtype``) is ``> iou_threshold`` (compared in float64). For
    ``iou_threshold >= 0`` only valid boxes (:func:`valid_boxes`) take part,
    which gives the same result; below 0 every box does (a NaN IoU still never
    suppresses).
    """
    b = np.asarray(boxes).astype(dtype).reshape(-1, 4)
    s = np.asarray(scores)
    assert s.shape == (b.shape[0],), (s.shape, b.shape)
    thr = _check_threshold(iou_threshold)
    valid = _takes_part(b, thr, dtype)
    order = np.asarray(nms_order(s), dtype=np.int64)
    suppressed = np.zeros(b.shape[0], dtype=bool)
    keep = []
    for pos, i in enumerate(order):
        if suppressed[i]:
            continue
        keep.append(int(i))
        if not valid[i]:
            continue
        later = order[pos + 1 :]
        later = later[~suppressed[later] & valid[later]]
        if later.size == 0:
            continue
        iou = iou_one_to_many(b[i], b[later], dtype).astype(np.float64)
        suppressed[later[iou > thr]] = True
    return np.asarray(keep, dtype=np.int64)


def nms_ref_scalar(boxes, scores, iou_threshold, dtype=np.float64) -> np.ndarray:
    """The same greedy NMS with nothing but scalar loops (O(N^2)); used to check
    :func:`nms_ref` on small inputs."""
    b = np.asarray(boxes).astype(dtype).reshape(-1, 4)
    thr = _check_threshold(iou_threshold)
    order = nms_order(scores)
    valid = _takes_part(b, thr, dtype)
    keep = []
    for i in order:
        if any(
            valid[k] and valid[i] and float(iou_pair(b[k], b[i], dtype)) > thr
            for k in keep
        ):
            continue
        keep.append(i)
    return np.asarray(keep, dtype=np.int64)


# ---------------------------------------------------------------- GIoU / DIoU / CIoU
# Plain float64 scalar formulas of the papers, in torchvision's definitions (Rezatofighi et
# al. 2019; Zheng et al. 2020). Python floats only, no array arithmetic; 0/0 and x/0 give NaN
# / +-inf as IEEE arithmetic does.


def _div(p, q):
    if q == 0.0:
        if p == 0.0 or p != p:
            return math.nan
        return math.copysign(math.inf, p) * (math.copysign(1.0, q))
    return p / q


def _pair_terms(a, b):
    ax1, ay1, ax2, ay2 = (float(v) for v in a)
    bx1, by1, bx2, by2 = (float(v) for v in b)
    inter = max(0.0, min(ax2, bx2) - max(ax1, bx1)) * max(0.0, min(ay2, by2) - max(ay1, by1))
    union = (ax2 - ax1) * (ay2 - ay1) + (bx2 - bx1) * (by2 - by1) - inter
    cw = max(0.0, max(ax2, bx2) - min(ax1, bx1))
    ch = max(0.0, max(ay2, by2) - min(ay1, by1))
    d2 = ((ax1 + ax2) / 2 - (bx1 + bx2) / 2) ** 2 + ((ay1 + ay2) / 2 - (by1 + by2) / 2) ** 2
    return inter, union, cw, ch, d2


def _aspect(x1, y1, x2, y2):
    return math.atan(_div(float(x2) - float(x1), float(y2) - float(y1)))


def giou_pair(a, b):
    """GIoU of two boxes: IoU - (C - U) / C, C the enclosing box's area."""
    inter, union, cw, ch, _ = _pair_terms(a, b)
    c = cw * ch
    return _div(inter, union) - _div(c - union, c)


def diou_pair(a, b, eps=1e-7):
    """DIoU of two boxes: IoU - d^2 / (c^2 + eps)."""
    inter, union, cw, ch, d2 = _pair_terms(a, b)
    return _div(inter, union) - _div(d2, cw * cw + ch * ch + eps)


def ciou_pair(a, b, eps=1e-7):
    """CIoU of two boxes: DIoU - alpha v, v = 4/pi^2 (atan(wa/ha) - atan(wb/hb))^2,
    alpha = v / (1 - IoU + v + eps)."""
    inter, union, cw, ch, d2 = _pair_terms(a, b)
    iou = _div(inter, union)
    v = 4.0 / math.pi**2 * (_aspect(*a) - _aspect(*b)) ** 2
    alpha = _div(v, 1.0 - iou + v + eps)
    return iou - _div(d2, cw * cw + ch * ch + eps) - alpha * v


def pairwise_ref(fn, boxes1, boxes2, **kw) -> np.ndarray:
    """(..., N, M) matrix of ``fn(a, b)`` over boxes1 (..., N, 4) x boxes2 (..., M, 4), batch
    dimensions broadcast, by plain loops."""
    b1 = np.asarray(boxes1, dtype=np.float64)
    b2 = np.asarray(boxes2, dtype=np.float64)
    batch = np.broadcast_shapes(b1.shape[:-2], b2.shape[:-2])
    b1 = np.broadcast_to(b1, batch + b1.shape[-2:])
    b2 = np.broadcast_to(b2, batch + b2.shape[-2:])
    out = np.empty(batch + (b1.shape[-2], b2.shape[-2]))
    for idx in np.ndindex(*batch):
        for i in range(b1.shape[-2]):
            for j in range(b2.shape[-2]):
                out[idx + (i, j)] = fn(b1[idx + (i,)], b2[idx + (j,)], **kw)
    return out


def giou_loss_pair(a, b, eps=1e-7):
    """torchvision's GIoU loss of one pair: the intersection counts only where both overlap
    extents are positive, IoU = I / (U + eps), loss = 1 - (IoU - (C - U) / (C + eps)) with C
    the (unclamped) enclosing area."""
    ax1, ay1, ax2, ay2 = (float(v) for v in a)
    bx1, by1, bx2, by2 = (float(v) for v in b)
    iw, ih = min(ax2, bx2) - max(ax1, bx1), min(ay2, by2) - max(ay1, by1)
    inter = iw * ih if (iw > 0 and ih > 0) else 0.0
    union = (ax2 - ax1) * (ay2 - ay1) + (bx2 - bx1) * (by2 - by1) - inter
    c = (max(ax2, bx2) - min(ax1, bx1)) * (max(ay2, by2) - min(ay1, by1))
    return 1.0 - (_div(inter, union + eps) - _div(c - union, c + eps))


def diou_loss_pair(a, b, eps=1e-7):
    """torchvision's DIoU loss of one pair: 1 - I / (U + eps) + d^2 / (c^2 + eps)."""
    ax1, ay1, ax2, ay2 = (float(v) for v in a)
    bx1, by1, bx2, by2 = (float(v) for v in b)
    iw, ih = min(ax2, bx2) - max(ax1, bx1), min(ay2, by2) - max(ay1, by1)
    inter = iw * ih if (iw > 0 and ih > 0) else 0.0
    union = (ax2 - ax1) * (ay2 - ay1) + (bx2 - bx1) * (by2 - by1) - inter
    c2 = (max(ax2, bx2) - min(ax1, bx1)) ** 2 + (max(ay2, by2) - min(ay1, by1)) ** 2
    d2 = ((ax1 + ax2) / 2 - (bx1 + bx2) / 2) ** 2 + ((ay1 + ay2) / 2 - (by1 + by2) / 2) ** 2
    return 1.0 - _div(inter, union + eps) + _div(d2, c2 + eps)


def ciou_loss_pair(a, b, eps=1e-7):
    """torchvision's CIoU loss of one pair: its DIoU part always with eps = 1e-7, plus
    alpha v with alpha = v / (1 - IoU + v + eps)."""
    ax1, ay1, ax2, ay2 = (float(v) for v in a)
    bx1, by1, bx2, by2 = (float(v) for v in b)
    iw, ih = min(ax2, bx2) - max(ax1, bx1), min(ay2, by2) - max(ay1, by1)
    inter = iw * ih if (iw > 0 and ih > 0) else 0.0
    union = (ax2 - ax1) * (ay2 - ay1) + (bx2 - bx1) * (by2 - by1) - inter
    iou = _div(inter, union + 1e-7)
    v = 4.0 / math.pi**2 * (_aspect(*b) - _aspect(*a)) ** 2
    alpha = _div(v, 1.0 - iou + v + eps)
    return diou_loss_pair(a, b, 1e-7) + alpha * v


def elementwise_ref(fn, boxes1, boxes2, **kw) -> np.ndarray:
    """``fn(a, b)`` over the broadcast leading shape of boxes1 (..., 4) and boxes2 (..., 4)."""
    b1 = np.asarray(boxes1, dtype=np.float64)
    b2 = np.asarray(boxes2, dtype=np.float64)
    lead = np.broadcast_shapes(b1.shape[:-1], b2.shape[:-1])
    b1 = np.broadcast_to(b1, lead + (4,))
    b2 = np.broadcast_to(b2, lead + (4,))
    out = np.empty(lead)
    for idx in np.ndindex(*lead):
        out[idx] = fn(b1[idx], b2[idx], **kw)
    return out


# ---------------------------------------------------------------- rotated boxes


def rotated_corners(cx, cy, w, h, r_degrees):
    """Corners (top left, top right, bottom right, bottom left) of a box of centre (cx, cy), size
    w x h, turned by r degrees counter-clockwise as seen in an image (y axis down): rotate the
    corner offsets (-w/2, -h/2), (w/2, -h/2), (w/2, h/2), (-w/2, h/2) by the matrix
    [[cos, sin], [-sin, cos]] (counter-clockwise on screen = clockwise in y-up axes)."""
    t = math.radians(float(r_degrees))
    c, s = math.cos(t), math.sin(t)
    out = []
    for ox, oy in ((-w / 2, -h / 2), (w / 2, -h / 2), (w / 2, h / 2), (-w / 2, h / 2)):
        out += [cx + c * ox + s * oy, cy - s * ox + c * oy]
    return out


def batched_nms_ref(boxes, scores, idxs, iou_threshold, dtype=np.float64) -> np.ndarray:
    """Greedy NMS within each class of ``idxs``: :func:`nms_ref` on each class's boxes, the
    kept boxes of all classes listed in :func:`nms_order` (score descending, ties lower index
    first, NaN last)."""
    b = np.asarray(boxes).astype(dtype).reshape(-1, 4)
    s = np.asarray(scores)
    c = np.asarray(idxs)
    assert c.shape == s.shape == (b.shape[0],), (c.shape, s.shape, b.shape)
    kept = np.zeros(b.shape[0], dtype=bool)
    for label in np.unique(c):
        members = np.nonzero(c == label)[0]
        kept[members[nms_ref(b[members], s[members], iou_threshold, dtype)]] = True
    order = np.asarray(nms_order(s), dtype=np.int64)
    return order[kept[order]]
