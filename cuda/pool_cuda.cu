// SPDX-License-Identifier: Apache-2.0
// Pooling on CUDA: one thread per output element (grid-stride), each walking its window in
// row-major order with the shared math (window bounds, NaN-aware max), accumulating in float for
// float16 / bfloat16.
#include <cuda_bf16.h>

#include <cmath>

#include "common.cuh"
#include "foveal/math/pool.hpp"
#include "ops/backend.hpp"

namespace foveal::cuda {

namespace {

using i64 = std::int64_t;
constexpr int kThreads = 256;

struct Dims {
  i64 total, h, w, oh, ow;
};

Dims dims_of(ConstTensorView input, ConstTensorView out) {
  const int nd = input.ndim();
  return {out.numel(), input.size(nd - 2), input.size(nd - 1), out.size(nd - 2), out.size(nd - 1)};
}

template <typename S, typename A>
__global__ void max_pool_kernel(const S* __restrict__ x, S* __restrict__ y, i64* __restrict__ idx, Dims d,
                                Pool2dParams p) {
  for (i64 i = i64(blockIdx.x) * blockDim.x + threadIdx.x; i < d.total; i += i64(gridDim.x) * blockDim.x) {
    const i64 ow = i % d.ow, oh = (i / d.ow) % d.oh, q = i / (d.ow * d.oh);
    const math::TapRange hr = math::max_pool_taps(oh, d.h, p.kernel_h, p.stride_h, p.pad_h, p.dilation_h);
    const math::TapRange wr = math::max_pool_taps(ow, d.w, p.kernel_w, p.stride_w, p.pad_w, p.dilation_w);
    const S* xp = x + q * d.h * d.w;
    A m = A(-INFINITY);
    i64 mi = hr.begin * d.w + wr.begin;
    for (i64 ih = hr.begin; ih < hr.end; ih += p.dilation_h)
      for (i64 iw = wr.begin; iw < wr.end; iw += p.dilation_w) {
        const A v = to_acc(xp[ih * d.w + iw]);
        if (math::max_pool_takes(v, m)) m = v, mi = ih * d.w + iw;
      }
    y[i] = from_acc<S>(m);
    if (idx) idx[i] = mi;
  }
}

template <typename S, typename A>
__global__ void avg_pool_kernel(const S* __restrict__ x, S* __restrict__ y, Dims d, Pool2dParams p,
                                bool count_include_pad, i64 divisor_override) {
  for (i64 i = i64(blockIdx.x) * blockDim.x + threadIdx.x; i < d.total; i += i64(gridDim.x) * blockDim.x) {
    const i64 ow = i % d.ow, oh = (i / d.ow) % d.oh, q = i / (d.ow * d.oh);
    const math::AvgWindow hr = math::avg_pool_window(oh, d.h, p.kernel_h, p.stride_h, p.pad_h);
    const math::AvgWindow wr = math::avg_pool_window(ow, d.w, p.kernel_w, p.stride_w, p.pad_w);
    const S* xp = x + q * d.h * d.w;
    A s = 0;
    for (i64 ih = hr.begin; ih < hr.end; ++ih)
      for (i64 iw = wr.begin; iw < wr.end; ++iw) s += to_acc(xp[ih * d.w + iw]);
    const i64 div = divisor_override ? divisor_override
                    : count_include_pad ? hr.padded * wr.padded
                                        : (hr.end - hr.begin) * (wr.end - wr.begin);
    y[i] = from_acc<S>(s / A(div));
  }
}

template <typename S, typename A>
__global__ void adaptive_max_kernel(const S* __restrict__ x, S* __restrict__ y, i64* __restrict__ idx, Dims d) {
  for (i64 i = i64(blockIdx.x) * blockDim.x + threadIdx.x; i < d.total; i += i64(gridDim.x) * blockDim.x) {
    const i64 ow = i % d.ow, oh = (i / d.ow) % d.oh, q = i / (d.ow * d.oh);
    const i64 h0 = math::adaptive_begin(oh, d.oh, d.h), h1 = math::adaptive_end(oh, d.oh, d.h);
    const i64 w0 = math::adaptive_begin(ow, d.ow, d.w), w1 = math::adaptive_end(ow, d.ow, d.w);
    const S* xp = x + q * d.h * d.w;
    A m = A(-INFINITY);
    i64 mi = h0 * d.w + w0;
    for (i64 ih = h0; ih < h1; ++ih)
      for (i64 iw = w0; iw < w1; ++iw) {
        const A v = to_acc(xp[ih * d.w + iw]);
        if (math::max_pool_takes(v, m)) m = v, mi = ih * d.w + iw;
      }
    y[i] = from_acc<S>(m);
    if (idx) idx[i] = mi;
  }
}

template <typename S, typename A>
__global__ void adaptive_avg_kernel(const S* __restrict__ x, S* __restrict__ y, Dims d) {
  for (i64 i = i64(blockIdx.x) * blockDim.x + threadIdx.x; i < d.total; i += i64(gridDim.x) * blockDim.x) {
    const i64 ow = i % d.ow, oh = (i / d.ow) % d.oh, q = i / (d.ow * d.oh);
    const i64 h0 = math::adaptive_begin(oh, d.oh, d.h), h1 = math::adaptive_end(oh, d.oh, d.h);
    const i64 w0 = math::adaptive_begin(ow, d.ow, d.w), w1 = math::adaptive_end(ow, d.ow, d.w);
    const S* xp = x + q * d.h * d.w;
    A s = 0;
    for (i64 ih = h0; ih < h1; ++ih)
      for (i64 iw = w0; iw < w1; ++iw) s += to_acc(xp[ih * d.w + iw]);
    y[i] = from_acc<S>(s / A(h1 - h0) / A(w1 - w0));  // as torch divides
  }
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
    max_pool_kernel<S, A><<<blocks_for(d.total, kThreads), kThreads, 0, stream_of(ctx)>>>(
        static_cast<const S*>(input.data()), static_cast<S*>(out.data()), static_cast<i64*>(indices.data()), d, p);
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
    avg_pool_kernel<S, A><<<blocks_for(d.total, kThreads), kThreads, 0, stream_of(ctx)>>>(
        static_cast<const S*>(input.data()), static_cast<S*>(out.data()), d, p, count_include_pad, divisor_override);
  });
  FOVEAL_CUDA_CHECK(cudaGetLastError());
}

