// SPDX-License-Identifier: Apache-2.0
#include "foveal/ops/roi_align.hpp"

#include <string>

#include "foveal/math/roi.hpp"
#include "ops/backend.hpp"
#include "ops/roi_checks.hpp"

namespace foveal {
namespace {

void validate(const char* op, const check::Named& map, const check::Named& rois, const check::Named& pooled,
              const RoiAlignParams& params) {
  check::roi_shapes(op, map, rois, pooled);
  check::same_device(op, {map, rois, pooled});
  check::roi_dtypes(op, map, rois, pooled);
  check::contiguous(op, {rois, pooled});
  check::not_null(op, {map, rois, pooled});
  check::spatial_scale(op, params.spatial_scale);
  check::roi_values(op, rois.view, map.view.size(0), params.spatial_scale);
}

// The forward map may also be channels-last on the CPU (its kernel reads every tap's channels
// as one contiguous vector).
void map_layout(const char* op, const check::Named& map) {
  const bool cpu = map.view.device().type == DeviceType::CPU;
  FOVEAL_CHECK_VALUE(map.view.is_contiguous() || (cpu && map.view.is_channels_last()), op, ": ", map.name,
                     " must be C-contiguous", cpu ? " or channels-last (N, H, W, C in memory)" : " on CUDA",
                     ", got strides ", map.view.strides().str(), " for shape ", map.view.shape().str());
}

}  // namespace

void roi_align(ConstTensorView input, ConstTensorView rois, TensorView out, const RoiAlignParams& params,
               const ExecContext& ctx) {
  validate("roi_align", {"input", input}, {"rois", rois}, {"out", out}, params);
  map_layout("roi_align", {"input", input});
  if (out.numel() == 0) return;
  switch (input.device().type) {
    case DeviceType::CPU: return cpu::roi_align(input, rois, out, params, ctx);
    case DeviceType::CUDA: return FOVEAL_CUDA_CALL(roi_align, input, rois, out, params, ctx);
  }
}

void roi_align_backward(ConstTensorView grad_output, ConstTensorView rois, TensorView grad_input,
                        const RoiAlignParams& params, const ExecContext& ctx) {
  validate("roi_align_backward", {"grad_input", grad_input}, {"rois", rois}, {"grad_output", grad_output}, params);
  check::contiguous("roi_align_backward", {{"grad_input", grad_input}});
  if (grad_input.numel() == 0) return;
  switch (grad_input.device().type) {
    case DeviceType::CPU: return cpu::roi_align_backward(grad_output, rois, grad_input, params, ctx);
    case DeviceType::CUDA: return FOVEAL_CUDA_CALL(roi_align_backward, grad_output, rois, grad_input, params, ctx);
  }
}

void multi_scale_roi_align(const ConstTensorView* features, int levels, ConstTensorView rois,
                           std::int64_t image_height, std::int64_t image_width, TensorView out,
                           const MultiScaleRoiAlignParams& params, const ExecContext& ctx) {
  constexpr const char* op = "multi_scale_roi_align";
  FOVEAL_CHECK_VALUE(levels >= 1 && levels <= kMaxPyramidLevels && features != nullptr, op,
                     ": features must hold 1 to ", kMaxPyramidLevels, " feature maps, got ", levels);
  FOVEAL_CHECK_VALUE(image_height >= 1 && image_width >= 1, op,
                     ": image size must be positive (height, width), got (", image_height, ", ", image_width, ")");
  FOVEAL_CHECK_VALUE(params.canonical_scale >= 1, op, ": canonical_scale must be >= 1, got ",
                     params.canonical_scale);
  const check::Named first{"features[0]", features[0]}, r{"rois", rois}, o{"out", out};
  check::roi_shapes(op, first, r, o);
  check::roi_dtypes(op, first, r, o);
  check::same_device(op, {first, r, o});
  check::contiguous(op, {r, o});
  check::not_null(op, {first, r, o});
  map_layout(op, first);
  const bool channels_last = !features[0].is_contiguous();
  PyramidPlan plan;
  plan.levels = levels;
  double largest = 0.0;
  for (int l = 0; l < levels; ++l) {
    const std::string name = "features[" + std::to_string(l) + "]";
    const ConstTensorView& f = features[l];
    const check::Named fl{name.c_str(), f};
    FOVEAL_CHECK_VALUE(f.ndim() == 4 && f.size(0) == features[0].size(0) && f.size(1) == features[0].size(1) &&
                           f.size(2) >= 1 && f.size(3) >= 1,
                       op, ": ", name, " must have shape (N, C, H, W) with N = ", features[0].size(0),
                       " and C = ", features[0].size(1), " (those of features[0]) and H, W >= 1, got ",
                       f.shape().str());
    check::same_dtype(op, {first, fl});
    check::same_device(op, {first, fl});
    map_layout(op, fl);
    FOVEAL_CHECK_VALUE(f.is_contiguous() != channels_last || (f.is_contiguous() && f.is_channels_last()), op, ": ",
                       name, " must have the layout of features[0] (",
                       channels_last ? "channels-last" : "C-contiguous", ")");
    check::not_null(op, {fl});
    plan.scale[l] = math::fpn_level_scale(f.size(2), image_height);
    largest = plan.scale[l] > largest ? plan.scale[l] : largest;
  }
  plan.k_min = math::fpn_level_of_scale(plan.scale[0]);
  plan.k_max = math::fpn_level_of_scale(plan.scale[levels - 1]);
  check::roi_values(op, rois, features[0].size(0), largest);
  if (out.numel() == 0) return;
  switch (out.device().type) {
    case DeviceType::CPU: return cpu::multi_scale_roi_align(features, plan, rois, out, params, ctx);
    case DeviceType::CUDA: return FOVEAL_CUDA_CALL(multi_scale_roi_align, features, plan, rois, out, params, ctx);
  }
}

}  // namespace foveal
