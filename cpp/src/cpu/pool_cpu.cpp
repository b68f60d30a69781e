// SPDX-License-Identifier: Apache-2.0
// Pooling on the CPU. Planes (N * C) run in parallel. Max and average pooling without indices are
// separable: each output row first reduces its window's input rows into a padded scratch row
// (contiguous, SIMD), then reduces that row along W for all output columns at once (SIMD across
// columns; strides 1 and 2 and kernels 2 and 3 are compiled as constants). Max pooling with
// indices and adaptive pooling walk each window in row-major order, as torch does, so that ties
// and NaNs pick the same index.
#include <algorithm>
#include <cstdint>
#include <limits>
#include <vector>

#include "cpu/parallel.hpp"
#include "cpu/simd.hpp"
#include "foveal/math/pool.hpp"
#include "ops/backend.hpp"

namespace foveal::cpu {
namespace {

using i64 = std::int64_t;

struct Geo {
  i64 planes, h, w, oh, ow;
  i64 kh, kw, sh, sw, ph, pw, dh, dw;
  i64 tlen;  // scratch row: input column j at index pw + j, padding outside
};

Geo geometry(ConstTensorView input, ConstTensorView out, const Pool2dParams& p) {
  const int nd = input.ndim();
  Geo g{};
  g.h = input.size(nd - 2), g.w = input.size(nd - 1);
  g.oh = out.size(nd - 2), g.ow = out.size(nd - 1);
  g.planes = g.h * g.w > 0 ? input.numel() / (g.h * g.w) : 0;
  g.kh = p.kernel_h, g.kw = p.kernel_w, g.sh = p.stride_h, g.sw = p.stride_w;
  g.ph = p.pad_h, g.pw = p.pad_w, g.dh = p.dilation_h, g.dw = p.dilation_w;
  g.tlen = std::max(g.pw + g.w, (g.ow - 1) * g.sw + (g.kw - 1) * g.dw + 1);
  return g;
}

struct MaxOp {
  template <typename T>
  static FOVEAL_ALWAYS_INLINE T f(T m, T v) { return math::max_pool_takes(v, m) ? v : m; }
  template <typename T>
  static T pad() { return -std::numeric_limits<T>::infinity(); }
};
struct SumOp {
  template <typename T>
  static FOVEAL_ALWAYS_INLINE T f(T a, T b) { return a + b; }
  template <typename T>
  static T pad() { return T(0); }
};

template <class Op, typename T>
FOVEAL_ALWAYS_INLINE void combine_row(T* acc, const T* row, i64 n) {
#pragma omp simd
  for (i64 i = 0; i < n; ++i) acc[i] = Op::f(acc[i], row[i]);
}

template <typename T>
FOVEAL_ALWAYS_INLINE void copy_row(T* dst, const T* src, i64 n) {
#pragma omp simd
  for (i64 i = 0; i < n; ++i) dst[i] = src[i];
}

// o[i] = Op over k taps t[i s + j d]; S and K are compile-time when non-zero.
template <class Op, int S, int K, typename T>
FOVEAL_ALWAYS_INLINE void reduce_cols(T* o, const T* t, i64 n, i64 s_rt, i64 k_rt, i64 d) {
  const i64 s = S ? S : s_rt;
  if constexpr (K == 2 || K == 3) {
    (void)k_rt;
    const T* t1 = t + d;
    const T* t2 = t + 2 * d;
#pragma omp simd
    for (i64 i = 0; i < n; ++i) {
      T a = Op::f(t[i * s], t1[i * s]);
      if constexpr (K == 3) a = Op::f(a, t2[i * s]);
      o[i] = a;
    }
  } else {
#pragma omp simd
    for (i64 i = 0; i < n; ++i) o[i] = t[i * s];
    for (i64 j = 1; j < k_rt; ++j) {
      const T* tj = t + j * d;
#pragma omp simd
      for (i64 i = 0; i < n; ++i) o[i] = Op::f(o[i], tj[i * s]);
    }
  }
}

template <class Op, int S, typename T>
FOVEAL_ALWAYS_INLINE void reduce_cols_k(T* o, const T* t, const Geo& g) {
  if (g.kw == 2) return reduce_cols<Op, S, 2>(o, t, g.ow, g.sw, g.kw, g.dw);
  if (g.kw == 3) return reduce_cols<Op, S, 3>(o, t, g.ow, g.sw, g.kw, g.dw);
  reduce_cols<Op, S, 0>(o, t, g.ow, g.sw, g.kw, g.dw);
}

template <class Op, typename T>
FOVEAL_ALWAYS_INLINE void reduce_cols_any(T* o, const T* t, const Geo& g) {
  if (g.sw == 1) return reduce_cols_k<Op, 1>(o, t, g);
  if (g.sw == 2) return reduce_cols_k<Op, 2>(o, t, g);
  reduce_cols_k<Op, 0>(o, t, g);
}

// One plane of max pooling without indices; `t` is the scratch row with its padding set.
template <typename T>
FOVEAL_ALWAYS_INLINE void max_plane_body(const T* x, T* y, T* t, const Geo& g) {
  T* tc = t + g.pw;
  for (i64 oh = 0; oh < g.oh; ++oh) {
    const math::TapRange r = math::max_pool_taps(oh, g.h, g.kh, g.sh, g.ph, g.dh);
    if (r.begin >= r.end) {
      std::fill(tc, tc + g.w, MaxOp::pad<T>());
    } else {
      copy_row(tc, x + r.begin * g.w, g.w);
      for (i64 ih = r.begin + g.dh; ih < r.end; ih += g.dh) combine_row<MaxOp>(tc, x + ih * g.w, g.w);
    }
    reduce_cols_any<MaxOp>(y + oh * g.ow, t, g);
  }
}
FOVEAL_SIMD_VARIANTS(max_plane, max_plane_body, (const T* x, T* y, T* t, const Geo& g), (x, y, t, g))

// One plane of average pooling; the divisor of (oh, ow) is hdiv[oh] * wdiv[ow].
template <typename T>
FOVEAL_ALWAYS_INLINE void avg_plane_body(const T* x, T* y, T* t, const Geo& g, const T* hdiv, const T* wdiv) {
  T* tc = t + g.pw;
  for (i64 oh = 0; oh < g.oh; ++oh) {
    const math::AvgWindow r = math::avg_pool_window(oh, g.h, g.kh, g.sh, g.ph);
    if (r.begin >= r.end) {
      std::fill(tc, tc + g.w, T(0));
    } else {
      copy_row(tc, x + r.begin * g.w, g.w);
      for (i64 ih = r.begin + 1; ih < r.end; ++ih) combine_row<SumOp>(tc, x + ih * g.w, g.w);
    }
    T* yo = y + oh * g.ow;
    reduce_cols_any<SumOp>(yo, t, g);
    const T hd = hdiv[oh];
#pragma omp simd
    for (i64 i = 0; i < g.ow; ++i) yo[i] = yo[i] / (hd * wdiv[i]);
  }
}
FOVEAL_SIMD_VARIANTS(avg_plane, avg_plane_body,
                     (const T* x, T* y, T* t, const Geo& g, const T* hdiv, const T* wdiv),
                     (x, y, t, g, hdiv, wdiv))

/// Runs plane(first, last, scratch) over chunks of planes in parallel, one scratch row of
/// `tlen` elements (filled with `pad`) per chunk.
template <typename T, typename F>
void for_plane_chunks(const Geo& g, i64 tlen, T pad, int num_threads, F&& plane) {
  const i64 per_plane = std::max<i64>(1, g.h * g.w);
  const i64 chunks = std::min<i64>(g.planes, std::max<i64>(1, max_threads(num_threads)) * 8);
  const i64 min_chunks = per_plane * g.planes >= (1 << 15) ? 2 : chunks + 1;
  parallel_for(0, chunks, num_threads, min_chunks, [&](i64 c) {
    std::vector<T> scratch(static_cast<std::size_t>(tlen), pad);
    const i64 first = c * g.planes / chunks, last = (c + 1) * g.planes / chunks;
    for (i64 q = first; q < last; ++q) plane(q, scratch.data());
  });
}

// Max pooling with indices: each window in row-major order, as torch walks it.
template <typename T>
void max_plane_indices(const T* x, T* y, i64* idx, const Geo& g) {
  for (i64 oh = 0; oh < g.oh; ++oh) {
    const math::TapRange hr = math::max_pool_taps(oh, g.h, g.kh, g.sh, g.ph, g.dh);
    for (i64 ow = 0; ow < g.ow; ++ow) {
      const math::TapRange wr = math::max_pool_taps(ow, g.w, g.kw, g.sw, g.pw, g.dw);
      T m = -std::numeric_limits<T>::infinity();
      i64 mi = hr.begin * g.w + wr.begin;
      for (i64 ih = hr.begin; ih < hr.end; ih += g.dh)
        for (i64 iw = wr.begin; iw < wr.end; iw += g.dw) {
          const T v = x[ih * g.w + iw];
          if (math::max_pool_takes(v, m)) m = v, mi = ih * g.w + iw;
        }
      y[oh * g.ow + ow] = m;
      idx[oh * g.ow + ow] = mi;
    }
  }
}

template <typename T>
void max_pool_impl(ConstTensorView input, TensorView out, TensorView indices, const Pool2dParams& p,
                   const ExecContext& ctx) {
  const Geo g = geometry(input, out, p);
  const T* x = input.data_as<T>();
  T* y = out.data_as<T>();
  const i64 in_plane = g.h * g.w, out_plane = g.oh * g.ow;
  if (indices.data() != nullptr) {
    i64* idx = indices.data_as<i64>();
    for_plane_chunks<T>(g, 0, T(0), ctx.num_threads, [&](i64 q, T*) {
      max_plane_indices(x + q * in_plane, y + q * out_plane, idx + q * out_plane, g);
    });
    return;
  }
  const auto plane = max_plane<T>();
  for_plane_chunks<T>(g, g.tlen, MaxOp::pad<T>(), ctx.num_threads,
                      [&](i64 q, T* t) { plane(x + q * in_plane, y + q * out_plane, t, g); });
}

template <typename T>
void avg_pool_impl(ConstTensorView input, TensorView out, const Pool2dParams& p, bool count_include_pad,
                   i64 divisor_override, const ExecContext& ctx) {
  const Geo g = geometry(input, out, p);
  // Divisor factors per output row and column (their product is exact in T).
  std::vector<T> hdiv(static_cast<std::size_t>(g.oh)), wdiv(static_cast<std::size_t>(g.ow));
  for (i64 o = 0; o < g.oh; ++o) {
    const math::AvgWindow r = math::avg_pool_window(o, g.h, g.kh, g.sh, g.ph);
    hdiv[o] = divisor_override ? T(divisor_override) : T(count_include_pad ? r.padded : r.end - r.begin);
  }
  for (i64 o = 0; o < g.ow; ++o) {
    const math::AvgWindow r = math::avg_pool_window(o, g.w, g.kw, g.sw, g.pw);
    wdiv[o] = divisor_override ? T(1) : T(count_include_pad ? r.padded : r.end - r.begin);
  }
  const T* x = input.data_as<T>();
  T* y = out.data_as<T>();
  const i64 in_plane = g.h * g.w, out_plane = g.oh * g.ow;
  const auto plane = avg_plane<T>();
  for_plane_chunks<T>(g, g.tlen, T(0), ctx.num_threads, [&](i64 q, T* t) {
    plane(x + q * in_plane, y + q * out_plane, t, g, hdiv.data(), wdiv.data());
  });
}

// Adaptive bins of one axis, computed once per call.
std::vector<math::TapRange> adaptive_bins(i64 out, i64 in) {
  std::vector<math::TapRange> b(static_cast<std::size_t>(out));
  for (i64 o = 0; o < out; ++o) b[o] = {math::adaptive_begin(o, out, in), math::adaptive_end(o, out, in)};
  return b;
}

template <typename T>
void adaptive_max_impl(ConstTensorView input, TensorView out, TensorView indices, const ExecContext& ctx) {
  const Geo g = geometry(input, out, Pool2dParams{});
  const auto hb = adaptive_bins(g.oh, g.h), wb = adaptive_bins(g.ow, g.w);
  const T* x = input.data_as<T>();
  T* y = out.data_as<T>();
  i64* idx = indices.data() != nullptr ? indices.data_as<i64>() : nullptr;
  const i64 in_plane = g.h * g.w, out_plane = g.oh * g.ow;
  for_plane_chunks<T>(g, 0, T(0), ctx.num_threads, [&](i64 q, T*) {
    const T* xp = x + q * in_plane;
    for (i64 oh = 0; oh < g.oh; ++oh)
      for (i64 ow = 0; ow < g.ow; ++ow) {
        T m = -std::numeric_limits<T>::infinity();
        i64 mi = hb[oh].begin * g.w + wb[ow].begin;
        for (i64 ih = hb[oh].begin; ih < hb[oh].end; ++ih)
          for (i64 iw = wb[ow].begin; iw < wb[ow].end; ++iw) {
            const T v = xp[ih * g.w + iw];
            if (math::max_pool_takes(v, m)) m = v, mi = ih * g.w + iw;
          }
        const i64 o = q * out_plane + oh * g.ow + ow;
        y[o] = m;
        if (idx) idx[o] = mi;
      }
  });
}

template <typename T>
void adaptive_avg_impl(ConstTensorView input, TensorView out, const ExecContext& ctx) {
  const Geo g = geometry(input, out, Pool2dParams{});
  const auto hb = adaptive_bins(g.oh, g.h), wb = adaptive_bins(g.ow, g.w);
  const T* x = input.data_as<T>();
  T* y = out.data_as<T>();
  const i64 in_plane = g.h * g.w, out_plane = g.oh * g.ow;
  for_plane_chunks<T>(g, 0, T(0), ctx.num_threads, [&](i64 q, T*) {
    const T* xp = x + q * in_plane;
    for (i64 oh = 0; oh < g.oh; ++oh)
      for (i64 ow = 0; ow < g.ow; ++ow) {
        T s = 0;
        for (i64 ih = hb[oh].begin; ih < hb[oh].end; ++ih)
          for (i64 iw = wb[ow].begin; iw < wb[ow].end; ++iw) s += xp[ih * g.w + iw];
        // sum / bin height / bin width, in that order, as torch divides
        y[q * out_plane + oh * g.ow + ow] = s / T(hb[oh].end - hb[oh].begin) / T(wb[ow].end - wb[ow].begin);
      }
  });
}

}  // namespace

void max_pool2d(ConstTensorView input, TensorView out, TensorView indices, const Pool2dParams& p,
                const ExecContext& ctx) {
  if (input.dtype() == DType::Float32) return max_pool_impl<float>(input, out, indices, p, ctx);
  max_pool_impl<double>(input, out, indices, p, ctx);
}

void avg_pool2d(ConstTensorView input, TensorView out, const Pool2dParams& p, bool count_include_pad,
                std::int64_t divisor_override, const ExecContext& ctx) {
  if (input.dtype() == DType::Float32)
    return avg_pool_impl<float>(input, out, p, count_include_pad, divisor_override, ctx);
  avg_pool_impl<double>(input, out, p, count_include_pad, divisor_override, ctx);
}

void adaptive_max_pool2d(ConstTensorView input, TensorView out, TensorView indices, const ExecContext& ctx) {
  if (input.dtype() == DType::Float32) return adaptive_max_impl<float>(input, out, indices, ctx);
  adaptive_max_impl<double>(input, out, indices, ctx);
}

void adaptive_avg_pool2d(ConstTensorView input, TensorView out, const ExecContext& ctx) {
  if (input.dtype() == DType::Float32) return adaptive_avg_impl<float>(input, out, ctx);
  adaptive_avg_impl<double>(input, out, ctx);
}

}  // namespace foveal::cpu
