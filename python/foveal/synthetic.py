"""Deterministic synthetic detection scenes.

This module is the single definition of the *clustered box generator* that
``shared/BENCHMARKS.md`` prescribes for the NMS and ``box_iou`` workloads. The
benchmark suite (``bench/``), the demo (``foveal demo``) and the tests all use
it, so a scene built here is the same scene everywhere, bit for bit.

The generator, for ``N`` boxes:

1. ``K = ceil(N / 50)`` objects;
2. centers uniform in ``[0, 1024)²``, shape ``(K, 2)``;
3. sizes ``(w, h)`` uniform in ``[16, 256)``, shape ``(K, 2)``;
4. jitter ``N(0, 1)`` of shape ``(K, 50, 4)``; each object is replicated 50
   times, the center moved by ``0.1 · size · jitter[..., 0:2]`` and the size
   scaled by ``1 + 0.1 · jitter[..., 2:4]`` and floored at 1;
5. boxes ``(x1, y1, x2, y2)`` rounded to float32, object-major (the 50 copies
   of object 0, then those of object 1, ...), truncated to ``N``;
6. then scores uniform in ``[0, 1)`` rounded to float32, shape ``(N,)``.

All draws come from one ``numpy.random.default_rng(seed)`` in exactly that
order (centers, sizes, jitter, scores).
"""

from __future__ import annotations

import math

import numpy as np

__all__ = [
    "clustered_boxes",
    "clustered_box_pair",
    "outlier_scene",
    "OUTLIER_KINDS",
    "IMAGE_SIZE",
    "COPIES_PER_OBJECT",
]

#: Side of the square canvas the object centers are drawn in.
IMAGE_SIZE = 1024.0
#: Number of jittered copies of each object.
COPIES_PER_OBJECT = 50
_SIZE_RANGE = (16.0, 256.0)
_JITTER_SCALE = 0.1


def _check_n(n):
    if isinstance(n, (bool, np.bool_)) or not isinstance(n, (int, np.integer)):
        raise TypeError(f"n must be an int, got {type(n).__name__}")
    n = int(n)
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    return n


def _check_dtype(dtype):
    dtype = np.dtype(dtype)
    if dtype.kind != "f":
        raise TypeError(f"dtype must be a floating dtype, got {dtype}")
    return dtype


def _draw(rng, n):
    """Run the generator once on ``rng``; float32 boxes and scores."""
    k = math.ceil(n / COPIES_PER_OBJECT)
    centers = rng.uniform(0.0, IMAGE_SIZE, size=(k, 2))
    sizes = rng.uniform(_SIZE_RANGE[0], _SIZE_RANGE[1], size=(k, 2))
    jitter = rng.standard_normal(size=(k, COPIES_PER_OBJECT, 4))

    size = sizes[:, None, :]  # (K, 1, 2): (w, h)
    center = centers[:, None, :] + _JITTER_SCALE * size * jitter[..., 0:2]
    wh = np.maximum(size * (1.0 + _JITTER_SCALE * jitter[..., 2:4]), 1.0)
    boxes = np.concatenate([center - 0.5 * wh, center + 0.5 * wh], axis=-1)
    boxes = boxes.reshape(-1, 4)[:n].astype(np.float32)

    scores = rng.uniform(0.0, 1.0, size=n).astype(np.float32)
    return boxes, scores


