// SPDX-License-Identifier: Apache-2.0
// Window taps and range tables of the bilateral filters' plans (header-only, so that
// tools/cuda_emu builds the shipped plans too).
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdlib>

#include "foveal/math/bilateral.hpp"

namespace foveal::detail {

inline void add_tap(math::BilateralPlan& p, int dy, int dx, double s, double log_s) {
  p.dy.push_back(dy);
  p.dx.push_back(dx);
  p.space.push_back(s);
  p.log_space.push_back(log_s);
  p.radius = std::max(p.radius, std::max(std::abs(dy), std::abs(dx)));
}

/// Exact Gaussian taps of the square (or disk) window of half-width `radius`, row-major.
inline void gaussian_taps(math::BilateralPlan& p, int radius, double sigma, bool disk) {
  const double c = -0.5 / (sigma * sigma);
  for (int dy = -radius; dy <= radius; ++dy)
    for (int dx = -radius; dx <= radius; ++dx) {
      const double r2 = double(dy) * dy + double(dx) * dx;
      if (disk && std::sqrt(r2) > radius) continue;
      add_tap(p, dy, dx, std::exp(c * r2), c * r2);
    }
}

/// OpenCV's exact-mode plan (any dtype) and its uint8 plan (float32 tables on the disk window,
/// a range table of 256 x channels L1 distances), the border set by the caller.
inline void opencv_exact_plan(math::BilateralPlan& p, int radius, double sigma_color, double sigma_space) {
  p.l1 = true;
  gaussian_taps(p, radius, sigma_space, true);
  p.range = math::BilateralRange::Exact;
  p.coeff = -0.5 / (sigma_color * sigma_color);
}

inline void opencv_u8_plan(math::BilateralPlan& p, int radius, double sigma_color, double sigma_space, int channels) {
  p.l1 = true;
  const float cc = float(-0.5 / (sigma_color * sigma_color)), cs = float(-0.5 / (sigma_space * sigma_space));
  p.lut.resize(static_cast<std::size_t>(256 * channels));
  for (int i = 0; i < 256 * channels; ++i) p.lut[i] = double(float(std::exp(double(float(i * i) * cc))));
  for (int i = -radius; i <= radius; ++i)
    for (int j = -radius; j <= radius; ++j) {
      const double r = std::sqrt(double(i) * i + double(j) * j);
      if (r > radius) continue;
      const double s = double(float(std::exp(r * r * double(cs))));
      add_tap(p, i, j, s, std::log(s));
    }
  p.range = math::BilateralRange::IntLut;
  p.reciprocal = channels == 3;
}

}  // namespace foveal::detail
