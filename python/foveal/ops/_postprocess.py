# SPDX-License-Identifier: Apache-2.0
"""Fused detection post-processing: RPN proposals, box-head detections (Faster R-CNN) and
single-stage detections (RetinaNet)."""
from __future__ import annotations

import numbers
from typing import Any, Sequence

import numpy as np

from .. import _core
from .._arrays import Call, detection_policy, dim, real, register_policy
from .._errors import FovealTypeError
from ._anchors import _BBOX_XFORM_CLIP, _weights


# -- fused detection post-processing ---------------------------------------------------------


def _postprocess_policy(op: str, dtypes: dict[str, str], cuda: bool) -> str:
    """The float dtype of the three ops. CPU: the detection policy (float32 or float64). CUDA:
    float16 or bfloat16 when every float argument has it, else float32 (arithmetic in float32
    either way; float64 is refused). Outputs (boxes, scores) have this dtype."""
    if not cuda:
        return detection_policy(op, dtypes, cuda)
    for arg, dt in dtypes.items():
        if dt == "float64":
            raise FovealTypeError(f"{op}: {arg} must be float16, bfloat16 or float32 on CUDA, got float64")
    detection_policy(op, dtypes, cuda)  # refuses non-real dtypes by name
    kinds = set(dtypes.values())
    if len(kinds) == 1 and kinds <= {"float16", "bfloat16"}:
        return kinds.pop()
    return "float32"


register_policy("postprocess", _postprocess_policy)


def _integer(op: str, name: str, value: Any) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Integral, np.integer)):
        raise FovealTypeError(f"{op}: {name} must be an integer, got {type(value).__name__} {value!r}")
    return int(value)


def _levels(op: str, num_anchors_per_level: Any) -> list[int]:
    try:
        return [_integer(op, "num_anchors_per_level", n) for n in num_anchors_per_level]
    except TypeError:
        raise FovealTypeError(
            f"{op}: num_anchors_per_level must be a sequence of integers, got {num_anchors_per_level!r}"
        ) from None


def _host_array(op: str, name: str, x: Any) -> np.ndarray:
    """A small host-side argument (image sizes, counts) as numpy, from any library."""
    if hasattr(x, "detach") and hasattr(x, "cpu"):  # torch
        x = x.detach().cpu()
    try:
        return np.asarray(x)
    except Exception as exc:  # noqa: BLE001 - ragged lists, odd objects
        raise FovealTypeError(f"{op}: {name} must be an array or a sequence of numbers ({exc})") from None


def _on_device(x: Any) -> bool:
    """A CUDA array (torch, CuPy): small arguments given so stay on the device."""
    return getattr(x, "is_cuda", False) is True or hasattr(x, "__cuda_array_interface__")


def _image_sizes(op: str, image_sizes: Any) -> np.ndarray:
    a = _host_array(op, "image_sizes", image_sizes)
    if not (np.issubdtype(a.dtype, np.integer) or np.issubdtype(a.dtype, np.floating)):
        raise FovealTypeError(f"{op}: image_sizes must hold real numbers (height, width), got dtype {a.dtype}")
    return np.ascontiguousarray(a, dtype=np.float64)



