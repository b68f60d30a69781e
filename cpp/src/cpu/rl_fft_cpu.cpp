// SPDX-License-Identifier: Apache-2.0
// Richardson-Lucy with FFT convolutions. Both convolutions are circular on the padded lengths P
// (rl_plan's fft_n) with the kernel centred on the circle: psf[m] sits at (m - c) mod P per axis,
// c = (k - 1) / 2 (scipy's 'same' start), and the flipped psf likewise. Output i then reads the
// signal at i - (m - c), i.e. in [-(k-1-c), n-1+c]; the buffers hold the signal at [0, n) and
// what the boundary mode puts at those other indices (zeros, reflection; 'wrap' has P = n), so
// the in-range outputs are exactly the 'same' convolution of the direct path. For odd k the
// flipped psf's spectrum is the conjugate of the psf's; an even k needs its own (one more phase).
#include <algorithm>
#include <complex>
#include <cstdint>
#include <vector>

#include "cpu/fft_cpu.hpp"
#include "cpu/parallel.hpp"
#include "cpu/rl_fft_cpu.hpp"
#include "foveal/math/rl.hpp"

namespace foveal::cpu {
namespace {

using fft::Cx;

// Source index along one axis for every buffer position (math::rl_fft_source).
std::vector<std::int64_t> axis_sources(std::int64_t n, std::int64_t k, std::int64_t P, int mode) {
  std::vector<std::int64_t> src(static_cast<std::size_t>(P));
  for (std::int64_t j = 0; j < P; ++j) src[j] = math::rl_fft_source(j, n, k, P, mode);
  return src;
}

template <typename T>
struct RlFft {
  std::int64_t n[3], P[3];
  std::vector<std::int64_t> src[3];
  int threads;

