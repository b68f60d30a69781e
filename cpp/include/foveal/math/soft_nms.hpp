// SPDX-License-Identifier: Apache-2.0
// Soft-NMS score decay (Bodla et al., 2017).
#pragma once
#include <cmath>

#include "foveal/math/hd.hpp"

namespace foveal::math {

enum SoftNmsKind : int { kSoftNmsLinear = 0, kSoftNmsGaussian = 1 };

/// Factor a box's score is multiplied by when a box overlapping it with `iou` is selected:
/// gaussian exp(-iou^2 / sigma) (every overlap), linear 1 - iou when iou > threshold.
/// Both give exactly 1 at iou = 0, so pairs that do not intersect can be skipped.
template <typename T>
FOVEAL_HD_INLINE T soft_nms_decay(T iou, int kind, T threshold, T sigma) {
  using std::exp;
  if (kind == kSoftNmsGaussian) return exp(-(iou * iou) / sigma);
  return iou > threshold ? T(1) - iou : T(1);
}

}  // namespace foveal::math
