// SPDX-License-Identifier: Apache-2.0
// Checks shared by the RoIAlign / RoIPool front ends.
#pragma once
#include <cmath>
#include <cstdint>

#include "ops/validate.hpp"

namespace foveal::check {

/// Map and pooled arrays: `map` (N, C, H, W); `pooled` (K, C, PH, PW) with PH, PW >= 1;
/// `rois` (K, 5). `pooled` names the (K, C, PH, PW) array (out or grad_output).
inline void roi_shapes(const char* op, const Named& map, const Named& rois, const Named& pooled) {
  shape(op, map, {-1, -1, -1, -1}, "(N, C, H, W)");
  shape(op, rois, {-1, 5}, "(K, 5) [batch_index, x1, y1, x2, y2]");
  const std::int64_t k = rois.view.size(0), c = map.view.size(1);
  const ConstTensorView& p = pooled.view;
  FOVEAL_CHECK_VALUE(p.ndim() == 4 && p.size(0) == k && p.size(1) == c && p.size(2) >= 1 && p.size(3) >= 1, op,
                     ": ", pooled.name, " must have shape (K, C, PH, PW) with K = ", k, " (rois), C = ", c,
                     " (channels) and PH, PW >= 1, got ", p.shape().str());
}

/// Float dtypes of the RoI ops: map and pooled arrays float32/float64 (float16, bfloat16 on CUDA),
/// rois the map's dtype, or float32 for the 16-bit ones.
inline void roi_dtypes(const char* op, const Named& map, const Named& rois, const Named& pooled) {
  const DType t = map.view.dtype();
  const bool cuda = map.view.device().type == DeviceType::CUDA;
  const bool half = t == DType::Float16 || t == DType::BFloat16;
  FOVEAL_CHECK_TYPE(t == DType::Float32 || t == DType::Float64 || (cuda && half), op, ": ", map.name,
                    " must be float32 or float64", cuda ? ", float16 or bfloat16" : " (float16, bfloat16 only on CUDA)",
                    ", got ", dtype_name(t));
  same_dtype(op, {map, pooled});
  const DType want = half ? DType::Float32 : t;
  FOVEAL_CHECK_TYPE(rois.view.dtype() == want, op, ": ", rois.name, " must be ", dtype_name(want), " for ",
                    dtype_name(t), " ", map.name, ", got ", dtype_name(rois.view.dtype()));
}

inline void spatial_scale(const char* op, double s) {
  FOVEAL_CHECK_VALUE(std::isfinite(s) && s > 0.0, op, ": spatial_scale must be a positive finite number, got ", s);
}

/// On the CPU: every batch index integral in [0, batch), every corner and scaled corner finite.
template <typename T>
void roi_values(const char* op, const T* rois, std::int64_t k, std::int64_t batch, double scale) {
  const T s = static_cast<T>(scale);
  for (std::int64_t i = 0; i < k; ++i) {
    const T* r = rois + 5 * i;
    const T b = r[0];
    FOVEAL_CHECK_VALUE(b >= T(0) && b < static_cast<T>(batch) && std::floor(b) == b, op,
                       ": rois[:, 0] must hold integral batch indices in [0, ", batch, "), got ", b, " in row ", i);
    for (int j = 1; j < 5; ++j)
      FOVEAL_CHECK_VALUE(std::isfinite(r[j]) && std::isfinite(r[j] * s), op,
                         ": rois must hold finite coordinates (also after spatial_scale), got ", r[j], " in row ", i,
                         ", column ", j);
  }
}

inline void roi_values(const char* op, const ConstTensorView& rois, std::int64_t batch, double scale) {
  if (rois.device().type != DeviceType::CPU) return;  // CUDA kernels guard the batch index
  if (rois.dtype() == DType::Float64)
    roi_values(op, rois.data_as<double>(), rois.size(0), batch, scale);
  else
    roi_values(op, rois.data_as<float>(), rois.size(0), batch, scale);
}

}  // namespace foveal::check
