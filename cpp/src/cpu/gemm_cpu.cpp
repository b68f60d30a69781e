// SPDX-License-Identifier: Apache-2.0
// Packed, cache-blocked GEMM (see gemm_cpu.hpp). Loop nest, outer to inner: NC columns of B (jc),
// KC deep (pc: B block packed once, shared by all threads), then tasks of (MC rows of A) x (a run
// of NR-wide B panels), each packing its A block and sweeping MR x NR register tiles.
//
// NB: the micro-kernels use explicit FMA intrinsics, although the project builds with
// -ffp-contract=off for the box math: conv / linear need not be bit-identical across backends or
// SIMD levels, only within float tolerance, and fused multiply-adds are both faster and at least
// as accurate. The baseline kernel uses plain multiply and add.
#include "cpu/gemm_cpu.hpp"

#include <algorithm>
#include <cstring>
#include <type_traits>
#include <vector>

#include "cpu/parallel.hpp"
#include "cpu/simd.hpp"

#if FOVEAL_X86_DISPATCH
#include <immintrin.h>
#endif

namespace foveal::cpu {
namespace {

using i64 = std::int64_t;

template <typename T>
using UKernel = void (*)(i64 kc, const T* a, const T* b, T* c, i64 ldc, bool accumulate);

template <typename T>
using UKernelRows = void (*)(i64 kc, const T* a, const T* const* rows, i64 off, T* c, i64 ldc, bool accumulate);

template <typename T>
using UKernelRowsPack = void (*)(i64 kc, const T* a, const T* const* rows, i64 off, T* c, i64 ldc, bool accumulate,
                                 T* pk);

template <typename T>
struct Kernel {
  int mr, nr;
  UKernel<T> fn;
  UKernelRows<T> rows;
  /// rows, also storing B's rows as a packed panel at pk (for `fn` on the next row blocks) and
  /// prefetching each row's part of the panel two on.
  UKernelRowsPack<T> rows_pack;
};

// -- micro-kernels: C (MR x NR) (+)= sum_k a[k][0..MR) (outer) b[k][0..NR) ---------------------

template <typename T, int MR, int NR>
void ukernel_baseline(i64 kc, const T* a, const T* b, T* c, i64 ldc, bool accumulate) {
  T acc[MR][NR] = {};
  for (i64 k = 0; k < kc; ++k, a += MR, b += NR)
    for (int i = 0; i < MR; ++i) {
      const T ai = a[i];
#pragma omp simd
      for (int j = 0; j < NR; ++j) acc[i][j] += ai * b[j];
    }
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < NR; ++j) c[i * ldc + j] = accumulate ? c[i * ldc + j] + acc[i][j] : acc[i][j];
}

/// The same product with B row k read in place at rows[k] + off (no packing).
template <typename T, int MR, int NR>
void ukernel_rows_baseline(i64 kc, const T* a, const T* const* rows, i64 off, T* c, i64 ldc, bool accumulate) {
  T acc[MR][NR] = {};
  for (i64 k = 0; k < kc; ++k, a += MR) {
    const T* b = rows[k] + off;
    for (int i = 0; i < MR; ++i) {
      const T ai = a[i];
#pragma omp simd
      for (int j = 0; j < NR; ++j) acc[i][j] += ai * b[j];
    }
  }
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < NR; ++j) c[i * ldc + j] = accumulate ? c[i * ldc + j] + acc[i][j] : acc[i][j];
}

/// rows, also storing B's rows packed at pk (d[k * NR + j]).
template <typename T, int MR, int NR>
void ukernel_rows_pack_baseline(i64 kc, const T* a, const T* const* rows, i64 off, T* c, i64 ldc, bool accumulate,
                                T* pk) {
  for (i64 k = 0; k < kc; ++k)
    for (int j = 0; j < NR; ++j) pk[k * NR + j] = rows[k][off + j];
  ukernel_baseline<T, MR, NR>(kc, a, pk, c, ldc, accumulate);
}

#if FOVEAL_X86_DISPATCH
// One body per ISA (a target attribute cannot be a template argument): VT vector type, L lanes,
// NV vectors per row, MR rows; LOAD / STORE / SET1 / FMA / ADD / ZERO the ISA's intrinsics.
// The body: B_ROW(k) is row k of B's panel (packed, or a row pointer plus an offset).
#define FOVEAL_UKERNEL_BODY(T, VT, L, MR, NV, B_ROW, LOAD, STORE, SET1, FMA, ADD, ZERO, PF, SAVE) \
  VT acc[MR][NV];                                                                                \
  for (int i = 0; i < MR; ++i)                                                                   \
    for (int j = 0; j < NV; ++j) acc[i][j] = ZERO();                                             \
  for (i64 k = 0; k < kc; ++k, a += MR) {                                                        \
    const T* b_k = B_ROW(k);                                                                     \
    PF(b_k);                                                                                     \
    VT bv[NV];                                                                                   \
    for (int j = 0; j < NV; ++j) bv[j] = LOAD(b_k + j * L);                                      \
    SAVE(k, bv, STORE);                                                                          \
    for (int i = 0; i < MR; ++i) {                                                               \
      const VT ai = SET1(a[i]);                                                                  \
      for (int j = 0; j < NV; ++j) acc[i][j] = FMA(ai, bv[j], acc[i][j]);                        \
    }                                                                                            \
  }                                                                                              \
  for (int i = 0; i < MR; ++i)                                                                   \
    for (int j = 0; j < NV; ++j) {                                                               \
      T* p = c + i * ldc + j * L;                                                                \
      STORE(p, accumulate ? ADD(LOAD(p), acc[i][j]) : acc[i][j]);                                \
    }

