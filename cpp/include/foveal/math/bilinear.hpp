// SPDX-License-Identifier: Apache-2.0
// Bilinear sampling with the boundary rules of torchvision's RoIAlign (Caffe2 lineage): a sample
// within one pixel outside the map is clamped onto the edge, farther out it contributes nothing.
#pragma once
#include <cstdint>

#include "foveal/math/hd.hpp"

namespace foveal::math {

/// The two taps of a bilinear sample along one axis: pixels `lo`, `hi` with weights `w_lo`, `w_hi`.
template <typename T>
struct AxisTap {
  std::int64_t lo, hi;
  T w_lo, w_hi;
};

/// Taps of coordinate `v` on an axis of `size` pixels; false when the sample lies outside
/// [-1, size] (NaN included), where it contributes zero, and on an empty axis (size 0: no pixel
/// to clamp onto). The 2-D rule of torchvision (a sample
/// is dropped when either coordinate is out) is the AND of the two axes, and its clamping acts
/// on each axis alone, so a 2-D sample is exactly the product of two axis taps.
template <typename T>
FOVEAL_HD_INLINE bool bilinear_axis(T v, std::int64_t size, AxisTap<T>& t) {
  if (!(v >= T(-1) && v <= T(size)) || size < 1) return false;
  if (v <= T(0)) v = T(0);
  std::int64_t lo = static_cast<std::int64_t>(v);
  std::int64_t hi;
  if (lo >= size - 1) {
    hi = lo = size - 1;
    v = static_cast<T>(lo);
  } else {
    hi = lo + 1;
  }
  const T l = v - static_cast<T>(lo);
  t.lo = lo;
  t.hi = hi;
  t.w_hi = l;
  t.w_lo = T(1) - l;
  return true;
}

/// Weights of the four corners (y_lo,x_lo), (y_lo,x_hi), (y_hi,x_lo), (y_hi,x_hi) of a 2-D sample.
template <typename T>
FOVEAL_HD_INLINE void bilinear_weights(const AxisTap<T>& ty, const AxisTap<T>& tx, T& w1, T& w2, T& w3, T& w4) {
  w1 = ty.w_lo * tx.w_lo;
  w2 = ty.w_lo * tx.w_hi;
  w3 = ty.w_hi * tx.w_lo;
  w4 = ty.w_hi * tx.w_hi;
}

}  // namespace foveal::math
