// SPDX-License-Identifier: Apache-2.0
#include "foveal/ops/postprocess.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "ops/backend.hpp"
#include "ops/validate.hpp"

namespace foveal {
namespace {

void check_image_sizes(const char* op, ConstTensorView sizes, std::int64_t nb) {
  FOVEAL_CHECK_VALUE(sizes.ndim() == 2 && sizes.size(0) == nb && sizes.size(1) == 2, op,
                     ": image_sizes must have shape (B, 2) with B = ", nb, " (height, width per image), got ",
                     sizes.shape().str());
  FOVEAL_CHECK_TYPE(sizes.dtype() == DType::Float64, op, ": image_sizes must be float64, got ",
                    dtype_name(sizes.dtype()));
  FOVEAL_CHECK_VALUE(sizes.device().type == DeviceType::CPU, op, ": image_sizes must be on the CPU, got ",
                     sizes.device().str());
  check::contiguous(op, {{"image_sizes", sizes}});
  const double* s = sizes.data_as<double>();
  for (std::int64_t i = 0; i < 2 * nb; ++i)
    FOVEAL_CHECK_VALUE(std::isfinite(s[i]) && s[i] >= 0, op, ": image_sizes must be finite and >= 0, got ", s[i],
                       " for image ", i / 2);
}

void check_common(const char* op, double nms_thresh, double min_size, double score_thresh, const double* weights,
                  double clip) {
  FOVEAL_CHECK_VALUE(nms_thresh == nms_thresh, op, ": nms_thresh must not be NaN, got nan");
  FOVEAL_CHECK_VALUE(min_size == min_size, op, ": min_size must not be NaN, got nan");
  FOVEAL_CHECK_VALUE(score_thresh == score_thresh, op, ": score_thresh must not be NaN, got nan");
  for (int i = 0; i < 4; ++i)
    FOVEAL_CHECK_VALUE(std::isfinite(weights[i]) && weights[i] != 0, op,
                       ": weights must be 4 finite non-zero numbers, got ", weights[i], " at position ", i);
  FOVEAL_CHECK_VALUE(clip == clip, op, ": bbox_xform_clip must not be NaN, got nan");
}

/// The padded detection outputs: scores and labels (B, D) beside boxes (B, D, 4), labels and
/// counts int64, counts (B,).
void check_detections(const char* op, std::int64_t nb, TensorView boxes, TensorView scores, TensorView labels,
                      TensorView counts) {
  const std::int64_t cap = boxes.size(1);
  FOVEAL_CHECK_VALUE(scores.ndim() == 2 && scores.size(0) == nb && scores.size(1) == cap, op,
                     ": scores must have shape (B, D) = (", nb, ", ", cap, "), got ", scores.shape().str());
  FOVEAL_CHECK_VALUE(labels.ndim() == 2 && labels.size(0) == nb && labels.size(1) == cap, op,
                     ": labels must have shape (B, D) = (", nb, ", ", cap, "), got ", labels.shape().str());
  FOVEAL_CHECK_VALUE(counts.ndim() == 1 && counts.size(0) == nb, op, ": counts must have shape (B,) with B = ", nb,
                     ", got ", counts.shape().str());
  FOVEAL_CHECK_TYPE(labels.dtype() == DType::Int64, op, ": labels must be int64, got ", dtype_name(labels.dtype()));
  FOVEAL_CHECK_TYPE(counts.dtype() == DType::Int64, op, ": counts must be int64, got ", dtype_name(counts.dtype()));
}

// Float dtypes: float32 / float64 on the CPU; float16 / bfloat16 / float32 on CUDA (arithmetic in
// float32 there; float64 is not compiled for CUDA).
void check_float_dtype(const char* op, const check::Named& a) {
  const DType t = a.view.dtype();
  if (a.view.device().type == DeviceType::CUDA)
    FOVEAL_CHECK_TYPE(t == DType::Float16 || t == DType::BFloat16 || t == DType::Float32, op, ": ", a.name,
                      " must be float16, bfloat16 or float32 on CUDA, got ", dtype_name(t));
  else
    FOVEAL_CHECK_TYPE(t == DType::Float32 || t == DType::Float64, op, ": ", a.name,
                      " must be float32 or float64 on the CPU, got ", dtype_name(t));
}

// The CUDA sorts index with int: every sorted array below 2^31 elements.
void check_cuda_size(const char* op, const check::Named& a, std::int64_t n, const char* what) {
  if (a.view.device().type == DeviceType::CUDA)
    FOVEAL_CHECK_VALUE(n <= std::int64_t(INT32_MAX), op, ": at most 2147483647 ", what,
                       " per call are supported on CUDA, got ", n);
}

}  // namespace

void rpn_postprocess(ConstTensorView anchors, ConstTensorView objectness, ConstTensorView deltas,
                     ConstTensorView image_sizes, const std::vector<std::int64_t>& num_anchors_per_level,
                     const RpnPostprocessParams& p, TensorView boxes, TensorView scores, TensorView counts,
                     const ExecContext& ctx) {
  constexpr const char* op = "rpn_postprocess";
  const check::Named an{"anchors", anchors}, ob{"objectness", objectness}, de{"deltas", deltas},
      bo{"boxes", boxes}, sc{"scores", scores}, co{"counts", counts};
  check::shape(op, an, {-1, 4}, "(A, 4)");
  const std::int64_t na = anchors.size(0);
  FOVEAL_CHECK_VALUE(objectness.ndim() == 2 && objectness.size(1) == na, op,
                     ": objectness must have shape (B, A) with A = ", na, " (the number of anchors), got ",
                     objectness.shape().str());
  const std::int64_t nb = objectness.size(0);
  FOVEAL_CHECK_VALUE(deltas.ndim() == 3 && deltas.size(0) == nb && deltas.size(1) == na && deltas.size(2) == 4, op,
                     ": deltas must have shape (B, A, 4) = (", nb, ", ", na, ", 4) like objectness and anchors, got ",
                     deltas.shape().str());
  check_image_sizes(op, image_sizes, nb);
  std::int64_t total = 0, candidates = 0;
  for (std::size_t l = 0; l < num_anchors_per_level.size(); ++l) {
    FOVEAL_CHECK_VALUE(num_anchors_per_level[l] >= 0, op, ": num_anchors_per_level must be >= 0, got ",
                       num_anchors_per_level[l], " for level ", l);
    total += num_anchors_per_level[l];
  }
  FOVEAL_CHECK_VALUE(total == na, op, ": num_anchors_per_level must sum to A = ", na,
                     " (the number of anchors), got ", total);
  FOVEAL_CHECK_VALUE(na <= std::int64_t(INT32_MAX), op, ": at most 2147483647 anchors are supported, got ", na);
  FOVEAL_CHECK_VALUE(p.pre_nms_top_n >= 0, op, ": pre_nms_top_n must be >= 0, got ", p.pre_nms_top_n);
  FOVEAL_CHECK_VALUE(p.post_nms_top_n >= 0, op, ": post_nms_top_n must be >= 0, got ", p.post_nms_top_n);
  check_common(op, p.nms_thresh, p.min_size, p.score_thresh, p.weights, p.bbox_xform_clip);
  for (std::int64_t n : num_anchors_per_level) candidates += std::min(n, p.pre_nms_top_n);
  const std::int64_t need = std::min(p.post_nms_top_n, candidates);
  FOVEAL_CHECK_VALUE(boxes.ndim() == 3 && boxes.size(0) == nb && boxes.size(1) >= need && boxes.size(2) == 4, op,
                     ": boxes must have shape (B, K, 4) with B = ", nb, " and K >= ", need, ", got ",
                     boxes.shape().str());
  FOVEAL_CHECK_VALUE(scores.ndim() == 2 && scores.size(0) == nb && scores.size(1) == boxes.size(1), op,
                     ": scores must have shape (B, K) = (", nb, ", ", boxes.size(1), "), got ", scores.shape().str());
  FOVEAL_CHECK_VALUE(counts.ndim() == 1 && counts.size(0) == nb, op, ": counts must have shape (B,) with B = ", nb,
                     ", got ", counts.shape().str());
  check::same_device(op, {an, ob, de, bo, sc, co});
  check_float_dtype(op, an);
  check::same_dtype(op, {an, ob, de, bo, sc});
  check_cuda_size(op, an, nb * na, "scores (images x anchors)");
  check_cuda_size(op, an, nb * candidates, "candidates (images x candidates per image)");
  FOVEAL_CHECK_TYPE(counts.dtype() == DType::Int64, op, ": counts must be int64, got ", dtype_name(counts.dtype()));
  check::contiguous(op, {an, ob, de, bo, sc, co});
  check::not_null(op, {an, ob, de, bo, sc, co});
  if (nb == 0) return;
  if (anchors.device().type == DeviceType::CUDA)
    FOVEAL_CUDA_CALL(rpn_postprocess, anchors, objectness, deltas, image_sizes, num_anchors_per_level, p, boxes,
                     scores, counts, ctx);
  else
    cpu::rpn_postprocess(anchors, objectness, deltas, image_sizes, num_anchors_per_level, p, boxes, scores, counts,
                         ctx);
}

void box_head_postprocess(ConstTensorView proposals, ConstTensorView proposal_counts, ConstTensorView class_logits,
                          ConstTensorView box_regression, ConstTensorView image_sizes,
                          const BoxHeadPostprocessParams& p, TensorView boxes, TensorView scores, TensorView labels,
                          TensorView counts, const ExecContext& ctx) {
  constexpr const char* op = "box_head_postprocess";
  const check::Named pr{"proposals", proposals}, pc{"proposal_counts", proposal_counts},
      cl{"class_logits", class_logits}, re{"box_regression", box_regression}, bo{"boxes", boxes},
      sc{"scores", scores}, la{"labels", labels}, co{"counts", counts};
  FOVEAL_CHECK_VALUE(proposals.ndim() == 3 && proposals.size(2) == 4, op, ": proposals must have shape (B, P, 4), got ",
                     proposals.shape().str());
  const std::int64_t nb = proposals.size(0), np = proposals.size(1);
  FOVEAL_CHECK_VALUE(class_logits.ndim() == 3 && class_logits.size(0) == nb && class_logits.size(1) == np &&
                         class_logits.size(2) >= 1,
                     op, ": class_logits must have shape (B, P, C) with (B, P) = (", nb, ", ", np,
                     ") like proposals and C >= 1, got ", class_logits.shape().str());
  const std::int64_t nc = class_logits.size(2);
  FOVEAL_CHECK_VALUE(np * nc <= std::int64_t(UINT32_MAX), op,
                     ": at most 4294967295 (proposal, class) pairs per image are supported, got ", np, " x ", nc);
  FOVEAL_CHECK_VALUE(box_regression.ndim() == 3 && box_regression.size(0) == nb && box_regression.size(1) == np &&
                         box_regression.size(2) == 4 * nc,
                     op, ": box_regression must have shape (B, P, 4 C) = (", nb, ", ", np, ", ", 4 * nc,
                     ") to match proposals and class_logits, got ", box_regression.shape().str());
  check_image_sizes(op, image_sizes, nb);
  FOVEAL_CHECK_VALUE(p.detections_per_img >= 0, op, ": detections_per_img must be >= 0, got ", p.detections_per_img);
  check_common(op, p.nms_thresh, p.min_size, p.score_thresh, p.weights, p.bbox_xform_clip);
  const bool has_counts = proposal_counts.data() != nullptr || proposal_counts.ndim() > 0;  // else: all P
  if (has_counts) {
    FOVEAL_CHECK_VALUE(proposal_counts.ndim() == 1 && proposal_counts.size(0) == nb, op,
                       ": proposal_counts must have shape (B,) with B = ", nb, ", got ",
                       proposal_counts.shape().str());
    FOVEAL_CHECK_TYPE(proposal_counts.dtype() == DType::Int64, op, ": proposal_counts must be int64, got ",
                      dtype_name(proposal_counts.dtype()));
    // On the CPU, or on the device of CUDA proposals (then not read here: no synchronisation;
    // the kernel uses proposals q < count, so values outside [0, P] act as clamped).
    const bool on_device = proposal_counts.device().type == DeviceType::CUDA;
    FOVEAL_CHECK_VALUE(!on_device || proposal_counts.device() == proposals.device(), op,
                       ": proposal_counts must be on the CPU or on the proposals' device (",
                       proposals.device().str(), "), got ", proposal_counts.device().str());
    check::contiguous(op, {pc});
    if (!on_device) {
      const std::int64_t* c = proposal_counts.data_as<std::int64_t>();
      for (std::int64_t b = 0; b < nb; ++b)
        FOVEAL_CHECK_VALUE(c[b] >= 0 && c[b] <= np, op, ": proposal_counts must lie in [0, P] = [0, ", np, "], got ",
                           c[b], " for image ", b);
    }
  }
  const std::int64_t need = std::min(p.detections_per_img, np * (nc - 1));
  FOVEAL_CHECK_VALUE(boxes.ndim() == 3 && boxes.size(0) == nb && boxes.size(1) >= need && boxes.size(2) == 4, op,
                     ": boxes must have shape (B, D, 4) with B = ", nb, " and D >= ", need, ", got ",
                     boxes.shape().str());
  check_detections(op, nb, boxes, scores, labels, counts);
  check::same_device(op, {pr, cl, re, bo, sc, la, co});
  check_float_dtype(op, pr);
  check::same_dtype(op, {pr, cl, re, bo, sc});
  check_cuda_size(op, pr, nb * np * nc, "(image, proposal, class) triples");
  check::contiguous(op, {pr, cl, re, bo, sc, la, co});
  check::not_null(op, {pr, cl, re, bo, sc, la, co});
  if (nb == 0) return;
  const ConstTensorView pcv = has_counts ? proposal_counts : ConstTensorView{};
  if (proposals.device().type == DeviceType::CUDA)
    FOVEAL_CUDA_CALL(box_head_postprocess, proposals, pcv, class_logits, box_regression, image_sizes, p, boxes, scores,
                     labels, counts, ctx);
  else
    cpu::box_head_postprocess(proposals, pcv, class_logits, box_regression, image_sizes, p, boxes, scores, labels,
                              counts, ctx);
}

void retinanet_postprocess(ConstTensorView anchors, ConstTensorView class_logits, ConstTensorView box_regression,
                           ConstTensorView image_sizes, const std::vector<std::int64_t>& num_anchors_per_level,
                           const RetinaNetPostprocessParams& p, TensorView boxes, TensorView scores, TensorView labels,
                           TensorView counts, const ExecContext& ctx) {
  constexpr const char* op = "retinanet_postprocess";
  const check::Named an{"anchors", anchors}, cl{"class_logits", class_logits}, re{"box_regression", box_regression},
      bo{"boxes", boxes}, sc{"scores", scores}, la{"labels", labels}, co{"counts", counts};
  check::shape(op, an, {-1, 4}, "(A, 4)");
  const std::int64_t na = anchors.size(0);
  FOVEAL_CHECK_VALUE(class_logits.ndim() == 3 && class_logits.size(1) == na && class_logits.size(2) >= 1, op,
                     ": class_logits must have shape (B, A, C) with A = ", na, " (the number of anchors) and C >= 1, got ",
                     class_logits.shape().str());
  const std::int64_t nb = class_logits.size(0), nc = class_logits.size(2);
  FOVEAL_CHECK_VALUE(box_regression.ndim() == 3 && box_regression.size(0) == nb && box_regression.size(1) == na &&
                         box_regression.size(2) == 4,
                     op, ": box_regression must have shape (B, A, 4) = (", nb, ", ", na,
                     ", 4) like class_logits and anchors, got ", box_regression.shape().str());
  check_image_sizes(op, image_sizes, nb);
  std::int64_t total = 0, candidates = 0;
  for (std::size_t l = 0; l < num_anchors_per_level.size(); ++l) {
    const std::int64_t n = num_anchors_per_level[l];
    FOVEAL_CHECK_VALUE(n >= 0, op, ": num_anchors_per_level must be >= 0, got ", n, " for level ", l);
    FOVEAL_CHECK_VALUE(n <= std::int64_t(UINT32_MAX) / nc, op,
                       ": at most 4294967295 scores (anchors x classes) per level are supported, got ", n, " x ", nc,
                       " for level ", l);
    total += n;
  }
  FOVEAL_CHECK_VALUE(total == na, op, ": num_anchors_per_level must sum to A = ", na,
                     " (the number of anchors), got ", total);
  FOVEAL_CHECK_VALUE(p.topk_candidates >= 0, op, ": topk_candidates must be >= 0, got ", p.topk_candidates);
  FOVEAL_CHECK_VALUE(p.detections_per_img >= 0, op, ": detections_per_img must be >= 0, got ", p.detections_per_img);
  check_common(op, p.nms_thresh, 0.0, p.score_thresh, p.weights, p.bbox_xform_clip);
  for (std::int64_t n : num_anchors_per_level) candidates += std::min(n * nc, p.topk_candidates);
  const std::int64_t need = std::min(p.detections_per_img, candidates);
  FOVEAL_CHECK_VALUE(boxes.ndim() == 3 && boxes.size(0) == nb && boxes.size(1) >= need && boxes.size(2) == 4, op,
                     ": boxes must have shape (B, D, 4) with B = ", nb, " and D >= ", need, ", got ",
                     boxes.shape().str());
  check_detections(op, nb, boxes, scores, labels, counts);
  check::same_device(op, {an, cl, re, bo, sc, la, co});
  check_float_dtype(op, an);
  check::same_dtype(op, {an, cl, re, bo, sc});
  check_cuda_size(op, an, nb * na * nc, "scores (images x anchors x classes)");
  check_cuda_size(op, an, nb * candidates, "candidates (images x candidates per image)");
  check::contiguous(op, {an, cl, re, bo, sc, la, co});
  check::not_null(op, {an, cl, re, bo, sc, la, co});
  if (nb == 0) return;
  if (anchors.device().type == DeviceType::CUDA)
    FOVEAL_CUDA_CALL(retinanet_postprocess, anchors, class_logits, box_regression, image_sizes, num_anchors_per_level,
                     p, boxes, scores, labels, counts, ctx);
  else
    cpu::retinanet_postprocess(anchors, class_logits, box_regression, image_sizes, num_anchors_per_level, p, boxes,
                               scores, labels, counts, ctx);
}

}  // namespace foveal
