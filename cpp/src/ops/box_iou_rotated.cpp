// SPDX-License-Identifier: Apache-2.0
#include "foveal/ops/box_iou_rotated.hpp"

#include "ops/backend.hpp"
#include "ops/validate.hpp"

namespace foveal {

void box_iou_rotated(ConstTensorView boxes1, ConstTensorView boxes2, TensorView out, const ExecContext& ctx) {
  constexpr const char* op = "box_iou_rotated";
  const check::Named b1{"boxes1", boxes1}, b2{"boxes2", boxes2}, o{"out", out};
  check::shape(op, b1, {-1, 5}, "(N, 5) [cx, cy, w, h, angle]");
  check::shape(op, b2, {-1, 5}, "(M, 5) [cx, cy, w, h, angle]");
  const Shape want{boxes1.size(0), boxes2.size(0)};
  FOVEAL_CHECK_VALUE(out.shape() == want, op, ": out must have shape ", want.str(), ", got ", out.shape().str());
  check::same_device(op, {b1, b2, o});
  FOVEAL_CHECK_TYPE(boxes1.dtype() == DType::Float32 || boxes1.dtype() == DType::Float64, op,
                    ": boxes1 must be float32 or float64, got ", dtype_name(boxes1.dtype()));
  check::same_dtype(op, {b1, b2, o});
  check::contiguous(op, {b1, b2, o});
  check::not_null(op, {b1, b2, o});
  if (out.numel() == 0) return;
  switch (boxes1.device().type) {
    case DeviceType::CPU: return cpu::box_iou_rotated(boxes1, boxes2, out, ctx);
    case DeviceType::CUDA: return FOVEAL_CUDA_CALL(box_iou_rotated, boxes1, boxes2, out, ctx);
  }
}

}  // namespace foveal
