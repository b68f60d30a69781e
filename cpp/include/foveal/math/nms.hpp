// SPDX-License-Identifier: Apache-2.0
// Ordering and threshold rules that make every NMS backend keep the same boxes.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>

#include "foveal/math/hd.hpp"

namespace foveal::math {

FOVEAL_HD_INLINE std::uint32_t bits_of(float f) {
#if defined(__CUDA_ARCH__)
  return __float_as_uint(f);
#else
  std::uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
#endif
}

FOVEAL_HD_INLINE std::uint64_t bits_of(double d) {
#if defined(__CUDA_ARCH__)
  return static_cast<std::uint64_t>(__double_as_longlong(d));
#else
  std::uint64_t u;
  std::memcpy(&u, &d, sizeof u);
  return u;
#endif
}

/// Sort key for NMS candidates: ascending key order is descending score. -0 and +0 are the
/// same score (a tie, broken by index); NaN sorts after every number, -inf included.
/// Sorting (key, index) ascending, or a stable ascending sort by key, gives the rank order.
FOVEAL_HD_INLINE std::uint32_t score_rank_key(float s) {
  if (s != s) return 0xFFFFFFFFu;
  const std::uint32_t u = s == 0.0f ? 0u : bits_of(s);
  const std::uint32_t ascending = (u & 0x80000000u) ? ~u : (u | 0x80000000u);
  return ~ascending;
}

FOVEAL_HD_INLINE std::uint64_t score_rank_key(double s) {
  if (s != s) return ~std::uint64_t(0);
  const std::uint64_t sign = std::uint64_t(1) << 63;
  const std::uint64_t u = s == 0.0 ? 0u : bits_of(s);
  const std::uint64_t ascending = (u & sign) ? ~u : (u | sign);
  return ~ascending;
}

/// The threshold in the box's arithmetic type: for T = float, `iou > result` holds exactly when
/// `double(iou) > t` (the result is t rounded toward -inf), so float IoUs are compared with the
/// caller's double threshold without double arithmetic on the device.
template <typename T>
inline T nms_threshold(double t) {
  if constexpr (sizeof(T) >= sizeof(double)) {
    return static_cast<T>(t);
  } else {
    float f = static_cast<float>(t);
    if (static_cast<double>(f) > t) f = std::nextafter(f, -INFINITY);
    return f;
  }
}

/// Bound on |centre_a - centre_b| along one axis for any pair with IoU > t, given the extent
/// `len_a` of box a on that axis and `len_max`, the largest extent of any box it is compared
/// with. From inter > t * union >= t * area_b, the overlap along the axis exceeds t * len_b, and
/// it equals (len_a + len_b) / 2 - |dc| when neither box contains the other; maximise over len_b.
/// For 0 <= t < 1 (t >= 1: no pair qualifies, the result is 0). Used by the CPU grid NMS to bound
/// its neighbour search (callers add rounding slack).
inline double nms_centre_bound(double len_a, double len_max, double t) {
  double cap = len_max;
  if (t > 0 && len_a / t < cap) cap = len_a / t;  // overlap > t * len_b needs len_b < len_a / t
  if (cap < len_a) cap = len_a;
  // 0.5 * a + 0.5 * b: no overflow near the largest double.
  auto f = [&](double len_b) { return 0.5 * len_a + 0.5 * len_b - t * (len_b > len_a ? len_b : len_a); };
  const double at_a = f(len_a), at_cap = f(cap);
  const double bound = at_a > at_cap ? at_a : at_cap;
  return bound > 0 ? bound : 0;
}

/// Whether a box of extent `len_a` on one axis can have IoU > t (t >= 0) with a box whose extent
/// on that axis lies in [lo, hi]. The overlap along the axis exceeds t * len_a and t * len_b (as
/// inter > t * union >= t * max(area_a, area_b)) and is at most min(len_a, len_b), so
/// t * len_a < len_b < len_a / t. Used by the CPU NMS to skip whole size levels (callers widen
/// [lo, hi] for rounding).
inline bool nms_extent_can_match(double len_a, double lo, double hi, double t) {
  return hi > t * len_a && t * lo < len_a;
}

}  // namespace foveal::math
