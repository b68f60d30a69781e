// SPDX-License-Identifier: Apache-2.0
#pragma once
#include "foveal/core/exec_context.hpp"
#include "foveal/core/tensor_view.hpp"

namespace foveal {

/// Intersection over union of every pair of rotated boxes.
///
/// `boxes1` (N, 5) and `boxes2` (M, 5) hold (cx, cy, w, h, angle), angle in degrees,
/// counter-clockwise as seen in an image (y down), as detectron2 and torchvision; `out` is (N, M).
/// The intersection is the exact convex polygon (math/rotated.hpp). A box with a non-finite value
/// gives NaN, one of zero or negative width or height gives 0. All three: same device, same dtype
/// (float32 or float64), C-contiguous. CUDA work is enqueued on `ctx.stream`.
/// Throws ValueError (shapes), TypeError (dtypes), DeviceError, NotCompiledError.
void box_iou_rotated(ConstTensorView boxes1, ConstTensorView boxes2, TensorView out, const ExecContext& ctx = {});

}  // namespace foveal
