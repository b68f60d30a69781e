// SPDX-License-Identifier: Apache-2.0
// Axis-aligned boxes (x1, y1, x2, y2), continuous coordinates, area without +1.
#pragma once
#include <cmath>

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

/// Smallest enclosing box's width or height along one axis: max(hi) - min(lo), clamped at 0.
template <typename T>
FOVEAL_HD_INLINE T enclosing_extent(T alo, T ahi, T blo, T bhi) {
  return max_of(T(0), max_of(ahi, bhi) - min_of(alo, blo));
}

/// Generalised IoU (Rezatofighi et al. 2019): IoU - (C - U) / C, with U the union and C the area
/// of the smallest enclosing box; torchvision.ops.generalized_box_iou's sequence of operations.
template <typename T>
FOVEAL_HD_INLINE T box_giou(T ax1, T ay1, T ax2, T ay2, T area_a, T bx1, T by1, T bx2, T by2, T area_b) {
  const T w = max_of(T(0), min_of(ax2, bx2) - max_of(ax1, bx1));
  const T h = max_of(T(0), min_of(ay2, by2) - max_of(ay1, by1));
  const T inter = w * h;
  const T uni = area_a + area_b - inter;
  const T area_c = enclosing_extent(ax1, ax2, bx1, bx2) * enclosing_extent(ay1, ay2, by1, by2);
  return inter / uni - (area_c - uni) / area_c;
}

/// Box centre coordinate, (lo + hi) / 2 as torchvision writes it.
template <typename T>
FOVEAL_HD_INLINE T box_center(T lo, T hi) { return (lo + hi) / T(2); }

/// Normalised squared centre distance of DIoU (Zheng et al. 2020): d^2 / (c^2 + eps), c the
/// diagonal of the smallest enclosing box, centres (acx, acy) and (bcx, bcy).
template <typename T>
FOVEAL_HD_INLINE T box_center_penalty(T ax1, T ay1, T ax2, T ay2, T acx, T acy, T bx1, T by1, T bx2, T by2,
                                      T bcx, T bcy, T eps) {
  const T cw = enclosing_extent(ax1, ax2, bx1, bx2), ch = enclosing_extent(ay1, ay2, by1, by2);
  const T dx = acx - bcx, dy = acy - bcy;
  return (dx * dx + dy * dy) / (cw * cw + ch * ch + eps);
}

/// Distance IoU: IoU - d^2 / (c^2 + eps) (torchvision.ops.distance_box_iou).
template <typename T>
FOVEAL_HD_INLINE T box_diou(T ax1, T ay1, T ax2, T ay2, T area_a, T acx, T acy, T bx1, T by1, T bx2, T by2,
                            T area_b, T bcx, T bcy, T eps) {
  return box_iou(ax1, ay1, ax2, ay2, area_a, bx1, by1, bx2, by2, area_b) -
         box_center_penalty(ax1, ay1, ax2, ay2, acx, acy, bx1, by1, bx2, by2, bcx, bcy, eps);
}

/// Aspect angle atan(w / h) of CIoU's aspect-ratio term; a per-box value, so kernels compute it
/// once per box rather than once per pair.
template <typename T>
FOVEAL_HD_INLINE T box_aspect_angle(T x1, T y1, T x2, T y2) {
  using std::atan;
  return atan((x2 - x1) / (y2 - y1));
}

/// Complete IoU: DIoU - alpha * v, v = 4 / pi^2 * (angle_a - angle_b)^2 and
/// alpha = v / (1 - IoU + v + eps) (torchvision.ops.complete_box_iou). Angles from
/// box_aspect_angle.
template <typename T>
FOVEAL_HD_INLINE T box_ciou(T ax1, T ay1, T ax2, T ay2, T area_a, T acx, T acy, T ang_a, T bx1, T by1, T bx2,
                            T by2, T area_b, T bcx, T bcy, T ang_b, T eps) {
  const T iou = box_iou(ax1, ay1, ax2, ay2, area_a, bx1, by1, bx2, by2, area_b);
  const T diou = iou - box_center_penalty(ax1, ay1, ax2, ay2, acx, acy, bx1, by1, bx2, by2, bcx, bcy, eps);
  const T d = ang_a - ang_b;
  const T v = T(0.40528473456935108578) * (d * d);  // 4 / pi^2
  const T alpha = v / (T(1) - iou + v + eps);
  return diou - alpha * v;
}

}  // namespace foveal::math
