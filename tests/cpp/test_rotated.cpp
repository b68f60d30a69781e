// SPDX-License-Identifier: Apache-2.0
// Host tests of math/rotated.hpp (worked examples with exact answers) and of the C++ SDK entry
// points box_iou_rotated / nms_rotated / roi_align_rotated.
#include <cmath>
#include <cstdint>
#include <vector>

#include "foveal/core/error.hpp"
#include "foveal/math/rotated.hpp"
#include "foveal/ops/box_iou_rotated.hpp"
#include "foveal/ops/nms_rotated.hpp"
#include "foveal/ops/roi_align_rotated.hpp"

#include "check.hpp"

namespace m = foveal::math;

double iou(const double* a, const double* b) {
  double c1, s1, c2, s2;
  m::rotated_trig(a[4], c1, s1);
  m::rotated_trig(b[4], c2, s2);
  return m::rotated_iou(a[0], a[1], a[2], a[3], c1, s1, b[0], b[1], b[2], b[3], c2, s2);
}

void test_math() {
  double c, s;
  m::rotated_trig(90.0, c, s);
  EXPECT(c == 0.0 && s == 1.0, "90 degrees exact");
  m::rotated_trig(-540.0, c, s);
  EXPECT(c == -1.0 && s == 0.0, "-540 degrees is 180");
  const double a[5] = {0, 0, 2, 2, 0}, b45[5] = {0, 0, 2, 2, 45}, shifted[5] = {1, 0, 2, 2, 0};
  // square and the same square at 45 degrees: intersection is the regular octagon, area 8(sqrt2 - 1)
  const double oct = 8 * (std::sqrt(2.0) - 1);
  EXPECT(std::fabs(iou(a, b45) - oct / (8 - oct)) < 1e-14, "octagon %.17g", iou(a, b45));
  EXPECT(std::fabs(iou(a, shifted) - 1.0 / 3.0) < 1e-15, "half overlap");
  EXPECT(iou(a, a) == 1.0, "identical");
  const double flat[5] = {0, 0, 0, 2, 0}, nan_box[5] = {0, NAN, 2, 2, 0};
  EXPECT(iou(a, flat) == 0.0, "zero width gives 0");
  EXPECT(std::isnan(iou(a, nan_box)), "NaN propagates");
  const double roi[6] = {0, 4, 3, 4, 2, 90};
  const auto bins = m::roi_align_rotated_bins(roi, 1.0, 2, 2, 1, true);
  double y, x;
  // (cx, cy) = (3.5, 2.5) after the half-pixel shift; bin (0, 0)'s sample at local (xx, yy) = (-1, -0.5)
  // turns to y = yy cos - xx sin + cy = 3.5, x = yy sin + xx cos + cx = 3
  m::roi_align_rotated_sample(bins, 0, 0, 0, 0, y, x);
  EXPECT(std::fabs(y - 3.5) < 1e-15 && std::fabs(x - 3.0) < 1e-15, "sample (%g, %g)", y, x);
}

void test_sdk() {
  const foveal::Device cpu{};
  std::vector<double> boxes = {0, 0, 2, 2, 0, 1, 0, 2, 2, 0, 0, 0, 2, 2, 5};
  std::vector<double> out(9);
  foveal::box_iou_rotated(foveal::ConstTensorView(boxes.data(), foveal::DType::Float64, cpu, {3, 5}),
                          foveal::ConstTensorView(boxes.data(), foveal::DType::Float64, cpu, {3, 5}),
                          foveal::TensorView(out.data(), foveal::DType::Float64, cpu, {3, 3}));
  EXPECT(std::fabs(out[1] - 1.0 / 3.0) < 1e-15 && out[4] == 1.0, "box_iou_rotated");
  std::vector<double> scores = {0.5, 0.9, 0.7};
  std::vector<std::int64_t> keep(3);
  const auto k = foveal::nms_rotated(foveal::ConstTensorView(boxes.data(), foveal::DType::Float64, cpu, {3, 5}),
                                     foveal::ConstTensorView(scores.data(), foveal::DType::Float64, cpu, {3}), 0.5,
                                     foveal::TensorView(keep.data(), foveal::DType::Int64, cpu, {3}));
  EXPECT(k == 2 && keep[0] == 1 && keep[1] == 2, "nms_rotated keeps 1 then 2 (box 0 overlaps box 2)");
  std::vector<double> map(12);
  for (int i = 0; i < 12; ++i) map[i] = i;
  const double px[6] = {0, 2.5, 1.5, 1, 1, 0};  // one pixel centred on (row 1, col 2)
  double one = 0;
  foveal::roi_align_rotated(foveal::ConstTensorView(map.data(), foveal::DType::Float64, cpu, {1, 1, 3, 4}),
                            foveal::ConstTensorView(px, foveal::DType::Float64, cpu, {1, 6}),
                            foveal::TensorView(&one, foveal::DType::Float64, cpu, {1, 1, 1, 1}), {1.0, -1, true});
  EXPECT(one == 6.0, "roi_align_rotated of one pixel: %g", one);
  EXPECT_THROWS(foveal::ValueError, "rois must have shape (K, 6)",
                foveal::roi_align_rotated(foveal::ConstTensorView(map.data(), foveal::DType::Float64, cpu, {1, 1, 3, 4}),
                                          foveal::ConstTensorView(px, foveal::DType::Float64, cpu, {1, 5}),
                                          foveal::TensorView(&one, foveal::DType::Float64, cpu, {1, 1, 1, 1}), {}));
}

int main() {
  test_math();
  test_sdk();
  return failures ? 1 : 0;
}
