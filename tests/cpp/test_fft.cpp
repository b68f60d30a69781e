// SPDX-License-Identifier: Apache-2.0
// C++ tests of the FFT: every length 1..130 and a few large / prime ones against a direct DFT in
// long double, real transforms against the complex ones, round trips, n-D separability, the
// SDK's norms and argument errors (numpy comparisons are in tests/python/test_fft.py).
#include <cmath>
#include <complex>
#include <cstdint>
#include <cstdio>
#include <random>
#include <vector>

#include "check.hpp"
#include "cpu/fft_cpu.hpp"
#include "foveal/core/error.hpp"
#include "foveal/ops/fft.hpp"

using foveal::ConstTensorView;
using foveal::DType;
using foveal::FftNorm;
using foveal::Shape;
using foveal::TensorView;
namespace fft = foveal::cpu::fft;

template <typename T>
constexpr DType dtype_of();
template <> constexpr DType dtype_of<float>() { return DType::Float32; }
template <> constexpr DType dtype_of<double>() { return DType::Float64; }
using LC = std::complex<long double>;

template <typename T>
std::vector<fft::Cx<T>> random_signal(std::int64_t n, std::mt19937& g) {
  std::normal_distribution<double> d;
  std::vector<fft::Cx<T>> x(static_cast<std::size_t>(n));
  for (auto& v : x) v = {static_cast<T>(d(g)), static_cast<T>(d(g))};
  return x;
}

// Direct DFT in long double, relative error of `got` in the max norm.
template <typename T>
double dft_error(const std::vector<fft::Cx<T>>& x, const std::vector<fft::Cx<T>>& got, bool inverse) {
  const std::int64_t n = static_cast<std::int64_t>(x.size());
  const long double pi = 3.141592653589793238462643383279502884L;
  std::vector<LC> root(static_cast<std::size_t>(n));
  for (std::int64_t m = 0; m < n; ++m) {
    const long double a = (inverse ? 2 : -2) * pi * static_cast<long double>(m) / n;
    root[m] = LC(std::cos(a), std::sin(a));
  }
  long double err = 0, peak = 0;
  for (std::int64_t k = 0; k < n; ++k) {
    LC s = 0;
    for (std::int64_t j = 0; j < n; ++j) s += LC(x[j].re, x[j].im) * root[(j * k) % n];
    err = std::max(err, std::abs(s - LC(got[k].re, got[k].im)));
    peak = std::max(peak, std::abs(s));
  }
  return static_cast<double>(err / std::max(peak, 1e-300L));
}

template <typename T>
void test_lengths(double tol) {
  std::mt19937 g(1);
  std::vector<std::int64_t> ns;
  for (std::int64_t n = 1; n <= 130; ++n) ns.push_back(n);
  for (std::int64_t n : {211, 256, 360, 499, 997, 1000, 1024, 1331, 2048, 4096, 4099, 3 * 67, 67 * 71})
    ns.push_back(n);
  for (std::int64_t n : ns) {
    const fft::Plan<T> plan(n);
    std::vector<fft::Cx<T>> scratch(static_cast<std::size_t>(plan.scratch_size()));
    for (bool inv : {false, true}) {
      const auto x = random_signal<T>(n, g);
      auto y = x;
      plan.execute(y.data(), scratch.data(), inv);
      const double e = dft_error(x, y, inv);
      EXPECT(e < tol * std::log2(double(n) + 1), "n=%lld inverse=%d: relative error %g", (long long)n, (int)inv, e);
    }
    // real transforms agree with the complex one on a real signal, and round trip
    const fft::RealPlan<T> rp(n);
    std::vector<fft::Cx<T>> rs(static_cast<std::size_t>(rp.scratch_size()));
    auto x = random_signal<T>(n, g);
    std::vector<T> re(static_cast<std::size_t>(n));
    for (std::int64_t j = 0; j < n; ++j) re[j] = x[j].re, x[j].im = 0;
    std::vector<fft::Cx<T>> half(static_cast<std::size_t>(n / 2 + 1));
    rp.forward(re.data(), half.data(), rs.data());
    auto full = x;
    plan.execute(full.data(), scratch.data(), false);
    double e = 0, peak = 0;
    for (std::int64_t k = 0; k <= n / 2; ++k) {
      e = std::max(e, double(std::hypot(half[k].re - full[k].re, half[k].im - full[k].im)));
      peak = std::max(peak, double(std::hypot(full[k].re, full[k].im)));
    }
    EXPECT(e <= tol * std::log2(double(n) + 1) * peak, "real n=%lld: error %g of %g", (long long)n, e, peak);
    std::vector<T> back(static_cast<std::size_t>(n));
    rp.backward(half.data(), back.data(), rs.data(), T(1) / T(n));
    double rt = 0;
    for (std::int64_t j = 0; j < n; ++j) rt = std::max(rt, double(std::abs(back[j] - re[j])));
    EXPECT(rt < 10 * tol * std::log2(double(n) + 1), "real round trip n=%lld: error %g", (long long)n, rt);
  }
}