#define FOVEAL_PACKED_ROW(k) (b + (k) * NV_ * L_)
#define FOVEAL_LISTED_ROW(k) (rows[k] + off)
#define FOVEAL_NO_PF(p) (void)0
#define FOVEAL_NO_SAVE(k, bv, STORE) (void)0
// Row k's part of the panel two panels on (NV L values at b_k + 2 NV L: two cache lines) into L1,
// ahead of its first use (measured on conv1x1_256_64: 1 panel ahead or into L2 only, 5-25% slower).
#define FOVEAL_PF_NEXT(p)                                                           \
  (_mm_prefetch(reinterpret_cast<const char*>((p) + 2 * NV_ * L_), _MM_HINT_T0), \
   _mm_prefetch(reinterpret_cast<const char*>((p) + 2 * NV_ * L_) + 64, _MM_HINT_T0))
// Row k of the panel, as loaded, into the packed panel pk (for the next row blocks).
#define FOVEAL_SAVE_PACKED(k, bv, STORE) \
  for (int j = 0; j < NV_; ++j) STORE(pk + (k) * NV_ * L_ + j * L_, bv[j])
#define FOVEAL_UKERNEL(NAME, TARGET, T, VT, L, MR, NV, LOAD, STORE, SET1, FMA, ADD, ZERO)                   \
  TARGET void NAME(i64 kc, const T* a, const T* b, T* c, i64 ldc, bool accumulate) {                           \
    constexpr i64 NV_ = NV, L_ = L;                                                                            \
    FOVEAL_UKERNEL_BODY(T, VT, L, MR, NV, FOVEAL_PACKED_ROW, LOAD, STORE, SET1, FMA, ADD, ZERO, FOVEAL_NO_PF,  \
                        FOVEAL_NO_SAVE)                                                                        \
  }
#define FOVEAL_UKERNEL_ROWS(NAME, TARGET, T, VT, L, MR, NV, LOAD, STORE, SET1, FMA, ADD, ZERO)              \
  TARGET void NAME(i64 kc, const T* a, const T* const* rows, i64 off, T* c, i64 ldc, bool accumulate) {        \
    FOVEAL_UKERNEL_BODY(T, VT, L, MR, NV, FOVEAL_LISTED_ROW, LOAD, STORE, SET1, FMA, ADD, ZERO, FOVEAL_NO_PF,  \
                        FOVEAL_NO_SAVE)                                                                        \
  }                                                                                                            \
  TARGET void NAME##_pack(i64 kc, const T* a, const T* const* rows, i64 off, T* c, i64 ldc, bool accumulate,   \
                          T* pk) {                                                                             \
    constexpr i64 NV_ = NV, L_ = L;                                                                            \
    FOVEAL_UKERNEL_BODY(T, VT, L, MR, NV, FOVEAL_LISTED_ROW, LOAD, STORE, SET1, FMA, ADD, ZERO, FOVEAL_PF_NEXT, \
                        FOVEAL_SAVE_PACKED)                                                                    \
  }

FOVEAL_UKERNEL(uk_avx512_f, FOVEAL_TARGET_AVX512, float, __m512, 16, 8, 2, _mm512_loadu_ps, _mm512_storeu_ps,
               _mm512_set1_ps, _mm512_fmadd_ps, _mm512_add_ps, _mm512_setzero_ps)
FOVEAL_UKERNEL(uk_avx512_d, FOVEAL_TARGET_AVX512, double, __m512d, 8, 8, 2, _mm512_loadu_pd, _mm512_storeu_pd,
               _mm512_set1_pd, _mm512_fmadd_pd, _mm512_add_pd, _mm512_setzero_pd)
FOVEAL_UKERNEL(uk_avx2_f, __attribute__((target("avx2,fma"))), float, __m256, 8, 6, 2, _mm256_loadu_ps,
               _mm256_storeu_ps, _mm256_set1_ps, _mm256_fmadd_ps, _mm256_add_ps, _mm256_setzero_ps)
