// SPDX-License-Identifier: Apache-2.0
#pragma once
#include <cstdint>

#include "foveal/core/exec_context.hpp"
#include "foveal/core/tensor_view.hpp"

namespace foveal {

/// Boundary of the RL convolutions: Constant = zero padding (scikit-image's), Reflect = the edge
/// sample repeated (d c b a | a b c d, scipy.ndimage 'reflect'), Wrap = periodic.
enum class RlBoundary : int { Constant = 0, Reflect = 1, Wrap = 2 };

/// How the convolutions run. Auto picks Separable when the psf is rank 1 (a product of one
/// vector per axis, checked by exact reconstruction from its marginals) and that needs fewer
/// taps than Direct, else Direct. Direct skips zero taps. Separable on a psf that is not rank 1
/// is a ValueError. Fft (CPU only; a ValueError on CUDA) runs each convolution as real FFTs on
/// 5-smooth padded lengths (zero-padded linear convolution cropped to scipy's 'same' for
/// Constant, circular on the image's own lengths for Wrap, reflect-padded for Reflect); on the
/// CPU Auto also weighs it: cost per iteration, in multiply-adds, 2 N taps (Direct, taps = non-zero
/// psf entries), 2 N (sum of the factors' non-zero taps) (Separable), and
/// 4 x 2.5 P log2(P) + 8 P for Fft (P = product of the padded lengths; four real transforms and
/// the pointwise work), Fft when it is the cheapest by a factor 2.
enum class RlMethod : int { Auto = 0, Direct = 1, Separable = 2, Fft = 3 };

/// Richardson-Lucy deconvolution, as scikit-image's richardson_lucy: f_0 = 0.5, then `num_iter`
/// times f <- f * conv(image / (conv(f, psf) + 1e-12), flip(psf)) with scipy's 'same' centring;
/// the ratio is 0 where conv(f, psf) + 1e-12 < filter_epsilon when filter_epsilon != 0; with
/// `clip` the result is clamped to [-1, 1].
///
/// `image`, `out`: same shape (1 to 3 dimensions), `psf`: as many dimensions, each no longer than
/// the image's; all float32 or all float64, C-contiguous, on one device. The psf must hold finite
/// values with a sum > 0 (checked); the image's values are not checked (the Python front end
/// refuses NaN and infinity). `num_iter` >= 1. CUDA work is enqueued on `ctx.stream` (the psf is
/// read back to the host once, to plan the convolution; CUDA has no FFT path yet). Returns the
/// method used (Direct, Separable or Fft).
/// Throws ValueError (shapes, values), TypeError (dtypes), DeviceError, NotCompiledError.
RlMethod richardson_lucy(ConstTensorView image, ConstTensorView psf, TensorView out, std::int64_t num_iter,
                         bool clip = true, double filter_epsilon = 0.0, RlBoundary mode = RlBoundary::Constant,
                         RlMethod method = RlMethod::Auto, const ExecContext& ctx = {});

}  // namespace foveal
