// SPDX-License-Identifier: Apache-2.0
// Pooling on CUDA: one thread per output element, each walking its window in row-major order
// with the shared math (window bounds, NaN-aware max), accumulating in float for float16 /
// bfloat16. Outputs map onto a 3-D grid (x: 32 output columns, y: 8 output rows, z: planes, the
// last two grid-strided) so a thread finds its output without integer divisions: the old flat
// index took three 64-bit divisions per output, which cost more than the loads.
#include <cuda_bf16.h>

#include <cmath>
#include <type_traits>

#include "common.cuh"
#include "foveal/math/pool.hpp"
#include "ops/backend.hpp"

namespace foveal::cuda {

namespace {

using i64 = std::int64_t;
constexpr int kTx = 32, kTy = 8;

struct Dims {
  i64 planes, h, w, oh, ow;
};

Dims dims_of(ConstTensorView input, ConstTensorView out) {
  const int nd = input.ndim();
  const i64 oh = out.size(nd - 2), ow = out.size(nd - 1);
  return {out.numel() / (oh * ow), input.size(nd - 2), input.size(nd - 1), oh, ow};
}

struct Grid {
  dim3 grid, block;
};

Grid grid_of(const Dims& d) {
  const i64 gx = (d.ow + kTx - 1) / kTx, gy = (d.oh + kTy - 1) / kTy;
  return {dim3(static_cast<unsigned>(gx), static_cast<unsigned>(gy < 65535 ? gy : 65535),
               static_cast<unsigned>(d.planes < 65535 ? d.planes : 65535)),
          dim3(kTx, kTy)};
}

// Calls f(q, oh, ow, i) for this thread's outputs: column ow (fixed), rows oh and planes q
// grid-strided; i is the flat output index.
template <typename F>
__device__ __forceinline__ void for_outputs(const Dims& d, F&& f) {
  const i64 ow = i64(blockIdx.x) * kTx + threadIdx.x;
  if (ow >= d.ow) return;
  for (i64 oh = i64(blockIdx.y) * kTy + threadIdx.y; oh < d.oh; oh += i64(gridDim.y) * kTy)
    for (i64 q = blockIdx.z; q < d.planes; q += gridDim.z) f(q, oh, ow, (q * d.oh + oh) * d.ow + ow);
}

// KH, KW > 0: the window size known at compile time; every tap is loaded (predicated) before the
// reduction, so a thread has all its loads in flight at once (the runtime loop waited on each:
// measured on the H200, 28 us for maxpool_resnet, about 1.1 TB/s). The taps, their order and the
// first index are those of the runtime loop: max_pool_taps' [begin, end) in row-major order.
template <typename S, typename A, bool kIdx, int KH, int KW>
__global__ void __launch_bounds__(kTx * kTy) max_pool_kernel(const S* __restrict__ x, S* __restrict__ y,
                                                             i64* __restrict__ idx, Dims d, Pool2dParams p) {
  for_outputs(d, [&](i64 q, i64 oh, i64 ow, i64 i) {
    const math::TapRange hr = math::max_pool_taps(oh, d.h, p.kernel_h, p.stride_h, p.pad_h, p.dilation_h);
    const math::TapRange wr = math::max_pool_taps(ow, d.w, p.kernel_w, p.stride_w, p.pad_w, p.dilation_w);
    const S* xp = x + q * d.h * d.w;
    A m = A(-INFINITY);
    i64 mi = hr.begin * d.w + wr.begin;
    if constexpr (KH > 0) {
      const i64 h0 = oh * p.stride_h - p.pad_h, w0 = ow * p.stride_w - p.pad_w;
      A v[KH][KW];
      bool in[KH][KW];
#pragma unroll
      for (int kh = 0; kh < KH; ++kh) {
        const i64 ih = h0 + kh * p.dilation_h;
#pragma unroll
        for (int kw = 0; kw < KW; ++kw) {
          const i64 iw = w0 + kw * p.dilation_w;
          in[kh][kw] = ih >= hr.begin && ih < hr.end && iw >= wr.begin && iw < wr.end;
          v[kh][kw] = in[kh][kw] ? to_acc(xp[ih * d.w + iw]) : A(-INFINITY);
        }
      }
#pragma unroll
      for (int kh = 0; kh < KH; ++kh) {
        const i64 ih = h0 + kh * p.dilation_h;
#pragma unroll
        for (int kw = 0; kw < KW; ++kw) {
          const i64 iw = w0 + kw * p.dilation_w;
          if (in[kh][kw] && math::max_pool_takes(v[kh][kw], m)) {
            m = v[kh][kw];
            if constexpr (kIdx) mi = ih * d.w + iw;
          }
        }
      }
    } else {
      for (i64 ih = hr.begin; ih < hr.end; ih += p.dilation_h)
        for (i64 iw = wr.begin; iw < wr.end; iw += p.dilation_w) {
          const A v = to_acc(xp[ih * d.w + iw]);
          if (math::max_pool_takes(v, m)) {
            m = v;
            if constexpr (kIdx) mi = ih * d.w + iw;
          }
        }
    }
    y[i] = from_acc<S>(m);
    if constexpr (kIdx) idx[i] = mi;
  });
}

// KH, KW > 0: as for max pooling, all taps loaded before the sum, which adds the taps inside
// avg_pool_window's [begin, end) in row-major order from 0, as the runtime loop does.
template <typename S, typename A, int KH, int KW>
__global__ void __launch_bounds__(kTx * kTy) avg_pool_kernel(const S* __restrict__ x, S* __restrict__ y, Dims d,
                                                             Pool2dParams p, bool count_include_pad,
                                                             i64 divisor_override) {
  for_outputs(d, [&](i64 q, i64 oh, i64 ow, i64 i) {
    const math::AvgWindow hr = math::avg_pool_window(oh, d.h, p.kernel_h, p.stride_h, p.pad_h);
    const math::AvgWindow wr = math::avg_pool_window(ow, d.w, p.kernel_w, p.stride_w, p.pad_w);
    const S* xp = x + q * d.h * d.w;
    A s = 0;
    if constexpr (KH > 0) {
      const i64 h0 = oh * p.stride_h - p.pad_h, w0 = ow * p.stride_w - p.pad_w;
      A v[KH][KW];
#pragma unroll
      for (int kh = 0; kh < KH; ++kh)
#pragma unroll
        for (int kw = 0; kw < KW; ++kw) {
          const i64 ih = h0 + kh, iw = w0 + kw;
          const bool in = ih >= hr.begin && ih < hr.end && iw >= wr.begin && iw < wr.end;
          v[kh][kw] = in ? to_acc(xp[ih * d.w + iw]) : A(0);
        }
#pragma unroll
      for (int kh = 0; kh < KH; ++kh)
#pragma unroll
        for (int kw = 0; kw < KW; ++kw) {
          const i64 ih = h0 + kh, iw = w0 + kw;
          if (ih >= hr.begin && ih < hr.end && iw >= wr.begin && iw < wr.end) s += v[kh][kw];
        }
    } else {
      for (i64 ih = hr.begin; ih < hr.end; ++ih)
        for (i64 iw = wr.begin; iw < wr.end; ++iw) s += to_acc(xp[ih * d.w + iw]);
    }
    const i64 div = divisor_override ? divisor_override
                    : count_include_pad ? hr.padded * wr.padded
                                        : (hr.end - hr.begin) * (wr.end - wr.begin);
    y[i] = from_acc<S>(s / A(div));
  });
}

template <typename S, typename A, bool kIdx>
__global__ void __launch_bounds__(kTx * kTy) adaptive_max_kernel(const S* __restrict__ x, S* __restrict__ y,
                                                                 i64* __restrict__ idx, Dims d) {
  for_outputs(d, [&](i64 q, i64 oh, i64 ow, i64 i) {
    const i64 h0 = math::adaptive_begin(oh, d.oh, d.h), h1 = math::adaptive_end(oh, d.oh, d.h);
    const i64 w0 = math::adaptive_begin(ow, d.ow, d.w), w1 = math::adaptive_end(ow, d.ow, d.w);
    const S* xp = x + q * d.h * d.w;
    A m = A(-INFINITY);
    i64 mi = h0 * d.w + w0;
    for (i64 ih = h0; ih < h1; ++ih)
      for (i64 iw = w0; iw < w1; ++iw) {
        const A v = to_acc(xp[ih * d.w + iw]);
        if (math::max_pool_takes(v, m)) {
          m = v;
          if constexpr (kIdx) mi = ih * d.w + iw;
        }
      }
    y[i] = from_acc<S>(m);
    if constexpr (kIdx) idx[i] = mi;
  });
}

template <typename S, typename A>
__global__ void __launch_bounds__(kTx * kTy) adaptive_avg_kernel(const S* __restrict__ x, S* __restrict__ y, Dims d) {
  for_outputs(d, [&](i64 q, i64 oh, i64 ow, i64 i) {
    const i64 h0 = math::adaptive_begin(oh, d.oh, d.h), h1 = math::adaptive_end(oh, d.oh, d.h);
    const i64 w0 = math::adaptive_begin(ow, d.ow, d.w), w1 = math::adaptive_end(ow, d.ow, d.w);
    const S* xp = x + q * d.h * d.w;
    A s = 0;
    for (i64 ih = h0; ih < h1; ++ih)
      for (i64 iw = w0; iw < w1; ++iw) s += to_acc(xp[ih * d.w + iw]);
    y[i] = from_acc<S>(s / A(h1 - h0) / A(w1 - w0));  // as torch divides
  });
}

/// Calls f(S{}, A{}) with the device storage and accumulation types of `t`.
template <typename F>
void dispatch(DType t, F&& f) {
  switch (t) {
    case DType::Float16: return f(__half{}, float{});
    case DType::BFloat16: return f(__nv_bfloat16{}, float{});
    case DType::Float32: return f(float{}, float{});
    default: return f(double{}, double{});
  }
}

}  // namespace

void max_pool2d(ConstTensorView input, TensorView out, TensorView indices, const Pool2dParams& p,
                const ExecContext& ctx) {
  DeviceGuard guard(input.device().index);
  const Dims d = dims_of(input, out);
  dispatch(input.dtype(), [&](auto s, auto a) {
    using S = decltype(s);
    using A = decltype(a);
    const Grid g = grid_of(d);
    const auto* x = static_cast<const S*>(input.data());
    auto* y = static_cast<S*>(out.data());
    auto* idx = static_cast<i64*>(indices.data());
    const cudaStream_t st = stream_of(ctx);
    const auto go = [&](auto kh, auto kw) {
      if (idx) max_pool_kernel<S, A, true, decltype(kh)::value, decltype(kw)::value><<<g.grid, g.block, 0, st>>>(x, y, idx, d, p);
      else max_pool_kernel<S, A, false, decltype(kh)::value, decltype(kw)::value><<<g.grid, g.block, 0, st>>>(x, y, idx, d, p);
    };
    using C2 = std::integral_constant<int, 2>;
    using C3 = std::integral_constant<int, 3>;
    using C0 = std::integral_constant<int, 0>;
    if (p.kernel_h == 3 && p.kernel_w == 3) go(C3{}, C3{});
    else if (p.kernel_h == 2 && p.kernel_w == 2) go(C2{}, C2{});
    else go(C0{}, C0{});
  });
  FOVEAL_CUDA_CHECK(cudaGetLastError());
}

void avg_pool2d(ConstTensorView input, TensorView out, const Pool2dParams& p, bool count_include_pad,
                std::int64_t divisor_override, const ExecContext& ctx) {
  DeviceGuard guard(input.device().index);
  const Dims d = dims_of(input, out);
  dispatch(input.dtype(), [&](auto s, auto a) {
    using S = decltype(s);
    using A = decltype(a);
    const Grid g = grid_of(d);
    const auto* x = static_cast<const S*>(input.data());
    auto* y = static_cast<S*>(out.data());
    const cudaStream_t st = stream_of(ctx);
    if (p.kernel_h == 3 && p.kernel_w == 3)
      avg_pool_kernel<S, A, 3, 3><<<g.grid, g.block, 0, st>>>(x, y, d, p, count_include_pad, divisor_override);
    else if (p.kernel_h == 2 && p.kernel_w == 2)
      avg_pool_kernel<S, A, 2, 2><<<g.grid, g.block, 0, st>>>(x, y, d, p, count_include_pad, divisor_override);
    else
      avg_pool_kernel<S, A, 0, 0><<<g.grid, g.block, 0, st>>>(x, y, d, p, count_include_pad, divisor_override);
  });
  FOVEAL_CUDA_CHECK(cudaGetLastError());
}

void adaptive_max_pool2d(ConstTensorView input, TensorView out, TensorView indices, const ExecContext& ctx) {
  DeviceGuard guard(input.device().index);
  const Dims d = dims_of(input, out);
  dispatch(input.dtype(), [&](auto s, auto a) {
    using S = decltype(s);
    using A = decltype(a);
    const Grid g = grid_of(d);
    const auto* x = static_cast<const S*>(input.data());
    auto* idx = static_cast<i64*>(indices.data());
    if (idx)
      adaptive_max_kernel<S, A, true><<<g.grid, g.block, 0, stream_of(ctx)>>>(x, static_cast<S*>(out.data()), idx, d);
    else
      adaptive_max_kernel<S, A, false><<<g.grid, g.block, 0, stream_of(ctx)>>>(x, static_cast<S*>(out.data()), idx, d);
  });
  FOVEAL_CUDA_CHECK(cudaGetLastError());
}

void adaptive_avg_pool2d(ConstTensorView input, TensorView out, const ExecContext& ctx) {
  DeviceGuard guard(input.device().index);
  const Dims d = dims_of(input, out);
  dispatch(input.dtype(), [&](auto s, auto a) {
    using S = decltype(s);
    using A = decltype(a);
    const Grid g = grid_of(d);
    adaptive_avg_kernel<S, A><<<g.grid, g.block, 0, stream_of(ctx)>>>(
        static_cast<const S*>(input.data()), static_cast<S*>(out.data()), d);
  });
  FOVEAL_CUDA_CHECK(cudaGetLastError());
}

}  // namespace foveal::cuda
