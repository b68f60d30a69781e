// SPDX-License-Identifier: Apache-2.0
#include <cmath>

#include "foveal/ops/box_iou_variants.hpp"
#include "ops/backend.hpp"
#include "ops/validate.hpp"

namespace foveal {
namespace {

void run(const char* op, BoxIouVariant kind, ConstTensorView boxes1, ConstTensorView boxes2, double eps,
         TensorView out, const ExecContext& ctx) {
  const check::Named b1{"boxes1", boxes1}, b2{"boxes2", boxes2}, o{"out", out};
  check::pairwise_boxes(op, b1, b2, o);
  check::same_device(op, {b1, b2, o});
  check::box_float_dtype(op, b1);
  check::same_dtype(op, {b1, b2, o});
  check::contiguous(op, {b1, b2, o});
  check::not_null(op, {b1, b2, o});
  FOVEAL_CHECK_VALUE(!std::isnan(eps), op, ": eps must be a number, got NaN");
  if (out.numel() == 0) return;
  switch (boxes1.device().type) {
    case DeviceType::CPU: return cpu::box_iou_variant(kind, boxes1, boxes2, eps, out, ctx);
    case DeviceType::CUDA: return FOVEAL_CUDA_CALL(box_iou_variant, kind, boxes1, boxes2, eps, out, ctx);
  }
}

}  // namespace

void generalized_box_iou(ConstTensorView boxes1, ConstTensorView boxes2, TensorView out, const ExecContext& ctx) {
  run("generalized_box_iou", BoxIouVariant::Generalized, boxes1, boxes2, 0.0, out, ctx);
}

void distance_box_iou(ConstTensorView boxes1, ConstTensorView boxes2, double eps, TensorView out,
                      const ExecContext& ctx) {
  run("distance_box_iou", BoxIouVariant::Distance, boxes1, boxes2, eps, out, ctx);
}

void complete_box_iou(ConstTensorView boxes1, ConstTensorView boxes2, double eps, TensorView out,
                      const ExecContext& ctx) {
  run("complete_box_iou", BoxIouVariant::Complete, boxes1, boxes2, eps, out, ctx);
}

}  // namespace foveal
