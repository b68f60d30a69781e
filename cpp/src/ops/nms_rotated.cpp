// SPDX-License-Identifier: Apache-2.0
#include "foveal/ops/nms_rotated.hpp"

#include <cstdint>

#include "ops/backend.hpp"
#include "ops/validate.hpp"

namespace foveal {
namespace {

std::int64_t run(const char* op, ConstTensorView boxes, ConstTensorView scores, const ConstTensorView* idxs,
                 double iou_threshold, TensorView keep, const ExecContext& ctx) {
  const check::Named b{"boxes", boxes}, s{"scores", scores}, k{"keep", keep};
  check::shape(op, b, {-1, 5}, "(N, 5) [cx, cy, w, h, angle]");
  const std::int64_t n = boxes.size(0);
  FOVEAL_CHECK_VALUE(scores.ndim() == 1 && scores.size(0) == n, op, ": scores must have shape (N,) with N = ", n,
                     " (the number of boxes), got ", scores.shape().str());
  if (idxs)
    FOVEAL_CHECK_VALUE(idxs->ndim() == 1 && idxs->size(0) == n, op, ": idxs must have shape (N,) with N = ", n,
                       " (the number of boxes), got ", idxs->shape().str());
  FOVEAL_CHECK_VALUE(keep.ndim() == 1 && keep.size(0) >= n, op, ": keep must be 1-D with at least ", n,
                     " elements, got ", keep.shape().str());
  FOVEAL_CHECK_VALUE(iou_threshold == iou_threshold, op, ": iou_threshold must not be NaN, got nan");
  check::same_device(op, {b, s, k});
  if (idxs) check::same_device(op, {b, {"idxs", *idxs}});
  FOVEAL_CHECK_TYPE(boxes.dtype() == DType::Float32 || boxes.dtype() == DType::Float64, op,
                    ": boxes must be float32 or float64, got ", dtype_name(boxes.dtype()));
  check::same_dtype(op, {b, s});
  if (idxs)
    FOVEAL_CHECK_TYPE(idxs->dtype() == DType::Int64, op, ": idxs must be int64, got ", dtype_name(idxs->dtype()));
  FOVEAL_CHECK_TYPE(keep.dtype() == DType::Int64, op, ": keep must be int64, got ", dtype_name(keep.dtype()));
  check::contiguous(op, {b, s, k});
  check::not_null(op, {b, s, k});
  if (idxs) {
    check::contiguous(op, {{"idxs", *idxs}});
    check::not_null(op, {{"idxs", *idxs}});
  }
  if (n == 0) return 0;
  const std::int64_t* categories = idxs ? idxs->data_as<std::int64_t>() : nullptr;
  switch (boxes.device().type) {
    case DeviceType::CPU: return cpu::nms_rotated(boxes, scores, categories, iou_threshold, keep, ctx);
    case DeviceType::CUDA:
      return FOVEAL_CUDA_CALL(nms_rotated, boxes, scores, categories, iou_threshold, keep, ctx);
  }
  return 0;
}

}  // namespace

std::int64_t nms_rotated(ConstTensorView boxes, ConstTensorView scores, double iou_threshold, TensorView keep,
                         const ExecContext& ctx) {
  return run("nms_rotated", boxes, scores, nullptr, iou_threshold, keep, ctx);
}

std::int64_t batched_nms_rotated(ConstTensorView boxes, ConstTensorView scores, ConstTensorView idxs,
                                 double iou_threshold, TensorView keep, const ExecContext& ctx) {
  return run("batched_nms_rotated", boxes, scores, &idxs, iou_threshold, keep, ctx);
}

}  // namespace foveal
