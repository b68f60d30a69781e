// SPDX-License-Identifier: Apache-2.0
// Per-element rules of Richardson-Lucy deconvolution as scikit-image's richardson_lucy computes
// them, and the boundary index maps of its convolutions.
#pragma once
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

}  // namespace foveal::math
