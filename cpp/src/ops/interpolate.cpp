// SPDX-License-Identifier: Apache-2.0
#include "foveal/ops/interpolate.hpp"

#include <cmath>
#include <cstdint>

#include "ops/backend.hpp"
#include "ops/validate.hpp"

namespace foveal {

void interpolate(ConstTensorView input, TensorView out, const InterpolateParams& p, const ExecContext& ctx) {
  constexpr const char* op = "interpolate";
  bool ok = input.ndim() == 4;
  for (int i = 1; ok && i < 4; ++i) ok = input.size(i) > 0;
  FOVEAL_CHECK_VALUE(ok, op, ": input must have shape (N, C, H, W) with C, H and W positive, got ",
                     input.shape().str());
  const int m = static_cast<int>(p.mode);
  FOVEAL_CHECK_VALUE(m == 0 || m == 1, op, ": mode must be 'nearest' or 'bilinear', got code ", m);
  FOVEAL_CHECK_VALUE(std::isfinite(p.scale_h) && std::isfinite(p.scale_w) && p.scale_h >= 0 && p.scale_w >= 0, op,
                     ": scale_factor must be finite and positive, got (", p.scale_h, ", ", p.scale_w, ")");
  FOVEAL_CHECK_VALUE(out.ndim() == 4 && out.size(0) == input.size(0) && out.size(1) == input.size(1) &&
                         out.size(2) > 0 && out.size(3) > 0,
                     op, ": out must have shape (", input.size(0), ", ", input.size(1),
                     ", H_out, W_out) with H_out and W_out positive, got ", out.shape().str());
  const check::Named i{"input", input}, o{"out", out};
  const DType t = input.dtype();
  const bool cuda = input.device().type == DeviceType::CUDA;
  FOVEAL_CHECK_TYPE(t == DType::Float32 || t == DType::Float64 ||
                        (cuda && (t == DType::Float16 || t == DType::BFloat16)),
                    op, ": input must be float32 or float64",
                    cuda ? ", float16 or bfloat16" : " (float16 and bfloat16 only on CUDA)", ", got ", dtype_name(t));
  check::same_device(op, {i, o});
  check::same_dtype(op, {i, o});
  check::contiguous(op, {i, o});
  check::not_null(op, {i, o});
  if (out.numel() == 0) return;
  switch (input.device().type) {
    case DeviceType::CPU: return cpu::interpolate(input, out, p, ctx);
    case DeviceType::CUDA: return FOVEAL_CUDA_CALL(interpolate, input, out, p, ctx);
  }
}

}  // namespace foveal
