// SPDX-License-Identifier: Apache-2.0
// conv2d, conv_transpose2d, linear and matmul on CUDA: one tiled GEMM (see the GEMM section below)
// with the fused epilogue. conv2d is an implicit GEMM (the im2col matrix is never formed) with the
// images folded into the columns; conv_transpose2d is stride_h stride_w such GEMMs, one per output
// phase (sub-pixel decomposition), in one launch. The block's inner product is either SIMT
// multiply-adds (float32: exact float32, no TF32; float64 in double) or tensor cores through
// nvcuda::wmma: float16 / bfloat16 inputs in m16n16k16 with float sums (sm_70+ / sm_80+), and
// float32 with allow_tf32 in m16n16k8 TF32 (inputs rounded as cvt.rna.tf32, float sums; sm_80+).
// Both share the tile loaders, the double-buffered k loop and the epilogue (bias, residual and
// activation in float, output in the input dtype). Below sm_70 / sm_80 the tensor-core variants
// compile as SIMT (exact float32 for TF32). Depthwise conv2d (one input channel per group) has its
// own kernel: the GEMM would have M = 1 row per group. The GEMM's logic, both inner products, runs
// under tools/cuda_emu in CI (a wmma emulation in shim.hpp); the tensor-core path has not run on a
// GPU yet.
#include <cuda_bf16.h>
#include <mma.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <type_traits>

#include "common.cuh"
#include "foveal/math/conv.hpp"
#include "ops/backend.hpp"

