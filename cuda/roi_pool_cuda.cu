// SPDX-License-Identifier: Apache-2.0
// RoIPool on the GPU: one thread per output element (forward, optional argmax) and per
// grad_output element (backward, atomics at the argmax), from the CPU's math::roi_pool_span.
#include <cfloat>

#include "foveal/math/roi.hpp"
#include "ops/backend.hpp"
#include "roi_common.cuh"

namespace foveal::cuda {
namespace {

constexpr int kThreads = 256;

struct Dims {
  std::int64_t n, c, h, w, ph, pw, total;
};

template <typename S, typename A>
__global__ void roi_pool_kernel(const S* __restrict__ input, const A* __restrict__ rois, S* __restrict__ out,
                                std::int64_t* __restrict__ argmax, Dims d, A scale, bool seed) {
  for (std::int64_t idx = std::int64_t(blockIdx.x) * blockDim.x + threadIdx.x; idx < d.total;
       idx += std::int64_t(gridDim.x) * blockDim.x) {
    const std::int64_t pw = idx % d.pw, ph = (idx / d.pw) % d.ph, c = (idx / d.pw / d.ph) % d.c;
    const std::int64_t k = idx / d.pw / d.ph / d.c;
    const A* roi = rois + 5 * k;
    const std::int64_t b = roi::batch_index(roi[0], d.n);
    A m = A(0);
    std::int64_t at = -1;
    if (b >= 0) {
      const math::PoolSpan y = math::roi_pool_span(roi[2], roi[4], scale, d.ph, ph, d.h, seed);
      const math::PoolSpan x = math::roi_pool_span(roi[1], roi[3], scale, d.pw, pw, d.w, seed);
      if (y.hi > y.lo && x.hi > x.lo) m = static_cast<A>(-FLT_MAX);
      const S* v = input + (b * d.c + c) * d.h * d.w;
      for (std::int64_t h = y.lo; h < y.hi; ++h)
        for (std::int64_t w = x.lo; w < x.hi; ++w) {
          const A val = roi::load(v + h * d.w + w);
          if (val > m) m = val, at = h * d.w + w;
        }
    }
    roi::store(out + idx, m);
    if (argmax != nullptr) argmax[idx] = at;
  }
}

template <typename S, typename A, typename G>
__global__ void roi_pool_backward_kernel(const S* __restrict__ grad_out, const A* __restrict__ rois,
                                         const std::int64_t* __restrict__ argmax, G* __restrict__ grad_in, Dims d) {
  for (std::int64_t idx = std::int64_t(blockIdx.x) * blockDim.x + threadIdx.x; idx < d.total;
       idx += std::int64_t(gridDim.x) * blockDim.x) {
    const std::int64_t c = (idx / d.pw / d.ph) % d.c, k = idx / d.pw / d.ph / d.c;
    const std::int64_t b = roi::batch_index(rois[5 * k], d.n);
    const std::int64_t at = argmax[idx];
    if (b < 0 || at < 0 || at >= d.h * d.w) continue;
    atomicAdd(grad_in + (b * d.c + c) * d.h * d.w + at, static_cast<G>(roi::load(grad_out + idx)));
  }
}

template <typename S, typename A>
void forward(ConstTensorView input, ConstTensorView rois, TensorView out, TensorView argmax, const RoiPoolParams& p,
             cudaStream_t st) {
  const Dims d{input.size(0), input.size(1), input.size(2), input.size(3), out.size(2), out.size(3), out.numel()};
  std::int64_t* am = argmax.ndim() != 0 ? static_cast<std::int64_t*>(argmax.data()) : nullptr;
  roi_pool_kernel<S, A><<<blocks_for(d.total, kThreads), kThreads, 0, st>>>(
      static_cast<const S*>(input.data()), static_cast<const A*>(rois.data()), static_cast<S*>(out.data()), am, d,
      static_cast<A>(p.spatial_scale), p.bins == RoiPoolBins::Seed);
  FOVEAL_CUDA_CHECK(cudaGetLastError());
}

template <typename S, typename A>
void backward(ConstTensorView grad_output, ConstTensorView rois, ConstTensorView argmax, TensorView grad_input,
              cudaStream_t st) {
  const Dims d{grad_input.size(0), grad_input.size(1), grad_input.size(2), grad_input.size(3),
               grad_output.size(2), grad_output.size(3), grad_output.numel()};
  roi::GradBuffer<S> buf(static_cast<S*>(grad_input.data()), grad_input.numel(), st);
  if (d.total > 0) {
    roi_pool_backward_kernel<S, A><<<blocks_for(d.total, kThreads), kThreads, 0, st>>>(
        static_cast<const S*>(grad_output.data()), static_cast<const A*>(rois.data()),
        static_cast<const std::int64_t*>(argmax.data()), buf.get(), d);
    FOVEAL_CUDA_CHECK(cudaGetLastError());
  }
  buf.finish();
}

}  // namespace

void roi_pool(ConstTensorView input, ConstTensorView rois, TensorView out, TensorView argmax,
              const RoiPoolParams& params, const ExecContext& ctx) {
  DeviceGuard guard(input.device().index);
  const cudaStream_t st = stream_of(ctx);
  switch (input.dtype()) {
    case DType::Float16: return forward<__half, float>(input, rois, out, argmax, params, st);
    case DType::BFloat16: return forward<__nv_bfloat16, float>(input, rois, out, argmax, params, st);
    case DType::Float32: return forward<float, float>(input, rois, out, argmax, params, st);
    default: return forward<double, double>(input, rois, out, argmax, params, st);
  }
}

void roi_pool_backward(ConstTensorView grad_output, ConstTensorView rois, ConstTensorView argmax,
                       TensorView grad_input, const ExecContext& ctx) {
  DeviceGuard guard(grad_input.device().index);
  const cudaStream_t st = stream_of(ctx);
  switch (grad_input.dtype()) {
    case DType::Float16: return backward<__half, float>(grad_output, rois, argmax, grad_input, st);
    case DType::BFloat16: return backward<__nv_bfloat16, float>(grad_output, rois, argmax, grad_input, st);
    case DType::Float32: return backward<float, float>(grad_output, rois, argmax, grad_input, st);
    default: return backward<double, double>(grad_output, rois, argmax, grad_input, st);
  }
}

}  // namespace foveal::cuda
