// SPDX-License-Identifier: Apache-2.0
#pragma once
#include "foveal/core/exec_context.hpp"
#include "foveal/core/tensor_view.hpp"
#include "foveal/ops/roi_align.hpp"

namespace foveal {

/// RoIAlignRotated, as detectron2's ROIAlignRotated.
///
/// `input` (N, C, H, W); `rois` (K, 6) rows [batch_index, cx, cy, w, h, angle] (angle in degrees,
/// counter-clockwise in the image, as box_iou_rotated); `out` (K, C, PH, PW). Each bin of the
/// rotated RoI averages grid_h x grid_w bilinear samples (RoiAlignParams: spatial_scale,
/// sampling_ratio <= 0: ceil(RoI extent / output extent), aligned: the -0.5 pixel shift of the
/// centre, which detectron2 always applies; aligned = false also makes the RoI at least 1x1).
/// Sampling and boundary rules are roi_align's (math/bilinear.hpp). dtypes: input/out float32 or
/// float64, rois the input's dtype; C-contiguous, one device. On the CPU every RoI needs an
/// integral batch index in [0, N), finite values and w, h >= 0 (ValueError otherwise).
void roi_align_rotated(ConstTensorView input, ConstTensorView rois, TensorView out, const RoiAlignParams& params,
                       const ExecContext& ctx = {});

/// Gradient of roi_align_rotated with respect to its input: `grad_input` (N, C, H, W) is
/// overwritten with the adjoint applied to `grad_output` (K, C, PH, PW).
void roi_align_rotated_backward(ConstTensorView grad_output, ConstTensorView rois, TensorView grad_input,
                                const RoiAlignParams& params, const ExecContext& ctx = {});

}  // namespace foveal
