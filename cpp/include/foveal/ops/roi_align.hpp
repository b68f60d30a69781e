// SPDX-License-Identifier: Apache-2.0
#pragma once
#include <cstdint>

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
/// All C-contiguous on one device; on the CPU `input` may instead be channels-last (an (N, C, H, W)
/// view of (N, H, W, C) memory, TensorView::is_channels_last), read by a kernel for that layout. On the CPU, every RoI must have an integral batch index in
/// [0, N) and finite coordinates (ValueError otherwise); CUDA kernels do not read RoI values on
/// the host: there a RoI with a batch index out of range yields zeros.
void roi_align(ConstTensorView input, ConstTensorView rois, TensorView out, const RoiAlignParams& params,
               const ExecContext& ctx = {});

/// Gradient of roi_align with respect to its input: `grad_input` (N, C, H, W) is overwritten with
/// the adjoint of roi_align applied to `grad_output` (K, C, PH, PW). Same dtype rules.
void roi_align_backward(ConstTensorView grad_output, ConstTensorView rois, TensorView grad_input,
                        const RoiAlignParams& params, const ExecContext& ctx = {});

/// Parameters of multi-scale RoIAlign, with torchvision's MultiScaleRoIAlign meanings.
struct MultiScaleRoiAlignParams {
  int sampling_ratio = -1;    ///< as RoiAlignParams::sampling_ratio
  int canonical_scale = 224;  ///< LevelMapper: a RoI of this sqrt(area) (image pixels) ...
  int canonical_level = 4;    ///< ... is pooled from level 2**-canonical_level (FPN paper eq. 1)
  bool aligned = false;       ///< as RoiAlignParams::aligned (torchvision's MultiScaleRoIAlign: false)
};

/// Most pyramid levels multi_scale_roi_align takes (a scale range of 2**16).
constexpr int kMaxPyramidLevels = 16;

/// Multi-scale RoIAlign over a feature pyramid, exactly as torchvision.ops.MultiScaleRoIAlign, in
/// one pass: every RoI is pooled from its level straight into its row of `out`.
///
/// `features[0 .. levels)` (N, C, Hl, Wl), finest first, one dtype and device; `rois` (K, 5) rows
/// [batch_index, x1, y1, x2, y2] in image pixels; `out` (K, C, PH, PW). `image_height`,
/// `image_width`: the largest image of the batch. Level l's scale is 2**round(log2(Hl /
/// image_height)) (torchvision infers it from the heights); RoI k goes to level
/// floor(canonical_level + log2(sqrt(area_k) / canonical_scale) + 1e-6), clamped to the levels of
/// features[0] and features[levels - 1], counted from the first. A RoI mapped to no level (negative
/// area, or a level index past the list when the levels are not consecutive) is all zeros; with one
/// level every RoI is pooled from it. Layouts as roi_align's `input`, one for all levels. dtypes and
/// RoI values as roi_align; 1 to kMaxPyramidLevels
/// levels, each with Hl, Wl >= 1.
void multi_scale_roi_align(const ConstTensorView* features, int levels, ConstTensorView rois,
                           std::int64_t image_height, std::int64_t image_width, TensorView out,
                           const MultiScaleRoiAlignParams& params, const ExecContext& ctx = {});

}  // namespace foveal
