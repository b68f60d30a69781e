// SPDX-License-Identifier: Apache-2.0
// Non-local means weights, as scikit-image's denoise_nl_means computes them: Schraudolph's
// exponential (skimage uses it, so matching its output needs the same approximation), the
// distance cutoff and the reflect index of numpy.pad(mode='reflect').
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#include "foveal/math/hd.hpp"

namespace foveal::math {

/// Patch distances above this give weight 0 (skimage's DISTANCE_CUTOFF).
constexpr double kNlmCutoff = 5.0;

/// Schraudolph's exp(y): the high 32 bits of a double set to int(2^20/ln2 y) + 1023 2^20 - 60801
/// (relative error within ~4%). Valid for y > -700; below that it returns 0 (the bit trick
/// would flip the sign bit there).
FOVEAL_HD_INLINE double nlm_fast_exp(double y) {
  if (y < -700.0) return 0.0;
  const std::int32_t hi = static_cast<std::int32_t>(1512775.3951951856938 * y) + 1072632447;
  const std::uint64_t bits = static_cast<std::uint64_t>(static_cast<std::uint32_t>(hi)) << 32;
#if defined(__CUDA_ARCH__)
  return __longlong_as_double(static_cast<long long>(bits));
#else
  double d;
  std::memcpy(&d, &bits, sizeof d);
  return d;
#endif
}

/// nlm_fast_exp for y in [-700, 0] without the range check (branch-free, so loops vectorise).
FOVEAL_HD_INLINE double nlm_fast_exp_unchecked(double y) {
  const std::int32_t hi = static_cast<std::int32_t>(1512775.3951951856938 * y) + 1072632447;
  const std::uint64_t bits = static_cast<std::uint64_t>(static_cast<std::uint32_t>(hi)) << 32;
#if defined(__CUDA_ARCH__)
  return __longlong_as_double(static_cast<long long>(bits));
#else
  double d;
  std::memcpy(&d, &bits, sizeof d);
  return d;
#endif
}

/// Weight of a normalised distance (already divided by C h^2 s^2), 0 past the cutoff (fast mode).
FOVEAL_HD_INLINE double nlm_weight(double dist) {
  const double e = nlm_fast_exp_unchecked(-(dist < kNlmCutoff ? dist : kNlmCutoff));
  return dist > kNlmCutoff ? 0.0 : e;
}

/// nlm_weight in float: the float of skimage's double weight (its 20 mantissa bits fit), built
/// from the same high word with the exponent rebased from 1023 to 127, 0 past the cutoff. The
/// CPU's float32 grey path inlines this formula in its vectorised loop (nlm_cpu.cpp, gray2d_body).
FOVEAL_HD_INLINE float nlm_weight(float dist) {
  const float dc = dist < static_cast<float>(kNlmCutoff) ? dist : static_cast<float>(kNlmCutoff);
  const std::int32_t e = static_cast<std::int32_t>(1512775.3951951856938f * -dc) + 1072632447;
  const std::uint32_t bits = static_cast<std::uint32_t>(e - (896 << 20)) << 3;
#if defined(__CUDA_ARCH__)
  const float w = __uint_as_float(bits);
#else
  float w;
  std::memcpy(&w, &bits, sizeof w);
#endif
  return dist > static_cast<float>(kNlmCutoff) ? 0.0f : w;
}

/// numpy.pad(mode='reflect') source index of padded coordinate i (any integer) on an axis of n:
/// mirror without repeating the edge sample, periodic with period 2 (n - 1).
FOVEAL_HD_INLINE std::int64_t nlm_reflect(std::int64_t i, std::int64_t n) {
  if (n == 1) return 0;
  const std::int64_t period = 2 * (n - 1);
  i %= period;
  if (i < 0) i += period;
  return i < n ? i : period - i;
}

/// Gaussian patch kernel of the classic (slow) mode at offset (di, dj, dk) from the centre:
/// exp(-(di^2 + dj^2 + dk^2) / (2 A^2)), A = (s - 1) / 4; s = 1 gives 1.
FOVEAL_HD_INLINE double nlm_patch_kernel(int di, int dj, int dk, int s) {
  if (s <= 1) return 1.0;
  const double a = (s - 1.0) / 4.0;
  return exp(-static_cast<double>(di * di + dj * dj + dk * dk) / (2.0 * a * a));
}

/// OpenCV's rounding of a weighted mean, in the unsigned type U of its accumulator, saturated.
template <typename U>
FOVEAL_HD_INLINE U cv_nlm_mean(U num, U den, U vmax) {
  const U v = (num + den / 2) / den;
  return v > vmax ? vmax : v;
}

/// OpenCV's fastNlMeansDenoising weights (host only): the table W over the "almost average" patch
/// distance a = d >> shift, W[a] = round(M exp(-a' / (C h^2))) (L2) or round(M exp(-a'^2 / (C h^2)))
/// (L1), a' = a 2^shift / t^2, 0 below 0.001 M, with M = min(acc_max / (S^2 vmax), INT_MAX) and
/// shift = ceil(log2 t^2). t, S: odd template and search sizes.
struct CvNlmTable {
  std::vector<std::int32_t> w;
  int shift = 0;
};
inline CvNlmTable cv_nlm_table(double h, int C, bool l1, int vmax, int tws, int sws, double acc_max) {
  CvNlmTable t;
  const double fpm = std::fmin(std::floor(acc_max / (static_cast<double>(sws) * sws * vmax)),
                               static_cast<double>(std::numeric_limits<int>::max()));
  while ((1 << t.shift) < tws * tws) ++t.shift;
  const double mult = static_cast<double>(1 << t.shift) / (tws * tws);
  const double max_dist = l1 ? static_cast<double>(vmax) * C : static_cast<double>(vmax) * vmax * C;
  const int len = static_cast<int>(max_dist / mult + 1);
  t.w.resize(static_cast<std::size_t>(len));
  for (int a = 0; a < len; ++a) {
    const double dist = a * mult;
    const double e = l1 ? std::exp(-dist * dist / (h * h * C)) : std::exp(-dist / (h * h * C));
    const double wgt = std::nearbyint(fpm * e);
    t.w[static_cast<std::size_t>(a)] = wgt < 0.001 * fpm ? 0 : static_cast<std::int32_t>(wgt);
  }
  return t;
}

}  // namespace foveal::math
