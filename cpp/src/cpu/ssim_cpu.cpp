// SPDX-License-Identifier: Apache-2.0
// Structural similarity on the CPU. The five windowed moments (<x>, <y>, <x^2>, <y^2>, <xy>) are
// separable filters: the last axis first, fused with the products (one padded line per map), then
// every other axis as a weighted sum of whole rows (vectorised along the contiguous elements). All
// in float64; boundaries are scipy.ndimage's 'reflect' (d c b a | a b c d | d c b a), applied as
// often as a window wider than the image needs.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "cpu/parallel.hpp"
#include "cpu/simd.hpp"
#include "foveal/math/ssim.hpp"
#include "ops/backend.hpp"

namespace foveal::cpu {
namespace {

// scipy.ndimage 'reflect' index of j on an axis of length n.
inline std::int64_t reflect(std::int64_t j, std::int64_t n) {
  const std::int64_t m = ((j % (2 * n)) + 2 * n) % (2 * n);
  return m < n ? m : 2 * n - 1 - m;
}

struct Taps {
  std::vector<double> w;  // 2r + 1 weights
  std::int64_t r = 0;
};

// The last axis, lines [l0, l1) of length L: out_m[line] = taps * pad(src_m[line]) for the maps a
// line loader produces. `pad` holds `nm` padded lines of L + 2r.
template <typename T>
FOVEAL_ALWAYS_INLINE void conv_line(const double* pad, std::int64_t L, const Taps* tp, double* out) {
  const double* w = tp->w.data();
  const std::int64_t K = 2 * tp->r + 1;
#pragma omp simd
  for (std::int64_t j = 0; j < L; ++j) out[j] = w[0] * pad[j];
  for (std::int64_t k = 1; k < K; ++k) {
    const double wk = w[k];
    const double* p = pad + k;
#pragma omp simd
    for (std::int64_t j = 0; j < L; ++j) out[j] += wk * p[j];
  }
}

template <typename T>
struct MomentJob {
  const T* x;
  const T* y;
  double* maps;  // 5 maps of N
  std::int64_t L, N;
  const Taps* tp;
};

template <typename T>
FOVEAL_ALWAYS_INLINE void moments_rows_body(const MomentJob<T>* jb, std::int64_t l0, std::int64_t l1) {
  const std::int64_t L = jb->L, r = jb->tp->r, LP = L + 2 * r, N = jb->N;
  std::vector<double> pad(static_cast<std::size_t>(5 * LP));
  std::vector<std::int64_t> idx(static_cast<std::size_t>(LP));
  for (std::int64_t j = 0; j < LP; ++j) idx[j] = reflect(j - r, L);
  for (std::int64_t l = l0; l < l1; ++l) {
    const T* x = jb->x + l * L;
    const T* y = jb->y + l * L;
    double* p = pad.data();
    for (std::int64_t j = 0; j < LP; ++j) {
      const double a = static_cast<double>(x[idx[j]]), b = static_cast<double>(y[idx[j]]);
      p[j] = a;
      p[LP + j] = b;
      p[2 * LP + j] = a * a;
      p[3 * LP + j] = b * b;
      p[4 * LP + j] = a * b;
    }
    for (int m = 0; m < 5; ++m) conv_line<T>(p + m * LP, L, jb->tp, jb->maps + m * N + l * L);
  }
}
FOVEAL_SIMD_VARIANTS(moments_rows, moments_rows_body, (const MomentJob<T>* jb, std::int64_t l0, std::int64_t l1),
                     (jb, l0, l1))

// The last axis of `nm` float64 maps (the gradient's), lines [l0, l1).
struct LineJob {
  const double* in;
  double* out;
  int nm;
  std::int64_t L, N;
  const Taps* tp;
};

template <typename T>
FOVEAL_ALWAYS_INLINE void filter_rows_body(const LineJob* jb, std::int64_t l0, std::int64_t l1) {
  const std::int64_t L = jb->L, r = jb->tp->r, LP = L + 2 * r;
  std::vector<double> pad(static_cast<std::size_t>(LP));
  std::vector<std::int64_t> idx(static_cast<std::size_t>(LP));
  for (std::int64_t j = 0; j < LP; ++j) idx[j] = reflect(j - r, L);
  for (int m = 0; m < jb->nm; ++m)
    for (std::int64_t l = l0; l < l1; ++l) {
      const double* s = jb->in + m * jb->N + l * L;
      for (std::int64_t j = 0; j < LP; ++j) pad[j] = s[idx[j]];
      conv_line<T>(pad.data(), L, jb->tp, jb->out + m * jb->N + l * L);
    }
}
FOVEAL_SIMD_VARIANTS(filter_rows, filter_rows_body, (const LineJob* jb, std::int64_t l0, std::int64_t l1),
                     (jb, l0, l1))

// A non-last axis: maps viewed as (outer, L, inner); rows q = o * L + i of `inner` elements,
// out row = sum_k w_k in row (o, reflect(i - r + k)).
struct AxisJob {
  const double* in;
  double* out;
  int nm;
  std::int64_t L, inner, N;
  const Taps* tp;
};

template <typename T>
FOVEAL_ALWAYS_INLINE void filter_axis_body(const AxisJob* jb, std::int64_t q0, std::int64_t q1) {
  const std::int64_t L = jb->L, I = jb->inner, r = jb->tp->r, K = 2 * r + 1;
  const double* w = jb->tp->w.data();
  for (int m = 0; m < jb->nm; ++m) {
    const double* in = jb->in + m * jb->N;
    double* outm = jb->out + m * jb->N;
    for (std::int64_t q = q0; q < q1; ++q) {
      const std::int64_t o = q / L, i = q % L;
      const double* base = in + o * L * I;
      double* d = outm + q * I;
      const double* s0 = base + reflect(i - r, L) * I;
      const double w0 = w[0];
#pragma omp simd
      for (std::int64_t e = 0; e < I; ++e) d[e] = w0 * s0[e];
      for (std::int64_t k = 1; k < K; ++k) {
        const double* s = base + reflect(i - r + k, L) * I;
        const double wk = w[k];
#pragma omp simd
        for (std::int64_t e = 0; e < I; ++e) d[e] += wk * s[e];
      }
    }
  }
}
FOVEAL_SIMD_VARIANTS(filter_axis, filter_axis_body, (const AxisJob* jb, std::int64_t q0, std::int64_t q1),
                     (jb, q0, q1))

// Per pixel of lines [l0, l1): SSIM into `full` (T), the gradient maps into gm (3 maps, when
// non-null), and the sum of SSIM over the lines' cropped interior into *sum.
template <typename T>
struct PixelJob {
  const double* maps;  // ux, uy, uxx, uyy, uxy
  T* full;
  double* gm;
  std::int64_t L, N, pad;
  const unsigned char* interior;  // per line: inside the crop along every non-last axis
  math::SsimConstants k;
};

template <typename T>
FOVEAL_ALWAYS_INLINE void pixels_body(const PixelJob<T>* jb, std::int64_t l0, std::int64_t l1, double* sum) {
  const std::int64_t L = jb->L, N = jb->N, pd = jb->pad;
  const math::SsimConstants k = jb->k;
  double acc = 0;
  for (std::int64_t l = l0; l < l1; ++l) {
    const std::int64_t b = l * L;
    const double* ux = jb->maps + b;
    const double* uy = ux + N;
    const double* uxx = uy + N;
    const double* uyy = uxx + N;
    const double* uxy = uyy + N;
    T* f = jb->full ? jb->full + b : nullptr;
    double* g0 = jb->gm ? jb->gm + b : nullptr;
    const bool in = jb->interior[l] != 0;
    double e = 0;
#pragma omp simd reduction(+ : e)
    for (std::int64_t j = 0; j < L; ++j) {
      const math::SsimTerms<double> t = math::ssim_terms(ux[j], uy[j], uxx[j], uyy[j], uxy[j], k);
      if (f) f[j] = static_cast<T>(t.s);
      if (g0) math::ssim_grad_maps(ux[j], uy[j], t, &g0[j], &g0[N + j], &g0[2 * N + j]);
      e += (in && j >= pd && j < L - pd) ? t.s : 0.0;
    }
    acc += e;
  }
  *sum = acc;
}
FOVEAL_SIMD_VARIANTS(pixels, pixels_body, (const PixelJob<T>* jb, std::int64_t l0, std::int64_t l1, double* sum),
                     (jb, l0, l1, sum))

// Lines per task: about 32K elements.
std::int64_t line_chunk(std::int64_t L) { return std::max<std::int64_t>(1, (std::int64_t(1) << 15) / L); }

template <typename T>
double ssim_impl(ConstTensorView im1, ConstTensorView im2, TensorView full, TensorView grad, const SsimOptions& o,
                 int nt) {
  const int nd = im1.ndim();
  std::int64_t dims[8];
  for (int a = 0; a < nd; ++a) dims[a] = im1.size(a);
  const std::int64_t N = im1.numel(), L = dims[nd - 1], lines = N / L;
  Taps tp;
  if (o.gaussian_weights) {
    if (o.sigma > 1e-15) {  // scipy skips an axis with a smaller sigma
      tp.r = math::ssim_gaussian_radius(o.sigma, o.truncate);
      double s = 0;
      for (std::int64_t i = -tp.r; i <= tp.r; ++i) {
        const double v = std::exp(-0.5 / (o.sigma * o.sigma) * static_cast<double>(i * i));
        tp.w.push_back(v);
        s += v;
      }
      for (double& v : tp.w) v /= s;
    } else {
      tp.w = {1.0};
    }
  } else {
    tp.r = (o.win_size - 1) / 2;
    tp.w.assign(static_cast<std::size_t>(o.win_size), 1.0 / static_cast<double>(o.win_size));
  }
  const std::int64_t chunk = line_chunk(L), tasks = (lines + chunk - 1) / chunk;
  std::vector<double> A(static_cast<std::size_t>(5 * N)), B(static_cast<std::size_t>(5 * N));
  // Filters maps in `cur` (already filtered along the last axis) along the other axes; returns the
  // buffer holding the result (`cur` or `other`).
  auto other_axes = [&](int nm, double* cur, double* other) {
    const auto run = filter_axis<T>();
    std::int64_t inner = L;
    for (int a = nd - 2; a >= 0; --a) {
      const std::int64_t La = dims[a];
      const AxisJob jb{cur, other, nm, La, inner, N, &tp};
      const std::int64_t rows = N / inner, rc = std::max<std::int64_t>(1, (std::int64_t(1) << 15) / inner);
      parallel_for(0, (rows + rc - 1) / rc, nt, 2,
                   [&](std::int64_t t) { run(&jb, t * rc, std::min(rows, (t + 1) * rc)); });
      std::swap(cur, other);
      inner *= La;
    }
    return cur;
  };
  {
    const MomentJob<T> jb{im1.data_as<T>(), im2.data_as<T>(), A.data(), L, N, &tp};
    const auto run = moments_rows<T>();
    parallel_for(0, tasks, nt, 2, [&](std::int64_t t) { run(&jb, t * chunk, std::min(lines, (t + 1) * chunk)); });
  }
  const double* maps = other_axes(5, A.data(), B.data());
  double* spare = maps == A.data() ? B.data() : A.data();
  // Lines inside the crop along every non-last axis.
  const std::int64_t pd = (o.win_size - 1) / 2;
  std::vector<unsigned char> interior(static_cast<std::size_t>(lines));
  for (std::int64_t l = 0; l < lines; ++l) {
    bool in = true;
    std::int64_t q = l;
    for (int a = nd - 2; a >= 0; --a) {
      const std::int64_t c = q % dims[a];
      q /= dims[a];
      in = in && c >= pd && c < dims[a] - pd;
    }
    interior[l] = in ? 1 : 0;
  }
  const double np_ = std::pow(static_cast<double>(o.win_size), nd);
  math::SsimConstants k{(o.k1 * o.data_range) * (o.k1 * o.data_range), (o.k2 * o.data_range) * (o.k2 * o.data_range),
                        o.use_sample_covariance ? np_ / (np_ - 1) : 1.0};
  const bool want_grad = grad.data() != nullptr;
  // The three gradient maps go to the spare buffer.
  const PixelJob<T> pj{maps, full.data() ? full.data_as<T>() : nullptr, want_grad ? spare : nullptr, L, N, pd,
                       interior.data(), k};
  std::vector<double> part(static_cast<std::size_t>(tasks));
  {
    const auto run = pixels<T>();
    parallel_for(0, tasks, nt, 2,
                 [&](std::int64_t t) { run(&pj, t * chunk, std::min(lines, (t + 1) * chunk), &part[t]); });
  }
  double total = 0;
  for (double v : part) total += v;
  std::int64_t count = 1;
  for (int a = 0; a < nd; ++a) count *= dims[a] - 2 * pd;
  const double mean = total / static_cast<double>(count);
  if (want_grad) {
    // The moments are no longer needed: their buffer takes the filtered gradient maps.
    double* fm = const_cast<double*>(maps);
    const LineJob lj{spare, fm, 3, L, N, &tp};
    const auto run = filter_rows<T>();
    parallel_for(0, tasks, nt, 2, [&](std::int64_t t) { run(&lj, t * chunk, std::min(lines, (t + 1) * chunk)); });
    const double* f = other_axes(3, fm, spare);
    const T* x = im1.data_as<T>();
    const T* y = im2.data_as<T>();
    T* g = grad.data_as<T>();
    const double scale = 2.0 / static_cast<double>(N);
    parallel_for(0, tasks, nt, 2, [&](std::int64_t t) {
      const std::int64_t e0 = t * chunk * L, e1 = std::min(lines, (t + 1) * chunk) * L;
      for (std::int64_t e = e0; e < e1; ++e)
        g[e] = static_cast<T>(((f[e] * static_cast<double>(x[e]) + f[N + e] * static_cast<double>(y[e])) + f[2 * N + e]) *
                              scale);
    });
  }
  return mean;
}

}  // namespace

double structural_similarity(ConstTensorView im1, ConstTensorView im2, TensorView full, TensorView grad,
                             const SsimOptions& options, const ExecContext& ctx) {
  if (im1.dtype() == DType::Float32) return ssim_impl<float>(im1, im2, full, grad, options, ctx.num_threads);
  return ssim_impl<double>(im1, im2, full, grad, options, ctx.num_threads);
}

}  // namespace foveal::cpu
