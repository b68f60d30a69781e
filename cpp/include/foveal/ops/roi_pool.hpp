// SPDX-License-Identifier: Apache-2.0
#pragma once
#include "foveal/core/exec_context.hpp"
#include "foveal/core/tensor_view.hpp"

namespace foveal {

/// How RoIPool splits a RoI into bins.
enum class RoiPoolBins {
  Torchvision,  ///< torchvision / Caffe: bin p covers [floor(p * R / P), ceil((p + 1) * R / P))
  Seed,         ///< floor(R / P) pixels per bin, the remainder in the last bin (seed oracle R1)
};

struct RoiPoolParams {
  double spatial_scale = 1.0;  ///< finite, > 0; RoI corners are round(coordinate * spatial_scale)
  RoiPoolBins bins = RoiPoolBins::Torchvision;
};

/// RoIPool (Fast R-CNN), as torchvision.ops.roi_pool: the max of each bin, 0 for an empty bin.
///
/// `input` (N, C, H, W); `rois` (K, 5) [batch_index, x1, y1, x2, y2]; `out` (K, C, PH, PW).
/// `argmax`: an int64 (K, C, PH, PW) array that receives the flat index h * W + w of each
/// maximum (-1 for an empty bin), or a default-constructed TensorView{} (0 dims) to skip it. Values compare with
/// `>` from -FLT_MAX, so NaN never wins and ties keep the first in row-major order, as in
/// torchvision. dtypes, RoI checks and CUDA behaviour as roi_align.
void roi_pool(ConstTensorView input, ConstTensorView rois, TensorView out, TensorView argmax,
              const RoiPoolParams& params, const ExecContext& ctx = {});

/// Gradient of roi_pool: `grad_input` (N, C, H, W) is overwritten with the sum of `grad_output`
/// (K, C, PH, PW) routed to the `argmax` positions of the forward pass (int64, as roi_pool wrote).
void roi_pool_backward(ConstTensorView grad_output, ConstTensorView rois, ConstTensorView argmax,
                       TensorView grad_input, const ExecContext& ctx = {});

}  // namespace foveal
