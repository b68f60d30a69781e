// SPDX-License-Identifier: Apache-2.0
// Per-element rules of Richardson-Lucy deconvolution as scikit-image's richardson_lucy computes
// them, and the boundary index maps of its convolutions.
#pragma once
#include <cmath>
#include <cstdint>

#include "foveal/math/hd.hpp"

namespace foveal::math {

/// Added to every blurred estimate before dividing (skimage's eps), so a zero never divides.
constexpr double rl_eps = 1e-12;

/// Boundary modes of the RL convolutions: 0 zero padding ('constant'), 1 'reflect' (edge sample
/// repeated, d c b a | a b c d, scipy.ndimage's 'reflect'), 2 'wrap' (periodic).
/// Maps index q of a signal of length n, with -n <= q < 2n, into [0, n).
FOVEAL_HD_INLINE std::int64_t rl_boundary_index(std::int64_t q, std::int64_t n, int mode) {
  if (q >= 0 && q < n) return q;
  if (mode == 2) return q < 0 ? q + n : q - n;
  return q < 0 ? -q - 1 : 2 * n - 1 - q;  // reflect (mode 0 never asks: its pads stay zero)
}

/// The FFT path's padded axis of length P (image length n, psf length k): the source of buffer
/// position j. j itself in range; for 'reflect' the boundary image of the pads that 'same'
/// outputs read (c = (k - 1) / 2 after the image, k - 1 - c before it, on the circle); -1 where
/// nothing is read (kept zero). 'wrap' has P == n.
FOVEAL_HD_INLINE std::int64_t rl_fft_source(std::int64_t j, std::int64_t n, std::int64_t k, std::int64_t P, int mode) {
  if (j < n) return j;
  if (mode != 1) return -1;
  const std::int64_t c = (k - 1) / 2, below = k - 1 - c;
  if (j < n + c) return rl_boundary_index(j, n, mode);
  if (j >= P - below) return rl_boundary_index(j - P, n, mode);
  return -1;
}

/// The FFT path's psf placement: tap m of an axis of length k sits at (m - (k - 1) / 2) mod P.
FOVEAL_HD_INLINE std::int64_t rl_fft_tap_position(std::int64_t m, std::int64_t k, std::int64_t P) {
  return ((m - (k - 1) / 2) % P + P) % P;
}

/// image / (blurred + eps), or 0 where blurred + eps < filter_epsilon when filtering (skimage
/// filters when filter_epsilon is truthy, i.e. nonzero).
template <typename T>
FOVEAL_HD_INLINE T rl_ratio(T image, T blurred, T filter_epsilon, bool filter) {
  const T c = blurred + static_cast<T>(rl_eps);
  return (filter && c < filter_epsilon) ? T(0) : image / c;
}

/// skimage's final clip to [-1, 1].
template <typename T>
FOVEAL_HD_INLINE T rl_clip(T v) {
  return v > T(1) ? T(1) : (v < T(-1) ? T(-1) : v);
}

/// scipy's 'same' convolution (output i = sum_j in[i + (k-1)/2 - j] psf[j]) written as the
/// correlation out[i] = sum_m in[i + m - o] w[m], with w the flipped kernel and o = k / 2. RL's
/// second step convolves with the flipped psf: the same offset, with w = psf. (For even k this is
/// not the adjoint of the first step; skimage's result depends on it.)
FOVEAL_HD_INLINE std::int64_t rl_offset(std::int64_t k) { return k / 2; }

// ---- Richardson-Lucy variants (accelerated, TV-regularised, blind) ----------------------------

/// Biggs & Andrews (1997) extrapolation: y = x + alpha (x - x_prev), kept non-negative. The floor
/// is min(x, 0): a non-negative x never extrapolates below 0, and alpha = 0 gives y = x exactly
/// (also where x < 0, which an image with negative values can produce).
template <typename T>
FOVEAL_HD_INLINE T rl_extrapolate(T x, T x_prev, T alpha) {
  const T y = x + alpha * (x - x_prev);
  const T floor = x < T(0) ? x : T(0);
  return y > floor ? y : floor;
}

/// The extrapolation weight from the last two RL step differences g = x_{k+1} - y_k:
/// alpha = sum(g_{k-1} g_{k-2}) / sum(g_{k-2}^2), clamped to [0, 1]; 0 when the denominator is 0
/// (or not a number).
FOVEAL_HD_INLINE double rl_biggs_alpha(double num, double den) {
  if (!(den > 0.0)) return 0.0;
  const double a = num / den;
  return a > 1.0 ? 1.0 : (a > 0.0 ? a : 0.0);
}

/// Regulariser of |grad x| in the TV term of Dey et al. (2006): |grad x| = sqrt(sum_a g_a^2 +
/// eps^2), so flat regions (g = 0) give a zero unit vector instead of 0 / 0. In image units.
constexpr double rl_tv_eps = 1e-3;

/// Forward difference of x along an axis with stride `s` at coordinate `c` of `n`: 0 at the last
/// sample (Neumann boundary).
template <typename T>
FOVEAL_HD_INLINE T rl_tv_diff(const T* x, std::int64_t s, std::int64_t c, std::int64_t n) {
  return c + 1 < n ? x[s] - x[0] : T(0);
}

/// Component a of grad x / |grad x|_eps at flat index i (coordinates c, sizes n, strides s of a
/// 3-D volume; a 1-D or 2-D image has leading axes of size 1, whose differences are 0).
template <typename T>
FOVEAL_HD_INLINE T rl_tv_unit(const T* x, std::int64_t i, const std::int64_t* c, const std::int64_t* n,
                              const std::int64_t* s, int a) {
  T g[3], m = static_cast<T>(rl_tv_eps * rl_tv_eps);
  for (int b = 0; b < 3; ++b) {
    g[b] = rl_tv_diff(x + i, s[b], c[b], n[b]);
    m += g[b] * g[b];
  }
  return g[a] / std::sqrt(m);
}

/// The TV divisor 1 - lambda div(grad x / |grad x|_eps) at flat index i: forward differences for
/// the gradient, backward differences (its negative adjoint) for the divergence. Each unit-vector
/// component lies in [-1, 1], so |div| <= 2 ndim and the divisor is >= 1 - 2 ndim lambda; the
/// front end requires lambda < 1 / (2 ndim), and `floor` (that bound) absorbs rounding.
template <typename T>
FOVEAL_HD_INLINE T rl_tv_divisor(const T* x, std::int64_t i, const std::int64_t* c, const std::int64_t* n,
                                 const std::int64_t* s, T lambda, T floor) {
  T div = T(0);
  for (int a = 0; a < 3; ++a) {
    if (c[a] + 1 < n[a]) div += rl_tv_unit(x, i, c, n, s, a);
    if (c[a] > 0) {
      std::int64_t cp[3] = {c[0], c[1], c[2]};
      cp[a] -= 1;
      div -= rl_tv_unit(x, i - s[a], cp, n, s, a);
    }
  }
  const T d = T(1) - lambda * div;
  return d > floor ? d : floor;
}

/// One multiplicative RL correction: y * conv(ratio, flip(psf)) / divisor (divisor 1 without TV).
template <typename T>
FOVEAL_HD_INLINE T rl_correct(T y, T correlation, T divisor) {
  return y * correlation / divisor;
}

/// Blind RL's psf update before renormalisation: k * corr(ratio, x)[j] / sum(x), kept >= 0.
FOVEAL_HD_INLINE double rl_psf_update(double k, double correlation, double x_sum) {
  const double v = k * correlation / x_sum;
  return v > 0.0 ? v : 0.0;
}

}  // namespace foveal::math