void adaptive_max_pool2d(ConstTensorView input, TensorView out, TensorView indices, const ExecContext& ctx) {
  DeviceGuard guard(input.device().index);
  const Dims d = dims_of(input, out);
  dispatch(input.dtype(), [&](auto s, auto a) {
    using S = decltype(s);
    using A = decltype(a);
    adaptive_max_kernel<S, A><<<blocks_for(d.total, kThreads), kThreads, 0, stream_of(ctx)>>>(
        static_cast<const S*>(input.data()), static_cast<S*>(out.data()), static_cast<i64*>(indices.data()), d);
  });
  FOVEAL_CUDA_CHECK(cudaGetLastError());
}

void adaptive_avg_pool2d(ConstTensorView input, TensorView out, const ExecContext& ctx) {
  DeviceGuard guard(input.device().index);
  const Dims d = dims_of(input, out);
  dispatch(input.dtype(), [&](auto s, auto a) {
    using S = decltype(s);
    using A = decltype(a);
    adaptive_avg_kernel<S, A><<<blocks_for(d.total, kThreads), kThreads, 0, stream_of(ctx)>>>(
        static_cast<const S*>(input.data()), static_cast<S*>(out.data()), d);
  });
  FOVEAL_CUDA_CHECK(cudaGetLastError());
}

}  // namespace foveal::cuda
