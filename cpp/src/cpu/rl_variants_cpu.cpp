// SPDX-License-Identifier: Apache-2.0
// CPU primitives of the Richardson-Lucy variants (ops/rl_variants.hpp). One padded scratch volume
// (padded by the psf extent, as the plain RL's buffers) takes the input of each convolution with
// its boundary pads; an output row is a weighted sum of shifted padded rows over the psf's
// non-zero taps, fused with the ratio or the multiplicative correction. Rows run in parallel;
// reductions keep one double partial per row and add them in order (deterministic for any
// thread count).
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include "cpu/parallel.hpp"
#include "foveal/math/rl.hpp"
#include "ops/rl_plan.hpp"
#include "ops/rl_variants.hpp"

namespace foveal::cpu {
namespace {

template <typename T>
class CpuRlKernels final : public ::foveal::detail::RlKernels<T> {
 public:
  CpuRlKernels(const T* image, T* out, const ::foveal::detail::RlVariantArgs& args, int num_threads)
      : image_(image), out_(out), args_(args), nt_(num_threads) {
    for (int a = 0; a < 3; ++a) {
      n_[a] = args.n[a];
      k_[a] = args.k[a];
      lo_[a] = math::rl_offset(k_[a]);
      N_[a] = n_[a] + k_[a] - 1;
    }
    S1_ = N_[2];
    S0_ = N_[1] * N_[2];
    rows_ = n_[0] * n_[1];
    count_ = rows_ * n_[2];
    pad_.assign(static_cast<std::size_t>(N_[0] * S0_), T(0));
    mode_ = static_cast<int>(args.mode);
    filter_ = args.filter_epsilon != 0.0;
    fe_ = static_cast<T>(args.filter_epsilon);
  }

  T* alloc() override {
    bufs_.emplace_back(static_cast<std::size_t>(count_), T(0));
    return bufs_.back().data();
  }

  void set_psf(const std::vector<double>& psf) override {
    for (int ps = 0; ps < 2; ++ps) {
      off_[ps].clear();
      w_[ps].clear();
    }
    for (std::int64_t i = 0; i < k_[0]; ++i)
      for (std::int64_t j = 0; j < k_[1]; ++j)
        for (std::int64_t l = 0; l < k_[2]; ++l) {
          const std::int64_t off = i * S0_ + j * S1_ + l;
          // Forward conv as a correlation with the flipped psf; the adjoint with the psf itself.
          const double f = psf[static_cast<std::size_t>(((k_[0] - 1 - i) * k_[1] + (k_[1] - 1 - j)) * k_[2] +
                                                         (k_[2] - 1 - l))];
          const double b = psf[static_cast<std::size_t>((i * k_[1] + j) * k_[2] + l)];
          if (f != 0.0) off_[0].push_back(off), w_[0].push_back(static_cast<T>(f));
          if (b != 0.0) off_[1].push_back(off), w_[1].push_back(static_cast<T>(b));
        }
      // Rank-1 psfs (Gaussian, box, axis-aligned motion) convolve one axis at a time when that
    // needs fewer taps: rl_plan's exact-reconstruction test and factors.
    ::foveal::detail::RlArgs pa;
    pa.method = args_.method;
    const std::int64_t n3[3] = {n_[0], n_[1], n_[2]};
    const ::foveal::detail::RlPlan plan = ::foveal::detail::rl_plan(psf, n3, k_, 3, sizeof(T) == 4, pa);
    separable_ = plan.method == RlMethod::Separable;
    if (separable_)
      for (int ps = 0; ps < 2; ++ps)
        for (int a = 0; a < 3; ++a) {
          fac_[ps][a].clear();
          for (std::int64_t m = 0; m < k_[a]; ++m)
            fac_[ps][a].push_back(static_cast<T>(plan.factor[a][ps == 0 ? k_[a] - 1 - m : m]));
        }
  }

  void ratio(const T* x, T* ratio) override {
    fill_pad(x);
    const T* im = image_;
    const T fe = fe_;
    const bool filter = filter_;
    conv_rows(0, [&](std::int64_t r, const T* acc) {
      const T* s = im + r * n_[2];
      T* d = ratio + r * n_[2];
      if (filter) {
        for (std::int64_t q = 0; q < n_[2]; ++q) d[q] = math::rl_ratio(s[q], acc[q], fe, true);
      } else {
#pragma omp simd
        for (std::int64_t q = 0; q < n_[2]; ++q) d[q] = math::rl_ratio(s[q], acc[q], fe, false);
      }
    });
  }

