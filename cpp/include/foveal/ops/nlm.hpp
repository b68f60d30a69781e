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

/// OpenCV's fastNlMeansDenoising, bit for bit: uint8 images with the L2 distance, uint16 images
/// with the L1 distance (OpenCV's NORM_L1, the only norm it has for 16 bits).
///
/// `image`, `out`: (rows, cols) or (rows, cols, C), C in 1..4 channels denoised jointly (one
/// weight per pixel pair from the distance summed over the channels), same dtype, C-contiguous,
/// CPU. Border: reflect-101 (OpenCV's BORDER_DEFAULT). With t = template_window_size,
/// S = search_window_size (both odd), vmax = 255 or 65535, M = min(max(A) / (S^2 vmax), INT_MAX)
/// (A = int32 for uint8, int64 for uint16) and k = ceil(log2 t^2), each pixel's weights over the
/// S x S search window are W[d >> k] (d: the patch distance, sum over the t x t patch of the
/// squared (L2) or absolute (L1) differences) from the table
/// W[a] = round(M exp(-a' / (C h^2))) (L2) or round(M exp(-a'^2 / (C h^2))) (L1), a' = a 2^k / t^2,
/// 0 where below 0.001 M; the result is (sum W x + sum W / 2) / sum W in unsigned integers.
/// The cost does not depend on t (running sums). `h` > 0 finite, t and S odd >= 1,
/// t^2 C vmax^2 (L2) or t^2 C vmax (L1) below 2^31.
/// Cancellable through ctx.cancel (throws Cancelled).
/// Throws ValueError (shapes, arguments, CUDA arrays), TypeError (dtypes).
void fast_nl_means(ConstTensorView image, TensorView out, double h, std::int64_t template_window_size,
                   std::int64_t search_window_size, const ExecContext& ctx = {});

/// OpenCV's fastNlMeansDenoisingColored, bit for bit: a (rows, cols, 3) uint8 BGR image is
/// converted to 8-bit L*a*b* (OpenCV's COLOR_LBGR2Lab), L is denoised by fast_nl_means with `h`,
/// the (a, b) pair jointly with `h_color`, and the result converted back (COLOR_Lab2LBGR).
/// Same argument rules as fast_nl_means; `h_color` > 0 finite.
void fast_nl_means_colored(ConstTensorView image, TensorView out, double h, double h_color,
                           std::int64_t template_window_size, std::int64_t search_window_size,
                           const ExecContext& ctx = {});

}  // namespace foveal
