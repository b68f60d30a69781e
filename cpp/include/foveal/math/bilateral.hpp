// SPDX-License-Identifier: Apache-2.0
// Bilateral filter (Tomasi & Manduchi): out(p) = sum_q s(q-p) r(|I(q) - I(p)|) I(q) / sum_q (...).
// The per-element pieces shared by the CPU and CUDA backends: border index maps, the range
// weights (exact exponential, scikit-image's binned table, OpenCV's interpolated float table and
// its integer uint8 table) and a float exponential that vectorises. The host-side plan (taps and
// tables) is built once by the front end from scikit-image's or OpenCV's parameter rules.
#pragma once
#include <cmath>
#include <cstdint>
#include <vector>

#include "foveal/math/expf_poly.hpp"
#include "foveal/math/hd.hpp"

namespace foveal::math {

/// Border modes, by numpy.pad's names. OpenCV: BORDER_CONSTANT = Constant, BORDER_REPLICATE =
/// Edge, BORDER_REFLECT = Symmetric, BORDER_REFLECT_101 = Reflect, BORDER_WRAP = Wrap.
enum class BilateralBorder : int { Constant = 0, Edge = 1, Symmetric = 2, Reflect = 3, Wrap = 4 };

/// How a colour distance becomes a range weight.
enum class BilateralRange : int {
  Exact = 0,   // exp(coeff * d^2 + log s): no table
  Binned = 1,  // scikit-image: lut[min(int(|d|_2 * scale), nbins - 1)]
  Interp = 2,  // OpenCV float: linear interpolation in lut at |d|_1 * scale
  IntLut = 3,  // OpenCV uint8: lut[|d|_1] (integer distances)
};

/// Index of coordinate i of an axis of n elements under border `b`; -1 means "the constant".
/// Symmetric / Reflect / Wrap are periodic, so any padding width works (as numpy.pad).
FOVEAL_HD_INLINE std::int64_t border_index(std::int64_t i, std::int64_t n, BilateralBorder b) {
  if (i >= 0 && i < n) return i;
  switch (b) {
    case BilateralBorder::Constant: return -1;
    case BilateralBorder::Edge: return i < 0 ? 0 : n - 1;
    case BilateralBorder::Wrap: {
      const std::int64_t m = i % n;
      return m < 0 ? m + n : m;
    }
    case BilateralBorder::Symmetric: {  // period 2n: ... 1 0 | 0 1 ... n-1 | n-1 n-2 ...
      std::int64_t m = i % (2 * n);
      if (m < 0) m += 2 * n;
      return m < n ? m : 2 * n - 1 - m;
    }
    case BilateralBorder::Reflect: {  // period 2n-2: ... 2 1 | 0 1 ... n-1 | n-2 ...
      if (n == 1) return 0;
      std::int64_t m = i % (2 * n - 2);
      if (m < 0) m += 2 * n - 2;
      return m < n ? m : 2 * n - 2 - m;
    }
  }
  return -1;
}

FOVEAL_HD_INLINE std::uint32_t float_bits(float x) {
#if defined(__CUDA_ARCH__)
  return __float_as_uint(x);
#else
  return __builtin_bit_cast(std::uint32_t, x);
#endif
}
FOVEAL_HD_INLINE float bits_float(std::uint32_t u) {
#if defined(__CUDA_ARCH__)
  return __uint_as_float(u);
#else
  return __builtin_bit_cast(float, u);
#endif
}

/// exp(x) for x <= 0 in float, to about 2 ulp (x > 0 is outside its domain), as 2^n p(r) with
/// r = x - n ln 2 and Cephes' polynomial. Arguments below -87 become -87 (e^-87 = 1.6e-38): such
/// weights vanish beside the centre tap's. No float compare or floor: with trapping math (the
/// default) either keeps GCC from vectorising the loop that calls this.
FOVEAL_HD_INLINE float exp_neg(float x) {
  // For x <= 0 (sign bit set, or +0) the bit patterns order like -x: clamp as unsigned integers.
  const std::uint32_t u = float_bits(x), lim = 0xC2AE0000u;  // -87.0f
  x = bits_float(u < lim ? u : lim);
  // n = nearest integer to x / ln 2: truncating y - 0.5 rounds y <= 0 to nearest.
  const std::int32_t ni = static_cast<std::int32_t>(x * 1.44269504088896341f - 0.5f);
  const float n = static_cast<float>(ni);
  const float p = expf_reduced(x, n);
  return p * bits_float(static_cast<std::uint32_t>(ni + 127) << 23);
}
FOVEAL_HD_INLINE double exp_neg(double x) { return exp(x); }

/// Range-weight parameters in the compute type T (see BilateralRange).
template <typename T>
struct RangeParams {
  T coeff;        // Exact: -1 / (2 sigma_color^2); Binned: -step^2 / (2 sigma_color^2)
  T scale;        // Binned / Interp: distance -> table position
  T max_pos;      // Binned: nbins - 1; Interp: nbins (position clamp)
  const T* lut;   // Binned / Interp / IntLut table
};

/// min(x, hi) for x, hi >= 0. In float by the bit patterns, which order as the values (see
/// exp_neg for why not a float compare).
FOVEAL_HD_INLINE float clamp_pos(float x, float hi) {
  const std::uint32_t u = float_bits(x), h = float_bits(hi);
  return bits_float(u < h ? u : h);
}
FOVEAL_HD_INLINE double clamp_pos(double x, double hi) { return x < hi ? x : hi; }

/// Binned (scikit-image): `dist` is the Euclidean distance, computed in T as skimage does.
template <typename T>
FOVEAL_HD_INLINE T range_binned(T dist, const RangeParams<T>& p) {
  return p.lut[static_cast<std::int32_t>(clamp_pos(dist * p.scale, p.max_pos))];
}

/// Binned, with bin k's weight computed as exp(coeff k^2) instead of read from the table (the
/// table holds exp(-(k step)^2 / (2 sigma^2)), so coeff = -step^2 / (2 sigma^2)): the same bins,
/// weights equal to the table's within 2 ulp, and no gather.
FOVEAL_HD_INLINE float range_binned_exp(float dist, const RangeParams<float>& p) {
  const float k = static_cast<float>(static_cast<std::int32_t>(clamp_pos(dist * p.scale, p.max_pos)));
  return exp_neg(p.coeff * k * k);
}

/// Interpolated table (OpenCV float): `l1` is the sum of absolute channel differences.
template <typename T>
FOVEAL_HD_INLINE T range_interp(T l1, const RangeParams<T>& p) {
  const T a = clamp_pos(l1 * p.scale, p.max_pos);
  const std::int32_t i = static_cast<std::int32_t>(a);
  const T f = a - static_cast<T>(i);
  return p.lut[i + 1] * f + p.lut[i] * (T(1) - f);
}

// ---- host-side plan ---------------------------------------------------------------------------

/// Everything a backend needs besides the arrays: the window taps (row offset, column offset,
/// spatial weight s and its log), the range rule and table, the border, and the output rule.
struct BilateralPlan {
  std::vector<std::int32_t> dy, dx;
  std::vector<double> space, log_space;
  BilateralRange range = BilateralRange::Exact;
  bool l1 = false;             // colour distance: sum |d_c| (OpenCV) instead of sqrt(sum d_c^2)
  double coeff = 0;            // Exact
  double scale = 0, max_pos = 0;
  std::vector<double> lut;     // converted to the compute type by the backend
  BilateralBorder border = BilateralBorder::Constant;
  double pad_value = 0;        // Constant border value
  bool centre_unit = false;    // OpenCV float: the centre is not a tap; add it with weight 1 at the end
  bool reciprocal = false;     // OpenCV uint8 colour: out = sum * (1 / wsum) instead of sum / wsum
  int radius = 0;              // max(|dy|, |dx|)
};

}  // namespace foveal::math
