// SPDX-License-Identifier: Apache-2.0
#include "foveal/ops/nms.hpp"

#include <cstdint>

#include "ops/backend.hpp"
#include "ops/validate.hpp"
#include "ops/workspace.hpp"

namespace foveal {

std::int64_t nms(ConstTensorView boxes, ConstTensorView scores, double iou_threshold, TensorView keep,
                 const ExecContext& ctx) {
  constexpr const char* op = "nms";
  const check::Named b{"boxes", boxes}, s{"scores", scores}, k{"keep", keep};
  check::shape(op, b, {-1, 4}, "(N, 4)");
  const std::int64_t n = boxes.size(0);
  FOVEAL_CHECK_VALUE(scores.ndim() == 1 && scores.size(0) == n, op, ": scores must have shape (N,) with N = ", n,
                     " (the number of boxes), got ", scores.shape().str());
  FOVEAL_CHECK_VALUE(keep.ndim() == 1 && keep.size(0) >= n, op, ": keep must be 1-D with at least ", n,
                     " elements, got ", keep.shape().str());
  // Any real threshold, as torchvision: below 0 every pair with a non-NaN IoU suppresses, from 1
  // up nothing does. NaN would silently suppress nothing.
  FOVEAL_CHECK_VALUE(iou_threshold == iou_threshold, op, ": iou_threshold must not be NaN, got nan");
  FOVEAL_CHECK_VALUE(n <= std::int64_t(INT32_MAX), op, ": at most 2147483647 boxes are supported, got ", n);
  check::same_device(op, {b, s, k});
  check::box_float_dtype(op, b);
  check::same_dtype(op, {b, s});
  FOVEAL_CHECK_TYPE(keep.dtype() == DType::Int64, op, ": keep must be int64, got ", dtype_name(keep.dtype()));
  check::contiguous(op, {b, s, k});
  check::not_null(op, {b, s, k});
  if (n == 0) return 0;
  // Workspace estimate: ~64 bytes per box (order, keys, grid cells, flags).
  return detail::with_workspace(op, 64.0 * double(n), n, "boxes", [&]() -> std::int64_t {
    switch (boxes.device().type) {
      case DeviceType::CPU: return cpu::nms(boxes, scores, iou_threshold, keep, ctx);
      case DeviceType::CUDA: return FOVEAL_CUDA_CALL(nms, boxes, scores, iou_threshold, keep, ctx);
    }
    return 0;
  });
}

std::int64_t batched_nms(ConstTensorView boxes, ConstTensorView scores, ConstTensorView idxs, double iou_threshold,
                         TensorView keep, const ExecContext& ctx) {
  constexpr const char* op = "batched_nms";
  const check::Named b{"boxes", boxes}, s{"scores", scores}, c{"idxs", idxs}, k{"keep", keep};
  check::shape(op, b, {-1, 4}, "(N, 4)");
  const std::int64_t n = boxes.size(0);
  FOVEAL_CHECK_VALUE(scores.ndim() == 1 && scores.size(0) == n, op, ": scores must have shape (N,) with N = ", n,
                     " (the number of boxes), got ", scores.shape().str());
  FOVEAL_CHECK_VALUE(idxs.ndim() == 1 && idxs.size(0) == n, op, ": idxs must have shape (N,) with N = ", n,
                     " (the number of boxes), got ", idxs.shape().str());
  FOVEAL_CHECK_VALUE(keep.ndim() == 1 && keep.size(0) >= n, op, ": keep must be 1-D with at least ", n,
                     " elements, got ", keep.shape().str());
  FOVEAL_CHECK_VALUE(iou_threshold == iou_threshold, op, ": iou_threshold must not be NaN, got nan");
  FOVEAL_CHECK_VALUE(n <= std::int64_t(INT32_MAX), op, ": at most 2147483647 boxes are supported, got ", n);
  check::same_device(op, {b, s, c, k});
  check::box_float_dtype(op, b);
  check::same_dtype(op, {b, s});
  FOVEAL_CHECK_TYPE(idxs.dtype() == DType::Int64 || idxs.dtype() == DType::Int32, op, ": idxs must be int64 or int32, got ",
                    dtype_name(idxs.dtype()));
  FOVEAL_CHECK_TYPE(keep.dtype() == DType::Int64, op, ": keep must be int64, got ", dtype_name(keep.dtype()));
  check::contiguous(op, {b, s, c, k});
  check::not_null(op, {b, s, c, k});
  if (n == 0) return 0;
  switch (boxes.device().type) {
    case DeviceType::CPU: return cpu::batched_nms(boxes, scores, idxs, iou_threshold, keep, ctx);
    case DeviceType::CUDA: return FOVEAL_CUDA_CALL(batched_nms, boxes, scores, idxs, iou_threshold, keep, ctx);
  }
  return 0;
}

}  // namespace foveal