FOVEAL_UKERNEL(uk_avx2_d, __attribute__((target("avx2,fma"))), double, __m256d, 4, 6, 2, _mm256_loadu_pd,
               _mm256_storeu_pd, _mm256_set1_pd, _mm256_fmadd_pd, _mm256_add_pd, _mm256_setzero_pd)
FOVEAL_UKERNEL_ROWS(ukr_avx512_f, FOVEAL_TARGET_AVX512, float, __m512, 16, 8, 2, _mm512_loadu_ps, _mm512_storeu_ps,
                    _mm512_set1_ps, _mm512_fmadd_ps, _mm512_add_ps, _mm512_setzero_ps)
FOVEAL_UKERNEL_ROWS(ukr_avx512_d, FOVEAL_TARGET_AVX512, double, __m512d, 8, 8, 2, _mm512_loadu_pd, _mm512_storeu_pd,
                    _mm512_set1_pd, _mm512_fmadd_pd, _mm512_add_pd, _mm512_setzero_pd)
FOVEAL_UKERNEL_ROWS(ukr_avx2_f, __attribute__((target("avx2,fma"))), float, __m256, 8, 6, 2, _mm256_loadu_ps,
                    _mm256_storeu_ps, _mm256_set1_ps, _mm256_fmadd_ps, _mm256_add_ps, _mm256_setzero_ps)
FOVEAL_UKERNEL_ROWS(ukr_avx2_d, __attribute__((target("avx2,fma"))), double, __m256d, 4, 6, 2, _mm256_loadu_pd,
                    _mm256_storeu_pd, _mm256_set1_pd, _mm256_fmadd_pd, _mm256_add_pd, _mm256_setzero_pd)
#undef FOVEAL_UKERNEL
#undef FOVEAL_UKERNEL_ROWS
#undef FOVEAL_UKERNEL_BODY
#undef FOVEAL_PACKED_ROW
#undef FOVEAL_LISTED_ROW
#undef FOVEAL_NO_PF
#undef FOVEAL_NO_SAVE
#undef FOVEAL_PF_NEXT
#undef FOVEAL_SAVE_PACKED
#endif

template <typename T>
Kernel<T> kernel_for() {
#if FOVEAL_X86_DISPATCH
  const SimdLevel level = simd_level();
  if constexpr (sizeof(T) == 4) {
    if (level == SimdLevel::Avx512) return {8, 32, &uk_avx512_f, &ukr_avx512_f, &ukr_avx512_f_pack};
    if (level == SimdLevel::Avx2) return {6, 16, &uk_avx2_f, &ukr_avx2_f, &ukr_avx2_f_pack};
  } else {
    if (level == SimdLevel::Avx512) return {8, 16, &uk_avx512_d, &ukr_avx512_d, &ukr_avx512_d_pack};
    if (level == SimdLevel::Avx2) return {6, 8, &uk_avx2_d, &ukr_avx2_d, &ukr_avx2_d_pack};
  }
#endif
  if constexpr (sizeof(T) == 4)
    return {4, 8, &ukernel_baseline<T, 4, 8>, &ukernel_rows_baseline<T, 4, 8>, &ukernel_rows_pack_baseline<T, 4, 8>};
  else return {4, 4, &ukernel_baseline<T, 4, 4>, &ukernel_rows_baseline<T, 4, 4>, &ukernel_rows_pack_baseline<T, 4, 4>};
}

// -- packing --------------------------------------------------------------------------------

/// Rows [i0, i0 + mc) x depth [k0, k0 + kc) of A as MR-row panels: panel p, depth k at
/// dst[p * kc * MR + k * MR + i], rows past mc zero.
template <typename T>
void pack_a(const T* a, i64 rsa, i64 csa, i64 i0, i64 mc, i64 k0, i64 kc, int MR, T* dst) {
  for (i64 p = 0; p * MR < mc; ++p) {
    T* d = dst + p * kc * MR;
    const i64 rows = std::min<i64>(MR, mc - p * MR);
    for (i64 i = 0; i < rows; ++i) {
      const T* src = a + (i0 + p * MR + i) * rsa + k0 * csa;
      if (csa == 1)
        for (i64 k = 0; k < kc; ++k) d[k * MR + i] = src[k];
      else
        for (i64 k = 0; k < kc; ++k) d[k * MR + i] = src[k * csa];
    }
    for (i64 i = rows; i < MR; ++i)
      for (i64 k = 0; k < kc; ++k) d[k * MR + i] = T(0);
  }
}

