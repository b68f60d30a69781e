// SPDX-License-Identifier: Apache-2.0
// Structural similarity on the CPU. The five windowed moments (<x>, <y>, <x^2>, <y^2>, <xy>) are
// separable filters: the last axis first, fused with the products (one padded line per map), then
// every other axis as a weighted sum of whole rows (vectorised along the contiguous elements). All
// in float64; boundaries are scipy.ndimage's 'reflect' (d c b a | a b c d | d c b a), applied as
// often as a window wider than the image needs.
#include <algorithm>
#include <atomic>
#include <memory>
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

// The last axis of `nm` float64 maps (the gradient's), lines [l0, l1); maps n_in / n_out apart.
struct LineJob {
  const double* in;
  double* out;
  int nm;
  std::int64_t L, n_in, n_out;
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
      const double* s = jb->in + m * jb->n_in + l * L;
      for (std::int64_t j = 0; j < LP; ++j) pad[j] = s[idx[j]];
      conv_line<T>(pad.data(), L, jb->tp, jb->out + m * jb->n_out + l * L);
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
  const double* maps;  // ux, uy, uxx, uyy, uxy, N apart
  T* full;
  double* gm;          // gn apart
  std::int64_t L, N, pad, gn;
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
      if (g0) math::ssim_grad_maps(ux[j], uy[j], t, &g0[j], &g0[jb->gn + j], &g0[2 * jb->gn + j]);
      e += (in && j >= pd && j < L - pd) ? t.s : 0.0;
    }
    acc += e;
  }
  *sum = acc;
}
FOVEAL_SIMD_VARIANTS(pixels, pixels_body, (const PixelJob<T>* jb, std::int64_t l0, std::int64_t l1, double* sum),
                     (jb, l0, l1, sum))

// out[e] = sum_k w_k base[k stride + e] for e < len: axis 0 over planes already gathered in order.
struct WsumJob {
  const double* base;
  std::int64_t stride, len;
  const Taps* tp;
  double* out;
};

template <typename T>
FOVEAL_ALWAYS_INLINE void wsum_body(const WsumJob* jb) {
  const double* w = jb->tp->w.data();
  const std::int64_t K = 2 * jb->tp->r + 1, n = jb->len;
  double* d = jb->out;
  const double* b = jb->base;
  const double w0 = w[0];
#pragma omp simd
  for (std::int64_t e = 0; e < n; ++e) d[e] = w0 * b[e];
  for (std::int64_t k = 1; k < K; ++k) {
    const double* sk = b + k * jb->stride;
    const double wk = w[k];
#pragma omp simd
    for (std::int64_t e = 0; e < n; ++e) d[e] += wk * sk[e];
  }
}
FOVEAL_SIMD_VARIANTS(wsum, wsum_body, (const WsumJob* jb), (jb))

// Lines per task: about 32K elements.
std::int64_t line_chunk(std::int64_t L) { return std::max<std::int64_t>(1, (std::int64_t(1) << 15) / L); }

// Images of 2+ dimensions, slab by slab along axis 0 (so that the float64 moment maps stay a few
// MB per thread instead of 10 maps of the whole image): a slab of `band` output planes gathers the
// band + 2r input planes it needs (reflected at the ends), each filtered along axes 1.. ; axis 0 is
// then a weighted sum of whole planes, fed straight to the per-pixel formula. The gradient takes a
// second round over the three gradient maps. Plane sums are added in slab order (the slabs do
// not depend on the thread count).
template <typename T>
struct SlabCtx {
  const T* x;
  const T* y;
  T* full;
  T* grad;
  const std::int64_t* dims;
  int nd;
  std::int64_t N, P, X, L, band, pd;
  const Taps* tp;
  const unsigned char* interior;
  math::SsimConstants k;
  int nt;
};

