// SPDX-License-Identifier: Apache-2.0
// conv2d, linear and matmul on CUDA: one tiled shared-memory SIMT GEMM (64 x 64 output tile per
// block, 16 deep, 4 x 4 outputs per thread) with the fused epilogue. conv2d is an implicit GEMM:
// the B tile is gathered from the input through the im2col index map (never formed), one grid
// layer (blockIdx.z) per (image, group) product. float32 runs in exact float32 multiply-adds (no
// TF32 tensor cores); float16 / bfloat16 load into float and accumulate in float; float64 in
// double. Depthwise conv2d (one input channel per group) has its own kernel instead: the GEMM
// would have M = 1 row per product (63 of its 64 rows idle). Not yet run on a GPU (written and
// compiled without one).
#include <cuda_bf16.h>

#include <algorithm>
#include <cmath>

#include "common.cuh"
#include "foveal/math/conv.hpp"
#include "ops/backend.hpp"

namespace foveal::cuda {

namespace {

using i64 = std::int64_t;
constexpr int kBM = 64, kBN = 64, kBK = 16, kThreads = 256;

enum class BMode : int { Matrix = 0, Transposed = 1, Im2col = 2 };

/// One batched product C[z] (M, N) = A[z] (M, K) B[z] (K, N) and its epilogue.
template <typename S>
struct Problem {
  i64 M, N, K, Z;
  const S* a;
  i64 lda, a_z;  // A row stride; A offset per product (conv: per group)
  const S* b;
  i64 ldb;  // Matrix: B row stride; Transposed: B(k, n) = b[n * ldb + k]
  S* c;
  i64 ldc;
  const S* bias;
  bool bias_per_row;
  const S* residual;  // C's layout
  math::Activation act;
  double slope;
  // Im2col: product z = image * G + group; B(k, n) from the group's input channels.
  i64 G, cin_g, cout_g, C_in, H, W, KH, KW, sh, sw, pt, pl, dh, dw, OW;
};

__device__ __forceinline__ float madd(float a, float b, float c) { return fmaf(a, b, c); }
__device__ __forceinline__ double madd(double a, double b, double c) { return fma(a, b, c); }

template <typename S, typename A, BMode Mode>
__device__ __forceinline__ A load_b(const Problem<S>& p, const S* b, i64 k, i64 n) {
  if (k >= p.K || n >= p.N) return A(0);
  if constexpr (Mode == BMode::Matrix) {
    return to_acc(b[k * p.ldb + n]);
  } else if constexpr (Mode == BMode::Transposed) {
    return to_acc(b[n * p.ldb + k]);
  } else {
    const i64 taps = p.KH * p.KW, c = k / taps, r = k - c * taps, kh = r / p.KW, kw = r - kh * p.KW;
    const i64 oh = n / p.OW, ow = n - oh * p.OW;
    const i64 ih = oh * p.sh - p.pt + kh * p.dh, iw = ow * p.sw - p.pl + kw * p.dw;
    if (ih < 0 || ih >= p.H || iw < 0 || iw >= p.W) return A(0);
    return to_acc(b[(c * p.H + ih) * p.W + iw]);
  }
}

template <typename S, typename A, BMode Mode>
__global__ void __launch_bounds__(kThreads) gemm_kernel(Problem<S> p) {
  __shared__ A as[kBK][kBM];
  __shared__ A bs[kBK][kBN];
  const int tid = threadIdx.x, tx = tid % 16, ty = tid / 16;
  const i64 n0 = i64(blockIdx.x) * kBN;
  const i64 mtiles = (p.M + kBM - 1) / kBM;
  // Grid-stride over products and row tiles (gridDim.y and .z are capped at 65535); every
  // thread of a block takes the same trips, so the barriers inside stay uniform.
  for (i64 zm = blockIdx.z * i64(gridDim.y) + blockIdx.y; zm < p.Z * mtiles; zm += i64(gridDim.z) * gridDim.y) {
    const i64 z = zm / mtiles, m0 = (zm - z * mtiles) * kBM;
    const S* a = p.a;
    const S* b = p.b;
    S* c = p.c;
    const S* res = p.residual;
    const S* bias = p.bias;
    if constexpr (Mode == BMode::Im2col) {
      const i64 img = z / p.G, g = z - img * p.G;
      a += g * p.a_z;
      b += (img * p.C_in + g * p.cin_g) * p.H * p.W;
      const i64 co = (img * p.G + g) * p.cout_g;
      c += co * p.ldc;
      if (res) res += co * p.ldc;
      if (bias) bias += g * p.cout_g;
    }
    // Every loop over acc's indices is unrolled: a run-time index puts acc in local memory.
    A acc[4][4];
#pragma unroll
    for (int i = 0; i < 4; ++i)
#pragma unroll
      for (int j = 0; j < 4; ++j) acc[i][j] = A(0);
    for (i64 k0 = 0; k0 < p.K; k0 += kBK) {
      for (int t = tid; t < kBM * kBK; t += kThreads) {
        const int i = t / kBK, kk = t % kBK;
        const i64 gi = m0 + i, gk = k0 + kk;
        as[kk][i] = gi < p.M && gk < p.K ? A(to_acc(a[gi * p.lda + gk])) : A(0);
      }
      for (int t = tid; t < kBK * kBN; t += kThreads) {
        const int kk = t / kBN, j = t % kBN;  // consecutive threads, consecutive columns
        bs[kk][j] = load_b<S, A, Mode>(p, b, k0 + kk, n0 + j);
      }
      __syncthreads();
#pragma unroll
      for (int kk = 0; kk < kBK; ++kk) {
        A ar[4], br[4];
#pragma unroll
        for (int i = 0; i < 4; ++i) ar[i] = as[kk][ty * 4 + i];
#pragma unroll
        for (int j = 0; j < 4; ++j) br[j] = bs[kk][tx + 16 * j];
#pragma unroll
        for (int i = 0; i < 4; ++i)
#pragma unroll
          for (int j = 0; j < 4; ++j) acc[i][j] = madd(ar[i], br[j], acc[i][j]);
      }
      __syncthreads();
    }
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      const i64 gi = m0 + ty * 4 + i;
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        const i64 gj = n0 + tx + 16 * j;  // columns interleaved: coalesced stores
        if (gi >= p.M || gj >= p.N) continue;
        A v = acc[i][j];
        if (bias) v += to_acc(bias[p.bias_per_row ? gi : gj]);
        if (res) v += to_acc(res[gi * p.ldc + gj]);
        c[gi * p.ldc + gj] = from_acc<S>(math::activate(p.act, v, A(p.slope)));
      }
    }
  }
}

