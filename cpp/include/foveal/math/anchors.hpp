// SPDX-License-Identifier: Apache-2.0
// Anchor shapes and the anchor grid: one anchor = a cell anchor (zero-centred box) shifted to a
// grid point. Two conventions: torchvision's AnchorGenerator and matterport's Mask R-CNN.
#pragma once
#include <cmath>
#include <cstdint>

#include "foveal/math/hd.hpp"

namespace foveal::math {

/// torchvision's base anchor of `size` and aspect ratio `ratio` = h / w, as (x1, y1, x2, y2).
/// torchvision computes it in float32 whatever the feature maps' dtype (the cell anchors are
/// made in __init__ and cast later), then rounds half to even: so do we.
inline void torchvision_cell_anchor(double size, double ratio, double out[4]) {
  const float s = static_cast<float>(size);
  const float h_ratio = std::sqrt(static_cast<float>(ratio));
  const float w_ratio = 1.0f / h_ratio;
  const float ws = w_ratio * s, hs = h_ratio * s;
  out[0] = std::nearbyint(-ws / 2.0f);
  out[1] = std::nearbyint(-hs / 2.0f);
  out[2] = std::nearbyint(ws / 2.0f);
  out[3] = std::nearbyint(hs / 2.0f);
}

/// matterport's anchor of `scale` and ratio = w / h, in float64 and in its (y1, x1, y2, x2)
/// order: h = scale / sqrt(ratio), w = scale * sqrt(ratio), corners at -+0.5 * (h, w). Added to
/// an integer centre c, c + (-(0.5 * h)) equals matterport's c - 0.5 * h exactly.
inline void matterport_cell_anchor(double scale, double ratio, double out[4]) {
  const double r = std::sqrt(ratio);
  const double h = scale / r, w = scale * r;
  out[0] = -(0.5 * h);
  out[1] = -(0.5 * w);
  out[2] = 0.5 * h;
  out[3] = 0.5 * w;
}

/// One anchor of the grid: `cell` shifted by the grid point (sx, sy). `yx` is matterport's
/// (y1, x1, y2, x2) order, where the cell is in that order too. A is the arithmetic type.
template <typename A>
FOVEAL_HD_INLINE void anchor_at(A sx, A sy, const A cell[4], bool yx, A out[4]) {
  const A u = yx ? sy : sx, v = yx ? sx : sy;
  out[0] = u + cell[0];
  out[1] = v + cell[1];
  out[2] = u + cell[2];
  out[3] = v + cell[3];
}

}  // namespace foveal::math
