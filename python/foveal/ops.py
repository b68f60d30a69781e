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

import functools
import math
import numbers
import operator
from typing import Any, Sequence

import numpy as np

from . import _arrays, _core
from ._arrays import Call, dim, dtype_name, library_of, real
from ._errors import FovealTypeError, FovealValueError

__all__ = [
    "anchor_grid",
    "AnchorGenerator",
    "batched_nms",
    "batched_nms_rotated",
    "box_area",
    "box_convert",
    "box_head_postprocess",
    "box_iou",
    "box_iou_rotated",
    "BoxCoder",
    "clip_boxes_to_image",
    "complete_box_iou",
    "complete_box_iou_loss",
    "decode_boxes",
    "distance_box_iou",
    "distance_box_iou_loss",
    "encode_boxes",
    "generalized_box_iou",
    "generalized_box_iou_loss",
    "matterport_anchors",
    "nms",
    "nms_rotated",
    "remove_small_boxes",
    "roi_align",
    "roi_align_backward",
    "roi_align_rotated",
    "roi_align_rotated_backward",
    "roi_pool",
    "roi_pool_backward",
    "rpn_postprocess",
    "soft_nms",
]


def box_iou(boxes1: Any, boxes2: Any, fmt: str = "xyxy") -> Any:
    """Intersection over union of every pair of boxes.

    Parameters
    ----------
    boxes1 : array, shape (N, 4) or (..., N, 4)
        Boxes in format ``fmt``: numpy, or cupy / torch / jax (CPU or CUDA).
    boxes2 : array, shape (M, 4) or (..., M, 4)
        Same library and device as ``boxes1``. Leading (batch) dimensions of the two broadcast
        against each other, as in torchvision.
    fmt : {'xyxy', 'xywh', 'cxcywh', 'cxcywhr', 'xywhr', 'xyxyxyxy'}, optional
        Format of both inputs (see :func:`box_convert`); other axis-aligned formats are converted
        to ``'xyxy'`` first. The rotated formats go, as in torchvision, to the rotated-box IoU
        (:func:`box_iou_rotated`, 2-D inputs only) after conversion to ``'cxcywhr'``; torchvision's
        angle (degrees, counter-clockwise in the image) is detectron2's, so no angle conversion
        is needed (tested against both).

    Returns
    -------
    iou : array, shape (N, M) or (..., N, M)
        ``iou[..., i, j] = inter / (area_i + area_j - inter)``, in the library and on the device of
        the inputs, with the dtype given by the module's dtype policy.

    Notes
    -----
    Matches ``torchvision.ops.box_iou`` (tested). Degenerate boxes give 0 against others, and NaN
    against themselves (0 / 0), as the formula does in IEEE arithmetic. For ``'xywh'`` and
    ``'cxcywh'`` the corners are computed first, so the result can differ from torchvision's (which
    takes the area straight from ``w * h``) in the last bits.

    Examples
    --------
    >>> import numpy as np, foveal
    >>> a = np.array([[1, 1, 4, 4]], dtype=np.float32)
    >>> b = np.array([[2, 2, 5, 5], [7, 7, 9, 9]], dtype=np.float32)
    >>> foveal.ops.box_iou(a, b)
    array([[0.2857143, 0.       ]], dtype=float32)
    """
    if fmt in _ROTATED_FMTS:
        _check_boxes("box_iou", "boxes1", boxes1, _FMT_WIDTH[fmt], "N")
        _check_boxes("box_iou", "boxes2", boxes2, _FMT_WIDTH[fmt], "M")
        if fmt != "cxcywhr":
            boxes1 = box_convert(boxes1, fmt, "cxcywhr")
            boxes2 = box_convert(boxes2, fmt, "cxcywhr")
        return box_iou_rotated(boxes1, boxes2)
    fmt = _axis_aligned_fmt("box_iou", fmt)
    if fmt != "xyxy":
        _check_boxes("box_iou", "boxes1", boxes1, 4, "N")
        _check_boxes("box_iou", "boxes2", boxes2, 4, "M")
        boxes1 = box_convert(boxes1, fmt, "xyxy")
        boxes2 = box_convert(boxes2, fmt, "xyxy")
    return _pairwise("box_iou", _core.box_iou, boxes1, boxes2)


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
    any threshold >= 0 with no box: it is kept when reached and suppresses nothing.

    The CPU backend buckets box centres into grids, one per size level, each stored densely or,
    when boxes are spread out, as a hashed set of occupied cells. For each kept box it visits
    only the cells where a box with IoU above the threshold can lie, so its work follows the
    number of nearby boxes rather than N times the number kept, whatever the span of the boxes
    or the size of the largest.

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


# -- pairwise IoU variants ------------------------------------------------------------------


def generalized_box_iou(boxes1: Any, boxes2: Any) -> Any:
    """Generalised intersection over union of every pair of boxes.

    ``giou = iou - (C - U) / C``, with ``U`` the union of the two boxes and ``C`` the area of the
    smallest box enclosing both (Rezatofighi et al., 2019). It lies in ``(-1, 1]``, and unlike
    IoU still ranks disjoint boxes by how far apart they are.

    Parameters
    ----------
    boxes1 : array, shape (N, 4) or (..., N, 4)
        Boxes ``(x1, y1, x2, y2)``: numpy, or cupy / torch / jax (CPU or CUDA).
    boxes2 : array, shape (M, 4) or (..., M, 4)
        Same library and device as ``boxes1``; leading (batch) dimensions broadcast.

    Returns
    -------
    giou : array, shape (N, M) or (..., N, M)
        In the library and on the device of the inputs, dtype by the module's dtype policy.

    Notes
    -----
    Matches ``torchvision.ops.generalized_box_iou`` (tested): the same formula with the same
    operations, so two degenerate boxes that coincide give NaN (0 / 0), as there.

    Examples
    --------
    >>> import numpy as np, foveal
    >>> a = np.array([[0, 0, 2, 2]], dtype=np.float32)
    >>> b = np.array([[1, 1, 3, 3], [3, 0, 4, 2]], dtype=np.float32)
    >>> foveal.ops.generalized_box_iou(a, b)
    array([[-0.07936507, -0.25      ]], dtype=float32)
    """
    return _pairwise("generalized_box_iou", _core.generalized_box_iou, boxes1, boxes2)


def distance_box_iou(boxes1: Any, boxes2: Any, eps: float = 1e-7) -> Any:
    """Distance intersection over union of every pair of boxes.

    ``diou = iou - d^2 / (c^2 + eps)``, with ``d`` the distance between the two boxes' centres and
    ``c`` the diagonal of the smallest box enclosing both (Zheng et al., 2020).

    Parameters
    ----------
    boxes1 : array, shape (N, 4) or (..., N, 4)
        Boxes ``(x1, y1, x2, y2)``: numpy, or cupy / torch / jax (CPU or CUDA).
    boxes2 : array, shape (M, 4) or (..., M, 4)
        Same library and device as ``boxes1``; leading (batch) dimensions broadcast.
    eps : float, optional
        Added to ``c^2`` so that coinciding point boxes do not divide by zero. Default 1e-7.

    Returns
    -------
    diou : array, shape (N, M) or (..., N, M)
        In the library and on the device of the inputs, dtype by the module's dtype policy.

    Notes
    -----
    Matches ``torchvision.ops.distance_box_iou`` (tested).

    Examples
    --------
    >>> import numpy as np, foveal
    >>> a = np.array([[0, 0, 2, 2]], dtype=np.float64)
    >>> b = np.array([[1, 1, 3, 3]], dtype=np.float64)
    >>> foveal.ops.distance_box_iou(a, b)
    array([[0.03174603]])
    """
    eps = real("distance_box_iou", "eps", eps)
    return _pairwise("distance_box_iou", _core.distance_box_iou, boxes1, boxes2, eps)


def complete_box_iou(boxes1: Any, boxes2: Any, eps: float = 1e-7) -> Any:
    """Complete intersection over union of every pair of boxes.

    ``ciou = diou - alpha * v``, with :func:`distance_box_iou`'s ``diou``,
    ``v = 4 / pi^2 * (atan(w1 / h1) - atan(w2 / h2))^2`` the aspect-ratio discrepancy and
    ``alpha = v / (1 - iou + v + eps)`` (Zheng et al., 2020).

    Parameters
    ----------
    boxes1 : array, shape (N, 4) or (..., N, 4)
        Boxes ``(x1, y1, x2, y2)``: numpy, or cupy / torch / jax (CPU or CUDA).
    boxes2 : array, shape (M, 4) or (..., M, 4)
        Same library and device as ``boxes1``; leading (batch) dimensions broadcast.
    eps : float, optional
        Added to the denominators of the distance term and of ``alpha``. Default 1e-7.

    Returns
    -------
    ciou : array, shape (N, M) or (..., N, M)
        In the library and on the device of the inputs, dtype by the module's dtype policy.

    Notes
    -----
    Matches ``torchvision.ops.complete_box_iou`` (tested). A box of zero height has aspect angle
    ``atan(inf) = pi / 2``; one of zero width and height gives NaN, as there.

    Examples
    --------
    >>> import numpy as np, foveal
    >>> a = np.array([[0, 0, 2, 2]], dtype=np.float64)
    >>> b = np.array([[1, 1, 3, 4]], dtype=np.float64)
    >>> foveal.ops.complete_box_iou(a, b)
    array([[-0.01916455]])
    """
    eps = real("complete_box_iou", "eps", eps)
    return _pairwise("complete_box_iou", _core.complete_box_iou, boxes1, boxes2, eps)


def _pairwise(op: str, kernel: Any, boxes1: Any, boxes2: Any, *scalars: float) -> Any:
    """A pairwise box kernel: (..., N, 4) x (..., M, 4) -> (..., N, M), batch dims broadcast."""
    call = Call(op, boxes1=boxes1, boxes2=boxes2)
    b1, b2 = call.floats("boxes1", "boxes2")
    if b1.ndim == 2 and b2.ndim == 2:  # the common case: no batch dimensions
        out = call.empty((b1.shape[0], b2.shape[0]))
    else:
        _check_boxes(op, "boxes1", b1, 4, "N")
        _check_boxes(op, "boxes2", b2, 4, "M")
        batch = _broadcast_shape(op, b1.shape[:-2], b2.shape[:-2], b1.shape, b2.shape)
        b1 = _expand(call.lib, b1, batch + tuple(b1.shape[-2:]))
        b2 = _expand(call.lib, b2, batch + tuple(b2.shape[-2:]))
        out = call.empty(batch + (b1.shape[-2], b2.shape[-2]))
    call.run(kernel, b1, b2, *scalars, out)
    return call.wrap(out)


