// SPDX-License-Identifier: Apache-2.0
// Host tests of the shared math headers: the formulas every backend is built on.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <random>
#include <vector>

#include "foveal/math/box.hpp"
#include "foveal/math/nms.hpp"
#include "foveal/ops/box_iou_variants.hpp"

#include "check.hpp"

namespace m = foveal::math;


template <typename T>
T iou(const T* a, const T* b) {
  return m::box_iou(a[0], a[1], a[2], a[3], m::box_area(a[0], a[1], a[2], a[3]), b[0], b[1], b[2], b[3],
                    m::box_area(b[0], b[1], b[2], b[3]));
}

void test_seed_oracles() {
  const double A[4] = {1, 1, 4, 4}, B[4] = {2, 2, 5, 5}, C[4] = {3, 3, 6, 6}, D[4] = {7, 7, 9, 9};
  EXPECT(iou(A, B) == 4.0 / 14.0, "I1 IoU(A,B) = %.17g", iou(A, B));
  EXPECT(iou(A, C) == 1.0 / 17.0, "I2 (corrected) IoU(A,C) = %.17g", iou(A, C));
  EXPECT(iou(A, D) == 0.0, "IoU(A,D) = %.17g", iou(A, D));
  const double P[4] = {50, 50, 150, 150}, Q[4] = {100, 100, 200, 200};
  EXPECT(iou(P, Q) == 0.14285714285714285, "I3 = %.17g", iou(P, Q));
}

void test_iou_special_values() {
  const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
  const float a[4] = {0, 0, 2, 2}, nanbox[4] = {nan, 0, 2, 2}, wide[4] = {0, 0, inf, 2}, flat[4] = {0, 0, 2, 0};
  EXPECT(!(iou(a, nanbox) > 0.0f), "NaN box must never exceed a threshold");
  EXPECT(!(iou(wide, wide) > 0.0f), "infinite box against itself: %g", iou(wide, wide));
  EXPECT(iou(a, wide) == 0.0f, "finite vs infinite box: %g", iou(a, wide));
  EXPECT(!(iou(flat, flat) > 0.0f), "zero-area box against itself");
  EXPECT(iou(a, a) == 1.0f, "identical boxes: %g", iou(a, a));
}

template <typename T>
void test_rank_key() {
  std::mt19937_64 rng(1);
  std::vector<T> v = {T(0), -T(0), T(1), T(-1), std::numeric_limits<T>::infinity(), -std::numeric_limits<T>::infinity(),
                      std::numeric_limits<T>::quiet_NaN(), std::numeric_limits<T>::denorm_min(),
                      -std::numeric_limits<T>::denorm_min(), std::numeric_limits<T>::max(), std::numeric_limits<T>::lowest()};
  std::normal_distribution<double> g(0, 1e3);
  for (int i = 0; i < 2000; ++i) v.push_back(static_cast<T>(g(rng)));
  for (T a : v)
    for (T b : v) {
      const bool ka = m::score_rank_key(a) < m::score_rank_key(b);
      const bool expected = (a == a) && (b != b || a > b);  // a ranks first: higher, or b is NaN
      if (ka != expected) {
        EXPECT(ka == expected, "rank key order of %g vs %g", double(a), double(b));
        return;
      }
      if ((a == b || (a != a && b != b)) && m::score_rank_key(a) != m::score_rank_key(b)) {
        EXPECT(false, "equal scores %g and %g must have equal keys", double(a), double(b));
        return;
      }
    }
}

void test_threshold_rounding() {
  std::mt19937_64 rng(2);
  std::uniform_real_distribution<double> u(0, 1);
  for (int i = 0; i < 20000; ++i) {
    const double t = i < 3 ? double(i) / 2 : u(rng);
    const float tf = m::nms_threshold<float>(t);
    for (int k = -3; k <= 3; ++k) {
      float x = static_cast<float>(t);
      for (int s = 0; s < std::abs(k); ++s) x = std::nextafter(x, k < 0 ? -1.0f : 2.0f);
      EXPECT((x > tf) == (double(x) > t), "t=%.17g x=%.9g tf=%.9g", t, double(x), double(tf));
    }
  }
}

// Every pair with IoU > t has centres within nms_centre_bound on both axes.
void test_centre_bound() {
  std::mt19937_64 rng(3);
  std::uniform_real_distribution<double> u(0, 1);
  const double ts[] = {0.0, 1e-6, 0.1, 0.3, 0.5, 0.7, 0.9, 0.99};
  int pairs = 0;
  for (double t : ts) {
    for (int i = 0; i < 200000; ++i) {
      const double wa = std::exp(6 * u(rng)), ha = std::exp(6 * u(rng));
      const double wb = wa * std::exp(3 * (u(rng) - 0.5)), hb = ha * std::exp(3 * (u(rng) - 0.5));
      const double cx = (u(rng) - 0.5) * 2 * (wa + wb), cy = (u(rng) - 0.5) * 2 * (ha + hb);
      const double a[4] = {-wa / 2, -ha / 2, wa / 2, ha / 2};
      const double b[4] = {cx - wb / 2, cy - hb / 2, cx + wb / 2, cy + hb / 2};
      if (!(iou(a, b) > t)) continue;
      ++pairs;
      const double wmax = std::max(wa, wb), hmax = std::max(ha, hb);
      EXPECT(std::abs(cx) <= m::nms_centre_bound(wa, wmax, t) * (1 + 1e-12), "x: t=%g wa=%g wb=%g dc=%g bound=%g", t,
             wa, wb, cx, m::nms_centre_bound(wa, wmax, t));
      EXPECT(std::abs(cy) <= m::nms_centre_bound(ha, hmax, t) * (1 + 1e-12), "y: t=%g", t);
      // the partner's extent lies in the open interval (t * len_a, len_a / t) on both axes
      EXPECT(m::nms_extent_can_match(wa, wb, wb, t) && m::nms_extent_can_match(ha, hb, hb, t),
             "extent: t=%g wa=%g wb=%g ha=%g hb=%g", t, wa, wb, ha, hb);
      if (failures > 20) return;
    }
  }
  EXPECT(pairs > 10000, "too few overlapping pairs sampled: %d", pairs);
}

