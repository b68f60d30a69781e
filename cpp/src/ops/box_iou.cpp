// SPDX-License-Identifier: Apache-2.0
#include "foveal/ops/box_iou.hpp"

#include "ops/backend.hpp"
#include "ops/validate.hpp"
#include "ops/workspace.hpp"

namespace foveal {

void box_iou(ConstTensorView boxes1, ConstTensorView boxes2, TensorView out, const ExecContext& ctx) {
  constexpr const char* op = "box_iou";
  const check::Named b1{"boxes1", boxes1}, b2{"boxes2", boxes2}, o{"out", out};
  check::shape(op, b1, {-1, 4}, "(N, 4)");
  check::shape(op, b2, {-1, 4}, "(M, 4)");
  FOVEAL_CHECK_VALUE(out.shape() == Shape({boxes1.size(0), boxes2.size(0)}), op, ": out must have shape ",
                     Shape({boxes1.size(0), boxes2.size(0)}).str(), ", got ", out.shape().str());
  check::same_device(op, {b1, b2, o});
  check::box_float_dtype(op, b1);
  check::same_dtype(op, {b1, b2, o});
  check::contiguous(op, {b1, b2, o});
  check::not_null(op, {b1, b2, o});
  if (out.numel() == 0) return;
  // Workspace: boxes2 as structure-of-arrays (5 values per box).
  const std::int64_t m = boxes2.size(0);
  detail::with_workspace(op, 5.0 * double(m) * double(itemsize(boxes2.dtype())), m, "boxes in boxes2", [&] {
    switch (boxes1.device().type) {
      case DeviceType::CPU: return cpu::box_iou(boxes1, boxes2, out, ctx);
      case DeviceType::CUDA: return FOVEAL_CUDA_CALL(box_iou, boxes1, boxes2, out, ctx);
    }
  });
}

}  // namespace foveal
