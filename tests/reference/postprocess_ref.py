"""torchvision's Faster R-CNN post-processing as the oracle of foveal.ops.rpn_postprocess and
box_head_postprocess: BoxCoder.decode + RegionProposalNetwork.filter_proposals, and
RoIHeads.postprocess_detections, called as unbound methods on a namespace holding just the
attributes they read (no model to build)."""

from __future__ import annotations

import types

import torch
from torchvision.models.detection._utils import BoxCoder
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.image_list import ImageList
from torchvision.models.detection.roi_heads import RoIHeads
from torchvision.models.detection.rpn import RegionProposalNetwork

FPN_SIZES = ((32,), (64,), (128,), (256,), (512,))
FPN_RATIOS = ((0.5, 1.0, 2.0),) * 5


def fpn_anchors(height, width, feature_shapes, batch=1, dtype=torch.float32):
    """torchvision AnchorGenerator anchors (sizes 32..512, one per level; ratios 0.5, 1, 2) for a
    padded batch of ``height x width`` images and the given feature map shapes. Returns
    ``(anchors (A, 4), num_anchors_per_level)``."""
    n = len(feature_shapes)
    gen = AnchorGenerator(FPN_SIZES[:n], FPN_RATIOS[:n])
    images = ImageList(torch.empty(batch, 3, height, width, dtype=dtype), [(height, width)] * batch)
    fmaps = [torch.empty(batch, 1, h, w, dtype=dtype) for h, w in feature_shapes]
    return gen(images, fmaps)[0], [3 * h * w for h, w in feature_shapes]


def rpn_ref(anchors, objectness, deltas, image_shapes, levels, pre_nms_top_n=1000, post_nms_top_n=1000,
            nms_thresh=0.7, min_size=1e-3, score_thresh=0.0, weights=(1.0, 1.0, 1.0, 1.0)):
    """Lists of per-image proposal boxes and scores, as torchvision's RPN returns them in eval."""
    b = objectness.shape[0]
    coder = BoxCoder(weights)
    proposals = coder.decode(deltas.reshape(-1, 4), [anchors] * b).view(b, -1, 4)
    rpn = types.SimpleNamespace(
        pre_nms_top_n=lambda: pre_nms_top_n,
        post_nms_top_n=lambda: post_nms_top_n,
        nms_thresh=nms_thresh,
        min_size=min_size,
        score_thresh=score_thresh,
        training=False,
    )
    rpn._get_top_n_idx = types.MethodType(RegionProposalNetwork._get_top_n_idx, rpn)
    return RegionProposalNetwork.filter_proposals(rpn, proposals, objectness, image_shapes, levels)


def box_head_ref(class_logits, box_regression, proposals, image_shapes, score_thresh=0.05, nms_thresh=0.5,
                 detections_per_img=100, weights=(10.0, 10.0, 5.0, 5.0)):
    """Lists of per-image boxes, scores and labels, as torchvision's RoIHeads returns them.
    ``class_logits`` (sum P_i, C), ``box_regression`` (sum P_i, 4 C), ``proposals`` a list."""
    heads = types.SimpleNamespace(
        box_coder=BoxCoder(weights),
        score_thresh=score_thresh,
        nms_thresh=nms_thresh,
        detections_per_img=detections_per_img,
    )
    return RoIHeads.postprocess_detections(heads, class_logits, box_regression, proposals, image_shapes)
