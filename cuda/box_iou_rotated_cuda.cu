// SPDX-License-Identifier: Apache-2.0
// Rotated IoU on the GPU: one thread per output element, the exact polygon IoU of
// math/rotated.hpp (the CPU's bounding-box rejection is only a shortcut to the same 0).
#include "common.cuh"
#include "foveal/math/rotated.hpp"
#include "ops/backend.hpp"

namespace foveal::cuda {
namespace {

constexpr int kThreads = 256;

template <typename T>
__global__ void box_iou_rotated_kernel(const T* __restrict__ b1, const T* __restrict__ b2, std::int64_t n,
                                       std::int64_t m, T* __restrict__ out) {
  for (std::int64_t idx = std::int64_t(blockIdx.x) * blockDim.x + threadIdx.x; idx < n * m;
       idx += std::int64_t(gridDim.x) * blockDim.x) {
    const std::int64_t i = idx / m, j = idx % m;
    const T* a = b1 + 5 * i;
    const T* b = b2 + 5 * j;
    double c1, s1, c2, s2;
    math::rotated_trig(static_cast<double>(a[4]), c1, s1);
    math::rotated_trig(static_cast<double>(b[4]), c2, s2);
    out[idx] = math::rotated_iou(a[0], a[1], a[2], a[3], T(c1), T(s1), b[0], b[1], b[2], b[3], T(c2), T(s2));
  }
}

template <typename T>
void launch(ConstTensorView boxes1, ConstTensorView boxes2, TensorView out, cudaStream_t st) {
  const std::int64_t n = boxes1.size(0), m = boxes2.size(0);
  box_iou_rotated_kernel<T><<<blocks_for(n * m, kThreads), kThreads, 0, st>>>(
      static_cast<const T*>(boxes1.data()), static_cast<const T*>(boxes2.data()), n, m, static_cast<T*>(out.data()));
  FOVEAL_CUDA_CHECK(cudaGetLastError());
}

}  // namespace

void box_iou_rotated(ConstTensorView boxes1, ConstTensorView boxes2, TensorView out, const ExecContext& ctx) {
  DeviceGuard guard(boxes1.device().index);
  const cudaStream_t st = stream_of(ctx);
  if (boxes1.dtype() == DType::Float32) return launch<float>(boxes1, boxes2, out, st);
  return launch<double>(boxes1, boxes2, out, st);
}

}  // namespace foveal::cuda
