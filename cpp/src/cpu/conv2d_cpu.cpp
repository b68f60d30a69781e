// SPDX-License-Identifier: Apache-2.0
// conv2d, linear and matmul on the CPU, all but depthwise conv on the packed GEMM of
// gemm_cpu.hpp. Convolution per (image, group) is one product: weight (C_out/g, C_in/g kH kW)
// times the implicit im2col matrix (packed panel by panel from the input, never formed); a 1x1
// stride-1 unpadded kernel reads the NCHW input directly as B. Independent products run in
// parallel when there are enough of them, else each product is parallel inside. float32 3x3
// stride-1 kernels with enough channels use Winograd F(2, 3) on the GEMM micro-kernel. Depthwise
// convolution (groups == C_in == C_out) is a direct kernel: each plane copied into a zero-padded
// scratch plane, then each output row summed tap by tap with SIMD across output columns (float32
// 3x3 stride 1 at AVX-512: straight from the input with masked edge taps, see dw3x3_plane_avx512).
#include <algorithm>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "cpu/gemm_cpu.hpp"
#include "cpu/parallel.hpp"
#include "cpu/simd.hpp"
#include "foveal/math/conv.hpp"
#include "ops/backend.hpp"

#if FOVEAL_X86_DISPATCH
#include <immintrin.h>
#endif

namespace foveal::cpu {
namespace {

using i64 = std::int64_t;

template <typename T>
const T* ptr_or_null(ConstTensorView v) {
  return v.data() ? v.data_as<T>() : nullptr;
}

template <typename T>
GemmEpilogue<T> make_epilogue(const Epilogue& e) {
  GemmEpilogue<T> g;
  g.activation = e.activation;
  g.slope = static_cast<T>(e.negative_slope);
  return g;
}

/// Runs `tasks` independent products: in parallel with single-threaded products when there are
/// enough of them to balance the threads, else one by one with parallel products.
template <typename F>
void run_products(i64 tasks, int threads, F&& f) {
  if (threads > 1 && tasks >= threads && (tasks >= 4 * threads || tasks % threads == 0)) {
    parallel_for_dynamic(0, tasks, threads, 2, [&](i64 t) { f(t, 1); });
  } else {
    for (i64 t = 0; t < tasks; ++t) f(t, threads);
  }
}

// -- depthwise --------------------------------------------------------------------------------

/// One output row of a depthwise conv with a 3x3 kernel at stride 1: rows r0..r2 of the padded
/// plane, taps w[9] (dilation dw along W).
template <typename T>
FOVEAL_ALWAYS_INLINE void dw3x3_row_body(T* o, const T* r0, const T* r1, const T* r2, const T* w, i64 dw, i64 ow) {
  const T w0 = w[0], w1 = w[1], w2 = w[2], w3 = w[3], w4 = w[4], w5 = w[5], w6 = w[6], w7 = w[7], w8 = w[8];
  const i64 d2 = 2 * dw;
#pragma omp simd
  for (i64 x = 0; x < ow; ++x) {
    T s = w0 * r0[x];
    s += w1 * r0[x + dw];
    s += w2 * r0[x + d2];
    s += w3 * r1[x];
    s += w4 * r1[x + dw];
    s += w5 * r1[x + d2];
    s += w6 * r2[x];
    s += w7 * r2[x + dw];
    s += w8 * r2[x + d2];
    o[x] = s;
  }
}
FOVEAL_SIMD_VARIANTS(dw3x3_row, dw3x3_row_body,
                     (T * o, const T* r0, const T* r1, const T* r2, const T* w, i64 dw, i64 ow),
                     (o, r0, r1, r2, w, dw, ow))

/// Any kernel and stride: o[x] += wt * row[x * sw] for each tap, one tap at a time.
template <typename T>
FOVEAL_ALWAYS_INLINE void dw_tap_body(T* o, const T* row, T wt, i64 sw, i64 ow) {
  if (sw == 1) {
#pragma omp simd
    for (i64 x = 0; x < ow; ++x) o[x] += wt * row[x];
  } else {
#pragma omp simd
    for (i64 x = 0; x < ow; ++x) o[x] += wt * row[x * sw];
  }
}
FOVEAL_SIMD_VARIANTS(dw_tap, dw_tap_body, (T * o, const T* row, T wt, i64 sw, i64 ow), (o, row, wt, sw, ow))

#if FOVEAL_X86_DISPATCH
/// R output rows from oy (R + 2 input rows, each loaded once at its 3 column shifts and used for
/// every output row it reaches), 16 columns from ox.
template <int R>
FOVEAL_TARGET_AVX512 FOVEAL_ALWAYS_INLINE void dw3x3_rows_avx512(float* o, const float* src, i64 H, i64 W, i64 OW,
                                                                 i64 oy, i64 ox, i64 pt, i64 pl, const __m512* wv,
                                                                 __mmask16 m0, __mmask16 m1, __mmask16 m2,
                                                                 __mmask16 ms) {
  __m512 acc[R][3];  // all loops unrolled: the accumulators live in registers
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 3
    for (int b = 0; b < 3; ++b) acc[r][b] = _mm512_setzero_ps();
#pragma GCC unroll 16
  for (int a = 0; a < R + 2; ++a) {  // unrolled: an input row outside the plane is skipped
    const i64 iy = oy - pt + a;
    if (iy < 0 || iy >= H) continue;
    const float* row = src + iy * W + ox - pl;
    const __m512 l = _mm512_maskz_loadu_ps(m0, row), c = _mm512_maskz_loadu_ps(m1, row + 1),
                 rt = _mm512_maskz_loadu_ps(m2, row + 2);
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) {
      const int k = a - r;  // this input row is tap row k of output row oy + r
      if (k < 0 || k > 2) continue;
      acc[r][0] = _mm512_fmadd_ps(wv[3 * k], l, acc[r][0]);
      acc[r][1] = _mm512_fmadd_ps(wv[3 * k + 1], c, acc[r][1]);
      acc[r][2] = _mm512_fmadd_ps(wv[3 * k + 2], rt, acc[r][2]);
    }
  }
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r)
    _mm512_mask_storeu_ps(o + (oy + r) * OW + ox, ms, _mm512_add_ps(_mm512_add_ps(acc[r][0], acc[r][1]), acc[r][2]));
}

