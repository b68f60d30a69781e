// SPDX-License-Identifier: Apache-2.0
#include "foveal/ops/tv.hpp"

#include <cmath>

#include "ops/backend.hpp"
#include "ops/validate.hpp"

namespace foveal {

std::vector<std::int64_t> denoise_tv_chambolle(ConstTensorView image, TensorView out, double weight, double eps,
                                               std::int64_t max_num_iter, int batch_dims, const ExecContext& ctx) {
  constexpr const char* op = "denoise_tv_chambolle";
  const check::Named im{"image", image}, o{"out", out};
  FOVEAL_CHECK_VALUE(batch_dims == 0 || batch_dims == 1, op, ": batch_dims must be 0 or 1, got ", batch_dims);
  const int spatial = image.ndim() - batch_dims;
  FOVEAL_CHECK_VALUE(spatial >= 1 && spatial <= 7, op, ": image must have 1 to 7 spatial dimensions, got ",
                     image.shape().str(), batch_dims ? " with a channel axis" : "");
  FOVEAL_CHECK_VALUE(out.shape() == image.shape(), op, ": out must have shape ", image.shape().str(), ", got ",
                     out.shape().str());
  FOVEAL_CHECK_VALUE(std::isfinite(weight) && weight > 0, op, ": weight must be a finite number > 0, got ", weight);
  FOVEAL_CHECK_VALUE(std::isfinite(eps) && eps >= 0, op, ": eps must be a finite number >= 0, got ", eps);
  FOVEAL_CHECK_VALUE(max_num_iter >= 1, op, ": max_num_iter must be >= 1, got ", max_num_iter);
  check::same_device(op, {im, o});
  const DType t = image.dtype();
  FOVEAL_CHECK_TYPE(t == DType::Float32 || t == DType::Float64, op, ": image must be float32 or float64, got ",
                    dtype_name(t));
  check::same_dtype(op, {im, o});
  check::contiguous(op, {im, o});
  check::not_null(op, {im, o});
  if (image.numel() == 0) return std::vector<std::int64_t>(batch_dims ? image.size(0) : 1, 0);
  switch (image.device().type) {
    case DeviceType::CPU: return cpu::denoise_tv_chambolle(image, out, weight, eps, max_num_iter, batch_dims, ctx);
    case DeviceType::CUDA:
      return FOVEAL_CUDA_CALL(denoise_tv_chambolle, image, out, weight, eps, max_num_iter, batch_dims, ctx);
  }
  return {};
}

std::vector<std::int64_t> denoise_tv_bregman(ConstTensorView image, TensorView out, double weight, double eps,
                                             std::int64_t max_num_iter, bool isotropic, bool joint,
                                             const ExecContext& ctx) {
  constexpr const char* op = "denoise_tv_bregman";
  const check::Named im{"image", image}, o{"out", out};
  FOVEAL_CHECK_VALUE(image.ndim() == 3, op, ": image must have shape (planes, rows, cols), got ", image.shape().str());
  FOVEAL_CHECK_VALUE(image.size(1) >= 2 && image.size(2) >= 2, op,
                     ": image must have at least 2 rows and 2 columns, got ", image.shape().str());
  FOVEAL_CHECK_VALUE(out.shape() == image.shape(), op, ": out must have shape ", image.shape().str(), ", got ",
                     out.shape().str());
  FOVEAL_CHECK_VALUE(std::isfinite(weight) && weight > 0, op, ": weight must be a finite number > 0, got ", weight);
  FOVEAL_CHECK_VALUE(std::isfinite(eps) && eps >= 0, op, ": eps must be a finite number >= 0, got ", eps);
  FOVEAL_CHECK_VALUE(max_num_iter >= 0, op, ": max_num_iter must be >= 0, got ", max_num_iter);
  check::same_device(op, {im, o});
  const DType t = image.dtype();
  FOVEAL_CHECK_TYPE(t == DType::Float32 || t == DType::Float64, op, ": image must be float32 or float64, got ",
                    dtype_name(t));
  check::same_dtype(op, {im, o});
  check::contiguous(op, {im, o});
  check::not_null(op, {im, o});
  if (image.numel() == 0) return std::vector<std::int64_t>(image.size(0), 0);
  switch (image.device().type) {
    case DeviceType::CPU: return cpu::denoise_tv_bregman(image, out, weight, eps, max_num_iter, isotropic, joint, ctx);
    case DeviceType::CUDA:
      return FOVEAL_CUDA_CALL(denoise_tv_bregman, image, out, weight, eps, max_num_iter, isotropic, joint, ctx);
  }
  return {};
}

}  // namespace foveal
