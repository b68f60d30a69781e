// SPDX-License-Identifier: Apache-2.0
// Axis-aligned boxes (x1, y1, x2, y2), continuous coordinates, area without +1.
#pragma once
#include "foveal/math/hd.hpp"

namespace foveal::math {

// NB: written as comparisons, not fmin/fmax, so NaN propagates the same way on every backend
// and in every SIMD width: max(a, b) returns `a` when the comparison is false.
template <typename T>
FOVEAL_HD_INLINE T max_of(T a, T b) { return a < b ? b : a; }
template <typename T>
FOVEAL_HD_INLINE T min_of(T a, T b) { return b < a ? b : a; }

template <typename T>
FOVEAL_HD_INLINE T box_area(T x1, T y1, T x2, T y2) { return (x2 - x1) * (y2 - y1); }

/// IoU = inter / (area_a + area_b - inter), inter from the clamped overlap. Every backend
/// evaluates exactly this sequence of IEEE operations (no FMA), so results agree bit for bit.
/// Degenerate, NaN or infinite boxes give 0 or NaN, which never exceeds a threshold.
template <typename T>
FOVEAL_HD_INLINE T box_iou(T ax1, T ay1, T ax2, T ay2, T area_a,
                           T bx1, T by1, T bx2, T by2, T area_b) {
  const T w = max_of(T(0), min_of(ax2, bx2) - max_of(ax1, bx1));
  const T h = max_of(T(0), min_of(ay2, by2) - max_of(ay1, by1));
  const T inter = w * h;
  return inter / (area_a + area_b - inter);
}

}  // namespace foveal::math
