// SPDX-License-Identifier: Apache-2.0
// Non-local means on the CPU. The image is copied once into a reflect-padded float64 buffer; 2-D
// images run as (rows, 1, cols) and 3-D as (planes, rows, cols), so one code path serves both.
// Work is split into bands along the first axis (parallel_for); every band owns its output
// pixels, so no two threads write the same place.
// - fast mode: for each shift, box sums of the squared differences by running sums (a prefix sum
//   along the columns, then a running sum along each outer axis), so the cost does not depend on
//   the patch size; the weight loop runs along contiguous rows and vectorises.
// - classic mode: the direct Gaussian-weighted patch distance per pixel and shift.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>
#include <vector>

#include "cpu/parallel.hpp"
#include "cpu/simd.hpp"
#include "foveal/math/lab8.hpp"
#include "foveal/math/nlm.hpp"
#include "ops/backend.hpp"

namespace foveal::cpu {
namespace {

struct Geometry {
  std::int64_t n[3] = {1, 1, 1};    // sizes of the three (possibly dummy) spatial axes
  std::int64_t pad[3] = {0, 0, 0};  // padding per side
  std::int64_t pn[3] = {1, 1, 1};   // padded sizes
  bool active[3] = {false, false, false};
  std::int64_t C = 1;
  int d = 0, o = 0, s = 1;
  // Element offset of padded coordinate (a, b, c) (unpadded coordinates, may be negative).
  std::int64_t at(std::int64_t a, std::int64_t b, std::int64_t c) const {
    return (((a + pad[0]) * pn[1] + (b + pad[1])) * pn[2] + (c + pad[2])) * C;
  }
};

template <typename T, typename B = double>
std::vector<B> pad_image(const T* src, const Geometry& g, int num_threads) {
  std::vector<B> p(static_cast<std::size_t>(g.pn[0] * g.pn[1] * g.pn[2] * g.C));
  parallel_for(0, g.pn[0], num_threads, 4, [&](std::int64_t a) {
    const std::int64_t sa = math::nlm_reflect(a - g.pad[0], g.n[0]);
    for (std::int64_t b = 0; b < g.pn[1]; ++b) {
      const std::int64_t sb = math::nlm_reflect(b - g.pad[1], g.n[1]);
      B* dst = p.data() + ((a * g.pn[1] + b) * g.pn[2]) * g.C;
      for (std::int64_t c = 0; c < g.pn[2]; ++c) {
        const std::int64_t sc = math::nlm_reflect(c - g.pad[2], g.n[2]);
        const T* s = src + ((sa * g.n[1] + sb) * g.n[2] + sc) * g.C;
        for (std::int64_t ch = 0; ch < g.C; ++ch) dst[c * g.C + ch] = static_cast<B>(s[ch]);
      }
    }
  });
  return p;
}


// One shift pair (t, -t) over the band rows [q0, q1) of a grey 2-D image (fast mode, s >= 3).
// The weight of shift -t at p equals that of t at p - t (the same pairs of patches), so the
// weights w_t are computed once, on rows and columns widened by |t|, and serve both: p gets
// w_t(p) x(p + t) and w_t(p - t) x(p - t). Per weight row: column sums of d2 over the s - 1
// window rows (one row in, one out), the horizontal box as s - 1 shifted adds, the weights
// (Schraudolph's exp by its bit pattern, branch-free). Compiled per ISA (FOVEAL_SIMD_VARIANTS).
template <typename T>
struct Gray2d {
  const T* P;            // padded image
  std::int64_t stride;   // padded row length
  std::int64_t origin;   // offset of unpadded (0, 0)
  std::int64_t n2, lo, hi, cnt, q0, q1;
  T var2c, inv;
  T *col, *box, *wt, *keep;  // scratch, n2 + 2 (d + s) long
  std::conditional_t<sizeof(T) == 8, std::int64_t, std::int32_t>* bits;
  T *num, *den;
};

// t0 in [-d, d], t2 >= 0 (and t0 >= 0 when t2 == 0): one half of the shifts. In float32 the
// weight is the float of skimage's double (its 20 mantissa bits fit): the double's high word with
// the exponent rebased from 1023 to 127, shifted into float position.
template <typename T>
FOVEAL_ALWAYS_INLINE void gray2d_body(const Gray2d<T>* a, int t0, int t2) {
  const std::int64_t n2 = a->n2, st = a->stride, lo = a->lo, hi = a->hi, q0 = a->q0, q1 = a->q1;
  const T v = a->var2c, inv = a->inv;
  const T cutoff = static_cast<T>(math::kNlmCutoff);
  const bool self = t0 == 0 && t2 == 0;
  const std::int64_t nw = n2 + t2;       // weights at columns [-t2, n2)
  const std::int64_t w = nw + a->cnt - 1;  // column sums at [-t2 - lo, n2 + hi)
  const std::int64_t rlo = self ? q0 : std::min(q0, q0 - t0), rhi = self ? q1 : std::max(q1, q1 - t0);
  const T* base = a->P + a->origin - t2 - lo;  // column -t2 - lo of unpadded row 0
  const std::int64_t sh = t0 * st + t2;
  T* col = a->col;
  for (std::int64_t i = 0; i < w; ++i) col[i] = 0;
  for (std::int64_t k = rlo - lo; k <= rlo + hi; ++k) {
    const T* x = base + k * st;
#pragma omp simd
    for (std::int64_t i = 0; i < w; ++i) {
      const T e = x[i] - x[i + sh];
      col[i] += e * e - v;
    }
  }
  for (std::int64_t r = rlo; r < rhi; ++r) {
    if (r > rlo) {
      const T* xi = base + (r + hi) * st;
      const T* xo = base + (r - lo - 1) * st;
#pragma omp simd
      for (std::int64_t i = 0; i < w; ++i) {
        const T ei = xi[i] - xi[i + sh], eo = xo[i] - xo[i + sh];
        col[i] += (ei * ei - v) - (eo * eo - v);
      }
    }
    T* box = a->box;
#pragma omp simd
    for (std::int64_t c = 0; c < nw; ++c) box[c] = col[c];
    for (std::int64_t j = 1; j < a->cnt; ++j) {
      const T* cj = col + j;
#pragma omp simd
      for (std::int64_t c = 0; c < nw; ++c) box[c] += cj[c];
    }
    auto* bits = a->bits;
    T* keep = a->keep;
#pragma omp simd
    for (std::int64_t c = 0; c < nw; ++c) {
      const T b = box[c] > T(0) ? box[c] : T(0);
      const T dist = b * inv;
      const T dc = dist < cutoff ? dist : cutoff;
      const std::int32_t e = static_cast<std::int32_t>(static_cast<T>(1512775.3951951856938) * -dc) + 1072632447;
      if constexpr (sizeof(T) == 8)
        bits[c] = static_cast<std::int64_t>(e) << 32;
      else
        bits[c] = (e - (896 << 20)) << 3;
      keep[c] = dist > cutoff ? T(0) : T(1);
    }
    std::memcpy(a->wt, bits, static_cast<std::size_t>(nw) * sizeof(T));
    const T* wt = a->wt;
    if (r >= q0 && r < q1) {  // p = (r, c) gets w_t(p) x(p + t)
      const T* wp = wt + t2;
      const T* kp = keep + t2;
      const T* y = a->P + a->origin + (r + t0) * st + t2;
      T* dn = a->den + r * n2;
      T* nm = a->num + r * n2;
#pragma omp simd
      for (std::int64_t c = 0; c < n2; ++c) {
        const T wv = wp[c] * kp[c];
        dn[c] += wv;
        nm[c] += wv * y[c];
      }
    }
    const std::int64_t q = r + t0;
    if (!self && q >= q0 && q < q1) {  // p = (q, c) gets w_t(p - t) x(p - t)
      const T* y = a->P + a->origin + r * st - t2;
      T* dn = a->den + q * n2;
      T* nm = a->num + q * n2;
#pragma omp simd
      for (std::int64_t c = 0; c < n2; ++c) {
        const T wv = wt[c] * keep[c];
        dn[c] += wv;
        nm[c] += wv * y[c];
      }
    }
  }
}
FOVEAL_SIMD_VARIANTS(gray2d, gray2d_body, (const Gray2d<T>* a, int t0, int t2), (a, t0, t2))

// Band of outer indices [q0, q1) for one shift (t0, t1, t2), fast mode: accumulates weights into
// den and weighted values into num (both indexed like the unpadded image).
struct FastBand {
  const Geometry& g;
  const double* P;
  double var2c;  // 2 C sigma^2, subtracted per pixel
  double inv;    // 1 / (C h^2 s^2)
  // scratch
  std::vector<double> row, pre, hbox, slabs, acc;