  void correct(const T* y, const T* ratio, const T* divisor, T* out) override {
    fill_pad(ratio);
    conv_rows(1, [&](std::int64_t r, const T* acc) {
      const T* s = y + r * n_[2];
      T* d = out + r * n_[2];
      if (divisor) {
        const T* v = divisor + r * n_[2];
#pragma omp simd
        for (std::int64_t q = 0; q < n_[2]; ++q) d[q] = math::rl_correct(s[q], acc[q], v[q]);
      } else {
#pragma omp simd
        for (std::int64_t q = 0; q < n_[2]; ++q) d[q] = s[q] * acc[q];
      }
    });
  }

  void tv_divisor(const T* x, double lambda, double floor, T* divisor) override {
    const std::int64_t n[3] = {n_[0], n_[1], n_[2]};
    const std::int64_t s[3] = {n_[1] * n_[2], n_[2], 1};
    const T lam = static_cast<T>(lambda), fl = static_cast<T>(floor);
    parallel_for(0, rows_, nt_, 16, [&](std::int64_t r) {
      std::int64_t c[3] = {r / n_[1], r % n_[1], 0};
      const std::int64_t base = r * n_[2];
      for (std::int64_t q = 0; q < n_[2]; ++q) {
        c[2] = q;
        divisor[base + q] = math::rl_tv_divisor(x, base + q, c, n, s, lam, fl);
      }
    });
  }

  void extrapolate(const T* x, const T* x_prev, double alpha, T* y) override {
    const T a = static_cast<T>(alpha);
    rows([&](std::int64_t b, std::int64_t e) {
#pragma omp simd
      for (std::int64_t i = b; i < e; ++i) y[i] = math::rl_extrapolate(x[i], x_prev[i], a);
    });
  }

  void subtract(const T* a, const T* b, T* out) override {
    rows([&](std::int64_t lo, std::int64_t hi) {
#pragma omp simd
      for (std::int64_t i = lo; i < hi; ++i) out[i] = a[i] - b[i];
    });
  }

  double dot(const T* a, const T* b) override {
    return reduce([&](std::int64_t lo, std::int64_t hi) {
      double s = 0;
      for (std::int64_t i = lo; i < hi; ++i) s += static_cast<double>(a[i]) * static_cast<double>(b[i]);
      return s;
    });
  }

  double sum(const T* a) override {
    return reduce([&](std::int64_t lo, std::int64_t hi) {
      double s = 0;
      for (std::int64_t i = lo; i < hi; ++i) s += static_cast<double>(a[i]);
      return s;
    });
  }

  void copy(const T* src, T* dst) override {
    std::memcpy(dst, src, sizeof(T) * static_cast<std::size_t>(count_));
  }

  void init_from_image(T* dst) override {
    const T* im = image_;
    rows([&](std::int64_t lo, std::int64_t hi) {
      for (std::int64_t i = lo; i < hi; ++i) dst[i] = im[i] > T(0) ? im[i] : T(0);
    });
  }

  void fill(T* dst, double value) override { std::fill(dst, dst + count_, static_cast<T>(value)); }

  std::vector<double> psf_correlation(const T* ratio, const T* x) override {
    fill_pad(x);
    const std::int64_t taps = k_[0] * k_[1] * k_[2];
    std::vector<double> corr(static_cast<std::size_t>(taps));
    // Tap j reads x[i + c - j]: padded index i + (k - 1 - j) along every axis.
    parallel_for(0, taps, nt_, 2, [&](std::int64_t t) {
      const std::int64_t j0 = t / (k_[1] * k_[2]), j1 = (t / k_[2]) % k_[1], j2 = t % k_[2];
      const T* base = pad_.data() + (k_[0] - 1 - j0) * S0_ + (k_[1] - 1 - j1) * S1_ + (k_[2] - 1 - j2);
      double s = 0;
      for (std::int64_t r = 0; r < rows_; ++r) {
        const T* a = ratio + r * n_[2];
        const T* b = base + (r / n_[1]) * S0_ + (r % n_[1]) * S1_;
        T acc = T(0);
#pragma omp simd reduction(+ : acc)
        for (std::int64_t q = 0; q < n_[2]; ++q) acc += a[q] * b[q];
        s += static_cast<double>(acc);
      }
      corr[static_cast<std::size_t>(t)] = s;
    });
    return corr;
  }

