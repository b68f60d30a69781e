// SPDX-License-Identifier: Apache-2.0
#include "foveal/ops/soft_nms.hpp"

#include <cmath>
#include <cstdint>

#include "ops/backend.hpp"
#include "ops/validate.hpp"

namespace foveal {

std::int64_t soft_nms(ConstTensorView boxes, ConstTensorView scores, ConstTensorView idxs, double iou_threshold,
                      double sigma, double score_threshold, SoftNmsMethod method, TensorView keep,
                      TensorView kept_scores, const ExecContext& ctx) {
  constexpr const char* op = "soft_nms";
  const check::Named b{"boxes", boxes}, s{"scores", scores}, k{"keep", keep}, ks{"kept_scores", kept_scores};
  check::shape(op, b, {-1, 4}, "(N, 4)");
  const std::int64_t n = boxes.size(0);
  FOVEAL_CHECK_VALUE(scores.ndim() == 1 && scores.size(0) == n, op, ": scores must have shape (N,) with N = ", n,
                     " (the number of boxes), got ", scores.shape().str());
  const bool has_idxs = !(idxs.ndim() == 0 && idxs.data() == nullptr);
  if (has_idxs) {
    FOVEAL_CHECK_VALUE(idxs.ndim() == 1 && idxs.size(0) == n, op, ": idxs must have shape (N,) with N = ", n,
                       " (the number of boxes), got ", idxs.shape().str());
    FOVEAL_CHECK_TYPE(idxs.dtype() == DType::Int64, op, ": idxs must be int64, got ", dtype_name(idxs.dtype()));
  }
  FOVEAL_CHECK_VALUE(keep.ndim() == 1 && keep.size(0) >= n, op, ": keep must be 1-D with at least ", n,
                     " elements, got ", keep.shape().str());
  FOVEAL_CHECK_VALUE(kept_scores.ndim() == 1 && kept_scores.size(0) >= n, op,
                     ": kept_scores must be 1-D with at least ", n, " elements, got ", kept_scores.shape().str());
  FOVEAL_CHECK_VALUE(method == SoftNmsMethod::Linear || method == SoftNmsMethod::Gaussian, op,
                     ": method must be Linear or Gaussian, got ", static_cast<int>(method));
  FOVEAL_CHECK_VALUE(!std::isnan(iou_threshold), op, ": iou_threshold must not be NaN, got nan");
  FOVEAL_CHECK_VALUE(!std::isnan(score_threshold), op, ": score_threshold must not be NaN, got nan");
  FOVEAL_CHECK_VALUE(method != SoftNmsMethod::Gaussian || (sigma > 0 && std::isfinite(sigma)), op,
                     ": sigma must be positive and finite, got ", sigma);
  FOVEAL_CHECK_VALUE(n <= std::int64_t(INT32_MAX), op, ": at most 2147483647 boxes are supported, got ", n);
  check::same_device(op, {b, s, k, ks});
  if (has_idxs) check::same_device(op, {b, {"idxs", idxs}});
  check::box_float_dtype(op, b);
  check::same_dtype(op, {b, s, ks});
  FOVEAL_CHECK_TYPE(keep.dtype() == DType::Int64, op, ": keep must be int64, got ", dtype_name(keep.dtype()));
  check::contiguous(op, {b, s, k, ks});
  check::not_null(op, {b, s, k, ks});
  if (has_idxs) {
    check::contiguous(op, {{"idxs", idxs}});
    check::not_null(op, {{"idxs", idxs}});
  }
  if (n == 0) return 0;
  const ConstTensorView labels = has_idxs ? idxs : ConstTensorView{};
  switch (boxes.device().type) {
    case DeviceType::CPU:
      return cpu::soft_nms(boxes, scores, labels, iou_threshold, sigma, score_threshold, method, keep, kept_scores,
                           ctx);
    case DeviceType::CUDA:
      return FOVEAL_CUDA_CALL(soft_nms, boxes, scores, labels, iou_threshold, sigma, score_threshold, method, keep,
                              kept_scores, ctx);
  }
  return 0;
}

}  // namespace foveal
