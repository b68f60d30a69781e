# SPDX-License-Identifier: Apache-2.0
"""RoIAlign and RoIPool (and their backward passes)."""
from __future__ import annotations

from typing import Any

import numpy as np

from .. import _core
from .._arrays import Call, channels_last, dim, dtype_name, library_of, real
from .._errors import FovealTypeError, FovealValueError


# -- RoIAlign / RoIPool ---------------------------------------------------------------------------
# Output dtype = the input's (float32/float64; float16/bfloat16 on CUDA, computed in float32), as
# torchvision. RoIs are taken in the input's dtype (float32 for 16-bit inputs); any real dtype is
# converted.


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


def _roi_call(op: str, main: str, x: Any, boxes: Any, keep_cl: bool = False,
              **extra: Any) -> tuple[Call, Any, Any]:
    """Call for a RoI op: the map-like argument ``main`` in its own dtype (a channels-last CPU map
    kept so with ``keep_cl``), the RoIs converted."""
    rois = _rois(op, boxes)
    call = Call(op, policy="same", **{main: x}, boxes=rois, **extra)
    xs = call.floats(main, keep_channels_last=keep_cl)
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
        Feature maps, float32 or float64 (float16 / bfloat16 on CUDA, computed in float32). On
        the CPU a channels-last map (torch's ``channels_last``, or a numpy view of ``(N, H, W, C)``
        memory) is read in place by a kernel for that layout; other layouts are copied first.
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
    ``torchvision.ops.roi_align``'s semantics (tested on random inputs, float32 and float64). The
    values agree to a few ulps, not bit for bit: for NCHW maps on the CPU the bilinear samples of a
    bin are summed separably (rows first), which rounds differently from torchvision's four-corner
    sums (at most 9.5e-7 apart in float32 on N(0, 1) maps). Samples more than one pixel outside
    the map count as zero, samples within one pixel are clamped to the edge. Adaptive sampling
    grids are capped at 2**40 per axis, and samples off the map are skipped without being
    visited, so a huge region costs about as much as the map. One difference: torchvision
    multiplies off-map samples by 0 (``0 * inf`` is NaN when the channel's first pixel is
    infinite), foveal skips them.

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
    call, x, rois = _roi_call(op, "input", input, boxes, keep_cl=True)
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


# -- Multi-scale RoIAlign (FPN) -------------------------------------------------------------------


def _image_size(op: str, image_sizes: Any) -> tuple[int, int]:
    """(largest height, largest width) of ``image_sizes``, a non-empty sequence of (h, w) pairs."""
    try:
        pairs = [tuple(_int_arg(op, "image_sizes", v) for v in hw) for hw in image_sizes]
    except TypeError:
        raise FovealTypeError(
            f"{op}: image_sizes must be a sequence of (height, width) pairs of ints, got {image_sizes!r}") from None
    if not pairs or any(len(hw) != 2 or min(hw) < 1 for hw in pairs):
        raise FovealValueError(
            f"{op}: image_sizes must be a non-empty sequence of (height, width) pairs, each >= 1, got {image_sizes!r}")
    return max(h for h, _ in pairs), max(w for _, w in pairs)


