// SPDX-License-Identifier: Apache-2.0
#include "foveal/ops/roi_align_rotated.hpp"

#include <cmath>
#include <cstdint>

#include "ops/backend.hpp"
#include "ops/roi_checks.hpp"

namespace foveal {
namespace {

template <typename T>
void rotated_roi_values(const char* op, const T* rois, std::int64_t k, std::int64_t batch, double scale) {
  const T s = static_cast<T>(scale);
  for (std::int64_t i = 0; i < k; ++i) {
    const T* r = rois + 6 * i;
    FOVEAL_CHECK_VALUE(r[0] >= T(0) && r[0] < static_cast<T>(batch) && std::floor(r[0]) == r[0], op,
                       ": rois[:, 0] must hold integral batch indices in [0, ", batch, "), got ", r[0], " in row ", i);
    for (int j = 1; j < 6; ++j)
      FOVEAL_CHECK_VALUE(std::isfinite(r[j]) && std::isfinite(r[j] * s), op,
                         ": rois must hold finite values (also after spatial_scale), got ", r[j], " in row ", i,
                         ", column ", j);
    FOVEAL_CHECK_VALUE(r[3] >= T(0) && r[4] >= T(0), op, ": rois must have non-negative w and h, got ", r[3], ", ",
                       r[4], " in row ", i);
  }
}

void validate(const char* op, const check::Named& map, const check::Named& rois, const check::Named& pooled,
              const RoiAlignParams& params) {
  check::shape(op, map, {-1, -1, -1, -1}, "(N, C, H, W)");
  check::shape(op, rois, {-1, 6}, "(K, 6) [batch_index, cx, cy, w, h, angle]");
  const std::int64_t k = rois.view.size(0), c = map.view.size(1);
  const ConstTensorView& p = pooled.view;
  FOVEAL_CHECK_VALUE(p.ndim() == 4 && p.size(0) == k && p.size(1) == c && p.size(2) >= 1 && p.size(3) >= 1, op,
                     ": ", pooled.name, " must have shape (K, C, PH, PW) with K = ", k, " (rois), C = ", c,
                     " (channels) and PH, PW >= 1, got ", p.shape().str());
  check::same_device(op, {map, rois, pooled});
  const DType t = map.view.dtype();
  FOVEAL_CHECK_TYPE(t == DType::Float32 || t == DType::Float64, op, ": ", map.name, " must be float32 or float64, got ",
                    dtype_name(t));
  check::same_dtype(op, {map, rois, pooled});
  check::contiguous(op, {map, rois, pooled});
  check::not_null(op, {map, rois, pooled});
  check::spatial_scale(op, params.spatial_scale);
  if (rois.view.device().type != DeviceType::CPU) return;  // CUDA kernels guard the batch index
  if (t == DType::Float64)
    rotated_roi_values(op, rois.view.data_as<double>(), k, map.view.size(0), params.spatial_scale);
  else
    rotated_roi_values(op, rois.view.data_as<float>(), k, map.view.size(0), params.spatial_scale);
}

}  // namespace

void roi_align_rotated(ConstTensorView input, ConstTensorView rois, TensorView out, const RoiAlignParams& params,
                       const ExecContext& ctx) {
  validate("roi_align_rotated", {"input", input}, {"rois", rois}, {"out", out}, params);
  if (out.numel() == 0) return;
  switch (input.device().type) {
    case DeviceType::CPU: return cpu::roi_align_rotated(input, rois, out, params, ctx);
    case DeviceType::CUDA: return FOVEAL_CUDA_CALL(roi_align_rotated, input, rois, out, params, ctx);
  }
}

void roi_align_rotated_backward(ConstTensorView grad_output, ConstTensorView rois, TensorView grad_input,
                                const RoiAlignParams& params, const ExecContext& ctx) {
  validate("roi_align_rotated_backward", {"grad_input", grad_input}, {"rois", rois}, {"grad_output", grad_output},
           params);
  if (grad_input.numel() == 0) return;
  switch (grad_input.device().type) {
    case DeviceType::CPU: return cpu::roi_align_rotated_backward(grad_output, rois, grad_input, params, ctx);
    case DeviceType::CUDA:
      return FOVEAL_CUDA_CALL(roi_align_rotated_backward, grad_output, rois, grad_input, params, ctx);
  }
}

}  // namespace foveal
