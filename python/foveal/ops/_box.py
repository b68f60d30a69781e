# SPDX-License-Identifier: Apache-2.0
"""Axis-aligned boxes: IoU family, NMS and batched NMS, the box toolkit and IoU losses."""
from __future__ import annotations

import math
import numbers
from typing import Any, Sequence

import numpy as np

from .. import _core
from .._arrays import Call, dim, dtype_name, library_of, real
from .._errors import FovealTypeError, FovealValueError
from ._rotated import box_iou_rotated


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
    height, width = _in_range_of(boxes, height), _in_range_of(boxes, width)
    x1, y1, x2, y2 = _unbind(boxes, 4)
    return xp.stack(
        (xp.clip(x1, 0, width), xp.clip(y1, 0, height), xp.clip(x2, 0, width), xp.clip(y2, 0, height))
    )


def _in_range_of(x: Any, v: Any) -> Any:
    """v clamped into the range of x's dtype when that is an integer type: numpy refuses to clip
    uint8 boxes to a width of 300 (OverflowError), and the clamped bound clips the same."""
    name = dtype_name(x)
    if not name.startswith(("int", "uint")):
        return v
    info = np.iinfo(name)
    return min(max(v, info.min), info.max)


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
    with np.errstate(over="ignore"):  # a min_size past the boxes' dtype compares as infinity, as it should
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
