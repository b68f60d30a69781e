// SPDX-License-Identifier: Apache-2.0
#pragma once
#include <cstdint>

#include "foveal/core/exec_context.hpp"
#include "foveal/core/tensor_view.hpp"

namespace foveal {

/// Non-local means denoising, as scikit-image's denoise_nl_means.
///
/// `image` and `out`: same shape (spatial..., C), channels last, 2 or 3 spatial axes, same
/// device and dtype (float32 or float64), C-contiguous. The image is padded with numpy's
/// 'reflect' mode. Each output pixel is sum_t w_t x(p + t) / sum_t w_t over the shifts t in
/// [-patch_distance, patch_distance]^D, with w = fast_exp(-dist) (Schraudolph's approximation,
/// as skimage) and:
/// - fast_mode: dist = max(sum over the (s-1)^D box [p - o + 1, p + o] of
///   (sum_c (x - x_t)^2 - 2 C sigma^2), 0) / (C h^2 s^D), o = s / 2, w = 0 when dist > 5; cost
///   independent of the patch size (running box sums);
/// - classic: dist = sum over the s^D patch of g (sum_c (x - x_t)^2 - 2 C sigma^2), g the
///   Gaussian kernel of A = (s - 1) / 4 scaled to sum 1 / (C h^2); the sum stops with w = 0
///   once it exceeds 5 at the start of a patch row; only shifts landing inside the image count.
/// `patch_size` odd >= 1, `patch_distance` >= 0, `h` > 0, `sigma` >= 0, all finite; every spatial
/// size >= patch_size. CUDA work is enqueued on `ctx.stream`.
/// Throws ValueError (shapes, arguments), TypeError (dtypes), DeviceError, NotCompiledError.
void denoise_nl_means(ConstTensorView image, TensorView out, std::int64_t patch_size, std::int64_t patch_distance,
                      double h, double sigma, bool fast_mode, const ExecContext& ctx = {});

/// OpenCV's fastNlMeansDenoising (L2 distance) on a grey uint8 image, bit for bit.
///
/// `image`, `out`: (rows, cols) uint8, C-contiguous, CPU. Border: reflect-101 (OpenCV's
/// BORDER_DEFAULT). With t = template_window_size, S = search_window_size (both odd),
/// M = INT_MAX / (S^2 255) and k = ceil(log2 t^2), each pixel's weights over the S x S search
/// window are W[ssd >> k] (ssd: sum of squared differences of the t x t patches) from the table
/// W[a] = round(M exp(-a 2^k / t^2 / h^2)), 0 where below 0.001 M; the result is
/// (sum W x + sum W / 2) / sum W in integers. `h` > 0 finite, t and S odd >= 1.
/// Throws ValueError (shapes, arguments, CUDA arrays), TypeError (dtypes).
void fast_nl_means(ConstTensorView image, TensorView out, double h, std::int64_t template_window_size,
                   std::int64_t search_window_size, const ExecContext& ctx = {});

}  // namespace foveal
