// SPDX-License-Identifier: Apache-2.0
#include "foveal/ops/nlm.hpp"

#include <cmath>

#include "ops/backend.hpp"
#include "ops/validate.hpp"

namespace foveal {

void denoise_nl_means(ConstTensorView image, TensorView out, std::int64_t patch_size, std::int64_t patch_distance,
                      double h, double sigma, bool fast_mode, const ExecContext& ctx) {
  constexpr const char* op = "denoise_nl_means";
  const check::Named im{"image", image}, o{"out", out};
  FOVEAL_CHECK_VALUE(image.ndim() == 3 || image.ndim() == 4 || image.ndim() == 5, op,
                     ": image must have shape (rows, cols, channels), (planes, rows, cols, channels) or "
                     "(4 spatial axes, channels), got ",
                     image.shape().str());
  FOVEAL_CHECK_VALUE(image.ndim() < 5 || fast_mode, op, ": 4-D images need fast_mode=True");
  FOVEAL_CHECK_VALUE(image.ndim() < 5 || image.device().type == DeviceType::CPU, op,
                     ": 4-D images run on the CPU only; image is on CUDA");
  FOVEAL_CHECK_VALUE(out.shape() == image.shape(), op, ": out must have shape ", image.shape().str(), ", got ",
                     out.shape().str());
  FOVEAL_CHECK_VALUE(patch_size >= 1 && patch_size % 2 == 1 && patch_size <= 255, op,
                     ": patch_size must be an odd integer in [1, 255], got ", patch_size);
  FOVEAL_CHECK_VALUE(patch_distance >= 0 && patch_distance <= 1024, op,
                     ": patch_distance must be an integer in [0, 1024], got ", patch_distance);
  FOVEAL_CHECK_VALUE(std::isfinite(h) && h > 0, op, ": h must be a finite number > 0, got ", h);
  FOVEAL_CHECK_VALUE(std::isfinite(sigma) && sigma >= 0, op, ": sigma must be a finite number >= 0, got ", sigma);
  const int spatial = image.ndim() - 1;
  for (int a = 0; a < spatial; ++a)
    FOVEAL_CHECK_VALUE(image.size(a) >= patch_size, op, ": image must be at least patch_size (", patch_size,
                       ") along every spatial axis, got shape ", image.shape().str());
  FOVEAL_CHECK_VALUE(image.size(spatial) >= 1, op, ": image must have at least one channel, got shape ",
                     image.shape().str());
  check::same_device(op, {im, o});
  const DType t = image.dtype();
  FOVEAL_CHECK_TYPE(t == DType::Float32 || t == DType::Float64, op, ": image must be float32 or float64, got ",
                    dtype_name(t));
  check::same_dtype(op, {im, o});
  check::contiguous(op, {im, o});
  check::not_null(op, {im, o});
  switch (image.device().type) {
    case DeviceType::CPU:
      return cpu::denoise_nl_means(image, out, patch_size, patch_distance, h, sigma, fast_mode, ctx);
    case DeviceType::CUDA:
      return FOVEAL_CUDA_CALL(denoise_nl_means, image, out, patch_size, patch_distance, h, sigma, fast_mode, ctx);
  }
}

namespace {

void check_fast_nl_means(const char* op, ConstTensorView image, TensorView out, double h,
                         std::int64_t template_window_size, std::int64_t search_window_size) {
  const check::Named im{"image", image}, o{"out", out};
  FOVEAL_CHECK_VALUE(image.ndim() == 2 || image.ndim() == 3, op,
                     ": image must have shape (rows, cols) or (rows, cols, channels), got ", image.shape().str());
  FOVEAL_CHECK_VALUE(out.shape() == image.shape(), op, ": out must have shape ", image.shape().str(), ", got ",
                     out.shape().str());
  FOVEAL_CHECK_VALUE(std::isfinite(h) && h > 0, op, ": h must be a finite number > 0, got ", h);
  FOVEAL_CHECK_VALUE(template_window_size >= 1 && template_window_size % 2 == 1 && template_window_size <= 255, op,
                     ": template_window_size must be an odd integer in [1, 255], got ", template_window_size);
  FOVEAL_CHECK_VALUE(search_window_size >= 1 && search_window_size % 2 == 1 && search_window_size <= 255, op,
                     ": search_window_size must be an odd integer in [1, 255], got ", search_window_size);
  check::same_device(op, {im, o});
  FOVEAL_CHECK_TYPE(image.dtype() == DType::UInt8 || image.dtype() == DType::UInt16, op,
                    ": image must be uint8 or uint16, got ", dtype_name(image.dtype()));
  check::same_dtype(op, {im, o});
  check::contiguous(op, {im, o});
  check::not_null(op, {im, o});
}

}  // namespace

void fast_nl_means(ConstTensorView image, TensorView out, double h, std::int64_t template_window_size,
                   std::int64_t search_window_size, const ExecContext& ctx) {
  constexpr const char* op = "fast_nl_means";
  check_fast_nl_means(op, image, out, h, template_window_size, search_window_size);
  const std::int64_t C = image.ndim() == 3 ? image.size(2) : 1;
  FOVEAL_CHECK_VALUE(C >= 1 && C <= 4, op, ": image must have 1 to 4 channels, got shape ", image.shape().str());
  // The patch distances are summed in int32 (as OpenCV's).
  const bool u8 = image.dtype() == DType::UInt8;
  const double worst = double(template_window_size) * template_window_size * C * (u8 ? 255.0 * 255.0 : 65535.0);
  FOVEAL_CHECK_VALUE(worst < 2147483648.0, op, ": template_window_size must be at most ",
                     static_cast<int>(std::sqrt(2147483647.0 / (C * (u8 ? 255.0 * 255.0 : 65535.0)))) | 1,
                     " for ", C, "-channel ", dtype_name(image.dtype()), " images (the patch distances are int32), got ",
                     template_window_size);
  if (image.numel() == 0) return;
  if (image.device().type == DeviceType::CUDA)
    return FOVEAL_CUDA_CALL(fast_nl_means, image, out, h, template_window_size, search_window_size, ctx);
  cpu::fast_nl_means(image, out, h, template_window_size, search_window_size, ctx);
}

void fast_nl_means_colored(ConstTensorView image, TensorView out, double h, double h_color,
                           std::int64_t template_window_size, std::int64_t search_window_size, const ExecContext& ctx) {
  constexpr const char* op = "fast_nl_means";
  check_fast_nl_means(op, image, out, h, template_window_size, search_window_size);
  FOVEAL_CHECK_VALUE(std::isfinite(h_color) && h_color > 0, op, ": h_color must be a finite number > 0, got ", h_color);
  FOVEAL_CHECK_VALUE(image.ndim() == 3 && image.size(2) == 3, op,
                     ": image must be a BGR colour image (rows, cols, 3), got ", image.shape().str());
  FOVEAL_CHECK_TYPE(image.dtype() == DType::UInt8, op, ": colour images must be uint8, got ",
                    dtype_name(image.dtype()));
  FOVEAL_CHECK_VALUE(template_window_size <= 129, op,
                     ": template_window_size must be at most 129 for colour images (the patch distances are int32), got ",
                     template_window_size);
  if (image.numel() == 0) return;
  if (image.device().type == DeviceType::CUDA)
    return FOVEAL_CUDA_CALL(fast_nl_means_colored, image, out, h, h_color, template_window_size, search_window_size,
                            ctx);
  cpu::fast_nl_means_colored(image, out, h, h_color, template_window_size, search_window_size, ctx);
}

}  // namespace foveal
