// SPDX-License-Identifier: Apache-2.0
// C++ SDK tests of the bilateral filters: math/bilateral.hpp pieces (border maps against their
// numpy.pad definitions, the float exponential), direct evaluation of the definition on small
// images through foveal::denoise_bilateral / bilateral_filter, and argument errors. The
// comparisons with scikit-image and OpenCV are in tests/python/test_bilateral.py.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "foveal/core/error.hpp"
#include "foveal/ops/bilateral.hpp"

#include "check.hpp"

using foveal::BilateralBorder;
using foveal::ConstTensorView;
using foveal::DType;
using foveal::Shape;
using foveal::TensorView;
namespace math = foveal::math;


// numpy.pad's rules, by unrolling the padding one image-length at a time.
std::int64_t pad_rule(std::int64_t i, std::int64_t n, BilateralBorder b) {
  while (i < 0 || i >= n) {
    switch (b) {
      case BilateralBorder::Constant: return -1;
      case BilateralBorder::Edge: return i < 0 ? 0 : n - 1;
      case BilateralBorder::Wrap: i = i < 0 ? i + n : i - n; break;
      case BilateralBorder::Symmetric: i = i < 0 ? -1 - i : 2 * n - 1 - i; break;
      case BilateralBorder::Reflect:
        if (n == 1) return 0;
        i = i < 0 ? -i : 2 * n - 2 - i;
        break;
    }
  }
  return i;
}

void test_border_index() {
  const BilateralBorder all[] = {BilateralBorder::Constant, BilateralBorder::Edge, BilateralBorder::Symmetric,
                                 BilateralBorder::Reflect, BilateralBorder::Wrap};
  for (BilateralBorder b : all)
    for (std::int64_t n = 1; n <= 6; ++n)
      for (std::int64_t i = -20; i < 26; ++i) {
        const std::int64_t got = math::border_index(i, n, b), want = pad_rule(i, n, b);
        EXPECT(got == want, "border %d n=%lld i=%lld: %lld vs %lld", static_cast<int>(b), (long long)n,
               (long long)i, (long long)got, (long long)want);
      }
}

void test_exp_neg() {
  double worst = 0;
  for (int i = 0; i <= 200000; ++i) {
    const float x = -87.0f * static_cast<float>(i) / 200000.0f;
    const double want = std::exp(static_cast<double>(x));
    worst = std::fmax(worst, std::fabs(math::exp_neg(x) - want) / want);
  }
  EXPECT(worst < 4e-7, "exp_neg relative error %g", worst);
  EXPECT(math::exp_neg(0.0f) == 1.0f, "exp(0) = %g", math::exp_neg(0.0f));
  EXPECT(math::exp_neg(-1e30f) > 0 && math::exp_neg(-1e30f) < 1e-37f, "exp(-1e30) = %g", math::exp_neg(-1e30f));
}

// The definition: Gaussian spatial and range weights over the square window, edge border.
std::vector<double> definition(const std::vector<double>& x, int h, int w, int radius, double sc, double ss) {
  std::vector<double> out(x.size());
  for (int y = 0; y < h; ++y)
    for (int c = 0; c < w; ++c) {
      double num = 0, den = 0;
      for (int dy = -radius; dy <= radius; ++dy)
        for (int dx = -radius; dx <= radius; ++dx) {
          const int yy = std::min(std::max(y + dy, 0), h - 1), cc = std::min(std::max(c + dx, 0), w - 1);
          const double v = x[yy * w + cc], d = v - x[y * w + c];
          const double wt = std::exp(-(dy * dy + dx * dx) / (2 * ss * ss) - d * d / (2 * sc * sc));
          num += wt * v;
          den += wt;
        }
      out[y * w + c] = num / den;
    }
  return out;
}

