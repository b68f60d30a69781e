# SPDX-License-Identifier: Apache-2.0
"""Soft-NMS (Bodla et al. 2017)."""
from __future__ import annotations

import math
from typing import Any

from .. import _core
from .._arrays import Call, dim, real
from .._errors import FovealValueError


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
