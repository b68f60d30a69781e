// SPDX-License-Identifier: Apache-2.0
#pragma once
#include <cstdint>
#include <vector>

#include "foveal/core/exec_context.hpp"
#include "foveal/core/tensor_view.hpp"

namespace foveal {

/// Total-variation denoising by Chambolle's projection (ROF model), as scikit-image's
/// denoise_tv_chambolle.
///
/// `image` and `out`: same shape, device and dtype (float32 or float64), C-contiguous. The first
/// `batch_dims` axes (0 or 1) index independent images (channels); each of the others is a
/// spatial axis (1 to 7 of them). Per image, iteration n computes u_n = image - div p_n, the
/// energy E_n = (sum (u_n - image)^2 + weight sum |grad u_n|) / size and the next p; it stops
/// after `max_num_iter` iterations or when |E_{n-1} - E_n| < eps E_0, returning that u_n.
/// `weight` > 0, `eps` >= 0, `max_num_iter` >= 1. CUDA work is enqueued on `ctx.stream`.
/// Returns the number of iterations run for each image.
/// Throws ValueError (shapes, arguments), TypeError (dtypes), DeviceError, NotCompiledError.
std::vector<std::int64_t> denoise_tv_chambolle(ConstTensorView image, TensorView out, double weight,
                                               double eps, std::int64_t max_num_iter, int batch_dims = 0,
                                               const ExecContext& ctx = {});

/// Total-variation denoising by split-Bregman iteration, as scikit-image's denoise_tv_bregman.
///
/// `image` and `out`: shape (planes, rows, cols), same device and dtype (float32 or float64),
/// C-contiguous, rows >= 2 and cols >= 2. Each plane is denoised on its own grid; the border is
/// scikit-image's (top and left: the second row/column, bottom and right: the last one, fixed).
/// A sweep is a Gauss-Seidel pass in row-major order; sweeps stop after `max_num_iter` or once
/// rmse = sqrt(sum (u_new - u_old)^2 / count) <= eps, computed in the image dtype. When `joint`,
/// all planes share one stopping rule (skimage's channel_axis=None on a (rows, cols, channels)
/// image: count = planes rows cols); otherwise each plane has its own (channel_axis given).
/// `weight` > 0, `eps` >= 0, `max_num_iter` >= 0.
/// CPU: the sweep reproduces Gauss-Seidel's order of dependencies exactly; it reassociates the sum
/// of the update (results agree with skimage to ~1e-6, not bit for bit) and sums rmse in float64.
/// CUDA: the same sweep, one plane row after another, on `ctx.stream`.
/// Returns the number of sweeps run for each plane.
/// Throws ValueError (shapes, arguments), TypeError (dtypes), DeviceError, NotCompiledError.
std::vector<std::int64_t> denoise_tv_bregman(ConstTensorView image, TensorView out, double weight, double eps,
                                             std::int64_t max_num_iter, bool isotropic, bool joint,
                                             const ExecContext& ctx = {});

}  // namespace foveal
