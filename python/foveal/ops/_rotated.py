# SPDX-License-Identifier: Apache-2.0
"""Rotated boxes (cx, cy, w, h, angle in degrees, counter-clockwise): IoU, NMS, RoIAlignRotated."""
from __future__ import annotations

from typing import Any

from .. import _core
from .._arrays import Call, detection_policy, dim, dtype_name, real, register_policy
from .._errors import FovealTypeError
from ._roi import _input_shape, _int_arg, _output_size


# -- rotated boxes -----------------------------------------------------------------------------


def _rotated_policy(op: str, dtypes: dict[str, str], cuda: bool) -> str:
    """Rotated-box ops compute in float64 when any float argument is float64, else float32
    (float16 and bfloat16 included, on every device)."""
    detection_policy(op, dtypes, cuda)  # the same real dtypes (complex was cast, dropping its imaginary part)
    return "float64" if "float64" in dtypes.values() else "float32"


register_policy("rotated", _rotated_policy)


def box_iou_rotated(boxes1: Any, boxes2: Any) -> Any:
    """Intersection over union of every pair of rotated boxes.

    Parameters
    ----------
    boxes1 : array, shape (N, 5)
        Boxes ``(cx, cy, w, h, angle)``, angle in degrees, counter-clockwise as seen in an image
        (y axis down): the convention of detectron2's ``pairwise_iou_rotated`` and of
        torchvision's ``box_iou(..., fmt='cxcywhr')`` (they agree; tested). numpy, or cupy / torch
        / jax (CPU or CUDA).
    boxes2 : array, shape (M, 5)
        Same library and device as ``boxes1``.

    Returns
    -------
    iou : array, shape (N, M)
        float64 for float64 inputs, float32 otherwise (torchvision's rotated IoU is float32 even
        for float64 boxes); in the library and on the device of the inputs.

    Notes
    -----
    The intersection is the exact convex polygon: box 1 is clipped by the four sides of box 2 in
    box 2's own frame (Sutherland-Hodgman), and the shoelace formula gives its area; identical,
    nested, touching and near-parallel boxes need no special case. The intersection is clamped
    to the smaller area, so the IoU lies in [0, 1]. A box of zero or negative width or height
    has IoU 0 with every box (as detectron2 and torchvision); a box with a NaN or infinite value
    has IoU NaN. On the CPU most pairs of spread-out boxes are settled by a vectorised
    bounding-box test before the polygon is clipped.

    Examples
    --------
    >>> import numpy as np, foveal
    >>> a = np.array([[0, 0, 2, 2, 0]], dtype=np.float32)
    >>> b = np.array([[0, 0, 2, 2, 45], [1, 0, 2, 2, 0]], dtype=np.float32)
    >>> foveal.ops.box_iou_rotated(a, b).round(4)
    array([[0.7071, 0.3333]], dtype=float32)
    """
    call = Call("box_iou_rotated", policy="rotated", boxes1=boxes1, boxes2=boxes2)
    b1, b2 = call.floats("boxes1", "boxes2")
    out = call.empty((dim(b1, 0, 2), dim(b2, 0, 2)))
    call.run(_core.box_iou_rotated, b1, b2, out)
    return call.wrap(out)


def nms_rotated(boxes: Any, scores: Any, iou_threshold: float) -> Any:
    """Greedy non-maximum suppression of rotated boxes.

    Parameters
    ----------
    boxes : array, shape (N, 5)
        Boxes ``(cx, cy, w, h, angle)`` as in :func:`box_iou_rotated`, on the CPU or a CUDA
        device.
    scores : array, shape (N,)
        Score of each box; same library.
    iou_threshold : float
        Any real number: a kept box suppresses a lower-ranked one with IoU strictly greater. Below
        0 every pair with a numeric IoU suppresses, from 1 up nothing does; NaN is refused.

    Returns
    -------
    keep : array of int64, shape (K,)
        Indices of the kept boxes, by decreasing score.

    Notes
    -----
    The rules of :func:`nms`: equal scores are visited lower index first, NaN scores after every
    other score; IoU is :func:`box_iou_rotated`'s, so a box with a NaN or infinite value, or zero
    or negative width or height, is kept when reached and suppresses nothing (for thresholds >=
    0). detectron2's ``nms_rotated`` has the same semantics (it sorts scores without a tie rule).
    The CPU backend buckets centres into one grid per size level and tests only pairs whose
    circumscribed circles meet and whose bounding-box overlap and area ratio allow an IoU above
    the threshold, before the exact polygon IoU; the CUDA backend tests every ranked pair with
    the same rule (bitmask greedy, as :func:`nms`; at most 65535 * 64 boxes).

    Examples
    --------
    >>> import numpy as np, foveal
    >>> boxes = np.array([[0, 0, 4, 2, 0], [0, 0, 4, 2, 10], [0, 0, 4, 2, 90]], dtype=np.float32)
    >>> scores = np.array([0.9, 0.8, 0.7], dtype=np.float32)
    >>> foveal.ops.nms_rotated(boxes, scores, 0.5)
    array([0, 2])
    """
    call = Call("nms_rotated", policy="rotated", boxes=boxes, scores=scores)
    thr = real("nms_rotated", "iou_threshold", iou_threshold)
    b, s = call.floats("boxes", "scores")
    keep = call.empty((dim(b, 0, 2),), "int64")
    count = call.run(_core.nms_rotated, b, s, thr, keep)
    return call.head(keep, count)