  void finish(const T* x, bool clip) override {
    T* o = out_;
    rows([&](std::int64_t lo, std::int64_t hi) {
      if (clip) {
        for (std::int64_t i = lo; i < hi; ++i) o[i] = math::rl_clip(x[i]);
      } else {
        std::memcpy(o + lo, x + lo, sizeof(T) * static_cast<std::size_t>(hi - lo));
      }
    });
  }

  std::vector<double> to_host(const T* p, std::int64_t count) override { return std::vector<double>(p, p + count); }

  void from_host(const std::vector<double>& v, T* p) override {
    for (std::size_t i = 0; i < v.size(); ++i) p[i] = static_cast<T>(v[i]);
  }

 private:
  // f(lo, hi) over the flat range, in blocks of whole rows.
  template <typename F>
  void rows(F&& f) {
    const std::int64_t n2 = n_[2];
    parallel_for(0, rows_, nt_, 64, [&](std::int64_t r) { f(r * n2, (r + 1) * n2); });
  }

  template <typename F>
  double reduce(F&& f) {
    std::vector<double> part(static_cast<std::size_t>(rows_));
    const std::int64_t n2 = n_[2];
    parallel_for(0, rows_, nt_, 64,
                 [&](std::int64_t r) { part[static_cast<std::size_t>(r)] = f(r * n2, (r + 1) * n2); });
    double s = 0;
    for (double v : part) s += v;
    return s;
  }

  // Copies v into the padded scratch and fills its pads with the boundary mode ('constant' pads
  // are never written, so they stay zero).
  void fill_pad(const T* v) {
    T* p = pad_.data();
    const std::int64_t padded_rows = N_[0] * N_[1];
    parallel_for(0, padded_rows, nt_, 64, [&](std::int64_t pr) {
      const std::int64_t z = pr / N_[1], y = pr % N_[1];
      const std::int64_t qz = z - lo_[0], qy = y - lo_[1];
      const bool inside = qz >= 0 && qz < n_[0] && qy >= 0 && qy < n_[1];
      if (!inside && mode_ == 0) return;
      const std::int64_t sz = math::rl_boundary_index(qz, n_[0], mode_);
      const std::int64_t sy = math::rl_boundary_index(qy, n_[1], mode_);
      T* row = p + z * S0_ + y * S1_;
      std::memcpy(row + lo_[2], v + (sz * n_[1] + sy) * n_[2], sizeof(T) * static_cast<std::size_t>(n_[2]));
      if (mode_ != 0) {
        for (std::int64_t q = 0; q < lo_[2]; ++q) row[q] = row[lo_[2] + math::rl_boundary_index(q - lo_[2], n_[2], mode_)];
        for (std::int64_t q = lo_[2] + n_[2]; q < N_[2]; ++q)
          row[q] = row[lo_[2] + math::rl_boundary_index(q - lo_[2], n_[2], mode_)];
      }
    });
  }

  // out[q] = sum_m w[m] src[q + m * stride] for q < len.
  static void axis_row(const T* src, std::int64_t stride, const std::vector<T>& w, T* __restrict out,
                       std::int64_t len) {
    const T w0 = w[0];
    const T* __restrict s0 = src;
#pragma omp simd
    for (std::int64_t q = 0; q < len; ++q) out[q] = w0 * s0[q];
    for (std::size_t m = 1; m < w.size(); ++m) {
      const T wm = w[m];
      if (wm == T(0)) continue;
      const T* __restrict sm = src + static_cast<std::int64_t>(m) * stride;
#pragma omp simd
      for (std::int64_t q = 0; q < len; ++q) out[q] += wm * sm[q];
    }
  }

