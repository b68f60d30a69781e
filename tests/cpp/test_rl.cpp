// SPDX-License-Identifier: Apache-2.0
// C++ SDK tests of foveal::richardson_lucy: a hand-computed iteration, the delta psf, paths and
// boundary modes, and argument errors (the skimage comparisons are in tests/python/test_rl.py).
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "foveal/core/error.hpp"
#include "foveal/ops/rl.hpp"

#include "check.hpp"

using foveal::ConstTensorView;
using foveal::DType;
using foveal::RlBoundary;
using foveal::RlMethod;
using foveal::Shape;
using foveal::TensorView;


template <typename T>
constexpr DType dtype_of();
template <> constexpr DType dtype_of<float>() { return DType::Float32; }
template <> constexpr DType dtype_of<double>() { return DType::Float64; }

template <typename T>
RlMethod run(const std::vector<T>& in, const Shape& shape, const std::vector<T>& psf, const Shape& pshape,
             std::vector<T>& out, std::int64_t iters, bool clip = false, double fe = 0.0,
             RlBoundary mode = RlBoundary::Constant, RlMethod method = RlMethod::Auto) {
  out.assign(in.size(), T(-7));
  return foveal::richardson_lucy(ConstTensorView(in.data(), dtype_of<T>(), foveal::Device{}, shape),
                                 ConstTensorView(psf.data(), dtype_of<T>(), foveal::Device{}, pshape),
                                 TensorView(out.data(), dtype_of<T>(), foveal::Device{}, shape), iters, clip, fe, mode,
                                 method);
}

// 1-D, psf (1, 2, 1)/4, image (0, 4, 0), one iteration from f = 0.5, by hand:
// conv(f) = (0.375, 0.5, 0.375); ratio = (0, 8, 0) (eps negligible); conv(ratio) = (2, 4, 2);
// f = (1, 2, 1). Wrap: conv(f) = 0.5 everywhere, ratio (0, 8, 0), f = 0.5 * (2, 4, 2).
template <typename T>
void test_one_iteration_by_hand() {
  const std::vector<T> img = {T(0), T(4), T(0)}, psf = {T(0.25), T(0.5), T(0.25)};
  std::vector<T> out;
  run(img, Shape({3}), psf, Shape({3}), out, 1);
  EXPECT(std::abs(out[0] - 1) < 1e-6 && std::abs(out[1] - 2) < 1e-6 && std::abs(out[2] - 1) < 1e-6,
         "constant: (%g, %g, %g)", (double)out[0], (double)out[1], (double)out[2]);
  run(img, Shape({3}), psf, Shape({3}), out, 1, true);
  EXPECT(std::abs(out[0] - 1) < 1e-6 && out[1] == 1 && std::abs(out[2] - 1) < 1e-6, "clip: (%g, %g, %g)", (double)out[0], (double)out[1],
         (double)out[2]);
  run(img, Shape({3}), psf, Shape({3}), out, 1, false, 0.0, RlBoundary::Wrap);
  EXPECT(std::abs(out[0] - 1) < 1e-6 && std::abs(out[1] - 2) < 1e-6 && std::abs(out[2] - 1) < 1e-6,
         "wrap: (%g, %g, %g)", (double)out[0], (double)out[1], (double)out[2]);
  // filter_epsilon above every blurred value: the ratio is 0, f becomes 0
  run(img, Shape({3}), psf, Shape({3}), out, 1, false, 0.6);
  EXPECT(out[0] == 0 && out[1] == 0 && out[2] == 0, "filter: (%g, %g, %g)", (double)out[0], (double)out[1],
         (double)out[2]);
}