def batched_nms_rotated(boxes: Any, scores: Any, idxs: Any, iou_threshold: float) -> Any:
    """:func:`nms_rotated` within each category: boxes with different ``idxs`` never suppress
    each other.

    Parameters
    ----------
    boxes : array, shape (N, 5)
        Boxes ``(cx, cy, w, h, angle)``, on the CPU or a CUDA device.
    scores : array, shape (N,)
        Score of each box.
    idxs : array of integers, shape (N,)
        Category of each box.
    iou_threshold : float
        As in :func:`nms_rotated`.

    Returns
    -------
    keep : array of int64, shape (K,)
        Indices of the kept boxes, by decreasing score over all categories.

    Notes
    -----
    detectron2's ``batched_nms_rotated`` shifts each category's boxes far apart and runs one NMS;
    here the category is compared directly, which is exact for any coordinates.

    Examples
    --------
    >>> import numpy as np, foveal
    >>> boxes = np.array([[0, 0, 4, 2, 0], [0, 0, 4, 2, 5], [0, 0, 4, 2, 5]], dtype=np.float32)
    >>> scores = np.array([0.9, 0.8, 0.7], dtype=np.float32)
    >>> foveal.ops.batched_nms_rotated(boxes, scores, np.array([0, 0, 1]), 0.5)
    array([0, 2])
    """
    op = "batched_nms_rotated"
    call = Call(op, policy="rotated", boxes=boxes, scores=scores, idxs=idxs)
    thr = real(op, "iou_threshold", iou_threshold)
    dt = dtype_name(idxs)
    if not dt.startswith(("int", "uint")):
        raise FovealTypeError(f"{op}: idxs must have an integer dtype, got {dt}")
    b, s = call.floats("boxes", "scores")
    i = call.ints("idxs", "int64")
    keep = call.empty((dim(b, 0, 2),), "int64")
    count = call.run(_core.batched_nms_rotated, b, s, i, thr, keep)
    return call.head(keep, count)


def _rotated_roi_call(op: str, main: str, x: Any, rois: Any) -> tuple[Call, Any, Any]:
    call = Call(op, policy="rotated", **{main: x}, rois=rois)
    xs = call.floats(main)
    rdt = dtype_name(rois)
    if not (rdt.startswith(("float", "int", "uint")) or rdt == "bfloat16"):
        raise FovealTypeError(f"{op}: rois must have a real numeric dtype, got {rdt}")
    return call, xs, call.prepare("rois", call.dtype)


