# SPDX-License-Identifier: Apache-2.0
"""Detection operations, with torchvision.ops names, signatures and semantics.

Boxes are ``(x1, y1, x2, y2)`` in continuous coordinates; a box's area is
``(x2 - x1) * (y2 - y1)`` (no +1).

dtype policy (``box_iou``'s output dtype, the dtype ``nms`` computes in): float64 -> float64;
float32 -> float32; float16 -> float16 on CUDA (arithmetic in float32), float32 on the CPU;
bfloat16, integers and bool -> float32. Arguments of different dtypes use the widest of those.
Inputs are never modified; non-contiguous inputs are copied to contiguous ones first.
"""
from __future__ import annotations

from typing import Any

from . import _arrays, _core

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
    lib = _arrays.common_library(boxes1=boxes1, boxes2=boxes2)
    cuda = _arrays.is_cuda(boxes1, lib)
    dtype = _arrays.float_type(
        "box_iou", {"boxes1": _arrays.dtype_name(boxes1), "boxes2": _arrays.dtype_name(boxes2)}, cuda
    )
    b1 = _arrays.prepare(boxes1, lib, dtype)
    b2 = _arrays.prepare(boxes2, lib, dtype)
    # The core validates shapes; a malformed input only needs *some* output to reach that check.
    n = b1.shape[0] if b1.ndim == 2 else 0
    m = b2.shape[0] if b2.ndim == 2 else 0
    out = _arrays.empty((n, m), dtype, b1, lib)
    _core.box_iou(b1, b2, out, stream=_arrays.stream_of(b1, lib))
    return _arrays.wrap(out, lib)


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
        In ``[0, 1]``. Pairs with IoU strictly greater than this suppress the lower-ranked box.

    Returns
    -------
    keep : array of int64, shape (K,)
        Indices of the kept boxes, by decreasing score, in the inputs' library and device.

    Notes
    -----
    Same semantics and signature as ``torchvision.ops.nms``, plus a fixed order for ties: equal
    scores are visited lower index first, so CPU and CUDA keep the same boxes, always (IoU is
    evaluated with the same IEEE operations on both). NaN scores rank below every other score.
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
    lib = _arrays.common_library(boxes=boxes, scores=scores)
    try:
        thr = float(iou_threshold)
    except (TypeError, ValueError):
        raise TypeError(f"nms: iou_threshold must be a real number, got {iou_threshold!r}") from None
    cuda = _arrays.is_cuda(boxes, lib)
    dtype = _arrays.float_type(
        "nms", {"boxes": _arrays.dtype_name(boxes), "scores": _arrays.dtype_name(scores)}, cuda
    )
    b = _arrays.prepare(boxes, lib, dtype)
    s = _arrays.prepare(scores, lib, dtype)
    keep = _arrays.empty((b.shape[0] if b.ndim == 2 else 0,), "int64", b, lib)
    count = _core.nms(b, s, thr, keep, stream=_arrays.stream_of(b, lib))
    return _arrays.wrap(keep[:count], lib)