def rpn_postprocess(
    anchors: Any,
    objectness: Any,
    deltas: Any,
    image_sizes: Any,
    num_anchors_per_level: Sequence[int],
    pre_nms_top_n: int = 1000,
    post_nms_top_n: int = 1000,
    nms_thresh: float = 0.7,
    min_size: float = 1e-3,
    score_thresh: float = 0.0,
    weights: Sequence[float] = (1.0, 1.0, 1.0, 1.0),
) -> tuple:
    """Region proposals from RPN outputs, for a batch of images, in one native call.

    torchvision's ``BoxCoder.decode`` followed by ``RegionProposalNetwork.filter_proposals``:
    per image and level, the ``pre_nms_top_n`` anchors of highest objectness, decoded against
    their anchors, clipped to the image, those with a side below ``min_size`` or a
    ``sigmoid(objectness)`` below ``score_thresh`` dropped, NMS at ``nms_thresh`` within each
    level; then the kept proposals of all levels by decreasing score, at most ``post_nms_top_n``.

    Parameters
    ----------
    anchors : array, shape (A, 4)
        Anchors ``(x1, y1, x2, y2)``, shared by every image (as torchvision's AnchorGenerator makes
        them for a batch), level after level.
    objectness : array, shape (B, A)
        Objectness logits, in the anchors' order. Same library and device as ``anchors``.
    deltas : array, shape (B, A, 4)
        Box regression ``(dx, dy, dw, dh)`` of each anchor.
    image_sizes : array or sequence, shape (B, 2)
        ``(height, width)`` of each image: finite, >= 0.
    num_anchors_per_level : sequence of int
        Anchors of each level, summing to A.
    pre_nms_top_n, post_nms_top_n : int
        Candidates per level and image before NMS (>= 0); proposals per image kept after it.
    nms_thresh, min_size, score_thresh : float
        torchvision's parameters of the same names (eval defaults of ``fasterrcnn_resnet50_fpn``);
        ``score_thresh`` is compared in the dtype of the scores, as torch does.
    weights : 4 floats
        BoxCoder weights ``(wx, wy, ww, wh)``; ``dw`` and ``dh`` are clamped at log(1000 / 16).

    Returns
    -------
    boxes : array, shape (B, K, 4)
        Proposals of image b in rows ``[0, counts[b])`` by decreasing score, zeros after;
        ``K = min(post_nms_top_n, sum over levels of min(pre_nms_top_n, level size))``.
    scores : array, shape (B, K)
        ``sigmoid(objectness)`` of each proposal (0 in padding rows).
    counts : array of int64, shape (B,)

    Notes
    -----
    The same proposals as torchvision on ordinary inputs (tested), with foveal's tie rules:
    equal logits select the lower anchor index first, equal scores are visited in torchvision's
    candidate order (level by level, by decreasing logit); NaN logits rank last (torch.topk ranks
    them first).

    On CUDA (torch or CuPy arrays) the call runs on the arrays' device and stream without any
    host synchronisation (``counts`` stays on the device); float16 and bfloat16 inputs are kept
    (arithmetic in float32, outputs in the input dtype), mixed dtypes run in float32, float64 is
    refused. ``image_sizes`` is read on the host.

    Examples
    --------
    >>> import numpy as np, foveal
    >>> anchors = np.array([[0, 0, 10, 10], [0.5, 0.5, 10.5, 10.5], [20, 20, 30, 30]], np.float32)
    >>> objectness = np.array([[2.0, 1.0, 0.0]], np.float32)
    >>> deltas = np.zeros((1, 3, 4), np.float32)
    >>> boxes, scores, counts = foveal.ops.rpn_postprocess(anchors, objectness, deltas, [(100, 100)], [3])
    >>> counts
    array([2])
    >>> boxes[0, :2]
    array([[ 0.,  0., 10., 10.],
           [20., 20., 30., 30.]], dtype=float32)
    """
    op = "rpn_postprocess"
    call = Call(op, "postprocess", anchors=anchors, objectness=objectness, deltas=deltas)
    pre = _integer(op, "pre_nms_top_n", pre_nms_top_n)
    post = _integer(op, "post_nms_top_n", post_nms_top_n)
    levels = _levels(op, num_anchors_per_level)
    thr = real(op, "nms_thresh", nms_thresh)
    ms = real(op, "min_size", min_size)
    st = real(op, "score_thresh", score_thresh)
    w = _weights(op, weights)
    sizes = _image_sizes(op, image_sizes)
    a, o, d = call.floats("anchors", "objectness", "deltas")
    b = dim(o, 0, 2)
    k = max(0, min(post, sum(min(pre, n) for n in levels)))
    boxes = call.empty((b, k, 4))
    scores = call.empty((b, k))
    counts = call.empty((b,), "int64")
    call.run(
        _core.rpn_postprocess, a, o, d, sizes, levels, pre, post, thr, ms, st, w, _BBOX_XFORM_CLIP, boxes, scores, counts
    )
    return call.wrap(boxes), call.wrap(scores), call.wrap(counts)