def clustered_boxes(n, seed=0, dtype=np.float32):
    """Boxes and scores of the clustered benchmark scene.

    Implements the box generator of ``BENCHMARKS.md`` exactly: ``ceil(n/50)``
    objects, each replicated 50 times with Gaussian jitter, so that boxes come
    in dense clusters of heavily overlapping candidates, as a detector's raw
    output does.

    Parameters
    ----------
    n : int
        Number of boxes, ``n >= 0``.
    seed : int or numpy.random.SeedSequence, optional
        Seed of ``numpy.random.default_rng``; default 0 (the benchmark seed).
    dtype : numpy dtype, optional
        Floating dtype of the returned arrays (default float32). The values are
        always the generator's float32 values; a wider dtype holds them exactly,
        so the scene is the same whatever the dtype.

    Returns
    -------
    boxes : numpy.ndarray, shape (n, 4)
        Boxes ``(x1, y1, x2, y2)`` in continuous pixel coordinates on a canvas
        of about ``1024 x 1024`` (jitter may push boxes slightly outside it);
        ``x2 > x1`` and ``y2 > y1`` always (sizes are floored at 1).
    scores : numpy.ndarray, shape (n,)
        Scores uniform in ``[0, 1)``, drawn after the boxes.

    Raises
    ------
    TypeError
        If ``n`` is not an integer or ``dtype`` is not a floating dtype.
    ValueError
        If ``n`` is negative.

    See Also
    --------
    clustered_box_pair : two sets from one stream, for ``box_iou``.

    Notes
    -----
    Draw order from one ``numpy.random.default_rng(seed)``: centers
    ``uniform(0, 1024, (K, 2))``, sizes ``uniform(16, 256, (K, 2))``, jitter
    ``standard_normal((K, 50, 4))`` whose channels are ``(dx, dy, dw, dh)``,
    then scores ``uniform(0, 1, n)``. With ``c`` a center, ``s`` a size and
    ``j`` the jitter, a box has center ``c + 0.1 * s * j[0:2]`` and size
    ``max(s * (1 + 0.1 * j[2:4]), 1)``; arithmetic is float64, then boxes and
    scores are rounded to float32.

    Examples
    --------
    >>> from foveal.synthetic import clustered_boxes
    >>> boxes, scores = clustered_boxes(1000)
    >>> boxes.shape, boxes.dtype, scores.shape
    ((1000, 4), dtype('float32'), (1000,))
    >>> bool((boxes[:, 2:] > boxes[:, :2]).all())
    True
    """
    n = _check_n(n)
    dtype = _check_dtype(dtype)
    boxes, scores = _draw(np.random.default_rng(seed), n)
    return boxes.astype(dtype, copy=False), scores.astype(dtype, copy=False)


def clustered_box_pair(n=4096, seed=0, dtype=np.float32):
    """Two box sets drawn one after the other from one stream.

    This is the input of the ``box_iou_4k`` workload: the generator of
    :func:`clustered_boxes` run twice in sequence on a single
    ``numpy.random.default_rng(seed)``. Each run draws its scores too (and
    they are discarded), so the first set equals ``clustered_boxes(n, seed)[0]``
    and the second set continues the same stream.

    Parameters
    ----------
    n : int, optional
        Number of boxes in each set (default 4096, the benchmark size).
    seed : int or numpy.random.SeedSequence, optional
        Seed of ``numpy.random.default_rng``; default 0.
    dtype : numpy dtype, optional
        Floating dtype of the returned arrays (default float32); the values
        are the generator's float32 values whatever the dtype.

    Returns
    -------
    boxes1, boxes2 : numpy.ndarray, shape (n, 4)
        Boxes ``(x1, y1, x2, y2)``.

    Raises
    ------
    TypeError
        If ``n`` is not an integer or ``dtype`` is not a floating dtype.
    ValueError
        If ``n`` is negative.

    See Also
    --------
    clustered_boxes : the generator.

    Examples
    --------
    >>> from foveal.synthetic import clustered_boxes, clustered_box_pair
    >>> a, b = clustered_box_pair(4096)
    >>> a.shape, b.shape
    ((4096, 4), (4096, 4))
    >>> bool((a == clustered_boxes(4096)[0]).all())
    True
    """
    n = _check_n(n)
    dtype = _check_dtype(dtype)
    rng = np.random.default_rng(seed)
    boxes1, _ = _draw(rng, n)
    boxes2, _ = _draw(rng, n)
    return boxes1.astype(dtype, copy=False), boxes2.astype(dtype, copy=False)


#: Scenes of :func:`outlier_scene` and the IoU threshold each is meant to be run at.
OUTLIER_KINDS = {"far": 0.5, "split": 0.5, "huge": 0.0}
_FAR = 1.0e7  # centre of the far box (both axes)
_SPLIT = 1.0e6  # offset of the second cluster on both axes
_HUGE = 1.0e6  # side of the huge box


