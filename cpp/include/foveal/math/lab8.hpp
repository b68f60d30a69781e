// SPDX-License-Identifier: Apache-2.0
// OpenCV's 8-bit conversions between linear BGR and CIE L*a*b* (cv::COLOR_LBGR2Lab and
// cv::COLOR_Lab2LBGR on uint8), which cv::fastNlMeansDenoisingColored wraps around its NLM.
// Integer fixed-point arithmetic with D65 white and the sRGB primaries; the constants and
// table definitions are OpenCV's (imgproc/src/color_lab.cpp), so the results are bit-exact
// (checked against cv2 on all 2^24 inputs in both directions):
// - forward: X, Y, Z = descale(sum_c 8 v_c K_c, 12), K = round(4096 M / white);
//   f = T[X], T[i] = round(2^15 f(i / 2040)) with f(x) = cbrt(x) above (6/29)^3 else
//   x 841/108 + 16/116 (float32, cbrt by OpenCV's rational approximation with a truncated
//   mantissa); L = descale(296 fY - 1336934, 15), a = descale(500 (fX - fY) + 2^22, 15),
//   b = descale(200 (fY - fZ) + 2^22, 15), each saturated to [0, 255];
// - inverse: y and fy of L from a table, x, z from fy +- a/500, b/200 in 2^14 units through the
//   piecewise cube, RGB = clamp(descale(K' xyz, 14), 0, 4095) * 255 >> 12.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>

#include "foveal/math/hd.hpp"