def roi_align_rotated(
    input: Any,
    rois: Any,
    output_size: Any,
    spatial_scale: float = 1.0,
    sampling_ratio: int = -1,
    aligned: bool = True,
) -> Any:
    """RoIAlign over rotated regions (detectron2's ``ROIAlignRotated``).

    Parameters
    ----------
    input : array, shape (N, C, H, W)
        Feature maps, float32 or float64 (other dtypes compute in float32).
    rois : array, shape (K, 6)
        Regions ``[batch_index, cx, cy, w, h, angle]`` in image coordinates, angle in degrees
        counter-clockwise (:func:`box_iou_rotated`'s convention). On the CPU batch indices must
        be integers in ``[0, N)``, values finite and ``w, h >= 0``.
    output_size : int or (int, int)
        ``(PH, PW)`` bins per region, each >= 1.
    spatial_scale : float
        Map coordinate = image coordinate * ``spatial_scale``; > 0.
    sampling_ratio : int
        Samples per bin along each axis; <= 0 picks ``ceil(region extent / output extent)``.
    aligned : bool
        Shift the centre by -0.5 pixel (default, and the only behaviour of detectron2); False
        keeps the centre and makes the region at least 1x1, as ``roi_align(aligned=False)``.

    Returns
    -------
    out : array, shape (K, C, PH, PW)
        float64 for float64 input, float32 otherwise.

    Notes
    -----
    Bin ``(ph, pw)`` averages the bilinear samples at the RoI-frame points
    ``(yy, xx) = (-h/2 + (ph + (iy + .5) / gh) * h / PH, -w/2 + (pw + (ix + .5) / gw) * w / PW)``
    turned to ``y = yy cos - xx sin + cy``, ``x = yy sin + xx cos + cx``; sampling and boundary
    rules are those of :func:`roi_align`. With angle 0 and ``aligned=True`` it equals
    ``roi_align(aligned=True)`` of the box ``(cx - w/2, cy - h/2, cx + w/2, cy + h/2)`` (tested).
    The adaptive sampling grid is not separable here: a huge region with ``sampling_ratio <= 0``
    costs (extent / output)**2 samples per bin, as in detectron2.

    Examples
    --------
    >>> import numpy as np, foveal
    >>> x = np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4)
    >>> rois = np.array([[0, 2, 2, 2, 2, 90]], dtype=np.float32)
    >>> foveal.ops.roi_align_rotated(x, rois[:, [0, 1, 2, 3, 4, 2]] * [1, 1, 1, 1, 1, 0], 2, sampling_ratio=1)
    array([[[[ 5.,  6.],
             [ 9., 10.]]]], dtype=float32)
    >>> foveal.ops.roi_align_rotated(x, rois, 2, sampling_ratio=1)  # turned 90 degrees
    array([[[[ 9.,  5.],
             [10.,  6.]]]], dtype=float32)
    """
    op = "roi_align_rotated"
    ph, pw = _output_size(op, output_size)
    scale = real(op, "spatial_scale", spatial_scale)
    ratio = _int_arg(op, "sampling_ratio", sampling_ratio)
    call, x, r = _rotated_roi_call(op, "input", input, rois)
    out = call.empty((dim(r, 0, 2), dim(x, 1, 4), ph, pw))
    call.run(_core.roi_align_rotated, x, r, out, scale, ratio, bool(aligned))
    return call.wrap(out)


def roi_align_rotated_backward(
    grad_output: Any,
    rois: Any,
    input_shape: Any,
    spatial_scale: float = 1.0,
    sampling_ratio: int = -1,
    aligned: bool = True,
) -> Any:
    """Gradient of :func:`roi_align_rotated` with respect to its input.

    Parameters
    ----------
    grad_output : array, shape (K, C, PH, PW)
        Gradient of the loss with respect to ``roi_align_rotated``'s output.
    rois : array, shape (K, 6)
        As given to :func:`roi_align_rotated`.
    input_shape : (int, int, int, int)
        ``(N, C, H, W)`` of the forward input.
    spatial_scale, sampling_ratio, aligned
        As given to :func:`roi_align_rotated`.

    Returns
    -------
    grad_input : array, shape input_shape
        The adjoint of :func:`roi_align_rotated` applied to ``grad_output``.

    Examples
    --------
    >>> import numpy as np, foveal
    >>> rois = np.array([[0, 1.5, 1.5, 2, 2, 30]], dtype=np.float32)  # centre on pixel (1, 1)
    >>> g = foveal.ops.roi_align_rotated_backward(np.ones((1, 1, 1, 1), np.float32), rois, (1, 1, 3, 3),
    ...                                           sampling_ratio=1)
    >>> g[0, 0]
    array([[0., 0., 0.],
           [0., 1., 0.],
           [0., 0., 0.]], dtype=float32)
    """
    op = "roi_align_rotated_backward"
    shape = _input_shape(op, input_shape)
    scale = real(op, "spatial_scale", spatial_scale)
    ratio = _int_arg(op, "sampling_ratio", sampling_ratio)
    call, g, r = _rotated_roi_call(op, "grad_output", grad_output, rois)
    grad_input = call.empty(shape)
    call.run(_core.roi_align_rotated_backward, g, r, grad_input, scale, ratio, bool(aligned))
    return call.wrap(grad_input)
