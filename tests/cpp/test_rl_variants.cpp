// SPDX-License-Identifier: Apache-2.0
// C++ SDK tests of the Richardson-Lucy variants (richardson_lucy_variant, blind_richardson_lucy):
// the plain iteration they reduce to, the first two accelerated steps, a flat image under TV,
// the delta psf, flux, blind RL's normalised psf, and argument errors. The float64 references
// and the image-quality claims are in tests/python/test_rl_variants.py.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <vector>

#include "foveal/core/error.hpp"
#include "foveal/ops/rl.hpp"

#include "check.hpp"

using foveal::BlindRlOptions;
using foveal::ConstTensorView;
using foveal::DType;
using foveal::RlAcceleration;
using foveal::RlVariantOptions;
using foveal::Shape;
using foveal::TensorView;

namespace {

ConstTensorView cv(const std::vector<double>& v, const Shape& s) {
  return ConstTensorView(v.data(), DType::Float64, foveal::Device{}, s);
}
TensorView tv(std::vector<double>& v, const Shape& s) { return TensorView(v.data(), DType::Float64, foveal::Device{}, s); }

std::vector<double> signal(std::size_t n) {
  std::vector<double> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = 0.2 + 0.7 * std::fabs(std::sin(0.37 * double(i) + 0.1 * double(i % 5)));
  return v;
}

double max_diff(const std::vector<double>& a, const std::vector<double>& b) {
  double m = 0;
  for (std::size_t i = 0; i < a.size(); ++i) m = std::fmax(m, std::fabs(a[i] - b[i]));
  return m;
}

std::vector<double> variant(const std::vector<double>& img, const Shape& s, const std::vector<double>& psf,
                            const Shape& ps, const RlVariantOptions& o) {
  std::vector<double> out(img.size(), -7.0);
  foveal::richardson_lucy_variant(cv(img, s), cv(psf, ps), tv(out, s), o);
  return out;
}

std::vector<double> plain(const std::vector<double>& img, const Shape& s, const std::vector<double>& psf,
                          const Shape& ps, std::int64_t iters, foveal::RlBoundary mode) {
  std::vector<double> out(img.size(), -7.0);
  foveal::richardson_lucy(cv(img, s), cv(psf, ps), tv(out, s), iters, false, 0.0, mode);
  return out;
}

void test_reduces_to_plain() {
  const Shape s({6, 7}), ps({3, 3});
  const std::vector<double> img = signal(42), psf = {1, 2, 1, 2, 4, 2, 1, 2, 1};
  for (auto mode : {foveal::RlBoundary::Constant, foveal::RlBoundary::Reflect, foveal::RlBoundary::Wrap}) {
    RlVariantOptions o;
    o.num_iter = 9;
    o.clip = false;
    o.mode = mode;
    const auto ref = plain(img, s, psf, ps, 9, mode);
    EXPECT(max_diff(variant(img, s, psf, ps, o), ref) < 1e-12, "no acceleration, lambda 0");
    // alpha = 0 for the first two iterations: the accelerated iterate equals the plain one
    o.acceleration = RlAcceleration::Biggs;
    o.num_iter = 2;
    EXPECT(max_diff(variant(img, s, psf, ps, o), plain(img, s, psf, ps, 2, mode)) < 1e-12, "biggs, 2 iterations");
    o.num_iter = 9;
    EXPECT(max_diff(variant(img, s, psf, ps, o), ref) > 1e-6, "biggs extrapolates from the third iteration");
  }
  // A flat image keeps a flat estimate (wrap): its gradient is 0, the TV divisor 1.
  const std::vector<double> flat(42, 0.3);
  RlVariantOptions o;
  o.clip = false;
  o.num_iter = 5;
  o.mode = foveal::RlBoundary::Wrap;
  o.regularization = 0.2;
  EXPECT(max_diff(variant(flat, s, psf, ps, o), plain(flat, s, psf, ps, 5, o.mode)) < 1e-12, "flat image, TV");
}

void test_delta_and_flux() {
  const Shape s({40});
  const std::vector<double> img = signal(40);
  RlVariantOptions o;
  o.clip = false;
  o.num_iter = 15;
  o.acceleration = RlAcceleration::Biggs;
  EXPECT(max_diff(variant(img, s, {0, 1, 0}, Shape({3}), o), img) < 1e-10, "delta psf");
  o.mode = foveal::RlBoundary::Wrap;
  // Odd psf of sum 1, periodic: every correction maps its (positive) point to flux sum(image).
  const auto out = variant(img, s, {1 / 13., 3 / 13., 5 / 13., 3 / 13., 1 / 13.}, Shape({5}), o);
  double a = 0, b = 0, lo = 1;
  for (std::size_t i = 0; i < img.size(); ++i) a += img[i], b += out[i], lo = std::fmin(lo, out[i]);
  EXPECT(lo >= 0, "non-negative: %g", lo);
  EXPECT(std::fabs(b - a) < 1e-9 * a, "flux: %g vs %g", b, a);
}

void test_blind() {
  const Shape s({9, 11}), ps({3, 3});
  const std::vector<double> img = signal(99);
  const std::vector<double> init(9, 2.0);
  std::vector<double> out(99), k(9, -1.0);
  BlindRlOptions o;
  o.num_iter = 4;
  o.psf_iter = 3;
  o.clip = false;
  o.mode = foveal::RlBoundary::Wrap;
  foveal::blind_richardson_lucy(cv(img, s), cv(init, ps), tv(out, s), tv(k, ps), o);
  double sum = 0, lo = 1;
  for (double v : k) sum += v, lo = std::fmin(lo, v);
  EXPECT(std::fabs(sum - 1) < 1e-12 && lo >= 0, "psf sum %g, min %g", sum, lo);
  EXPECT(init[0] == 2.0, "the initial psf is not written");
  double a = 0, b = 0;
  for (std::size_t i = 0; i < img.size(); ++i) a += img[i], b += out[i];
  EXPECT(std::fabs(a - b) < 1e-9 * a, "blind flux %g vs %g", b, a);
}

void test_errors() {
  const std::vector<double> img = signal(20), psf = {1, 2, 1}, even = {1, 1};
  std::vector<double> out(20), k(3), k2(2);
  const Shape s({20});
  RlVariantOptions o;
  o.regularization = -1;
  EXPECT_THROWS(foveal::ValueError, "regularization must be a finite number >= 0",
                foveal::richardson_lucy_variant(cv(img, s), cv(psf, Shape({3})), tv(out, s), o));
  o.regularization = 0.5;  // 1-D bound: 1/2
  EXPECT_THROWS(foveal::ValueError, "regularization must be < 1 / (2 ndim) = 0.5",
                foveal::richardson_lucy_variant(cv(img, s), cv(psf, Shape({3})), tv(out, s), o));
  o.regularization = 0;
  o.num_iter = 0;
  EXPECT_THROWS(foveal::ValueError, "num_iter must be >= 1",
                foveal::richardson_lucy_variant(cv(img, s), cv(psf, Shape({3})), tv(out, s), o));
  BlindRlOptions b;
  b.psf_iter = 0;
  EXPECT_THROWS(foveal::ValueError, "psf_iter must be >= 1",
                foveal::blind_richardson_lucy(cv(img, s), cv(psf, Shape({3})), tv(out, s), tv(k, Shape({3})), b));
  b.psf_iter = 1;
  EXPECT_THROWS(foveal::ValueError, "psf must have an odd size",
                foveal::blind_richardson_lucy(cv(img, s), cv(even, Shape({2})), tv(out, s), tv(k2, Shape({2})), b));
  EXPECT_THROWS(foveal::ValueError, "psf_out must have shape",
                foveal::blind_richardson_lucy(cv(img, s), cv(psf, Shape({3})), tv(out, s), tv(k2, Shape({2})), b));
  const std::vector<double> neg = {1, -1, 1};
  EXPECT_THROWS(foveal::ValueError, "psf must hold finite values >= 0",
                foveal::blind_richardson_lucy(cv(img, s), cv(neg, Shape({3})), tv(out, s), tv(k, Shape({3})), b));
}

}  // namespace

int main() {
  test_reduces_to_plain();
  test_delta_and_flux();
  test_blind();
  test_errors();
  if (failures) std::fprintf(stderr, "%d failure(s)\n", failures);
  return failures ? 1 : 0;
}