// 3-D complex transform of a product signal = product of the 1-D transforms; 2-D rfftn over the
// last two axes of a (2, 6, 10) batch against fftn of the same data.
template <typename T>
void test_nd(double tol) {
  std::mt19937 g(2);
  const std::int64_t a = 6, b = 7, c = 10;
  const auto u = random_signal<T>(a, g), v = random_signal<T>(b, g), w = random_signal<T>(c, g);
  std::vector<T> data(static_cast<std::size_t>(2 * a * b * c));
  auto* x = reinterpret_cast<fft::Cx<T>*>(data.data());
  auto cm = [](fft::Cx<T> p, fft::Cx<T> q) { return fft::Cx<T>{p.re * q.re - p.im * q.im, p.re * q.im + p.im * q.re}; };
  for (std::int64_t i = 0; i < a; ++i)
    for (std::int64_t j = 0; j < b; ++j)
      for (std::int64_t k = 0; k < c; ++k) x[(i * b + j) * c + k] = cm(cm(u[i], v[j]), w[k]);
  std::vector<T> out(data.size());
  foveal::fftn(ConstTensorView(data.data(), dtype_of<T>(), foveal::Device{}, Shape({a, b, c, 2})),
               TensorView(out.data(), dtype_of<T>(), foveal::Device{}, Shape({a, b, c, 2})), 3);
  auto tr = [](std::vector<fft::Cx<T>> s) {
    const fft::Plan<T> p(static_cast<std::int64_t>(s.size()));
    std::vector<fft::Cx<T>> scr(static_cast<std::size_t>(p.scratch_size()));
    p.execute(s.data(), scr.data(), false);
    return s;
  };
  const auto U = tr(u), V = tr(v), W = tr(w);
  const auto* y = reinterpret_cast<const fft::Cx<T>*>(out.data());
  double e = 0, peak = 0;
  for (std::int64_t i = 0; i < a; ++i)
    for (std::int64_t j = 0; j < b; ++j)
      for (std::int64_t k = 0; k < c; ++k) {
        const auto ref = cm(cm(U[i], V[j]), W[k]);
        const auto got = y[(i * b + j) * c + k];
        e = std::max(e, double(std::hypot(ref.re - got.re, ref.im - got.im)));
        peak = std::max(peak, double(std::hypot(ref.re, ref.im)));
      }
  EXPECT(e < 20 * tol * peak, "fftn 3-D separable product: error %g of %g", e, peak);

  // rfftn over 2 axes of a batch of two real (6, 10) arrays == fftn of the complexified data
  std::vector<T> re(2 * a * c), cx(2 * a * c * 2), half(2 * a * (c / 2 + 1) * 2), full(cx.size());
  std::normal_distribution<double> d;
  for (std::size_t i = 0; i < re.size(); ++i) re[i] = static_cast<T>(d(g)), cx[2 * i] = re[i], cx[2 * i + 1] = 0;
  foveal::rfftn(ConstTensorView(re.data(), dtype_of<T>(), foveal::Device{}, Shape({2, a, c})),
                TensorView(half.data(), dtype_of<T>(), foveal::Device{}, Shape({2, a, c / 2 + 1, 2})), 2,
                FftNorm::Ortho);
  foveal::fftn(ConstTensorView(cx.data(), dtype_of<T>(), foveal::Device{}, Shape({2, a, c, 2})),
               TensorView(full.data(), dtype_of<T>(), foveal::Device{}, Shape({2, a, c, 2})), 2, FftNorm::Ortho);
  e = 0;
  for (std::int64_t bt = 0; bt < 2; ++bt)
    for (std::int64_t i = 0; i < a; ++i)
      for (std::int64_t k = 0; k <= c / 2; ++k)
        for (int q = 0; q < 2; ++q)
          e = std::max(e, double(std::abs(half[((bt * a + i) * (c / 2 + 1) + k) * 2 + q] -
                                          full[((bt * a + i) * c + k) * 2 + q])));
  EXPECT(e < 20 * tol, "rfftn vs fftn: error %g", e);
  // irfftn(rfftn(x)) == x with the 'ortho' norm, and irfftn leaves its input intact
  const std::vector<T> half_copy = half;
  std::vector<T> back(re.size());
  foveal::irfftn(ConstTensorView(half.data(), dtype_of<T>(), foveal::Device{}, Shape({2, a, c / 2 + 1, 2})),
                 TensorView(back.data(), dtype_of<T>(), foveal::Device{}, Shape({2, a, c})), 2, FftNorm::Ortho);
  e = 0;
  for (std::size_t i = 0; i < re.size(); ++i) e = std::max(e, double(std::abs(back[i] - re[i])));
  EXPECT(e < 20 * tol, "irfftn round trip: error %g", e);
  EXPECT(half == half_copy, "irfftn modified its input");
}