template <typename F>
void dispatch(DType t, F&& f) {
  switch (t) {
    case DType::Float16: return f(__half{}, float{});
    case DType::BFloat16: return f(__nv_bfloat16{}, float{});
    case DType::Float32: return f(float{}, float{});
    default: return f(double{}, double{});
  }
}

template <typename S, typename A, BMode Mode>
void launch(const Problem<S>& p, const ExecContext& ctx) {
  const i64 mtiles = (p.M + kBM - 1) / kBM;
  const i64 gy = mtiles < 65535 ? mtiles : 65535, zt = (p.Z * mtiles + gy - 1) / gy;
  const dim3 grid(static_cast<unsigned>((p.N + kBN - 1) / kBN), static_cast<unsigned>(gy),
                  static_cast<unsigned>(zt < 65535 ? zt : 65535));
  gemm_kernel<S, A, Mode><<<grid, kThreads, 0, stream_of(ctx)>>>(p);
  FOVEAL_CUDA_CHECK(cudaGetLastError());
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
    launch<S, A, BMode::Im2col>(p, ctx);
  });
}

void linear(ConstTensorView x, ConstTensorView weight, ConstTensorView bias, TensorView out, const Epilogue& epi,
            const ExecContext& ctx) {
  DeviceGuard guard(x.device().index);
  dispatch(x.dtype(), [&](auto s, auto a) {
    using S = decltype(s);
    using A = decltype(a);
    Problem<S> p = base_problem<S>(epi);
    p.N = weight.size(0), p.K = weight.size(1), p.M = out.numel() / p.N;
    p.a = static_cast<const S*>(x.data()), p.lda = p.K;
    p.b = static_cast<const S*>(weight.data()), p.ldb = p.K;
    p.c = static_cast<S*>(out.data()), p.ldc = p.N;
    p.bias = opt<S>(bias), p.bias_per_row = false;
    launch<S, A, BMode::Transposed>(p, ctx);
  });
}