def _broadcast_shape(op: str, s1: tuple, s2: tuple, full1: tuple, full2: tuple) -> tuple:
    try:
        return tuple(np.broadcast_shapes(tuple(s1), tuple(s2)))
    except ValueError:
        raise FovealValueError(
            f"{op}: the batch dimensions of boxes1 and boxes2 must broadcast, got shapes "
            f"{tuple(full1)} and {tuple(full2)}"
        ) from None


def _expand(lib: str, x: Any, shape: tuple) -> Any:
    """``x`` broadcast to ``shape``, C-contiguous (a copy only when the shape changes)."""
    if tuple(x.shape) == shape:
        return x
    if isinstance(x, np.ndarray):  # numpy, and torch CPU tensors travelling as numpy views
        return np.ascontiguousarray(np.broadcast_to(x, shape))
    if lib == "torch":
        return x.expand(shape).contiguous()
    if lib == "cupy":
        import cupy

        with x.device:
            return cupy.ascontiguousarray(cupy.broadcast_to(x, shape))
    import jax.numpy as jnp

    return jnp.broadcast_to(x, shape)


# -- box formats and element-wise helpers (composed from the caller's array library) -----------

_AXIS_FMTS = ("xyxy", "xywh", "cxcywh")
_ROTATED_FMTS = ("xywhr", "cxcywhr", "xyxyxyxy")
_FMT_WIDTH = {"xyxy": 4, "xywh": 4, "cxcywh": 4, "xywhr": 5, "cxcywhr": 5, "xyxyxyxy": 8}


def _axis_aligned_fmt(op: str, fmt: Any) -> str:
    if fmt in _AXIS_FMTS:
        return fmt
    if fmt in _ROTATED_FMTS:
        raise FovealValueError(f"{op}: fmt must be 'xyxy', 'xywh' or 'cxcywh', got the rotated format {fmt!r}")
    if op == "box_iou":
        raise FovealValueError(
            f"{op}: fmt must be 'xyxy', 'xywh' or 'cxcywh' (or a rotated format: 'cxcywhr', 'xywhr', "
            f"'xyxyxyxy'), got {fmt!r}"
        )
    raise FovealValueError(f"{op}: fmt must be 'xyxy', 'xywh' or 'cxcywh', got {fmt!r}")


def _check_boxes(op: str, name: str, x: Any, width: int, rows: str | None = None) -> str:
    """Check that ``x`` is an array of boxes of ``width`` coordinates, ``(..., width)``, or
    ``(rows, width)`` / ``(..., rows, width)`` when ``rows`` names a row dimension. Returns its
    library."""
    lib = library_of(x, name, op)
    shape = tuple(x.shape)
    if rows is None:
        if len(shape) < 1 or shape[-1] != width:
            raise FovealValueError(f"{op}: {name} must have shape (..., {width}), got {shape}")
    elif len(shape) < 2 or shape[-1] != width:
        raise FovealValueError(
            f"{op}: {name} must have shape ({rows}, {width}), got {shape} "
            f"(or (..., {rows}, {width}) with batch dimensions)"
        )
    dt = dtype_name(x)
    if not (dt.startswith(("float", "int", "uint")) or dt == "bfloat16"):
        raise FovealTypeError(f"{op}: {name} must have a real numeric dtype, got {dt}")
    return lib


class _Xp:
    """The few array functions the composed ops need, from the caller's library, so that
    results keep its dtype rules, device and (torch) autograd."""

    def __init__(self, lib: str) -> None:
        self.lib = lib
        if lib == "numpy":
            self.m = np
        elif lib == "torch":
            import torch

            self.m = torch
        elif lib == "cupy":
            import cupy

            self.m = cupy
        else:
            import jax.numpy as jnp

            self.m = jnp

    def stack(self, xs: Sequence[Any]) -> Any:
        return self.m.stack(list(xs), dim=-1) if self.lib == "torch" else self.m.stack(list(xs), axis=-1)

    def atan(self, x: Any) -> Any:
        return self.m.atan(x) if self.lib == "torch" else self.m.arctan(x)

    def atan2(self, y: Any, x: Any) -> Any:
        return self.m.atan2(y, x) if self.lib == "torch" else self.m.arctan2(y, x)

    def clip(self, x: Any, lo: Any, hi: Any) -> Any:
        return self.m.clamp(x, min=lo, max=hi) if self.lib == "torch" else self.m.clip(x, lo, hi)

    def copy(self, x: Any) -> Any:
        if self.lib == "torch":
            return x.clone()
        return self.m.array(x, copy=True)

    def astype(self, x: Any, name: str) -> Any:
        if self.lib == "torch":
            return x.to(getattr(self.m, name))
        return x.astype(name)

    def round_to(self, x: Any, name: str) -> Any:
        """Round to nearest (ties to even) and cast to integer dtype ``name``."""
        return self.astype(self.m.round(x), name)

    def nonzero(self, mask: Any) -> Any:
        if mask.ndim == 0:
            mask = mask.reshape(1)
        if self.lib == "torch":
            return self.m.where(mask)[0]
        return self.m.nonzero(mask)[0]

    def stop_gradient(self, x: Any) -> Any:
        if self.lib == "torch":
            return x.detach()
        if self.lib == "jax":
            import jax

            return jax.lax.stop_gradient(x)
        return x


def _is_float(x: Any) -> bool:
    dt = dtype_name(x)
    return dt.startswith("float") or dt == "bfloat16"


def _upcast(xp: _Xp, x: Any) -> Any:
    """torchvision's ``_upcast``: float16/bfloat16 -> float32, 8/16-bit integers -> int32."""
    dt = dtype_name(x)
    if dt in ("float32", "float64", "int32", "int64"):
        return x
    return xp.astype(x, "float32" if _is_float(x) else "int32")


def _unbind(x: Any, k: int) -> list:
    return [x[..., i] for i in range(k)]


def box_area(boxes: Any, fmt: str = "xyxy") -> Any:
    """Area of each box.

    Parameters
    ----------
    boxes : array, shape (..., 4)
        Boxes in format ``fmt``: numpy, or cupy / torch / jax.
    fmt : {'xyxy', 'xywh', 'cxcywh'}, optional
        Format of ``boxes`` (see :func:`box_convert`). Default ``'xyxy'``.

    Returns
    -------
    area : array, shape (...)
        ``(x2 - x1) * (y2 - y1)`` for ``'xyxy'``, ``w * h`` otherwise; no +1. Degenerate and
        inverted boxes give zero or negative areas, unclamped, as in torchvision.

    Notes
    -----
    Same rules as ``torchvision.ops.box_area``, dtypes included: float16 and bfloat16 are
    computed in float32, 8- and 16-bit integers in int32, other dtypes are kept. Composed from
    the caller's array operations (torch autograd flows through it).

    Examples
    --------
    >>> import numpy as np, foveal
    >>> foveal.ops.box_area(np.array([[1, 1, 4, 3], [0, 0, 2, 2]], dtype=np.float32))
    array([6., 4.], dtype=float32)
    """
    fmt = _axis_aligned_fmt("box_area", fmt)
    xp = _Xp(_check_boxes("box_area", "boxes", boxes, 4))
    b = _upcast(xp, boxes)
    if fmt == "xyxy":
        return (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])
    return b[..., 2] * b[..., 3]


def box_convert(boxes: Any, in_fmt: str, out_fmt: str) -> Any:
    """Convert boxes between formats.

    Axis-aligned formats (4 numbers per box):

    - ``'xyxy'``: corners ``(x1, y1, x2, y2)``, top left and bottom right;
    - ``'xywh'``: top-left corner, width and height ``(x1, y1, w, h)``;
    - ``'cxcywh'``: centre, width and height ``(cx, cy, w, h)``.

    Rotated formats (torchvision's conventions: angles in degrees, counter-clockwise in the image
    plane, whose y axis points down, about the box centre):

    - ``'cxcywhr'``: ``(cx, cy, w, h, r)``;
    - ``'xywhr'``: ``(x1, y1, w, h, r)`` with ``(x1, y1)`` the rotated top-left corner;
    - ``'xyxyxyxy'``: the four corners ``(x1, y1, x2, y2, x3, y3, x4, y4)``: top left, top right,
      bottom right, bottom left of the rotated box.

    Conversions are between two axis-aligned formats or between two rotated ones, as in
    torchvision.

    Parameters
    ----------
    boxes : array, shape (..., K)
        ``K`` = 4, 5 or 8 as ``in_fmt`` requires; any leading dimensions. numpy, or cupy / torch /
        jax.
    in_fmt, out_fmt : str
        One of the formats above.

    Returns
    -------
    boxes : array, shape (..., K')
        A new array (a copy when ``in_fmt == out_fmt``). Float inputs keep their dtype; integer
        boxes in a rotated format are computed in floats, rounded to nearest and cast back, as
        torchvision does.

    Notes
    -----
    The same arithmetic as ``torchvision.ops.box_convert`` (tested on every pair), in the
    caller's array library (torch autograd flows through it). With ``(cx, cy, w, h, r)`` and
    ``t = r * pi / 180``: top left ``x1 = cx - w/2 cos t - h/2 sin t``, ``y1 = cy - h/2 cos t
    + w/2 sin t``; top right ``(x1 + w cos t, y1 - w sin t)``; bottom right adds
    ``(h sin t, h cos t)`` to the top right. From corners, ``r = atan2(y1 - y2, x2 - x1)`` in
    degrees, ``w = |p2 - p1|``, ``h = |p3 - p2|``.

    Examples
    --------
    >>> import numpy as np, foveal
    >>> foveal.ops.box_convert(np.array([[10.0, 20, 4, 6]]), "cxcywh", "xyxy")
    array([[ 8., 17., 12., 23.]])
    >>> foveal.ops.box_convert(np.array([[0.0, 0, 2, 1, 90]]), "xywhr", "xyxyxyxy").round(6)
    array([[ 0.,  0.,  0., -2.,  1., -2.,  1.,  0.]])
    """
    op = "box_convert"
    for name, f in (("in_fmt", in_fmt), ("out_fmt", out_fmt)):
        if f not in _FMT_WIDTH:
            raise FovealValueError(
                f"{op}: {name} must be one of {', '.join(repr(k) for k in _FMT_WIDTH)}, got {f!r}"
            )
    xp = _Xp(_check_boxes(op, "boxes", boxes, _FMT_WIDTH[in_fmt]))
    if in_fmt == out_fmt:
        return xp.copy(boxes)
    if (in_fmt in _ROTATED_FMTS) != (out_fmt in _ROTATED_FMTS):
        raise FovealValueError(
            f"{op}: in_fmt {in_fmt!r} and out_fmt {out_fmt!r} must both be axis-aligned "
            f"({', '.join(_AXIS_FMTS)}) or both rotated ({', '.join(_ROTATED_FMTS)})"
        )
    if in_fmt in _AXIS_FMTS:
        b = boxes if in_fmt == "xyxy" else _to_xyxy(xp, boxes, in_fmt)
        return b if out_fmt == "xyxy" else _from_xyxy(xp, b, out_fmt)
    # Rotated: through xywhr, with torchvision's rounding of integer boxes after each step.
    cast = None if _is_float(boxes) else dtype_name(boxes)
    if in_fmt == "cxcywhr":
        b = _cxcywhr_to_xywhr(xp, boxes, cast)
    elif in_fmt == "xyxyxyxy":
        b = _xyxyxyxy_to_xywhr(xp, boxes, cast)
    else:
        b = boxes
    if out_fmt == "cxcywhr":
        return _xywhr_to_cxcywhr(xp, b, cast)
    if out_fmt == "xyxyxyxy":
        return _xywhr_to_xyxyxyxy(xp, b, cast)
    return b


