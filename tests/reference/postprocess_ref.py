"""torchvision's detection post-processing as the oracle of foveal.ops.rpn_postprocess,
box_head_postprocess and retinanet_postprocess: BoxCoder.decode +
RegionProposalNetwork.filter_proposals, RoIHeads.postprocess_detections and
RetinaNet.postprocess_detections, called as unbound methods on a namespace holding just the
attributes they read (no model to build); and a float64 NumPy transcription of RetinaNet's rules
(retinanet_np), independent of torch."""

from __future__ import annotations

import types

import numpy as np
import torch
from torchvision.models.detection._utils import BoxCoder
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.image_list import ImageList
from torchvision.models.detection.retinanet import RetinaNet
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


RETINA_SIZES = tuple((x, int(x * 2 ** (1 / 3)), int(x * 2 ** (2 / 3))) for x in (32, 64, 128, 256, 512))


def retina_anchors(height, width, feature_shapes, dtype=torch.float32):
    """torchvision RetinaNet's AnchorGenerator anchors (3 sizes x 3 ratios per location) for a
    ``height x width`` image. Returns ``(anchors (A, 4), num_anchors_per_level)``."""
    n = len(feature_shapes)
    gen = AnchorGenerator(RETINA_SIZES[:n], ((0.5, 1.0, 2.0),) * n)
    images = ImageList(torch.empty(1, 3, height, width, dtype=dtype), [(height, width)])
    fmaps = [torch.empty(1, 1, h, w, dtype=dtype) for h, w in feature_shapes]
    return gen(images, fmaps)[0], [9 * h * w for h, w in feature_shapes]


def retinanet_ref(anchors, class_logits, box_regression, image_shapes, levels, score_thresh=0.05, nms_thresh=0.5,
                  detections_per_img=300, topk_candidates=1000, weights=(1.0, 1.0, 1.0, 1.0)):
    """torchvision's RetinaNet.postprocess_detections on the concatenated head outputs
    ``class_logits`` (B, A, C) and ``box_regression`` (B, A, 4), split by level as its forward
    does; anchors (A, 4) shared by the images. Returns the list of per-image dicts."""
    net = types.SimpleNamespace(
        box_coder=BoxCoder(weights),
        score_thresh=score_thresh,
        nms_thresh=nms_thresh,
        detections_per_img=detections_per_img,
        topk_candidates=topk_candidates,
    )
    head = {
        "cls_logits": list(class_logits.split(levels, dim=1)),
        "bbox_regression": list(box_regression.split(levels, dim=1)),
    }
    split_anchors = [list(anchors.split(levels))] * class_logits.shape[0]
    return RetinaNet.postprocess_detections(net, head, split_anchors, image_shapes)


def _nms_np(boxes, scores, thresh):
    """Greedy NMS, float64: visit by decreasing score (equal: lower position first)."""
    order = np.lexsort((np.arange(len(scores)), -scores))
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    alive = np.ones(len(scores), bool)
    keep = []
    for i in order:
        if not alive[i]:
            continue
        keep.append(i)
        w = np.clip(np.minimum(boxes[i, 2], boxes[:, 2]) - np.maximum(boxes[i, 0], boxes[:, 0]), 0, None)
        h = np.clip(np.minimum(boxes[i, 3], boxes[:, 3]) - np.maximum(boxes[i, 1], boxes[:, 1]), 0, None)
        inter = w * h
        with np.errstate(invalid="ignore", divide="ignore"):
            iou = inter / (area[i] + area - inter)
        alive &= ~(iou > thresh)
    return np.array(keep, np.int64)


def retinanet_np(anchors, class_logits, box_regression, image_shapes, levels, score_thresh=0.05, nms_thresh=0.5,
                 detections_per_img=300, topk_candidates=1000, weights=(1.0, 1.0, 1.0, 1.0),
                 clip=np.log(1000.0 / 16)):
    """RetinaNet's post-processing in float64 NumPy, with foveal's documented tie rules (equal
    scores: lower flattened index, then earlier candidate, first). Returns per-image
    ``(boxes, scores, labels)``."""
    anchors = np.asarray(anchors, np.float64)
    logits = np.asarray(class_logits, np.float64)
    reg = np.asarray(box_regression, np.float64)
    wx, wy, ww, wh = weights
    offs = np.concatenate([[0], np.cumsum(levels)]).astype(np.int64)
    out = []
    for b in range(logits.shape[0]):
        height, width = image_shapes[b]
        all_boxes, all_scores, all_labels = [], [], []
        for l in range(len(levels)):
            lg = logits[b, offs[l]:offs[l + 1]]
            c = lg.shape[1]
            with np.errstate(over="ignore"):
                scores = (1.0 / (1.0 + np.exp(-lg))).reshape(-1)
            idx = np.nonzero(scores > score_thresh)[0]
            idx = idx[np.lexsort((idx, -scores[idx]))][:topk_candidates]
            a = anchors[offs[l] + idx // c]
            d = reg[b, offs[l] + idx // c]
            widths, heights = a[:, 2] - a[:, 0], a[:, 3] - a[:, 1]
            cx, cy = a[:, 0] + 0.5 * widths, a[:, 1] + 0.5 * heights
            dw = np.minimum(d[:, 2] / ww, clip)
            dh = np.minimum(d[:, 3] / wh, clip)
            pcx, pcy = d[:, 0] / wx * widths + cx, d[:, 1] / wy * heights + cy
            pw, ph = np.exp(dw) * widths, np.exp(dh) * heights
            boxes = np.stack([pcx - 0.5 * pw, pcy - 0.5 * ph, pcx + 0.5 * pw, pcy + 0.5 * ph], axis=1)
            boxes[:, 0::2] = np.clip(boxes[:, 0::2], 0, width)
            boxes[:, 1::2] = np.clip(boxes[:, 1::2], 0, height)
            all_boxes.append(boxes)
            all_scores.append(scores[idx])
            all_labels.append(idx % c)
        boxes, scores, labels = (np.concatenate(v) for v in (all_boxes, all_scores, all_labels))
        keep = []
        for lab in np.unique(labels):
            sel = np.nonzero(labels == lab)[0]
            keep.extend(sel[_nms_np(boxes[sel], scores[sel], nms_thresh)])
        keep = np.array(keep, np.int64)
        keep = keep[np.lexsort((keep, -scores[keep]))][:detections_per_img]
        out.append((boxes[keep], scores[keep], labels[keep]))
    return out