namespace foveal::math {

/// The tables both directions use (built once on the host by lab8_tables()).
struct Lab8Tables {
  int fwd[9];                 // BGR -> XYZ/white, 2^12 fixed point, row-major (X, Y, Z) x (B, G, R)
  int inv[9];                 // XYZ*white -> (R, G, B), 2^12 fixed point, row-major
  std::uint16_t cbrt[3072];   // f(i / 2040) in 2^15 units
  std::uint16_t lab_y[256];   // L -> y in 2^14 units
  std::uint16_t lab_fy[256];  // L -> f(y) in 2^14 units
  int ab_xz[36864];           // f^-1(v) for v in [-8145, 28719), 2^14 units
};

namespace lab8_detail {
inline double from_bits(std::uint64_t b) {
  double d;
  std::memcpy(&d, &b, sizeof d);
  return d;
}
inline float f32_from_bits(std::uint32_t b) {
  float f;
  std::memcpy(&f, &b, sizeof f);
  return f;
}
// OpenCV's float32 cube root (softfloat f32_cbrt): mantissa reduced into [0.125, 1), a quartic
// rational approximation in double, the result's mantissa truncated to 23 bits. x > 0, finite.
inline float cv_cbrt(float x) {
  std::uint32_t b;
  std::memcpy(&b, &x, sizeof b);
  int ex = static_cast<int>((b >> 23) & 255) - 127;
  int shx = ex % 3;
  shx -= shx >= 0 ? 3 : 0;
  ex = (ex - shx) / 3 - 1;
  double fr = from_bits((static_cast<std::uint64_t>(shx + 1023) << 52) | (static_cast<std::uint64_t>(b & 0x7FFFFF) << 29));
  fr = ((((45.2548339756803022511987494 * fr + 192.2798368355061050458134625) * fr + 119.1654824285581628956914143) * fr +
         13.43250139086239872172837314) * fr + 0.1636161226585754240958355063) /
       ((((14.80884093219134573786480845 * fr + 151.9714051044435648658557668) * fr + 168.5254414101568283957668343) * fr +
         33.9905941350215598754191872) * fr + 1.0);
  std::uint64_t fb;
  std::memcpy(&fb, &fr, sizeof fb);
  const std::uint32_t m = static_cast<std::uint32_t>((fb & ((std::uint64_t{1} << 52) - 1)) >> 29);
  return f32_from_bits((static_cast<std::uint32_t>(ex + 127) << 23) | m);
}
inline int round_even(double v) { return static_cast<int>(std::nearbyint(v)); }
}  // namespace lab8_detail

/// Builds the tables (host only; a few microseconds).
inline void lab8_build(Lab8Tables& t) {
  using namespace lab8_detail;
  // sRGB -> XYZ (D65) and its inverse, and the D65 white, as OpenCV's exact doubles.
  static const std::uint64_t m_bits[9] = {0x3fda65a14488c60d, 0x3fd6e297396d0918, 0x3fc71819d2391d58,
                                          0x3fcb38cda6e75ff6, 0x3fe6e297396d0918, 0x3fb279aae6c8f755,
                                          0x3f93cc4ac6cdaf4b, 0x3fbe836eb4e98138, 0x3fee68427418d691};
  static const std::uint64_t minv_bits[9] = {0x4009ec804102ff8f, 0xbff8982a9930be0e, 0xbfdfe7ff583a53b9,
                                             0xbfef042528ae74f3, 0x3ffe040f23897204, 0x3fa546d3f9e7b80b,
                                             0x3fac7de5082cf52c, 0xbfca1e14bdfd2631, 0x3ff0eabef06b3786};
  const double white[3] = {from_bits(0x3fee6a22b3892ee8), 1.0, from_bits(0x3ff16b8950763a19)};
  for (int i = 0; i < 3; ++i) {
    // forward rows are (X, Y, Z); the source is BGR, so the R coefficient goes last
    for (int j = 0; j < 3; ++j) t.fwd[i * 3 + (2 - j)] = round_even(4096.0 * from_bits(m_bits[i * 3 + j]) / white[i]);
    // inverse: column i of M^-1 (the XYZ component) scaled by white[i]; rows (R, G, B)
    for (int j = 0; j < 3; ++j) t.inv[j * 3 + i] = round_even(4096.0 * from_bits(minv_bits[i + j * 3]) * white[i]);
  }
  const float lthresh = 216.0f / 24389.0f, lscale = 841.0f / 108.0f, lbias = 16.0f / 116.0f;
  const float cbs = 1.0f / (255.0f * 8.0f);
  for (int i = 0; i < 3072; ++i) {
    const float x = cbs * static_cast<float>(i);
    const float f = x < lthresh ? std::fma(x, lscale, lbias) : cv_cbrt(x);
    t.cbrt[i] = static_cast<std::uint16_t>(round_even(32768.0f * f));
  }
  const float base = 16384.0f;
  for (int i = 0; i < 256; ++i) {
    int y, ify;
    if (i <= 20) {
      y = round_even(static_cast<float>(i * 16384 * 20 * 9) / static_cast<float>(17 * 29 * 29 * 29));
      ify = round_even(base * (16.0f / 116.0f + static_cast<float>(i * 5) / static_cast<float>(3 * 17 * 29)));
    } else {
      const float fy = static_cast<float>(i * 100 * 16384) / static_cast<float>(255 * 116) +
                       static_cast<float>(16 * 16384) / 116.0f;
      ify = round_even(fy);
      y = round_even(fy * fy * fy / static_cast<float>(16384 * 16384));
    }
    t.lab_y[i] = static_cast<std::uint16_t>(y);
    t.lab_fy[i] = static_cast<std::uint16_t>(ify);
  }
  for (int v = -8145; v < 36864 - 8145; ++v) {
    // C integer division (truncation) as OpenCV's; 6/29 in 2^14 units is 3389.73
    t.ab_xz[v + 8145] = v <= 3390 ? v * 108 / 841 - 16384 * 16 / 116 * 108 / 841 : v * v / 16384 * v / 16384;
  }
}

FOVEAL_HD_INLINE int lab8_descale(int v, int n) { return (v + (1 << (n - 1))) >> n; }
FOVEAL_HD_INLINE std::uint8_t lab8_sat(int v) { return static_cast<std::uint8_t>(v < 0 ? 0 : v > 255 ? 255 : v); }

/// One BGR pixel to 8-bit L*a*b*.
FOVEAL_HD_INLINE void lab8_from_bgr(const Lab8Tables& t, int b, int g, int r, std::uint8_t* lab) {
  const int B = b * 8, G = g * 8, R = r * 8;
  const int fx = t.cbrt[lab8_descale(B * t.fwd[0] + G * t.fwd[1] + R * t.fwd[2], 12)];
  const int fy = t.cbrt[lab8_descale(B * t.fwd[3] + G * t.fwd[4] + R * t.fwd[5], 12)];
  const int fz = t.cbrt[lab8_descale(B * t.fwd[6] + G * t.fwd[7] + R * t.fwd[8], 12)];
  lab[0] = lab8_sat(lab8_descale(296 * fy - 1336934, 15));
  lab[1] = lab8_sat(lab8_descale(500 * (fx - fy) + (128 << 15), 15));
  lab[2] = lab8_sat(lab8_descale(200 * (fy - fz) + (128 << 15), 15));
}

/// One 8-bit L*a*b* pixel to BGR.
FOVEAL_HD_INLINE void lab8_to_bgr(const Lab8Tables& t, int L, int a, int b, std::uint8_t* bgr) {
  const int y = t.lab_y[L], ify = t.lab_fy[L];
  const int adiv = ((5 * a * 53687 + (1 << 7)) >> 13) - 128 * 16384 / 500;
  const int bdiv = ((b * 41943 + (1 << 4)) >> 9) - 128 * 16384 / 200 + 1;
  const int x = t.ab_xz[ify + adiv + 8145], z = t.ab_xz[ify - bdiv + 8145];
  for (int k = 0; k < 3; ++k) {  // k: R, G, B
    int v = lab8_descale(t.inv[k * 3] * x + t.inv[k * 3 + 1] * y + t.inv[k * 3 + 2] * z, 14);
    v = v < 0 ? 0 : v > 4095 ? 4095 : v;
    bgr[2 - k] = lab8_sat((v * 255) >> 12);
  }
}

}  // namespace foveal::math