def box_head_postprocess(
    proposals: Any,
    class_logits: Any,
    box_regression: Any,
    image_sizes: Any,
    proposal_counts: Any = None,
    score_thresh: float = 0.05,
    nms_thresh: float = 0.5,
    detections_per_img: int = 100,
    min_size: float = 1e-2,
    weights: Sequence[float] = (10.0, 10.0, 5.0, 5.0),
) -> tuple:
    """Final detections from the box head, for a batch of images, in one native call.

    torchvision's ``RoIHeads.postprocess_detections``: softmax over the classes of each
    proposal, each class's box decoded against the proposal and clipped to the image; the
    background class 0 dropped, then scores ``<= score_thresh`` and boxes with a side below
    ``min_size``; NMS at ``nms_thresh`` within each class; the kept detections by decreasing
    score, at most ``detections_per_img``.

    Parameters
    ----------
    proposals : array, shape (B, P, 4)
        Proposals of each image, padded (as :func:`rpn_postprocess` returns them).
    class_logits : array, shape (B, P, C)
        Class logits of each proposal, class 0 the background. Same library and device.
    box_regression : array, shape (B, P, 4 C)
        Box deltas of each proposal and class.
    image_sizes : array or sequence, shape (B, 2)
        ``(height, width)`` of each image: finite, >= 0.
    proposal_counts : array of int, shape (B,), optional
        Image b uses its first ``proposal_counts[b]`` proposals (default: all P). On the host, or
        on the proposals' CUDA device.
    score_thresh, nms_thresh : float
        torchvision's ``box_score_thresh`` and ``box_nms_thresh``; ``score_thresh`` is compared in
        the dtype of the logits, as torch does.
    detections_per_img : int
        At most this many detections per image (>= 0).
    min_size : float
        Smallest side kept (torchvision hard-codes 1e-2).
    weights : 4 floats
        BoxCoder weights, torchvision's (10, 10, 5, 5) by default.

    Returns
    -------
    boxes : array, shape (B, D, 4)
        Detections of image b in rows ``[0, counts[b])`` by decreasing score, zeros after;
        ``D = min(detections_per_img, P (C - 1))``.
    scores : array, shape (B, D)
    labels : array of int64, shape (B, D)
    counts : array of int64, shape (B,)

    Notes
    -----
    The same detections as torchvision on ordinary inputs (tested); equal scores are visited in
    torchvision's flattened (proposal, class) order.

    On CUDA (torch or CuPy arrays) the call runs on the arrays' device and stream without any
    host synchronisation (``counts`` stays on the device); float16 and bfloat16 inputs are kept
    (softmax and decoding in float32, ``score_thresh`` compared after rounding to the input
    dtype, outputs in the input dtype), mixed dtypes run in float32, float64 is refused.
    ``image_sizes`` is read on the host; ``proposal_counts`` may be on the host or on the
    proposals' device (as :func:`rpn_postprocess` returns them), where its values are not checked
    (a count outside ``[0, P]`` acts as clamped to it).

    Examples
    --------
    >>> import numpy as np, foveal
    >>> proposals = np.array([[[10, 10, 50, 50]]], np.float32)
    >>> logits = np.array([[[0.0, 4.0, 0.0]]], np.float32)   # background, class 1, class 2
    >>> regression = np.zeros((1, 1, 12), np.float32)
    >>> boxes, scores, labels, counts = foveal.ops.box_head_postprocess(
    ...     proposals, logits, regression, [(100, 100)])
    >>> counts, labels[0, :1], boxes[0, 0]
    (array([1]), array([1]), array([10., 10., 50., 50.], dtype=float32))
    """
    op = "box_head_postprocess"
    call = Call(op, "postprocess", proposals=proposals, class_logits=class_logits, box_regression=box_regression)
    dets = _integer(op, "detections_per_img", detections_per_img)
    st = real(op, "score_thresh", score_thresh)
    thr = real(op, "nms_thresh", nms_thresh)
    ms = real(op, "min_size", min_size)
    w = _weights(op, weights)
    sizes = _image_sizes(op, image_sizes)
    counts_in = None
    if proposal_counts is not None and call.cuda and _on_device(proposal_counts):
        # Left on the device (no synchronisation); same library as the other arrays.
        counts_in = Call(op, "postprocess", proposals=proposals, proposal_counts=proposal_counts).ints(
            "proposal_counts"
        )
    elif proposal_counts is not None:
        counts_in = _host_array(op, "proposal_counts", proposal_counts)
        if not np.issubdtype(counts_in.dtype, np.integer):
            raise FovealTypeError(f"{op}: proposal_counts must have an integer dtype, got {counts_in.dtype}")
        counts_in = np.ascontiguousarray(counts_in, dtype=np.int64)
    p, c, r = call.floats("proposals", "class_logits", "box_regression")
    b, n = dim(p, 0, 3), dim(p, 1, 3)
    k = max(0, min(dets, n * (dim(c, 2, 3) - 1)))
    boxes = call.empty((b, k, 4))
    scores = call.empty((b, k))
    labels = call.empty((b, k), "int64")
    counts = call.empty((b,), "int64")
    call.run(
        _core.box_head_postprocess, p, counts_in, c, r, sizes, st, thr, dets, ms, w, _BBOX_XFORM_CLIP,
        boxes, scores, labels, counts,
    )
    return call.wrap(boxes), call.wrap(scores), call.wrap(labels), call.wrap(counts)