void test_exact_definition() {
  const int h = 9, w = 37;
  std::vector<double> x(h * w);
  std::uint32_t s = 12345;
  for (double& v : x) {
    s = s * 1664525u + 1013904223u;
    v = (s >> 8) / double(1 << 24);
  }
  const auto want = definition(x, h, w, 2, 0.3, 1.5);
  foveal::DenoiseBilateralOptions o;
  o.win_size = 5;
  o.sigma_color = 0.3;
  o.sigma_spatial = 1.5;
  o.bins = 0;
  o.border = BilateralBorder::Edge;
  std::vector<double> out(x.size(), -1);
  foveal::denoise_bilateral(ConstTensorView(x.data(), DType::Float64, foveal::Device{}, Shape({h, w, 1})),
                            TensorView(out.data(), DType::Float64, foveal::Device{}, Shape({h, w, 1})), o);
  double err = 0;
  for (std::size_t i = 0; i < x.size(); ++i) err = std::fmax(err, std::fabs(out[i] - want[i]));
  EXPECT(err < 1e-12, "float64 exact: max error %g", err);

  std::vector<float> xf(x.begin(), x.end()), of(x.size(), -1);
  foveal::denoise_bilateral(ConstTensorView(xf.data(), DType::Float32, foveal::Device{}, Shape({h, w, 1})),
                            TensorView(of.data(), DType::Float32, foveal::Device{}, Shape({h, w, 1})), o);
  err = 0;
  for (std::size_t i = 0; i < x.size(); ++i) err = std::fmax(err, std::fabs(of[i] - want[i]));
  EXPECT(err < 1e-5, "float32 exact: max error %g", err);
}

void test_uint8_constant_and_copy() {
  const int h = 6, w = 20;
  std::vector<std::uint8_t> x(h * w * 3, 77), out(x.size(), 0);
  const Shape shape({h, w, 3});
  foveal::bilateral_filter(ConstTensorView(x.data(), DType::UInt8, foveal::Device{}, shape),
                           TensorView(out.data(), DType::UInt8, foveal::Device{}, shape), 9, 30, 3, 0, 0);
  EXPECT(out == x, "constant uint8 image changed");
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = static_cast<std::uint8_t>(i * 37);
  foveal::bilateral_filter(ConstTensorView(x.data(), DType::UInt8, foveal::Device{}, shape),
                           TensorView(out.data(), DType::UInt8, foveal::Device{}, shape), 9, 1e-7, 3, 0, 0);
  EXPECT(out == x, "sigma_color <= 1e-6 must copy the image");
}

template <typename F>
void expect_error(const char* what, const std::string& needle, F&& f) {
  try {
    f();
    EXPECT(false, "%s: no error", what);
  } catch (const foveal::Error& e) {
    EXPECT(std::string(e.what()).find(needle) != std::string::npos, "%s: message '%s'", what, e.what());
  }
}

void test_errors() {
  std::vector<float> x(4 * 5 * 3, 0.5f), out(x.size());
  const Shape s({4, 5, 3});
  const ConstTensorView in(x.data(), DType::Float32, foveal::Device{}, s);
  const TensorView o(out.data(), DType::Float32, foveal::Device{}, s);
  foveal::DenoiseBilateralOptions opt;
  opt.sigma_spatial = -1;
  expect_error("sigma_spatial", "denoise_bilateral: sigma_spatial must be",
               [&] { foveal::denoise_bilateral(in, o, opt); });
  opt = {};
  opt.win_size = 4;
  opt.bins = 0;
  expect_error("even exact window", "win_size must be odd", [&] { foveal::denoise_bilateral(in, o, opt); });
  opt = {};
  opt.raw_min = 1;
  opt.raw_max = 1;
  expect_error("raw range", "raw_min and raw_max", [&] { foveal::denoise_bilateral(in, o, opt); });
  expect_error("sigma_color", "bilateral_filter: sigma_color must be",
               [&] { foveal::bilateral_filter(in, o, 5, std::nan(""), 1, 0, 1); });
  expect_error("value range", "value_min and value_max", [&] { foveal::bilateral_filter(in, o, 5, 0.1, 1, 1, 0); });
  std::vector<float> x4(4 * 5 * 4), o4(x4.size());
  const Shape s4({4, 5, 4});
  expect_error("channels", "1 or 3 channels", [&] {
    foveal::bilateral_filter(ConstTensorView(x4.data(), DType::Float32, foveal::Device{}, s4),
                             TensorView(o4.data(), DType::Float32, foveal::Device{}, s4), 5, 0.1, 1, 0, 1);
  });
  std::vector<double> xd(x.size()), od(x.size());
  expect_error("dtype", "uint8 or float32", [&] {
    foveal::bilateral_filter(ConstTensorView(xd.data(), DType::Float64, foveal::Device{}, s),
                             TensorView(od.data(), DType::Float64, foveal::Device{}, s), 5, 0.1, 1, 0, 1);
  });
}

int main() {
  test_border_index();
  test_exp_neg();
  test_exact_definition();
  test_uint8_constant_and_copy();
  test_errors();
  if (failures) std::fprintf(stderr, "%d failure(s)\n", failures);
  return failures ? 1 : 0;
}
