// SPDX-License-Identifier: Apache-2.0
#pragma once
#include "foveal/core/exec_context.hpp"
#include "foveal/core/tensor_view.hpp"

namespace foveal {

/// Intersection over union of every pair of boxes.
///
/// `boxes1` (N, 4) and `boxes2` (M, 4) hold (x1, y1, x2, y2) in continuous coordinates (area
/// without +1); `out` is (N, M). With leading batch dimensions, `boxes1` (..., N, 4) and `boxes2`
/// (..., M, 4) have the same ones and `out` is (..., N, M). All three: same device, same dtype (float32 or float64; float16
/// on CUDA, computed in float32), C-contiguous. CUDA work is enqueued on `ctx.stream`.
/// Throws ValueError (shapes), TypeError (dtypes), DeviceError, NotCompiledError.
void box_iou(ConstTensorView boxes1, ConstTensorView boxes2, TensorView out, const ExecContext& ctx = {});

}  // namespace foveal
