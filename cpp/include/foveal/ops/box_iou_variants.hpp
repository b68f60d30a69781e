// SPDX-License-Identifier: Apache-2.0
// Generalised, distance and complete IoU of every pair of boxes (torchvision.ops semantics).
#pragma once
#include "foveal/core/exec_context.hpp"
#include "foveal/core/tensor_view.hpp"

namespace foveal {

/// Shapes and types of the three functions below, as box_iou: `boxes1` (..., N, 4) and `boxes2`
/// (..., M, 4) hold (x1, y1, x2, y2) and have the same leading (batch) dimensions, if any; `out`
/// is (..., N, M). All: same device, same dtype (float32 or float64; float16 on CUDA, computed
/// in float32), C-contiguous. CUDA work is enqueued on `ctx.stream`.
/// Throws ValueError (shapes), TypeError (dtypes), DeviceError, NotCompiledError.

/// GIoU = IoU - (C - U) / C, U the union and C the area of the smallest enclosing box
/// (torchvision.ops.generalized_box_iou). Disjoint boxes give values in [-1, 0).
void generalized_box_iou(ConstTensorView boxes1, ConstTensorView boxes2, TensorView out,
                         const ExecContext& ctx = {});

/// DIoU = IoU - d^2 / (c^2 + eps), d the distance of the centres and c the diagonal of the
/// smallest enclosing box (torchvision.ops.distance_box_iou; torchvision's default eps is 1e-7).
void distance_box_iou(ConstTensorView boxes1, ConstTensorView boxes2, double eps, TensorView out,
                      const ExecContext& ctx = {});

/// CIoU = DIoU - alpha * v, v = 4 / pi^2 * (atan(w1 / h1) - atan(w2 / h2))^2 and
/// alpha = v / (1 - IoU + v + eps) (torchvision.ops.complete_box_iou; default eps 1e-7).
void complete_box_iou(ConstTensorView boxes1, ConstTensorView boxes2, double eps, TensorView out,
                      const ExecContext& ctx = {});

}  // namespace foveal