/// Panel `p` (columns [n0 + p NR, ...), at most `w` of them) of depth [k0, k0 + kc) into d:
/// d[k * NR + j], columns past w zero.
template <typename T>
void pack_b_panel(const MatrixB<T>& b, i64 k0, i64 kc, i64 n, i64 w, int NR, T* d) {
  if (b.cs == 1) {
    for (i64 k = 0; k < kc; ++k) {
      const T* src = b.p + (k0 + k) * b.rs + n;
      T* dk = d + k * NR;
      std::memcpy(dk, src, sizeof(T) * w);
      for (i64 j = w; j < NR; ++j) dk[j] = T(0);
    }
    return;
  }
  for (i64 j = 0; j < w; ++j) {  // walk each column along k: contiguous reads when rs == 1
    const T* src = b.p + (n + j) * b.cs + k0 * b.rs;
    for (i64 k = 0; k < kc; ++k) d[k * NR + j] = src[k * b.rs];
  }
  for (i64 k = 0; k < kc; ++k)
    for (i64 j = w; j < NR; ++j) d[k * NR + j] = T(0);
}

/// The im2col source's panel: compiled per SIMD level (with few rows of A this packing is a
/// large share of the work); tap counters instead of a division per row.
template <typename T>
FOVEAL_ALWAYS_INLINE void im2col_panel_body(const Im2colB<T>& b, i64 k0, i64 kc, i64 n, i64 w, i64 NR, T* d) {
  const i64 taps = b.KH * b.KW;
  const i64 oh0 = n / b.OW, ow0 = n % b.OW;
  i64 c = k0 / taps, kh = k0 % taps / b.KW, kw = k0 % b.KW;
  for (i64 k = 0; k < kc; ++k, d += NR) {
    const T* plane = b.x + c * b.H * b.W;
    i64 oh = oh0, ow = ow0, j = 0;
    while (j < w) {  // one output row's run of columns at a time
      const i64 seg = std::min(w - j, b.OW - ow);
      const i64 ih = oh * b.sh - b.pt + kh * b.dh;
      T* dj = d + j;
      if (ih < 0 || ih >= b.H) {
        for (i64 t = 0; t < seg; ++t) dj[t] = T(0);
      } else {
        const T* row = plane + ih * b.W;
        const i64 iw0 = ow * b.sw - b.pl + kw * b.dw;
        if (b.sw == 1) {
          const i64 lo = std::clamp<i64>(-iw0, 0, seg), hi = std::clamp<i64>(b.W - iw0, lo, seg);
          const T* sr = row + iw0;
          for (i64 t = 0; t < lo; ++t) dj[t] = T(0);
#pragma omp simd
          for (i64 t = lo; t < hi; ++t) dj[t] = sr[t];
          for (i64 t = hi; t < seg; ++t) dj[t] = T(0);
        } else {
          for (i64 t = 0; t < seg; ++t) {
            const i64 iw = iw0 + t * b.sw;
            dj[t] = iw >= 0 && iw < b.W ? row[iw] : T(0);
          }
        }
      }
      j += seg, ow = 0, ++oh;
    }
    for (i64 t = w; t < NR; ++t) d[t] = T(0);
    if (++kw == b.KW) {
      kw = 0;
      if (++kh == b.KH) kh = 0, ++c;
    }
  }
}
FOVEAL_SIMD_VARIANTS(im2col_panel, im2col_panel_body,
                     (const Im2colB<T>& b, i64 k0, i64 kc, i64 n, i64 w, i64 NR, T* d), (b, k0, kc, n, w, NR, d))

template <typename T>
void pack_b_panel(const Im2colB<T>& b, i64 k0, i64 kc, i64 n, i64 w, int NR, T* d) {
  im2col_panel<T>()(b, k0, kc, n, w, NR, d);
}

template <typename T>
void pack_b_panel(const PlanesB<T>& b, i64 k0, i64 kc, i64 n, i64 w, int NR, T* d) {
  const i64 img0 = n / b.cpi, p0 = n % b.cpi;
  for (i64 k = 0; k < kc; ++k, d += NR) {
    const T* plane = b.x + (k0 + k) * b.rs;
    i64 img = img0, pix = p0;
    for (i64 j = 0; j < w;) {  // runs inside one image
      const i64 len = std::min(w - j, b.cpi - pix);
      const T* src = plane + img * b.is + pix;
#pragma omp simd
      for (i64 t = 0; t < len; ++t) d[j + t] = src[t];
      j += len, pix = 0, ++img;
    }
    for (i64 t = w; t < NR; ++t) d[t] = T(0);
  }
}

// -- epilogue -------------------------------------------------------------------------------

template <typename T, math::Activation A>
void epilogue_rows(T* c, i64 ldc, i64 i0, i64 j0, i64 m, i64 n, const GemmEpilogue<T>& e) {
  for (i64 i = 0; i < m; ++i) {
    T* ci = c + i * ldc;
    const T* ri = e.residual ? e.residual + (i0 + i) * e.ldr + j0 : nullptr;
    const T rb = e.bias && e.bias_per_row ? e.bias[i0 + i] : T(0);
    const T* cb = e.bias && !e.bias_per_row ? e.bias + j0 : nullptr;
    const T slope = e.slope;
    if constexpr (A == math::Activation::Silu || A == math::Activation::Sigmoid) {
      for (i64 j = 0; j < n; ++j) {
        T v = ci[j] + (cb ? cb[j] : rb);
        if (ri) v += ri[j];
        ci[j] = math::activate(A, v, slope);
      }
    } else {
#pragma omp simd
      for (i64 j = 0; j < n; ++j) {
        T v = ci[j] + (cb ? cb[j] : rb);
        if (ri) v += ri[j];
        ci[j] = math::activate(A, v, slope);
      }
    }
  }
}

