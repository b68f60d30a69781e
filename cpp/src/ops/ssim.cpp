// SPDX-License-Identifier: Apache-2.0
#include "foveal/ops/ssim.hpp"

#include <cmath>

#include "ops/backend.hpp"
#include "ops/validate.hpp"

namespace foveal {

double structural_similarity(ConstTensorView im1, ConstTensorView im2, TensorView full, TensorView grad,
                             const SsimOptions& o, const ExecContext& ctx) {
  constexpr const char* op = "structural_similarity";
  const check::Named a{"im1", im1}, b{"im2", im2};
  FOVEAL_CHECK_VALUE(im1.ndim() >= 1 && im1.ndim() <= 8, op, ": im1 must have 1 to 8 dimensions, got ",
                     im1.shape().str());
  FOVEAL_CHECK_VALUE(im2.shape() == im1.shape(), op, ": im2 must have the shape of im1 ", im1.shape().str(),
                     ", got ", im2.shape().str());
  FOVEAL_CHECK_VALUE(o.win_size >= 1 && o.win_size % 2 == 1, op, ": win_size must be an odd number >= 1, got ",
                     o.win_size);
  for (int i = 0; i < im1.ndim(); ++i)
    FOVEAL_CHECK_VALUE(im1.size(i) >= o.win_size, op, ": win_size must be <= every image side, got ", o.win_size,
                       " for shape ", im1.shape().str());
  FOVEAL_CHECK_VALUE(std::isfinite(o.data_range), op, ": data_range must be finite, got ", o.data_range);
  FOVEAL_CHECK_VALUE(std::isfinite(o.k1) && o.k1 >= 0, op, ": K1 must be a finite number >= 0, got ", o.k1);
  FOVEAL_CHECK_VALUE(std::isfinite(o.k2) && o.k2 >= 0, op, ": K2 must be a finite number >= 0, got ", o.k2);
  FOVEAL_CHECK_VALUE(std::isfinite(o.sigma) && o.sigma >= 0, op, ": sigma must be a finite number >= 0, got ",
                     o.sigma);
  FOVEAL_CHECK_VALUE(std::isfinite(o.truncate) && o.truncate >= 0 && o.truncate * o.sigma < 1e9, op,
                     ": truncate must be a finite number >= 0 with truncate * sigma < 1e9, got ", o.truncate);
  const DType t = im1.dtype();
  FOVEAL_CHECK_TYPE(t == DType::Float32 || t == DType::Float64, op, ": im1 must be float32 or float64, got ",
                    dtype_name(t));
  check::same_device(op, {a, b});
  check::same_dtype(op, {a, b});
  check::contiguous(op, {a, b});
  check::not_null(op, {a, b});
  for (const check::Named& x : {check::Named{"full", full}, check::Named{"grad", grad}}) {
    if (x.view.data() == nullptr && x.view.ndim() == 0) continue;  // not requested
    FOVEAL_CHECK_VALUE(x.view.shape() == im1.shape(), op, ": ", x.name, " must have shape ", im1.shape().str(),
                       ", got ", x.view.shape().str());
    check::same_device(op, {a, x});
    check::same_dtype(op, {a, x});
    check::contiguous(op, {x});
    check::not_null(op, {x});
  }
  FOVEAL_CHECK_DEVICE(im1.device().type == DeviceType::CPU, op, ": CUDA arrays are not supported (CPU only), got ",
                      im1.device().str());
  return cpu::structural_similarity(im1, im2, full, grad, o, ctx);
}

}  // namespace foveal