template <typename T>
double ssim_slabs(const SlabCtx<T>& c) {
  const std::int64_t N = c.N, P = c.P, X = c.X, L = c.L, r = c.tp->r, band = c.band;
  const std::int64_t S = (X + band - 1) / band, lines = P / L;
  const std::int64_t per = (band + 2 * r + 2) * 5 * P;  // input planes, scratch, output plane
  const std::int64_t nbuf = std::min<std::int64_t>(S, max_threads(c.nt));
  std::unique_ptr<double[]> bufs(new double[static_cast<std::size_t>(nbuf * per)]);
  std::unique_ptr<std::atomic<bool>[]> busy(new std::atomic<bool>[static_cast<std::size_t>(nbuf)]);
  for (std::int64_t b = 0; b < nbuf; ++b) busy[b].store(false);
  std::unique_ptr<double[]> gm(c.grad ? new double[static_cast<std::size_t>(3 * N)] : nullptr);
  const auto run_mom = moments_rows<T>();
  const auto run_rows = filter_rows<T>();
  const auto run_axis = filter_axis<T>();
  const auto run_wsum = wsum<T>();
  const auto run_pix = pixels<T>();
  // Plane xs of the moments (K = 5) or the gradient maps (K = 3), filtered along axes 1.. into
  // dst (K maps P apart); the middle axes alternate with tmp, starting where they end in dst.
  auto load = [&](int K, std::int64_t xs, double* dst, double* tmp) {
    double* a = (c.nd - 2) % 2 == 0 ? dst : tmp;
    double* b = a == dst ? tmp : dst;
    if (K == 5) {
      const MomentJob<T> jb{c.x + xs * P, c.y + xs * P, a, L, P, c.tp};
      run_mom(&jb, 0, lines);
    } else {
      const LineJob lj{gm.get() + xs * P, a, 3, L, N, P, c.tp};
      run_rows(&lj, 0, lines);
    }
    std::int64_t inner = L;
    for (int ax = c.nd - 2; ax >= 1; --ax) {
      const AxisJob aj{a, b, K, c.dims[ax], inner, P, c.tp};
      run_axis(&aj, 0, P / inner);
      std::swap(a, b);
      inner *= c.dims[ax];
    }
  };
  std::vector<double> part(static_cast<std::size_t>(S), 0.0);
  const double scale = 2.0 / static_cast<double>(N);
  auto round = [&](int K) {
    parallel_for_dynamic(0, S, c.nt, 2, [&](std::int64_t s) {
      std::int64_t b = 0;
      for (;; b = (b + 1) % nbuf)
        if (!busy[b].load(std::memory_order_relaxed) && !busy[b].exchange(true, std::memory_order_acquire)) break;
      double* in = bufs.get() + b * per;
      const std::int64_t x0 = s * band, x1 = std::min(X, x0 + band), nin = x1 - x0 + 2 * r;
      double* tmp = in + nin * K * P;
      double* plane = tmp + K * P;
      for (std::int64_t j = 0; j < nin; ++j) load(K, reflect(x0 - r + j, X), in + j * K * P, tmp);
      double acc = 0;
      for (std::int64_t xo = x0; xo < x1; ++xo) {
        const WsumJob wj{in + (xo - x0) * K * P, K * P, K * P, c.tp, plane};
        run_wsum(&wj);
        if (K == 5) {
          const PixelJob<T> pj{plane, c.full ? c.full + xo * P : nullptr, gm ? gm.get() + xo * P : nullptr, L, P, c.pd, N,
                               c.interior + xo * lines, c.k};
          double e;
          run_pix(&pj, 0, lines, &e);
          acc += e;
        } else {
          const T* xp = c.x + xo * P;
          const T* yp = c.y + xo * P;
          T* g = c.grad + xo * P;
          for (std::int64_t e = 0; e < P; ++e)
            g[e] = static_cast<T>(((plane[e] * static_cast<double>(xp[e]) + plane[P + e] * static_cast<double>(yp[e])) +
                                   plane[2 * P + e]) *
                                  scale);
        }
      }
      if (K == 5) part[s] = acc;
      busy[b].store(false, std::memory_order_release);
    });
  };
  round(5);
  if (c.grad) round(3);
  double total = 0;
  for (double v : part) total += v;
  return total;
}

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
  std::int64_t count = 1;
  for (int a = 0; a < nd; ++a) count *= dims[a] - 2 * pd;
  if (nd >= 2) {
    const std::int64_t P = N / dims[0];
    const std::int64_t band = std::max<std::int64_t>(8 * tp.r, (dims[0] + 7) / 8);
    if ((band + 2 * tp.r + 2) * 5 * P * static_cast<std::int64_t>(sizeof(double)) <= (std::int64_t(1) << 27)) {
      const SlabCtx<T> sc{im1.data_as<T>(), im2.data_as<T>(), full.data() ? full.data_as<T>() : nullptr,
                          want_grad ? grad.data_as<T>() : nullptr, dims, nd, N, P, dims[0], L, band, pd, &tp,
                          interior.data(), k, nt};
      return ssim_slabs(sc) / static_cast<double>(count);
    }
  }
  const std::int64_t chunk = line_chunk(L), tasks = (lines + chunk - 1) / chunk;
  // 1-D images, or planes too large for slabs: ten float64 maps of the whole image.
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
  // The three gradient maps go to the spare buffer.
  const PixelJob<T> pj{maps, full.data() ? full.data_as<T>() : nullptr, want_grad ? spare : nullptr, L, N, pd, N,
                       interior.data(), k};
  std::vector<double> part(static_cast<std::size_t>(tasks));
  {
    const auto run = pixels<T>();
    parallel_for(0, tasks, nt, 2,
                 [&](std::int64_t t) { run(&pj, t * chunk, std::min(lines, (t + 1) * chunk), &part[t]); });
  }
  double total = 0;
  for (double v : part) total += v;
  const double mean = total / static_cast<double>(count);
  if (want_grad) {
    // The moments are no longer needed: their buffer takes the filtered gradient maps.
    double* fm = const_cast<double*>(maps);
    const LineJob lj{spare, fm, 3, L, N, N, &tp};
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