/// float32 3x3, stride 1, dilation 1 at AVX-512: one plane straight from the unpadded input,
/// 16 output columns per vector, the taps past the plane's edges masked off (masked-off lanes of a
/// load never fault), fused multiply-adds. `o` receives the OH x OW plane (leading dimension OW).
FOVEAL_TARGET_AVX512 void dw3x3_plane_avx512(float* o, const float* src, i64 H, i64 W, i64 OH, i64 OW, i64 pt,
                                             i64 pl, const float* w) {
  __m512 wv[9];
  for (int i = 0; i < 9; ++i) wv[i] = _mm512_set1_ps(w[i]);
  const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  for (i64 ox = 0; ox < OW; ox += 16) {
    // Tap column b reads input columns ox - pl + b + lane: inside [0, W) and for an output lane.
    const __mmask16 ms = _mm512_cmplt_epi32_mask(lane, _mm512_set1_epi32(static_cast<int>(std::min<i64>(OW - ox, 16))));
    const __m512i ix = _mm512_add_epi32(lane, _mm512_set1_epi32(static_cast<int>(ox - pl)));
    const __mmask16 m0 = ms & _mm512_cmpge_epi32_mask(ix, _mm512_set1_epi32(0)) &
                         _mm512_cmplt_epi32_mask(ix, _mm512_set1_epi32(static_cast<int>(W)));
    const __mmask16 m1 = ms & _mm512_cmpge_epi32_mask(ix, _mm512_set1_epi32(-1)) &
                         _mm512_cmplt_epi32_mask(ix, _mm512_set1_epi32(static_cast<int>(W - 1)));
    const __mmask16 m2 = ms & _mm512_cmpge_epi32_mask(ix, _mm512_set1_epi32(-2)) &
                         _mm512_cmplt_epi32_mask(ix, _mm512_set1_epi32(static_cast<int>(W - 2)));
    i64 oy = 0;
    for (; oy + 4 <= OH; oy += 4) dw3x3_rows_avx512<4>(o, src, H, W, OW, oy, ox, pt, pl, wv, m0, m1, m2, ms);
    for (; oy < OH; ++oy) dw3x3_rows_avx512<1>(o, src, H, W, OW, oy, ox, pt, pl, wv, m0, m1, m2, ms);
  }
}

/// n floats from an L1-resident src to dst with streaming stores (64-byte aligned runs; the
/// ragged ends stored plainly): the destination's lines are not read for ownership.
FOVEAL_TARGET_AVX512 void stream_copy_avx512(float* dst, const float* src, i64 n) {
  const auto addr = reinterpret_cast<std::uintptr_t>(dst);
  // Floats up to the first 64-byte boundary (all of them if dst is not even float-aligned).
  const i64 head = addr % 4 ? n : std::min(static_cast<i64>((64 - addr % 64) % 64 / 4), n);
  std::copy(src, src + head, dst);
  i64 i = head;
  for (; i + 16 <= n; i += 16) _mm512_stream_ps(dst + i, _mm512_loadu_ps(src + i));
  std::copy(src + i, src + n, dst + i);
  _mm_sfence();  // this thread's streamed lines are visible before its task ends
}
#endif

template <typename T>
void depthwise(ConstTensorView input, ConstTensorView weight, ConstTensorView bias, ConstTensorView residual,
               TensorView out, const Conv2dParams& p, const Epilogue& e, const ExecContext& ctx) {
  const int nd = input.ndim();
  const i64 H = input.size(nd - 2), W = input.size(nd - 1), C = input.size(nd - 3);
  const i64 OH = out.size(nd - 2), OW = out.size(nd - 1);
  const i64 KH = weight.size(2), KW = weight.size(3);
  const i64 planes = input.numel() / (H * W);
  // The padded plane: input at (pt + y, pl + x); as large as the farthest tap needs.
  const i64 Hp = std::max(p.pad_top + H, (OH - 1) * p.stride_h + (KH - 1) * p.dilation_h + 1);
  const i64 Wp = std::max(p.pad_left + W, (OW - 1) * p.stride_w + (KW - 1) * p.dilation_w + 1);
  const T* x = input.data_as<T>();
  const T* wt = weight.data_as<T>();
  const T* b = ptr_or_null<T>(bias);
  const T* res = ptr_or_null<T>(residual);
  T* y = out.data_as<T>();
  GemmEpilogue<T> epi = make_epilogue<T>(e);
  const bool fast3 = KH == 3 && KW == 3 && p.stride_w == 1;
  auto row3 = dw3x3_row<T>();
  auto tap = dw_tap<T>();
#if FOVEAL_X86_DISPATCH
  if constexpr (std::is_same_v<T, float>) {
    if (fast3 && p.stride_h == 1 && p.dilation_h == 1 && p.dilation_w == 1 && simd_level() == SimdLevel::Avx512) {
      // Memory bound (9 multiply-adds per 8 bytes moved). When input and output together pass
      // about half the L3 (32 MiB on the development EPYC) the output is written with streaming
      // stores from a per-thread plane: no read for ownership of its lines (measured: 0.47 vs
      // 0.56 ms on dwconv3x3_128 at 2 threads).
      const bool stream = (input.numel() + out.numel()) * static_cast<i64>(sizeof(float)) >= (i64(16) << 20);
      parallel_for_dynamic(0, planes, ctx.num_threads, 2, [&](i64 pl) {
        const i64 c = pl % C;
        float* dst = y + pl * OH * OW;
        thread_local std::vector<float> pbuf;
        if (stream) pbuf.resize(static_cast<std::size_t>(OH * OW));
        float* o = stream ? pbuf.data() : dst;
        dw3x3_plane_avx512(o, x + pl * H * W, H, W, OH, OW, p.pad_top, p.pad_left, wt + c * 9);
        GemmEpilogue<T> pe = epi;
        pe.bias = b ? b + c : nullptr;
        pe.residual = res ? res + pl * OH * OW : nullptr;
        pe.ldr = OH * OW;
        apply_epilogue(o, OH * OW, i64(1), OH * OW, pe);
        if (stream) stream_copy_avx512(dst, o, OH * OW);
      });
      return;
    }
  }
#endif
  parallel_for_dynamic(0, planes, ctx.num_threads, 2, [&](i64 pl) {
    thread_local std::vector<T> buf;
    buf.assign(static_cast<std::size_t>(Hp * Wp), T(0));
    const i64 c = pl % C;
    const T* src = x + pl * H * W;
    for (i64 r = 0; r < H; ++r)
      std::copy(src + r * W, src + (r + 1) * W, buf.data() + (p.pad_top + r) * Wp + p.pad_left);
    const T* w = wt + c * KH * KW;
    T* dst = y + pl * OH * OW;
    for (i64 oh = 0; oh < OH; ++oh) {
      T* o = dst + oh * OW;
      const T* top = buf.data() + oh * p.stride_h * Wp;
      if (fast3) {
        const i64 dh = p.dilation_h * Wp;
        row3(o, top, top + dh, top + 2 * dh, w, p.dilation_w, OW);
      } else {
        std::fill(o, o + OW, T(0));
        for (i64 kh = 0; kh < KH; ++kh)
          for (i64 kw = 0; kw < KW; ++kw)
            tap(o, top + kh * p.dilation_h * Wp + kw * p.dilation_w, w[kh * KW + kw], p.stride_w, OW);
      }
    }
    GemmEpilogue<T> pe = epi;  // the plane as one row of C: its bias is bias[c]
    pe.bias = b ? b + c : nullptr;
    pe.residual = res ? res + pl * OH * OW : nullptr;
    pe.ldr = OH * OW;
    apply_epilogue(dst, OH * OW, i64(1), OH * OW, pe);
  });
}