template <typename T>
void epilogue(T* c, i64 ldc, i64 i0, i64 j0, i64 m, i64 n, const GemmEpilogue<T>& e) {
  switch (e.activation) {
    case math::Activation::Relu: return epilogue_rows<T, math::Activation::Relu>(c, ldc, i0, j0, m, n, e);
    case math::Activation::LeakyRelu:
      return epilogue_rows<T, math::Activation::LeakyRelu>(c, ldc, i0, j0, m, n, e);
    case math::Activation::Silu: return epilogue_rows<T, math::Activation::Silu>(c, ldc, i0, j0, m, n, e);
    case math::Activation::Sigmoid: return epilogue_rows<T, math::Activation::Sigmoid>(c, ldc, i0, j0, m, n, e);
    default:
      if (e.bias || e.residual) epilogue_rows<T, math::Activation::None>(c, ldc, i0, j0, m, n, e);
  }
}

// -- buffers --------------------------------------------------------------------------------

/// A 64-byte aligned scratch buffer per thread that only grows (so repeated calls do not page
/// fault fresh allocations).
template <typename T, int Slot>
T* scratch(i64 n) {
  thread_local std::vector<unsigned char> buf;
  const std::size_t need = sizeof(T) * static_cast<std::size_t>(n) + 64;
  if (buf.size() < need) {
    buf.clear();
    buf.shrink_to_fit();
    buf.resize(need);
  }
  auto p = reinterpret_cast<std::uintptr_t>(buf.data());
  return reinterpret_cast<T*>((p + 63) & ~std::uintptr_t(63));
}

struct Blocking {
  i64 mc, kc, nc;
};

template <typename T>
Blocking blocking(const Kernel<T>& kern) {
  // KC x NR of B (the micro-panel reused across the MC rows) fits L1 with an A micro-panel; an
  // MC x KC block of A and a KC x NC block of B (512 KiB) fit the 1 MiB L2 together.
  const i64 kc = sizeof(T) == 4 ? 256 : 128;
  const i64 mc = std::max<i64>(1, 144 / kern.mr) * kern.mr;
  const i64 nc = std::max<i64>(1, 512 / kern.nr) * kern.nr;
  return {mc, kc, nc};
}

/// Tile (m x n, rows from i0, columns from j) of a strided C from its MR x NR sums `t` (leading
/// dimension nr): stored (first K block) or added, then the epilogue (last K block).
template <typename T, math::Activation A>
void store_strided_act(const StridedC<T>& c, const T* t, i64 nr, i64 i0, i64 j, i64 m, i64 n, bool first, bool last,
                       const GemmEpilogue<T>& e) {
  const i64 img0 = c.cpi ? j / c.cpi : 0, jj = c.cpi ? j % c.cpi : j;
  const i64 q0 = jj / c.cw, r0 = jj % c.cw, qpi = c.cpi / c.cw;  // rows of cw per image
  for (i64 i = 0; i < m;) {
    // Rows i, i + 1 one element apart at stride 2 (a 2-wide kernel's taps): stored as pairs, so
    // the run is contiguous.
    const bool pair = c.row_off && c.cs == 2 && i + 1 < m && c.row_off[i0 + i + 1] == c.row_off[i0 + i] + 1;
    const i64 rows = pair ? 2 : 1;
    const i64 base = c.row_off ? c.row_off[i0 + i] : (i0 + i) * c.ldc;
    const i64 rbase = c.row_off ? c.row_off[i0 + i] : (i0 + i) * e.ldr;
    const T* t0 = t + i * nr;
    const T* t1 = t0 + nr;
    const T rb0 = e.bias && e.bias_per_row ? e.bias[i0 + i] : T(0);
    const T rb1 = pair && e.bias && e.bias_per_row ? e.bias[i0 + i + 1] : T(0);
    i64 img = img0, q = q0, r = r0;
    for (i64 s = 0; s < n;) {  // runs along one row of cw
      const i64 len = std::min(n - s, c.cw - r), off = img * c.is + q * c.rs + r * c.cs;
      T* p = c.c + base + off;
      const T* rp = e.residual ? e.residual + rbase + off : nullptr;
      if (pair) {
        for (i64 u = 0; u < len; ++u) {
          T v0 = first ? t0[s + u] : p[2 * u] + t0[s + u];
          T v1 = first ? t1[s + u] : p[2 * u + 1] + t1[s + u];
          if (last) {
            v0 += rb0, v1 += rb1;
            if (rp) v0 += rp[2 * u], v1 += rp[2 * u + 1];
            v0 = math::activate(A, v0, e.slope), v1 = math::activate(A, v1, e.slope);
          }
          p[2 * u] = v0, p[2 * u + 1] = v1;
        }
      } else {
        for (i64 u = 0; u < len; ++u) {
          T v = first ? t0[s + u] : p[u * c.cs] + t0[s + u];
          if (last) {
            v += e.bias && !e.bias_per_row ? e.bias[j + s + u] : rb0;
            if (rp) v += rp[u * c.cs];
            v = math::activate(A, v, e.slope);
          }
          p[u * c.cs] = v;
        }
      }
      s += len, r = 0, ++q;
      if (c.cpi && q == qpi) q = 0, ++img;
    }
    i += rows;
  }
}

