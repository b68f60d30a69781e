// SPDX-License-Identifier: Apache-2.0
#pragma once
#include <cstdint>

#include "foveal/core/exec_context.hpp"
#include "foveal/core/tensor_view.hpp"
#include "foveal/math/bilateral.hpp"

namespace foveal {

using math::BilateralBorder;

/// scikit-image's denoise_bilateral parameters. `bins` = 0 selects the exact filter: the centred
/// Gaussian window exp(-(dy^2 + dx^2) / (2 sigma_spatial^2)) of half-width (win_size - 1) / 2
/// and the range weight exp(-|d|^2 / (2 sigma_color^2)), evaluated without a table.
/// Otherwise skimage's rules, quirks included: taps cover (win_size - 1) / 2 rows and columns
/// each way, and tap (kr, kc) takes entry kr * win_size + kc of the flattened Gaussian table over
/// the grid [-win_size // 2, win_size // 2]^2 (Python's floor division); the range weight of a
/// Euclidean colour distance d is table[min(int(d * (bins / C) / (raw_max - min(raw_min, 0))),
/// bins - 1)] (integer bins / C, C channels), table[k] = exp(-(k raw_max / bins)^2 / (2
/// sigma_color^2)); the Constant border value is cval + min(raw_min, 0).
struct DenoiseBilateralOptions {
  std::int64_t win_size = 5;
  double sigma_color = 0.1;
  double sigma_spatial = 1.0;
  std::int64_t bins = 10000;
  BilateralBorder border = BilateralBorder::Constant;
  double cval = 0.0;
  /// The extremes of the image before any rescaling (e.g. 0 and 255 for a uint8 image that the
  /// caller rescaled to [0, 1]); skimage's range table spans them. raw_min < raw_max.
  double raw_min = 0.0, raw_max = 1.0;
};

/// Bilateral denoising as scikit-image's denoise_bilateral on an (H, W, C) image (C >= 1,
/// channels last), float32 or float64, C-contiguous; `out` the same shape and dtype. Float32
/// images compute in float32, as skimage. 1 <= win_size <= 1025 (odd when bins = 0);
/// sigma_color, sigma_spatial > 0; 0 <= bins <= 2^30.
/// Throws ValueError (shapes, parameters), TypeError (dtypes), DeviceError, NotCompiledError.
void denoise_bilateral(ConstTensorView image, TensorView out, const DenoiseBilateralOptions& options,
                       const ExecContext& ctx = {});

/// OpenCV's bilateralFilter on an (H, W, C) image, C = 1 or 3, uint8 or float32, C-contiguous;
/// `out` the same. Radius = d / 2, or round(1.5 sigma_space) when d <= 0, at least 1, at most 512; the taps
/// are the disk dy^2 + dx^2 <= radius^2 with weights exp(-(dy^2 + dx^2) / (2 sigma_space^2)); the
/// colour distance is the sum of absolute channel differences. Range weights: uint8, a table per
/// integer distance; float32, OpenCV's 4096-per-channel table over [0, C (max - min)], linearly
/// interpolated, where [min, max] = [value_min, value_max] are the image's extremes. `exact`
/// evaluates exp(-d^2 / (2 sigma_color^2)) instead of either table. sigma_color and sigma_space
/// must be > 0; as OpenCV, sigmas <= 1e-6, and float images with max - min < FLT_EPSILON, are
/// copied unchanged. uint8 results round to nearest (ties to even), as cvRound.
void bilateral_filter(ConstTensorView image, TensorView out, int d, double sigma_color, double sigma_space,
                      double value_min, double value_max, BilateralBorder border = BilateralBorder::Reflect,
                      bool exact = false, const ExecContext& ctx = {});

}  // namespace foveal
