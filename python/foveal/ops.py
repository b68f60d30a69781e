# SPDX-License-Identifier: Apache-2.0
"""Detection operations, with torchvision.ops names, signatures and semantics.

Boxes are ``(x1, y1, x2, y2)`` in continuous coordinates; a box's area is
``(x2 - x1) * (y2 - y1)`` (no +1).

dtype policy (``box_iou``'s output dtype, the dtype ``nms`` computes in): float64 -> float64;
float32 -> float32; float16 -> float16 on CUDA (arithmetic in float32), float32 on the CPU;
bfloat16, integers and bool -> float32. Arguments of different dtypes use the widest of those.
Inputs are never modified; non-contiguous inputs are copied to contiguous ones first.

Errors: bad shapes and values raise :class:`foveal.FovealValueError`, bad types and dtypes
:class:`foveal.FovealTypeError`; both are also ``RuntimeError``, as torchvision's errors are.
torch tensors that require grad (with grad mode on) are refused rather than silently detached:
these ops record no autograd graph.
"""
from __future__ import annotations

from typing import Any

from . import _core
from ._arrays import Call, dim, real

__all__ = ["box_iou", "nms"]


def box_iou(boxes1: Any, boxes2: Any) -> Any:
    """Intersection over union of every pair of boxes.

    Parameters
    ----------
    boxes1 : array, shape (N, 4)
        Boxes ``(x1, y1, x2, y2)``: numpy, or cupy / torch / jax (CPU or CUDA).
    boxes2 : array, shape (M, 4)
        Same library and device as ``boxes1``.

    Returns
    -------
    iou : array, shape (N, M)
        ``iou[i, j] = inter / (area_i + area_j - inter)``, in the library and on the device of
        the inputs, with the dtype given by the module's dtype policy.

    Notes
    -----
    Matches ``torchvision.ops.box_iou`` (tested). Degenerate boxes give 0 against others, and NaN
    against themselves (0 / 0), as the formula does in IEEE arithmetic.

    Examples
    --------
    >>> import numpy as np, foveal
    >>> a = np.array([[1, 1, 4, 4]], dtype=np.float32)
    >>> b = np.array([[2, 2, 5, 5], [7, 7, 9, 9]], dtype=np.float32)
    >>> foveal.ops.box_iou(a, b)
    array([[0.2857143, 0.       ]], dtype=float32)
    """
    call = Call("box_iou", boxes1=boxes1, boxes2=boxes2)
    b1, b2 = call.floats("boxes1", "boxes2")
    out = call.empty((dim(b1, 0, 2), dim(b2, 0, 2)))
    call.run(_core.box_iou, b1, b2, out)
    return call.wrap(out)


def nms(boxes: Any, scores: Any, iou_threshold: float) -> Any:
    """Greedy non-maximum suppression.

    Boxes are visited by decreasing score; a box is kept unless a kept box overlaps it with
    ``IoU > iou_threshold``.

    Parameters
    ----------
    boxes : array, shape (N, 4)
        Boxes ``(x1, y1, x2, y2)``: numpy, or cupy / torch / jax (CPU or CUDA).
    scores : array, shape (N,)
        Score of each box. Same library and device as ``boxes``.
    iou_threshold : float
        Any real number, as in torchvision: a pair with IoU strictly greater than this suppresses
        the lower-ranked box. Below 0, a kept box suppresses every box whose IoU with it is a
        number (0 included); from 1 up, nothing is suppressed. NaN is refused.

    Returns
    -------
    keep : array of int64, shape (K,)
        Indices of the kept boxes, by decreasing score, in the inputs' library and device.
        For jax inputs the indices are int32 unless ``jax_enable_x64`` is on (jax's own rule).

    Notes
    -----
    Same signature as ``torchvision.ops.nms`` and the same keep list on ordinary inputs, plus a
    fixed order for ties: equal scores are visited lower index first, so CPU and CUDA keep the
    same boxes, always (IoU is evaluated with the same IEEE operations on both). One rule
    differs from torchvision: NaN scores rank *below* every other score here, where torch's
    descending sort ranks them first.
    A box with a NaN or infinite coordinate, or zero or negative width or height, has IoU above
    the threshold with no box: it is kept when reached and suppresses nothing.

    The CPU backend buckets box centres into a uniform grid and, for each kept box, visits only
    the cells where a box with IoU above the threshold can lie, so its work follows the number
    of nearby boxes rather than N times the number kept.

    Examples
    --------
    >>> import numpy as np, foveal
    >>> boxes = np.array([[1, 1, 4, 4], [2, 2, 5, 5], [1.1, 1, 4, 4]], dtype=np.float32)
    >>> scores = np.array([0.9, 0.8, 0.7], dtype=np.float32)
    >>> foveal.ops.nms(boxes, scores, 0.5)
    array([0, 1])
    """
    call = Call("nms", boxes=boxes, scores=scores)
    thr = real("nms", "iou_threshold", iou_threshold)
    b, s = call.floats("boxes", "scores")
    keep = call.empty((dim(b, 0, 2),), "int64")
    count = call.run(_core.nms, b, s, thr, keep)
    return call.head(keep, count)