def retinanet_postprocess(
    anchors: Any,
    class_logits: Any,
    box_regression: Any,
    image_sizes: Any,
    num_anchors_per_level: Sequence[int],
    score_thresh: float = 0.05,
    nms_thresh: float = 0.5,
    detections_per_img: int = 300,
    topk_candidates: int = 1000,
    weights: Sequence[float] = (1.0, 1.0, 1.0, 1.0),
) -> tuple:
    """Final detections of a single-stage detector (RetinaNet), for a batch of images, in one
    native call.

    torchvision's ``RetinaNet.postprocess_detections``: per image and level, the sigmoid scores
    of every (anchor, class) pair, those ``> score_thresh`` kept, the ``topk_candidates`` best
    decoded against their anchors (BoxCoder, ``weights``) and clipped to the image; then NMS at
    ``nms_thresh`` within each class over all levels, the kept detections by decreasing score,
    at most ``detections_per_img``.

    Parameters
    ----------
    anchors : array, shape (A, 4)
        Anchors ``(x1, y1, x2, y2)``, shared by every image, level after level.
    class_logits : array, shape (B, A, C)
        Class logits of each anchor (no background class), in the anchors' order: torchvision's
        ``head_outputs["cls_logits"]`` before its split by level. Same library and device.
    box_regression : array, shape (B, A, 4)
        Box deltas ``(dx, dy, dw, dh)`` of each anchor (``head_outputs["bbox_regression"]``).
    image_sizes : array or sequence, shape (B, 2)
        ``(height, width)`` of each image: finite, >= 0.
    num_anchors_per_level : sequence of int
        Anchors of each level, summing to A.
    score_thresh, nms_thresh : float
        torchvision's parameters of the same names; ``score_thresh`` is compared in the dtype of
        the logits, as torch does.
    detections_per_img, topk_candidates : int
        At most this many detections per image, and candidates per level and image (>= 0).
    weights : 4 floats
        BoxCoder weights; ``dw`` and ``dh`` are clamped at log(1000 / 16).

    Returns
    -------
    boxes : array, shape (B, D, 4)
        Detections of image b in rows ``[0, counts[b])`` by decreasing score, zeros after;
        ``D = min(detections_per_img, sum over levels of min(topk_candidates, level size * C))``.
    scores : array, shape (B, D)
        Sigmoid of the class logit.
    labels : array of int64, shape (B, D)
        Class index in ``[0, C)``.
    counts : array of int64, shape (B,)

    Notes
    -----
    The same detections as torchvision on ordinary inputs (tested). Equal scores at the
    ``topk_candidates`` cut select the lower (anchor, class) index first, and equal scores are
    listed in that order (``torch.topk`` leaves the order of ties unspecified). NaN logits never
    pass ``score_thresh``.

    On CUDA (torch or CuPy arrays) the call runs on the arrays' device and stream without any
    host synchronisation (``counts`` stays on the device); float16 and bfloat16 inputs are kept
    (arithmetic in float32, outputs in the input dtype), mixed dtypes run in float32, float64 is
    refused. ``image_sizes`` is read on the host.

    Examples
    --------
    >>> import numpy as np, foveal
    >>> anchors = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 40, 40]], np.float32)
    >>> logits = np.array([[[3.0, -9.0], [2.0, -9.0], [-9.0, 1.0]]], np.float32)  # 2 classes
    >>> regression = np.zeros((1, 3, 4), np.float32)
    >>> boxes, scores, labels, counts = foveal.ops.retinanet_postprocess(
    ...     anchors, logits, regression, [(100, 100)], [3])
    >>> counts, labels[0, :2]
    (array([2]), array([0, 1]))
    >>> boxes[0, :2]
    array([[ 0.,  0., 10., 10.],
           [20., 20., 40., 40.]], dtype=float32)
    """
    op = "retinanet_postprocess"
    call = Call(op, "postprocess", anchors=anchors, class_logits=class_logits, box_regression=box_regression)
    dets = _integer(op, "detections_per_img", detections_per_img)
    topk = _integer(op, "topk_candidates", topk_candidates)
    levels = _levels(op, num_anchors_per_level)
    st = real(op, "score_thresh", score_thresh)
    thr = real(op, "nms_thresh", nms_thresh)
    w = _weights(op, weights)
    sizes = _image_sizes(op, image_sizes)
    a, c, r = call.floats("anchors", "class_logits", "box_regression")
    b, nc = dim(c, 0, 3), dim(c, 2, 3)
    k = max(0, min(dets, sum(min(topk, n * nc) for n in levels)))
    boxes = call.empty((b, k, 4))
    scores = call.empty((b, k))
    labels = call.empty((b, k), "int64")
    counts = call.empty((b,), "int64")
    call.run(
        _core.retinanet_postprocess, a, c, r, sizes, levels, st, thr, dets, topk, w, _BBOX_XFORM_CLIP,
        boxes, scores, labels, counts,
    )
    return call.wrap(boxes), call.wrap(scores), call.wrap(labels), call.wrap(counts)