// -- Winograd F(2, 3) -------------------------------------------------------------------------
// A 3x3 stride-1 convolution (groups 1, float32) as 2x2 output tiles: per block of tiles, the 16
// transformed inputs V[xi] (C_in x tiles, laid out as the micro-kernel's packed B panels), the
// 16 products M[xi] = U[xi] V[xi] on the GEMM micro-kernel (U: the transformed weights, packed
// once per call), then the output transform and the epilogue. 16 multiply-adds per tile and
// channel pair instead of 36. Transforms in math/conv.hpp.

/// Worth it once the products dominate the transforms (they cost about C_in + C_out per tile).
bool winograd_applies(i64 KH, i64 KW, const Conv2dParams& p, i64 cin, i64 cout) {
  return KH == 3 && KW == 3 && p.stride_h == 1 && p.stride_w == 1 && p.dilation_h == 1 && p.dilation_w == 1 &&
         p.groups == 1 && cin >= 16 && cout >= 16;
}

/// Input transform of one tile row of one channel: `cnt` tiles whose 4x4 windows start at input
/// (ih0, iw0) (outside the input: zeros). Tile q's 16 values go to dst[xi * xs + panel(i0 + q)
/// * ps + lane(i0 + q)] (B panels of nr lanes, ps apart). Scratch: 16 (cnt + 1) values in s, R apart.
template <typename T>
FOVEAL_ALWAYS_INLINE void wino_in_row_body(const T* xc, i64 H, i64 W, i64 ih0, i64 iw0, i64 cnt, T* s, i64 R,
                                           T* dst, i64 i0, i64 nr, i64 ps, i64 xs) {
  T *E[4], *O[4], *VE[4], *VO[4];  // even / odd input columns of the 4 rows; their column transforms
  for (int r = 0; r < 4; ++r) E[r] = s + r * R, O[r] = E[r] + 4 * R, VE[r] = O[r] + 4 * R, VO[r] = VE[r] + 4 * R;
  const i64 L = cnt + 1;  // input columns iw0 .. iw0 + 2 L
  const i64 ja = std::clamp<i64>(-iw0, 0, 2 * L), jb = std::clamp<i64>(W - iw0, ja, 2 * L);
  const i64 ma = (ja + 1) / 2, mb = std::max(ma, jb / 2);  // E[m], O[m] both inside for m in [ma, mb)
  for (int r = 0; r < 4; ++r) {
    const i64 ih = ih0 + r;
    T* e = E[r];
    T* o = O[r];
    if (ih < 0 || ih >= H) {
      for (i64 m = 0; m < L; ++m) e[m] = T(0), o[m] = T(0);
      continue;
    }
    const T* src = xc + ih * W + iw0;
#pragma omp simd
    for (i64 m = ma; m < mb; ++m) e[m] = src[2 * m], o[m] = src[2 * m + 1];
    auto edge = [&](i64 m) {  // reads only inside the row
      e[m] = 2 * m >= ja && 2 * m < jb ? src[2 * m] : T(0);
      o[m] = 2 * m + 1 >= ja && 2 * m + 1 < jb ? src[2 * m + 1] : T(0);
    };
    for (i64 m = 0; m < ma; ++m) edge(m);
    for (i64 m = mb; m < L; ++m) edge(m);
  }
#pragma omp simd
  for (i64 m = 0; m < L; ++m) {
    math::winograd_f23_input(E[0][m], E[1][m], E[2][m], E[3][m], VE[0][m], VE[1][m], VE[2][m], VE[3][m]);
    math::winograd_f23_input(O[0][m], O[1][m], O[2][m], O[3][m], VO[0][m], VO[1][m], VO[2][m], VO[3][m]);
  }
  for (i64 qa = 0; qa < cnt;) {  // runs of tiles inside one B panel: contiguous there
    const i64 i = i0 + qa, lane = i % nr, qb = std::min(cnt, qa + nr - lane);
    T* d = dst + i / nr * ps + lane - qa;
    for (int k = 0; k < 4; ++k) {
      const T* ve = VE[k];
      const T* vo = VO[k];
      T* d0 = d + (4 * k) * xs;
      T* d1 = d0 + xs;
      T* d2 = d1 + xs;
      T* d3 = d2 + xs;
#pragma omp simd
      for (i64 q = qa; q < qb; ++q)
        math::winograd_f23_input(ve[q], vo[q], ve[q + 1], vo[q + 1], d0[q], d1[q], d2[q], d3[q]);
    }
    qa = qb;
  }
}
FOVEAL_SIMD_VARIANTS(wino_in_row, wino_in_row_body,
                     (const T* xc, i64 H, i64 W, i64 ih0, i64 iw0, i64 cnt, T* s, i64 R, T* dst, i64 i0, i64 nr,
                      i64 ps, i64 xs),
                     (xc, H, W, ih0, iw0, cnt, s, R, dst, i0, nr, ps, xs))

/// Output transform of one tile row of one channel: products m[xi * xs + q] of `cnt` tiles into
/// `rows` (1 or 2) output rows at o (ldo apart), `w` columns of each (scratch s: 4 cnt values).
template <typename T>
FOVEAL_ALWAYS_INLINE void wino_out_row_body(const T* m, i64 xs, i64 cnt, T bias, T* s, T* o, i64 ldo, i64 w,
                                            i64 rows) {
  // Two passes, each a plain unit-stride loop the compiler vectorises: the 4 outputs of each
  // tile into 4 arrays, then interleaved into the output rows.
  T* y00 = s;
  T* y01 = s + cnt;
  T* y10 = s + 2 * cnt;
  T* y11 = s + 3 * cnt;
  const T *m0 = m, *m1 = m + xs, *m2 = m + 2 * xs, *m3 = m + 3 * xs, *m4 = m + 4 * xs, *m5 = m + 5 * xs,
          *m6 = m + 6 * xs, *m7 = m + 7 * xs, *m8 = m + 8 * xs, *m9 = m + 9 * xs, *m10 = m + 10 * xs,
          *m11 = m + 11 * xs, *m12 = m + 12 * xs, *m13 = m + 13 * xs, *m14 = m + 14 * xs, *m15 = m + 15 * xs;
#pragma omp simd
  for (i64 q = 0; q < cnt; ++q) {
    T a0, a1, a2, a3, b0, b1, b2, b3;  // A^T along the tile's rows, column by column
    math::winograd_f23_output(m0[q], m4[q], m8[q], m12[q], a0, b0);
    math::winograd_f23_output(m1[q], m5[q], m9[q], m13[q], a1, b1);
    math::winograd_f23_output(m2[q], m6[q], m10[q], m14[q], a2, b2);
    math::winograd_f23_output(m3[q], m7[q], m11[q], m15[q], a3, b3);
    T v00, v01, v10, v11;
    math::winograd_f23_output(a0, a1, a2, a3, v00, v01);
    math::winograd_f23_output(b0, b1, b2, b3, v10, v11);
    y00[q] = v00 + bias, y01[q] = v01 + bias, y10[q] = v10 + bias, y11[q] = v11 + bias;
  }
  const i64 full = w / 2;  // whole tiles inside the row
  T* o1 = o + ldo;
#pragma omp simd
  for (i64 q = 0; q < full; ++q) o[2 * q] = y00[q], o[2 * q + 1] = y01[q];
  if (w % 2) o[w - 1] = y00[full];
  if (rows > 1) {
#pragma omp simd
    for (i64 q = 0; q < full; ++q) o1[2 * q] = y10[q], o1[2 * q + 1] = y11[q];
    if (w % 2) o1[w - 1] = y10[full];
  }
}
FOVEAL_SIMD_VARIANTS(wino_out_row, wino_out_row_body,
                     (const T* m, i64 xs, i64 cnt, T bias, T* s, T* o, i64 ldo, i64 w, i64 rows),
                     (m, xs, cnt, bias, s, o, ldo, w, rows))