// GIoU / DIoU / CIoU formulas on hand-worked pairs, then the SDK functions on a batched input.
void test_iou_variants() {
  const double A[4] = {0, 0, 2, 2}, B[4] = {1, 1, 3, 3}, C[4] = {0.5, -1, 1.5, 3};
  const auto area = [](const double* p) { return m::box_area(p[0], p[1], p[2], p[3]); };
  const auto cx = [](const double* p) { return m::box_center(p[0], p[2]); };
  const auto cy = [](const double* p) { return m::box_center(p[1], p[3]); };
  const double giou = m::box_giou(A[0], A[1], A[2], A[3], area(A), B[0], B[1], B[2], B[3], area(B));
  EXPECT(std::fabs(giou - (1.0 / 7 - 2.0 / 9)) < 1e-15, "GIoU(A,B) = %.17g", giou);
  const double diou = m::box_diou(A[0], A[1], A[2], A[3], area(A), cx(A), cy(A), B[0], B[1], B[2], B[3], area(B),
                                  cx(B), cy(B), 0.0);
  EXPECT(std::fabs(diou - (1.0 / 7 - 2.0 / 18)) < 1e-15, "DIoU(A,B) = %.17g", diou);
  // Same centre, aspect 1 vs 1/4: CIoU = IoU - v^2 / (1 - IoU + v).
  const double v = 4 / (3.14159265358979323846 * 3.14159265358979323846) * std::pow(std::atan(1.0) - std::atan(0.25), 2);
  const double ciou = m::box_ciou(A[0], A[1], A[2], A[3], area(A), cx(A), cy(A), m::box_aspect_angle(A[0], A[1], A[2], A[3]),
                                  C[0], C[1], C[2], C[3], area(C), cx(C), cy(C),
                                  m::box_aspect_angle(C[0], C[1], C[2], C[3]), 0.0);
  EXPECT(std::fabs(ciou - (1.0 / 3 - v * v / (1 - 1.0 / 3 + v))) < 1e-15, "CIoU(A,C) = %.17g", ciou);

  // SDK: a batch of 2 (boxes1 (2, 1, 4), boxes2 (2, 2, 4)) -> out (2, 1, 2).
  const auto cpu = foveal::Device::cpu();
  std::vector<double> b1 = {0, 0, 2, 2, 0, 0, 2, 2}, b2 = {1, 1, 3, 3, 0, 0, 2, 2, 0, 0, 2, 2, 1, 1, 3, 3};
  std::vector<double> out(4, -9);
  const foveal::ConstTensorView v1(b1.data(), foveal::DType::Float64, cpu, {2, 1, 4});
  const foveal::ConstTensorView v2(b2.data(), foveal::DType::Float64, cpu, {2, 2, 4});
  foveal::generalized_box_iou(v1, v2, foveal::TensorView(out.data(), foveal::DType::Float64, cpu, {2, 1, 2}));
  EXPECT(out[0] == giou && out[1] == 1.0 && out[2] == 1.0 && out[3] == giou, "batched GIoU %g %g %g %g", out[0],
         out[1], out[2], out[3]);
  bool threw = false;
  try {
    foveal::distance_box_iou(v1, v2, 1e-7, foveal::TensorView(out.data(), foveal::DType::Float64, cpu, {2, 2}));
  } catch (const foveal::ValueError&) {
    threw = true;
  }
  EXPECT(threw, "distance_box_iou accepted an out of the wrong shape");
}

// The bound is never negative; from t = 1 up no pair has IoU > t and it is 0. Extent ranges
// outside (t * len_a, len_a / t) are rejected, ranges reaching into it accepted.
void test_bound_edges() {
  EXPECT(m::nms_centre_bound(10, 10, 1.0) == 0 && m::nms_centre_bound(10, 1e6, 1.5) == 0, "t >= 1");
  EXPECT(m::nms_centre_bound(10, 1e6, 0.0) == 0.5 * 10 + 0.5 * 1e6, "t = 0: half the two extents");
  EXPECT(m::nms_centre_bound(1e300, 1.7e308, 0.0) == 0.5 * 1e300 + 0.5 * 1.7e308, "no overflow");
  EXPECT(!m::nms_extent_can_match(10, 1, 5, 0.5) && !m::nms_extent_can_match(10, 20, 40, 0.5), "outside");
  EXPECT(m::nms_extent_can_match(10, 1, 5.01, 0.5) && m::nms_extent_can_match(10, 19.9, 40, 0.5), "inside");
  EXPECT(m::nms_extent_can_match(10, 1e-300, 1e-300, 0.0) && m::nms_extent_can_match(10, 1e300, 1e300, 0.0),
         "t = 0: any extent");
}

int main() {
  test_seed_oracles();
  test_iou_special_values();
  test_rank_key<float>();
  test_rank_key<double>();
  test_threshold_rounding();
  test_centre_bound();
  test_iou_variants();
  test_bound_edges();
  if (failures) {
    std::fprintf(stderr, "%d failures\n", failures);
    return 1;
  }
  std::printf("test_math: all passed\n");
  return 0;
}
