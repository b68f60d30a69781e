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
/// is a ValueError. Fft runs each convolution as real FFTs on 5-smooth padded lengths
/// (zero-padded linear convolution cropped to scipy's 'same' for Constant, circular on the
/// image's own lengths for Wrap, reflect-padded for Reflect); on CUDA through cuFFT, loaded at
/// run time (a DeviceError when it cannot be loaded). Where Fft is available (the CPU; CUDA when
/// cuFFT loads) Auto also weighs it: cost per iteration, in multiply-adds, 2 N taps (Direct,
/// taps = non-zero psf entries), 2 N (sum of the factors' non-zero taps) (Separable), and
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
/// read back to the host once, to plan the convolution). Returns the
/// method used (Direct, Separable or Fft).
/// Throws ValueError (shapes, values), TypeError (dtypes), DeviceError, NotCompiledError.
RlMethod richardson_lucy(ConstTensorView image, ConstTensorView psf, TensorView out, std::int64_t num_iter,
                         bool clip = true, double filter_epsilon = 0.0, RlBoundary mode = RlBoundary::Constant,
                         RlMethod method = RlMethod::Auto, const ExecContext& ctx = {});

// ---- Variants beside the scikit-image-compatible richardson_lucy ------------------------------

/// Extrapolation of the RL iterations: None, or Biggs & Andrews (1997) vector extrapolation
/// y_k = x_k + alpha_k (x_k - x_{k-1}), alpha_k = sum(g_{k-1} g_{k-2}) / sum(g_{k-2}^2) clamped to
/// [0, 1], g the RL step difference x_{k+1} - y_k (alpha = 0 for the first two iterations); y is
/// kept >= min(x, 0), so it stays non-negative where x is.
enum class RlAcceleration : int { None = 0, Biggs = 1 };

struct RlVariantOptions {
  std::int64_t num_iter = 50;  ///< RL corrections, >= 1 (each costs one forward and one adjoint convolution)
  bool clip = true;            ///< clamp the result to [-1, 1], as richardson_lucy
  double filter_epsilon = 0.0; ///< as richardson_lucy (0: no filtering)
  RlBoundary mode = RlBoundary::Constant;
  RlAcceleration acceleration = RlAcceleration::None;
  /// Convolution path on the CPU, as richardson_lucy's (CUDA runs the direct sum).
  RlMethod method = RlMethod::Auto;
  /// TV weight lambda of Dey et al. (2006): x_{k+1} = x_k conv(ratio, flip(psf)) /
  /// (1 - lambda div(grad x_k / |grad x_k|_eps)), |grad|_eps = sqrt(|grad|^2 + 1e-6) (eps 1e-3 in
  /// image units, math::rl_tv_eps). 0 <= lambda < 1 / (2 ndim): each unit-vector component lies in
  /// [-1, 1], so |div| <= 2 ndim and the divisor stays >= 1 - 2 ndim lambda > 0 (a larger lambda
  /// could make it <= 0 and is a ValueError; the divisor is clamped at that bound against rounding).
  double regularization = 0.0;
};

/// Richardson-Lucy with Biggs-Andrews acceleration and/or TV regularisation, from f_0 = 0.5 with
/// richardson_lucy's ratio, filter_epsilon, boundary modes and final clip. With acceleration None
/// and regularization 0 it computes richardson_lucy's iteration (direct convolutions; use
/// richardson_lucy for that, the scikit-image-compatible fast path). When both are on, the TV
/// divisor is taken at the extrapolated point. Same tensor rules as richardson_lucy; psf values
/// must be finite with a sum > 0. CPU convolutions follow `method` (Separable on a psf that is not
/// rank 1 is a ValueError); blind RL's psf estimates run Auto.
/// CUDA: kernels in cuda/rl_variants_cuda.cu (compiled in CI, never run in development).
void richardson_lucy_variant(ConstTensorView image, ConstTensorView psf, TensorView out,
                             const RlVariantOptions& options, const ExecContext& ctx = {});

struct BlindRlOptions {
  std::int64_t num_iter = 30;  ///< outer iterations, >= 1
  std::int64_t psf_iter = 10;  ///< psf updates per outer iteration (image fixed), >= 1
  std::int64_t image_iter = 1; ///< image updates per outer iteration (psf fixed), >= 1
  bool clip = true;            ///< clamp the returned image to [-1, 1]
  double filter_epsilon = 0.0;
  RlBoundary mode = RlBoundary::Constant;
  /// Biggs-Andrews extrapolation of the image and of the psf iterations (restarted each outer
  /// iteration, since the other factor changed).
  RlAcceleration acceleration = RlAcceleration::Biggs;
};

/// Blind Richardson-Lucy: estimates the image and the psf. x starts as the image clamped at 0 and
/// k as `psf` (normalised to sum 1). Each outer iteration runs `image_iter` RL image updates with
/// the current k, then `psf_iter` psf updates with the current x:
///   k <- max(k * corr(image / (conv(x, k) + 1e-12), x) / sum(x), 0), then k /= sum(k),
/// corr being the correlation cropped to k's support around its centre (the gradient of conv(x, k)
/// with respect to k). `psf`: the initial psf, odd size along every axis, no larger than the
/// image, finite non-negative values with a sum > 0. `out` receives the image, `psf_out` (psf's
/// shape) the estimated psf. All tensors share one dtype (float32 / float64) and device.
/// CUDA: kernels in cuda/rl_variants_cuda.cu (compiled in CI, never run in development).
void blind_richardson_lucy(ConstTensorView image, ConstTensorView psf, TensorView out, TensorView psf_out,
                           const BlindRlOptions& options, const ExecContext& ctx = {});

}  // namespace foveal
