// SPDX-License-Identifier: Apache-2.0
// RoIAlign on the GPU: one thread per output element (forward) and per grad_output element
// (backward, atomics into grad_input), from the same math::roi_align_bins / bilinear_axis as the
// CPU, summing a bin's samples in the CPU's order. 16-bit maps are read and written in their type
// and computed in float32. Forward blocks take one channel and a run of RoIs (one map plane for
// the block, so overlapping RoIs hit L1), and split indices in 32 bits where they fit.
#include "foveal/math/roi.hpp"
#include "ops/backend.hpp"
#include "roi_common.cuh"

namespace foveal::cuda {
namespace {

constexpr int kThreads = 256;
constexpr std::int64_t kRoisPerBlock = 32;  // RoIs of one channel per forward block

struct Dims {
  std::int64_t n, c, h, w, ph, pw, total;
};

// Sum of the bilinear samples of bin (ph, pw) of a RoI on the map `v` (h x w).
template <typename S, typename A>
__device__ __forceinline__ A align_bin_sum(const S* __restrict__ v, std::int64_t h, std::int64_t w,
                                           const math::RoiAlignBins<A>& bins, std::int64_t ph, std::int64_t pw) {
  A acc = A(0);
  std::int64_t y0, y1, x0, x1;
  math::roi_align_sample_range(bins.start_h, bins.bin_h, ph, bins.grid_h, h, y0, y1);
  math::roi_align_sample_range(bins.start_w, bins.bin_w, pw, bins.grid_w, w, x0, x1);
  for (std::int64_t iy = y0; iy < y1; ++iy) {
    math::AxisTap<A> ty;
    if (!math::bilinear_axis(math::roi_align_sample(bins.start_h, bins.bin_h, ph, iy, bins.grid_h), h, ty)) continue;
    for (std::int64_t ix = x0; ix < x1; ++ix) {
      math::AxisTap<A> tx;
      if (!math::bilinear_axis(math::roi_align_sample(bins.start_w, bins.bin_w, pw, ix, bins.grid_w), w, tx))
        continue;
      A w1, w2, w3, w4;
      math::bilinear_weights(ty, tx, w1, w2, w3, w4);
      acc += w1 * roi::load(v + ty.lo * w + tx.lo) + w2 * roi::load(v + ty.lo * w + tx.hi) +
             w3 * roi::load(v + ty.hi * w + tx.lo) + w4 * roi::load(v + ty.hi * w + tx.hi);
    }
  }
  return acc;
}

// q = a / b, r = a % b for a >= 0, b > 0, in 32 bits when both fit (64-bit division is slow).
__device__ __forceinline__ void divmod(std::int64_t a, std::int64_t b, std::int64_t& q, std::int64_t& r) {
  if (((a | b) >> 31) == 0) {
    const auto ua = static_cast<std::uint32_t>(a), ub = static_cast<std::uint32_t>(b);
    q = ua / ub;
    r = ua - static_cast<std::uint32_t>(q) * ub;
  } else {
    q = a / b;
    r = a - q * b;
  }
}

// Output elements of block `blk` (grid-stride over d.c * chunks blocks): channel blk / chunks,
// RoIs [k0, k0 + kRoisPerBlock) of it, bins in (k, ph, pw) order. fn(k, c, ph, pw, idx).
template <typename F>
__device__ __forceinline__ void for_each_roi_bin(const Dims& d, std::int64_t num_rois, std::int64_t chunks, F fn) {
  const std::int64_t bins = d.ph * d.pw;
  for (std::int64_t blk = blockIdx.x; blk < d.c * chunks; blk += gridDim.x) {
    std::int64_t c, chunk;
    divmod(blk, chunks, c, chunk);
    const std::int64_t k0 = chunk * kRoisPerBlock;
    const std::int64_t n = (num_rois - k0 < kRoisPerBlock ? num_rois - k0 : kRoisPerBlock) * bins;
    for (std::int64_t e = threadIdx.x; e < n; e += blockDim.x) {
      std::int64_t kk, r, ph, pw;
      divmod(e, bins, kk, r);
      divmod(r, d.pw, ph, pw);
      const std::int64_t k = k0 + kk;
      fn(k, c, ph, pw, (k * d.c + c) * bins + r);
    }
  }
}

template <typename S, typename A>
__global__ void roi_align_kernel(const S* __restrict__ input, const A* __restrict__ rois, S* __restrict__ out,
                                 Dims d, std::int64_t num_rois, std::int64_t chunks, A scale, int sampling_ratio,
                                 bool aligned) {
  for_each_roi_bin(d, num_rois, chunks,
                   [&](std::int64_t k, std::int64_t c, std::int64_t ph, std::int64_t pw, std::int64_t idx) {
                     const A* roi = rois + 5 * k;
                     const std::int64_t b = roi::batch_index(roi[0], d.n);
                     A acc = A(0), count = A(1);
                     if (b >= 0) {
                       const auto bins = math::roi_align_bins(roi, scale, d.ph, d.pw, sampling_ratio, aligned);
                       count = bins.count;
                       acc = align_bin_sum(input + (b * d.c + c) * d.h * d.w, d.h, d.w, bins, ph, pw);
                     }
                     roi::store(out + idx, acc / count);
                   });
}

// The pyramid of multi_scale_roi_align, by value (kernel parameter space).
struct Pyramid {
  const void* maps[kMaxPyramidLevels];
  std::int64_t h[kMaxPyramidLevels], w[kMaxPyramidLevels];
  double scale[kMaxPyramidLevels];
  int levels, k_min, k_max, canonical_scale, canonical_level;
};

// One thread per output element: the RoI's level (math::fpn_roi_level), then roi_align's bin on
// that level's map, written at the RoI's own row of `out`.
template <typename S, typename A>
__global__ void multi_scale_roi_align_kernel(Pyramid pyr, const A* __restrict__ rois, S* __restrict__ out, Dims d,
                                             std::int64_t num_rois, std::int64_t chunks, int sampling_ratio,
                                             bool aligned) {
  for_each_roi_bin(d, num_rois, chunks,
                   [&](std::int64_t k, std::int64_t c, std::int64_t ph, std::int64_t pw, std::int64_t idx) {
                     const A* roi = rois + 5 * k;
                     const std::int64_t b = roi::batch_index(roi[0], d.n);
                     const int l = math::fpn_roi_level(roi, pyr.k_min, pyr.k_max, pyr.canonical_scale,
                                                       pyr.canonical_level, pyr.levels);
                     A acc = A(0), count = A(1);
                     if (b >= 0 && l >= 0) {
                       const auto bins = math::roi_align_bins(roi, static_cast<A>(pyr.scale[l]), d.ph, d.pw,
                                                              sampling_ratio, aligned);
                       count = bins.count;
                       const S* map = static_cast<const S*>(pyr.maps[l]);
                       acc = align_bin_sum(map + (b * d.c + c) * pyr.h[l] * pyr.w[l], pyr.h[l], pyr.w[l], bins, ph,
                                           pw);
                     }
                     roi::store(out + idx, acc / count);
                   });
}

template <typename S, typename A, typename G>
__global__ void roi_align_backward_kernel(const S* __restrict__ grad_out, const A* __restrict__ rois,
                                          G* __restrict__ grad_in, Dims d, A scale, int sampling_ratio,
                                          bool aligned) {
  for (std::int64_t idx = std::int64_t(blockIdx.x) * blockDim.x + threadIdx.x; idx < d.total;
       idx += std::int64_t(gridDim.x) * blockDim.x) {
    const std::int64_t pw = idx % d.pw, ph = (idx / d.pw) % d.ph, c = (idx / d.pw / d.ph) % d.c;
    const std::int64_t k = idx / d.pw / d.ph / d.c;
    const A* roi = rois + 5 * k;
    const std::int64_t b = roi::batch_index(roi[0], d.n);
    if (b < 0) continue;
    const auto bins = math::roi_align_bins(roi, scale, d.ph, d.pw, sampling_ratio, aligned);
    const A g = roi::load(grad_out + idx);
    G* gi = grad_in + (b * d.c + c) * d.h * d.w;
    std::int64_t y0, y1, x0, x1;
    math::roi_align_sample_range(bins.start_h, bins.bin_h, ph, bins.grid_h, d.h, y0, y1);
    math::roi_align_sample_range(bins.start_w, bins.bin_w, pw, bins.grid_w, d.w, x0, x1);
    for (std::int64_t iy = y0; iy < y1; ++iy) {
      math::AxisTap<A> ty;
      if (!math::bilinear_axis(math::roi_align_sample(bins.start_h, bins.bin_h, ph, iy, bins.grid_h), d.h, ty))
        continue;
      for (std::int64_t ix = x0; ix < x1; ++ix) {
        math::AxisTap<A> tx;
        if (!math::bilinear_axis(math::roi_align_sample(bins.start_w, bins.bin_w, pw, ix, bins.grid_w), d.w, tx))
          continue;
        A w1, w2, w3, w4;
        math::bilinear_weights(ty, tx, w1, w2, w3, w4);
        atomicAdd(gi + ty.lo * d.w + tx.lo, static_cast<G>(g * w1 / bins.count));
        atomicAdd(gi + ty.lo * d.w + tx.hi, static_cast<G>(g * w2 / bins.count));
        atomicAdd(gi + ty.hi * d.w + tx.lo, static_cast<G>(g * w3 / bins.count));
        atomicAdd(gi + ty.hi * d.w + tx.hi, static_cast<G>(g * w4 / bins.count));
      }
    }
  }
}

template <typename S, typename A>
void forward(ConstTensorView input, ConstTensorView rois, TensorView out, const RoiAlignParams& p, cudaStream_t st) {
  const Dims d{input.size(0), input.size(1), input.size(2), input.size(3), out.size(2), out.size(3), out.numel()};
  if (d.total == 0) return;
  const std::int64_t num_rois = out.size(0), chunks = (num_rois + kRoisPerBlock - 1) / kRoisPerBlock;
  roi_align_kernel<S, A><<<blocks_for(d.c * chunks, 1), kThreads, 0, st>>>(
      static_cast<const S*>(input.data()), static_cast<const A*>(rois.data()), static_cast<S*>(out.data()), d,
      num_rois, chunks, static_cast<A>(p.spatial_scale), p.sampling_ratio, p.aligned);
  FOVEAL_CUDA_CHECK(cudaGetLastError());
}

template <typename S, typename A>
void multi_scale_forward(const ConstTensorView* features, const PyramidPlan& plan, ConstTensorView rois,
                         TensorView out, const MultiScaleRoiAlignParams& p, cudaStream_t st) {
  Pyramid pyr{};
  for (int l = 0; l < plan.levels; ++l) {
    pyr.maps[l] = features[l].data();
    pyr.h[l] = features[l].size(2), pyr.w[l] = features[l].size(3), pyr.scale[l] = plan.scale[l];
  }
  pyr.levels = plan.levels, pyr.k_min = plan.k_min, pyr.k_max = plan.k_max;
  pyr.canonical_scale = p.canonical_scale, pyr.canonical_level = p.canonical_level;
  const Dims d{features[0].size(0), features[0].size(1), 0, 0, out.size(2), out.size(3), out.numel()};
  if (d.total == 0) return;
  const std::int64_t num_rois = out.size(0), chunks = (num_rois + kRoisPerBlock - 1) / kRoisPerBlock;
  multi_scale_roi_align_kernel<S, A><<<blocks_for(d.c * chunks, 1), kThreads, 0, st>>>(
      pyr, static_cast<const A*>(rois.data()), static_cast<S*>(out.data()), d, num_rois, chunks, p.sampling_ratio,
      p.aligned);
  FOVEAL_CUDA_CHECK(cudaGetLastError());
}

template <typename S, typename A>
void backward(ConstTensorView grad_output, ConstTensorView rois, TensorView grad_input, const RoiAlignParams& p,
              cudaStream_t st) {
  const Dims d{grad_input.size(0), grad_input.size(1), grad_input.size(2), grad_input.size(3),
               grad_output.size(2), grad_output.size(3), grad_output.numel()};
  roi::GradBuffer<S> buf(static_cast<S*>(grad_input.data()), grad_input.numel(), st);
  if (d.total > 0) {
    roi_align_backward_kernel<S, A><<<blocks_for(d.total, kThreads), kThreads, 0, st>>>(
        static_cast<const S*>(grad_output.data()), static_cast<const A*>(rois.data()), buf.get(), d,
        static_cast<A>(p.spatial_scale), p.sampling_ratio, p.aligned);
    FOVEAL_CUDA_CHECK(cudaGetLastError());
  }
  buf.finish();
}

}  // namespace

void roi_align(ConstTensorView input, ConstTensorView rois, TensorView out, const RoiAlignParams& params,
               const ExecContext& ctx) {
  DeviceGuard guard(input.device().index);
  const cudaStream_t st = stream_of(ctx);
  switch (input.dtype()) {
    case DType::Float16: return forward<__half, float>(input, rois, out, params, st);
    case DType::BFloat16: return forward<__nv_bfloat16, float>(input, rois, out, params, st);
    case DType::Float32: return forward<float, float>(input, rois, out, params, st);
    default: return forward<double, double>(input, rois, out, params, st);
  }
}

void multi_scale_roi_align(const ConstTensorView* features, const PyramidPlan& plan, ConstTensorView rois,
                           TensorView out, const MultiScaleRoiAlignParams& params, const ExecContext& ctx) {
  DeviceGuard guard(out.device().index);
  const cudaStream_t st = stream_of(ctx);
  switch (out.dtype()) {
    case DType::Float16: return multi_scale_forward<__half, float>(features, plan, rois, out, params, st);
    case DType::BFloat16: return multi_scale_forward<__nv_bfloat16, float>(features, plan, rois, out, params, st);
    case DType::Float32: return multi_scale_forward<float, float>(features, plan, rois, out, params, st);
    default: return multi_scale_forward<double, double>(features, plan, rois, out, params, st);
  }
}

void roi_align_backward(ConstTensorView grad_output, ConstTensorView rois, TensorView grad_input,
                        const RoiAlignParams& params, const ExecContext& ctx) {
  DeviceGuard guard(grad_input.device().index);
  const cudaStream_t st = stream_of(ctx);
  switch (grad_input.dtype()) {
    case DType::Float16: return backward<__half, float>(grad_output, rois, grad_input, params, st);
    case DType::BFloat16: return backward<__nv_bfloat16, float>(grad_output, rois, grad_input, params, st);
    case DType::Float32: return backward<float, float>(grad_output, rois, grad_input, params, st);
    default: return backward<double, double>(grad_output, rois, grad_input, params, st);
  }
}

}  // namespace foveal::cuda
