// SPDX-License-Identifier: Apache-2.0
// Element-wise nn ops on CUDA: grid-stride kernels from math/elementwise.hpp; softmax one thread
// per (outer, inner) line along dim (three passes: max, sum, scale). float16 / bfloat16 computed
// in float. Not yet run on a GPU (written and compiled without one).
#include <cuda_bf16.h>

#include "common.cuh"
#include "foveal/math/elementwise.hpp"
#include "ops/backend.hpp"

namespace foveal::cuda {

namespace {

using i64 = std::int64_t;

template <typename F>
void dispatch(DType t, F&& f) {
  switch (t) {
    case DType::Float16: return f(__half{}, float{});
    case DType::BFloat16: return f(__nv_bfloat16{}, float{});
    case DType::Float32: return f(float{}, float{});
    default: return f(double{}, double{});
  }
}

unsigned grid_for(i64 n) {
  const i64 b = (n + 255) / 256;
  return static_cast<unsigned>(b < 65535 ? (b > 0 ? b : 1) : 65535);
}

#define FOVEAL_GRID_LOOP(i, n) \
  for (i64 i = blockIdx.x * i64(blockDim.x) + threadIdx.x; i < (n); i += i64(gridDim.x) * blockDim.x)

template <typename S, typename A>
__global__ void batch_norm_kernel(const S* x, const S* mean, const S* var, const S* w, const S* b, S* y, i64 n,
                                  i64 C, i64 inner, double eps) {
  FOVEAL_GRID_LOOP(i, n) {
    const i64 c = (i / inner) % C;
    const A s = math::bn_scale<A>(to_acc(var[c]), w ? A(to_acc(w[c])) : A(1), eps);
    const A t = math::bn_shift<A>(to_acc(mean[c]), b ? A(to_acc(b[c])) : A(0), s);
    y[i] = from_acc<S>(A(to_acc(x[i])) * s + t);
  }
}

template <typename S, typename A>
__global__ void fold_kernel(const S* cw, const S* cb, const S* mean, const S* var, const S* bw, const S* bb, S* ow,
                            S* ob, i64 n, i64 per, double eps) {
  FOVEAL_GRID_LOOP(i, n) {
    const i64 c = i / per;
    const A s = math::bn_scale<A>(to_acc(var[c]), to_acc(bw[c]), eps);
    ow[i] = from_acc<S>(A(to_acc(cw[i])) * s);
    if (i % per == 0) ob[c] = from_acc<S>(((cb ? A(to_acc(cb[c])) : A(0)) - A(to_acc(mean[c]))) * s + A(to_acc(bb[c])));
  }
}

template <typename S, typename A>
__global__ void unary_kernel(int op, const S* x, S* y, i64 n) {
  FOVEAL_GRID_LOOP(i, n) {
    const A v = to_acc(x[i]);
    y[i] = from_acc<S>(op == 0 ? math::relu(v) : math::sigmoid(v));
  }
}

template <typename S, typename A>
__global__ void add_kernel(const S* a, const S* b, S* y, i64 n) {
  FOVEAL_GRID_LOOP(i, n) { y[i] = from_acc<S>(A(to_acc(a[i])) + A(to_acc(b[i]))); }
}

template <typename S, typename A>
__global__ void softmax_kernel(const S* x, S* y, i64 lines, i64 L, i64 inner) {
  FOVEAL_GRID_LOOP(t, lines) {
    const i64 o = t / inner, in = t - o * inner;
    const S* xl = x + o * L * inner + in;
    S* yl = y + o * L * inner + in;
    A mx = -INFINITY;
    for (i64 l = 0; l < L; ++l) {
      const A v = to_acc(xl[l * inner]);
      mx = (v != v || v > mx) ? v : mx;
    }
    A sum = 0;
    for (i64 l = 0; l < L; ++l) sum += ::exp(A(to_acc(xl[l * inner])) - mx);
    const A inv = A(1) / sum;
    for (i64 l = 0; l < L; ++l) yl[l * inner] = from_acc<S>(::exp(A(to_acc(xl[l * inner])) - mx) * inv);
  }
}

template <typename S>
const S* opt(ConstTensorView v) {
  return v.data() ? static_cast<const S*>(v.data()) : nullptr;
}

}  // namespace

void batch_norm(ConstTensorView input, ConstTensorView running_mean, ConstTensorView running_var,
                ConstTensorView weight, ConstTensorView bias, TensorView out, double eps, const ExecContext& ctx) {
  DeviceGuard guard(input.device().index);
  const i64 n = out.numel(), C = input.size(1), inner = n / (input.size(0) * C);
  dispatch(input.dtype(), [&](auto s, auto a) {
    using S = decltype(s);
    using A = decltype(a);
    batch_norm_kernel<S, A><<<grid_for(n), 256, 0, stream_of(ctx)>>>(
        static_cast<const S*>(input.data()), opt<S>(running_mean), opt<S>(running_var), opt<S>(weight), opt<S>(bias),
        static_cast<S*>(out.data()), n, C, inner, eps);
  });
  FOVEAL_CUDA_CHECK(cudaGetLastError());
}

void fold_batch_norm(ConstTensorView conv_weight, ConstTensorView conv_bias, ConstTensorView running_mean,
                     ConstTensorView running_var, ConstTensorView bn_weight, ConstTensorView bn_bias,
                     TensorView out_weight, TensorView out_bias, double eps, const ExecContext& ctx) {
  DeviceGuard guard(conv_weight.device().index);
  const i64 n = conv_weight.numel(), per = n / conv_weight.size(0);
  dispatch(conv_weight.dtype(), [&](auto s, auto a) {
    using S = decltype(s);
    using A = decltype(a);
    fold_kernel<S, A><<<grid_for(n), 256, 0, stream_of(ctx)>>>(
        static_cast<const S*>(conv_weight.data()), opt<S>(conv_bias), opt<S>(running_mean), opt<S>(running_var),
        opt<S>(bn_weight), opt<S>(bn_bias), static_cast<S*>(out_weight.data()), static_cast<S*>(out_bias.data()), n,
        per, eps);
  });
  FOVEAL_CUDA_CHECK(cudaGetLastError());
}

void unary(UnaryOp op, ConstTensorView input, TensorView out, const ExecContext& ctx) {
  DeviceGuard guard(input.device().index);
  const i64 n = out.numel();
  dispatch(input.dtype(), [&](auto s, auto a) {
    using S = decltype(s);
    using A = decltype(a);
    unary_kernel<S, A><<<grid_for(n), 256, 0, stream_of(ctx)>>>(static_cast<int>(op),
                                                                 static_cast<const S*>(input.data()),
                                                                 static_cast<S*>(out.data()), n);
  });
  FOVEAL_CUDA_CHECK(cudaGetLastError());
}

void softmax(ConstTensorView input, int dim, TensorView out, const ExecContext& ctx) {
  DeviceGuard guard(input.device().index);
  i64 inner = 1;
  for (int i = dim + 1; i < input.ndim(); ++i) inner *= input.size(i);
  const i64 L = input.size(dim), lines = out.numel() / L;
  dispatch(input.dtype(), [&](auto s, auto a) {
    using S = decltype(s);
    using A = decltype(a);
    softmax_kernel<S, A><<<grid_for(lines), 256, 0, stream_of(ctx)>>>(
        static_cast<const S*>(input.data()), static_cast<S*>(out.data()), lines, L, inner);
  });
  FOVEAL_CUDA_CHECK(cudaGetLastError());
}

void add(ConstTensorView a_, ConstTensorView b_, TensorView out, const ExecContext& ctx) {
  DeviceGuard guard(a_.device().index);
  const i64 n = out.numel();
  dispatch(a_.dtype(), [&](auto s, auto a) {
    using S = decltype(s);
    using A = decltype(a);
    add_kernel<S, A><<<grid_for(n), 256, 0, stream_of(ctx)>>>(static_cast<const S*>(a_.data()),
                                                              static_cast<const S*>(b_.data()),
                                                              static_cast<S*>(out.data()), n);
  });
  FOVEAL_CUDA_CHECK(cudaGetLastError());
}

}  // namespace foveal::cuda
