// SPDX-License-Identifier: Apache-2.0
#include "foveal/ops/box_iou.hpp"

#include "ops/backend.hpp"
#include "ops/validate.hpp"
#include "ops/workspace.hpp"

namespace foveal {

void box_iou(ConstTensorView boxes1, ConstTensorView boxes2, TensorView out, const ExecContext& ctx) {
  constexpr const char* op = "box_iou";
  const check::Named b1{"boxes1", boxes1}, b2{"boxes2", boxes2}, o{"out", out};
  check::pairwise_boxes(op, b1, b2, o);
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