template <typename T>
void conv3x3_winograd(const T* x, const T* wt, const T* b, const T* res, T* y, i64 N, i64 Cin, i64 H, i64 W,
                      i64 Cout, i64 OH, i64 OW, i64 pt, i64 pl, const GemmEpilogue<T>& base, int threads) {
  const MicroKernel<T> uk = micro_kernel<T>();
  auto in_row = wino_in_row<T>();
  auto out_row = wino_out_row<T>();
  const i64 MR = uk.mr, NR = uk.nr, AP = (Cout + MR - 1) / MR, Coutp = AP * MR;
  // U[xi][A panel][c][MR]; rows past C_out zero.
  std::vector<T> U(static_cast<std::size_t>(16 * Coutp * Cin), T(0));
  for (i64 co = 0; co < Cout; ++co)
    for (i64 c = 0; c < Cin; ++c) {
      const T* g = wt + (co * Cin + c) * 9;
      T t[4][3], u[4][4];
      for (int j = 0; j < 3; ++j) math::winograd_f23_kernel(g[j], g[3 + j], g[6 + j], t[0][j], t[1][j], t[2][j], t[3][j]);
      for (int r = 0; r < 4; ++r) math::winograd_f23_kernel(t[r][0], t[r][1], t[r][2], u[r][0], u[r][1], u[r][2], u[r][3]);
      for (int xi = 0; xi < 16; ++xi) U[((xi * AP + co / MR) * Cin + c) * MR + co % MR] = u[xi / 4][xi % 4];
    }
  const i64 TH = (OH + 1) / 2, TW = (OW + 1) / 2, TT = TH * TW;
  // Tiles per block: its V and M (16 (C_in + C_out) values per tile) in about 3/4 of the L2.
  const i64 per_tile = 16 * (Cin + Coutp) * static_cast<i64>(sizeof(T));
  const i64 NB = std::clamp<i64>((i64(768) << 10) / per_tile / NR, 1, (TT + NR - 1) / NR) * NR;
  const i64 blocks = (TT + NB - 1) / NB;
  parallel_for_dynamic(0, N * blocks, threads, 1, [&](i64 task) {
    const i64 n = task / blocks, t0 = (task % blocks) * NB, t1 = std::min(TT, t0 + NB);
    const i64 nt = t1 - t0, np = (nt + NR - 1) / NR, ntp = np * NR;
    thread_local std::vector<T> vbuf, mbuf, rbuf;
    vbuf.resize(static_cast<std::size_t>(16 * Cin * ntp));
    mbuf.resize(static_cast<std::size_t>(16 * Coutp * ntp));
    const i64 R = TW + 1;  // row scratch: E (even) and O (odd) input columns of 4 rows, 4 transformed
    rbuf.resize(static_cast<std::size_t>(16 * R + 4 * 2 * TW));
    T* V = vbuf.data();
    T* Mb = mbuf.data();
    // Input transform, channel by channel, tile row by tile row.
    for (i64 c = 0; c < Cin; ++c) {
      const T* xc = x + (n * Cin + c) * H * W;
      for (i64 ty = t0 / TW; ty * TW < t1; ++ty) {
        const i64 txa = std::max<i64>(t0 - ty * TW, 0), txb = std::min<i64>(t1 - ty * TW, TW);
        in_row(xc, H, W, 2 * ty - pt, 2 * txa - pl, txb - txa, rbuf.data(), R, V + c * NR, ty * TW + txa - t0, NR,
               Cin * NR, np * Cin * NR);
      }
    }
    if (nt % NR)  // lanes past the last tile: zeros, so the products there stay finite
      for (i64 xi = 0; xi < 16; ++xi)
        for (i64 c = 0; c < Cin; ++c) {
          T* d = V + ((xi * np + np - 1) * Cin + c) * NR;
          std::fill(d + nt % NR, d + NR, T(0));
        }
    // The 16 products: each B panel stays in L1 across the A panels.
    for (i64 xi = 0; xi < 16; ++xi)
      for (i64 p = 0; p < np; ++p) {
        const T* bp = V + (xi * np + p) * Cin * NR;
        for (i64 ap = 0; ap < AP; ++ap)
          uk.fn(Cin, U.data() + (xi * AP + ap) * Cin * MR, bp, Mb + (xi * Coutp + ap * MR) * ntp + p * NR, ntp, false);
      }
    // Output transform and epilogue, channel by channel, tile row by tile row.
    const bool epi = res || base.activation != math::Activation::None;  // the bias is added above
    for (i64 co = 0; co < Cout; ++co) {
      T* yc = y + (n * Cout + co) * OH * OW;
      for (i64 ty = t0 / TW; ty * TW < t1; ++ty) {
        const i64 txa = std::max<i64>(t0 - ty * TW, 0), txb = std::min<i64>(t1 - ty * TW, TW), cnt = txb - txa;
        const i64 ox = 2 * txa, w = std::min(2 * cnt, OW - ox), rows = std::min<i64>(2, OH - 2 * ty);
        T* o = yc + 2 * ty * OW + ox;
        out_row(Mb + co * ntp + ty * TW + txa - t0, Coutp * ntp, cnt, b ? b[co] : T(0), rbuf.data(), o, OW, w, rows);
        if (epi) {
          GemmEpilogue<T> e = base;
          e.residual = res ? res + (n * Cout + co) * OH * OW + 2 * ty * OW + ox : nullptr;
          e.ldr = OW;
          apply_epilogue(o, OW, rows, w, e);
        }
      }
    }
  });
}

