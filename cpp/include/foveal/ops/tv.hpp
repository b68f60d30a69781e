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

}  // namespace foveal
