// SPDX-License-Identifier: Apache-2.0
// Per-element steps of Faster R-CNN post-processing (torchvision's RPN and RoIHeads).
#pragma once
#include <cmath>

#include "foveal/math/activation.hpp"
#include "foveal/math/hd.hpp"

namespace foveal::math {

/// torch.clamp(v, 0, hi) (hi >= 0): NaN stays NaN.
template <typename T>
FOVEAL_HD_INLINE T clamp_to_image(T v, T hi) {
  if (v != v) return v;
  const T lo = v < T(0) ? T(0) : v;
  return lo > hi ? hi : lo;
}

/// remove_small_boxes' test: both sides at least min_size (NaN sides fail).
template <typename T>
FOVEAL_HD_INLINE bool box_not_small(T x1, T y1, T x2, T y2, T min_size) {
  return (x2 - x1) >= min_size && (y2 - y1) >= min_size;
}

}  // namespace foveal::math
