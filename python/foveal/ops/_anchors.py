# SPDX-License-Identifier: Apache-2.0
"""Anchor generation (torchvision and matterport conventions) and box coding."""
from __future__ import annotations

import functools
import math
import numbers
import operator
from typing import Any, Sequence

import numpy as np

from .. import _arrays, _core
from .._arrays import Call, dtype_name, library_of, real
from .._errors import FovealTypeError, FovealValueError
from ._box import _Xp


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

def _weights(op: str, weights: Any) -> tuple:
    try:
        w = tuple(weights)
    except TypeError:
        raise FovealTypeError(f"{op}: weights must be a sequence of 4 numbers, got {weights!r}") from None
    if len(w) != 4:
        raise FovealValueError(f"{op}: weights must be a sequence of 4 numbers, got {len(w)}")
    return tuple(real(op, "weights", v) for v in w)



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
