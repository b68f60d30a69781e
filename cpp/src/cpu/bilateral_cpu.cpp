// SPDX-License-Identifier: Apache-2.0
// Bilateral filter on the CPU. The image is first copied into a padded, planar (channel-major)
// buffer in the compute type, so that the border is resolved once and every tap of the window
// is a plain row offset. Rows are split into tasks over threads; within a row, each tap adds its
// weights to per-column accumulators in a loop over the columns, which vectorises (one
// variant per ISA, cpu/simd.hpp).
#include <algorithm>
#include <cmath>
#include <cstdint>
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
  const T* pad;  // C planes of (H + 2r) x (W + 2r)
  i64 plane, wp, w, c, r;
  const i64* off;  // tap offsets in the padded plane
  const T* sp;     // spatial weights
  const T* lsp;    // their logs (Exact)
  int taps;
  BilateralRange kind;
  bool l1;
  math::RangeParams<T> rp;
};

// Adds tap (q: its row, shifted) to the accumulators of one row: NC channels (0: job.c at run time).
template <typename T, BilateralRange K, int NC>
FOVEAL_ALWAYS_INLINE void add_tap(const Job<T>& jb, const T* __restrict q, const T* __restrict ctr, T* __restrict sum,
                                  T* __restrict wsum, T s, T ls) {
  const i64 W = jb.w, P = jb.plane;
  const int C = NC > 0 ? NC : static_cast<int>(jb.c);
  const math::RangeParams<T> rp = jb.rp;
  const bool l1 = jb.l1;
#pragma omp simd
  for (i64 j = 0; j < W; ++j) {
    T dist = 0;  // squared Euclidean or L1
    for (int ch = 0; ch < C; ++ch) {
      const T t = ctr[ch * P + j] - q[ch * P + j];
      dist += l1 ? std::abs(t) : t * t;
    }
    T wt;
    if constexpr (K == BilateralRange::Exact) {
      wt = math::exp_neg(rp.coeff * (l1 ? dist * dist : dist) + ls);
    } else if constexpr (K == BilateralRange::Binned) {
      wt = s * math::range_binned(std::sqrt(dist), rp);  // skimage: sqrt of the summed squares, in T
    } else if constexpr (K == BilateralRange::Interp) {
      wt = s * math::range_interp(dist, rp);
    } else {
      wt = s * rp.lut[static_cast<std::int32_t>(dist)];
    }
    wsum[j] += wt;
    for (int ch = 0; ch < C; ++ch) sum[ch * W + j] += q[ch * P + j] * wt;
  }
}

// Row y: `acc` holds C sums then the weight sums, W each.
template <typename T, BilateralRange K, int NC>
FOVEAL_ALWAYS_INLINE void row_kind(const Job<T>* jb, i64 y, T* acc) {
  const i64 W = jb->w, C = jb->c;
  std::fill(acc, acc + (C + 1) * W, T(0));
  const T* ctr = jb->pad + (y + jb->r) * jb->wp + jb->r;
  for (int k = 0; k < jb->taps; ++k)
    add_tap<T, K, NC>(*jb, ctr + jb->off[k], ctr, acc, acc + C * W, jb->sp[k], jb->lsp[k]);
}

template <typename T, BilateralRange K>
FOVEAL_ALWAYS_INLINE void row_dispatch_c(const Job<T>* jb, i64 y, T* acc) {
  if (jb->c == 1) return row_kind<T, K, 1>(jb, y, acc);
  if (jb->c == 3) return row_kind<T, K, 3>(jb, y, acc);
  row_kind<T, K, 0>(jb, y, acc);
}

// Accumulates row y of the output into acc (sums per channel, then weight sums).
template <typename T>
FOVEAL_ALWAYS_INLINE void row_body(const Job<T>* jb, i64 y, T* acc) {
  switch (jb->kind) {
    case BilateralRange::Exact: return row_dispatch_c<T, BilateralRange::Exact>(jb, y, acc);
    case BilateralRange::Binned: return row_dispatch_c<T, BilateralRange::Binned>(jb, y, acc);
    case BilateralRange::Interp: return row_dispatch_c<T, BilateralRange::Interp>(jb, y, acc);
    case BilateralRange::IntLut: return row_dispatch_c<T, BilateralRange::IntLut>(jb, y, acc);
  }
}
FOVEAL_SIMD_VARIANTS(row_kernel, row_body, (const Job<T>* jb, i64 y, T* acc), (jb, y, acc))

template <typename S, typename T>
FOVEAL_ALWAYS_INLINE S store(T v) {
  if constexpr (std::is_same_v<S, std::uint8_t>) {
    const long r = std::lrint(v);  // ties to even, as cvRound
    return static_cast<S>(r < 0 ? 0 : r > 255 ? 255 : r);
  } else {
    return static_cast<S>(v);
  }
}

template <typename S, typename T>
void run(ConstTensorView image, TensorView out, const math::BilateralPlan& plan, const ExecContext& ctx) {
  const i64 H = image.size(0), W = image.size(1), C = image.size(2), r = plan.radius;
  const i64 hp = H + 2 * r, wp = W + 2 * r, P = hp * wp;
  const S* src = image.data_as<S>();
  S* dst = out.data_as<S>();
  const int nt = ctx.num_threads;

  // Padded planar copy; the border maps are computed once per axis.
  std::vector<T> pad(static_cast<std::size_t>(C * P));
  std::vector<i64> xmap(static_cast<std::size_t>(wp));
  for (i64 x = 0; x < wp; ++x) xmap[x] = math::border_index(x - r, W, plan.border);
  const T pv = static_cast<T>(plan.pad_value);
  parallel_for(0, hp, nt, 64, [&](i64 yp) {
    const i64 y = math::border_index(yp - r, H, plan.border);
    for (i64 ch = 0; ch < C; ++ch) {
      T* row = pad.data() + ch * P + yp * wp;
      if (y < 0) {
        std::fill(row, row + wp, pv);
        continue;
      }
      const S* s = src + y * W * C + ch;
      for (i64 x = 0; x < wp; ++x) row[x] = xmap[x] < 0 ? pv : static_cast<T>(s[xmap[x] * C]);
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
  Job<T> jb{pad.data(), P, wp, W, C, r, off.data(), sp.data(), lsp.data(), K, plan.range, plan.l1,
            math::RangeParams<T>{static_cast<T>(plan.coeff), static_cast<T>(plan.scale),
                                 static_cast<T>(plan.max_pos), lut.data()}};
  const auto kern = row_kernel<T>();

  // ~16 rows per task keeps tasks long enough while balancing 2..64 threads.
  const i64 per = std::max<i64>(1, std::min<i64>(16, (H + 63) / 64));
  const i64 tasks = (H + per - 1) / per;
  parallel_for(0, tasks, nt, 2, [&](i64 t) {
    std::vector<T> acc(static_cast<std::size_t>((C + 1) * W));
    const T* wsum = acc.data() + C * W;
    for (i64 y = t * per; y < std::min(H, (t + 1) * per); ++y) {
      kern(&jb, y, acc.data());
      const T* ctr = pad.data() + (y + r) * wp + r;
      S* o = dst + y * W * C;
      for (i64 j = 0; j < W; ++j) {
        T ws = wsum[j];
        if (plan.centre_unit) ws += T(1);
        const T inv = T(1) / ws;
        for (i64 ch = 0; ch < C; ++ch) {
          T s = acc[ch * W + j];
          if (plan.centre_unit) s += ctr[ch * P + j];
          o[j * C + ch] = store<S, T>(plan.reciprocal ? s * inv : s / ws);
        }
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