namespace foveal::cuda {

namespace {

using i64 = std::int64_t;

/// conv2d's geometry as the depthwise kernel reads it (try_depthwise).
template <typename S>
struct Problem {
  i64 M, N, K, Z;
  const S* a;
  i64 lda, a_z;  // A row stride; A offset per group
  const S* b;
  i64 ldb;
  S* c;
  i64 ldc;
  const S* bias;
  bool bias_per_row;
  const S* residual;  // C's layout
  math::Activation act;
  double slope;
  i64 G, cin_g, cout_g, C_in, H, W, KH, KW, sh, sw, pt, pl, dh, dw, OW;
};

__device__ __forceinline__ float madd(float a, float b, float c) { return fmaf(a, b, c); }
__device__ __forceinline__ double madd(double a, double b, double c) { return fma(a, b, c); }

// ---- The tiled GEMM (tools/cuda_emu/gemm_emu.cpp runs this part, up to the end marker, on the CPU)
// C (M, N) = A (M, K) B (K, N) per (phase, group) z, then bias, residual and activation. 256 threads
// make a BM x BN tile (BM, BN in {64, 128}). K advances BK deep (kBK = 8 for SIMT and TF32, 16 for
// 16-bit tensor cores); the A and B slices sit k-major in shared memory, double buffered: the next
// slice's global loads are issued into registers before this slice's math, so one barrier per step
// suffices.
// SIMT: each thread makes TM x TN = BM / 16 x BN / 16 outputs at rows h 64 + ty 4 + i and columns
// h 64 + tx 4 + j (float4 reads of shared memory). Tensor cores: the 8 warps sit 2 (rows) x 4
// (columns), each owning BM / 32 x BN / 64 accumulator fragments of 16 x 16; the slices are A column-
// major and B row-major fragments as they lie; the epilogue reads the fragments back through a
// 16 x 16 staging square per warp.
// k = (c nh + i) nw + j is kept as digits (c, i, j), advanced by 8 with carries (no division in the
// loop): A(m, k) = a[row m + c a_c + i a_i + j a_j]; B(k, n) = b[column n + c b_c] (linear, matmul) or,
// when gathering, input channel c at pixel (by(n) + i ddy, bx(n) + j ddx) (zero outside): conv2d's
// im2col map, and each output phase of conv_transpose2d (sub-pixel decomposition, see transpose_phase).
constexpr int kBK = 8, kThreads = 256;

namespace wmma = nvcuda::wmma;
/// The block's inner product: SIMT multiply-adds, or tensor cores on 16-bit inputs (float16 or
/// bfloat16, m16n16k16) or on TF32-rounded float32 (m16n16k8); tensor cores sum in float.
enum class Mma : int { Simt, Half, Tf32 };
/// K depth of a shared-memory slice (split-K slices are multiples of it): one m16n16k16 step for
/// 16-bit inputs; TF32 keeps kBK (its k8 step): 16 would need 8 more loader registers, and spill.
constexpr int k_slice(Mma mm) { return mm == Mma::Half ? 16 : kBK; }

// The architecture being compiled: wmma has float16 from sm_70, bfloat16 and TF32 from sm_80. The
// host pass and the emulator see every path.
#if defined(__CUDA_ARCH__)
#define FOVEAL_MMA_ARCH __CUDA_ARCH__
#else
#define FOVEAL_MMA_ARCH 1000
#endif
/// The inner product gemm_kernel<MM, S> compiles to on this architecture: MM, or SIMT below the
/// architecture MM needs (so a tensor-core launch on an older device runs SIMT code, with the same
/// results as the SIMT launch: exact float32 for TF32).
template <Mma MM, typename S>
constexpr Mma mma_built() {
  const int need = MM == Mma::Half && std::is_same_v<S, __half> ? 700 : 800;
  return MM == Mma::Simt || FOVEAL_MMA_ARCH >= need ? MM : Mma::Simt;
}

/// wmma fragment types of each tensor-core path (declared only where the architecture has them).
template <typename E, Mma MM>
struct MmaTypes;
#if FOVEAL_MMA_ARCH >= 700
template <>
struct MmaTypes<__half, Mma::Half> {
  static constexpr int k = 16;
  using FA = wmma::fragment<wmma::matrix_a, 16, 16, 16, __half, wmma::col_major>;
  using FB = wmma::fragment<wmma::matrix_b, 16, 16, 16, __half, wmma::row_major>;
  using FC = wmma::fragment<wmma::accumulator, 16, 16, 16, float>;
};
#endif
#if FOVEAL_MMA_ARCH >= 800
template <>
struct MmaTypes<__nv_bfloat16, Mma::Half> {
  static constexpr int k = 16;
  using FA = wmma::fragment<wmma::matrix_a, 16, 16, 16, __nv_bfloat16, wmma::col_major>;
  using FB = wmma::fragment<wmma::matrix_b, 16, 16, 16, __nv_bfloat16, wmma::row_major>;
  using FC = wmma::fragment<wmma::accumulator, 16, 16, 16, float>;
};
template <>
struct MmaTypes<float, Mma::Tf32> {
  static constexpr int k = 8;
  using FA = wmma::fragment<wmma::matrix_a, 16, 16, 8, wmma::precision::tf32, wmma::col_major>;
  using FB = wmma::fragment<wmma::matrix_b, 16, 16, 8, wmma::precision::tf32, wmma::row_major>;
  using FC = wmma::fragment<wmma::accumulator, 16, 16, 8, float>;
};
#endif

/// float32 rounded to TF32 (10 mantissa bits, to nearest, ties away from zero: cvt.rna.tf32.f32).
/// (A template: below sm_80 nothing calls it, and an unused function would warn.)
template <typename F>
__device__ __forceinline__ F tf32_round(F v) {
#if FOVEAL_MMA_ARCH >= 800
  return wmma::__float_to_tf32(v);
#else
  return v;  // not reached: the TF32 kernels compile as SIMT here
#endif
}

/// A loaded element as the shared-memory tile holds it: the SIMT accumulator type, the 16-bit input
/// itself, or TF32-rounded float32.
template <Mma MM, typename E, typename S>
__device__ __forceinline__ E tile_value(S v) {
  if constexpr (MM == Mma::Half) return v;
  else if constexpr (MM == Mma::Tf32) return tf32_round(v);
  else return E(to_acc(v));
}

/// The accumulators of one thread: TM x TN values (SIMT) or its warp's fragments (tensor cores).
template <Mma MM, typename E, typename A, int BM, int BN>
struct Accum {
  typename MmaTypes<E, MM>::FC f[BM / 32][BN / 64];
  __device__ __forceinline__ void zero() {
#pragma unroll
    for (int i = 0; i < BM / 32; ++i)
#pragma unroll
      for (int j = 0; j < BN / 64; ++j) wmma::fill_fragment(f[i][j], 0.0f);
  }
};
template <typename E, typename A, int BM, int BN>
struct Accum<Mma::Simt, E, A, BM, BN> {
  A v[BM / 16][BN / 16];
  __device__ __forceinline__ void zero() {
#pragma unroll
    for (int i = 0; i < BM / 16; ++i)
#pragma unroll
      for (int j = 0; j < BN / 16; ++j) v[i][j] = A(0);
  }
};

/// One column layout: column n = (image, u, v) with u < U, v < V, and its K digits and strides.
struct Phase {
  i64 N;           // columns: images U V (linear, matmul: U = V = 1)
  int U, V;
  int nc, nh, nw;  // K = nc nh nw
  int sc, si, sj;  // the digits of kBK (the step)
  int ddy, ddx;    // input pixel step per digit i, j
  int ysc, yoff, xsc, xoff;   // column (u, v)'s tap (0, 0) input pixel: (u ysc + yoff, v xsc + xoff)
  i64 a_off;                 // A's offset of the phase
  int a_c, a_i, a_j;         // A's offset per digit
  i64 o_off, o_u, o_v;        // column (u, v)'s output offset in its plane: o_off + u o_u + v o_v
};

/// conv_transpose2d's geometry; transpose_phase makes phase (rh, rw)'s Phase from it.
struct TransposeGeom {
  i64 images;
  int cin_g, cout_g, H, W, OH, OW, KH, KW, sh, sw, ph, pw, dh, dw;
};

template <typename S>
struct Gemm {
  i64 M;
  int G, phases;  // z = phase G + group
  const S* a;
  i64 lda, a_g;   // A row m of group g: a + g a_g + phase a_off + m lda
  const S* b;
  i64 b_img, b_g;  // B column of image img, group g: b + img b_img + g b_g; digit c adds c b_c
  int b_c;
  int H, W;             // gather: input plane (row stride W)
  S* c;
  const S* res;         // C's layout
  i64 c_img, c_m, c_g;  // output of column (img, u, v), row m, group g: c + img c_img + g c_g + m c_m + o(u, v)
  const S* bias;
  i64 bias_g;
  bool bias_per_row;
  math::Activation act;
  double slope;
  bool fits;         // the sizes suit the kernel's int offsets (see gemm_fits)
  Phase ph;          // the one phase (conv2d, linear, matmul)
  TransposeGeom tg;  // conv_transpose2d: phases sh sw, each made per tile by transpose_phase
  i64 n_tiles;       // column tiles per z (the most over the phases)
  // Split-K (one phase only): K in `splits` slices of k_chunk (a multiple of kBK); each writes its raw
  // sums to part[((slice G + g) M + m) n_cols + n] (the accumulator type) for splitk_reduce_kernel.
  int splits, k_chunk;
  void* part;
  i64 n_cols;
};

__host__ __device__ inline i64 floor_div(i64 a, i64 b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

/// One axis of conv_transpose2d's phase r: outputs o = q s + r - pad for q0 <= q < q0 + count; the taps
/// k with k d = r (mod s) are k0 + t step (t < taps), and input q - off0 - t dstep feeds output q.
struct TAxis {
  i64 q0, count, taps, k0, step, off0, dstep;
};
__host__ __device__ inline TAxis transpose_axis(i64 s, i64 d, i64 pad, i64 k, i64 out, i64 r) {
  TAxis a{};
  a.q0 = -floor_div(r - pad, s);  // ceil((pad - r) / s)
  const i64 q1 = floor_div(out - 1 + pad - r, s);
  a.count = q1 >= a.q0 ? q1 - a.q0 + 1 : 0;
  i64 g = s, t = d;
  while (t) {
    const i64 u = g % t;
    g = t, t = u;
  }
  a.step = s / g, a.dstep = d / g;
  a.k0 = -1;
  for (i64 j = 0; j < a.step && j < k; ++j)
    if ((j * d) % s == r) {
      a.k0 = j;
      break;
    }
  a.taps = a.k0 < 0 ? 0 : (k - 1 - a.k0) / a.step + 1;
  a.off0 = a.k0 < 0 ? 0 : (a.k0 * d - r) / s;
  return a;
}

/// The step digits (sc, si, sj) of kBK = (sc nh + si) nw + sj.
__host__ __device__ inline void set_step(Phase& p) {
  if (p.nh > 0 && p.nw > 0) p.sc = kBK / (p.nh * p.nw), p.si = kBK / p.nw % p.nh, p.sj = kBK % p.nw;
}

__host__ __device__ inline Phase transpose_phase(const TransposeGeom& t, int rh, int rw) {
  const TAxis y = transpose_axis(t.sh, t.dh, t.ph, t.KH, t.OH, rh), x = transpose_axis(t.sw, t.dw, t.pw, t.KW, t.OW, rw);
  Phase p{};
  p.U = static_cast<int>(y.count), p.V = static_cast<int>(x.count), p.N = t.images * y.count * x.count;
  p.nc = t.cin_g, p.nh = static_cast<int>(y.taps), p.nw = static_cast<int>(x.taps);
  p.ddy = static_cast<int>(-y.dstep), p.ddx = static_cast<int>(-x.dstep);
  p.ysc = 1, p.yoff = static_cast<int>(y.q0 - y.off0), p.xsc = 1, p.xoff = static_cast<int>(x.q0 - x.off0);
  p.a_off = y.taps && x.taps ? y.k0 * t.KW + x.k0 : 0;
  p.a_c = t.cout_g * t.KH * t.KW, p.a_i = static_cast<int>(y.step) * t.KW, p.a_j = static_cast<int>(x.step);
  p.o_off = (y.q0 * t.sh + rh - t.ph) * t.OW + x.q0 * t.sw + rw - t.pw;
  p.o_u = i64(t.sh) * t.OW, p.o_v = t.sw;
  set_step(p);
  return p;
}

/// Column n's (image, u, v); 32-bit division when the columns fit.
__device__ __forceinline__ void split_column(const Phase& ph, i64 n, i64& img, int& u, int& v) {
  if (ph.N <= i64(0x7fffffff)) {
    const unsigned uv = unsigned(ph.U) * unsigned(ph.V), nn = unsigned(n), q = nn / uv, r = nn - q * uv;
    img = q, u = static_cast<int>(r / unsigned(ph.V)), v = static_cast<int>(r - unsigned(u) * unsigned(ph.V));
  } else {
    const i64 uv = i64(ph.U) * ph.V, r = n % uv;
    img = n / uv, u = static_cast<int>(r / ph.V), v = static_cast<int>(r % ph.V);
  }
}

/// Output offset of column n, without the row term: the column itself, or (Gather: convT's
/// phases) its image and phase pixel.
template <bool Gather, typename S>
__device__ __forceinline__ i64 column_offset(const Gemm<S>& p, const Phase& ph, i64 n) {
  if constexpr (Gather) {
    i64 img;
    int u, v;
    split_column(ph, n, img, u, v);
    return img * p.c_img + ph.o_off + u * ph.o_u + v * ph.o_v;
  } else {
    return n * p.c_img;
  }
}

struct Digits {
  int c, i, j;
};
__device__ __forceinline__ Digits first_digits(int k, const Phase& ph) {
  const int ij = ph.nh * ph.nw, c = k / ij, r = k - c * ij;
  return {c, r / ph.nw, r - (r / ph.nw) * ph.nw};
}
__device__ __forceinline__ void next_digit(Digits& d, const Phase& ph) {
  if (++d.j == ph.nw) {
    d.j = 0;
    if (++d.i == ph.nh) d.i = 0, ++d.c;
  }
}
/// d += (dc, di, dj), the digits of kBK: each lower digit carries at most once.
__device__ __forceinline__ void advance(Digits& d, const Phase& ph) {
  d.j += ph.sj;
  if (d.j >= ph.nw) d.j -= ph.nw, ++d.i;
  d.i += ph.si;
  if (d.i >= ph.nh) d.i -= ph.nh, ++d.c;
  d.c += ph.sc;
}

template <typename A>
__device__ __forceinline__ void store4(A* p, A v0, A v1, A v2, A v3) {
  if constexpr (sizeof(A) == 4) {
    *reinterpret_cast<float4*>(p) = float4{v0, v1, v2, v3};
  } else {
    *reinterpret_cast<double2*>(p) = double2{v0, v1};
    *reinterpret_cast<double2*>(p + 2) = double2{v2, v3};
  }
}

template <bool Shared>
__device__ __forceinline__ const Phase& pick_phase(const Phase& param, const Phase& shared) {
  if constexpr (Shared) return shared;
  else return param;
}

template <typename A>
__device__ __forceinline__ void load4(const A* p, A* r) {
  if constexpr (sizeof(A) == 4) {
    const float4 t = *reinterpret_cast<const float4*>(p);
    r[0] = t.x, r[1] = t.y, r[2] = t.z, r[3] = t.w;
  } else {
    const double2 t0 = *reinterpret_cast<const double2*>(p), t1 = *reinterpret_cast<const double2*>(p + 2);
    r[0] = t0.x, r[1] = t0.y, r[2] = t1.x, r[3] = t1.y;
  }
}

// Gather: B through the im2col / sub-pixel map (else B column n at b + n b_img). AKFast / BKFast:
// the loading threads run along k (A or B contiguous in k; matmul's B too: a warp then reads 16
// consecutive columns of two rows) or along m / n (conv's B, conv_transpose2d's A).
// SplitK: this launch makes one K slice per z layer and writes raw sums to p.part.
// MM: the inner product (Mma); X = mma_built: what this architecture compiles of it.
template <Mma MM, typename S, typename A, int BM, int BN, bool Gather, bool AKFast, bool BKFast, bool SplitK = false>
__global__ void __launch_bounds__(kThreads, 2) gemm_kernel(Gemm<S> p) {
  constexpr Mma X = mma_built<MM, S>();
  constexpr bool Tc = X != Mma::Simt;
  using E = std::conditional_t<X == Mma::Half, S, A>;  // the shared tiles' element
  constexpr int TM = BM / 16, TN = BN / 16, BK = k_slice(X);
  // k-major tiles, rows padded by 16 bytes: stores along k hit distinct banks; float4 reads and wmma's
  // fragment pointers (256-bit aligned, ldm a multiple of 16 bytes) stay aligned.
  constexpr int PAD = Tc ? 16 / int(sizeof(E)) : 4;
  __shared__ __align__(32) E as[2][BK][BM + PAD];
  __shared__ __align__(32) E bs[2][BK][BN + PAD];
  __shared__ Phase sph;
  const int tid = static_cast<int>(threadIdx.x), tx = tid & 15, ty = tid >> 4;
  const int warp = tid >> 5, wm = warp >> 2, wn = warp & 3;  // tensor cores: the warp's rows / columns
  // Loading: each thread owns one row of A and one column of B, and KA (KB) consecutive k of the
  // slice, the threads running along k (AKFast, BKFast) or along the rows / columns.
  constexpr int KA = BM * BK / kThreads, KB = BN * BK / kThreads;
  const int a_r = AKFast ? tid / (BK / KA) : tid % BM, a_k = (AKFast ? tid % (BK / KA) : tid / BM) * KA;
  const int b_r = BKFast ? tid / (BK / KB) : tid % BN, b_k = (BKFast ? tid % (BK / KB) : tid / BN) * KB;
  const i64 m_tiles = (p.M + BM - 1) / BM, per_z = m_tiles * p.n_tiles;
  const i64 total = per_z * p.G * p.phases * (SplitK ? p.splits : 1);
  // Grid-stride over (z, row tile, column tile); every thread of a block takes the same trips.
  for (i64 blk = blockIdx.x; blk < total; blk += gridDim.x) {
    const i64 zs = blk / per_z, rem = blk - zs * per_z, mt = rem / p.n_tiles, nt = rem - mt * p.n_tiles;
    const i64 z = SplitK ? zs % (i64(p.G) * p.phases) : zs;
    const int g = static_cast<int>(z % p.G), pz = static_cast<int>(z / p.G);
    const int slice = SplitK ? static_cast<int>(zs / (i64(p.G) * p.phases)) : 0;
    // conv_transpose2d's phase goes to shared memory (its fields in registers would spill).
    if constexpr (Gather && !AKFast) {
      __syncthreads();  // the previous tile's readers are done
      if (tid == 0) sph = transpose_phase(p.tg, pz / p.tg.sw, pz % p.tg.sw);
      __syncthreads();
    }
    // (A reference to the kernel parameter would copy it to local memory: the one phase is a value.)
    std::conditional_t<Gather && !AKFast, const Phase&, Phase> ph = pick_phase<Gather && !AKFast>(p.ph, sph);
    const i64 m0 = mt * BM, n0 = nt * BN;
    if (n0 >= ph.N) continue;  // a phase with fewer columns
    const int K = ph.nc * ph.nh * ph.nw, k0 = SplitK ? slice * p.k_chunk : 0;
    const int steps = ((SplitK ? std::min(K - k0, p.k_chunk) : K) + BK - 1) / BK;

    Accum<X, E, A, BM, BN> acc;
    acc.zero();

    if (steps > 0) {
      const i64 m = m0 + a_r, n = n0 + b_r;
      const bool a_ok = m < p.M, b_ok = n < ph.N;
      const S* arow = p.a + g * p.a_g + ph.a_off + (a_ok ? m : 0) * p.lda;
      const S* bcol = p.b + g * p.b_g;
      int by = 0, bx = 0;
      if constexpr (Gather) {
        i64 img;
        int u, v;
        split_column(ph, b_ok ? n : 0, img, u, v);
        bcol += img * p.b_img;
        by = u * ph.ysc + ph.yoff, bx = v * ph.xsc + ph.xoff;
      } else {
        bcol += (b_ok ? n : 0) * p.b_img;
      }
      // linear / matmul: K is one digit (c = k, A contiguous in k)
      Digits da = Gather ? first_digits(k0 + a_k, ph) : Digits{k0 + a_k, 0, 0};
      Digits db = Gather ? first_digits(k0 + b_k, ph) : Digits{k0 + b_k, 0, 0};
      E ra[KA], rb[KB];
      const auto load = [&] {
        if constexpr (!Gather) {
#pragma unroll
          for (int t = 0; t < KA; ++t) ra[t] = a_ok && da.c + t < ph.nc ? tile_value<X, E>(arow[da.c + t]) : E{};
#pragma unroll
          for (int t = 0; t < KB; ++t) rb[t] = b_ok && db.c + t < ph.nc ? tile_value<X, E>(bcol[(db.c + t) * p.b_c]) : E{};
          return;
        }
        Digits d = da;
#pragma unroll
        for (int t = 0; t < KA; ++t) {
          ra[t] = a_ok && d.c < ph.nc ? tile_value<X, E>(arow[d.c * ph.a_c + d.i * ph.a_i + d.j * ph.a_j]) : E{};
          next_digit(d, ph);
        }
        d = db;
#pragma unroll
        for (int t = 0; t < KB; ++t) {
          if constexpr (Gather) {
            const int ih = by + d.i * ph.ddy, iw = bx + d.j * ph.ddx;
            const bool ok = b_ok && d.c < ph.nc && unsigned(ih) < unsigned(p.H) && unsigned(iw) < unsigned(p.W);
            rb[t] = ok ? tile_value<X, E>(bcol[i64(d.c) * p.b_c + (ih * p.W + iw)]) : E{};
          } else {
            rb[t] = b_ok && d.c < ph.nc ? tile_value<X, E>(bcol[i64(d.c) * p.b_c]) : E{};
          }
          next_digit(d, ph);
        }
      };
      const auto store = [&](int buf) {
#pragma unroll
        for (int t = 0; t < KA; ++t) as[buf][a_k + t][a_r] = ra[t];
#pragma unroll
        for (int t = 0; t < KB; ++t) bs[buf][b_k + t][b_r] = rb[t];
      };
      load();
      store(0);
      __syncthreads();
      for (int s = 0; s < steps; ++s) {
        const int cur = s & 1;
        const bool more = s + 1 < steps;
        if (more) {  // the next slice's loads fly during this slice's math
          if constexpr (Gather) {
#pragma unroll
            for (int t = 0; t < BK / kBK; ++t) advance(da, ph), advance(db, ph);
          } else {
            da.c += BK, db.c += BK;
          }
          load();
        }
        if constexpr (Tc) {  // warp (wm, wn): rows wm BM / 2 + 16 i, columns wn BN / 4 + 16 j
          using T = MmaTypes<E, X>;
#pragma unroll
          for (int kk = 0; kk < BK; kk += T::k) {
#pragma unroll
            for (int j = 0; j < BN / 64; ++j) {
              typename T::FB fb;
              wmma::load_matrix_sync(fb, &bs[cur][kk][wn * (BN / 4) + j * 16], BN + PAD);
#pragma unroll
              for (int i = 0; i < BM / 32; ++i) {
                typename T::FA fa;
                wmma::load_matrix_sync(fa, &as[cur][kk][wm * (BM / 2) + i * 16], BM + PAD);
                wmma::mma_sync(acc.f[i][j], fa, fb, acc.f[i][j]);
              }
            }
          }
        } else {
#pragma unroll
          for (int kk = 0; kk < kBK; ++kk) {
            A av[TM], bv[TN];
#pragma unroll
            for (int h = 0; h < TM / 4; ++h) load4(&as[cur][kk][h * 64 + ty * 4], av + 4 * h);
#pragma unroll
            for (int h = 0; h < TN / 4; ++h) load4(&bs[cur][kk][h * 64 + tx * 4], bv + 4 * h);
#pragma unroll
            for (int i = 0; i < TM; ++i)
#pragma unroll
              for (int j = 0; j < TN; ++j) acc.v[i][j] = madd(av[i], bv[j], acc.v[i][j]);
          }
        }
        // The other buffer was last read in step s - 1, before the barrier that ended it.
        if (more) store(cur ^ 1);
        __syncthreads();
      }
    }

    if constexpr (Tc) {
      // Each fragment goes out through the warp's 16 x 16 staging square: lane l takes column l % 16,
      // rows l / 16 + 2 r, so a half-warp stores 16 consecutive columns.
      __shared__ __align__(32) A stage[kThreads / 32][16 * 16];
      A* st = stage[warp];
      const int lane = tid & 31, sc = lane & 15;
#pragma unroll
      for (int j = 0; j < BN / 64; ++j) {
        const i64 n = n0 + wn * (BN / 4) + j * 16 + sc;
        const bool n_ok = n < ph.N;
        const i64 off = !SplitK && n_ok ? g * p.c_g + column_offset<Gather>(p, ph, n) : 0;
#pragma unroll
        for (int i = 0; i < BM / 32; ++i) {
          wmma::store_matrix_sync(st, acc.f[i][j], 16, wmma::mem_row_major);
          __syncwarp();
          const i64 mb = m0 + wm * (BM / 2) + i * 16;
          for (int r = lane >> 4; n_ok && r < 16 && mb + r < p.M; r += 2) {
            const i64 m = mb + r;
            A val = st[r * 16 + sc];
            if constexpr (SplitK) {  // raw sums, as below
              static_cast<A*>(p.part)[((i64(slice) * p.G + g) * p.M + m) * p.n_cols + n] = val;
            } else {
              if (p.bias) val += to_acc(p.bias[g * p.bias_g + (p.bias_per_row ? m : n)]);
              const i64 o = off + m * p.c_m;
              if (p.res) val += to_acc(p.res[o]);
              p.c[o] = from_acc<S>(math::activate(p.act, val, A(p.slope)));
            }
          }
          __syncwarp();  // the square is read before the next fragment lands
        }
      }
    } else if constexpr (Gather && !AKFast && sizeof(S) == 4) {
      // conv_transpose2d in float32: the epilogue goes out through shared memory (bs, free after the
      // last step's barrier), one row slot (h, i) of every thread at a time; the 16 x BN slice is read
      // back with consecutive threads on consecutive columns, so the stores (sw apart) share sectors.
      // (Elsewhere the direct stores below: staging there makes ptxas spill.)
      A* stage = &bs[0][0][0];           // 16 rows of BN + 4: exactly bs
      constexpr int SR = kThreads / BN;  // rows read back per pass
      const int sc = (ty % (BN / 16)) * 16 + tx, sr = ty / (BN / 16);  // = tid % BN, tid / BN
      const i64 n = n0 + sc;
      const bool n_ok = n < ph.N;
      i64 img;
      int u, v;
      split_column(ph, n_ok ? n : 0, img, u, v);
      const i64 off = img * p.c_img + ph.o_off + u * ph.o_u + v * ph.o_v;
#pragma unroll
      for (int sl = 0; sl < TM; ++sl) {
#pragma unroll
        for (int h = 0; h < TN / 4; ++h)
          store4(&stage[ty * (BN + 4) + h * 64 + tx * 4], acc.v[sl][4 * h], acc.v[sl][4 * h + 1], acc.v[sl][4 * h + 2],
                 acc.v[sl][4 * h + 3]);
        __syncthreads();
#pragma unroll 1
        for (int q = 0; q < 16 / SR; ++q) {
          const int r = sr + SR * q;  // the writer's ty
          const i64 m = m0 + (sl / 4) * 64 + r * 4 + (sl % 4);
          if (!n_ok || m >= p.M) continue;
          A val = stage[r * (BN + 4) + sc];
          if (p.bias) val += to_acc(p.bias[g * p.bias_g + m]);
          const i64 o = g * p.c_g + off + m * p.c_m;
          if (p.res) val += to_acc(p.res[o]);
          p.c[o] = from_acc<S>(math::activate(p.act, val, A(p.slope)));
        }
        __syncthreads();  // the slice is read before the next one (or the next tile's loads) lands
      }
    } else if constexpr (SplitK) {  // raw sums; splitk_reduce_kernel adds the slices and applies the epilogue
      A* part = static_cast<A*>(p.part) + ((i64(slice) * p.G + g) * p.M) * p.n_cols;
#pragma unroll
      for (int j = 0; j < TN; ++j) {
        const i64 n = n0 + (j / 4) * 64 + tx * 4 + (j % 4);
#pragma unroll
        for (int i = 0; i < TM; ++i) {
          const i64 m = m0 + (i / 4) * 64 + ty * 4 + (i % 4);
          if (n < ph.N && m < p.M) part[m * p.n_cols + n] = acc.v[i][j];
        }
      }
    } else {
      S* cbase = p.c + g * p.c_g;
      const S* rbase = p.res ? p.res + g * p.c_g : nullptr;
      const S* bias = p.bias ? p.bias + g * p.bias_g : nullptr;
#pragma unroll
      for (int j = 0; j < TN; ++j) {
        const i64 n = n0 + (j / 4) * 64 + tx * 4 + (j % 4);
        if (n >= ph.N) continue;
        const i64 off = column_offset<Gather>(p, ph, n);
#pragma unroll
        for (int i = 0; i < TM; ++i) {
          const i64 m = m0 + (i / 4) * 64 + ty * 4 + (i % 4);
          if (m >= p.M) continue;
          A val = acc.v[i][j];
          if (bias) val += to_acc(bias[p.bias_per_row ? m : n]);
          const i64 o = off + m * p.c_m;
          if (rbase) val += to_acc(rbase[o]);
          cbase[o] = from_acc<S>(math::activate(p.act, val, A(p.slope)));
        }
      }
    }
  }
}

/// Split-K's second pass: out = act(sum of the slices in order + bias + residual), one thread per
/// (group, row, column) of the one phase.
template <typename S, typename A, bool Gather>
__global__ void splitk_reduce_kernel(Gemm<S> p) {
  const Phase ph = p.ph;
  const i64 total = p.G * p.M * ph.N;
  const A* part = static_cast<const A*>(p.part);
  for (i64 e = blockIdx.x * i64(blockDim.x) + threadIdx.x; e < total; e += i64(gridDim.x) * blockDim.x) {
    const i64 n = e % ph.N, gm = e / ph.N, m = gm % p.M;
    const int g = static_cast<int>(gm / p.M);
    A val = A(0);
    for (int s = 0; s < p.splits; ++s) val += part[((i64(s) * p.G + g) * p.M + m) * p.n_cols + n];
    const i64 off = column_offset<Gather>(p, ph, n);
    const i64 o = g * p.c_g + off + m * p.c_m;
    if (p.bias) val += to_acc(p.bias[g * p.bias_g + (p.bias_per_row ? m : n)]);
    if (p.res) val += to_acc(p.res[o]);
    p.c[o] = from_acc<S>(math::activate(p.act, val, A(p.slope)));
  }
}

/// Split-K for a grid under one bm x bn block per SM with a deep K (one phase only): up to two
/// blocks per SM, slices at least 512 deep. Returns the slice count (1: no split).
inline int plan_splits(i64 M, i64 n_max, i64 z, i64 K, i64 sms, i64 bm, i64 bn) {
  const i64 blocks = (M + bm - 1) / bm * ((n_max + bn - 1) / bn) * z;
  if (blocks >= sms || K < 1024) return 1;
  return static_cast<int>(std::max<i64>(1, std::min<i64>({2 * sms / blocks, K / 512, 64})));
}

/// Sets splits and k_chunk (a multiple of the kernel's slice depth bk; no empty slice) for `want`
/// slices of K.
template <typename S>
void set_splits(Gemm<S>& p, int want, int bk) {
  const i64 K = i64(p.ph.nc) * p.ph.nh * p.ph.nw;
  p.k_chunk = static_cast<int>((K + want - 1) / want + bk - 1) / bk * bk;
  p.splits = static_cast<int>((K + p.k_chunk - 1) / p.k_chunk);
  p.n_cols = p.ph.N;
}

enum class Tile : int { T128x128 = 0, T64x128 = 1, T64x64 = 2 };

/// The tile of least estimated time: blocks are dealt round-robin to the `sms` multiprocessors,
/// so time ~ ceil(blocks / sms) tile area / efficiency, the efficiencies guessed from the FMA share
/// of each tile's instruction stream (8 x 8, 4 x 8, 4 x 4 outputs per thread); ties go to the
/// larger tile. M <= 64 wastes half a 128-row tile, which the estimate counts.
inline Tile pick_tile(i64 M, i64 n_max, i64 z, i64 sms) {
  const auto cost = [&](i64 bm, i64 bn, i64 inv_eff) {  // inv_eff: 63 / efficiency (exact ties)
    const i64 blocks = (M + bm - 1) / bm * ((n_max + bn - 1) / bn) * z;
    return (blocks + sms - 1) / sms * bm * bn * inv_eff;
  };
  const i64 c128 = cost(128, 128, 90), c64x128 = cost(64, 128, 105), c64 = cost(64, 64, 140);  // 0.70, 0.60, 0.45
  if (c128 <= c64x128 && c128 <= c64) return Tile::T128x128;
  return c64x128 <= c64 ? Tile::T64x128 : Tile::T64x64;
}

/// The problems, from plain sizes (shared with the emulator). Images fold into the columns.
struct ConvShape {
  i64 images, C_in, H, W, C_out, KH, KW, OH, OW;
  int groups, sh, sw, pt, pl, dh, dw;
};

/// Whether `v` (a size, stride, padding or dilation) fits the int fields of ConvShape with room.
inline bool small_param(i64 v) { return v >= 0 && v < (i64(1) << 30); }

template <typename S>
Gemm<S> conv2d_gemm(const ConvShape& s, const S* x, const S* w, const S* bias, const S* res, S* out) {
  Gemm<S> p{};
  const i64 cin_g = s.C_in / s.groups, cout_g = s.C_out / s.groups, K = cin_g * s.KH * s.KW;
  p.M = cout_g, p.G = s.groups, p.phases = 1, p.splits = 1;
  p.a = w, p.lda = K, p.a_g = cout_g * K;
  p.b = x, p.b_img = s.C_in * s.H * s.W, p.b_c = static_cast<int>(s.H * s.W), p.b_g = cin_g * s.H * s.W;
  p.H = static_cast<int>(s.H), p.W = static_cast<int>(s.W);
  p.c = out, p.res = res, p.c_img = s.C_out * s.OH * s.OW, p.c_m = s.OH * s.OW, p.c_g = cout_g * s.OH * s.OW;
  p.bias = bias, p.bias_g = cout_g, p.bias_per_row = true;
  p.fits = K < (i64(1) << 30);
  Phase& ph = p.ph;
  ph.N = s.images * s.OH * s.OW, ph.U = static_cast<int>(s.OH), ph.V = static_cast<int>(s.OW);
  ph.nc = static_cast<int>(cin_g), ph.nh = static_cast<int>(s.KH), ph.nw = static_cast<int>(s.KW);
  ph.ddy = s.dh, ph.ddx = s.dw, ph.ysc = s.sh, ph.yoff = -s.pt, ph.xsc = s.sw, ph.xoff = -s.pl;
  ph.a_c = static_cast<int>(s.KH * s.KW), ph.a_i = static_cast<int>(s.KW), ph.a_j = 1;
  ph.o_u = s.OW, ph.o_v = 1;
  set_step(ph);
  return p;
}

/// conv_transpose2d: weight (C_in, C_out / groups, KH, KW); padding (pt, pl), no output padding here
/// (it only sizes OH, OW).
template <typename S>
Gemm<S> transpose_gemm(const ConvShape& s, const S* x, const S* w, const S* bias, const S* res, S* out) {
  Gemm<S> p{};
  const i64 cin_g = s.C_in / s.groups, cout_g = s.C_out / s.groups;
  p.M = cout_g, p.G = s.groups, p.phases = s.sh * s.sw, p.splits = 1;
  p.a = w, p.lda = s.KH * s.KW, p.a_g = cin_g * cout_g * s.KH * s.KW;
  p.b = x, p.b_img = s.C_in * s.H * s.W, p.b_c = static_cast<int>(s.H * s.W), p.b_g = cin_g * s.H * s.W;
  p.H = static_cast<int>(s.H), p.W = static_cast<int>(s.W);
  p.c = out, p.res = res, p.c_img = s.C_out * s.OH * s.OW, p.c_m = s.OH * s.OW, p.c_g = cout_g * s.OH * s.OW;
  p.bias = bias, p.bias_g = cout_g, p.bias_per_row = true;
  p.fits = cin_g * cout_g * s.KH * s.KW < (i64(1) << 30);  // A offsets in int
  p.tg = {s.images, static_cast<int>(cin_g), static_cast<int>(cout_g), static_cast<int>(s.H), static_cast<int>(s.W),
          static_cast<int>(s.OH), static_cast<int>(s.OW), static_cast<int>(s.KH), static_cast<int>(s.KW),
          s.sh, s.sw, s.pt, s.pl, s.dh, s.dw};
  return p;
}

/// linear (transposed_b: B = weight (N, K), C = A B^T) and matmul (B (K, N)); A (M, K) row-major.
template <typename S>
Gemm<S> plain_gemm(i64 M, i64 N, i64 K, bool transposed_b, const S* a, const S* b, const S* bias, S* out) {
  Gemm<S> p{};
  p.M = M, p.G = 1, p.phases = 1, p.splits = 1;
  p.a = a, p.lda = K;
  p.b = b, p.b_img = transposed_b ? K : 1, p.b_c = transposed_b ? 1 : static_cast<int>(N);
  p.fits = K < (i64(1) << 30) && N < (i64(1) << 30) && K * p.b_c < (i64(1) << 31);  // int B offsets in the loop
  p.H = p.W = 1;
  p.c = out, p.c_img = 1, p.c_m = N;
  p.bias = bias, p.bias_per_row = false;
  Phase& ph = p.ph;
  ph.N = N, ph.U = ph.V = 1, ph.nc = static_cast<int>(K), ph.nh = ph.nw = 1, ph.a_c = 1;
  set_step(ph);
  return p;
}

/// The columns of the widest phase (sets n_tiles for tile width bn); false when a size leaves the
/// kernel's 32-bit ranges (K, pixel coordinates, a plane).
template <typename S>
bool gemm_fits(const Gemm<S>& p, i64& n_max) {
  const i64 lim = i64(1) << 30;
  bool ok = p.fits && p.M >= 1 && i64(p.H) * p.W < lim * 2;
  const auto check = [&](const Phase& ph) {
    const i64 K = i64(ph.nc) * ph.nh * ph.nw;
    ok = ok && K < lim && i64(ph.U) * ph.ysc + std::abs(i64(ph.yoff)) + i64(ph.nh) * std::abs(i64(ph.ddy)) < lim &&
         i64(ph.V) * ph.xsc + std::abs(i64(ph.xoff)) + i64(ph.nw) * std::abs(i64(ph.ddx)) < lim;
    n_max = std::max(n_max, ph.N);
  };
  n_max = 0;
  if (p.tg.sh > 0) {
    for (int rh = 0; rh < p.tg.sh; ++rh)
      for (int rw = 0; rw < p.tg.sw; ++rw) check(transpose_phase(p.tg, rh, rw));
  } else {
    check(p.ph);
  }
  return ok;
}
// ---- end of the emulated GEMM

template <typename F>
void dispatch(DType t, F&& f) {
  switch (t) {
    case DType::Float16: return f(__half{}, float{});
    case DType::BFloat16: return f(__nv_bfloat16{}, float{});
    case DType::Float32: return f(float{}, float{});
    default: return f(double{}, double{});
  }
}

template <typename S>
Problem<S> base_problem(const Epilogue& e) {
  Problem<S> p{};
  p.Z = 1;
  p.act = e.activation;
  p.slope = e.negative_slope;
  return p;
}

template <typename S>
const S* opt(ConstTensorView v) {
  return v.data() ? static_cast<const S*>(v.data()) : nullptr;
}

/// Depthwise conv2d: each block makes a th x tw tile of one output plane (image, out channel co)
/// from a zero-padded input tile in shared memory (its group's single input channel), 32 x 8
/// threads, each thread several outputs. The taps sum in the GEMM path's order (kh, kw row-major,
/// fma(weight, input, acc) from 0, padding taps included as zeros), so both paths give the same
/// values (up to the sign of a zero sum).
template <typename S>
struct DwProblem {
  const S* x;
  const S* w;
  const S* bias;
  const S* residual;
  S* out;
  i64 planes, tiles;  // planes N C_out; tiles per plane tiles_h tiles_w
  int C_in, C_out, cout_g, H, W, OH, OW, KH, KW, sh, sw, pt, pl, dh, dw;
  int th, tw, tiles_w, in_th, in_tw;
  math::Activation act;
  double slope;
};

constexpr int kDwTx = 32, kDwTy = 8, kDwBatch = 8;

// K > 0: a K x K kernel known at compile time (weights in registers, taps unrolled); 0: any.
template <typename S, typename A, int K>
__global__ void __launch_bounds__(kDwTx * kDwTy) dwconv_kernel(DwProblem<S> p) {
  extern __shared__ __align__(16) unsigned char dw_smem[];
  A* tile = reinterpret_cast<A*>(dw_smem);
  A* wsm = tile + p.in_th * p.in_tw;
  const int KH = K ? K : p.KH, KW = K ? K : p.KW;
  const int tx = threadIdx.x, ty = threadIdx.y, tid = ty * kDwTx + tx;
  // Grid-stride over (plane, tile); b depends on the block only, so the barriers stay uniform.
  for (i64 b = blockIdx.x; b < p.planes * p.tiles; b += gridDim.x) {
    const i64 plane = b / p.tiles;
    const int t = static_cast<int>(b - plane * p.tiles);
    const int oy0 = (t / p.tiles_w) * p.th, ox0 = (t % p.tiles_w) * p.tw;
    const i64 img = plane / p.C_out;
    const int co = static_cast<int>(plane - img * p.C_out), ci = co / p.cout_g;
    const S* __restrict__ xp = p.x + (img * p.C_in + ci) * i64(p.H) * p.W;
    const int ih0 = oy0 * p.sh - p.pt, iw0 = ox0 * p.sw - p.pl;
    __syncthreads();  // the previous trip's readers are done with the tile
    // The tile, row-major, in batches of kDwBatch elements per thread: all of a batch's loads are
    // issued before the first store, so they are in flight together (a load-store loop waits on
    // each load; measured on the H200, 21 us, about 1.2 TB/s, for dwconv3x3_128).
    const int n_in = p.in_th * p.in_tw;
    for (int e0 = tid; e0 < n_in; e0 += kDwBatch * kDwTx * kDwTy) {
      A v[kDwBatch];
#pragma unroll
      for (int j = 0; j < kDwBatch; ++j) {
        const int e = e0 + j * kDwTx * kDwTy, r = e / p.in_tw, ih = ih0 + r, iw = iw0 + (e - r * p.in_tw);
        v[j] = e < n_in && ih >= 0 && ih < p.H && iw >= 0 && iw < p.W ? A(to_acc(xp[i64(ih) * p.W + iw])) : A(0);
      }
#pragma unroll
      for (int j = 0; j < kDwBatch; ++j)
        if (e0 + j * kDwTx * kDwTy < n_in) tile[e0 + j * kDwTx * kDwTy] = v[j];
    }
    for (int k = tid; k < KH * KW; k += kDwTx * kDwTy) wsm[k] = A(to_acc(p.w[i64(co) * KH * KW + k]));
    __syncthreads();
    A wreg[K > 0 ? K * K : 1];
    if constexpr (K > 0) {
#pragma unroll
      for (int k = 0; k < K * K; ++k) wreg[k] = wsm[k];
    }
    const A bias = p.bias ? A(to_acc(p.bias[co])) : A(0);
    S* __restrict__ op = p.out + plane * i64(p.OH) * p.OW;
    const S* __restrict__ rp = p.residual ? p.residual + plane * i64(p.OH) * p.OW : nullptr;
    for (int oy = ty; oy < p.th && oy0 + oy < p.OH; oy += kDwTy) {
      for (int ox = tx; ox < p.tw && ox0 + ox < p.OW; ox += kDwTx) {
        const A* tp = tile + (oy * p.sh) * p.in_tw + ox * p.sw;
        A acc = A(0);
        if constexpr (K > 0) {
#pragma unroll
          for (int kh = 0; kh < K; ++kh)
#pragma unroll
            for (int kw = 0; kw < K; ++kw) acc = madd(wreg[kh * K + kw], tp[kh * p.dh * p.in_tw + kw * p.dw], acc);
        } else {
          for (int kh = 0; kh < KH; ++kh)
            for (int kw = 0; kw < KW; ++kw) acc = madd(wsm[kh * KW + kw], tp[kh * p.dh * p.in_tw + kw * p.dw], acc);
        }
        const int o = (oy0 + oy) * p.OW + ox0 + ox;
        A v = acc;
        if (p.bias) v += bias;
        if (rp) v += to_acc(rp[o]);
        op[o] = from_acc<S>(math::activate(p.act, v, A(p.slope)));
      }
    }
  }
}

/// Runs the depthwise kernel when the problem suits it (one input channel per group, 32-bit
/// plane offsets, a tile that fits in 48 KB of shared memory); false: use the GEMM.
template <typename S, typename A>
bool try_depthwise(const Problem<S>& g, i64 N, const ExecContext& ctx) {
  const i64 two31 = i64(1) << 31;
  const i64 OH = g.N / g.OW;
  if (g.cin_g != 1 || g.H * g.W >= two31 || 2 * g.H >= two31 || 2 * g.W >= two31 || g.N >= two31 ||
      g.C_in >= two31 || g.G * g.cout_g >= two31)
    return false;
  // int index math in the kernel: tile origins (oy0 stride - pad) stay far below 2^31.
  const i64 small[] = {g.KH, g.KW, g.sh, g.sw, g.pt, g.pl, g.dh, g.dw};
  for (const i64 v : small)
    if (v >= 65536) return false;
  // Tiles: balanced widths of at most 64 columns, then rows for about 2048 outputs per block.
  const i64 tiles_w = (g.OW + 63) / 64, tw = (g.OW + tiles_w - 1) / tiles_w;
  const i64 th_max = std::max<i64>(1, 2048 / tw);
  i64 tiles_h = (OH + th_max - 1) / th_max, th = (OH + tiles_h - 1) / tiles_h;
  const auto in_extent = [](i64 out, i64 stride, i64 k, i64 dil) { return (out - 1) * stride + (k - 1) * dil + 1; };
  const auto smem_of = [&](i64 rows) {
    return (in_extent(rows, g.sh, g.KH, g.dh) * in_extent(tw, g.sw, g.KW, g.dw) + g.KH * g.KW) * i64(sizeof(A));
  };
  while (smem_of(th) > 48 * 1024 && th > 1) th = (th + 1) / 2;
  if (smem_of(th) > 48 * 1024) return false;
  tiles_h = (OH + th - 1) / th;
  DwProblem<S> p{};
  p.x = g.b, p.w = g.a, p.bias = g.bias, p.residual = g.residual, p.out = g.c;
  p.planes = N * g.G * g.cout_g, p.tiles = tiles_h * tiles_w;
  p.C_in = static_cast<int>(g.C_in), p.C_out = static_cast<int>(g.G * g.cout_g), p.cout_g = static_cast<int>(g.cout_g);
  p.H = static_cast<int>(g.H), p.W = static_cast<int>(g.W), p.OH = static_cast<int>(OH), p.OW = static_cast<int>(g.OW);
  p.KH = static_cast<int>(g.KH), p.KW = static_cast<int>(g.KW);
  p.sh = static_cast<int>(g.sh), p.sw = static_cast<int>(g.sw), p.pt = static_cast<int>(g.pt);
  p.pl = static_cast<int>(g.pl), p.dh = static_cast<int>(g.dh), p.dw = static_cast<int>(g.dw);
  p.th = static_cast<int>(th), p.tw = static_cast<int>(tw), p.tiles_w = static_cast<int>(tiles_w);
  p.in_th = static_cast<int>(in_extent(th, g.sh, g.KH, g.dh)), p.in_tw = static_cast<int>(in_extent(tw, g.sw, g.KW, g.dw));
  p.act = g.act, p.slope = g.slope;
  const i64 blocks = p.planes * p.tiles;
  const dim3 grid(static_cast<unsigned>(blocks < (i64(1) << 30) ? blocks : (i64(1) << 30)));
  const dim3 block(kDwTx, kDwTy);
  const auto smem = static_cast<std::size_t>(smem_of(th));
  const cudaStream_t st = stream_of(ctx);
  if (g.KH == 3 && g.KW == 3) dwconv_kernel<S, A, 3><<<grid, block, smem, st>>>(p);
  else if (g.KH == 5 && g.KW == 5) dwconv_kernel<S, A, 5><<<grid, block, smem, st>>>(p);
  else if (g.KH == 7 && g.KW == 7) dwconv_kernel<S, A, 7><<<grid, block, smem, st>>>(p);
  else dwconv_kernel<S, A, 0><<<grid, block, smem, st>>>(p);
  FOVEAL_CUDA_CHECK(cudaGetLastError());
  return true;
}


int sm_count() {
  int dev = 0, n = 0;
  FOVEAL_CUDA_CHECK(cudaGetDevice(&dev));
  FOVEAL_CUDA_CHECK(cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, dev));
  return n > 0 ? n : 1;
}

template <Mma MM, typename S, typename A, int BM, int BN, bool Gather, bool AKFast, bool BKFast, bool SplitK = false>
void launch_tile(Gemm<S> p, i64 n_max, cudaStream_t st) {
  p.n_tiles = (n_max + BN - 1) / BN;
  const i64 total = (p.M + BM - 1) / BM * p.n_tiles * p.G * p.phases * (SplitK ? p.splits : 1);
  const auto grid = static_cast<unsigned>(std::min<i64>(total, 0x7fffffff));
  gemm_kernel<MM, S, A, BM, BN, Gather, AKFast, BKFast, SplitK><<<grid, kThreads, 0, st>>>(p);
  FOVEAL_CUDA_CHECK(cudaGetLastError());
}

/// Picks the tile (float64: 64 x 64 only) and launches with inner product MM.
template <Mma MM, typename S, typename A, bool Gather, bool AKFast, bool BKFast>
void run_gemm_mma(const Gemm<S>& p, const char* op, const ExecContext& ctx) {
  i64 n_max = 0;
  FOVEAL_CHECK_VALUE(gemm_fits(p, n_max), op,
                     ": sizes beyond the CUDA kernel's 32-bit index ranges (K, an input plane or a pixel "
                     "coordinate of 2^30 or more)");
  if (n_max == 0) return;
  const cudaStream_t st = stream_of(ctx);
  const i64 sms = sm_count();
  if constexpr (!(Gather && !AKFast)) {  // split-K: one phase only (not conv_transpose2d)
    const i64 tile = sizeof(A) == 8 ? 64 : 128;
    const int want = plan_splits(p.M, n_max, p.G, i64(p.ph.nc) * p.ph.nh * p.ph.nw, sms, tile, tile);
    Gemm<S> q = p;
    if (want > 1) set_splits(q, want, k_slice(MM));
    if (want > 1 && q.splits > 1) {  // few tiles, deep K: slices of K, then a reduction with the epilogue
      Workspace<A> part(static_cast<std::size_t>(q.splits * q.G * q.M * q.n_cols), st);
      q.part = part.get();
      if constexpr (sizeof(A) == 8) launch_tile<MM, S, A, 64, 64, Gather, AKFast, BKFast, true>(q, n_max, st);
      else launch_tile<MM, S, A, 128, 128, Gather, AKFast, BKFast, true>(q, n_max, st);
      const i64 outs = q.G * q.M * q.ph.N;
      splitk_reduce_kernel<S, A, Gather><<<blocks_for(outs, 256), 256, 0, st>>>(q);
      FOVEAL_CUDA_CHECK(cudaGetLastError());
      return;
    }
  }
  if constexpr (sizeof(A) == 8) {
    launch_tile<MM, S, A, 64, 64, Gather, AKFast, BKFast>(p, n_max, st);
  } else {
    // Tensor cores in conv_transpose2d, and TF32 conv2d: a 128 x 128 tile's 64 accumulators and the
    // gather's index registers exceed 128 registers (ptxas spills), so 64 x 128 there.
    constexpr bool rows64 = MM != Mma::Simt && Gather && (!AKFast || MM == Mma::Tf32);
    switch (pick_tile(p.M, n_max, i64(p.G) * p.phases, sms)) {
      case Tile::T128x128:
        if constexpr (rows64) return launch_tile<MM, S, A, 64, 128, Gather, AKFast, BKFast>(p, n_max, st);
        else return launch_tile<MM, S, A, 128, 128, Gather, AKFast, BKFast>(p, n_max, st);
      case Tile::T64x128: return launch_tile<MM, S, A, 64, 128, Gather, AKFast, BKFast>(p, n_max, st);
      case Tile::T64x64: return launch_tile<MM, S, A, 64, 64, Gather, AKFast, BKFast>(p, n_max, st);
    }
  }
}

/// The inner product for data S: tensor cores for float16 / bfloat16 always, for float32 when TF32
/// is allowed; float32 otherwise and float64 on SIMT.
template <typename S, typename A, bool Gather, bool AKFast, bool BKFast>
void run_gemm(const Gemm<S>& p, bool allow_tf32, const char* op, const ExecContext& ctx) {
  if constexpr (std::is_same_v<S, __half> || std::is_same_v<S, __nv_bfloat16>) {
    run_gemm_mma<Mma::Half, S, A, Gather, AKFast, BKFast>(p, op, ctx);
  } else if constexpr (std::is_same_v<S, float>) {
    if (allow_tf32) run_gemm_mma<Mma::Tf32, S, A, Gather, AKFast, BKFast>(p, op, ctx);
    else run_gemm_mma<Mma::Simt, S, A, Gather, AKFast, BKFast>(p, op, ctx);
  } else {
    run_gemm_mma<Mma::Simt, S, A, Gather, AKFast, BKFast>(p, op, ctx);
  }
}

/// ConvShape of an (N, C, H, W) or (C, H, W) input; false when a parameter leaves the int range.
bool conv_shape(ConstTensorView input, ConstTensorView out, i64 C_out, i64 KH, i64 KW, i64 groups, i64 sh, i64 sw,
                i64 pt, i64 pl, i64 dh, i64 dw, ConvShape& s) {
  const int nd = input.ndim();
  s.images = nd == 4 ? input.size(0) : 1;
  s.C_in = input.size(nd - 3), s.H = input.size(nd - 2), s.W = input.size(nd - 1), s.C_out = C_out;
  s.KH = KH, s.KW = KW, s.OH = out.size(nd - 2), s.OW = out.size(nd - 1);
  const i64 v[] = {s.H, s.W, s.OH, s.OW, s.KH, s.KW, groups, sh, sw, pt, pl, dh, dw, s.H * s.W, s.OH * sh, s.OW * sw, KH * dh, KW * dw};
  for (const i64 x : v)
    if (!small_param(x)) return false;
  s.groups = static_cast<int>(groups), s.sh = static_cast<int>(sh), s.sw = static_cast<int>(sw);
  s.pt = static_cast<int>(pt), s.pl = static_cast<int>(pl), s.dh = static_cast<int>(dh), s.dw = static_cast<int>(dw);
  return true;
}

}  // namespace

void conv2d(ConstTensorView input, ConstTensorView weight, ConstTensorView bias, ConstTensorView residual,
            TensorView out, const Conv2dParams& cp, const Epilogue& epi, const ExecContext& ctx) {
  DeviceGuard guard(input.device().index);
  const int nd = input.ndim();
  dispatch(input.dtype(), [&](auto s, auto a) {
    using S = decltype(s);
    using A = decltype(a);
    Problem<S> p = base_problem<S>(epi);
    p.C_in = input.size(nd - 3), p.H = input.size(nd - 2), p.W = input.size(nd - 1);
    p.KH = weight.size(2), p.KW = weight.size(3);
    p.G = cp.groups, p.cin_g = p.C_in / p.G, p.cout_g = weight.size(0) / p.G;
    p.sh = cp.stride_h, p.sw = cp.stride_w, p.pt = cp.pad_top, p.pl = cp.pad_left;
    p.dh = cp.dilation_h, p.dw = cp.dilation_w, p.OW = out.size(nd - 1);
    p.M = p.cout_g, p.N = out.size(nd - 2) * p.OW, p.K = p.cin_g * p.KH * p.KW;
    p.Z = (nd == 4 ? input.size(0) : 1) * p.G;
    p.a = static_cast<const S*>(weight.data()), p.lda = p.K, p.a_z = p.cout_g * p.K;
    p.b = static_cast<const S*>(input.data());
    p.c = static_cast<S*>(out.data()), p.ldc = p.N;
    p.bias = opt<S>(bias), p.bias_per_row = true, p.residual = opt<S>(residual);
    if (try_depthwise<S, A>(p, nd == 4 ? input.size(0) : 1, ctx)) return;
    ConvShape sh{};
    FOVEAL_CHECK_VALUE(conv_shape(input, out, weight.size(0), p.KH, p.KW, p.G, p.sh, p.sw, p.pt, p.pl, p.dh, p.dw, sh),
                       "conv2d: a size, stride, padding or dilation of 2^30 or more is not supported on CUDA");
    Gemm<S> g = conv2d_gemm<S>(sh, p.b, p.a, p.bias, p.residual, p.c);
    g.act = epi.activation, g.slope = epi.negative_slope;
    run_gemm<S, A, true, true, false>(g, epi.allow_tf32, "conv2d", ctx);
  });
}

void linear(ConstTensorView x, ConstTensorView weight, ConstTensorView bias, TensorView out, const Epilogue& epi,
            const ExecContext& ctx) {
  DeviceGuard guard(x.device().index);
  dispatch(x.dtype(), [&](auto s, auto a) {
    using S = decltype(s);
    using A = decltype(a);
    const i64 N = weight.size(0), K = weight.size(1), M = out.numel() / N;
    Gemm<S> g = plain_gemm<S>(M, N, K, true, static_cast<const S*>(x.data()), static_cast<const S*>(weight.data()),
                              opt<S>(bias), static_cast<S*>(out.data()));
    g.act = epi.activation, g.slope = epi.negative_slope;
    run_gemm<S, A, false, true, true>(g, epi.allow_tf32, "linear", ctx);
  });
}

void matmul(ConstTensorView a_, ConstTensorView b_, TensorView out, const ExecContext& ctx) {
  DeviceGuard guard(a_.device().index);
  dispatch(a_.dtype(), [&](auto s, auto a) {
    using S = decltype(s);
    using A = decltype(a);
    const Gemm<S> g = plain_gemm<S>(a_.size(0), b_.size(1), a_.size(1), false, static_cast<const S*>(a_.data()),
                                    static_cast<const S*>(b_.data()), nullptr, static_cast<S*>(out.data()));
    run_gemm<S, A, false, true, true>(g, false, "gemm", ctx);  // k-fast loads of B rows: 64-byte runs, as linear
  });
}

void conv_transpose2d(ConstTensorView input, ConstTensorView weight, ConstTensorView bias, ConstTensorView residual,
                      TensorView out, const ConvTranspose2dParams& cp, const Epilogue& epi, const ExecContext& ctx) {
  DeviceGuard guard(input.device().index);
  dispatch(input.dtype(), [&](auto s, auto a) {
    using S = decltype(s);
    using A = decltype(a);
    ConvShape sh{};
    FOVEAL_CHECK_VALUE(conv_shape(input, out, weight.size(1) * cp.groups, weight.size(2), weight.size(3), cp.groups,
                                  cp.stride_h, cp.stride_w, cp.pad_h, cp.pad_w, cp.dilation_h, cp.dilation_w, sh),
                       "conv_transpose2d: a size, stride, padding or dilation of 2^30 or more is not supported on "
                       "CUDA");
    Gemm<S> g = transpose_gemm<S>(sh, static_cast<const S*>(input.data()), static_cast<const S*>(weight.data()),
                                  opt<S>(bias), opt<S>(residual), static_cast<S*>(out.data()));
    g.act = epi.activation, g.slope = epi.negative_slope;
    run_gemm<S, A, true, false, false>(g, epi.allow_tf32, "conv_transpose2d", ctx);
  });
}

}  // namespace foveal::cuda
