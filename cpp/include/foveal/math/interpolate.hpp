// SPDX-License-Identifier: Apache-2.0
// Source-index rules of torch.nn.functional.interpolate (nearest, bilinear), as torch computes
// them: nearest in float32, bilinear in the input's "opmath" type (float for float32 and below,
// double for float64). Shared by the CPU and CUDA backends.
#pragma once
#include <cmath>
#include <cstdint>

#include "foveal/math/hd.hpp"

namespace foveal::math {

/// Output-to-input ratio: 1 / scale_factor when the caller passed one (> 0), else in / out.
template <typename A>
FOVEAL_HD_INLINE A interp_scale(std::int64_t in, std::int64_t out, double scale_factor) {
  return scale_factor > 0 ? static_cast<A>(1.0 / scale_factor) : static_cast<A>(in) / static_cast<A>(out);
}

/// Nearest: identity when the sizes agree, dst / 2 when doubled, else min(floor(dst scale), in - 1)
/// with `scale` from interp_scale<float>.
FOVEAL_HD_INLINE std::int64_t nearest_source(std::int64_t dst, std::int64_t in, std::int64_t out, float scale) {
  if (out == in) return dst;
  if (out == 2 * in) return dst >> 1;
  const std::int64_t s = static_cast<std::int64_t>(::floorf(static_cast<float>(dst) * scale));
  return s < in - 1 ? s : in - 1;
}

/// Bilinear's ratio: (in - 1) / (out - 1) with align_corners (0 for one output), else interp_scale.
template <typename A>
FOVEAL_HD_INLINE A linear_scale(std::int64_t in, std::int64_t out, bool align_corners, double scale_factor) {
  if (align_corners) return out > 1 ? static_cast<A>(in - 1) / static_cast<A>(out - 1) : A(0);
  return interp_scale<A>(in, out, scale_factor);
}

/// Bilinear's taps along one axis for output `dst`: lo, hi (= lo or lo + 1) and the weight of hi.
template <typename A>
struct LinearTaps {
  std::int64_t lo, hi;
  A w_hi;
};

template <typename A>
FOVEAL_HD_INLINE LinearTaps<A> linear_taps(std::int64_t dst, std::int64_t in, A scale, bool align_corners) {
  A real = align_corners ? scale * static_cast<A>(dst) : scale * (static_cast<A>(dst) + A(0.5)) - A(0.5);
  if (real < A(0)) real = A(0);
  std::int64_t lo = static_cast<std::int64_t>(real);
  if (lo > in - 1) lo = in - 1;
  A l = real - static_cast<A>(lo);
  l = l < A(0) ? A(0) : (l > A(1) ? A(1) : l);
  return {lo, lo < in - 1 ? lo + 1 : lo, l};
}

}  // namespace foveal::math