  const ExecContext* ctx;
  FastBand(const Geometry& geo, const double* padded, double v, double iv, const ExecContext* c)
      : g(geo), P(padded), var2c(v), inv(iv), ctx(c) {}

  // Window [c - lo, c + hi] of an axis: s - 1 samples on an active axis, 1 on a dummy one.
  std::int64_t lo(int a) const { return g.active[a] ? g.o - 1 : 0; }
  std::int64_t hi(int a) const { return g.active[a] ? g.o : 0; }

  // Box sum over the two inner axes of the squared differences at outer index k: slab[m * n2 + c].
  void slab(std::int64_t k, int t0, int t1, int t2, double* out) {
    const std::int64_t n1 = g.n[1], n2 = g.n[2], C = g.C;
    const std::int64_t lo1 = lo(1), hi1 = hi(1), lo2 = lo(2), hi2 = hi(2);
    const std::int64_t w = n2 + lo2 + hi2;  // columns [-lo2, n2 + hi2)
    const std::int64_t rows = n1 + lo1 + hi1;
    row.resize(static_cast<std::size_t>(w));
    pre.resize(static_cast<std::size_t>(w + 1));
    hbox.resize(static_cast<std::size_t>(rows * n2));
    for (std::int64_t j = 0; j < rows; ++j) {
      const std::int64_t b = j - lo1;
      const double* x = P + g.at(k, b, -lo2);
      const double* y = P + g.at(k + t0, b + t1, -lo2 + t2);
      double* r = row.data();
      if (C == 1) {
#pragma omp simd
        for (std::int64_t i = 0; i < w; ++i) {
          const double e = x[i] - y[i];
          r[i] = e * e - var2c;
        }
      } else {
        for (std::int64_t i = 0; i < w; ++i) {
          double acc2 = 0;
          for (std::int64_t ch = 0; ch < C; ++ch) {
            const double e = x[i * C + ch] - y[i * C + ch];
            acc2 += e * e;
          }
          r[i] = acc2 - var2c;
        }
      }
      double run = 0;
      pre[0] = 0;
      for (std::int64_t i = 0; i < w; ++i) pre[i + 1] = run += r[i];
      double* hb = hbox.data() + j * n2;
      const double* pa = pre.data() + lo2 + hi2 + 1;
      const double* pb = pre.data();
#pragma omp simd
      for (std::int64_t c = 0; c < n2; ++c) hb[c] = pa[c] - pb[c];
    }
    // running sum along the middle axis
    const std::int64_t cnt1 = lo1 + hi1 + 1;
    std::fill(out, out + n1 * n2, 0.0);
    for (std::int64_t j = 0; j < cnt1; ++j) {
      const double* hb = hbox.data() + j * n2;
#pragma omp simd
      for (std::int64_t c = 0; c < n2; ++c) out[c] += hb[c];
    }
    for (std::int64_t m = 1; m < n1; ++m) {
      double* o = out + m * n2;
      const double* prev = out + (m - 1) * n2;
      const double* add = hbox.data() + (m + cnt1 - 1) * n2;
      const double* sub = hbox.data() + (m - 1) * n2;
#pragma omp simd
      for (std::int64_t c = 0; c < n2; ++c) o[c] = prev[c] + add[c] - sub[c];
    }
  }

