// SPDX-License-Identifier: Apache-2.0
// C++ SDK tests of foveal::denoise_tv_chambolle: closed-form ROF minimiser, iteration counts,
// invariants and argument errors (the skimage comparisons are in tests/python/test_tv.py).
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "foveal/core/error.hpp"
#include "foveal/ops/tv.hpp"

#include "check.hpp"

using foveal::ConstTensorView;
using foveal::DType;
using foveal::Shape;
using foveal::TensorView;


template <typename T>
constexpr DType dtype_of();
template <> constexpr DType dtype_of<float>() { return DType::Float32; }
template <> constexpr DType dtype_of<double>() { return DType::Float64; }

template <typename T>
std::vector<std::int64_t> run(const std::vector<T>& in, std::vector<T>& out, const Shape& shape, double weight,
                              double eps, std::int64_t iters, int batch_dims = 0) {
  out.assign(in.size(), T(-7));
  return foveal::denoise_tv_chambolle(ConstTensorView(in.data(), dtype_of<T>(), foveal::Device{}, shape),
                                      TensorView(out.data(), dtype_of<T>(), foveal::Device{}, shape), weight, eps,
                                      iters, batch_dims);
}

// Two pixels f = (0, 1): the ROF minimiser of |u1 - u0| + |u - f|^2 / (2 w) is (w, 1 - w) for w < 1/2.
template <typename T>
void test_two_pixel_closed_form() {
  const std::vector<T> f = {T(0), T(1)};
  std::vector<T> u;
  for (double w : {0.05, 0.1, 0.3}) {
    const auto it = run(f, u, Shape({2}), w, 0.0, 400);
    EXPECT(it.size() == 1 && it[0] == 400, "eps = 0 runs every iteration, got %lld", (long long)it[0]);
    EXPECT(std::abs(u[0] - w) < 1e-5 && std::abs(u[1] - (1 - w)) < 1e-5, "w=%g: u = (%.9g, %.9g)", w, (double)u[0],
           (double)u[1]);
  }
  // First iterate by hand: p = -tau / (1 + tau/w), u = (-p, 1 + p) with tau = 1/2.
  run(f, u, Shape({2}), 0.1, 0.0, 2);
  EXPECT(std::abs(u[0] - 1.0 / 12) < 1e-7 && std::abs(u[1] - 11.0 / 12) < 1e-7, "u1 = (%.9g, %.9g)", (double)u[0],
         (double)u[1]);
}

template <typename T>
void test_invariants() {
  std::vector<T> c(6 * 7 * 5, T(0.25)), u;
  const auto it = run(c, u, Shape({6, 7, 5}), 0.2, 2e-4, 25);
  EXPECT(it[0] == 25, "constant image: E_0 = 0 never stops early, got %lld", (long long)it[0]);
  bool same = true;
  for (std::size_t i = 0; i < c.size(); ++i) same = same && u[i] == c[i];
  EXPECT(same, "constant image must come back unchanged");
  std::vector<T> r(40 * 30);
  for (std::size_t i = 0; i < r.size(); ++i) r[i] = static_cast<T>(std::sin(0.37 * i) + 0.01 * (i % 13));
  run(r, u, Shape({40, 30}), 0.1, 2e-4, 1);
  same = true;
  for (std::size_t i = 0; i < r.size(); ++i) same = same && u[i] == r[i];
  EXPECT(same, "one iteration returns the image");
  const auto k = run(r, u, Shape({40, 30}), 0.1, 2e-4, 200);
  EXPECT(k[0] > 1 && k[0] < 200, "default eps stops early on a noisy image, got %lld", (long long)k[0]);
  // channels are independent problems with their own counts
  std::vector<T> two(r);
  two.resize(2 * r.size(), T(0.25));  // channel 1 is constant
  std::vector<T> u2;
  const auto k2 = run(two, u2, Shape({2, 40, 30}), 0.1, 2e-4, 200, 1);
  EXPECT(k2.size() == 2 && k2[0] == k[0] && k2[1] == 200, "batch counts %lld %lld", (long long)k2[0],
         (long long)k2[1]);
}

void expect_value_error(const char* what, const std::string& needle, double w, double eps, std::int64_t it,
                        const Shape& shape, int batch_dims) {
  std::vector<float> f(static_cast<std::size_t>(shape.numel()) + 1, 0.f), u(f.size());
  try {
    foveal::denoise_tv_chambolle(ConstTensorView(f.data(), DType::Float32, foveal::Device{}, shape),
                                 TensorView(u.data(), DType::Float32, foveal::Device{}, shape), w, eps, it,
                                 batch_dims);
    EXPECT(false, "%s: no error", what);
  } catch (const foveal::ValueError& e) {
    EXPECT(std::string(e.what()).find(needle) != std::string::npos, "%s: message '%s'", what, e.what());
  }
}

void test_errors() {
  expect_value_error("negative weight", "denoise_tv_chambolle: weight must be", -1, 0, 5, Shape({4, 4}), 0);
  expect_value_error("NaN weight", "weight must be", std::nan(""), 0, 5, Shape({4, 4}), 0);
  expect_value_error("negative eps", "eps must be", 0.1, -1, 5, Shape({4, 4}), 0);
  expect_value_error("zero iterations", "max_num_iter must be >= 1, got 0", 0.1, 0, 0, Shape({4, 4}), 0);
  expect_value_error("no spatial axis", "spatial dimensions", 0.1, 0, 5, Shape({4}), 1);
  expect_value_error("bad batch_dims", "batch_dims must be 0 or 1", 0.1, 0, 5, Shape({4, 4}), 2);
}

int main() {
  test_two_pixel_closed_form<float>();
  test_two_pixel_closed_form<double>();
  test_invariants<float>();
  test_invariants<double>();
  test_errors();
  if (failures) std::fprintf(stderr, "%d failure(s)\n", failures);
  return failures ? 1 : 0;
}
