// SPDX-License-Identifier: Apache-2.0
// Bilateral filter on the CPU. The image is first copied into a padded, planar (channel-major)
// buffer in the compute type, so that the border is resolved once and every tap of the window
// is a plain offset. Workers take chunks of rows. Filters whose weights are symmetric (the exact
// filter, OpenCV's uint8 table) compute each pair's weight once for both pixels (sym_chunk);
// the other 1- and 3-channel filters keep the sums of a block of columns in registers across all
// taps (row_blocked); other channel counts add each tap to per-column sums (row_kind). The loops
// vectorise over columns (one variant per ISA, cpu/simd.hpp).
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <memory>
#include <type_traits>
#include <vector>

#include "cpu/parallel.hpp"
#include "cpu/simd.hpp"
#include "foveal/math/bilateral.hpp"
#include "ops/backend.hpp"

namespace foveal::cpu {
namespace {

using math::BilateralRange;
using i64 = std::int64_t;

template <typename T>
struct Job {
  const T* pad;  // C planes of (H + 2r) x (w + 2r)
  i64 plane, wp, w, c, r;  // w: columns computed per row (a multiple of kBlock)
  const i64* off;  // tap offsets in the padded plane
  const int* fwd;  // exact symmetric path: the forward taps (dy > 0, or dy == 0 and dx > 0) ...
  const int* fdy;  // ... and their offsets
  const int* fdx;
  int nfwd;
  const T* sp;     // spatial weights
  const T* lsp;    // their logs (Exact)
  int taps;
  BilateralRange kind;
  bool l1;
  math::RangeParams<T> rp;
  void* out;        // (H, W_out, C) output, of T or uint8 (out_u8)
  i64 w_out;
  bool out_u8, centre_unit, reciprocal;
};

// The range weight of a tap with squared distance d2 (L2 rules) or L1 distance l1; s, ls: the
// tap's spatial weight and its log.
template <typename T, BilateralRange K, bool L1>
FOVEAL_ALWAYS_INLINE T weight(T d2, T l1, T s, T ls, const math::RangeParams<T>& rp) {
  if constexpr (K == BilateralRange::Exact) {
    return math::exp_neg(rp.coeff * (L1 ? l1 * l1 : d2) + ls);
  } else if constexpr (K == BilateralRange::Binned) {
    if constexpr (std::is_same_v<T, float>)  // bin k's value from k: no gather (see row_kernel_for)
      return s * math::range_binned_exp(std::sqrt(d2), rp);
    else
      return s * math::range_binned(std::sqrt(d2), rp);  // skimage: sqrt of the summed squares, in T
  } else if constexpr (K == BilateralRange::Interp) {
    return s * math::range_interp(l1, rp);
  } else {
    return s * rp.lut[static_cast<std::int32_t>(l1)];
  }
}

// Adds one tap to the accumulators of a row: q is the tap's shifted row (channel planes P
// apart), ctr the centre row; sum holds C rows of W sums, wsum the weight sums. One body per
// channel count so that the column loop has no inner loop and vectorises.
template <typename T, BilateralRange K, bool L1, int NC>
FOVEAL_ALWAYS_INLINE void add_tap(const Job<T>& jb, const T* __restrict q, const T* __restrict ctr, T* __restrict sum,
                                  T* __restrict wsum, T s, T ls) {
  const i64 W = jb.w, P = jb.plane;
  const math::RangeParams<T> rp = jb.rp;
  if constexpr (NC == 1) {
#pragma omp simd
    for (i64 j = 0; j < W; ++j) {
      const T v = q[j], t = ctr[j] - v;
      const T wt = weight<T, K, L1>(t * t, std::abs(t), s, ls, rp);
      wsum[j] += wt;
      sum[j] += v * wt;
    }
  } else if constexpr (NC == 3) {
    const T *q1 = q + P, *q2 = q + 2 * P, *c1 = ctr + P, *c2 = ctr + 2 * P;
    T *s1 = sum + W, *s2 = sum + 2 * W;
#pragma omp simd
    for (i64 j = 0; j < W; ++j) {
      const T v0 = q[j], v1 = q1[j], v2 = q2[j];
      const T t0 = ctr[j] - v0, t1 = c1[j] - v1, t2 = c2[j] - v2;
      const T d2 = t0 * t0 + t1 * t1 + t2 * t2;
      const T l1 = std::abs(t0) + std::abs(t1) + std::abs(t2);
      const T wt = weight<T, K, L1>(d2, l1, s, ls, rp);
      wsum[j] += wt;
      sum[j] += v0 * wt;
      s1[j] += v1 * wt;
      s2[j] += v2 * wt;
    }
  } else {  // any channel count (skimage allows several): scalar
    const i64 C = jb.c;
    for (i64 j = 0; j < W; ++j) {
      T d2 = 0, l1 = 0;
      for (i64 ch = 0; ch < C; ++ch) {
        const T t = ctr[ch * P + j] - q[ch * P + j];
        d2 += t * t;
        l1 += std::abs(t);
      }
      const T wt = weight<T, K, L1>(d2, l1, s, ls, rp);
      wsum[j] += wt;
      for (i64 ch = 0; ch < C; ++ch) sum[ch * W + j] += q[ch * P + j] * wt;
    }
  }
}

// Row y: `acc` holds C sums then the weight sums, W each.
template <typename T, BilateralRange K, bool L1, int NC>
FOVEAL_ALWAYS_INLINE void row_kind(const Job<T>* jb, i64 y, T* acc) {
  const i64 W = jb->w, C = jb->c;
  std::fill(acc, acc + (C + 1) * W, T(0));
  const T* ctr = jb->pad + (y + jb->r) * jb->wp + jb->r;
  for (int k = 0; k < jb->taps; ++k)
    add_tap<T, K, L1, NC>(*jb, ctr + jb->off[k], ctr, acc, acc + C * W, jb->sp[k], jb->lsp[k]);
}

// Columns per register block: one 512-bit vector of float (two 256-bit ones).
template <typename T>
constexpr int kBlock = 64 / sizeof(T);

// Row y for 1 or 3 channels, in blocks of kBlock columns whose sums stay in registers across
// all taps (the row width is a multiple of kBlock, see run()).
template <typename T, BilateralRange K, bool L1, int NC>
FOVEAL_ALWAYS_INLINE void row_blocked(const Job<T>* jb, i64 y, T* acc) {
  constexpr int B = kBlock<T>;
  const i64 W = jb->w, P = jb->plane;
  const int taps = jb->taps;
  const math::RangeParams<T> rp = jb->rp;
  const T* ctr0 = jb->pad + (y + jb->r) * jb->wp + jb->r;
  for (i64 j0 = 0; j0 < W; j0 += B) {
    const T* c = ctr0 + j0;
    T cv[NC][B], sum[NC][B], ws[B];
    for (int ch = 0; ch < NC; ++ch)
      for (int j = 0; j < B; ++j) {
        cv[ch][j] = c[ch * P + j];
        sum[ch][j] = T(0);
      }
    for (int j = 0; j < B; ++j) ws[j] = T(0);
    for (int k = 0; k < taps; ++k) {
      const T* q = c + jb->off[k];
      const T s = jb->sp[k], ls = jb->lsp[k];
#pragma omp simd
      for (int j = 0; j < B; ++j) {
        T d2 = 0, l1 = 0, v[NC];
        for (int ch = 0; ch < NC; ++ch) {
          v[ch] = q[ch * P + j];
          const T t = cv[ch][j] - v[ch];
          d2 += t * t;
          l1 += std::abs(t);
        }
        const T wt = weight<T, K, L1>(d2, l1, s, ls, rp);
        ws[j] += wt;
        for (int ch = 0; ch < NC; ++ch) sum[ch][j] += v[ch] * wt;
      }
    }
    for (int ch = 0; ch < NC; ++ch)
      for (int j = 0; j < B; ++j) acc[ch * W + j0 + j] = sum[ch][j];
    for (int j = 0; j < B; ++j) acc[NC * W + j0 + j] = ws[j];
  }
}

template <typename T, BilateralRange K, bool L1>
FOVEAL_ALWAYS_INLINE void row_dispatch_c(const Job<T>* jb, i64 y, T* acc) {
  if constexpr (K == BilateralRange::Exact) {
    if (jb->c == 1) return row_kind<T, K, L1, 1>(jb, y, acc);
    if (jb->c == 3) return row_kind<T, K, L1, 3>(jb, y, acc);
  } else {
    if (jb->c == 1) return row_blocked<T, K, L1, 1>(jb, y, acc);
    if (jb->c == 3) return row_blocked<T, K, L1, 3>(jb, y, acc);
  }
  row_kind<T, K, L1, 0>(jb, y, acc);
}

// Output value from its sums: OpenCV's float filter adds the centre with weight 1 (cu = 1);
// OpenCV's uint8 colour filter multiplies by 1 / wsum.
template <typename T, bool Recip>
FOVEAL_ALWAYS_INLINE T finish(T s, T ws, T c, T cu) {
  s += cu * c;
  ws += cu;
  if constexpr (Recip) return s * (T(1) / ws);
  return s / ws;
}

FOVEAL_ALWAYS_INLINE std::uint8_t to_u8(float v) {
  long r = std::lrint(v);  // ties to even, as cvRound (inlined as one conversion; nearbyint is a call)
  r = r < 0 ? 0 : r;
  return static_cast<std::uint8_t>(r > 255 ? 255 : r);
}

// Writes output row y from the sums in acc.
template <typename T, typename S, int NC, bool Recip>
FOVEAL_ALWAYS_INLINE void finish_row_c(const Job<T>* jb, i64 y, const T* acc) {
  const i64 W = jb->w_out, WB = jb->w, P = jb->plane;
  const T* ctr = jb->pad + (y + jb->r) * jb->wp + jb->r;
  const T* wsum = acc + NC * WB;
  const T cu = jb->centre_unit ? T(1) : T(0);
  S* o = static_cast<S*>(jb->out) + y * W * NC;
#pragma omp simd
  for (i64 j = 0; j < W; ++j)
    for (int ch = 0; ch < NC; ++ch) {
      const T v = finish<T, Recip>(acc[ch * WB + j], wsum[j], ctr[ch * P + j], cu);
      if constexpr (std::is_same_v<S, std::uint8_t>)
        o[j * NC + ch] = to_u8(v);
      else
        o[j * NC + ch] = v;
    }
}

template <typename T, typename S>
FOVEAL_ALWAYS_INLINE void finish_row_s(const Job<T>* jb, i64 y, const T* acc) {
  if (jb->c == 1) return finish_row_c<T, S, 1, false>(jb, y, acc);
  if (jb->c == 3)
    return jb->reciprocal ? finish_row_c<T, S, 3, true>(jb, y, acc) : finish_row_c<T, S, 3, false>(jb, y, acc);
  const i64 W = jb->w_out, WB = jb->w, P = jb->plane, C = jb->c;
  const T* ctr = jb->pad + (y + jb->r) * jb->wp + jb->r;
  const T cu = jb->centre_unit ? T(1) : T(0);
  S* o = static_cast<S*>(jb->out) + y * W * C;
  for (i64 j = 0; j < W; ++j)
    for (i64 ch = 0; ch < C; ++ch) {
      const T v = finish<T, false>(acc[ch * WB + j], acc[C * WB + j], ctr[ch * P + j], cu);
      if constexpr (std::is_same_v<S, std::uint8_t>)
        o[j * C + ch] = to_u8(v);
      else
        o[j * C + ch] = v;
    }
}

template <typename T>
FOVEAL_ALWAYS_INLINE void finish_row(const Job<T>* jb, i64 y, const T* acc) {
  if constexpr (std::is_same_v<T, float>) {
    if (jb->out_u8) return finish_row_s<T, std::uint8_t>(jb, y, acc);
  }
  finish_row_s<T, T>(jb, y, acc);
}

// Accumulates row y of the output into acc (sums per channel, then weight sums).
template <typename T>
FOVEAL_ALWAYS_INLINE void accumulate_row(const Job<T>* jb, i64 y, T* acc) {
  switch (jb->kind) {
    case BilateralRange::Exact:
      if (jb->l1) return row_dispatch_c<T, BilateralRange::Exact, true>(jb, y, acc);
      return row_dispatch_c<T, BilateralRange::Exact, false>(jb, y, acc);
    case BilateralRange::Binned: return row_dispatch_c<T, BilateralRange::Binned, false>(jb, y, acc);
    case BilateralRange::Interp: return row_dispatch_c<T, BilateralRange::Interp, true>(jb, y, acc);
    case BilateralRange::IntLut: return row_dispatch_c<T, BilateralRange::IntLut, true>(jb, y, acc);
  }
}
// Two kernels per row, each compiled per ISA: the sums, then the output values. (One function
// for both keeps GCC from vectorising the tap loop of the blocked rows.)
FOVEAL_SIMD_VARIANTS(row_kernel, accumulate_row, (const Job<T>* jb, i64 y, T* acc), (jb, y, acc))
FOVEAL_SIMD_VARIANTS(finish_kernel, finish_row, (const Job<T>* jb, i64 y, const T* acc), (jb, y, acc))

// ---- symmetric evaluation ------------------------------------------------------------------------
// w(p, q) = w(q, p) when the spatial weights are symmetric and the range weight depends on the
// colour distance only (the exact filter, OpenCV's uint8 table; not skimage's shifted spatial
// table), so a chunk of rows computes each pair's weight once: for every centre p (output rows,
// plus the r rows and columns of padding before them) and every forward tap q = p + (dy, dx), w
// adds q to p's sums and p to q's. Half the exponentials or table lookups of the direct loop; the
// sums add in another order than OpenCV's, which moves a few more uint8 rounding ties.

template <typename T, BilateralRange K, bool L1, int NC>
FOVEAL_ALWAYS_INLINE T sym_weight(const T* c, const T* q, i64 P, i64 j, T s, T ls, const math::RangeParams<T>& rp) {
  if constexpr (NC == 1) {
    const T t = c[j] - q[j];
    return weight<T, K, L1>(t * t, std::abs(t), s, ls, rp);
  } else {
    const T t0 = c[j] - q[j], t1 = c[P + j] - q[P + j], t2 = c[2 * P + j] - q[2 * P + j];
    return weight<T, K, L1>(t0 * t0 + t1 * t1 + t2 * t2, std::abs(t0) + std::abs(t1) + std::abs(t2), s, ls, rp);
  }
}

// s: the target row's sums (NC rows of WB, then the weight sums); v: the values added, shifted.
template <typename T, int NC>
FOVEAL_ALWAYS_INLINE void sym_add(T* __restrict s, const T* __restrict w, const T* __restrict v, i64 WB, i64 P) {
  if constexpr (NC == 1) {
#pragma omp simd
    for (i64 j = 0; j < WB; ++j) {
      s[j] += w[j] * v[j];
      s[WB + j] += w[j];
    }
  } else {
#pragma omp simd
    for (i64 j = 0; j < WB; ++j) {
      const T wt = w[j];
      s[j] += wt * v[j];
      s[WB + j] += wt * v[P + j];
      s[2 * WB + j] += wt * v[2 * P + j];
      s[3 * WB + j] += wt;
    }
  }
}

// Rows [y0, y1) into acc (rows of (NC + 1) WB sums); wbuf holds WB + 2r weights.
template <typename T, BilateralRange K, bool L1, int NC>
FOVEAL_ALWAYS_INLINE void sym_chunk(const Job<T>* jb, i64 y0, i64 y1, T* acc, T* wbuf) {
  const i64 WB = jb->w, P = jb->plane, wp = jb->wp, r = jb->r, stride = (NC + 1) * WB;
  const math::RangeParams<T> rp = jb->rp;
  for (i64 y = y0; y < y1; ++y) {  // the centre tap: weight 1 (checked by run())
    const T* c = jb->pad + (y + r) * wp + r;
    T* s = acc + (y - y0) * stride;
    for (int ch = 0; ch < NC; ++ch)
      for (i64 j = 0; j < WB; ++j) s[ch * WB + j] = c[ch * P + j];
    for (i64 j = 0; j < WB; ++j) s[NC * WB + j] = T(1);
  }
  T* wb = wbuf + r;  // wb[j], j in [-r, WB + r)
  for (i64 y = y0 - r; y < y1; ++y) {
    const T* c = jb->pad + (y + r) * wp + r;  // centre row y (a padding row when y < 0)
    const bool own = y >= y0;
    for (int f = 0; f < jb->nfwd; ++f) {
      const i64 dy = jb->fdy[f], dx = jb->fdx[f], yt = y + dy;
      const bool other = yt >= y0 && yt < y1;
      if (!own && !other) continue;
      const T* q = c + dy * wp + dx;
      const T sw = jb->sp[jb->fwd[f]], ls = jb->lsp[jb->fwd[f]];
      // own: centres j in [0, WB); other: centres whose neighbour j + dx is in [0, WB)
      const i64 j0 = own ? (other ? std::min<i64>(0, -dx) : 0) : -dx;
      const i64 j1 = own ? (other ? std::max<i64>(WB, WB - dx) : WB) : WB - dx;
      if (own) {  // weights of [0, WB) added to row y as they are computed; the margins stored only
        T* sr = acc + (y - y0) * stride;
#pragma omp simd
        for (i64 j = j0; j < 0; ++j) wb[j] = sym_weight<T, K, L1, NC>(c, q, P, j, sw, ls, rp);
#pragma omp simd
        for (i64 j = 0; j < WB; ++j) {
          const T wt = sym_weight<T, K, L1, NC>(c, q, P, j, sw, ls, rp);
          wb[j] = wt;
          for (int ch = 0; ch < NC; ++ch) sr[ch * WB + j] += wt * q[ch * P + j];
          sr[NC * WB + j] += wt;
        }
#pragma omp simd
        for (i64 j = WB; j < j1; ++j) wb[j] = sym_weight<T, K, L1, NC>(c, q, P, j, sw, ls, rp);
      } else {
#pragma omp simd
        for (i64 j = j0; j < j1; ++j) wb[j] = sym_weight<T, K, L1, NC>(c, q, P, j, sw, ls, rp);
      }
      if (other) sym_add<T, NC>(acc + (yt - y0) * stride, wb - dx, c - dx, WB, P);
    }
  }
}

template <typename T>
FOVEAL_ALWAYS_INLINE void sym_body(const Job<T>* jb, i64 y0, i64 y1, T* acc, T* wbuf) {
  constexpr BilateralRange E = BilateralRange::Exact, I = BilateralRange::IntLut;
  if (jb->kind == I) {
    if (jb->c == 1) return sym_chunk<T, I, true, 1>(jb, y0, y1, acc, wbuf);
    return sym_chunk<T, I, true, 3>(jb, y0, y1, acc, wbuf);
  }
  if (jb->c == 1) return sym_chunk<T, E, false, 1>(jb, y0, y1, acc, wbuf);
  if (jb->l1) return sym_chunk<T, E, true, 3>(jb, y0, y1, acc, wbuf);
  sym_chunk<T, E, false, 3>(jb, y0, y1, acc, wbuf);
}
FOVEAL_SIMD_VARIANTS(sym_kernel, sym_body, (const Job<T>* jb, i64 y0, i64 y1, T* acc, T* wbuf),
                     (jb, y0, y1, acc, wbuf))

// The AVX2 variant on AVX-512 machines for table lookups (see row_kernel_for).
template <typename T>
auto row_sym_for_gathers() {
#if FOVEAL_X86_DISPATCH
  if (simd_level() == SimdLevel::Avx512) return &sym_kernel_avx2<T>;
#endif
  return sym_kernel<T>();
}

// Table lookups vectorise as gathers, and AVX-512 gathers are slower than AVX2's on AMD Zen 4
// (measured: 1.3-1.8x): table-driven kinds run the AVX2 variant there.
template <typename T>
auto row_kernel_for(const Job<T>& jb) {
  const bool gathers = jb.kind == BilateralRange::IntLut || jb.kind == BilateralRange::Interp ||
                       (jb.kind == BilateralRange::Binned && !std::is_same_v<T, float>);
#if FOVEAL_X86_DISPATCH
  if (gathers && simd_level() == SimdLevel::Avx512) return &row_kernel_avx2<T>;
#else
  (void)gathers;
#endif
  return row_kernel<T>();
}

template <typename S, typename T>
void run(ConstTensorView image, TensorView out, const math::BilateralPlan& plan, const ExecContext& ctx) {
  const i64 H = image.size(0), W = image.size(1), C = image.size(2), r = plan.radius;
  // Rows are computed kBlock columns at a time: the padded planes carry the extra columns too.
  const i64 WB = (W + kBlock<T> - 1) / kBlock<T> * kBlock<T>;
  const i64 hp = H + 2 * r, wp = WB + 2 * r, P = hp * wp;
  const S* src = image.data_as<S>();
  S* dst = out.data_as<S>();
  const int nt = ctx.num_threads;

  // Padded planar copy; the border maps are computed once per axis.
  std::unique_ptr<T[]> pad(new T[static_cast<std::size_t>(C * P)]);  // every element is written below
  std::vector<i64> xmap(static_cast<std::size_t>(wp));
  for (i64 x = 0; x < wp; ++x) xmap[x] = math::border_index(std::min(x, W + 2 * r - 1) - r, W, plan.border);
  const T pv = static_cast<T>(plan.pad_value);
  parallel_for(0, hp, nt, 64, [&](i64 yp) {
    const i64 y = math::border_index(yp - r, H, plan.border);
    for (i64 ch = 0; ch < C; ++ch) {
      T* row = pad.get() + ch * P + yp * wp;
      if (y < 0) {
        std::fill(row, row + wp, pv);
        continue;
      }
      const S* s = src + y * W * C + ch;
      for (i64 x = 0; x < r; ++x) row[x] = xmap[x] < 0 ? pv : static_cast<T>(s[xmap[x] * C]);
#pragma omp simd
      for (i64 x = 0; x < W; ++x) row[r + x] = static_cast<T>(s[x * C]);
      for (i64 x = r + W; x < wp; ++x) row[x] = xmap[x] < 0 ? pv : static_cast<T>(s[xmap[x] * C]);
    }
  });

  const int K = static_cast<int>(plan.dy.size());
  std::vector<i64> off(K);
  std::vector<T> sp(K), lsp(K), lut(plan.lut.size());
  for (int k = 0; k < K; ++k) {
    off[k] = static_cast<i64>(plan.dy[k]) * wp + plan.dx[k];
    sp[k] = static_cast<T>(plan.space[k]);
    lsp[k] = static_cast<T>(plan.log_space[k]);
  }
  for (std::size_t i = 0; i < lut.size(); ++i) lut[i] = static_cast<T>(plan.lut[i]);
  // The symmetric exact path needs a centre tap and, for each forward tap, its mirror (true of
  // the front end's Gaussian windows; checked here).
  std::vector<int> fwd, fdy, fdx;
  int centre = 0, backward = 0;
  for (int k = 0; k < K; ++k) {
    const int dy = plan.dy[k], dx = plan.dx[k];
    if (dy > 0 || (dy == 0 && dx > 0)) {
      fwd.push_back(k);
      fdy.push_back(dy);
      fdx.push_back(dx);
    } else if (dy == 0 && dx == 0) {
      centre += plan.space[k] == 1.0;
    } else {
      ++backward;
    }
  }
  const bool sym = (plan.range == BilateralRange::Exact || (plan.range == BilateralRange::IntLut && plan.lut[0] == 1.0)) &&
                   !plan.centre_unit && (C == 1 || C == 3) && centre == 1 && backward == static_cast<int>(fwd.size());
  Job<T> jb{pad.get(), P, wp, WB, C, r, off.data(), fwd.data(), fdy.data(), fdx.data(), static_cast<int>(fwd.size()),
            sp.data(), lsp.data(), K, plan.range, plan.l1,
            math::RangeParams<T>{static_cast<T>(plan.coeff), static_cast<T>(plan.scale),
                                 static_cast<T>(plan.max_pos), lut.data()},
            dst, W, std::is_same_v<S, std::uint8_t>, plan.centre_unit, plan.reciprocal};
  const auto kern = row_kernel_for(jb);
  const auto fin = finish_kernel<T>();

  // One worker per thread takes chunks of rows from a shared counter (so that a thread descheduled
  // on a loaded machine holds up one chunk, not a fixed share), with its own scratch buffers.
  // ~256 chunks for big images.
  const i64 per = std::max<i64>(1, std::min<i64>(16, H / 256));
  const i64 tasks = (H + per - 1) / per;
  const i64 workers = std::min<i64>(tasks, max_threads(nt));
  std::atomic<i64> next{0};
  if (sym) {
    // Chunks of at least 4r rows: each also visits r rows before it.
    const i64 sper = std::min<i64>(H, std::max<i64>(16, 4 * r));
    const i64 stasks = (H + sper - 1) / sper;
    const auto skern = jb.kind == BilateralRange::IntLut ? row_sym_for_gathers<T>() : sym_kernel<T>();
    parallel_for(0, std::min<i64>(stasks, max_threads(nt)), nt, 2, [&](i64) {
      std::unique_ptr<T[]> acc(new T[static_cast<std::size_t>(sper * (C + 1) * WB)]);
      std::unique_ptr<T[]> wbuf(new T[static_cast<std::size_t>(WB + 2 * r)]);
      for (i64 t = next.fetch_add(1, std::memory_order_relaxed); t < stasks;
           t = next.fetch_add(1, std::memory_order_relaxed)) {
        ctx.throw_if_cancelled("bilateral");
        const i64 y0 = t * sper, y1 = std::min(H, y0 + sper);
        skern(&jb, y0, y1, acc.get(), wbuf.get());
        for (i64 y = y0; y < y1; ++y) fin(&jb, y, acc.get() + (y - y0) * (C + 1) * WB);
      }
    });
    return;
  }
  parallel_for(0, workers, nt, 2, [&](i64) {
    std::unique_ptr<T[]> acc(new T[static_cast<std::size_t>((C + 1) * WB)]);
    for (i64 t = next.fetch_add(1, std::memory_order_relaxed); t < tasks;
         t = next.fetch_add(1, std::memory_order_relaxed)) {
      ctx.throw_if_cancelled("bilateral");
      for (i64 y = t * per; y < std::min(H, (t + 1) * per); ++y) {
        kern(&jb, y, acc.get());
        fin(&jb, y, acc.get());
      }
    }
  });
}

}  // namespace

void bilateral(ConstTensorView image, TensorView out, const math::BilateralPlan& plan, const ExecContext& ctx) {
  switch (image.dtype()) {
    case DType::UInt8: return run<std::uint8_t, float>(image, out, plan, ctx);
    case DType::Float32: return run<float, float>(image, out, plan, ctx);
    default: return run<double, double>(image, out, plan, ctx);
  }
}

}  // namespace foveal::cpu