  // Squared differences of row k against row k + t0 shifted by t2, columns [-lo2, n2 + hi2).
  void d2_row(std::int64_t k, int t0, int t2, std::int64_t w, double* r) const {
    const std::int64_t C = g.C;
    const double* x = P + g.at(k, 0, -lo(2));
    const double* y = P + g.at(k + t0, 0, -lo(2) + t2);
    if (C == 1) {
#pragma omp simd
      for (std::int64_t i = 0; i < w; ++i) {
        const double e = x[i] - y[i];
        r[i] = e * e - var2c;
      }
      return;
    }
    for (std::int64_t i = 0; i < w; ++i) {
      double a = 0;
      for (std::int64_t ch = 0; ch < C; ++ch) {
        const double e = x[i * C + ch] - y[i * C + ch];
        a += e * e;
      }
      r[i] = a - var2c;
    }
  }

  // 2-D images (s >= 3): per shift, column sums of d2 over the s - 1 window rows, updated by one
  // row in and one out per output row, then the horizontal box as s - 1 shifted adds.
  void run2d(std::int64_t q0, std::int64_t q1, double* num, double* den) {
    const std::int64_t n2 = g.n[2], C = g.C, lo0 = lo(0), hi0 = hi(0), cnt = g.s - 1;
    const std::int64_t w = n2 + cnt - 1;
    std::vector<double> col(static_cast<std::size_t>(w)), rin(static_cast<std::size_t>(w)),
        rout(static_cast<std::size_t>(w)), wt(static_cast<std::size_t>(n2));
    for (int t0 = -g.d; t0 <= g.d; ++t0)
      for (int t2 = -g.d; t2 <= g.d; ++t2) {
        ctx->throw_if_cancelled("denoise_nl_means");
        std::fill(col.begin(), col.end(), 0.0);
        for (std::int64_t k = q0 - lo0; k <= q0 + hi0; ++k) {
          d2_row(k, t0, t2, w, rin.data());
          double* cp = col.data();
          const double* ri = rin.data();
#pragma omp simd
          for (std::int64_t i = 0; i < w; ++i) cp[i] += ri[i];
        }
        for (std::int64_t q = q0; q < q1; ++q) {
          double* cp = col.data();
          if (q > q0) {
            d2_row(q + hi0, t0, t2, w, rin.data());
            d2_row(q - lo0 - 1, t0, t2, w, rout.data());
            const double* ri = rin.data();
            const double* ro = rout.data();
#pragma omp simd
            for (std::int64_t i = 0; i < w; ++i) cp[i] += ri[i] - ro[i];
          }
          double* wp = wt.data();
#pragma omp simd
          for (std::int64_t c = 0; c < n2; ++c) wp[c] = cp[c];
          for (std::int64_t j = 1; j < cnt; ++j) {
            const double* cj = cp + j;
#pragma omp simd
            for (std::int64_t c = 0; c < n2; ++c) wp[c] += cj[c];
          }
          const double* y = P + g.at(q + t0, 0, t2);
          double* dn = den + q * n2;
          double* nm = num + q * n2 * C;
          if (C == 1) {
#pragma omp simd
            for (std::int64_t c = 0; c < n2; ++c) {
              const double wv = math::nlm_weight(std::max(wp[c], 0.0) * inv);
              dn[c] += wv;
              nm[c] += wv * y[c];
            }
          } else {
            for (std::int64_t c = 0; c < n2; ++c) {
              const double wv = math::nlm_weight(std::max(wp[c], 0.0) * inv);
              dn[c] += wv;
              for (std::int64_t ch = 0; ch < C; ++ch) nm[c * C + ch] += wv * y[c * C + ch];
            }
          }
        }
      }
  }

