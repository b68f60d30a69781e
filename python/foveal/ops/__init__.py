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

from ._box import batched_nms, box_area, box_convert, box_iou, clip_boxes_to_image, complete_box_iou, complete_box_iou_loss, distance_box_iou, distance_box_iou_loss, generalized_box_iou, generalized_box_iou_loss, nms, remove_small_boxes  # noqa: F401
from ._roi import roi_align, roi_align_backward, roi_pool, roi_pool_backward  # noqa: F401
from ._roi import multi_scale_roi_align  # noqa: F401
from ._anchors import AnchorGenerator, BoxCoder, anchor_grid, decode_boxes, encode_boxes, matterport_anchors  # noqa: F401
from ._soft_nms import soft_nms  # noqa: F401
from ._rotated import batched_nms_rotated, box_iou_rotated, nms_rotated, roi_align_rotated, roi_align_rotated_backward  # noqa: F401
from ._postprocess import box_head_postprocess, rpn_postprocess  # noqa: F401
from ._postprocess import retinanet_postprocess  # noqa: F401

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
    "multi_scale_roi_align",
    "nms",
    "nms_rotated",
    "remove_small_boxes",
    "roi_align",
    "roi_align_backward",
    "roi_align_rotated",
    "roi_align_rotated_backward",
    "roi_pool",
    "roi_pool_backward",
    "retinanet_postprocess",
    "rpn_postprocess",
    "soft_nms",
]