template <typename T>
void conv2d_typed(ConstTensorView input, ConstTensorView weight, ConstTensorView bias, ConstTensorView residual,
                  TensorView out, const Conv2dParams& p, const Epilogue& e, const ExecContext& ctx) {
  const int nd = input.ndim();
  const i64 H = input.size(nd - 2), W = input.size(nd - 1), Cin = input.size(nd - 3);
  const i64 N = nd == 4 ? input.size(0) : 1;
  const i64 Cout = weight.size(0), KH = weight.size(2), KW = weight.size(3);
  const i64 OH = out.size(nd - 2), OW = out.size(nd - 1);
  const i64 G = p.groups, cin_g = Cin / G, cout_g = Cout / G, Kg = cin_g * KH * KW;
  if (G == Cin && G == Cout) return depthwise<T>(input, weight, bias, residual, out, p, e, ctx);
  const T* x = input.data_as<T>();
  const T* wt = weight.data_as<T>();
  const T* b = ptr_or_null<T>(bias);
  const T* res = ptr_or_null<T>(residual);
  T* y = out.data_as<T>();
  if (std::is_same_v<T, float> && winograd_applies(KH, KW, p, Cin, Cout))
    return conv3x3_winograd(x, wt, b, res, y, N, Cin, H, W, Cout, OH, OW, p.pad_top, p.pad_left,
                            make_epilogue<T>(e), gemm_threads(ctx.num_threads));
  const bool direct = KH == 1 && KW == 1 && p.stride_h == 1 && p.stride_w == 1 && p.pad_top == 0 &&
                      p.pad_bottom == 0 && p.pad_left == 0 && p.pad_right == 0;
  const GemmEpilogue<T> base = make_epilogue<T>(e);
  run_products(N * G, gemm_threads(ctx.num_threads), [&](i64 t, int threads) {
    const i64 n = t / G, g = t % G;
    const T* xg = x + (n * Cin + g * cin_g) * H * W;
    const i64 co = n * Cout + g * cout_g;
    GemmEpilogue<T> epi = base;
    epi.bias = b ? b + g * cout_g : nullptr;
    epi.residual = res ? res + co * OH * OW : nullptr;
    epi.ldr = OH * OW;
    const T* a = wt + g * cout_g * Kg;
    T* c = y + co * OH * OW;
    if (direct) {
      gemm(cout_g, OH * OW, Kg, a, Kg, i64(1), MatrixB<T>{xg, H * W, 1}, c, OH * OW, epi, threads);
    } else {
      const Im2colB<T> src{xg, H, W, KH, KW, p.stride_h, p.stride_w, p.pad_top, p.pad_left, p.dilation_h,
                           p.dilation_w, OW};
      gemm(cout_g, OH * OW, Kg, a, Kg, i64(1), src, c, OH * OW, epi, threads);
    }
  });
}

}  // namespace

void conv2d(ConstTensorView input, ConstTensorView weight, ConstTensorView bias, ConstTensorView residual,
            TensorView out, const Conv2dParams& p, const Epilogue& e, const ExecContext& ctx) {
  if (input.dtype() == DType::Float64) return conv2d_typed<double>(input, weight, bias, residual, out, p, e, ctx);
  conv2d_typed<float>(input, weight, bias, residual, out, p, e, ctx);
}

namespace {
template <typename T>
void linear_typed(ConstTensorView x, ConstTensorView weight, ConstTensorView bias, TensorView out, const Epilogue& e,
                  const ExecContext& ctx) {
  const i64 K = weight.size(1), N = weight.size(0), M = N > 0 ? out.numel() / N : 0;
  GemmEpilogue<T> epi = make_epilogue<T>(e);
  epi.bias = ptr_or_null<T>(bias);
  epi.bias_per_row = false;
  gemm(M, N, K, x.data_as<T>(), K, i64(1), MatrixB<T>{weight.data_as<T>(), 1, K}, out.data_as<T>(),
       N, epi, gemm_threads(ctx.num_threads));
}

template <typename T>
void matmul_typed(ConstTensorView a, ConstTensorView b, TensorView out, const ExecContext& ctx) {
  const i64 M = a.size(0), K = a.size(1), N = b.size(1);
  gemm(M, N, K, a.data_as<T>(), K, i64(1), MatrixB<T>{b.data_as<T>(), N, 1}, out.data_as<T>(), N,
       GemmEpilogue<T>{}, gemm_threads(ctx.num_threads));
}
}  // namespace

void linear(ConstTensorView x, ConstTensorView weight, ConstTensorView bias, TensorView out, const Epilogue& e,
            const ExecContext& ctx) {
  if (x.dtype() == DType::Float64) return linear_typed<double>(x, weight, bias, out, e, ctx);
  linear_typed<float>(x, weight, bias, out, e, ctx);
}

void matmul(ConstTensorView a, ConstTensorView b, TensorView out, const ExecContext& ctx) {
  if (a.dtype() == DType::Float64) return matmul_typed<double>(a, b, out, ctx);
  matmul_typed<float>(a, b, out, ctx);
}

