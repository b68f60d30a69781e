// SPDX-License-Identifier: Apache-2.0
#pragma once
#include <cstdint>

#include "foveal/core/exec_context.hpp"
#include "foveal/core/tensor_view.hpp"

namespace foveal {

/// Window and constants of structural_similarity (scikit-image's parameters).
struct SsimOptions {
  std::int64_t win_size = 7;        ///< odd, >= 1: the uniform window's side and the crop (win_size - 1) / 2
  bool gaussian_weights = false;    ///< Gaussian window (sigma, truncate) instead of the uniform one
  double sigma = 1.5;               ///< >= 0; 0 (below 1e-15): no filtering, as scipy
  double truncate = 3.5;            ///< Gaussian radius int(truncate sigma + 0.5)
  double data_range = 1.0;          ///< R in C1 = (K1 R)^2, C2 = (K2 R)^2
  double k1 = 0.01, k2 = 0.03;      ///< >= 0
  bool use_sample_covariance = true;  ///< covariances times NP / (NP - 1), NP = win_size^ndim
};

/// Mean structural similarity of two images, as skimage.metrics.structural_similarity without
/// channel_axis: windowed moments by separable filtering with scipy.ndimage's 'reflect' boundary,
/// SSIM per pixel, mean over the image cropped by (win_size - 1) / 2 on every side.
///
/// `im1`, `im2`: same shape (1 to 8 dimensions, each >= win_size), CPU, same dtype (float32 or
/// float64), C-contiguous. `full` (the SSIM image) and `grad` (d mssim / d im2) are optional
/// outputs: empty views (null data) skip them, else same shape and dtype as the images. Computed
/// in float64. Returns the mean. Throws ValueError, TypeError, DeviceError (CUDA inputs).
double structural_similarity(ConstTensorView im1, ConstTensorView im2, TensorView full, TensorView grad,
                             const SsimOptions& options, const ExecContext& ctx = {});

}  // namespace foveal