template <typename T>
void store_strided(const StridedC<T>& c, const T* t, i64 nr, i64 i0, i64 j, i64 m, i64 n, bool first, bool last,
                   const GemmEpilogue<T>& e) {
  using math::Activation;
  switch (last ? e.activation : Activation::None) {
    case Activation::Relu: return store_strided_act<T, Activation::Relu>(c, t, nr, i0, j, m, n, first, last, e);
    case Activation::LeakyRelu:
      return store_strided_act<T, Activation::LeakyRelu>(c, t, nr, i0, j, m, n, first, last, e);
    case Activation::Silu: return store_strided_act<T, Activation::Silu>(c, t, nr, i0, j, m, n, first, last, e);
    case Activation::Sigmoid: return store_strided_act<T, Activation::Sigmoid>(c, t, nr, i0, j, m, n, first, last, e);
    default: return store_strided_act<T, Activation::None>(c, t, nr, i0, j, m, n, first, last, e);
  }
}

/// The product on the calling thread. CT: T* (row-major, leading dimension ldc) or StridedC<T>
/// (global: columns offset by j_off).
template <typename T, class BSrc, class CT>
void gemm_serial(i64 M, i64 N, i64 K, const T* a, i64 rsa, i64 csa, const BSrc& b, CT c, i64 ldc,
                 const GemmEpilogue<T>& epi, i64 j_off) {
  constexpr bool strided = !std::is_pointer_v<CT>;
  const Kernel<T> kern = kernel_for<T>();
  const int MR = kern.mr, NR = kern.nr;
  const Blocking bl = blocking(kern);
  const i64 nc_max = std::min(bl.nc, (N + NR - 1) / NR * NR);
  const i64 kc_max = std::min(bl.kc, K);
  const i64 mc_max = std::min(bl.mc, (M + MR - 1) / MR * MR);
  T* bbuf = scratch<T, 0>(kc_max * nc_max);
  T* abuf = scratch<T, 1>(mc_max * kc_max);
  const T** rowp = reinterpret_cast<const T**>(scratch<const T*, 2>(kc_max));
  alignas(64) T tmp[8 * 32];
  // One tile: C rows [i, i + m) x columns [jr, jr + n) from packed A rows and a packed B panel.
  auto tile = [&](const T* ap, const T* bp, i64 i, i64 jr, i64 m, i64 n, bool first, bool last, i64 kc) {
    if constexpr (strided) {
      kern.fn(kc, ap, bp, tmp, NR, false);
      store_strided(c, tmp, NR, i, jr + j_off, m, n, first, last, epi);
    } else {
      T* ct = c + i * ldc + jr;
      if (m == MR && n == NR) {
        kern.fn(kc, ap, bp, ct, ldc, !first);
      } else {
        kern.fn(kc, ap, bp, tmp, NR, false);
        for (i64 r = 0; r < m; ++r)
          for (i64 j = 0; j < n; ++j) ct[r * ldc + j] = first ? tmp[r * NR + j] : ct[r * ldc + j] + tmp[r * NR + j];
      }
      if (last) epilogue(ct, ldc, i, jr + j_off, m, n, epi);
    }
  };
  // A short A (one MC block): each B panel is packed right before its tiles, so it is still in L1
  // when the micro-kernel reads it (with few rows of A the packing is a large share of the work).
  const bool short_a = M <= bl.mc;
  for (i64 jc = 0; jc < N; jc += bl.nc) {
    const i64 nc = std::min(bl.nc, N - jc);
    const i64 panels = (nc + NR - 1) / NR;
    for (i64 pc = 0; pc < K; pc += bl.kc) {
      const i64 kc = std::min(bl.kc, K - pc);
      const bool first = pc == 0, last = pc + kc >= K;
      if (short_a) {
        if (jc == 0 || K > bl.kc) pack_a(a, rsa, csa, 0, M, pc, kc, MR, abuf);  // one K block: packed once
        // A row-major B (the NCHW input of a 1x1 convolution) is read in place, but for a last
        // panel that would read past its end: no packing at all.
        bool in_place = false;
        if constexpr (std::is_same_v<BSrc, MatrixB<T>>) {
          in_place = b.cs == 1 && !strided;
          if (in_place)
            for (i64 k = 0; k < kc; ++k) rowp[k] = b.p + (pc + k) * b.rs;
        }
        for (i64 p = 0; p < panels; ++p) {
          const i64 jr = jc + p * NR, n = std::min<i64>(NR, N - jr);
          if (in_place && jr + NR <= N) {
            for (i64 ir = 0; ir < M; ir += MR) {
              const i64 m = std::min<i64>(MR, M - ir);
              if constexpr (!strided) {
                T* ct = c + ir * ldc + jr;
                T* dst = m == MR ? ct : tmp;
                const i64 ld = m == MR ? ldc : NR;
                const bool acc = m == MR && !first;
                // The first row block reads the panel in place (rows far apart: misses, and they
                // conflict in L1), packs it for the next blocks (read from L1) and prefetches the
                // panel two on (conv1x1_256_64 at 1 thread: 3.95 vs 5.2 ms CPU time).
                if (M <= MR) kern.rows(kc, abuf + ir * kc, rowp, j_off + jr, dst, ld, acc);
                else if (ir == 0) kern.rows_pack(kc, abuf, rowp, j_off + jr, dst, ld, acc, bbuf);
                else kern.fn(kc, abuf + ir * kc, bbuf, dst, ld, acc);
                if (m != MR)
                  for (i64 r = 0; r < m; ++r)
                    for (i64 j = 0; j < n; ++j)
                      ct[r * ldc + j] = first ? tmp[r * NR + j] : ct[r * ldc + j] + tmp[r * NR + j];
                if (last) epilogue(ct, ldc, ir, jr + j_off, m, n, epi);
              }
            }
            continue;
          }
          pack_b_panel(b, pc, kc, j_off + jr, n, NR, bbuf);
          for (i64 ir = 0; ir < M; ir += MR)
            tile(abuf + ir * kc, bbuf, ir, jr, std::min<i64>(MR, M - ir), n, first, last, kc);
        }
        continue;
      }
      for (i64 p = 0; p < panels; ++p)
        pack_b_panel(b, pc, kc, j_off + jc + p * NR, std::min<i64>(NR, nc - p * NR), NR, bbuf + p * kc * NR);
      for (i64 ic = 0; ic < M; ic += bl.mc) {
        const i64 mc = std::min(bl.mc, M - ic);
        pack_a(a, rsa, csa, ic, mc, pc, kc, MR, abuf);
        for (i64 p = 0; p < panels; ++p) {  // the B micro-panel stays in L1 across the A block
          const i64 jr = jc + p * NR, n = std::min<i64>(NR, N - jr);
          const T* bp = bbuf + p * kc * NR;
          for (i64 ir = 0; ir < mc; ir += MR)
            tile(abuf + ir * kc, bp, ic + ir, jr, std::min<i64>(MR, mc - ir), n, first, last, kc);
        }
      }
    }
  }
}

}  // namespace

