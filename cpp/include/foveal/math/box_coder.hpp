// SPDX-License-Identifier: Apache-2.0
// Faster R-CNN box coding (tx, ty, tw, th) with per-coordinate weights, as torchvision's BoxCoder:
// the same sequence of IEEE operations (no FMA), so only exp / log can differ, by an ulp.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>

#include "foveal/math/expf_poly.hpp"
#include "foveal/math/hd.hpp"

namespace foveal::math {

/// exp for float in straight-line code that vectorises (libm's expf does not): Cody-Waite range
/// reduction and a degree-7 polynomial (Cephes expf), within 1 ulp of the exact value over the
/// normal range; +inf above 88.72, 0 below -103.9, NaN stays NaN.
FOVEAL_HD_INLINE float exp_simd(float x) {
  const float hi = 88.72283905206835f, lo = -103.97207708f;
  const float xc = x > hi ? hi : (x < lo ? lo : x);
  const float n = std::floor(xc * 1.44269504088896341f + 0.5f);
  const float p = expf_reduced(xc, n);
  // 2^n as two factors, so that n in [-150, 128] never leaves the exponent range of one factor.
  const std::int32_t ni = static_cast<std::int32_t>(n);
  const std::int32_t n1 = ni / 2, n2 = ni - n1;
  const std::int32_t b1 = (n1 + 127) << 23, b2 = (n2 + 127) << 23;
  float f1, f2;
#if defined(__CUDA_ARCH__)
  f1 = __int_as_float(b1);
  f2 = __int_as_float(b2);
#else
  std::memcpy(&f1, &b1, sizeof f1);
  std::memcpy(&f2, &b2, sizeof f2);
#endif
  float y = p * f1 * f2;
  y = x > hi ? INFINITY : (x < lo ? 0.0f : y);
  return x != x ? x : y;
}

FOVEAL_HD_INLINE float coder_exp(float x) { return exp_simd(x); }
FOVEAL_HD_INLINE double coder_exp(double x) {
  using std::exp;
  return exp(x);
}

/// Decode one box (outputs by reference: a local array would stop `omp simd` loops vectorising): deltas (dx, dy, dw, dh) against the box (x1, y1, x2, y2), weights (wx, wy,
/// ww, wh); dw / wh and dh / wh are clamped from above at `clip` (NaN passes through, as
/// torch.clamp). torchvision's decode_single, operation for operation.
template <typename T>
FOVEAL_HD_INLINE void box_decode(T dx, T dy, T dw, T dh, T x1, T y1, T x2, T y2, T wx, T wy, T ww, T wh, T clip,
                                 T& ox1, T& oy1, T& ox2, T& oy2) {
  const T width = x2 - x1, height = y2 - y1;
  const T ctr_x = x1 + T(0.5) * width, ctr_y = y1 + T(0.5) * height;
  dx = dx / wx;
  dy = dy / wy;
  dw = dw / ww;
  dh = dh / wh;
  dw = dw > clip ? clip : dw;
  dh = dh > clip ? clip : dh;
  const T pcx = dx * width + ctr_x, pcy = dy * height + ctr_y;
  const T pw = coder_exp(dw) * width, ph = coder_exp(dh) * height;
  const T hw = T(0.5) * pw, hh = T(0.5) * ph;
  ox1 = pcx - hw;
  oy1 = pcy - hh;
  ox2 = pcx + hw;
  oy2 = pcy + hh;
}

/// Encode the box `g` (reference, e.g. ground truth) relative to the box `p` (proposal or anchor):
/// torchvision's encode_boxes, operation for operation.
template <typename T>
FOVEAL_HD_INLINE void box_encode(T gx1, T gy1, T gx2, T gy2, T px1, T py1, T px2, T py2, T wx, T wy, T ww, T wh,
                                 T& dx, T& dy, T& dw, T& dh) {
  using std::log;
  const T ew = px2 - px1, eh = py2 - py1;
  const T ecx = px1 + T(0.5) * ew, ecy = py1 + T(0.5) * eh;
  const T gw = gx2 - gx1, gh = gy2 - gy1;
  const T gcx = gx1 + T(0.5) * gw, gcy = gy1 + T(0.5) * gh;
  dx = wx * (gcx - ecx) / ew;
  dy = wy * (gcy - ecy) / eh;
  dw = ww * log(gw / ew);
  dh = wh * log(gh / eh);
}

}  // namespace foveal::math
