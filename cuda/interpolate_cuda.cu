// SPDX-License-Identifier: Apache-2.0
// interpolate on CUDA: one thread per output element (3-D grid), the source index rules of
// math/interpolate.hpp; float16 / bfloat16 computed in float. Nearest with both sizes doubled
// (nearest_source's out == 2 in case, source dst >> 1) has a copy kernel instead: one thread
// reads 16 bytes of an input row and writes the 2 x 2 replicas with 16-byte stores (32-bit index
// math, no divisions per output).
#include <cuda_bf16.h>

#include "common.cuh"
#include "foveal/math/interpolate.hpp"
#include "ops/backend.hpp"

namespace foveal::cuda {

namespace {

using i64 = std::int64_t;

// Output (plane, oy, ox) from a 3-D grid: x 32 output columns, y 8 output rows, z planes (rows and
// planes grid-strided): no integer divisions per output.
template <typename S, typename A>
__global__ void __launch_bounds__(256) interpolate_kernel(const S* __restrict__ x, S* __restrict__ y, i64 planes,
                                                          i64 H, i64 W, i64 OH, i64 OW, int mode, bool align_corners,
                                                          double scale_h, double scale_w) {
  const i64 ox = i64(blockIdx.x) * 32 + threadIdx.x;
  if (ox >= OW) return;
  for (i64 oy = i64(blockIdx.y) * 8 + threadIdx.y; oy < OH; oy += i64(gridDim.y) * 8)
    for (i64 pl = blockIdx.z; pl < planes; pl += gridDim.z) {
      const i64 i = (pl * OH + oy) * OW + ox;
      const S* src = x + pl * H * W;
      if (mode == 0) {
        const i64 sy = math::nearest_source(oy, H, OH, math::interp_scale<float>(H, OH, scale_h));
        const i64 sx = math::nearest_source(ox, W, OW, math::interp_scale<float>(W, OW, scale_w));
        y[i] = src[sy * W + sx];
      } else {
        const auto ty = math::linear_taps<A>(oy, H, math::linear_scale<A>(H, OH, align_corners, scale_h), align_corners);
        const auto tx = math::linear_taps<A>(ox, W, math::linear_scale<A>(W, OW, align_corners, scale_w), align_corners);
        const A top = (A(1) - tx.w_hi) * to_acc(src[ty.lo * W + tx.lo]) + tx.w_hi * to_acc(src[ty.lo * W + tx.hi]);
        const A bot = (A(1) - tx.w_hi) * to_acc(src[ty.hi * W + tx.lo]) + tx.w_hi * to_acc(src[ty.hi * W + tx.hi]);
        y[i] = from_acc<S>((A(1) - ty.w_hi) * top + ty.w_hi * bot);
      }
    }
}

/// Nearest 2x as a copy of raw element bits U. Thread t takes the V = 16 / sizeof(U) input elements
/// starting at flat input index t V (W % V == 0, so they lie in one row r = plane H + iy of the
/// input viewed as (planes H, W)); they land in output rows 2r and 2r + 1 (OH = 2H), columns
/// 2 ix .. 2 ix + 2V - 1, written as two 16-byte stores per row. I: the index type.
template <typename U, typename I>
__global__ void nearest2x_vec_kernel(const uint4* __restrict__ x, uint4* __restrict__ y, I n_vec, I w_vec) {
  constexpr int V = 16 / sizeof(U);
  union Pack {
    uint4 v;
    U e[V];
  };
  for (I t = I(blockIdx.x) * blockDim.x + threadIdx.x; t < n_vec; t += I(gridDim.x) * blockDim.x) {
    const I r = t / w_vec, c = t - r * w_vec;  // input row, 16-byte column within the row
    Pack in, lo, hi;
    in.v = __ldg(x + t);
#pragma unroll
    for (int j = 0; j < V / 2; ++j) {
      lo.e[2 * j] = lo.e[2 * j + 1] = in.e[j];
      hi.e[2 * j] = hi.e[2 * j + 1] = in.e[V / 2 + j];
    }
    // The output row 2r holds 2 w_vec 16-byte words; our two are at 2c and 2c + 1.
    uint4* top = y + (2 * r) * (2 * w_vec) + 2 * c;
    uint4* bot = top + 2 * w_vec;
    top[0] = lo.v, top[1] = hi.v, bot[0] = lo.v, bot[1] = hi.v;
  }
}

/// Nearest 2x for any width: one thread per input element, four scalar stores.
template <typename U, typename I>
__global__ void nearest2x_kernel(const U* __restrict__ x, U* __restrict__ y, I n, I W) {
  for (I t = I(blockIdx.x) * blockDim.x + threadIdx.x; t < n; t += I(gridDim.x) * blockDim.x) {
    const I r = t / W, c = t - r * W;
    const U v = x[t];
    U* top = y + (2 * r) * (2 * W) + 2 * c;
    top[0] = v, top[1] = v, top[2 * W] = v, top[2 * W + 1] = v;
  }
}

template <typename U, typename I>
void launch_nearest2x(const void* x, void* y, i64 n, i64 W, cudaStream_t st) {
  constexpr int V = 16 / sizeof(U);
  const bool aligned = reinterpret_cast<std::uintptr_t>(x) % 16 == 0 && reinterpret_cast<std::uintptr_t>(y) % 16 == 0;
  if (aligned && W % V == 0) {
    nearest2x_vec_kernel<U, I><<<blocks_for(n / V, 256), 256, 0, st>>>(static_cast<const uint4*>(x),
                                                                        static_cast<uint4*>(y), I(n / V), I(W / V));
  } else {
    nearest2x_kernel<U, I><<<blocks_for(n, 256), 256, 0, st>>>(static_cast<const U*>(x), static_cast<U*>(y), I(n), I(W));
  }
}

template <typename U>
void nearest2x(ConstTensorView input, TensorView out, cudaStream_t st) {
  const i64 n = input.numel(), W = input.size(3);
  // 32-bit indices while every output offset fits (the output has 4 n elements).
  if (4 * n < (i64(1) << 31)) return launch_nearest2x<U, std::uint32_t>(input.data(), out.data(), n, W, st);
  launch_nearest2x<U, i64>(input.data(), out.data(), n, W, st);
}

}  // namespace

void interpolate(ConstTensorView input, TensorView out, const InterpolateParams& p, const ExecContext& ctx) {
  DeviceGuard guard(input.device().index);
  const i64 total = out.numel();
  if (p.mode == InterpolateMode::Nearest && out.size(2) == 2 * input.size(2) && out.size(3) == 2 * input.size(3)) {
    switch (input.dtype()) {
      case DType::Float16: case DType::BFloat16: nearest2x<std::uint16_t>(input, out, stream_of(ctx)); break;
      case DType::Float32: nearest2x<std::uint32_t>(input, out, stream_of(ctx)); break;
      default: nearest2x<std::uint64_t>(input, out, stream_of(ctx)); break;
    }
    FOVEAL_CUDA_CHECK(cudaGetLastError());
    return;
  }
  const i64 H = input.size(2), W = input.size(3), OH = out.size(2), OW = out.size(3), planes = total / (OH * OW);
  const i64 gy = (OH + 7) / 8;
  const dim3 grid(static_cast<unsigned>((OW + 31) / 32), static_cast<unsigned>(gy < 65535 ? gy : 65535),
                  static_cast<unsigned>(planes < 65535 ? planes : 65535));
  const int mode = static_cast<int>(p.mode);
  auto go = [&](auto s, auto a) {
    using S = decltype(s);
    using A = decltype(a);
    interpolate_kernel<S, A><<<grid, dim3(32, 8), 0, stream_of(ctx)>>>(
        static_cast<const S*>(input.data()), static_cast<S*>(out.data()), planes, H, W, OH, OW, mode, p.align_corners,
        p.scale_h, p.scale_w);
  };
  switch (input.dtype()) {
    case DType::Float16: go(__half{}, float{}); break;
    case DType::BFloat16: go(__nv_bfloat16{}, float{}); break;
    case DType::Float32: go(float{}, float{}); break;
    default: go(double{}, double{}); break;
  }
  FOVEAL_CUDA_CHECK(cudaGetLastError());
}

}  // namespace foveal::cuda
