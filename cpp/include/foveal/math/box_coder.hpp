// SPDX-License-Identifier: Apache-2.0
// Faster R-CNN box decoding (dx, dy, dw, dh) with per-coordinate weights: torchvision's
// BoxCoder.decode_single, operation for operation (no FMA), so only exp can differ, by an ulp.
#pragma once
#include <cmath>

#include "foveal/math/hd.hpp"

namespace foveal::math {

/// Decode one box: deltas (dx, dy, dw, dh) against the box (x1, y1, x2, y2), weights (wx, wy,
/// ww, wh); dw / ww and dh / wh are clamped from above at `clip` (NaN passes through, as
/// torch.clamp). Outputs by reference (a local array would stop `omp simd` loops vectorising).
template <typename T>
FOVEAL_HD_INLINE void box_decode(T dx, T dy, T dw, T dh, T x1, T y1, T x2, T y2, T wx, T wy, T ww, T wh, T clip,
                                 T& ox1, T& oy1, T& ox2, T& oy2) {
  using std::exp;
  const T width = x2 - x1, height = y2 - y1;
  const T ctr_x = x1 + T(0.5) * width, ctr_y = y1 + T(0.5) * height;
  dx = dx / wx;
  dy = dy / wy;
  dw = dw / ww;
  dh = dh / wh;
  dw = dw > clip ? clip : dw;
  dh = dh > clip ? clip : dh;
  const T pcx = dx * width + ctr_x, pcy = dy * height + ctr_y;
  const T pw = exp(dw) * width, ph = exp(dh) * height;
  const T hw = T(0.5) * pw, hh = T(0.5) * ph;
  ox1 = pcx - hw;
  oy1 = pcy - hh;
  ox2 = pcx + hw;
  oy2 = pcy + hh;
}

}  // namespace foveal::math