int gemm_threads(int requested) { return max_threads(requested); }

template <typename T>
MicroKernel<T> micro_kernel() {
  const Kernel<T> k = kernel_for<T>();
  return {k.mr, k.nr, k.fn, k.rows, k.rows_pack};
}
template MicroKernel<float> micro_kernel<float>();
template MicroKernel<double> micro_kernel<double>();

template <typename T>
void pack_a_panels(const T* a, i64 rsa, i64 csa, i64 m, i64 k, int mr, T* dst) {
  pack_a(a, rsa, csa, 0, m, 0, k, mr, dst);
}
template void pack_a_panels<float>(const float*, i64, i64, i64, i64, int, float*);
template void pack_a_panels<double>(const double*, i64, i64, i64, i64, int, double*);

template <typename T>
void store_tile(const StridedC<T>& c, const T* t, i64 nr, i64 i0, i64 j, i64 m, i64 n, const GemmEpilogue<T>& epi) {
  store_strided(c, t, nr, i0, j, m, n, true, true, epi);
}
template void store_tile<float>(const StridedC<float>&, const float*, i64, i64, i64, i64, i64,
                                const GemmEpilogue<float>&);
template void store_tile<double>(const StridedC<double>&, const double*, i64, i64, i64, i64, i64,
                                 const GemmEpilogue<double>&);

template <typename T>
void apply_epilogue(T* c, i64 ldc, i64 m, i64 n, const GemmEpilogue<T>& epi) {
  epilogue(c, ldc, 0, 0, m, n, epi);
}
template void apply_epilogue<float>(float*, i64, i64, i64, const GemmEpilogue<float>&);
template void apply_epilogue<double>(double*, i64, i64, i64, const GemmEpilogue<double>&);

