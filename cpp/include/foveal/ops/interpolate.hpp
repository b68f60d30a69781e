// SPDX-License-Identifier: Apache-2.0
// Resampling of NCHW feature maps: torch.nn.functional.interpolate (nearest, bilinear).
#pragma once
#include <cstdint>

#include "foveal/core/exec_context.hpp"
#include "foveal/core/tensor_view.hpp"

namespace foveal {

enum class InterpolateMode : int { Nearest = 0, Bilinear = 1 };

struct InterpolateParams {
  InterpolateMode mode = InterpolateMode::Nearest;
  bool align_corners = false;  ///< bilinear only
  /// The caller's scale factors (H, W), used for the index rule as torch does when it is given
  /// scale_factor without recompute_scale_factor; 0: none (the ratio in / out is used).
  double scale_h = 0, scale_w = 0;
};

/// input (N, C, H, W) -> out (N, C, H_out, W_out), both C-contiguous, one dtype (float32 / float64;
/// also float16 / bfloat16 on CUDA), H_out and W_out positive.
void interpolate(ConstTensorView input, TensorView out, const InterpolateParams& p, const ExecContext& ctx = {});

}  // namespace foveal