template <typename T>
void test_delta_and_paths() {
  const std::int64_t H = 9, W = 11, D = 5;
  std::vector<T> img(D * H * W);
  for (std::size_t i = 0; i < img.size(); ++i) img[i] = T(0.1 + 0.8 * ((i * 37) % 101) / 101.0);
  std::vector<T> delta(27, T(0));
  delta[13] = T(1);
  std::vector<T> out;
  for (auto mode : {RlBoundary::Constant, RlBoundary::Reflect, RlBoundary::Wrap}) {
    run(img, Shape({D, H, W}), delta, Shape({3, 3, 3}), out, 5, false, 0.0, mode);
    double err = 0;
    for (std::size_t i = 0; i < img.size(); ++i) err = std::max(err, std::abs(double(out[i] - img[i])));
    EXPECT(err < 1e-5, "delta psf, mode %d: max error %g", (int)mode, err);
    // separable 3x3x3 box vs direct
    const std::vector<T> box(27, T(1.0 / 27));
    std::vector<T> direct;
    const auto m1 = run(img, Shape({D, H, W}), box, Shape({3, 3, 3}), direct, 4, false, 0.0, mode, RlMethod::Direct);
    const auto m2 = run(img, Shape({D, H, W}), box, Shape({3, 3, 3}), out, 4, false, 0.0, mode, RlMethod::Auto);
    EXPECT(m1 == RlMethod::Direct && m2 == RlMethod::Separable, "methods %d %d", (int)m1, (int)m2);
    err = 0;
    for (std::size_t i = 0; i < img.size(); ++i) err = std::max(err, std::abs(double(out[i] - direct[i])));
    EXPECT(err < 1e-5, "separable vs direct, mode %d: %g", (int)mode, err);
  }
}

template <typename F>
void expect_error(const char* what, const std::string& needle, F&& f) {
  try {
    f();
    EXPECT(false, "%s: no exception", what);
  } catch (const foveal::ValueError& e) {
    EXPECT(std::string(e.what()).find(needle) != std::string::npos, "%s: message '%s'", what, e.what());
  } catch (const foveal::TypeError& e) {
    EXPECT(std::string(e.what()).find(needle) != std::string::npos, "%s: message '%s'", what, e.what());
  }
}

void test_errors() {
  const std::vector<double> img(20, 0.5), psf3(3, 1.0), zero(3, 0.0), neg = {1.0, -3.0, 1.0}, big(25, 1.0);
  std::vector<double> out;
  expect_error("psf larger", "psf must be non-empty and no larger than image",
               [&] { run(img, Shape({4, 5}), big, Shape({5, 5}), out, 1); });
  expect_error("zero sum", "psf must have a sum > 0", [&] { run(img, Shape({20}), zero, Shape({3}), out, 1); });
  expect_error("negative sum", "psf must have a sum > 0", [&] { run(img, Shape({20}), neg, Shape({3}), out, 1); });
  expect_error("ndim", "psf must have as many dimensions", [&] { run(img, Shape({4, 5}), psf3, Shape({3}), out, 1); });
  expect_error("num_iter", "num_iter must be >= 1, got 0", [&] { run(img, Shape({20}), psf3, Shape({3}), out, 0); });
  expect_error("separable", "needs a rank-1 psf", [&] {
    const std::vector<double> eye = {1, 0, 0, 0, 1, 0, 0, 0, 1};
    run(img, Shape({4, 5}), eye, Shape({3, 3}), out, 1, false, 0.0, RlBoundary::Constant, RlMethod::Separable);
  });
  const std::vector<float> pf(3, 1.0f);
  out.assign(20, 0);
  expect_error("dtype", "psf", [&] {
    foveal::richardson_lucy(ConstTensorView(img.data(), DType::Float64, foveal::Device{}, Shape({20})),
                            ConstTensorView(pf.data(), DType::Float32, foveal::Device{}, Shape({3})),
                            TensorView(out.data(), DType::Float64, foveal::Device{}, Shape({20})), 1);
  });
}

int main() {
  test_one_iteration_by_hand<float>();
  test_one_iteration_by_hand<double>();
  test_delta_and_paths<float>();
  test_delta_and_paths<double>();
  test_errors();
  if (failures) std::fprintf(stderr, "%d failure(s)\n", failures);
  else std::printf("test_rl: all passed\n");
  return failures ? 1 : 0;
}
