// SPDX-License-Identifier: Apache-2.0
// RoIPool on the GPU, from the CPU's math::roi_pool_span. Forward: one warp per (RoI, channel,
// bin row ph); the lanes sweep the RoI's columns (adjacent lanes read adjacent pixels of a row, so
// every load is coalesced), keep each column's maximum over the bin row's rows in shared memory,
// then one lane per bin reduces its columns. A block takes one channel and a run of RoIs, so the
// RoIs of a block share that channel's map in L1. Backward: one thread per grad_output element
// (atomics at the argmax).
#include <cfloat>

#include "foveal/math/roi.hpp"
#include "ops/backend.hpp"
#include "roi_common.cuh"

namespace foveal::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int kWarps = 16;                  // warps per block of the forward kernel
constexpr std::int64_t kCols = 128;         // widest RoI (map columns) staged in shared memory
constexpr std::int64_t kRoisPerBlock = 64;  // RoIs of one channel per block

struct Dims {
  std::int64_t n, c, h, w, ph, pw, total;
};

// Bin row `ph` of RoI `k` on channel `c`: all d.pw outputs (and argmaxes) of that row. Argmax
// rule of the CPU (and torchvision): the first maximum in row-major scan order of the bin (a
// strict `>` from -FLT_MAX; NaN never wins), i.e. the smallest flat index among the pixels equal
// to the maximum. A column's first maximum over the rows, then the smallest such index over the
// bin's columns, is exactly that pixel.
template <typename S, typename A>
__device__ __forceinline__ void pool_bin_row(const S* __restrict__ input, const A* __restrict__ rois,
                                             S* __restrict__ out, std::int64_t* __restrict__ argmax, const Dims& d,
                                             A scale, bool seed, std::int64_t k, std::int64_t c, std::int64_t ph,
                                             int lane, A* col_m, std::int64_t* col_i) {
  const A* roi = rois + 5 * k;
  const std::int64_t o = ((k * d.c + c) * d.ph + ph) * d.pw;  // first output of the bin row
  const std::int64_t b = roi::batch_index(roi[0], d.n);
  if (b < 0) {
    for (std::int64_t pw = lane; pw < d.pw; pw += 32) {
      roi::store(out + o + pw, A(0));
      if (argmax != nullptr) argmax[o + pw] = -1;
    }
    return;
  }
  const math::PoolSpan y = math::roi_pool_span(roi[2], roi[4], scale, d.ph, ph, d.h, seed);
  // Bin ranges are nondecreasing in pw (both conventions), so [x_lo, x_hi) holds every bin.
  const std::int64_t x_lo = math::roi_pool_span(roi[1], roi[3], scale, d.pw, std::int64_t(0), d.w, seed).lo;
  const std::int64_t x_hi = math::roi_pool_span(roi[1], roi[3], scale, d.pw, d.pw - 1, d.w, seed).hi;
  const S* v = input + (b * d.c + c) * d.h * d.w;
  const bool rows = y.hi > y.lo;
  const bool staged = x_hi - x_lo <= kCols;  // wider RoIs: each lane scans its bins directly
  if (rows && staged) {
    for (std::int64_t j = lane; j < x_hi - x_lo; j += 32) {
      const std::int64_t x = x_lo + j;
      A m = static_cast<A>(-FLT_MAX);
      std::int64_t at = -1;
      for (std::int64_t h = y.lo; h < y.hi; ++h) {
        const A val = roi::load(v + h * d.w + x);
        if (val > m) m = val, at = h * d.w + x;
      }
      col_m[j] = m;
      col_i[j] = at;
    }
    __syncwarp();
  }
  for (std::int64_t pw = lane; pw < d.pw; pw += 32) {
    const math::PoolSpan x = math::roi_pool_span(roi[1], roi[3], scale, d.pw, pw, d.w, seed);
    A m = A(0);
    std::int64_t at = -1;
    if (rows && x.hi > x.lo) {
      m = static_cast<A>(-FLT_MAX);
      if (staged) {
        // A column whose maximum stayed -FLT_MAX has index -1, and so has `at` while m is
        // -FLT_MAX: the tie test below never takes a -1 over a real index.
        for (std::int64_t xx = x.lo; xx < x.hi; ++xx) {
          const A cm = col_m[xx - x_lo];
          const std::int64_t ci = col_i[xx - x_lo];
          if (cm > m || (cm == m && ci < at)) m = cm, at = ci;
        }
      } else {
        for (std::int64_t h = y.lo; h < y.hi; ++h)
          for (std::int64_t w = x.lo; w < x.hi; ++w) {
            const A val = roi::load(v + h * d.w + w);
            if (val > m) m = val, at = h * d.w + w;
          }
      }
    }
    roi::store(out + o + pw, m);
    if (argmax != nullptr) argmax[o + pw] = at;
  }
  __syncwarp();  // the warp's next bin row overwrites col_m / col_i
}

// Block `blk` of a grid-stride loop: channel blk / chunks, RoIs [k0, k0 + kRoisPerBlock); its
// warps take the (RoI, ph) bin rows of that run in turn.
template <typename S, typename A>
__global__ void __launch_bounds__(kWarps * 32, 2)
    roi_pool_kernel(const S* __restrict__ input, const A* __restrict__ rois, S* __restrict__ out,
                    std::int64_t* __restrict__ argmax, Dims d, std::int64_t num_rois, std::int64_t chunks, A scale,
                    bool seed) {
  __shared__ A col_m[kWarps][kCols];
  __shared__ std::int64_t col_i[kWarps][kCols];
  const int lane = static_cast<int>(threadIdx.x) & 31, warp = static_cast<int>(threadIdx.x) >> 5;
  for (std::int64_t blk = blockIdx.x; blk < d.c * chunks; blk += gridDim.x) {
    const std::int64_t c = blk / chunks, k0 = (blk % chunks) * kRoisPerBlock;
    const std::int64_t rois_here = num_rois - k0 < kRoisPerBlock ? num_rois - k0 : kRoisPerBlock;
    for (std::int64_t t = warp; t < rois_here * d.ph; t += kWarps)
      pool_bin_row<S, A>(input, rois, out, argmax, d, scale, seed, k0 + t / d.ph, c, t % d.ph, lane, col_m[warp],
                         col_i[warp]);
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
  if (d.total == 0) return;
  std::int64_t* am = argmax.ndim() != 0 ? static_cast<std::int64_t*>(argmax.data()) : nullptr;
  const std::int64_t num_rois = out.size(0);
  const std::int64_t chunks = (num_rois + kRoisPerBlock - 1) / kRoisPerBlock;
  roi_pool_kernel<S, A><<<blocks_for(d.c * chunks, 1), kWarps * 32, 0, st>>>(
      static_cast<const S*>(input.data()), static_cast<const A*>(rois.data()), static_cast<S*>(out.data()), am, d,
      num_rois, chunks, static_cast<A>(p.spatial_scale), p.bins == RoiPoolBins::Seed);
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