void test_good_size() {
  EXPECT(fft::good_size(1) == 1 && fft::good_size(7) == 8 && fft::good_size(31) == 32 && fft::good_size(541) == 576,
         "good_size(541) = %lld", (long long)fft::good_size(541));
  EXPECT(fft::good_size(7, true) == 8 && fft::good_size(9, true) == 10 && fft::good_size(25, true) == 30,
         "good_size even: %lld %lld", (long long)fft::good_size(9, true), (long long)fft::good_size(25, true));
  for (std::int64_t n = 1; n < 2000; ++n) {
    std::int64_t m = fft::good_size(n), r = m;
    for (int p : {2, 3, 5})
      while (r % p == 0) r /= p;
    bool smallest = true;
    for (std::int64_t k = n; k < m && smallest; ++k) {
      std::int64_t q = k;
      for (int p : {2, 3, 5})
        while (q % p == 0) q /= p;
      smallest = q != 1;
    }
    EXPECT(m >= n && r == 1 && smallest, "good_size(%lld) = %lld", (long long)n, (long long)m);
  }
}

void test_errors() {
  std::vector<double> a(40), b(40);
  std::vector<float> f(40);
  auto v = [](std::vector<double>& x, Shape s) { return TensorView(x.data(), DType::Float64, foveal::Device{}, s); };
  EXPECT_THROWS(foveal::ValueError, "trailing axis of length 2",
                foveal::fftn(v(a, Shape({4, 10})), v(b, Shape({4, 10})), 1));
  EXPECT_THROWS(foveal::ValueError, "naxes must be in [1, 2]",
                foveal::fftn(v(a, Shape({4, 5, 2})), v(b, Shape({4, 5, 2})), 3));
  EXPECT_THROWS(foveal::ValueError, "out must have shape",
                foveal::fftn(v(a, Shape({4, 5, 2})), v(b, Shape({5, 4, 2})), 1));
  EXPECT_THROWS(foveal::TypeError, "dtype",
                foveal::fftn(v(a, Shape({4, 5, 2})),
                             TensorView(f.data(), DType::Float32, foveal::Device{}, Shape({4, 5, 2})), 1));
  EXPECT_THROWS(foveal::ValueError, "n / 2 + 1",
                foveal::rfftn(v(a, Shape({4, 10})), v(b, Shape({4, 5, 2})), 1));
  EXPECT_THROWS(foveal::ValueError, "length >= 1",
                foveal::rfftn(v(a, Shape({4, 0})), v(b, Shape({4, 1, 2})), 1));
}

int main() {
  test_lengths<double>(1e-15);
  test_lengths<float>(2e-7);
  test_nd<double>(1e-15);
  test_nd<float>(2e-7);
  test_good_size();
  test_errors();
  if (failures) std::fprintf(stderr, "%d failure(s)\n", failures);
  else std::printf("test_fft: all passed\n");
  return failures ? 1 : 0;
}