def multi_scale_roi_align(
    features: Any,
    boxes: Any,
    image_sizes: Any,
    output_size: Any,
    sampling_ratio: int,
    canonical_scale: int = 224,
    canonical_level: int = 4,
    *,
    aligned: bool = False,
) -> Any:
    """Multi-scale RoIAlign over a feature pyramid (FPN), as torchvision's MultiScaleRoIAlign.

    Every region is pooled from one level of the pyramid, chosen from its size (FPN paper,
    eq. 1), in one native call: each region's result is written straight into its row of the
    output.

    Parameters
    ----------
    features : dict or list of arrays, each of shape (N, C, Hl, Wl)
        The pyramid, finest level first: a dict's values in its key order (torchvision's
        ``featmap_names`` selection is the caller's ``{k: x[k] for k in names}``), or a list. One
        dtype (float32 or float64; float16 / bfloat16 on CUDA), library and device; the same N
        and C on every level. On the CPU, levels that are all channels-last are read in place
        (as :func:`roi_align`).
    boxes : list of arrays of shape (Ki, 4), or array of shape (K, 5)
        One ``(x1, y1, x2, y2)`` array per image, in image pixels (or rows
        ``[batch_index, x1, y1, x2, y2]``), as :func:`roi_align`.
    image_sizes : sequence of (int, int)
        ``(height, width)`` of every image before the backbone; the largest height fixes the
        scales.
    output_size : int or (int, int)
        ``(PH, PW)`` bins per region, each >= 1.
    sampling_ratio : int
        Samples per bin along each axis; <= 0 is adaptive, as :func:`roi_align`.
    canonical_scale : int
        Regions of ``sqrt(area)`` = ``canonical_scale`` (>= 1) ...
    canonical_level : int
        ... are pooled from level ``canonical_level`` (the map of stride ``2**canonical_level``).
    aligned : bool
        As :func:`roi_align` (torchvision's MultiScaleRoIAlign uses False).

    Returns
    -------
    out : array, shape (K, C, PH, PW)
        Regions in the order of ``boxes``; same library, device and dtype as the features.

    Notes
    -----
    torchvision's rules, tested against ``torchvision.ops.MultiScaleRoIAlign``: level l's scale
    is ``2**round(log2(Hl / max height))``; region k goes to level ``floor(canonical_level +
    log2(sqrt(area_k) / canonical_scale) + 1e-6)``, clamped to the levels of the first and last
    map and counted from the first. A region mapped to no level (negative area, or an index past
    the list when the maps skip a level) is all zeros; with a single map every region is pooled
    from it. At most 16 levels.

    Examples
    --------
    >>> import numpy as np, foveal
    >>> p2 = np.ones((1, 1, 16, 16), dtype=np.float32)  # stride 4 for a 64x64 image
    >>> p3 = np.full((1, 1, 8, 8), 2, dtype=np.float32)  # stride 8
    >>> boxes = [np.array([[0, 0, 8, 8], [0, 0, 60, 60]], dtype=np.float32)]
    >>> out = foveal.ops.multi_scale_roi_align([p2, p3], boxes, [(64, 64)], 2, 2, canonical_scale=32)
    >>> out[:, 0, 0, 0]  # the small box from p2, the large one from p3
    array([1., 2.], dtype=float32)
    """
    from collections.abc import Mapping

    op = "multi_scale_roi_align"
    ph, pw = _output_size(op, output_size)
    ratio = _int_arg(op, "sampling_ratio", sampling_ratio)
    cscale = _int_arg(op, "canonical_scale", canonical_scale)
    clevel = _int_arg(op, "canonical_level", canonical_level)
    if cscale < 1:
        raise FovealValueError(f"{op}: canonical_scale must be >= 1, got {cscale}")
    if isinstance(features, Mapping):
        maps = list(features.values())
    elif isinstance(features, (list, tuple)):
        maps = list(features)
    else:
        raise FovealTypeError(f"{op}: features must be a dict or a list of arrays, got {type(features).__name__}")
    if not maps:
        raise FovealValueError(f"{op}: features must hold at least one feature map, got none")
    img_h, img_w = _image_size(op, image_sizes)
    rois = _rois(op, boxes)
    names = [f"features[{i}]" for i in range(len(maps))]
    call = Call(op, policy="same", **dict(zip(names, maps)), boxes=rois)
    # channels-last levels stay so only when all are (the kernel takes one layout)
    xs = call.floats(*names, keep_channels_last=all(channels_last(m, call.lib) for m in maps))
    xs = list(xs) if len(names) > 1 else [xs]
    rdt = dtype_name(rois)
    if not (rdt.startswith(("float", "int", "uint")) or rdt == "bfloat16"):
        raise FovealTypeError(f"{op}: boxes must have a real numeric dtype, got {rdt}")
    rois = call.prepare("boxes", call.dtype if call.dtype in ("float32", "float64") else "float32")
    out = call.empty((dim(rois, 0, 2), dim(xs[0], 1, 4), ph, pw))
    call.run(_core.multi_scale_roi_align, xs, rois, out, img_h, img_w, ratio, cscale, clevel, bool(aligned))
    return call.wrap(out)