  void run(std::int64_t q0, std::int64_t q1, double* num, double* den) {
    if (!g.active[1] && g.s >= 3) return run2d(q0, q1, num, den);  // colour 2-D
    const std::int64_t n1 = g.n[1], n2 = g.n[2], C = g.C, plane = n1 * n2;
    const bool zero = g.s == 1;  // skimage's box (p - o, p + o] is empty: every distance is 0
    const std::int64_t lo0 = lo(0), hi0 = hi(0), cnt0 = lo0 + hi0 + 1;
    const std::int64_t nk = (q1 - q0) + cnt0 - 1;
    slabs.resize(static_cast<std::size_t>(zero ? plane : nk * plane));
    acc.resize(static_cast<std::size_t>(plane));
    const int d0 = g.active[0] ? g.d : 0, d1 = g.active[1] ? g.d : 0, d2 = g.d;
    for (int t0 = -d0; t0 <= d0; ++t0)
      for (int t1 = -d1; t1 <= d1; ++t1)
        for (int t2 = -d2; t2 <= d2; ++t2) {
          ctx->throw_if_cancelled("denoise_nl_means");
          if (zero) {
            std::fill(acc.begin(), acc.end(), 0.0);
          } else {
            for (std::int64_t k = 0; k < nk; ++k) slab(q0 - lo0 + k, t0, t1, t2, slabs.data() + k * plane);
            std::fill(acc.begin(), acc.end(), 0.0);
            for (std::int64_t k = 0; k < cnt0; ++k) {
              const double* sk = slabs.data() + k * plane;
#pragma omp simd
              for (std::int64_t i = 0; i < plane; ++i) acc[i] += sk[i];
            }
          }
          for (std::int64_t q = q0; q < q1; ++q) {
            if (!zero && q > q0) {
              const double* add = slabs.data() + (q - q0 + cnt0 - 1) * plane;
              const double* sub = slabs.data() + (q - q0 - 1) * plane;
              double* a = acc.data();
#pragma omp simd
              for (std::int64_t i = 0; i < plane; ++i) a[i] += add[i] - sub[i];
            }
            for (std::int64_t m = 0; m < n1; ++m) {
              const double* a = acc.data() + m * n2;
              const double* y = P + g.at(q + t0, m + t1, t2);
              double* dn = den + (q * n1 + m) * n2;
              double* nm = num + ((q * n1 + m) * n2) * C;
              if (C == 1) {
#pragma omp simd
                for (std::int64_t c = 0; c < n2; ++c) {
                  const double w = math::nlm_weight(std::max(a[c], 0.0) * inv);
                  dn[c] += w;
                  nm[c] += w * y[c];
                }
              } else {
                for (std::int64_t c = 0; c < n2; ++c) {
                  const double w = math::nlm_weight(std::max(a[c], 0.0) * inv);
                  dn[c] += w;
                  for (std::int64_t ch = 0; ch < C; ++ch) nm[c * C + ch] += w * y[c * C + ch];
                }
              }
            }
          }
        }
  }
};


// Grey 2-D fast mode in the image's own precision (float32 images: float32 sums and weights).
template <typename T>
void gray2d_fast(const T* src, T* dst, const Geometry& g, double var2c, double inv, const ExecContext& ctx,
                 std::int64_t band) {
  const int nt = ctx.num_threads;
  const std::vector<T> P = pad_image<T, T>(src, g, nt);
  const std::int64_t n0 = g.n[0], n2 = g.n[2];
  std::vector<T> num(static_cast<std::size_t>(n0 * n2), T(0)), den(static_cast<std::size_t>(n0 * n2), T(0));
  const std::int64_t nb = (n0 + band - 1) / band;
  const auto fn = gray2d<T>();
  parallel_for(0, nb, nt, 2, [&](std::int64_t bi) {
    const std::size_t len = static_cast<std::size_t>(n2 + 2 * (g.d + g.s));
    std::vector<T> c2(len), bx(len), w2(len), keep(len);
    std::vector<std::conditional_t<sizeof(T) == 8, std::int64_t, std::int32_t>> bits(len);
    const std::int64_t q0 = bi * band, q1 = std::min(n0, q0 + band);
    const Gray2d<T> a{P.data(), g.pn[2], g.at(0, 0, 0) / g.C, n2, g.o - 1, g.o, g.s - 1, q0, q1,
                      static_cast<T>(var2c), static_cast<T>(inv), c2.data(), bx.data(), w2.data(), keep.data(),
                      bits.data(), num.data(), den.data()};
    for (int t2 = 0; t2 <= g.d; ++t2)
      for (int t0 = t2 == 0 ? 0 : -g.d; t0 <= g.d; ++t0) {
        ctx.throw_if_cancelled("denoise_nl_means");
        fn(&a, t0, t2);
      }
  });
  parallel_for(0, n0, nt, 16, [&](std::int64_t r) {
    for (std::int64_t c = 0; c < n2; ++c) dst[r * n2 + c] = num[r * n2 + c] / den[r * n2 + c];
  });
}

// Classic mode for the pixels of outer index q.
void classic_row(const Geometry& g, const double* P, const std::vector<double>& kern, double var2c, std::int64_t q,
                 double* num, double* den) {
  const std::int64_t n0 = g.n[0], n1 = g.n[1], n2 = g.n[2], C = g.C;
  const int o = g.o, s = g.s;
  const int o1 = g.active[1] ? o : 0, s1 = g.active[1] ? s : 1;
  const std::int64_t d = g.d;
  const std::int64_t d1 = g.active[1] ? d : 0;
  for (std::int64_t m = 0; m < n1; ++m)
    for (std::int64_t c = 0; c < n2; ++c) {
      double wsum = 0;
      double* nm = num + ((q * n1 + m) * n2 + c) * C;
      for (std::int64_t a = std::max<std::int64_t>(q - d, 0); a <= std::min(q + d, n0 - 1); ++a)
        for (std::int64_t b = std::max(m - d1, std::int64_t{0}); b <= std::min(m + d1, n1 - 1); ++b)
          for (std::int64_t e = std::max(c - d, std::int64_t{0}); e <= std::min(c + d, n2 - 1); ++e) {
            double dist = 0;
            bool cut = false;
            for (int i = 0; i < s && !cut; ++i) {
              if (dist > math::kNlmCutoff) {  // skimage checks once per step of the first patch axis
                cut = true;
                break;
              }
              for (int j = 0; j < s1; ++j) {
                const double* x = P + g.at(q - o + i, m - o1 + j, c - o);
                const double* y = P + g.at(a - o + i, b - o1 + j, e - o);
                const double* kr = kern.data() + (static_cast<std::int64_t>(i) * s1 + j) * s;
                for (int k = 0; k < s; ++k) {
                  double e2 = 0;
                  for (std::int64_t ch = 0; ch < C; ++ch) {
                    const double df = x[k * C + ch] - y[k * C + ch];
                    e2 += df * df;
                  }
                  dist += kr[k] * (e2 - var2c);
                }
              }
            }
            if (cut) continue;
            const double w = math::nlm_fast_exp(-std::max(dist, 0.0));
            wsum += w;
            const double* yv = P + g.at(a, b, e);
            for (std::int64_t ch = 0; ch < C; ++ch) nm[ch] += w * yv[ch];
          }
      den[(q * n1 + m) * n2 + c] = wsum;
    }
}

template <typename T>
void nlm_impl(ConstTensorView image, TensorView out, int s, int d, double h, double sigma, bool fast,
              const ExecContext& ctx) {
  const int nt = ctx.num_threads;
  Geometry g;
  const int spatial = image.ndim() - 1;
  g.C = image.size(spatial);
  if (spatial == 2) {
    g.n[0] = image.size(0);
    g.n[2] = image.size(1);
    g.active[0] = g.active[2] = true;
  } else {
    for (int a = 0; a < 3; ++a) {
      g.n[a] = image.size(a);
      g.active[a] = true;
    }
  }
  g.s = s;
  g.o = s / 2;
  g.d = d;
  for (int a = 0; a < 3; ++a) {
    g.pad[a] = g.active[a] ? g.o + d : 0;
    g.pn[a] = g.n[a] + 2 * g.pad[a];
  }
  const double C0 = static_cast<double>(g.C);
  if (fast && spatial == 2 && g.C == 1 && s >= 3) {
    const std::int64_t want = std::max<std::int64_t>(s, (1 << 15) / std::max<std::int64_t>(g.n[2], 1));
    const std::int64_t per_thread = (g.n[0] + max_threads(nt) - 1) / max_threads(nt);
    gray2d_fast<T>(image.data_as<T>(), out.data_as<T>(), g, 2.0 * C0 * sigma * sigma,
                   1.0 / (C0 * h * h * double(s) * double(s)), ctx, std::max<std::int64_t>(1, std::min(want, per_thread)));
    return;
  }
  const std::vector<double> P = pad_image(image.data_as<T>(), g, nt);
  const std::int64_t npix = g.n[0] * g.n[1] * g.n[2];
  std::vector<double> num(static_cast<std::size_t>(npix * g.C), 0.0), den(static_cast<std::size_t>(npix), 0.0);
  const double C = static_cast<double>(g.C);
  const double var2c = 2.0 * C * sigma * sigma;
  if (fast) {
    const double inv = 1.0 / (C * h * h * std::pow(double(s), spatial));  // skimage: C h^2 s^D
    // Bands long enough to amortise the (s - 1) extra slabs of each band, yet several per thread.
    const std::int64_t plane = g.n[1] * g.n[2];
    const std::int64_t want = std::max<std::int64_t>(s, (1 << 15) / std::max<std::int64_t>(plane, 1));
    const std::int64_t per_thread = (g.n[0] + max_threads(nt) - 1) / max_threads(nt);
    const std::int64_t band = std::max<std::int64_t>(1, std::min(want, per_thread));
    const std::int64_t nb = (g.n[0] + band - 1) / band;
    parallel_for(0, nb, nt, 2, [&](std::int64_t bi) {
      FastBand fb(g, P.data(), var2c, inv, &ctx);
      const std::int64_t q0 = bi * band, q1 = std::min(g.n[0], q0 + band);
      fb.run(q0, q1, num.data(), den.data());
    });
  } else {
    const int s1 = spatial == 3 ? s : 1;
    std::vector<double> kern(static_cast<std::size_t>(s) * s1 * s);
    double ksum = 0;
    for (int i = 0; i < s; ++i)
      for (int j = 0; j < s1; ++j)
        for (int k = 0; k < s; ++k)
          ksum += kern[(static_cast<std::size_t>(i) * s1 + j) * s + k] =
              spatial == 3 ? math::nlm_patch_kernel(i - g.o, j - g.o, k - g.o, s)
                           : math::nlm_patch_kernel(i - g.o, 0, k - g.o, s);
    const double scale = 1.0 / (C * ksum * h * h);
    for (double& v : kern) v *= scale;
    parallel_for_dynamic(0, g.n[0], nt, 2,
                         [&](std::int64_t q) {
                           ctx.throw_if_cancelled("denoise_nl_means");
                           classic_row(g, P.data(), kern, var2c, q, num.data(), den.data());
                         });
  }
  T* o = out.data_as<T>();
  parallel_for(0, npix, nt, 1 << 14, [&](std::int64_t i) {
    const double inv = 1.0 / den[i];
    for (std::int64_t ch = 0; ch < g.C; ++ch) o[i * g.C + ch] = static_cast<T>(num[i * g.C + ch] * inv);
  });
}

}  // namespace

namespace {

// Fast mode on 4-D images (scikit-image's _fast_nl_means_denoising_4d): per shift t, the
// squared differences on the region the boxes need, box sums by running sums along each axis in
// turn, the weights. Simple rather than tuned: 4-D images are small in practice.
template <typename T>
void nlm_fast_4d(ConstTensorView image, TensorView out, int s, int d, double h, double sigma, const ExecContext& ctx) {
  using i64 = std::int64_t;
  const i64 C = image.size(4);
  i64 n[4], pn[4], e[4];
  const int o = s / 2, pad = o + d;
  for (int a = 0; a < 4; ++a) {
    n[a] = image.size(a);
    pn[a] = n[a] + 2 * pad;
    e[a] = n[a] + s - 2;  // box inputs: coordinates [-o + 1, n + o)
  }
  const i64 npix = n[0] * n[1] * n[2] * n[3];
  const T* src = image.data_as<T>();
  // reflect-padded float64 copy, (pn0, pn1, pn2, pn3, C)
  std::vector<double> P(static_cast<std::size_t>(pn[0] * pn[1] * pn[2] * pn[3] * C));
  const int nt = ctx.num_threads;
  parallel_for(0, pn[0], nt, 2, [&](i64 a) {
    const i64 sa = math::nlm_reflect(a - pad, n[0]);
    for (i64 b = 0; b < pn[1]; ++b)
      for (i64 c = 0; c < pn[2]; ++c)
        for (i64 f = 0; f < pn[3]; ++f) {
          const i64 si = ((sa * n[1] + math::nlm_reflect(b - pad, n[1])) * n[2] + math::nlm_reflect(c - pad, n[2])) * n[3] +
                         math::nlm_reflect(f - pad, n[3]);
          double* dst = P.data() + (((a * pn[1] + b) * pn[2] + c) * pn[3] + f) * C;
          for (i64 ch = 0; ch < C; ++ch) dst[ch] = static_cast<double>(src[si * C + ch]);
        }
  });
  auto at = [&](i64 a, i64 b, i64 c, i64 f) {  // element offset of unpadded coordinates
    return (((a + pad) * pn[1] + (b + pad)) * pn[2] + (c + pad)) * pn[3] * C + (f + pad) * C;
  };
  const double var2c = 2.0 * C * sigma * sigma;
  const double inv = 1.0 / (C * h * h * std::pow(double(s), 4));
  std::vector<double> num(static_cast<std::size_t>(npix * C), 0.0), den(static_cast<std::size_t>(npix), 0.0);
  std::vector<double> buf(s >= 2 ? static_cast<std::size_t>(e[0] * e[1] * e[2] * e[3]) : 1), tmp(buf.size());
  const i64 L = s - 1;
  for (int t0 = -d; t0 <= d; ++t0)
    for (int t1 = -d; t1 <= d; ++t1)
      for (int t2 = -d; t2 <= d; ++t2)
        for (int t3 = -d; t3 <= d; ++t3) {
          ctx.throw_if_cancelled("denoise_nl_means");
          // box sums of d2 at every pixel, dims shrink from e to n axis by axis
          i64 dims[4] = {e[0], e[1], e[2], e[3]};
          if (s >= 2) {
            parallel_for(0, e[0], nt, 2, [&](i64 a) {
              for (i64 b = 0; b < e[1]; ++b)
                for (i64 c = 0; c < e[2]; ++c)
                  for (i64 f = 0; f < e[3]; ++f) {
                    const double* x = P.data() + at(a - o + 1, b - o + 1, c - o + 1, f - o + 1);
                    const double* y = P.data() + at(a - o + 1 + t0, b - o + 1 + t1, c - o + 1 + t2, f - o + 1 + t3);
                    double acc = 0;
                    for (i64 ch = 0; ch < C; ++ch) acc += (x[ch] - y[ch]) * (x[ch] - y[ch]);
                    buf[((a * e[1] + b) * e[2] + c) * e[3] + f] = acc - var2c;
                  }
            });
            for (int ax = 0; ax < 4; ++ax) {  // running sums of L samples along axis ax
              i64 outer = 1, inner = 1;
              for (int k = 0; k < ax; ++k) outer *= dims[k];
              for (int k = ax + 1; k < 4; ++k) inner *= dims[k];
              const i64 m = dims[ax], mo = m - L + 1;
              parallel_for(0, outer, nt, 2, [&](i64 q) {
                const double* in = buf.data() + q * m * inner;
                double* res = tmp.data() + q * mo * inner;
                for (i64 i = 0; i < inner; ++i) {
                  double run = 0;
                  for (i64 k = 0; k < L; ++k) run += in[k * inner + i];
                  res[i] = run;
                  for (i64 k = 1; k < mo; ++k) {
                    run += in[(k + L - 1) * inner + i] - in[(k - 1) * inner + i];
                    res[k * inner + i] = run;
                  }
                }
              });
              dims[ax] = mo;
              std::swap(buf, tmp);
            }
          }
          parallel_for(0, n[0], nt, 2, [&](i64 a) {
            for (i64 b = 0; b < n[1]; ++b)
              for (i64 c = 0; c < n[2]; ++c)
                for (i64 f = 0; f < n[3]; ++f) {
                  const i64 p = ((a * n[1] + b) * n[2] + c) * n[3] + f;
                  const double dist = s >= 2 ? std::max(buf[p], 0.0) * inv : 0.0;
                  const double w = math::nlm_weight(dist);
                  const double* y = P.data() + at(a + t0, b + t1, c + t2, f + t3);
                  den[p] += w;
                  for (i64 ch = 0; ch < C; ++ch) num[p * C + ch] += w * y[ch];
                }
          });
        }
  T* dst = out.data_as<T>();
  for (i64 p = 0; p < npix; ++p)
    for (i64 ch = 0; ch < C; ++ch) dst[p * C + ch] = static_cast<T>(num[p * C + ch] / den[p]);
}

}  // namespace

void denoise_nl_means(ConstTensorView image, TensorView out, std::int64_t patch_size, std::int64_t patch_distance,
                      double h, double sigma, bool fast_mode, const ExecContext& ctx) {
  const int s = static_cast<int>(patch_size), d = static_cast<int>(patch_distance);
  if (image.ndim() == 5) {
    if (image.dtype() == DType::Float32) return nlm_fast_4d<float>(image, out, s, d, h, sigma, ctx);
    return nlm_fast_4d<double>(image, out, s, d, h, sigma, ctx);
  }
  if (image.dtype() == DType::Float32)
    return nlm_impl<float>(image, out, s, d, h, sigma, fast_mode, ctx);
  nlm_impl<double>(image, out, s, d, h, sigma, fast_mode, ctx);
}


namespace {

// OpenCV-style NLM. A variant is C channels (planar int32 copies), the L1 (|d|, 16-bit images) or
// L2 (d^2, 8-bit) pixel distance summed over the channels, and the accumulator of the weighted
// sums (int32 for 8-bit, int64 for 16-bit, as OpenCV's IT).
template <int C_, bool L1_, typename Acc_>
struct CvVariant {
  static constexpr int C = C_;
  static constexpr bool L1 = L1_;
  using Acc = Acc_;
};

// One shift pair (t, -t) over the band rows [q0, q1) (integer distances are exactly symmetric:
// d_-t(p) = d_t(p - t)): column sums of the pixel distances over the t x t window rows, the
// horizontal box as shifted adds, the weight by table lookup.
template <typename V>
struct CvNlm {
  const std::int32_t* P[4];  // reflect-101 padded planes (same layout)
  std::int64_t stride, origin, W, th, tws, q0, q1;
  int shift;
  const std::int32_t* table;
  std::int32_t *col, *box, *wt;  // scratch
  typename V::Acc* num[4];
  typename V::Acc* den;
};

template <typename V>
FOVEAL_ALWAYS_INLINE std::int32_t cv_pixel_dist(const std::int32_t* const* x, std::int64_t i, std::int64_t sh) {
  std::int32_t s = 0;
  for (int c = 0; c < V::C; ++c) {
    const std::int32_t e = x[c][i] - x[c][i + sh];
    if constexpr (V::L1)
      s += e < 0 ? -e : e;
    else
      s += e * e;
  }
  return s;
}

template <typename V>
FOVEAL_ALWAYS_INLINE void cvnlm_body(const CvNlm<V>* a, int ty, int tx) {
  using Acc = typename V::Acc;
  constexpr int C = V::C;
  const std::int64_t W = a->W, st = a->stride, th = a->th, q0 = a->q0, q1 = a->q1;
  const bool self = ty == 0 && tx == 0;
  const std::int64_t nw = W + tx;          // weights at columns [-tx, W)
  const std::int64_t w = nw + a->tws - 1;  // column sums at [-tx - th, W + th)
  const std::int64_t rlo = self ? q0 : std::min(q0, q0 - ty), rhi = self ? q1 : std::max(q1, q1 - ty);
  const std::int64_t base = a->origin - tx - th;
  const std::int64_t sh = ty * st + tx;
  std::int32_t* col = a->col;
  for (std::int64_t i = 0; i < w; ++i) col[i] = 0;
  const std::int32_t* x[C];
  const std::int32_t* xo[C];
  for (std::int64_t k = rlo - th; k <= rlo + th; ++k) {
    for (int c = 0; c < C; ++c) x[c] = a->P[c] + base + k * st;
#pragma omp simd
    for (std::int64_t i = 0; i < w; ++i) col[i] += cv_pixel_dist<V>(x, i, sh);
  }
  for (std::int64_t r = rlo; r < rhi; ++r) {
    if (r > rlo) {
      for (int c = 0; c < C; ++c) {
        x[c] = a->P[c] + base + (r + th) * st;
        xo[c] = a->P[c] + base + (r - th - 1) * st;
      }
#pragma omp simd
      for (std::int64_t i = 0; i < w; ++i) col[i] += cv_pixel_dist<V>(x, i, sh) - cv_pixel_dist<V>(xo, i, sh);
    }
    std::int32_t* box = a->box;
#pragma omp simd
    for (std::int64_t c = 0; c < nw; ++c) box[c] = col[c];
    for (std::int64_t j = 1; j < a->tws; ++j) {
      const std::int32_t* cj = col + j;
#pragma omp simd
      for (std::int64_t c = 0; c < nw; ++c) box[c] += cj[c];
    }
    std::int32_t* wt = a->wt;
    const std::int32_t* table = a->table;
    const int shift = a->shift;
#pragma omp simd
    for (std::int64_t c = 0; c < nw; ++c) wt[c] = table[box[c] >> shift];
    if (r >= q0 && r < q1) {  // p = (r, c) gets w_t(p) x(p + t)
      const std::int32_t* wp = wt + tx;
      Acc* dn = a->den + r * W;
      for (int ch = 0; ch < C; ++ch) {
        const std::int32_t* y = a->P[ch] + a->origin + (r + ty) * st + tx;
        Acc* nm = a->num[ch] + r * W;
#pragma omp simd
        for (std::int64_t c = 0; c < W; ++c) nm[c] += static_cast<Acc>(wp[c]) * y[c];
      }
#pragma omp simd
      for (std::int64_t c = 0; c < W; ++c) dn[c] += wp[c];
    }
    const std::int64_t q = r + ty;
    if (!self && q >= q0 && q < q1) {  // p = (q, c) gets w_t(p - t) x(p - t)
      Acc* dn = a->den + q * W;
      for (int ch = 0; ch < C; ++ch) {
        const std::int32_t* y = a->P[ch] + a->origin + r * st - tx;
        Acc* nm = a->num[ch] + q * W;
#pragma omp simd
        for (std::int64_t c = 0; c < W; ++c) nm[c] += static_cast<Acc>(wt[c]) * y[c];
      }
#pragma omp simd
      for (std::int64_t c = 0; c < W; ++c) dn[c] += wt[c];
    }
  }
}
FOVEAL_SIMD_VARIANTS(cvnlm, cvnlm_body, (const CvNlm<T>* a, int ty, int tx), (a, ty, tx))

// Pixels of one image as C planes: element (r, c) of plane ch is base[(r * W + c) * pix + ch].
template <typename S>
struct Planes {
  S* base;
  std::int64_t H, W, pix;
};

// OpenCV's fastNlMeansDenoising of C planes (values in [0, vmax]) with one h; see ops/nlm.hpp.
template <typename V, typename S>
void cv_nlm(Planes<const S> src, Planes<S> dst, double h, int tws_in, int sws_in, int vmax, const ExecContext& ctx) {
  using Acc = typename V::Acc;
  constexpr int C = V::C;
  const std::int64_t H = src.H, W = src.W;
  const int th = tws_in / 2, sh = sws_in / 2;
  const int tws = 2 * th + 1, sws = 2 * sh + 1, pad = th + sh;
  // Fixed-point weights: M = min(max(Acc) / (S^2 vmax), INT_MAX), so that sum W x fits in Acc.
  const math::CvNlmTable tab =
      math::cv_nlm_table(h, C, V::L1, vmax, tws, sws, static_cast<double>(std::numeric_limits<Acc>::max()));
  const std::vector<std::int32_t>& table = tab.w;
  const int shift = tab.shift;
  const std::int64_t PW = W + 2 * pad, PH = H + 2 * pad;
  std::vector<std::int32_t> P(static_cast<std::size_t>(PW * PH * C));
  const int nt = ctx.num_threads;
  parallel_for(0, PH, nt, 64, [&](std::int64_t r) {
    const std::int64_t sr = math::nlm_reflect(r - pad, H);
    for (int ch = 0; ch < C; ++ch) {
      std::int32_t* row = P.data() + (ch * PH + r) * PW;
      const S* s = src.base + sr * W * src.pix + ch;
      for (std::int64_t c = 0; c < PW; ++c) row[c] = s[math::nlm_reflect(c - pad, W) * src.pix];
    }
  });
  std::vector<Acc> num(static_cast<std::size_t>(H * W * C), 0), den(static_cast<std::size_t>(H * W), 0);
  const std::int64_t per_thread = (H + max_threads(nt) - 1) / max_threads(nt);
  const std::int64_t band = std::max<std::int64_t>(1, std::min<std::int64_t>(std::max(tws, 64), per_thread));
  const std::int64_t nb = (H + band - 1) / band;
  const auto fn = cvnlm<V>();
  parallel_for(0, nb, nt, 2, [&](std::int64_t bi) {
    const std::size_t len = static_cast<std::size_t>(W + 2 * (sws + tws));
    std::vector<std::int32_t> col(len), box(len), wt(len);
    CvNlm<V> a{};
    for (int ch = 0; ch < C; ++ch) {
      a.P[ch] = P.data() + ch * PH * PW;
      a.num[ch] = num.data() + ch * H * W;
    }
    a.stride = PW;
    a.origin = pad * PW + pad;
    a.W = W;
    a.th = th;
    a.tws = tws;
    a.q0 = bi * band;
    a.q1 = std::min(H, bi * band + band);
    a.shift = shift;
    a.table = table.data();
    a.col = col.data();
    a.box = box.data();
    a.wt = wt.data();
    a.den = den.data();
    for (int tx = 0; tx <= sh; ++tx)
      for (int ty = tx == 0 ? 0 : -sh; ty <= sh; ++ty) {
        ctx.throw_if_cancelled("fast_nl_means");
        fn(&a, ty, tx);
      }
  });
  // OpenCV divides in the unsigned type of the accumulator and saturates.
  using U = std::make_unsigned_t<Acc>;
  parallel_for(0, H, nt, 64, [&](std::int64_t r) {
    for (std::int64_t c = 0; c < W; ++c) {
      const U ws = static_cast<U>(den[r * W + c]);
      S* d = dst.base + (r * W + c) * dst.pix;
      for (int ch = 0; ch < C; ++ch) {
        d[ch] = static_cast<S>(math::cv_nlm_mean<U>(static_cast<U>(num[(ch * H + r) * W + c]), ws, static_cast<U>(vmax)));
      }
    }
  });
}

template <typename S, bool L1, typename Acc>
void cv_nlm_channels(Planes<const S> src, Planes<S> dst, int C, double h, int t, int s, int vmax, const ExecContext& ctx) {
  switch (C) {
    case 1: return cv_nlm<CvVariant<1, L1, Acc>, S>(src, dst, h, t, s, vmax, ctx);
    case 2: return cv_nlm<CvVariant<2, L1, Acc>, S>(src, dst, h, t, s, vmax, ctx);
    case 3: return cv_nlm<CvVariant<3, L1, Acc>, S>(src, dst, h, t, s, vmax, ctx);
    default: return cv_nlm<CvVariant<4, L1, Acc>, S>(src, dst, h, t, s, vmax, ctx);
  }
}

const math::Lab8Tables& lab8_tables() {
  static const math::Lab8Tables* t = [] {
    auto* p = new math::Lab8Tables;  // leaked on purpose: used until exit
    math::lab8_build(*p);
    return p;
  }();
  return *t;
}

}  // namespace

void fast_nl_means(ConstTensorView image, TensorView out, double h, std::int64_t template_window_size,
                   std::int64_t search_window_size, const ExecContext& ctx) {
  const std::int64_t H = image.size(0), W = image.size(1), C = image.ndim() == 3 ? image.size(2) : 1;
  const int t = static_cast<int>(template_window_size), s = static_cast<int>(search_window_size);
  if (image.dtype() == DType::UInt8) {
    const Planes<const std::uint8_t> src{image.data_as<std::uint8_t>(), H, W, C};
    const Planes<std::uint8_t> dst{out.data_as<std::uint8_t>(), H, W, C};
    return cv_nlm_channels<std::uint8_t, false, std::int32_t>(src, dst, static_cast<int>(C), h, t, s, 255, ctx);
  }
  const Planes<const std::uint16_t> src{image.data_as<std::uint16_t>(), H, W, C};
  const Planes<std::uint16_t> dst{out.data_as<std::uint16_t>(), H, W, C};
  cv_nlm_channels<std::uint16_t, true, std::int64_t>(src, dst, static_cast<int>(C), h, t, s, 65535, ctx);
}

void fast_nl_means_colored(ConstTensorView image, TensorView out, double h, double h_color,
                           std::int64_t template_window_size, std::int64_t search_window_size, const ExecContext& ctx) {
  const std::int64_t H = image.size(0), W = image.size(1);
  const int t = static_cast<int>(template_window_size), s = static_cast<int>(search_window_size);
  const math::Lab8Tables& tab = lab8_tables();
  std::vector<std::uint8_t> lab(static_cast<std::size_t>(H * W * 3)), den(static_cast<std::size_t>(H * W * 3));
  const std::uint8_t* src = image.data_as<std::uint8_t>();
  const int nt = ctx.num_threads;
  parallel_for(0, H, nt, 64, [&](std::int64_t r) {
    for (std::int64_t i = r * W; i < (r + 1) * W; ++i)
      math::lab8_from_bgr(tab, src[3 * i], src[3 * i + 1], src[3 * i + 2], lab.data() + 3 * i);
  });
  // L alone with h, (a, b) together with h_color, as OpenCV's fastNlMeansDenoisingColored.
  cv_nlm<CvVariant<1, false, std::int32_t>, std::uint8_t>({lab.data(), H, W, 3}, {den.data(), H, W, 3}, h, t, s, 255,
                                                          ctx);
  cv_nlm<CvVariant<2, false, std::int32_t>, std::uint8_t>({lab.data() + 1, H, W, 3}, {den.data() + 1, H, W, 3}, h_color,
                                                          t, s, 255, ctx);
  std::uint8_t* dst = out.data_as<std::uint8_t>();
  parallel_for(0, H, nt, 64, [&](std::int64_t r) {
    for (std::int64_t i = r * W; i < (r + 1) * W; ++i)
      math::lab8_to_bgr(tab, den[3 * i], den[3 * i + 1], den[3 * i + 2], dst + 3 * i);
  });
}

}  // namespace foveal::cpu