def outlier_scene(n, kind, seed=0, outlier=True, size_range=(8.0, 64.0), dtype=np.float32):
    """Uniform boxes plus one outlier: scenes where a spatial index can fail.

    A spatial NMS sized by the bounding box of all boxes, or by the largest
    box, degrades to ``N x kept`` work on these scenes; with ``outlier=False``
    the same draws give the same scene without the outlier, the baseline to
    compare with.

    The base scene, for ``n`` boxes: centres uniform in ``[0, 1024)²``,
    shape ``(n, 2)``; sizes ``(w, h)`` uniform in ``size_range`` (default
    ``[8, 64)``), shape ``(n, 2)``; scores uniform in ``[0, 1)``, shape ``(n,)``, all from one
    ``numpy.random.default_rng(seed)`` in that order, in float64, then:

    ``"far"``
        the last box's centre moves to ``(1e7, 1e7)`` (run at ``0.5``);
    ``"split"``
        boxes ``n // 2`` onwards move by ``1e6`` along both axes: two
        1024-px clusters ``1e6`` apart on each axis (run at ``0.5``);
    ``"huge"``
        the last box becomes a ``1e6 x 1e6`` box centred on the canvas, which
        overlaps every other box (run at ``0.0``).

    Boxes and scores are then rounded to float32.

    Parameters
    ----------
    n : int
        Number of boxes, ``n >= 0``.
    kind : {"far", "split", "huge"}
        The outlier; :data:`OUTLIER_KINDS` maps each to its IoU threshold.
    seed : int or numpy.random.SeedSequence, optional
        Seed of ``numpy.random.default_rng``; default 0.
    outlier : bool, optional
        ``False`` leaves the base scene unchanged (default ``True``).
    size_range : (float, float), optional
        Range of the base boxes' widths and heights. Larger boxes overlap more,
        so fewer are kept (default ``(8, 64)``: about 40 % kept at 100k boxes
        and threshold 0.5; ``(64, 256)``: about 1 %).
    dtype : numpy dtype, optional
        Floating dtype of the returned arrays (default float32); the values
        are the float32 values whatever the dtype.

    Returns
    -------
    boxes : numpy.ndarray, shape (n, 4)
        Boxes ``(x1, y1, x2, y2)`` with ``x2 > x1`` and ``y2 > y1``.
    scores : numpy.ndarray, shape (n,)

    Raises
    ------
    TypeError
        If ``n`` is not an integer or ``dtype`` is not a floating dtype.
    ValueError
        If ``n`` is negative, ``kind`` is unknown or ``size_range`` is not
        an increasing pair of positive sizes below ``1e6``.

    Examples
    --------
    >>> from foveal.synthetic import outlier_scene
    >>> boxes, scores = outlier_scene(1000, "far")
    >>> base, _ = outlier_scene(1000, "far", outlier=False)
    >>> bool((boxes[:-1] == base[:-1]).all()), float(boxes[-1, 0]) > 9e6
    (True, True)
    """
    n = _check_n(n)
    dtype = _check_dtype(dtype)
    if kind not in OUTLIER_KINDS:
        raise ValueError(f"kind must be one of {sorted(OUTLIER_KINDS)}, got {kind!r}")
    rng = np.random.default_rng(seed)
    centers = rng.uniform(0.0, IMAGE_SIZE, size=(n, 2))
    lo, hi = (float(v) for v in size_range)
    if not 0.0 < lo <= hi < _HUGE:
        raise ValueError(f"size_range must be (lo, hi) with 0 < lo <= hi < 1e6, got {size_range!r}")
    wh = rng.uniform(lo, hi, size=(n, 2))
    scores = rng.uniform(0.0, 1.0, size=n).astype(np.float32)
    if outlier and n > 0:
        if kind == "far":
            centers[-1] = _FAR
        elif kind == "split":
            centers[n // 2 :] += _SPLIT
        else:
            centers[-1] = 0.5 * IMAGE_SIZE
            wh[-1] = _HUGE
    boxes = np.concatenate([centers - 0.5 * wh, centers + 0.5 * wh], axis=-1).astype(np.float32)
    return boxes.astype(dtype, copy=False), scores.astype(dtype, copy=False)
