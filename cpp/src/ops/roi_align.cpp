// SPDX-License-Identifier: Apache-2.0
#include "foveal/ops/roi_align.hpp"

#include "ops/backend.hpp"
#include "ops/roi_checks.hpp"

namespace foveal {
namespace {

void validate(const char* op, const check::Named& map, const check::Named& rois, const check::Named& pooled,
              const RoiAlignParams& params) {
  check::roi_shapes(op, map, rois, pooled);
  check::same_device(op, {map, rois, pooled});
  check::roi_dtypes(op, map, rois, pooled);
  check::contiguous(op, {map, rois, pooled});
  check::not_null(op, {map, rois, pooled});
  check::spatial_scale(op, params.spatial_scale);
  check::roi_values(op, rois.view, map.view.size(0), params.spatial_scale);
}

}  // namespace

void roi_align(ConstTensorView input, ConstTensorView rois, TensorView out, const RoiAlignParams& params,
               const ExecContext& ctx) {
  validate("roi_align", {"input", input}, {"rois", rois}, {"out", out}, params);
  if (out.numel() == 0) return;
  switch (input.device().type) {
    case DeviceType::CPU: return cpu::roi_align(input, rois, out, params, ctx);
    case DeviceType::CUDA: return FOVEAL_CUDA_CALL(roi_align, input, rois, out, params, ctx);
  }
}

void roi_align_backward(ConstTensorView grad_output, ConstTensorView rois, TensorView grad_input,
                        const RoiAlignParams& params, const ExecContext& ctx) {
  validate("roi_align_backward", {"grad_input", grad_input}, {"rois", rois}, {"grad_output", grad_output}, params);
  if (grad_input.numel() == 0) return;
  switch (grad_input.device().type) {
    case DeviceType::CPU: return cpu::roi_align_backward(grad_output, rois, grad_input, params, ctx);
    case DeviceType::CUDA: return FOVEAL_CUDA_CALL(roi_align_backward, grad_output, rois, grad_input, params, ctx);
  }
}

}  // namespace foveal