  // Separable: axis 0 over the padded scratch into t0_ (n0 x N1 x N2; skipped when k0 = 1, the
  // scratch then is that volume), axis 1 into t1_ (n0 x n1 x N2), axis 2 into each output row.
  template <typename E>
  void conv_separable(int ps, E&& emit) {
    const std::int64_t n0 = n_[0], n1 = n_[1], n2 = n_[2], N1 = N_[1], N2 = N_[2];
    const std::vector<T>* f = fac_[ps];
    const T* a0 = pad_.data();
    std::vector<T> w1 = f[1];
    if (k_[0] == 1) {
      for (T& v : w1) v *= f[0][0];
    } else {
      t0_.resize(static_cast<std::size_t>(n0 * N1 * N2));
      T* t0 = t0_.data();
      parallel_for(0, n0 * N1, nt_, 16, [&](std::int64_t r) {
        const std::int64_t z = r / N1, y = r % N1;
        axis_row(pad_.data() + z * S0_ + y * S1_, S0_, f[0], t0 + r * N2, N2);
      });
      a0 = t0;
    }
    t1_.resize(static_cast<std::size_t>(n0 * n1 * N2));
    T* t1 = t1_.data();
    parallel_for(0, n0 * n1, nt_, 16, [&](std::int64_t r) {
      const std::int64_t z = r / n1, y = r % n1;
      axis_row(a0 + (z * N1 + y) * N2, N2, w1, t1 + r * N2, N2);
    });
    parallel_for(0, rows_, nt_, 16, [&](std::int64_t r) {
      static thread_local std::vector<T> scratch;
      if (scratch.size() < static_cast<std::size_t>(n2)) scratch.resize(static_cast<std::size_t>(n2));
      axis_row(t1 + r * N2, 1, f[2], scratch.data(), n2);
      emit(r, scratch.data());
    });
  }

  // For every output row r: acc = correlation of the padded scratch with pass ps's taps, then
  // emit(r, acc).
  template <typename E>
  void conv_rows(int ps, E&& emit) {
    if (separable_) return conv_separable(ps, emit);
    const std::int64_t* off = off_[ps].data();
    const T* w = w_[ps].data();
    const int taps = static_cast<int>(w_[ps].size());
    const std::int64_t n2 = n_[2];
    const T* p = pad_.data();
    parallel_for(0, rows_, nt_, 16, [&](std::int64_t r) {
      static thread_local std::vector<T> scratch;
      if (scratch.size() < static_cast<std::size_t>(n2)) scratch.resize(static_cast<std::size_t>(n2));
      T* __restrict acc = scratch.data();
      const T* base = p + (r / n_[1]) * S0_ + (r % n_[1]) * S1_;
      std::fill(acc, acc + n2, T(0));
      int t = 0;
      // Four taps per sweep over the row: a quarter of the accumulator traffic.
      for (; t + 4 <= taps; t += 4) {
        const T* __restrict s0 = base + off[t];
        const T* __restrict s1 = base + off[t + 1];
        const T* __restrict s2 = base + off[t + 2];
        const T* __restrict s3 = base + off[t + 3];
        const T w0 = w[t], w1 = w[t + 1], w2 = w[t + 2], w3 = w[t + 3];
#pragma omp simd
        for (std::int64_t q = 0; q < n2; ++q) acc[q] += (w0 * s0[q] + w1 * s1[q]) + (w2 * s2[q] + w3 * s3[q]);
      }
      for (; t < taps; ++t) {
        const T* __restrict s = base + off[t];
        const T wt = w[t];
#pragma omp simd
        for (std::int64_t q = 0; q < n2; ++q) acc[q] += wt * s[q];
      }
      emit(r, acc);
    });
  }

  const T* image_;
  T* out_;
  ::foveal::detail::RlVariantArgs args_;
  int nt_;
  std::int64_t n_[3], k_[3], lo_[3], N_[3], S0_, S1_, rows_, count_;
  int mode_;
  bool filter_;
  T fe_;
  std::vector<T> pad_;
  std::vector<std::vector<T>> bufs_;
  std::vector<std::int64_t> off_[2];
  std::vector<T> w_[2];
  bool separable_ = false;
  std::vector<T> fac_[2][3];  // pass -> axis -> weights by offset (pass 0 flipped)
  std::vector<T> t0_, t1_;
};

}  // namespace

std::unique_ptr<::foveal::detail::RlKernels<float>> rl_kernels_f32(const float* image, float* out,
                                                                    const ::foveal::detail::RlVariantArgs& args,
                                                                    const ExecContext& ctx) {
  return std::make_unique<CpuRlKernels<float>>(image, out, args, ctx.num_threads);
}

std::unique_ptr<::foveal::detail::RlKernels<double>> rl_kernels_f64(const double* image, double* out,
                                                                     const ::foveal::detail::RlVariantArgs& args,
                                                                     const ExecContext& ctx) {
  return std::make_unique<CpuRlKernels<double>>(image, out, args, ctx.num_threads);
}

}  // namespace foveal::cpu
