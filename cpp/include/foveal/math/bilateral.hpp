// SPDX-License-Identifier: Apache-2.0
// Bilateral filter (Tomasi & Manduchi): out(p) = sum_q s(q-p) r(|I(q) - I(p)|) I(q) / sum_q (...).
// The per-element pieces shared by the CPU and CUDA backends: border index maps, the range
// weights (exact exponential, scikit-image's binned table, OpenCV's interpolated float table and
// its integer uint8 table) and a float exponential that vectorises. The host-side plan (taps and
// tables) is built once by the front end from scikit-image's or OpenCV's parameter rules.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

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

/// exp(x) for x <= 0 in float, to about 2 ulp, by 2^n * p(r) with r = x - n ln 2 (Cephes'
/// coefficients). Arguments below -87 flush to e^-87 (1.6e-38): those weights vanish beside the
/// centre tap's weight, which is at least s_centre * 1.
FOVEAL_HD_INLINE float exp_neg(float x) {
  x = x < -87.0f ? -87.0f : x;
  const float n = floorf(x * 1.44269504088896341f + 0.5f);
  float r = x - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  const std::int32_t bits = (static_cast<std::int32_t>(n) + 127) << 23;
#if defined(__CUDA_ARCH__)
  return p * __int_as_float(bits);
#else
  float scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return p * scale;
#endif
}
FOVEAL_HD_INLINE double exp_neg(double x) { return exp(x); }

/// Range-weight parameters in the compute type T (see BilateralRange).
template <typename T>
struct RangeParams {
  T coeff;        // Exact: -1 / (2 sigma_color^2)
  T scale;        // Binned / Interp: distance -> table position
  T max_pos;      // Binned: nbins - 1; Interp: nbins (position clamp)
  const T* lut;   // Binned / Interp / IntLut table
};

/// Binned (scikit-image): `dist` is the Euclidean distance, computed in T as skimage does.
template <typename T>
FOVEAL_HD_INLINE T range_binned(T dist, const RangeParams<T>& p) {
  T pos = dist * p.scale;
  pos = pos < p.max_pos ? pos : p.max_pos;
  return p.lut[static_cast<std::int32_t>(pos)];
}

/// Interpolated table (OpenCV float): `l1` is the sum of absolute channel differences.
template <typename T>
FOVEAL_HD_INLINE T range_interp(T l1, const RangeParams<T>& p) {
  T a = l1 * p.scale;
  a = a < p.max_pos ? a : p.max_pos;
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
