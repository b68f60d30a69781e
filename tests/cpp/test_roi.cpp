// SPDX-License-Identifier: Apache-2.0
// Host tests of math/bilinear.hpp and math/roi.hpp (torchvision's boundary and bin rules) and of
// the C++ SDK entry points roi_align / roi_pool on the seed worked example R1.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <vector>

#include "foveal/core/error.hpp"
#include "foveal/math/roi.hpp"
#include "foveal/ops/roi_align.hpp"
#include "foveal/ops/roi_pool.hpp"

#include "check.hpp"

namespace m = foveal::math;


void test_bilinear_axis() {
  m::AxisTap<double> t;
  EXPECT(!m::bilinear_axis(-1.01, 10, t), "beyond -1 is dropped");
  EXPECT(!m::bilinear_axis(10.01, 10, t), "beyond size is dropped");
  EXPECT(!m::bilinear_axis(std::nan(""), 10, t), "NaN is dropped");
  EXPECT(m::bilinear_axis(-0.5, 10, t) && t.lo == 0 && t.hi == 1 && t.w_lo == 1.0 && t.w_hi == 0.0, "clamped to 0");
  EXPECT(m::bilinear_axis(9.5, 10, t) && t.lo == 9 && t.hi == 9 && t.w_lo == 1.0 && t.w_hi == 0.0, "pinned to 9");
  EXPECT(m::bilinear_axis(2.25, 10, t) && t.lo == 2 && t.hi == 3 && t.w_lo == 0.75 && t.w_hi == 0.25, "interior");
}

void test_roi_align_bins() {
  const double roi[5] = {0, 4, 8, 5, 9};  // 1x1 image pixels at scale 0.5: 0.5 x 0.5 on the map
  const auto u = m::roi_align_bins(roi, 0.5, 2, 2, -1, false);  // unaligned: at least 1x1
  EXPECT(u.start_w == 2.0 && u.start_h == 4.0 && u.bin_w == 0.5 && u.grid_w == 1 && u.count == 1.0, "unaligned");
  const auto a = m::roi_align_bins(roi, 0.5, 2, 2, -1, true);
  EXPECT(a.start_w == 1.5 && a.bin_w == 0.25 && a.grid_w == 1 && a.grid_h == 1, "aligned");
  const double flat[5] = {0, 4, 8, 4, 20};
  const auto e = m::roi_align_bins(flat, 1.0, 3, 3, -1, true);
  EXPECT(e.grid_w == 0 && e.grid_h == 4 && e.count == 1.0, "empty aligned width: no samples, divisor 1");
  const auto s = m::roi_align_bins(flat, 1.0, 3, 3, 2, true);
  EXPECT(s.grid_w == 2 && s.count == 4.0, "sampling_ratio fixes the grid");
  EXPECT(m::roi_align_sample(0.0, 2.0, 1, 0, 2) == 2.5, "sample (i + 0.5) * bin / grid");
  std::int64_t i0, i1;  // a huge grid is narrowed to the samples that can touch the map
  m::roi_align_sample_range(-1000.0, 2000.0, 0, 2000, 16, i0, i1);
  EXPECT(i0 >= 997 && i0 <= 999 && i1 >= 1016 && i1 <= 1019, "range [%lld, %lld)", (long long)i0, (long long)i1);
}

void test_roi_pool_spans() {
  // R1: a 7-wide RoI in 2 bins. torchvision: [0, 4), [3, 7); seed: [0, 3), [3, 7).
  auto tv0 = m::roi_pool_span(0.0, 6.0, 1.0, 2, 0, 100, false), tv1 = m::roi_pool_span(0.0, 6.0, 1.0, 2, 1, 100, false);
  EXPECT(tv0.lo == 0 && tv0.hi == 4 && tv1.lo == 3 && tv1.hi == 7, "torchvision bins");
  auto s0 = m::roi_pool_span(0.0, 6.0, 1.0, 2, 0, 100, true), s1 = m::roi_pool_span(0.0, 6.0, 1.0, 2, 1, 100, true);
  EXPECT(s0.lo == 0 && s0.hi == 3 && s1.lo == 3 && s1.hi == 7, "seed bins");
  EXPECT(m::roi_pool_corner(2.5, 1.0) == 3 && m::roi_pool_corner(-2.5, 1.0) == -3, "round half away from zero");
  auto c = m::roi_pool_span(-20.0, 5.0, 1.0, 1, 0, 4, false);
  EXPECT(c.lo == 0 && c.hi == 4, "clipped to the map");
  auto huge = m::roi_pool_span(-1e30, 1e30, 1.0, 1, 0, 4, false);
  EXPECT(huge.lo == 0 && huge.hi == 4, "huge RoIs stay defined");
}

void test_sdk_r1() {
  const double map[35] = {0.85, 0.34, 0.76, 0.84, 0.29, 0.75, 0.62, 0.32, 0.74, 0.21, 0.39, 0.34,
                          0.03, 0.33, 0.20, 0.14, 0.16, 0.13, 0.73, 0.65, 0.96, 0.19, 0.69, 0.09,
                          0.86, 0.88, 0.07, 0.01, 0.83, 0.24, 0.97, 0.04, 0.24, 0.35, 0.50};
  const double roi[5] = {0, 0, 0, 6, 4};
  std::vector<double> out(4);
  const foveal::Device cpu{};
  foveal::ConstTensorView in(map, foveal::DType::Float64, cpu, {1, 1, 5, 7});
  foveal::ConstTensorView rois(roi, foveal::DType::Float64, cpu, {1, 5});
  foveal::TensorView o(out.data(), foveal::DType::Float64, cpu, {1, 1, 2, 2});
  foveal::roi_pool(in, rois, o, foveal::TensorView{}, {1.0, foveal::RoiPoolBins::Seed});
  EXPECT(out[0] == 0.85 && out[1] == 0.84 && out[2] == 0.97 && out[3] == 0.96, "R1: %g %g %g %g", out[0], out[1],
         out[2], out[3]);
  // aligned RoIAlign of the one-pixel RoI at (row 2, col 6) returns that pixel
  const double px[5] = {0, 6, 2, 7, 3};
  std::vector<double> one(1);
  foveal::roi_align(in, foveal::ConstTensorView(px, foveal::DType::Float64, cpu, {1, 5}),
                    foveal::TensorView(one.data(), foveal::DType::Float64, cpu, {1, 1, 1, 1}), {1.0, -1, true});
  EXPECT(one[0] == 0.96, "one pixel: %g", one[0]);
  bool threw = false;
  const double bad[5] = {1, 0, 0, 6, 4};  // batch index 1 of a batch of 1
  try {
    foveal::roi_align(in, foveal::ConstTensorView(bad, foveal::DType::Float64, cpu, {1, 5}), o, {});
  } catch (const foveal::ValueError&) {
    threw = true;
  }
  EXPECT(threw, "batch index out of range must throw ValueError");
}

int main() {
  test_bilinear_axis();
  test_roi_align_bins();
  test_roi_pool_spans();
  test_sdk_r1();
  if (failures) std::fprintf(stderr, "%d failure(s)\n", failures);
  return failures ? 1 : 0;
}