void matmul(ConstTensorView a_, ConstTensorView b_, TensorView out, const ExecContext& ctx) {
  DeviceGuard guard(a_.device().index);
  dispatch(a_.dtype(), [&](auto s, auto a) {
    using S = decltype(s);
    using A = decltype(a);
    Problem<S> p = base_problem<S>(Epilogue{});
    p.M = a_.size(0), p.K = a_.size(1), p.N = b_.size(1);
    p.a = static_cast<const S*>(a_.data()), p.lda = p.K;
    p.b = static_cast<const S*>(b_.data()), p.ldb = p.N;
    p.c = static_cast<S*>(out.data()), p.ldc = p.N;
    launch<S, A, BMode::Matrix>(p, ctx);
  });
}

namespace {

/// conv_transpose2d as a gather: one thread per output element sums, over its group's input
/// channels, the taps whose input pixel lands on it ((oy + pad - kh dilation) divisible by stride).
template <typename S, typename A>
struct TransposeProblem {
  const S* x;
  const S* w;
  const S* bias;
  const S* residual;
  S* out;
  i64 total, C_out, cin_g, cout_g, H, W, KH, KW, OH, OW, sh, sw, ph, pw, dh, dw;
  math::Activation act;
  double slope;
};

template <typename S, typename A>
__global__ void conv_transpose2d_kernel(TransposeProblem<S, A> p) {
  for (i64 i = blockIdx.x * i64(blockDim.x) + threadIdx.x; i < p.total; i += i64(gridDim.x) * blockDim.x) {
    const i64 ox = i % p.OW, oy = (i / p.OW) % p.OH, co = (i / (p.OW * p.OH)) % p.C_out, n = i / (p.OW * p.OH * p.C_out);
    const i64 g = co / p.cout_g, cg = co - g * p.cout_g;
    A acc = A(0);
    for (i64 kh = 0; kh < p.KH; ++kh) {
      const i64 ty = oy + p.ph - kh * p.dh;
      if (ty < 0 || ty % p.sh != 0) continue;
      const i64 iy = ty / p.sh;
      if (iy >= p.H) continue;
      for (i64 kw = 0; kw < p.KW; ++kw) {
        const i64 tx = ox + p.pw - kw * p.dw;
        if (tx < 0 || tx % p.sw != 0) continue;
        const i64 ix = tx / p.sw;
        if (ix >= p.W) continue;
        for (i64 c = 0; c < p.cin_g; ++c) {
          const i64 ci = g * p.cin_g + c;
          const A xv = to_acc(p.x[((n * p.cin_g * (p.C_out / p.cout_g) + ci) * p.H + iy) * p.W + ix]);
          const A wv = to_acc(p.w[((ci * p.cout_g + cg) * p.KH + kh) * p.KW + kw]);
          acc = madd(xv, wv, acc);
        }
      }
    }
    if (p.bias) acc += to_acc(p.bias[co]);
    if (p.residual) acc += to_acc(p.residual[i]);
    p.out[i] = from_acc<S>(math::activate(p.act, acc, A(p.slope)));
  }
}

}  // namespace

void conv_transpose2d(ConstTensorView input, ConstTensorView weight, ConstTensorView bias, ConstTensorView residual,
                      TensorView out, const ConvTranspose2dParams& cp, const Epilogue& epi, const ExecContext& ctx) {
  DeviceGuard guard(input.device().index);
  const int nd = input.ndim();
  dispatch(input.dtype(), [&](auto s, auto a) {
    using S = decltype(s);
    using A = decltype(a);
    TransposeProblem<S, A> p{};
    p.x = static_cast<const S*>(input.data()), p.w = static_cast<const S*>(weight.data());
    p.bias = opt<S>(bias), p.residual = opt<S>(residual), p.out = static_cast<S*>(out.data());
    p.total = out.numel();
    p.cin_g = input.size(nd - 3) / cp.groups, p.cout_g = weight.size(1), p.C_out = p.cout_g * cp.groups;
    p.H = input.size(nd - 2), p.W = input.size(nd - 1), p.KH = weight.size(2), p.KW = weight.size(3);
    p.OH = out.size(nd - 2), p.OW = out.size(nd - 1);
    p.sh = cp.stride_h, p.sw = cp.stride_w, p.ph = cp.pad_h, p.pw = cp.pad_w, p.dh = cp.dilation_h, p.dw = cp.dilation_w;
    p.act = epi.activation, p.slope = epi.negative_slope;
    const i64 blocks = (p.total + 255) / 256;
    conv_transpose2d_kernel<S, A><<<static_cast<unsigned>(blocks < 65535 ? blocks : 65535), 256, 0, stream_of(ctx)>>>(p);
    FOVEAL_CUDA_CHECK(cudaGetLastError());
  });
}

}  // namespace foveal::cuda
