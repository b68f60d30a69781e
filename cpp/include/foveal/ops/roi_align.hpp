// SPDX-License-Identifier: Apache-2.0
#pragma once
#include "foveal/core/exec_context.hpp"
#include "foveal/core/tensor_view.hpp"

namespace foveal {

/// Parameters of RoIAlign, with torchvision's meanings.
struct RoiAlignParams {
  double spatial_scale = 1.0;  ///< map coordinate = image coordinate * spatial_scale (finite, > 0)
  int sampling_ratio = -1;     ///< samples per bin and axis; <= 0: ceil(RoI extent / output extent)
  bool aligned = false;        ///< shift the RoI by -0.5 pixel (pixel centres at +0.5)
};

/// RoIAlign (Mask R-CNN), exactly as torchvision.ops.roi_align.
///
/// `input` (N, C, H, W); `rois` (K, 5) rows [batch_index, x1, y1, x2, y2]; `out` (K, C, PH, PW)
/// with PH, PW >= 1. Every bin averages grid_h x grid_w bilinear samples; samples farther than
/// one pixel outside the map count as zero. dtypes: input/out float32 or float64 (float16 and
/// bfloat16 on CUDA, computed in float32); rois the input's dtype (float32 for float16/bfloat16).
/// All C-contiguous on one device. On the CPU, every RoI must have an integral batch index in
/// [0, N) and finite coordinates (ValueError otherwise); CUDA kernels do not read RoI values on
/// the host: there a RoI with a batch index out of range yields zeros.
void roi_align(ConstTensorView input, ConstTensorView rois, TensorView out, const RoiAlignParams& params,
               const ExecContext& ctx = {});

/// Gradient of roi_align with respect to its input: `grad_input` (N, C, H, W) is overwritten with
/// the adjoint of roi_align applied to `grad_output` (K, C, PH, PW). Same dtype rules.
void roi_align_backward(ConstTensorView grad_output, ConstTensorView rois, TensorView grad_input,
                        const RoiAlignParams& params, const ExecContext& ctx = {});

}  // namespace foveal
