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
  EXPECT(!m::bilinear_axis(-0.5, 0, t) && !m::bilinear_axis(0.0, 0, t), "an empty axis has no taps");
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

void test_fpn_levels() {
  // torchvision's _infer_scale: 2**round(log2(feature / image)), half to even in the exponent
  EXPECT(m::fpn_level_scale(200, 800) == 0.25 && m::fpn_level_scale(25, 800) == 0.03125, "exact strides");
  EXPECT(m::fpn_level_scale(51, 800) == 0.0625 && m::fpn_level_scale(13, 800) == 0.015625, "ceil-divided maps");
  EXPECT(m::fpn_level_of_scale(0.25) == 2 && m::fpn_level_of_scale(0.03125) == 5 && m::fpn_level_of_scale(2.0) == -1,
         "level of a scale");
  // LevelMapper, canonical 224 / 4, levels 2..5: sqrt(area) 112 -> 3, 111.9 -> 2, 224 -> 4, 10000 -> 5
  const float a[5] = {0, 0, 0, 112, 112}, b[5] = {0, 0, 0, 111.9f, 111.9f}, c[5] = {0, 10, 10, 234, 234};
  const float d[5] = {0, 0, 0, 10000, 10000}, tiny[5] = {0, 5, 5, 5, 5}, neg[5] = {0, 10, 0, 0, 10};
  EXPECT(m::fpn_roi_level(a, 2, 5, 224, 4, 4) == 1 && m::fpn_roi_level(b, 2, 5, 224, 4, 4) == 0, "P3 / P2 edge");
  EXPECT(m::fpn_roi_level(c, 2, 5, 224, 4, 4) == 2 && m::fpn_roi_level(d, 2, 5, 224, 4, 4) == 3, "P4, clamped P5");
  EXPECT(m::fpn_roi_level(tiny, 2, 5, 224, 4, 4) == 0, "zero area: the finest level");
  EXPECT(m::fpn_roi_level(neg, 2, 5, 224, 4, 4) == -1 && m::fpn_roi_level(neg, 2, 2, 224, 4, 1) == 0,
         "negative area: no level, except with a single map");
  EXPECT(m::fpn_roi_level(d, 2, 4, 224, 4, 2) == -1, "an index past the list (gapped maps): no level");
}

void test_sdk_multi_scale() {
  // Constant maps (level l holds l + 1) of a 64 x 64 image at strides 4 and 8: a RoI well inside
  // its level's map pools that constant; canonical_scale 64 sends a 16 px box to level 2 (the first)
  // and a 40 px box to level 3.
  const foveal::Device cpu{};
  std::vector<float> p2(2 * 16 * 16, 1.0f), p3(2 * 8 * 8, 2.0f);
  const foveal::ConstTensorView feats[2] = {
      foveal::ConstTensorView(p2.data(), foveal::DType::Float32, cpu, {1, 2, 16, 16}),
      foveal::ConstTensorView(p3.data(), foveal::DType::Float32, cpu, {1, 2, 8, 8})};
  const float rois[15] = {0, 8, 8, 24, 24, 0, 8, 8, 48, 48, 0, 20, 20, 10, 30};  // last: negative area
  std::vector<float> out(3 * 2 * 2 * 2, -1.0f);
  foveal::MultiScaleRoiAlignParams params;
  params.sampling_ratio = 2;
  params.canonical_scale = 64;
  foveal::multi_scale_roi_align(feats, 2, foveal::ConstTensorView(rois, foveal::DType::Float32, cpu, {3, 5}), 64, 64,
                                foveal::TensorView(out.data(), foveal::DType::Float32, cpu, {3, 2, 2, 2}), params);
  bool ok = true;
  for (int i = 0; i < 8; ++i) ok = ok && out[i] == 1.0f && out[8 + i] == 2.0f && out[16 + i] == 0.0f;
  EXPECT(ok, "levels 1, 2 and none: %g %g %g", out[0], out[8], out[16]);
  bool threw = false;
  try {
    foveal::multi_scale_roi_align(feats, 0, foveal::ConstTensorView(rois, foveal::DType::Float32, cpu, {3, 5}), 64,
                                  64, foveal::TensorView(out.data(), foveal::DType::Float32, cpu, {3, 2, 2, 2}),
                                  params);
  } catch (const foveal::ValueError&) {
    threw = true;
  }
  EXPECT(threw, "no levels must throw ValueError");
}

// A channels-last (N, C, H, W) view (strides of (N, H, W, C) memory) gives the C-contiguous
// map's result; other strides are refused.
void test_sdk_channels_last() {
  const std::int64_t C = 3, Hh = 5, Ww = 7;
  std::vector<float> nchw(C * Hh * Ww), nhwc(C * Hh * Ww);
  for (std::int64_t c = 0; c < C; ++c)
    for (std::int64_t y = 0; y < Hh; ++y)
      for (std::int64_t x = 0; x < Ww; ++x) {
        const float v = static_cast<float>((c * 31 + y * 7 + x * 3) % 17) * 0.25f;
        nchw[(c * Hh + y) * Ww + x] = v;
        nhwc[(y * Ww + x) * C + c] = v;
      }
  const foveal::Device cpu{};
  const float rois[10] = {0, 0.5f, 1.0f, 5.5f, 3.5f, 0, 2.0f, 0.0f, 6.9f, 4.9f};
  std::vector<float> a(2 * C * 4), b(2 * C * 4, -1.0f);
  const foveal::ConstTensorView r(rois, foveal::DType::Float32, cpu, {2, 5});
  foveal::roi_align(foveal::ConstTensorView(nchw.data(), foveal::DType::Float32, cpu, {1, C, Hh, Ww}), r,
                    foveal::TensorView(a.data(), foveal::DType::Float32, cpu, {2, C, 2, 2}), {1.0, 2, true});
  const foveal::ConstTensorView cl(nhwc.data(), foveal::DType::Float32, cpu, foveal::Shape({1, C, Hh, Ww}),
                                   foveal::Shape({Hh * Ww * C, 1, Ww * C, C}));
  EXPECT(cl.is_channels_last() && !cl.is_contiguous(), "channels-last view");
  foveal::roi_align(cl, r, foveal::TensorView(b.data(), foveal::DType::Float32, cpu, {2, C, 2, 2}), {1.0, 2, true});
  bool same = true;
  for (std::size_t i = 0; i < a.size(); ++i) same = same && std::fabs(a[i] - b[i]) <= 1e-6f * (1 + std::fabs(a[i]));
  EXPECT(same, "channels-last result equals the NCHW one");
  bool threw = false;
  try {  // W and H swapped in the strides: neither layout
    foveal::roi_align(foveal::ConstTensorView(nhwc.data(), foveal::DType::Float32, cpu, foveal::Shape({1, C, Hh, Ww}),
                                              foveal::Shape({Hh * Ww * C, 1, C, Hh * C})),
                      r, foveal::TensorView(b.data(), foveal::DType::Float32, cpu, {2, C, 2, 2}), {});
  } catch (const foveal::ValueError&) {
    threw = true;
  }
  EXPECT(threw, "a map neither C-contiguous nor channels-last must throw ValueError");
}

int main() {
  test_sdk_channels_last();
  test_bilinear_axis();
  test_roi_align_bins();
  test_roi_pool_spans();
  test_sdk_r1();
  test_fpn_levels();
  test_sdk_multi_scale();
  if (failures) std::fprintf(stderr, "%d failure(s)\n", failures);
  return failures ? 1 : 0;
}