  // Rewrites every position outside the image region from its source (or zero).
  void fill_pads(T* buf) const {
    const std::int64_t rows = P[0] * P[1];
    parallel_for(0, n[0] * n[1], threads, 64, [&](std::int64_t r) {  // in-range rows: their own x-pads
      T* row = buf + ((r / n[1]) * P[1] + r % n[1]) * P[2];
      for (std::int64_t x = n[2]; x < P[2]; ++x) row[x] = src[2][x] < 0 ? T(0) : row[src[2][x]];
    });
    parallel_for(0, rows, threads, 64, [&](std::int64_t r) {  // other rows: copies of in-range ones
      const std::int64_t j0 = r / P[1], j1 = r % P[1];
      if (j0 < n[0] && j1 < n[1]) return;
      T* row = buf + r * P[2];
      const std::int64_t s0 = src[0][j0], s1 = src[1][j1];
      if (s0 < 0 || s1 < 0) {
        std::fill(row, row + P[2], T(0));
      } else {
        const T* s = buf + (s0 * P[1] + s1) * P[2];
        std::copy(s, s + P[2], row);
      }
    });
  }
};

template <typename T>
void multiply(Cx<T>* a, const Cx<T>* b, std::int64_t size, bool conj_b, int threads) {
  constexpr std::int64_t kChunk = 4096;
  parallel_for(0, (size + kChunk - 1) / kChunk, threads, 4, [&](std::int64_t c) {
    const std::int64_t lo = c * kChunk, hi = std::min(size, lo + kChunk);
    const T s = conj_b ? T(-1) : T(1);
#pragma omp simd
    for (std::int64_t i = lo; i < hi; ++i) {
      const T ar = a[i].re, ai = a[i].im, br = b[i].re, bi = s * b[i].im;
      a[i] = {ar * br - ai * bi, ar * bi + ai * br};
    }
  });
}

}  // namespace

template <typename T>
RlMethod rl_fft(const T* image, const ::foveal::detail::RlPlan& plan, T* out, const ExecContext& ctx) {
  const int num_threads = ctx.num_threads;
  const auto& args = plan.args;
  const int mode = static_cast<int>(args.mode);
  RlFft<T> c;
  c.threads = num_threads;
  for (int a = 0; a < 3; ++a) {
    c.n[a] = plan.n[a];
    c.P[a] = plan.fft_n[a];
    c.src[a] = axis_sources(c.n[a], plan.k[a], c.P[a], mode);
  }
  const std::int64_t P0 = c.P[0], P1 = c.P[1], P2 = c.P[2], total = P0 * P1 * P2;
  const fft::PlanNd<T> tr({P0, P1, P2}, 3, true);
  const std::int64_t csize = tr.complex_size();

  // Spectra of the psf and (even sizes) of the flipped psf, centred on the circle, with the
  // inverse transform's 1 / P folded in.
  const std::int64_t* k = plan.k;
  bool odd = true;
  for (int a = 0; a < 3; ++a) odd = odd && k[a] % 2 == 1;
  std::vector<T> work(static_cast<std::size_t>(total));
  std::vector<Cx<T>> H(static_cast<std::size_t>(csize)), G;
  auto spectrum = [&](bool flip, std::vector<Cx<T>>& S) {
    std::fill(work.begin(), work.end(), T(0));
    for (std::int64_t i = 0; i < k[0]; ++i)
      for (std::int64_t j = 0; j < k[1]; ++j)
        for (std::int64_t l = 0; l < k[2]; ++l) {
          const std::int64_t m[3] = {i, j, l};
          std::int64_t pos[3], v[3];
          for (int a = 0; a < 3; ++a) {
            v[a] = flip ? k[a] - 1 - m[a] : m[a];
            pos[a] = math::rl_fft_tap_position(m[a], k[a], c.P[a]);
          }
          work[(pos[0] * P1 + pos[1]) * P2 + pos[2]] = static_cast<T>(plan.psf[(v[0] * k[1] + v[1]) * k[2] + v[2]]);
        }
    S.resize(static_cast<std::size_t>(csize));
    tr.r2c(work.data(), S.data(), static_cast<T>(1.0 / static_cast<double>(total)), num_threads);
  };
  spectrum(false, H);
  if (!odd) spectrum(true, G);

  std::vector<T> f(static_cast<std::size_t>(total), T(0));
  std::vector<Cx<T>> spec(static_cast<std::size_t>(csize));
  const std::int64_t n0 = c.n[0], n1 = c.n[1], n2 = c.n[2];
  parallel_for(0, n0 * n1, num_threads, 64, [&](std::int64_t r) {
    T* row = f.data() + ((r / n1) * P1 + r % n1) * P2;
    std::fill(row, row + n2, T(0.5));
  });
  if (mode == 1) c.fill_pads(f.data());
  const bool filter = args.filter_epsilon != 0.0;
  const T fe = static_cast<T>(args.filter_epsilon);
  for (std::int64_t it = 0; it < args.num_iter; ++it) {
    ctx.throw_if_cancelled("richardson_lucy");
    tr.r2c(f.data(), spec.data(), T(1), num_threads);
    multiply(spec.data(), H.data(), csize, false, num_threads);
    tr.c2r(spec.data(), work.data(), T(1), num_threads);
    parallel_for(0, n0 * n1, num_threads, 64, [&](std::int64_t r) {
      T* w = work.data() + ((r / n1) * P1 + r % n1) * P2;
      const T* im = image + r * n2;
      if (filter) {
#pragma omp simd
        for (std::int64_t x = 0; x < n2; ++x) w[x] = math::rl_ratio(im[x], w[x], fe, true);
      } else {
#pragma omp simd
        for (std::int64_t x = 0; x < n2; ++x) w[x] = math::rl_ratio(im[x], w[x], fe, false);
      }
    });
    if (mode != 2) c.fill_pads(work.data());
    tr.r2c(work.data(), spec.data(), T(1), num_threads);
    if (odd) {
      multiply(spec.data(), H.data(), csize, true, num_threads);
    } else {
      multiply(spec.data(), G.data(), csize, false, num_threads);
    }
    tr.c2r(spec.data(), work.data(), T(1), num_threads);
    parallel_for(0, n0 * n1, num_threads, 64, [&](std::int64_t r) {
      const std::int64_t off = ((r / n1) * P1 + r % n1) * P2;
      T* d = f.data() + off;
      const T* w = work.data() + off;
#pragma omp simd
      for (std::int64_t x = 0; x < n2; ++x) d[x] *= w[x];
    });
    if (mode == 1) c.fill_pads(f.data());
  }
  const bool clip = args.clip;
  parallel_for(0, n0 * n1, num_threads, 64, [&](std::int64_t r) {
    const T* s = f.data() + ((r / n1) * P1 + r % n1) * P2;
    T* d = out + r * n2;
    for (std::int64_t x = 0; x < n2; ++x) d[x] = clip ? math::rl_clip(s[x]) : s[x];
  });
  return RlMethod::Fft;
}

template RlMethod rl_fft<float>(const float*, const ::foveal::detail::RlPlan&, float*, const ExecContext&);
template RlMethod rl_fft<double>(const double*, const ::foveal::detail::RlPlan&, double*, const ExecContext&);

}  // namespace foveal::cpu
