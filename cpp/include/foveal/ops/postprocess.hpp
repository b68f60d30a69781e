// SPDX-License-Identifier: Apache-2.0
// Fused detection post-processing (Faster R-CNN RPN and box head, RetinaNet), batched over
// images, with padded outputs and counts.
//
// Devices: float32 / float64 on the CPU; float16 / bfloat16 / float32 on CUDA (arithmetic in
// float32, score_thresh compared after rounding the score to the input dtype), where the call is
// stream-ordered on ctx.stream with no host synchronisation (counts are written on the device).
// image_sizes is a host array on either device; proposal_counts is on the host or on the
// proposals' CUDA device (not read on the host there: counts outside [0, P] act as clamped).
#pragma once
#include <cmath>
#include <cstdint>
#include <vector>

#include "foveal/core/exec_context.hpp"
#include "foveal/core/tensor_view.hpp"

namespace foveal {

/// Parameters of rpn_postprocess (torchvision RegionProposalNetwork's names and eval defaults).
struct RpnPostprocessParams {
  std::int64_t pre_nms_top_n = 1000;   // per level and image
  std::int64_t post_nms_top_n = 1000;  // per image
  double nms_thresh = 0.7;
  double min_size = 1e-3;
  double score_thresh = 0.0;
  double weights[4] = {1.0, 1.0, 1.0, 1.0};  // BoxCoder weights (wx, wy, ww, wh)
  double bbox_xform_clip = std::log(1000.0 / 16.0);
};

/// Region proposals from RPN outputs: torchvision's BoxCoder.decode followed by
/// RegionProposalNetwork.filter_proposals, in one call over a batch of images.
///
/// Per image and level: the pre_nms_top_n anchors of highest objectness (equal logits: lower
/// anchor index first; NaN last), decoded against their anchors, clipped to the image, those with
/// a side below min_size or a sigmoid(objectness) below score_thresh dropped, greedy NMS at
/// nms_thresh within the level (nms's rules; equal scores: the earlier candidate first). Then the
/// kept proposals of all levels by decreasing score, at most post_nms_top_n.
///
/// `anchors` (A, 4), shared by the images; `objectness` (B, A) logits; `deltas` (B, A, 4);
/// `image_sizes` (B, 2) float64 (height, width), finite, >= 0, on the CPU; levels are the
/// consecutive runs of `num_anchors_per_level` anchors (sum A). Outputs: `boxes` (B, K, 4) and
/// `scores` (B, K) (sigmoid of objectness) of the inputs' dtype, `counts` (B,) int64; image b's
/// proposals fill rows [0, counts[b]), by decreasing score, the rest is zero. K must be at least
/// min(post_nms_top_n, sum over levels of min(pre_nms_top_n, level size)).
void rpn_postprocess(ConstTensorView anchors, ConstTensorView objectness, ConstTensorView deltas,
                     ConstTensorView image_sizes, const std::vector<std::int64_t>& num_anchors_per_level,
                     const RpnPostprocessParams& params, TensorView boxes, TensorView scores, TensorView counts,
                     const ExecContext& ctx = {});

/// Parameters of box_head_postprocess (torchvision RoIHeads' names and defaults).
struct BoxHeadPostprocessParams {
  double score_thresh = 0.05;
  double nms_thresh = 0.5;
  std::int64_t detections_per_img = 100;
  double min_size = 1e-2;
  double weights[4] = {10.0, 10.0, 5.0, 5.0};
  double bbox_xform_clip = std::log(1000.0 / 16.0);
};

/// Detections from the box head: torchvision's RoIHeads.postprocess_detections in one call.
///
/// Per image: softmax over the C classes of each proposal, each class's box decoded against the
/// proposal and clipped to the image; class 0 (background) dropped, then scores <= score_thresh
/// and boxes with a side below min_size; greedy NMS at nms_thresh within each class (nms's rules;
/// equal scores: lower (proposal, class) first); the kept detections by decreasing score, at most
/// detections_per_img.
///
/// `proposals` (B, P, 4); `proposal_counts` (B,) int64 (image b uses its first counts[b]
/// proposals; a default-constructed view: all P); `class_logits` (B, P, C); `box_regression` (B, P, 4 C);
/// `image_sizes` (B, 2) float64 (height, width) on the CPU. Outputs: `boxes` (B, D, 4),
/// `scores` (B, D), `labels` (B, D) int64, `counts` (B,) int64, D >= min(detections_per_img,
/// P (C - 1)); rows past counts[b] are zero.
void box_head_postprocess(ConstTensorView proposals, ConstTensorView proposal_counts, ConstTensorView class_logits,
                          ConstTensorView box_regression, ConstTensorView image_sizes,
                          const BoxHeadPostprocessParams& params, TensorView boxes, TensorView scores,
                          TensorView labels, TensorView counts, const ExecContext& ctx = {});

/// Parameters of retinanet_postprocess (torchvision RetinaNet's names and defaults).
struct RetinaNetPostprocessParams {
  double score_thresh = 0.05;
  double nms_thresh = 0.5;
  std::int64_t detections_per_img = 300;
  std::int64_t topk_candidates = 1000;  // per level and image
  double weights[4] = {1.0, 1.0, 1.0, 1.0};
  double bbox_xform_clip = std::log(1000.0 / 16.0);
};

/// Detections of a single-stage detector: torchvision's RetinaNet.postprocess_detections in one
/// call over a batch of images.
///
/// Per image and level: sigmoid scores over (anchor, class) flattened, those > score_thresh
/// kept (compared in the inputs' dtype, as torch), the topk_candidates best (equal scores: lower
/// flattened index first; torch.topk leaves that order unspecified), decoded against their
/// anchors and clipped to the image. Then greedy NMS at nms_thresh within each class over all
/// levels (nms's rules; equal scores: the earlier in the level-by-level concatenation first), the
/// kept detections by decreasing score, at most detections_per_img.
///
/// `anchors` (A, 4), shared by the images; `class_logits` (B, A, C) and `box_regression`
/// (B, A, 4) with the anchors in level order (torchvision's head outputs before its split);
/// `image_sizes` (B, 2) float64 (height, width), finite, >= 0, on the CPU; levels are the
/// consecutive runs of `num_anchors_per_level` anchors (sum A), each with at most 2^32 - 1
/// scores. Outputs: `boxes` (B, D, 4), `scores` (B, D) of the inputs' dtype, `labels` (B, D)
/// int64 (class index in [0, C)), `counts` (B,) int64, D >= min(detections_per_img, sum over
/// levels of min(topk_candidates, level size * C)); rows past counts[b] are zero.
void retinanet_postprocess(ConstTensorView anchors, ConstTensorView class_logits, ConstTensorView box_regression,
                           ConstTensorView image_sizes, const std::vector<std::int64_t>& num_anchors_per_level,
                           const RetinaNetPostprocessParams& params, TensorView boxes, TensorView scores,
                           TensorView labels, TensorView counts, const ExecContext& ctx = {});

}  // namespace foveal