// -- conv_transpose2d --------------------------------------------------------------------------
// Dilation 1 (the usual case): sub-pixel decomposition (see sub_pixel below). Dilated: per (image,
// group), columns = W_g^T (C_out/g kH kW, C_in/g) times X_g (C_in/g, rows of H W) on the packed
// GEMM, a band of input rows at a time (the column buffer stays in cache), then the band's
// columns are added into the output at their taps (col2im); the epilogue runs last per plane.
namespace {

/// o[x * sw] += c[x] over x in [0, n).
template <typename T>
FOVEAL_ALWAYS_INLINE void col_add_body(T* o, const T* c, i64 sw, i64 n) {
  if (sw == 1) {
#pragma omp simd
    for (i64 x = 0; x < n; ++x) o[x] += c[x];
  } else {
#pragma omp simd
    for (i64 x = 0; x < n; ++x) o[x * sw] += c[x];
  }
}
FOVEAL_SIMD_VARIANTS(col_add, col_add_body, (T * o, const T* c, i64 sw, i64 n), (o, c, sw, n))

/// d[2 u] = a[u], d[2 u + 1] = b[u] for u in [0, n): two column phases of stride 2 into one row.
template <typename T>
FOVEAL_ALWAYS_INLINE void zip2_body(T* d, const T* a, const T* b, i64 n) {
#pragma omp simd
  for (i64 u = 0; u < n; ++u) {
    d[2 * u] = a[u];
    d[2 * u + 1] = b[u];
  }
}
FOVEAL_SIMD_VARIANTS(zip2, zip2_body, (T * d, const T* a, const T* b, i64 n), (d, a, b, n))

/// Dilation 1: stride_h stride_w output phases (math::sub_pixel_phase), each a stride-1
/// correlation of the input with the phase's taps (flipped and transposed weights, packed once
/// per call) on the implicit-im2col GEMM, stored straight into its strided output places with
/// the epilogue: every output written once, no column buffer, no zeroing, no adds. At stride 2
/// along W the two column phases of a phase row are computed by one task and stored interleaved
/// (contiguous runs; convT_k4s2 at 1 thread 11.1 vs 14.9 ms with every other element stored).
/// Stride == kernel, no padding (Mask R-CNN's 2x2 stride-2 head): every phase has one tap, so
/// the whole transposed convolution of a group is one product, rows (C_out/g kH kW) x (C_in/g)
/// times the input planes of all images side by side, each C element stored at its pixel-shuffled
/// place (row offsets per (channel, kh, kw)): B packed once for all taps, no lanes wasted at the
/// end of an image's plane.
template <typename T>
void pixel_shuffle(const T* x, const T* wt, const T* b, const T* res, T* y, i64 N, i64 Cin, i64 H, i64 W, i64 KH,
                   i64 KW, i64 cin_g, i64 cout_g, const GemmEpilogue<T>& base, const ExecContext& ctx) {
  const i64 Mc = cout_g * KH * KW, Cout = cout_g * (Cin / cin_g), OH = H * KH, OW = W * KW, HW = H * W;
  std::vector<i64> row_off(static_cast<std::size_t>(Mc));
  std::vector<T> A(static_cast<std::size_t>(Mc * cin_g)), bias(static_cast<std::size_t>(b ? Mc : 0));
  for (i64 co = 0; co < cout_g; ++co)
    for (i64 kh = 0; kh < KH; ++kh)
      for (i64 kw = 0; kw < KW; ++kw) row_off[(co * KH + kh) * KW + kw] = co * OH * OW + kh * OW + kw;
  for (i64 g = 0; g < Cin / cin_g; ++g) {
    for (i64 i = 0; i < Mc; ++i)  // A (i, ci) = weight[g cin_g + ci, i]: transposed once per call
      for (i64 ci = 0; ci < cin_g; ++ci) A[i * cin_g + ci] = wt[(g * cin_g + ci) * Mc + i];
    for (i64 i = 0; b && i < Mc; ++i) bias[i] = b[g * cout_g + i / (KH * KW)];
    GemmEpilogue<T> epi = base;
    epi.bias = b ? bias.data() : nullptr;
    epi.residual = res ? res + g * cout_g * OH * OW : nullptr;
    StridedC<T> c{y + g * cout_g * OH * OW, 0, W, KH * OW, KW};
    c.row_off = row_off.data(), c.cpi = HW, c.is = Cout * OH * OW;
    gemm(Mc, N * HW, cin_g, A.data(), cin_g, i64(1), PlanesB<T>{x + g * cin_g * HW, HW, HW, Cin * HW}, c, epi,
         gemm_threads(ctx.num_threads));
  }
}

template <typename T>
void sub_pixel(const T* x, const T* wt, const T* b, const T* res, T* y, i64 N, i64 Cin, i64 H, i64 W, i64 KH, i64 KW,
               i64 cin_g, i64 cout_g, i64 OH, i64 OW, const ConvTranspose2dParams& p, const GemmEpilogue<T>& base,
               const ExecContext& ctx) {
  const i64 G = p.groups, sh = p.stride_h, sw = p.stride_w, P = sh * sw, Cout = cout_g * G, OHW = OH * OW;
  if (sh == KH && sw == KW && p.pad_h == 0 && p.pad_w == 0 && p.output_padding_h == 0 && p.output_padding_w == 0)
    return pixel_shuffle<T>(x, wt, b, res, y, N, Cin, H, W, KH, KW, cin_g, cout_g, base, ctx);
  std::vector<math::SubPixelPhase> ph(static_cast<std::size_t>(P)), pw(static_cast<std::size_t>(P));
  std::vector<i64> aoff(static_cast<std::size_t>(P + 1), 0);  // phase weights: (G, cout_g, cin_g Th Tw) each
  for (i64 f = 0; f < P; ++f) {
    ph[f] = math::sub_pixel_phase(f / sw, KH, sh, p.pad_h, OH);
    pw[f] = math::sub_pixel_phase(f % sw, KW, sw, p.pad_w, OW);
    aoff[f + 1] = aoff[f] + G * cout_g * cin_g * ph[f].taps * pw[f].taps;
  }
  std::vector<T> A(static_cast<std::size_t>(aoff[P]));
  for (i64 f = 0; f < P; ++f) {
    const i64 th = ph[f].taps, tw = pw[f].taps, kg = cin_g * th * tw;
    for (i64 g = 0; g < G; ++g)
      for (i64 co = 0; co < cout_g; ++co)
        for (i64 ci = 0; ci < cin_g; ++ci)
          for (i64 a = 0; a < th; ++a)
            for (i64 c = 0; c < tw; ++c) {
              const i64 kh = ph[f].k0 + sh * (th - 1 - a), kw = pw[f].k0 + sw * (tw - 1 - c);
              A[aoff[f] + (g * cout_g + co) * kg + (ci * th + a) * tw + c] =
                  wt[(((g * cin_g + ci) * cout_g + co) * KH + kh) * KW + kw];
            }
  }
  // Few output channels per group and wide phases: the packing of B would cost about as much as
  // the products, so B is read in place from a zero-padded copy of the input (one pointer per
  // row of the phase's im2col matrix); else the implicit-im2col GEMM.
  const MicroKernel<T> uk = micro_kernel<T>();
  const i64 NR = uk.nr, MR = uk.mr;
  bool in_place = cout_g <= 128;
  i64 pt = 0, pl = 0, hi_h = H, hi_w = W;  // padding of the copy, rows / columns read past the input
  for (i64 f = 0; f < P; ++f) {
    in_place = in_place && (pw[f].count == 0 || pw[f].count >= NR);
    pt = std::max(pt, ph[f].lead), pl = std::max(pl, pw[f].lead);
    hi_h = std::max(hi_h, ph[f].count - ph[f].lead + ph[f].taps - 1);
    hi_w = std::max(hi_w, (pw[f].count + NR - 1) / NR * NR - pw[f].lead + pw[f].taps - 1);
  }
  const int threads = gemm_threads(ctx.num_threads);
  if (!in_place) {
    run_products(N * G * P, threads, [&](i64 t, int inner) {
      const i64 f = t % P, g = t / P % G, n = t / (P * G);
      const math::SubPixelPhase &vh = ph[f], &vw = pw[f];
      if (vh.count == 0 || vw.count == 0) return;
      const i64 kg = cin_g * vh.taps * vw.taps, base_off = (n * Cout + g * cout_g) * OHW + (f / sw) * OW + f % sw;
      GemmEpilogue<T> epi = base;
      epi.bias = b ? b + g * cout_g : nullptr;
      epi.residual = res ? res + base_off : nullptr;
      epi.ldr = OHW;
      const StridedC<T> c{y + base_off, OHW, vw.count, sh * OW, sw};
      const Im2colB<T> src{x + (n * Cin + g * cin_g) * H * W, H, W, vh.taps, vw.taps, 1, 1, vh.lead, vw.lead, 1, 1,
                           vw.count};
      gemm(cout_g, vh.count * vw.count, kg, A.data() + aoff[f] + g * cout_g * kg, kg, i64(1), src, c, epi, inner);
    });
    return;
  }
  // The padded input (grow-only per calling thread: no page faults on repeated calls).
  const i64 Hp = pt + hi_h, Wp = pl + hi_w, plane = Hp * Wp;
  thread_local std::vector<T> xpad_buf;
  xpad_buf.resize(static_cast<std::size_t>(N * Cin * plane));
  T* xp = xpad_buf.data();
  parallel_for(0, N * Cin, threads, 4, [&](i64 c) {
    const T* src = x + c * H * W;
    T* d = xp + c * plane;
    std::fill(d, d + pt * Wp, T(0));
    for (i64 r = 0; r < H; ++r) {
      T* row = d + (pt + r) * Wp;
      std::fill(row, row + pl, T(0));
      std::copy(src + r * W, src + (r + 1) * W, row + pl);
      std::fill(row + pl + W, row + Wp, T(0));
    }
    std::fill(d + (pt + H) * Wp, d + plane, T(0));
  });
  // A of each (phase, group) as micro-kernel panels.
  std::vector<i64> poff(static_cast<std::size_t>(P + 1), 0);
  const i64 Mp = (cout_g + MR - 1) / MR * MR;
  for (i64 f = 0; f < P; ++f) poff[f + 1] = poff[f] + G * Mp * cin_g * ph[f].taps * pw[f].taps;
  std::vector<T> Ap(static_cast<std::size_t>(poff[P]));
  for (i64 f = 0; f < P; ++f) {
    const i64 kg = cin_g * ph[f].taps * pw[f].taps;
    for (i64 g = 0; g < G && kg > 0; ++g)
      pack_a_panels(A.data() + aoff[f] + g * cout_g * kg, kg, i64(1), cout_g, kg, MR, Ap.data() + poff[f] + g * Mp * kg);
  }
  const i64 band = 4, bands = (std::max<i64>(1, (OH + sh - 1) / sh) + band - 1) / band;
  // Stride 2 along W with both column phases alike (same count, both with taps): a task computes
  // the two phases of a phase row together and stores them interleaved, whole contiguous output
  // runs (each output line written once, by one task) instead of every other element.
  bool pair = sw == 2;
  for (i64 f = 0; f < P && pair; f += 2)
    pair = pw[f].count == pw[f + 1].count && pw[f].taps > 0 && pw[f + 1].taps > 0 && ph[f].taps > 0;
  if (pair) {
    auto zip = zip2<T>();
    const bool has_epi = b || res || base.activation != math::Activation::None;
    parallel_for_dynamic(0, N * G * sh * bands, threads, 1, [&](i64 t) {
      const i64 q0 = t % bands * band, fh = t / bands % sh, g = t / (bands * sh) % G, n = t / (bands * sh * G);
      const math::SubPixelPhase& vh = ph[2 * fh];
      const i64 cnt = pw[2 * fh].count;
      if (vh.count == 0 || cnt == 0 || q0 >= vh.count) return;
      const i64 q1 = std::min(vh.count, q0 + band);
      thread_local std::vector<const T*> rows;
      const T* xg = xp + (n * Cin + g * cin_g) * plane;
      const T* apn[2];
      i64 kgs[2], split = 0;  // phase 1's rows start at rows[split]
      rows.resize(static_cast<std::size_t>(cin_g * vh.taps * (pw[2 * fh].taps + pw[2 * fh + 1].taps)));
      for (i64 c = 0, k = 0; c < 2; ++c) {
        const math::SubPixelPhase& vw = pw[2 * fh + c];
        kgs[c] = cin_g * vh.taps * vw.taps;
        apn[c] = Ap.data() + poff[2 * fh + c] + g * Mp * kgs[c];
        if (c == 1) split = k;
        for (i64 ci = 0; ci < cin_g; ++ci)
          for (i64 a = 0; a < vh.taps; ++a)
            for (i64 bb = 0; bb < vw.taps; ++bb, ++k)
              rows[k] = xg + ci * plane + (pt - vh.lead + a) * Wp + pl - vw.lead + bb;
      }
      const T* const* r0p = rows.data();
      const T* const* r1p = rows.data() + split;
      T* yb = y + (n * Cout + g * cout_g) * OHW + fh * OW;
      alignas(64) T t0[8 * 32], t1[8 * 32];
      // Each phase's B panel packed by its first A panel (read in place) for the others.
      thread_local std::vector<T> pk;
      pk.resize(static_cast<std::size_t>((kgs[0] + kgs[1]) * NR));
      T* pk0 = pk.data();
      T* pk1 = pk0 + kgs[0] * NR;
      const bool pack = cout_g > MR;  // convT_k4s2 at 1 thread: 10.5 vs 11.8 ms CPU time
      for (i64 q = q0; q < q1; ++q)
        for (i64 r0 = 0; r0 < cnt; r0 += NR)
          for (i64 ap = 0; ap < cout_g; ap += MR) {
            if (!pack) {
              uk.rows(kgs[0], apn[0] + ap * kgs[0], r0p, q * Wp + r0, t0, NR, false);
              uk.rows(kgs[1], apn[1] + ap * kgs[1], r1p, q * Wp + r0, t1, NR, false);
            } else if (ap == 0) {
              uk.rows_pack(kgs[0], apn[0], r0p, q * Wp + r0, t0, NR, false, pk0);
              uk.rows_pack(kgs[1], apn[1], r1p, q * Wp + r0, t1, NR, false, pk1);
            } else {
              uk.fn(kgs[0], apn[0] + ap * kgs[0], pk0, t0, NR, false);
              uk.fn(kgs[1], apn[1] + ap * kgs[1], pk1, t1, NR, false);
            }
            const i64 m = std::min(MR, cout_g - ap), w = std::min(NR, cnt - r0);
            T* d = yb + ap * OHW + q * sh * OW + 2 * r0;
            for (i64 i = 0; i < m; ++i) zip(d + i * OHW, t0 + i * NR, t1 + i * NR, w);
            if (has_epi) {
              GemmEpilogue<T> epi = base;
              epi.bias = b ? b + g * cout_g + ap : nullptr;
              epi.residual = res ? res + (d - y) : nullptr;
              epi.ldr = OHW;
              apply_epilogue(d, OHW, m, 2 * w, epi);
            }
          }
    });
    return;
  }
  // Tasks: (image, group, phase, band of phase rows).
  parallel_for_dynamic(0, N * G * P * bands, threads, 1, [&](i64 t) {
    const i64 q0 = t % bands * band, f = t / bands % P, g = t / (bands * P) % G, n = t / (bands * P * G);
    const math::SubPixelPhase &vh = ph[f], &vw = pw[f];
    if (vh.count == 0 || vw.count == 0 || q0 >= vh.count) return;
    const i64 q1 = std::min(vh.count, q0 + band), kg = cin_g * vh.taps * vw.taps;
    const i64 base_off = (n * Cout + g * cout_g) * OHW + (f / sw) * OW + f % sw;
    GemmEpilogue<T> epi = base;
    epi.bias = b ? b + g * cout_g : nullptr;
    epi.residual = res ? res + base_off : nullptr;
    epi.ldr = OHW;
    const StridedC<T> c{y + base_off, OHW, vw.count, sh * OW, sw};
    if (kg == 0) {  // no tap reaches this phase: the epilogue of zeros
      for (i64 q = q0; q < q1; ++q)
        for (i64 r0 = 0; r0 < vw.count; r0 += NR) {
          alignas(64) T zeros[8 * 32] = {};
          for (i64 ap = 0; ap < cout_g; ap += MR)
            store_tile(c, zeros, NR, ap, q * vw.count + r0, std::min(MR, cout_g - ap), std::min(NR, vw.count - r0), epi);
        }
      return;
    }
    // Row (ci, a, bb) of the phase's im2col matrix at output row 0: offset q Wp + r for row q, column r.
    thread_local std::vector<const T*> rows;
    rows.resize(static_cast<std::size_t>(kg));
    const T* xg = xp + (n * Cin + g * cin_g) * plane;
    for (i64 ci = 0, k = 0; ci < cin_g; ++ci)
      for (i64 a = 0; a < vh.taps; ++a)
        for (i64 bb = 0; bb < vw.taps; ++bb, ++k)
          rows[k] = xg + ci * plane + (pt - vh.lead + a) * Wp + pl - vw.lead + bb;
    const T* ap0 = Ap.data() + poff[f] + g * Mp * kg;
    alignas(64) T tmp[8 * 32];
    for (i64 q = q0; q < q1; ++q)
      for (i64 r0 = 0; r0 < vw.count; r0 += NR)
        for (i64 ap = 0; ap < cout_g; ap += MR) {
          uk.rows(kg, ap0 + ap * kg, rows.data(), q * Wp + r0, tmp, NR, false);
          store_tile(c, tmp, NR, ap, q * vw.count + r0, std::min(MR, cout_g - ap), std::min(NR, vw.count - r0), epi);
        }
  });
}

template <typename T>
void conv_transpose2d_typed(ConstTensorView input, ConstTensorView weight, ConstTensorView bias,
                            ConstTensorView residual, TensorView out, const ConvTranspose2dParams& p,
                            const Epilogue& e, const ExecContext& ctx) {
  const int nd = input.ndim();
  const i64 H = input.size(nd - 2), W = input.size(nd - 1), Cin = input.size(nd - 3);
  const i64 N = nd == 4 ? input.size(0) : 1;
  const i64 KH = weight.size(2), KW = weight.size(3), G = p.groups;
  const i64 cin_g = Cin / G, cout_g = weight.size(1), Cout = cout_g * G;
  const i64 OH = out.size(nd - 2), OW = out.size(nd - 1), HW = H * W, OHW = OH * OW;
  const i64 Mc = cout_g * KH * KW;  // column-buffer rows: (channel, kh, kw)
  const i64 sh = p.stride_h, sw = p.stride_w, dh = p.dilation_h, dw = p.dilation_w;
  // Input rows per band: about 256K column-buffer elements, at least one row.
  const i64 band = std::clamp<i64>((i64(1) << 18) / (Mc * W), 1, H);
  // Per kw: the input columns [lo, hi) whose tap lands inside the output.
  std::vector<i64> wlo(KW), whi(KW);
  for (i64 kw = 0; kw < KW; ++kw) {
    const i64 off = kw * dw - p.pad_w;  // ox = w sw + off
    wlo[kw] = std::clamp<i64>(-math::floor_div(off, sw), 0, W);
    whi[kw] = std::clamp<i64>(math::floor_div(OW - 1 - off, sw) + 1, wlo[kw], W);
  }
  const T* x = input.data_as<T>();
  const T* wt = weight.data_as<T>();
  const T* b = ptr_or_null<T>(bias);
  const T* res = ptr_or_null<T>(residual);
  T* y = out.data_as<T>();
  const GemmEpilogue<T> base = make_epilogue<T>(e);
  if (dh == 1 && dw == 1) return sub_pixel<T>(x, wt, b, res, y, N, Cin, H, W, KH, KW, cin_g, cout_g, OH, OW, p, base, ctx);
  auto add = col_add<T>();
  run_products(N * G, gemm_threads(ctx.num_threads), [&](i64 t, int threads) {
    const i64 n = t / G, g = t % G;
    const T* xg = x + (n * Cin + g * cin_g) * HW;
    const T* a = wt + g * cin_g * Mc;  // A (i, k) = weight[g cin_g + k, i]
    T* dst = y + (n * Cout + g * cout_g) * OHW;
    thread_local std::vector<T> colbuf;
    colbuf.resize(static_cast<std::size_t>(Mc * band * W));
    T* col = colbuf.data();
    std::fill(dst, dst + cout_g * OHW, T(0));
    for (i64 h0 = 0; h0 < H; h0 += band) {
      const i64 rows = std::min(band, H - h0), nc = rows * W;
      gemm(Mc, nc, cin_g, a, i64(1), Mc, MatrixB<T>{xg + h0 * W, HW, 1}, col, nc, GemmEpilogue<T>{}, threads);
      for (i64 co = 0; co < cout_g; ++co) {
        T* plane = dst + co * OHW;
        const T* cc = col + co * KH * KW * nc;
        for (i64 kh = 0; kh < KH; ++kh)
          for (i64 r = 0; r < rows; ++r) {
            const i64 oy = (h0 + r) * sh - p.pad_h + kh * dh;
            if (oy < 0 || oy >= OH) continue;
            for (i64 kw = 0; kw < KW; ++kw) {
              const i64 lo = wlo[kw], cnt = whi[kw] - lo;
              if (cnt <= 0) continue;
              add(plane + oy * OW + lo * sw - p.pad_w + kw * dw, cc + (kh * KW + kw) * nc + r * W + lo, sw, cnt);
            }
          }
      }
    }
    GemmEpilogue<T> epi = base;
    epi.bias = b ? b + g * cout_g : nullptr;
    epi.residual = res ? res + (n * Cout + g * cout_g) * OHW : nullptr;
    epi.ldr = OHW;
    if (epi.bias || epi.residual || epi.activation != math::Activation::None)
      apply_epilogue(dst, OHW, cout_g, OHW, epi);
  });
}

}  // namespace

void conv_transpose2d(ConstTensorView input, ConstTensorView weight, ConstTensorView bias, ConstTensorView residual,
                      TensorView out, const ConvTranspose2dParams& p, const Epilogue& e, const ExecContext& ctx) {
  if (input.dtype() == DType::Float64)
    return conv_transpose2d_typed<double>(input, weight, bias, residual, out, p, e, ctx);
  conv_transpose2d_typed<float>(input, weight, bias, residual, out, p, e, ctx);
}

}  // namespace foveal::cpu