template <typename T, class BSrc, class CT>
void gemm_any(i64 M, i64 N, i64 K, const T* a, i64 rsa, i64 csa, const BSrc& b, CT c, i64 ldc,
              const GemmEpilogue<T>& epi, int threads) {
  constexpr bool strided = !std::is_pointer_v<CT>;
  if (M <= 0 || N <= 0) return;
  if (K <= 0) {  // empty sum: the epilogue of zeros
    if constexpr (strided) {
      const T zeros[32] = {};
      for (i64 i = 0; i < M; ++i)
        for (i64 j = 0; j < N; j += 32) store_strided(c, zeros, 0, i, j, 1, std::min<i64>(32, N - j), true, true, epi);
    } else {
      for (i64 i = 0; i < M; ++i) std::fill(c + i * ldc, c + i * ldc + N, T(0));
      epilogue(c, ldc, 0, 0, M, N, epi);
    }
    return;
  }
  const Kernel<T> kern = kernel_for<T>();
  // Threads split C into independent blocks of columns (or of rows when C is tall), each a
  // serial product with its own packing: no barrier per KC step (a descheduled thread on a busy
  // machine would stall every one), at the price of packing the other operand once per block.
  // A few blocks per thread, handed out dynamically, balance the load.
  const bool by_cols = N >= M;
  const i64 unit = by_cols ? kern.nr : kern.mr, extent = by_cols ? N : M;
  const i64 units = (extent + unit - 1) / unit;
  const i64 blocks = threads > 1 ? std::min<i64>(units, std::min<i64>(4 * threads, units / 4 + 1)) : 1;
  if (blocks <= 1) return gemm_serial(M, N, K, a, rsa, csa, b, c, ldc, epi, 0);
  const i64 per = (units + blocks - 1) / blocks * unit;
  parallel_for_dynamic(0, blocks, threads, 2, [&](i64 t) {
    const i64 lo = t * per, hi = std::min(extent, lo + per);
    if (lo >= hi) return;
    if (by_cols) {
      if constexpr (strided) gemm_serial(M, hi - lo, K, a, rsa, csa, b, c, ldc, epi, lo);
      else gemm_serial(M, hi - lo, K, a, rsa, csa, b, c + lo, ldc, epi, lo);  // epilogue columns stay global
    } else {
      GemmEpilogue<T> e = epi;
      if (e.bias && e.bias_per_row) e.bias += lo;
      if (e.residual) e.residual += lo * e.ldr;
      CT cl = c;
      if constexpr (strided) {
        if (c.row_off) cl.row_off += lo, e.residual = epi.residual;  // row_off places the residual too
        else cl.c += lo * c.ldc;
      } else {
        cl += lo * ldc;
      }
      gemm_serial(hi - lo, N, K, a + lo * rsa, rsa, csa, b, cl, ldc, e, 0);
    }
  });
}

template <typename T, class BSrc>
void gemm(i64 M, i64 N, i64 K, const T* a, i64 rsa, i64 csa, const BSrc& b, T* c, i64 ldc,
          const GemmEpilogue<T>& epi, int threads) {
  gemm_any(M, N, K, a, rsa, csa, b, c, ldc, epi, threads);
}

template <typename T, class BSrc>
void gemm(i64 M, i64 N, i64 K, const T* a, i64 rsa, i64 csa, const BSrc& b, const StridedC<T>& c,
          const GemmEpilogue<T>& epi, int threads) {
  gemm_any(M, N, K, a, rsa, csa, b, c, i64(0), epi, threads);
}

template void gemm<float, MatrixB<float>>(i64, i64, i64, const float*, i64, i64, const MatrixB<float>&, float*,
                                          i64, const GemmEpilogue<float>&, int);
template void gemm<double, MatrixB<double>>(i64, i64, i64, const double*, i64, i64, const MatrixB<double>&, double*,
                                            i64, const GemmEpilogue<double>&, int);
template void gemm<float, Im2colB<float>>(i64, i64, i64, const float*, i64, i64, const Im2colB<float>&, float*,
                                          i64, const GemmEpilogue<float>&, int);
template void gemm<double, Im2colB<double>>(i64, i64, i64, const double*, i64, i64, const Im2colB<double>&,
                                            double*, i64, const GemmEpilogue<double>&, int);
template void gemm<float, Im2colB<float>>(i64, i64, i64, const float*, i64, i64, const Im2colB<float>&,
                                          const StridedC<float>&, const GemmEpilogue<float>&, int);
template void gemm<float, PlanesB<float>>(i64, i64, i64, const float*, i64, i64, const PlanesB<float>&,
                                          const StridedC<float>&, const GemmEpilogue<float>&, int);
template void gemm<double, PlanesB<double>>(i64, i64, i64, const double*, i64, i64, const PlanesB<double>&,
                                            const StridedC<double>&, const GemmEpilogue<double>&, int);
template void gemm<double, Im2colB<double>>(i64, i64, i64, const double*, i64, i64, const Im2colB<double>&,
                                            const StridedC<double>&, const GemmEpilogue<double>&, int);

}  // namespace foveal::cpu