def _to_xyxy(xp: _Xp, b: Any, fmt: str) -> Any:
    p, q, w, h = _unbind(b, 4)
    if fmt == "xywh":
        return xp.stack((p, q, p + w, q + h))
    return xp.stack((p - 0.5 * w, q - 0.5 * h, p + 0.5 * w, q + 0.5 * h))  # cxcywh


def _from_xyxy(xp: _Xp, b: Any, fmt: str) -> Any:
    x1, y1, x2, y2 = _unbind(b, 4)
    if fmt == "xywh":
        return xp.stack((x1, y1, x2 - x1, y2 - y1))
    return xp.stack(((x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1))  # cxcywh


def _rotated_out(xp: _Xp, cols: Sequence[Any], cast: str | None) -> Any:
    out = xp.stack(cols)
    return out if cast is None else xp.round_to(out, cast)


def _cos_sin(xp: _Xp, r: Any) -> tuple:
    t = r * math.pi / 180.0
    return xp.m.cos(t), xp.m.sin(t)


def _cxcywhr_to_xywhr(xp: _Xp, b: Any, cast: str | None) -> Any:
    cx, cy, w, h, r = _unbind(b, 5)
    c, s = _cos_sin(xp, r)
    return _rotated_out(xp, (cx - w / 2 * c - h / 2 * s, cy - h / 2 * c + w / 2 * s, w, h, r), cast)


def _xywhr_to_cxcywhr(xp: _Xp, b: Any, cast: str | None) -> Any:
    x1, y1, w, h, r = _unbind(b, 5)
    c, s = _cos_sin(xp, r)
    return _rotated_out(xp, (x1 + w / 2 * c + h / 2 * s, y1 - w / 2 * s + h / 2 * c, w, h, r), cast)


def _xywhr_to_xyxyxyxy(xp: _Xp, b: Any, cast: str | None) -> Any:
    x1, y1, w, h, r = _unbind(b, 5)
    c, s = _cos_sin(xp, r)
    x2, y2 = x1 + w * c, y1 - w * s
    return _rotated_out(xp, (x1, y1, x2, y2, x2 + h * s, y2 + h * c, x1 + h * s, y1 + h * c), cast)


def _xyxyxyxy_to_xywhr(xp: _Xp, b: Any, cast: str | None) -> Any:
    x1, y1, x2, y2, x3, y3, _, _ = _unbind(b, 8)
    r = xp.atan2(y1 - y2, x2 - x1) * 180 / math.pi
    w = xp.m.sqrt((x2 - x1) ** 2 + (y1 - y2) ** 2)
    h = xp.m.sqrt((x3 - x2) ** 2 + (y3 - y2) ** 2)
    return _rotated_out(xp, (x1, y1, w, h, r), cast)


def clip_boxes_to_image(boxes: Any, size: tuple[int, int]) -> Any:
    """Clip boxes to an image: x to ``[0, width]``, y to ``[0, height]``.

    Parameters
    ----------
    boxes : array, shape (..., 4)
        Boxes ``(x1, y1, x2, y2)``: numpy, or cupy / torch / jax.
    size : (height, width)
        The image size, two real numbers (torchvision's order).

    Returns
    -------
    boxes : array, shape (..., 4)
        A new array; dtype as the caller's library's clip gives (torch turns integer boxes clipped
        to a float size into floats, as torchvision does). NaN coordinates stay NaN.

    Examples
    --------
    >>> import numpy as np, foveal
    >>> foveal.ops.clip_boxes_to_image(np.array([[-5.0, 2, 30, 50]]), (40, 20))
    array([[ 0.,  2., 20., 40.]])
    """
    op = "clip_boxes_to_image"
    xp = _Xp(_check_boxes(op, "boxes", boxes, 4))
    if isinstance(size, (str, bytes)) or not hasattr(size, "__len__") or len(size) != 2:
        raise FovealValueError(f"{op}: size must be (height, width), got {size!r}")
    height, width = (
        int(v) if isinstance(v, numbers.Integral) else real(op, f"size[{i}]", v) for i, v in enumerate(size)
    )
    x1, y1, x2, y2 = _unbind(boxes, 4)
    return xp.stack(
        (xp.clip(x1, 0, width), xp.clip(y1, 0, height), xp.clip(x2, 0, width), xp.clip(y2, 0, height))
    )


def remove_small_boxes(boxes: Any, min_size: float) -> Any:
    """Indices of the boxes whose width and height are both at least ``min_size``.

    Parameters
    ----------
    boxes : array, shape (N, 4) or (..., 4)
        Boxes ``(x1, y1, x2, y2)``: numpy, or cupy / torch / jax.
    min_size : float
        Minimum side length; a box with ``x2 - x1 >= min_size`` and ``y2 - y1 >= min_size`` is
        kept. NaN is refused.

    Returns
    -------
    keep : array of int64, shape (K,)
        Increasing indices along the first axis (for batched boxes, torchvision's quirk is kept:
        the first-axis index of each kept box, one entry per kept box). Boxes with NaN sides are
        dropped.

    Examples
    --------
    >>> import numpy as np, foveal
    >>> foveal.ops.remove_small_boxes(np.array([[0, 0, 5, 5], [0, 0, 0.5, 9]]), 1.0)
    array([0])
    """
    op = "remove_small_boxes"
    xp = _Xp(_check_boxes(op, "boxes", boxes, 4))
    min_size = real(op, "min_size", min_size)
    ws, hs = boxes[..., 2] - boxes[..., 0], boxes[..., 3] - boxes[..., 1]
    return xp.nonzero((ws >= min_size) & (hs >= min_size))


# -- element-wise losses -------------------------------------------------------------------------

_REDUCTIONS = ("none", "mean", "sum")


def _loss_setup(op: str, boxes1: Any, boxes2: Any, reduction: Any, eps: Any) -> tuple:
    lib = _check_boxes(op, "boxes1", boxes1, 4)
    if _check_boxes(op, "boxes2", boxes2, 4) != lib:
        raise FovealTypeError(
            f"{op}: arrays must come from the same array library, got boxes1 from {lib} and boxes2 from "
            f"{library_of(boxes2, 'boxes2', op)}"
        )
    if reduction not in _REDUCTIONS:
        raise FovealValueError(
            f"{op}: Invalid value for reduction: must be 'none', 'mean' or 'sum', got {reduction!r}"
        )
    eps = real(op, "eps", eps)
    _broadcast_shape(op, boxes1.shape[:-1], boxes2.shape[:-1], boxes1.shape, boxes2.shape)
    xp = _Xp(lib)

    def upcast(x: Any) -> Any:  # torchvision's _upcast_non_float
        return x if dtype_name(x) in ("float32", "float64") else xp.astype(x, "float32")

    return xp, upcast(boxes1), upcast(boxes2), eps


def _quiet(fn: Any) -> Any:
    """Run a composed loss with numpy's floating-point warnings off: degenerate boxes give the
    IEEE results (inf, NaN) torchvision gives, not warnings."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with np.errstate(all="ignore"):
            return fn(*args, **kwargs)

    return wrapper


def _reduce(loss: Any, reduction: str) -> Any:
    if reduction == "mean":
        return loss.mean() if _numel(loss) > 0 else 0.0 * loss.sum()
    if reduction == "sum":
        return loss.sum()
    return loss


def _numel(x: Any) -> int:
    return int(np.prod(tuple(x.shape)))


def _loss_inter_union(xp: _Xp, b1: Any, b2: Any) -> tuple:
    """torchvision's element-wise intersection (counted only where both extents are positive) and
    union."""
    x1, y1, x2, y2 = _unbind(b1, 4)
    x1g, y1g, x2g, y2g = _unbind(b2, 4)
    m = xp.m
    xk1, yk1 = m.maximum(x1, x1g), m.maximum(y1, y1g)
    xk2, yk2 = m.minimum(x2, x2g), m.minimum(y2, y2g)
    inter = m.where((yk2 > yk1) & (xk2 > xk1), (xk2 - xk1) * (yk2 - yk1), 0)
    union = (x2 - x1) * (y2 - y1) + (x2g - x1g) * (y2g - y1g) - inter
    return inter, union


def _enclosing(xp: _Xp, b1: Any, b2: Any) -> tuple:
    m = xp.m
    return (
        m.minimum(b1[..., 0], b2[..., 0]),
        m.minimum(b1[..., 1], b2[..., 1]),
        m.maximum(b1[..., 2], b2[..., 2]),
        m.maximum(b1[..., 3], b2[..., 3]),
    )


def _diou_loss_iou(xp: _Xp, b1: Any, b2: Any, eps: float) -> tuple:
    inter, union = _loss_inter_union(xp, b1, b2)
    iou = inter / (union + eps)
    xc1, yc1, xc2, yc2 = _enclosing(xp, b1, b2)
    diag = ((xc2 - xc1) ** 2) + ((yc2 - yc1) ** 2) + eps
    dx = (b1[..., 2] + b1[..., 0]) / 2 - (b2[..., 0] + b2[..., 2]) / 2
    dy = (b1[..., 3] + b1[..., 1]) / 2 - (b2[..., 1] + b2[..., 3]) / 2
    return 1 - iou + ((dx**2) + (dy**2)) / diag, iou


_LOSS_DOC = """
    Parameters
    ----------
    boxes1 : array, shape (N, 4), (4,) or (..., 4)
        Boxes ``(x1, y1, x2, y2)``, e.g. predictions: numpy, or cupy / torch / jax.
    boxes2 : array, same shape as ``boxes1`` (or one that broadcasts with it)
        Boxes ``(x1, y1, x2, y2)``, e.g. targets; same library as ``boxes1``.
    reduction : {'none', 'mean', 'sum'}, optional
        ``'none'`` returns the loss of each pair, shape (N,) (the broadcast leading shape);
        ``'mean'`` their mean (0 for no boxes); ``'sum'`` their sum. Default ``'none'``.
    eps : float, optional
        Keeps the divisions finite. Default 1e-7.

    Returns
    -------
    loss : array
        In the caller's library. float32 and float64 inputs keep their dtype; other dtypes are
        computed in float32, as torchvision does.
"""


@_quiet
def generalized_box_iou_loss(boxes1: Any, boxes2: Any, reduction: str = "none", eps: float = 1e-7) -> Any:
    """GIoU loss of each pair of boxes: ``1 - giou``, element-wise (boxes1[i] with boxes2[i]).
    {doc}
    Notes
    -----
    Matches ``torchvision.ops.generalized_box_iou_loss`` (tested): the intersection counts only
    where both overlap extents are positive, ``iou = inter / (union + eps)`` and the enclosing term
    is ``(C - union) / (C + eps)``. Composed from the caller's array operations, so torch autograd
    flows through it (these losses are for training).

    Examples
    --------
    >>> import numpy as np, foveal
    >>> p = np.array([[0, 0, 2, 2], [0, 0, 1, 1]], dtype=np.float64)
    >>> t = np.array([[1, 1, 3, 3], [0, 0, 1, 1]], dtype=np.float64)
    >>> foveal.ops.generalized_box_iou_loss(p, t).round(6)
    array([1.079365, 0.      ])
    """
    xp, b1, b2, eps = _loss_setup("generalized_box_iou_loss", boxes1, boxes2, reduction, eps)
    inter, union = _loss_inter_union(xp, b1, b2)
    iou = inter / (union + eps)
    xc1, yc1, xc2, yc2 = _enclosing(xp, b1, b2)
    area_c = (xc2 - xc1) * (yc2 - yc1)
    return _reduce(1 - (iou - ((area_c - union) / (area_c + eps))), reduction)


@_quiet
def distance_box_iou_loss(boxes1: Any, boxes2: Any, reduction: str = "none", eps: float = 1e-7) -> Any:
    """DIoU loss of each pair of boxes: ``1 - iou + d^2 / (c^2 + eps)``, element-wise.
    {doc}
    Notes
    -----
    Matches ``torchvision.ops.distance_box_iou_loss`` (tested): ``iou = inter / (union + eps)``,
    with the intersection of :func:`generalized_box_iou_loss`; ``d`` is the distance of the
    centres, ``c`` the diagonal of the enclosing box. Composed from the caller's array
    operations, so torch autograd flows through it.

    Examples
    --------
    >>> import numpy as np, foveal
    >>> p = np.array([[0, 0, 2, 2]], dtype=np.float64)
    >>> t = np.array([[1, 1, 3, 3]], dtype=np.float64)
    >>> foveal.ops.distance_box_iou_loss(p, t, reduction="sum").round(6)
    np.float64(0.968254)
    """
    xp, b1, b2, eps = _loss_setup("distance_box_iou_loss", boxes1, boxes2, reduction, eps)
    loss, _ = _diou_loss_iou(xp, b1, b2, eps)
    return _reduce(loss, reduction)


@_quiet
def complete_box_iou_loss(boxes1: Any, boxes2: Any, reduction: str = "none", eps: float = 1e-7) -> Any:
    """CIoU loss of each pair of boxes: the DIoU loss plus ``alpha * v``, element-wise.
    {doc}
    Notes
    -----
    Matches ``torchvision.ops.complete_box_iou_loss`` (tested), quirk included: its DIoU part
    always uses ``eps = 1e-7``, and ``eps`` only enters ``alpha = v / (1 - iou + v + eps)``;
    ``v = 4 / pi^2 * (atan(w2 / h2) - atan(w1 / h1))^2``. ``alpha`` is treated as a constant by
    autograd (torch) / ``stop_gradient`` (jax), as in the paper and torchvision.

    Examples
    --------
    >>> import numpy as np, foveal
    >>> p = np.array([[0, 0, 2, 2]], dtype=np.float64)
    >>> t = np.array([[1, 1, 3, 4]], dtype=np.float64)
    >>> foveal.ops.complete_box_iou_loss(p, t).round(6)
    array([1.019165])
    """
    xp, b1, b2, eps = _loss_setup("complete_box_iou_loss", boxes1, boxes2, reduction, eps)
    diou_loss, iou = _diou_loss_iou(xp, b1, b2, 1e-7)
    w_pred, h_pred = b1[..., 2] - b1[..., 0], b1[..., 3] - b1[..., 1]
    w_gt, h_gt = b2[..., 2] - b2[..., 0], b2[..., 3] - b2[..., 1]
    v = (4 / (math.pi**2)) * ((xp.atan(w_gt / h_gt) - xp.atan(w_pred / h_pred)) ** 2)
    alpha = xp.stop_gradient(v / (1 - iou + v + eps))
    return _reduce(diou_loss + alpha * v, reduction)


for _fn in (generalized_box_iou_loss, distance_box_iou_loss, complete_box_iou_loss):
    _fn.__doc__ = _fn.__doc__.replace("{doc}", _LOSS_DOC)
del _fn


# -- RoIAlign / RoIPool ---------------------------------------------------------------------------
# Output dtype = the input's (float32/float64; float16/bfloat16 on CUDA, computed in float32), as
# torchvision. RoIs are taken in the input's dtype (float32 for 16-bit inputs); any real dtype is
# converted.

__all__ += ["roi_align", "roi_align_backward", "roi_pool", "roi_pool_backward"]


def _output_size(op: str, output_size: Any) -> tuple[int, int]:
    import operator

    pair = output_size if isinstance(output_size, (tuple, list)) else (output_size, output_size)
    try:
        if len(pair) != 2 or any(isinstance(v, bool) for v in pair):
            raise TypeError
        ph, pw = (operator.index(v) for v in pair)
    except TypeError:
        raise FovealTypeError(f"{op}: output_size must be an int or a pair of ints, got {output_size!r}") from None
    if ph < 1 or pw < 1:
        raise FovealValueError(f"{op}: output_size must be >= 1, got {output_size!r}")
    return ph, pw


def _int_arg(op: str, name: str, value: Any) -> int:
    import operator

    try:
        if isinstance(value, bool):
            raise TypeError
        return operator.index(value)
    except TypeError:
        raise FovealTypeError(f"{op}: {name} must be an int, got {type(value).__name__} {value!r}") from None


def _input_shape(op: str, input_shape: Any) -> tuple[int, int, int, int]:
    try:
        shape = tuple(_int_arg(op, "input_shape", v) for v in input_shape)
    except TypeError:
        raise FovealTypeError(f"{op}: input_shape must be a sequence of 4 ints (N, C, H, W), got {input_shape!r}") from None
    if len(shape) != 4 or min(shape) < 0:
        raise FovealValueError(f"{op}: input_shape must be 4 non-negative ints (N, C, H, W), got {input_shape!r}")
    return shape  # type: ignore[return-value]


def _rois(op: str, boxes: Any) -> Any:
    """``boxes`` as one (K, 5) array ``[batch_index, x1, y1, x2, y2]``: a (K, 5) array is kept, a
    list of per-image (Ki, 4) arrays is concatenated with its image indices (torchvision's rule)."""
    if not isinstance(boxes, (list, tuple)):
        return boxes
    libs = {library_of(b, f"boxes[{i}]", op) for i, b in enumerate(boxes)}
    if len(libs) > 1:
        raise FovealTypeError(f"{op}: boxes must all come from one array library, got {sorted(libs)}")
    for i, b in enumerate(boxes):
        if b.ndim != 2 or b.shape[1] != 4:
            raise FovealValueError(f"{op}: boxes[{i}] must have shape (Ki, 4), got {tuple(b.shape)}")
    lib = libs.pop() if libs else "numpy"
    if lib == "torch":
        import torch

        if not boxes:
            return torch.zeros((0, 5))
        dt = boxes[0].dtype if boxes[0].is_floating_point() else torch.float32
        parts = [torch.cat([torch.full((b.shape[0], 1), i, dtype=dt, device=b.device), b.to(dt)], 1)
                 for i, b in enumerate(boxes)]
        return torch.cat(parts, 0)
    if lib == "cupy":
        import cupy as xp
    elif lib == "jax":
        import jax.numpy as xp
    else:
        xp = np
    if not boxes:
        return xp.zeros((0, 5))
    dt = boxes[0].dtype if np.issubdtype(boxes[0].dtype, np.floating) else np.float32
    parts = [xp.concatenate([xp.full((b.shape[0], 1), i, dtype=dt), b.astype(dt)], axis=1) for i, b in enumerate(boxes)]
    return xp.concatenate(parts, axis=0)


def _roi_call(op: str, main: str, x: Any, boxes: Any, **extra: Any) -> tuple[Call, Any, Any]:
    """Call for a RoI op: the map-like argument ``main`` in its own dtype, the RoIs converted."""
    rois = _rois(op, boxes)
    call = Call(op, policy="same", **{main: x}, boxes=rois, **extra)
    xs = call.floats(main)
    rdt = dtype_name(rois)
    if not (rdt.startswith(("float", "int", "uint")) or rdt == "bfloat16"):
        raise FovealTypeError(f"{op}: boxes must have a real numeric dtype, got {rdt}")
    rois = call.prepare("boxes", call.dtype if call.dtype in ("float32", "float64") else "float32")
    return call, xs, rois


def roi_align(
    input: Any,
    boxes: Any,
    output_size: Any,
    spatial_scale: float = 1.0,
    sampling_ratio: int = -1,
    aligned: bool = False,
) -> Any:
    """RoIAlign (Mask R-CNN): average of bilinear samples over each bin of each region.

    Parameters
    ----------
    input : array, shape (N, C, H, W)
        Feature maps, float32 or float64 (float16 / bfloat16 on CUDA, computed in float32).
    boxes : array, shape (K, 5), or list of arrays of shape (Ki, 4)
        Regions ``[batch_index, x1, y1, x2, y2]`` in image coordinates, or one ``(Ki, 4)`` array
        per image of the batch (``x1, y1, x2, y2``). Same library and device as ``input``. On the
        CPU, batch indices must be integers in ``[0, N)`` and coordinates finite.
    output_size : int or (int, int)
        ``(PH, PW)`` bins per region, each >= 1.
    spatial_scale : float
        Map coordinate = image coordinate * ``spatial_scale`` (e.g. 0.25 for stride 4); > 0.
    sampling_ratio : int
        Samples per bin along each axis; <= 0 picks ``ceil(region extent / output extent)`` per
        region (adaptive).
    aligned : bool
        Shift the region by -0.5 pixel so that pixel centres sit at half-integers (Detectron2's
        correct alignment); False keeps the legacy behaviour, which also makes regions at least
        1x1.

    Returns
    -------
    out : array, shape (K, C, PH, PW)
        Same library, device and dtype as ``input``.

    Notes
    -----
    Exactly ``torchvision.ops.roi_align`` (tested on random inputs, float32 and float64). Samples
    more than one pixel outside the map count as zero, samples within one pixel are clamped to
    the edge. Adaptive sampling grids are capped at 2**40 per axis, and samples off the map are
    skipped without being visited, so a huge region costs about as much as the map. One
    difference: torchvision multiplies off-map samples by 0 (``0 * inf`` is NaN when the
    channel's first pixel is infinite), foveal skips them.

    Examples
    --------
    >>> import numpy as np, foveal
    >>> x = np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4)
    >>> rois = np.array([[0, 0, 0, 2, 2]], dtype=np.float32)
    >>> foveal.ops.roi_align(x, rois, 2, sampling_ratio=1, aligned=True)
    array([[[[0., 1.],
             [4., 5.]]]], dtype=float32)
    """
    op = "roi_align"
    ph, pw = _output_size(op, output_size)
    scale = real(op, "spatial_scale", spatial_scale)
    ratio = _int_arg(op, "sampling_ratio", sampling_ratio)
    call, x, rois = _roi_call(op, "input", input, boxes)
    out = call.empty((dim(rois, 0, 2), dim(x, 1, 4), ph, pw))
    call.run(_core.roi_align, x, rois, out, scale, ratio, bool(aligned))
    return call.wrap(out)


def roi_align_backward(
    grad_output: Any,
    boxes: Any,
    input_shape: Any,
    output_size: Any,
    spatial_scale: float = 1.0,
    sampling_ratio: int = -1,
    aligned: bool = False,
) -> Any:
    """Gradient of :func:`roi_align` with respect to its input.

    Parameters
    ----------
    grad_output : array, shape (K, C, PH, PW)
        Gradient of the loss with respect to ``roi_align``'s output.
    boxes, spatial_scale, sampling_ratio, aligned
        As given to :func:`roi_align`.
    input_shape : (int, int, int, int)
        ``(N, C, H, W)`` of the forward input.
    output_size : int or (int, int)
        As given to :func:`roi_align`; must match ``grad_output``'s last two extents.

    Returns
    -------
    grad_input : array, shape input_shape
        ``grad_output`` scattered back through the bilinear weights (the adjoint of
        ``roi_align``), in ``grad_output``'s library, device and dtype.

    Notes
    -----
    Matches the gradient torchvision's autograd computes (tested), in the same accumulation
    order on the CPU.

    Examples
    --------
    >>> import numpy as np, foveal
    >>> rois = np.array([[0, 0, 0, 2, 2]], dtype=np.float32)
    >>> g = np.ones((1, 1, 1, 1), dtype=np.float32)
    >>> foveal.ops.roi_align_backward(g, rois, (1, 1, 3, 3), 1, sampling_ratio=1)[0, 0]
    array([[0., 0., 0.],
           [0., 1., 0.],
           [0., 0., 0.]], dtype=float32)
    """
    op = "roi_align_backward"
    ph, pw = _output_size(op, output_size)
    shape = _input_shape(op, input_shape)
    scale = real(op, "spatial_scale", spatial_scale)
    ratio = _int_arg(op, "sampling_ratio", sampling_ratio)
    call, g, rois = _roi_call(op, "grad_output", grad_output, boxes)
    if g.ndim == 4 and tuple(g.shape[2:]) != (ph, pw):
        raise FovealValueError(f"{op}: grad_output must have PH, PW = output_size {(ph, pw)}, got {tuple(g.shape)}")
    grad_input = call.empty(shape)
    call.run(_core.roi_align_backward, g, rois, grad_input, scale, ratio, bool(aligned))
    return call.wrap(grad_input)


def roi_pool(
    input: Any,
    boxes: Any,
    output_size: Any,
    spatial_scale: float = 1.0,
    *,
    bins: str = "torchvision",
    return_argmax: bool = False,
) -> Any:
    """RoIPool (Fast R-CNN): the maximum of each bin of each region.

    Parameters
    ----------
    input : array, shape (N, C, H, W)
        Feature maps, float32 or float64 (float16 / bfloat16 on CUDA).
    boxes : array, shape (K, 5), or list of arrays of shape (Ki, 4)
        As in :func:`roi_align`.
    output_size : int or (int, int)
        ``(PH, PW)`` bins per region, each >= 1.
    spatial_scale : float
        Region corners on the map are ``round(coordinate * spatial_scale)`` (half away from
        zero), inclusive; > 0.
    bins : {'torchvision', 'seed'}
        'torchvision' (default): a region of R pixels gives bin p the pixels
        ``[floor(p * R / P), ceil((p + 1) * R / P))``, so neighbouring bins may share a pixel.
        'seed': ``floor(R / P)`` pixels per bin with the remainder in the last bin (the
        convention of the seed document's worked example R1).
    return_argmax : bool
        Also return the flat index ``h * W + w`` of each maximum (-1 for a bin with no
        maximum), which :func:`roi_pool_backward` needs.

    Returns
    -------
    out : array, shape (K, C, PH, PW)
        Same library, device and dtype as ``input``. An empty bin (outside the map) is 0; a bin
        of only NaN or values <= -FLT_MAX holds -FLT_MAX, as in torchvision.
    argmax : array of int64, shape (K, C, PH, PW)
        Only with ``return_argmax=True``.

    Notes
    -----
    ``bins='torchvision'`` is exactly ``torchvision.ops.roi_pool`` (tested), including the
    first-in-row-major-order choice among equal maxima for the argmax.

    Examples
    --------
    >>> import numpy as np, foveal
    >>> x = np.arange(20, dtype=np.float32).reshape(1, 1, 4, 5)
    >>> foveal.ops.roi_pool(x, np.array([[0, 0, 0, 4, 3]], dtype=np.float32), 2)
    array([[[[ 7.,  9.],
             [17., 19.]]]], dtype=float32)
    """
    op = "roi_pool"
    ph, pw = _output_size(op, output_size)
    scale = real(op, "spatial_scale", spatial_scale)
    if bins not in ("torchvision", "seed"):
        raise FovealValueError(f"{op}: bins must be 'torchvision' or 'seed', got {bins!r}")
    call, x, rois = _roi_call(op, "input", input, boxes)
    shape = (dim(rois, 0, 2), dim(x, 1, 4), ph, pw)
    out = call.empty(shape)
    argmax = call.empty(shape, "int64") if return_argmax else None
    call.run(_core.roi_pool, x, rois, out, argmax, scale, bins)
    if return_argmax:
        return call.wrap(out), call.wrap(argmax)
    return call.wrap(out)


def roi_pool_backward(grad_output: Any, boxes: Any, argmax: Any, input_shape: Any) -> Any:
    """Gradient of :func:`roi_pool` with respect to its input.

    Parameters
    ----------
    grad_output : array, shape (K, C, PH, PW)
        Gradient of the loss with respect to ``roi_pool``'s output.
    boxes : array, shape (K, 5), or list of arrays of shape (Ki, 4)
        As given to :func:`roi_pool` (only the batch indices are used).
    argmax : array of int64, shape (K, C, PH, PW)
        From ``roi_pool(..., return_argmax=True)``.
    input_shape : (int, int, int, int)
        ``(N, C, H, W)`` of the forward input.

    Returns
    -------
    grad_input : array, shape input_shape
        Each ``grad_output`` element added at its bin's maximum (nothing for argmax -1).

    Examples
    --------
    >>> import numpy as np, foveal
    >>> x = np.arange(20, dtype=np.float32).reshape(1, 1, 4, 5)
    >>> rois = np.array([[0, 0, 0, 4, 3]], dtype=np.float32)
    >>> out, am = foveal.ops.roi_pool(x, rois, 2, return_argmax=True)
    >>> foveal.ops.roi_pool_backward(np.ones_like(out), rois, am, x.shape)[0, 0]
    array([[0., 0., 0., 0., 0.],
           [0., 0., 1., 0., 1.],
           [0., 0., 0., 0., 0.],
           [0., 0., 1., 0., 1.]], dtype=float32)
    """
    op = "roi_pool_backward"
    shape = _input_shape(op, input_shape)
    call, g, rois = _roi_call(op, "grad_output", grad_output, boxes, argmax=argmax)
    am = call.ints("argmax", "int64")
    grad_input = call.empty(shape)
    call.run(_core.roi_pool_backward, g, rois, am, grad_input)
    return call.wrap(grad_input)


# -- anchors ------------------------------------------------------------------------------------

_ANCHOR_STYLES = {"torchvision": 0, "matterport": 1}
_ANCHOR_DTYPES = ("float16", "float32", "float64")


def _anchor_style(op: str, style: Any) -> int:
    if isinstance(style, str) and style in _ANCHOR_STYLES:
        return _ANCHOR_STYLES[style]
    raise FovealValueError(f"{op}: style must be 'torchvision' or 'matterport', got {style!r}")


def _pos_number(op: str, name: str, v: Any) -> float:
    x = real(op, name, v)
    if not (x > 0 and math.isfinite(x)):
        raise FovealValueError(f"{op}: {name} must be positive and finite, got {v!r}")
    return x


def _level_groups(op: str, sizes: Any, aspect_ratios: Any) -> tuple:
    """torchvision's normalisation: flat sizes -> one size per level; one flat ratio list -> the
    same ratios on every level. Returns ((sizes of level 0, ...), (ratios of level 0, ...))."""
    if not isinstance(sizes, (list, tuple)) or len(sizes) == 0:
        raise FovealValueError(f"{op}: sizes must be a non-empty sequence (one entry per feature map), got {sizes!r}")
    if not isinstance(aspect_ratios, (list, tuple)) or len(aspect_ratios) == 0:
        raise FovealValueError(f"{op}: aspect_ratios must be a non-empty sequence, got {aspect_ratios!r}")
    if not isinstance(sizes[0], (list, tuple)):
        sizes = tuple((s,) for s in sizes)
    if not isinstance(aspect_ratios[0], (list, tuple)):
        aspect_ratios = (tuple(aspect_ratios),) * len(sizes)
    if len(sizes) != len(aspect_ratios):
        raise FovealValueError(
            f"{op}: sizes and aspect_ratios must have one entry per feature map each, got {len(sizes)} and "
            f"{len(aspect_ratios)}"
        )
    s = tuple(tuple(_pos_number(op, "sizes", v) for v in level) for level in sizes)
    r = tuple(tuple(_pos_number(op, "aspect_ratios", v) for v in level) for level in aspect_ratios)
    return s, r


@functools.lru_cache(maxsize=64)
def _cells(style: int, sizes: tuple, ratios: tuple) -> tuple:
    """Cell anchors of every level, (sum A_l, 4) float64, and A_l per level. Within a level the
    order is ratio-major (ratio r, size s at r * len(sizes) + s), torchvision's and matterport's."""
    sz = np.array([v for ls, lr in zip(sizes, ratios) for _ in lr for v in ls], dtype=np.float64)
    ar = np.array([r for ls, lr in zip(sizes, ratios) for r in lr for _ in ls], dtype=np.float64)
    out = np.empty((sz.shape[0], 4), dtype=np.float64)
    _core.cell_anchors(sz, ar, style, out)
    out.setflags(write=False)
    return out, tuple(len(ls) * len(lr) for ls, lr in zip(sizes, ratios))


def _pair(op: str, name: str, v: Any, level: int) -> tuple:
    """(a, b) of non-negative ints from an int or a pair (a feature-map size or a stride)."""
    items = (v, v) if isinstance(v, (numbers.Integral, np.integer)) else v
    try:
        a, b = items
        out = (operator.index(a), operator.index(b))
    except (TypeError, ValueError):
        raise FovealValueError(f"{op}: {name}[{level}] must be an int or a pair of ints, got {v!r}") from None
    if out[0] < 0 or out[1] < 0:
        raise FovealValueError(f"{op}: {name}[{level}] must be non-negative, got {v!r}")
    return out


def _like_host(out: Any, a: np.ndarray) -> Any:
    """The small host array ``a`` in the library and on the device of ``out``."""
    if isinstance(out, np.ndarray):
        return a
    if _arrays._is_torch(out):
        import torch

        return torch.from_numpy(a).to(out.device)
    import cupy

    with out.device:
        return cupy.asarray(a)


def _grid(op: str, style: int, sizes: tuple, ratios: tuple, levels: list, dtype: Any, like: Any) -> Any:
    """One native call for every level; ``levels`` are (rows, cols, step_y, step_x)."""
    cells, counts = _cells(style, sizes, ratios)
    call = Call(op, like=like)
    dt = dtype_name(np.empty(0, dtype=dtype)) if not isinstance(dtype, str) else dtype
    if dt not in _ANCHOR_DTYPES or (dt == "float16" and not call.cuda):
        raise FovealTypeError(
            f"{op}: dtype must be float32 or float64" + (" or float16" if call.cuda else " (float16 only on CUDA)")
            + f", got {dtype!r}"
        )
    rows = [(r, c, sy, sx, a) for (r, c, sy, sx), a in zip(levels, counts)]
    out = call.empty((sum(r * c * a for r, c, _, _, a in rows), 4), dt)
    host = cells.astype(dt if dt != "float16" else "float32").astype(dt)
    call.run(_core.anchor_grid, _like_host(out, host), rows, style, out)
    return call.wrap(out)


def anchor_grid(
    feature_sizes: Sequence[Any],
    strides: Sequence[Any],
    sizes: Sequence[Any] = ((128, 256, 512),),
    aspect_ratios: Sequence[Any] = ((0.5, 1.0, 2.0),),
    *,
    style: str = "torchvision",
    dtype: Any = "float32",
    like: Any = None,
) -> Any:
    """Anchors of every feature map, concatenated, in one native call.

    Parameters
    ----------
    feature_sizes : sequence of (int, int) or int
        ``(height, width)`` of each feature map (level).
    strides : sequence of (int, int) or int
        ``(stride_y, stride_x)`` of each level: the pixel distance between neighbouring grid points.
    sizes : sequence of sequences of float
        Anchor sizes of each level (``sizes[l]``); a flat sequence means one size per level,
        as in torchvision.
    aspect_ratios : sequence of sequences of float
        Aspect ratios of each level; one flat sequence is used for every level. For
        ``style='torchvision'`` a ratio is ``height / width``; for ``'matterport'``, ``width / height``.
    style : {'torchvision', 'matterport'}, optional
        ``'torchvision'``: ``AnchorGenerator``'s anchors: cell anchors ``(-w/2, -h/2, w/2, h/2)`` with
        ``h = size * sqrt(ratio)``, ``w = size / sqrt(ratio)``, computed in float32 and rounded half to
        even, boxes ``(x1, y1, x2, y2)``. ``'matterport'``: Mask R-CNN's (matterport) anchors, in
        float64 arithmetic, unrounded, boxes ``(y1, x1, y2, x2)`` as there.
    dtype : {'float32', 'float64', 'float16'}, optional
        Output dtype (float16 on CUDA only). Default float32.
    like : array, optional
        The output is made in this array's library and on its device (numpy when omitted).

    Returns
    -------
    anchors : array, shape (sum_l H_l * W_l * A_l, 4)
        Level by level; within a level, grid points row-major, and at each point the level's
        ``A_l = len(sizes[l]) * len(aspect_ratios[l])`` anchors, ratio-major: torchvision's order.

    Examples
    --------
    >>> import foveal
    >>> foveal.ops.anchor_grid([(1, 2)], [(16, 16)], sizes=((32,),), aspect_ratios=((1.0,),))
    array([[-16., -16.,  16.,  16.],
           [  0., -16.,  32.,  16.]], dtype=float32)
    """
    op = "anchor_grid"
    st = _anchor_style(op, style)
    s, r = _level_groups(op, sizes, aspect_ratios)
    if len(feature_sizes) != len(s) or len(strides) != len(s):
        raise FovealValueError(
            f"{op}: feature_sizes and strides must have one entry per level of sizes ({len(s)}), got "
            f"{len(feature_sizes)} and {len(strides)}"
        )
    levels = [
        _pair(op, "feature_sizes", f, i) + _pair(op, "strides", t, i)
        for i, (f, t) in enumerate(zip(feature_sizes, strides))
    ]
    return _grid(op, st, s, r, levels, dtype, like)


class AnchorGenerator:
    """Anchors for a set of feature maps, as ``torchvision.models.detection.AnchorGenerator``.

    Parameters
    ----------
    sizes : sequence of sequences of float
        Anchor sizes per feature map (a flat sequence: one size per feature map).
    aspect_ratios : sequence of sequences of float
        Aspect ratios ``height / width`` per feature map (one flat sequence: the same for all).

    Notes
    -----
    ``gen(image_size, feature_sizes)`` needs no torch: the stride of level ``l`` is
    ``image_size // feature_sizes[l]`` on each axis, as torchvision computes it from the padded
    batch. ``gen.forward(image_list, feature_maps)`` takes torchvision's inputs (anything with
    ``.tensors`` and ``.image_sizes``, and arrays whose last two dimensions are the grid) and returns
    one array of anchors per image, in the feature maps' dtype, library and device. The anchors are
    identical to torchvision's (tested): every value is an integer plus a rounded cell anchor.
    float16 / bfloat16 feature maps on the CPU get anchors computed in float32 and rounded once
    (torch rounds the shift and the sum separately, which can differ past 2048).

    Examples
    --------
    >>> import foveal
    >>> gen = foveal.ops.AnchorGenerator(sizes=((32,), (64,)), aspect_ratios=((0.5, 1.0, 2.0),) * 2)
    >>> gen((64, 64), [(16, 16), (8, 8)]).shape
    (960, 4)
    """

    def __init__(self, sizes: Sequence[Any] = ((128, 256, 512),), aspect_ratios: Sequence[Any] = ((0.5, 1.0, 2.0),)):
        self.sizes, self.aspect_ratios = _level_groups("AnchorGenerator", sizes, aspect_ratios)
        cells, counts = _cells(0, self.sizes, self.aspect_ratios)
        splits = np.cumsum(counts)[:-1]
        self.cell_anchors = [c.astype(np.float32) for c in np.split(cells, splits)]

    def num_anchors_per_location(self) -> list:
        return [len(s) * len(a) for s, a in zip(self.sizes, self.aspect_ratios)]

    def __call__(self, image_size: Any, feature_sizes: Sequence[Any], *, dtype: Any = "float32", like: Any = None) -> Any:
        op = "AnchorGenerator"
        h, w = _image_size(op, image_size)
        if len(feature_sizes) != len(self.sizes):
            raise FovealValueError(
                f"{op}: feature_sizes must have one entry per level of sizes and aspect_ratios ({len(self.sizes)}), "
                f"got {len(feature_sizes)}"
            )
        levels = []
        for i, f in enumerate(feature_sizes):
            fh, fw = _pair(op, "feature_sizes", f, i)
            if fh == 0 or fw == 0:
                levels.append((fh, fw, 0, 0))
            else:
                levels.append((fh, fw, h // fh, w // fw))
        return _grid(op, 0, self.sizes, self.aspect_ratios, levels, dtype, like)

    def forward(self, image_list: Any, feature_maps: Sequence[Any]) -> list:
        """torchvision's ``forward``: the same anchors for every image of ``image_list``."""
        fm = feature_maps[0]
        dt = dtype_name(fm)
        lib = library_of(fm, "feature_maps", "AnchorGenerator")
        native = dt in ("float32", "float64") or (dt == "float16" and _arrays.is_cuda(fm, lib))
        anchors = self(
            tuple(image_list.tensors.shape[-2:]),
            [tuple(f.shape[-2:]) for f in feature_maps],
            dtype=dt if native else "float32",
            like=fm,
        )
        xp = _Xp(lib)
        if not native and (dt in ("float16", "bfloat16")):  # computed in float32, rounded once
            anchors = xp.astype(anchors, dt)
        n = len(image_list.image_sizes)
        return [anchors] + [xp.copy(anchors) for _ in range(n - 1)]


def _image_size(op: str, v: Any) -> tuple:
    try:
        h, w = v
        out = (operator.index(h), operator.index(w))
    except (TypeError, ValueError):
        raise FovealValueError(f"{op}: image_size must be a pair of ints (height, width), got {v!r}") from None
    if out[0] < 0 or out[1] < 0:
        raise FovealValueError(f"{op}: image_size must be non-negative, got {v!r}")
    return out


def matterport_anchors(
    scales: Sequence[float],
    ratios: Sequence[float],
    image_shape: Sequence[int],
    feature_strides: Sequence[int],
    anchor_stride: int = 1,
    *,
    normalize: bool = False,
) -> Any:
    """Mask R-CNN (matterport) pyramid anchors: ``generate_pyramid_anchors`` for an image.

    Parameters
    ----------
    scales : sequence of float
        One anchor scale (side length) per level (``RPN_ANCHOR_SCALES``).
    ratios : sequence of float
        Width / height ratios, the same on every level (``RPN_ANCHOR_RATIOS``).
    image_shape : (int, int) or (int, int, int)
        ``(height, width[, channels])``; level ``l``'s grid is ``ceil(image / feature_strides[l])``.
    feature_strides : sequence of int
        ``BACKBONE_STRIDES``.
    anchor_stride : int, optional
        ``RPN_ANCHOR_STRIDE``: anchors at every ``anchor_stride``-th grid point. Default 1.
    normalize : bool, optional
        Apply matterport's ``norm_boxes``: ``(y1, x1, y2 - 1, x2 - 1) / (h - 1, w - 1, h - 1, w - 1)``.

    Returns
    -------
    anchors : numpy.ndarray of float64, shape (N, 4)
        ``(y1, x1, y2, x2)``, matterport's order and arithmetic (float64, unrounded).

    Examples
    --------
    >>> import foveal
    >>> a = foveal.ops.matterport_anchors((32, 64, 128, 256, 512), (0.5, 1, 2), (1024, 1024, 3),
    ...                                   (4, 8, 16, 32, 64), 1, normalize=True)
    >>> a.shape, round(float(a.min()), 5), round(float(a.max()), 5)
    ((261888, 4), -0.3539, 1.29134)
    """
    op = "matterport_anchors"
    if not isinstance(scales, (list, tuple)) or not isinstance(feature_strides, (list, tuple)):
        raise FovealValueError(f"{op}: scales and feature_strides must be sequences, got {scales!r}, {feature_strides!r}")
    if len(scales) != len(feature_strides):
        raise FovealValueError(
            f"{op}: scales and feature_strides must have one entry per level each, got {len(scales)} and "
            f"{len(feature_strides)}"
        )
    if not isinstance(ratios, (list, tuple)) or len(ratios) == 0:
        raise FovealValueError(f"{op}: ratios must be a non-empty sequence, got {ratios!r}")
    h, w = _image_size(op, tuple(image_shape)[:2])
    step = operator.index(anchor_stride)
    if step <= 0:
        raise FovealValueError(f"{op}: anchor_stride must be positive, got {anchor_stride!r}")
    sizes = tuple((s,) for s in scales)
    s, r = _level_groups(op, sizes, (tuple(ratios),) * len(sizes))
    levels = []
    for i, fs in enumerate(feature_strides):
        f = operator.index(fs)
        if f <= 0:
            raise FovealValueError(f"{op}: feature_strides[{i}] must be positive, got {fs!r}")
        fh, fw = -(-h // f), -(-w // f)
        levels.append((-(-fh // step), -(-fw // step), f * step, f * step))
    anchors = _grid(op, 1, s, r, levels, "float64", None)
    if normalize:
        scale = np.array([h - 1, w - 1, h - 1, w - 1], dtype=np.float64)
        anchors = (anchors - np.array([0, 0, 1, 1], dtype=np.float64)) / scale
    return anchors


# -- box coding -------------------------------------------------------------------------------

_BBOX_XFORM_CLIP = math.log(1000.0 / 16)



def encode_boxes(reference_boxes: Any, proposals: Any, weights: Sequence[float] = (1.0, 1.0, 1.0, 1.0)) -> Any:
    """Encode boxes relative to proposals (anchors): Faster R-CNN regression targets.

    ``(wx * (gx - px) / pw, wy * (gy - py) / ph, ww * log(gw / pw), wh * log(gh / ph))`` for each
    reference box ``g`` (e.g. the matched ground truth) and its proposal ``p``, with centres
    ``(gx, gy)``, ``(px, py)`` and widths / heights ``gw, gh, pw, ph``.

    Parameters
    ----------
    reference_boxes : array, shape (N, 4)
        Boxes to encode, ``(x1, y1, x2, y2)``: numpy, or cupy / torch / jax (CPU or CUDA).
    proposals : array, shape (N, 4)
        The boxes they are encoded against, row for row; same library and device.
    weights : sequence of 4 floats, optional
        ``(wx, wy, ww, wh)``. torchvision's RPN uses (1, 1, 1, 1), its box head (10, 10, 5, 5).

    Returns
    -------
    codes : array, shape (N, 4)
        Dtype by the module's dtype policy.

    Notes
    -----
    torchvision's ``BoxCoder(weights).encode_single(reference_boxes, proposals)`` (and
    ``_utils.encode_boxes``), operation for operation: equal up to the last bit of ``log``.

    Examples
    --------
    >>> import numpy as np, foveal
    >>> g = np.array([[0., 0., 20., 10.]]); p = np.array([[0., 0., 10., 10.]])
    >>> foveal.ops.encode_boxes(g, p)
    array([[0.5       , 0.        , 0.69314718, 0.        ]])
    """
    op = "encode_boxes"
    w = _weights(op, weights)
    call = Call(op, reference_boxes=reference_boxes, proposals=proposals)
    g, p = call.floats("reference_boxes", "proposals")
    out = call.empty(tuple(g.shape))
    call.run(_core.encode_boxes, g, p, w, out)
    return call.wrap(out)


def decode_boxes(
    rel_codes: Any,
    boxes: Any,
    weights: Sequence[float] = (1.0, 1.0, 1.0, 1.0),
    bbox_xform_clip: float = _BBOX_XFORM_CLIP,
) -> Any:
    """Apply Faster R-CNN box deltas to boxes (anchors or proposals).

    For codes ``(dx, dy, dw, dh)`` and a box of centre ``(cx, cy)`` and size ``(w, h)``: centre
    ``(dx / wx * w + cx, dy / wy * h + cy)``, size ``(exp(min(dw / ww, clip)) * w,
    exp(min(dh / wh, clip)) * h)``, returned as corners.

    Parameters
    ----------
    rel_codes : array, shape (N, 4 * K) or (N, K, 4)
        Deltas; K sets per box (e.g. one per class). numpy, or cupy / torch / jax (CPU or CUDA).
    boxes : array, shape (N, 4)
        Reference boxes ``(x1, y1, x2, y2)``; same library and device.
    weights : sequence of 4 floats, optional
        ``(wx, wy, ww, wh)``, as in :func:`encode_boxes`.
    bbox_xform_clip : float, optional
        Upper clamp of ``dw / ww`` and ``dh / wh`` before ``exp``. Default ``log(1000 / 16)``.

    Returns
    -------
    decoded : array, shape of ``rel_codes``
        ``(x1, y1, x2, y2)`` per code, dtype by the module's dtype policy.

    Notes
    -----
    torchvision's ``BoxCoder(weights, bbox_xform_clip).decode_single(rel_codes, boxes)``,
    operation for operation (exp within an ulp). For its ``BoxCoder.decode`` layout, pass
    ``rel_codes`` of shape (N, K, 4), or use :class:`BoxCoder`. float16 on CUDA computes in float32
    and rounds once (torch rounds after every operation). The CPU ``exp`` is a vectorised
    polynomial (within 1 ulp).

    Examples
    --------
    >>> import numpy as np, foveal
    >>> anchors = np.array([[0., 0., 10., 10.]])
    >>> foveal.ops.decode_boxes(np.array([[0.5, 0., np.log(2), 0.]]), anchors)
    array([[ 0.,  0., 20., 10.]])
    """
    op = "decode_boxes"
    w = _weights(op, weights)
    clip = real(op, "bbox_xform_clip", bbox_xform_clip)
    call = Call(op, rel_codes=rel_codes, boxes=boxes)
    c, b = call.floats("rel_codes", "boxes")
    out = call.empty(tuple(c.shape))
    call.run(_core.decode_boxes, c, b, w, clip, out)
    return call.wrap(out)


class BoxCoder:
    """``torchvision.models.detection._utils.BoxCoder`` on foveal's kernels.

    Parameters
    ----------
    weights : sequence of 4 floats
        ``(wx, wy, ww, wh)``.
    bbox_xform_clip : float, optional
        Default ``log(1000 / 16)``.

    Examples
    --------
    >>> import numpy as np, foveal
    >>> coder = foveal.ops.BoxCoder((1.0, 1.0, 1.0, 1.0))
    >>> coder.decode(np.zeros((2, 8)), [np.array([[0., 0., 4., 4.], [1., 1., 3., 3.]])]).shape
    (2, 2, 4)
    """

    def __init__(self, weights: Sequence[float], bbox_xform_clip: float = _BBOX_XFORM_CLIP) -> None:
        self.weights = _weights("BoxCoder", weights)
        self.bbox_xform_clip = real("BoxCoder", "bbox_xform_clip", bbox_xform_clip)

    def encode_single(self, reference_boxes: Any, proposals: Any) -> Any:
        return encode_boxes(reference_boxes, proposals, self.weights)

    def decode_single(self, rel_codes: Any, boxes: Any) -> Any:
        return decode_boxes(rel_codes, boxes, self.weights, self.bbox_xform_clip)

    def encode(self, reference_boxes: Sequence[Any], proposals: Sequence[Any]) -> tuple:
        """Per-image lists in, per-image codes out (one native call)."""
        counts = [int(b.shape[0]) for b in reference_boxes]
        xp = _Xp(library_of(reference_boxes[0], "reference_boxes", "BoxCoder.encode"))
        codes = self.encode_single(_cat(xp, reference_boxes), _cat(xp, proposals))
        return tuple(codes[a:b] for a, b in zip(np.cumsum([0] + counts[:-1]), np.cumsum(counts)))

    def decode(self, rel_codes: Any, boxes: Sequence[Any]) -> Any:
        """``rel_codes`` (sum N, 4 * K) against per-image boxes -> (sum N, K, 4)."""
        if not isinstance(boxes, (list, tuple)):
            raise FovealTypeError(f"BoxCoder.decode: boxes must be a list or tuple of arrays, got {type(boxes).__name__}")
        xp = _Xp(library_of(boxes[0], "boxes", "BoxCoder.decode"))
        concat = _cat(xp, boxes)
        total = int(concat.shape[0])
        if total == 0:
            return self.decode_single(rel_codes, concat)
        try:
            codes = rel_codes.reshape(total, -1, 4)
        except (ValueError, RuntimeError, TypeError):
            raise FovealValueError(
                f"BoxCoder.decode: rel_codes must have {total} rows (the boxes of all images) of 4 * K codes, got "
                f"shape {tuple(rel_codes.shape)}"
            ) from None
        return self.decode_single(codes, concat)


def _cat(xp: _Xp, xs: Sequence[Any]) -> Any:
    xs = list(xs)
    if len(xs) == 1:
        return xs[0]
    if xp.lib == "torch":
        return xp.m.cat(xs, dim=0)
    return xp.m.concatenate(xs, axis=0)


# -- soft-NMS ----------------------------------------------------------------------------------

_SOFT_NMS_METHODS = {"linear": 0, "gaussian": 1}


def soft_nms(
    boxes: Any,
    scores: Any,
    iou_threshold: float = 0.3,
    sigma: float = 0.5,
    score_threshold: float = 0.001,
    method: str = "gaussian",
    idxs: Any = None,
) -> tuple:
    """Soft non-maximum suppression (Bodla et al., 2017).

    Repeatedly select the box with the highest current score, then decay the score of every box
    not yet selected by its IoU with the selected one: ``s *= exp(-iou**2 / sigma)`` (gaussian, every
    overlap) or ``s *= 1 - iou`` where ``iou > iou_threshold`` (linear). Selection stops when the
    highest remaining score is below ``score_threshold``.

    Parameters
    ----------
    boxes : array, shape (N, 4)
        ``(x1, y1, x2, y2)``: numpy, or cupy / torch / jax (CPU or CUDA).
    scores : array, shape (N,)
        Same library and device.
    iou_threshold : float, optional
        Linear method only: the IoU above which a score is decayed. Default 0.3.
    sigma : float, optional
        Gaussian method: the width of the penalty, > 0. Default 0.5.
    score_threshold : float, optional
        Boxes whose score falls below this are dropped (a box is kept when its score at selection
        is ``>= score_threshold``). Default 0.001.
    method : {'gaussian', 'linear'}, optional
        The decay function. Default 'gaussian'.
    idxs : array of int, shape (N,), optional
        Class label of each box: boxes of different labels never interact (per-class soft-NMS,
        as ``batched_nms``); the result is one list over all classes, in selection order.

    Returns
    -------
    keep : array of int64, shape (K,)
        Indices of the kept boxes, in selection (decay) order: their scores at selection never
        increase along it. Equal scores are selected lower index first.
    kept_scores : array, shape (K,)
        The decayed score of each kept box when it was selected; dtype by the module's policy.

    Notes
    -----
    The paper's algorithm, exactly: each box's score is multiplied by the same factors in the same
    order as the textbook O(N^2) loop (tested against a float64 NumPy transcription of it). The CPU
    backend finds the boxes that intersect the selected one through a uniform grid and picks the
    maximum from a lazily updated heap, so its work follows the number of overlapping pairs.
    Boxes with a non-finite coordinate or no area overlap nothing; NaN scores are never kept.

    Conventions of other implementations:

    - OpenCV ``cv2.dnn.softNMSBoxes`` takes integer ``(x, y, w, h)`` boxes and the same rules
      (gaussian on every overlap, linear when ``iou > nms_threshold``, a box kept while its score is
      ``>= score_threshold``, ties to the lower index); its IoU goes through ``1 - jaccardDistance``
      in double, so scores can differ in the last bits, and it returns the kept indices and scores
      as lists, with ``top_k``. foveal takes corner boxes and has no ``top_k`` (slice the result).
    - mmcv ``soft_nms`` returns boxes with their scores (``dets``) and the indices; its
      ``min_score`` drops boxes while decaying (the same keep list), its linear rule is
      ``iou > iou_threshold`` as here, and its ``offset`` argument (+1 pixel areas) has no
      counterpart: foveal's areas have no +1. mmcv also has a 'naive' (hard) method: use ``nms``.
    - The paper writes the linear rule with ``iou >= N_t``; foveal uses ``>``, like ``nms``.

    Examples
    --------
    >>> import numpy as np, foveal
    >>> boxes = np.array([[0, 0, 10, 10], [1, 0, 11, 10], [20, 20, 30, 30]], dtype=np.float32)
    >>> scores = np.array([0.9, 0.8, 0.7], dtype=np.float32)
    >>> keep, s = foveal.ops.soft_nms(boxes, scores)
    >>> keep, s.round(4)
    (array([0, 2, 1]), array([0.9   , 0.7   , 0.2097], dtype=float32))
    """
    op = "soft_nms"
    if not isinstance(method, str) or method not in _SOFT_NMS_METHODS:
        raise FovealValueError(f"{op}: method must be 'gaussian' or 'linear', got {method!r}")
    thr = real(op, "iou_threshold", iou_threshold)
    sig = real(op, "sigma", sigma)
    if not (sig > 0 and math.isfinite(sig)):
        raise FovealValueError(f"{op}: sigma must be positive and finite, got {sigma!r}")
    sthr = real(op, "score_threshold", score_threshold)
    call = Call(op, boxes=boxes, scores=scores, idxs=idxs)
    b, s = call.floats("boxes", "scores")
    ix = call.ints("idxs") if idxs is not None else None
    n = dim(b, 0, 2)
    keep = call.empty((n,), "int64")
    kept = call.empty((n,))
    count = call.run(_core.soft_nms, b, s, ix, thr, sig, sthr, _SOFT_NMS_METHODS[method], keep, kept)
    return call.head(keep, count), call.head(kept, count)


# -- rotated boxes -----------------------------------------------------------------------------

__all__ += ["box_iou_rotated", "nms_rotated", "batched_nms_rotated", "roi_align_rotated",
            "roi_align_rotated_backward"]


def _rotated_policy(op: str, dtypes: dict[str, str], cuda: bool) -> str:
    """Rotated-box ops compute in float64 when any float argument is float64, else float32
    (float16 and bfloat16 included, on every device)."""
    return "float64" if "float64" in dtypes.values() else "float32"


from ._arrays import register_policy  # noqa: E402

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
        Boxes ``(cx, cy, w, h, angle)`` as in :func:`box_iou_rotated`. CPU arrays (numpy, torch or
        jax on the CPU); there is no CUDA backend yet.
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
    the threshold, before the exact polygon IoU.

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
        Boxes ``(cx, cy, w, h, angle)``; CPU arrays.
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

def batched_nms(boxes: Any, scores: Any, idxs: Any, iou_threshold: float) -> Any:
    """Greedy non-maximum suppression within each class.

    As :func:`nms`, but a box only suppresses boxes of its own class (``idxs``).

    Parameters
    ----------
    boxes : array, shape (N, 4)
        Boxes ``(x1, y1, x2, y2)``: numpy, or cupy / torch / jax (CPU or CUDA).
    scores : array, shape (N,)
        Score of each box. Same library and device as ``boxes``.
    idxs : array of integers, shape (N,)
        Class (or image, or level) of each box: any integer values, negative ones included. Same
        library and device as ``boxes``; float arrays are refused.
    iou_threshold : float
        Any real number, as in :func:`nms`.

    Returns
    -------
    keep : array of int64, shape (K,)
        Indices of the kept boxes, by decreasing score over all classes, in the inputs' library
        and device. For jax inputs the indices are int32 unless ``jax_enable_x64`` is on.

    Notes
    -----
    Same signature as ``torchvision.ops.batched_nms`` and the same keep list on ordinary inputs,
    with :func:`nms`'s rules for ties (equal scores: lower index first) and NaN scores (last).
    Classes are separated by sorting, not by torchvision's trick of offsetting each class's
    coordinates (which loses precision on large or negative coordinates and in float16).
    The CPU backend runs the classes in parallel, each with :func:`nms`'s grid search (small
    classes with a plain scan); the CUDA backend builds IoU bitmasks only between boxes of one
    class.

    Examples
    --------
    >>> import numpy as np, foveal
    >>> boxes = np.array([[0, 0, 4, 4], [1, 1, 4, 4], [0, 0, 4, 4.5]], dtype=np.float32)
    >>> scores = np.array([0.9, 0.8, 0.7], dtype=np.float32)
    >>> idxs = np.array([0, 0, 1])
    >>> foveal.ops.batched_nms(boxes, scores, idxs, 0.5)
    array([0, 2])
    """
    call = Call("batched_nms", boxes=boxes, scores=scores, idxs=idxs)
    thr = real("batched_nms", "iou_threshold", iou_threshold)
    b, s = call.floats("boxes", "scores")
    # int64; jax without x64 has int32 only (the core takes both)
    c = call.ints("idxs", "int32" if call.lib == "jax" and dtype_name(idxs) == "int32" else "int64")
    keep = call.empty((dim(b, 0, 2),), "int64")
    count = call.run(_core.batched_nms, b, s, c, thr, keep)
    return call.head(keep, count)


# -- fused detection post-processing ---------------------------------------------------------


def _integer(op: str, name: str, value: Any) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Integral, np.integer)):
        raise FovealTypeError(f"{op}: {name} must be an integer, got {type(value).__name__} {value!r}")
    return int(value)


def _host_array(op: str, name: str, x: Any) -> np.ndarray:
    """A small host-side argument (image sizes, counts) as numpy, from any library."""
    if hasattr(x, "detach") and hasattr(x, "cpu"):  # torch
        x = x.detach().cpu()
    try:
        return np.asarray(x)
    except Exception as exc:  # noqa: BLE001 - ragged lists, odd objects
        raise FovealTypeError(f"{op}: {name} must be an array or a sequence of numbers ({exc})") from None


def _image_sizes(op: str, image_sizes: Any) -> np.ndarray:
    a = _host_array(op, "image_sizes", image_sizes)
    if not (np.issubdtype(a.dtype, np.integer) or np.issubdtype(a.dtype, np.floating)):
        raise FovealTypeError(f"{op}: image_sizes must hold real numbers (height, width), got dtype {a.dtype}")
    return np.ascontiguousarray(a, dtype=np.float64)


def _weights(op: str, weights: Any) -> tuple:
    try:
        w = tuple(weights)
    except TypeError:
        raise FovealTypeError(f"{op}: weights must be a sequence of 4 numbers, got {weights!r}") from None
    if len(w) != 4:
        raise FovealValueError(f"{op}: weights must be a sequence of 4 numbers, got {len(w)}")
    return tuple(real(op, "weights", v) for v in w)


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
        torchvision's parameters of the same names (eval defaults of ``fasterrcnn_resnet50_fpn``).
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
    them first). CPU only for now: CUDA arrays are refused.

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
    call = Call(op, anchors=anchors, objectness=objectness, deltas=deltas)
    pre = _integer(op, "pre_nms_top_n", pre_nms_top_n)
    post = _integer(op, "post_nms_top_n", post_nms_top_n)
    try:
        levels = [_integer(op, "num_anchors_per_level", n) for n in num_anchors_per_level]
    except TypeError:
        raise FovealTypeError(
            f"{op}: num_anchors_per_level must be a sequence of integers, got {num_anchors_per_level!r}"
        ) from None
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
        Image b uses its first ``proposal_counts[b]`` proposals (default: all P).
    score_thresh, nms_thresh : float
        torchvision's ``box_score_thresh`` and ``box_nms_thresh``.
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
    torchvision's flattened (proposal, class) order. CPU only for now: CUDA arrays are refused.

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
    call = Call(op, proposals=proposals, class_logits=class_logits, box_regression=box_regression)
    dets = _integer(op, "detections_per_img", detections_per_img)
    st = real(op, "score_thresh", score_thresh)
    thr = real(op, "nms_thresh", nms_thresh)
    ms = real(op, "min_size", min_size)
    w = _weights(op, weights)
    sizes = _image_sizes(op, image_sizes)
    counts_in = None
    if proposal_counts is not None:
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
