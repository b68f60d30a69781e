// SPDX-License-Identifier: Apache-2.0
// RoIAlignRotated on the GPU: one thread per output element (forward) and per grad_output element
// (backward, atomics into grad_input), from the same math/rotated.hpp + bilinear_axis as the CPU.
#include "foveal/math/rotated.hpp"
#include "ops/backend.hpp"
#include "roi_common.cuh"

namespace foveal::cuda {
namespace {

constexpr int kThreads = 256;

struct Dims {
  std::int64_t n, c, h, w, ph, pw, total;
};

template <typename T>
__global__ void roi_align_rotated_kernel(const T* __restrict__ input, const T* __restrict__ rois,
                                         T* __restrict__ out, Dims d, T scale, int sampling_ratio, bool aligned) {
  for (std::int64_t idx = std::int64_t(blockIdx.x) * blockDim.x + threadIdx.x; idx < d.total;
       idx += std::int64_t(gridDim.x) * blockDim.x) {
    const std::int64_t pw = idx % d.pw, ph = (idx / d.pw) % d.ph, c = (idx / d.pw / d.ph) % d.c;
    const std::int64_t k = idx / d.pw / d.ph / d.c;
    const T* roi = rois + 6 * k;
    const std::int64_t b = roi::batch_index(roi[0], d.n);
    T acc = T(0), count = T(1);
    if (b >= 0 && d.h > 0 && d.w > 0) {
      const auto bins = math::roi_align_rotated_bins(roi, scale, d.ph, d.pw, sampling_ratio, aligned);
      count = bins.count;
      const T* v = input + (b * d.c + c) * d.h * d.w;
      std::int64_t iy0, iy1;  // samples that can land on the map (a huge RoI: O(map))
      math::roi_align_rotated_rows(bins, ph, d.h, d.w, iy0, iy1);
      for (std::int64_t iy = iy0; iy < iy1; ++iy) {
        std::int64_t ix0, ix1;
        math::roi_align_rotated_cols(bins, ph, pw, iy, d.h, d.w, ix0, ix1);
        for (std::int64_t ix = ix0; ix < ix1; ++ix) {
          T y, x;
          math::roi_align_rotated_sample(bins, ph, pw, iy, ix, y, x);
          math::AxisTap<T> ty, tx;
          if (!math::bilinear_axis(y, d.h, ty) || !math::bilinear_axis(x, d.w, tx)) continue;
          T w1, w2, w3, w4;
          math::bilinear_weights(ty, tx, w1, w2, w3, w4);
          acc += w1 * v[ty.lo * d.w + tx.lo] + w2 * v[ty.lo * d.w + tx.hi] + w3 * v[ty.hi * d.w + tx.lo] +
                 w4 * v[ty.hi * d.w + tx.hi];
        }
      }
    }
    out[idx] = acc / count;
  }
}

template <typename T>
__global__ void roi_align_rotated_backward_kernel(const T* __restrict__ grad_out, const T* __restrict__ rois,
                                                  T* __restrict__ grad_in, Dims d, T scale, int sampling_ratio,
                                                  bool aligned) {
  for (std::int64_t idx = std::int64_t(blockIdx.x) * blockDim.x + threadIdx.x; idx < d.total;
       idx += std::int64_t(gridDim.x) * blockDim.x) {
    const std::int64_t pw = idx % d.pw, ph = (idx / d.pw) % d.ph, c = (idx / d.pw / d.ph) % d.c;
    const std::int64_t k = idx / d.pw / d.ph / d.c;
    const T* roi = rois + 6 * k;
    const std::int64_t b = roi::batch_index(roi[0], d.n);
    if (b < 0) continue;
    const auto bins = math::roi_align_rotated_bins(roi, scale, d.ph, d.pw, sampling_ratio, aligned);
    const T g = grad_out[idx] / bins.count;
    T* gi = grad_in + (b * d.c + c) * d.h * d.w;
    std::int64_t iy0, iy1;
    math::roi_align_rotated_rows(bins, ph, d.h, d.w, iy0, iy1);
    for (std::int64_t iy = iy0; iy < iy1; ++iy) {
      std::int64_t ix0, ix1;
      math::roi_align_rotated_cols(bins, ph, pw, iy, d.h, d.w, ix0, ix1);
      for (std::int64_t ix = ix0; ix < ix1; ++ix) {
        T y, x;
        math::roi_align_rotated_sample(bins, ph, pw, iy, ix, y, x);
        math::AxisTap<T> ty, tx;
        if (!math::bilinear_axis(y, d.h, ty) || !math::bilinear_axis(x, d.w, tx)) continue;
        T w1, w2, w3, w4;
        math::bilinear_weights(ty, tx, w1, w2, w3, w4);
        atomicAdd(gi + ty.lo * d.w + tx.lo, g * w1);
        atomicAdd(gi + ty.lo * d.w + tx.hi, g * w2);
        atomicAdd(gi + ty.hi * d.w + tx.lo, g * w3);
        atomicAdd(gi + ty.hi * d.w + tx.hi, g * w4);
      }
    }
  }
}

template <typename T>
void forward(ConstTensorView input, ConstTensorView rois, TensorView out, const RoiAlignParams& p, cudaStream_t st) {
  const Dims d{input.size(0), input.size(1), input.size(2), input.size(3), out.size(2), out.size(3), out.numel()};
  roi_align_rotated_kernel<T><<<blocks_for(d.total, kThreads), kThreads, 0, st>>>(
      static_cast<const T*>(input.data()), static_cast<const T*>(rois.data()), static_cast<T*>(out.data()), d,
      static_cast<T>(p.spatial_scale), p.sampling_ratio, p.aligned);
  FOVEAL_CUDA_CHECK(cudaGetLastError());
}

template <typename T>
void backward(ConstTensorView grad_output, ConstTensorView rois, TensorView grad_input, const RoiAlignParams& p,
              cudaStream_t st) {
  const Dims d{grad_input.size(0), grad_input.size(1), grad_input.size(2), grad_input.size(3),
               grad_output.size(2), grad_output.size(3), grad_output.numel()};
  FOVEAL_CUDA_CHECK(cudaMemsetAsync(grad_input.data(), 0, grad_input.numel() * sizeof(T), st));
  if (d.total > 0) {
    roi_align_rotated_backward_kernel<T><<<blocks_for(d.total, kThreads), kThreads, 0, st>>>(
        static_cast<const T*>(grad_output.data()), static_cast<const T*>(rois.data()),
        static_cast<T*>(grad_input.data()), d, static_cast<T>(p.spatial_scale), p.sampling_ratio, p.aligned);
    FOVEAL_CUDA_CHECK(cudaGetLastError());
  }
}

}  // namespace

void roi_align_rotated(ConstTensorView input, ConstTensorView rois, TensorView out, const RoiAlignParams& params,
                       const ExecContext& ctx) {
  DeviceGuard guard(input.device().index);
  const cudaStream_t st = stream_of(ctx);
  if (input.dtype() == DType::Float32) return forward<float>(input, rois, out, params, st);
  return forward<double>(input, rois, out, params, st);
}

void roi_align_rotated_backward(ConstTensorView grad_output, ConstTensorView rois, TensorView grad_input,
                                const RoiAlignParams& params, const ExecContext& ctx) {
  DeviceGuard guard(grad_input.device().index);
  const cudaStream_t st = stream_of(ctx);
  if (grad_input.dtype() == DType::Float32) return backward<float>(grad_output, rois, grad_input, params, st);
  return backward<double>(grad_output, rois, grad_input, params, st);
}

}  // namespace foveal::cuda
