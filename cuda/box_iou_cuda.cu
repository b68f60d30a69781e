// SPDX-License-Identifier: Apache-2.0
#include "common.cuh"
#include "foveal/math/box.hpp"
#include "ops/backend.hpp"

namespace foveal::cuda {
namespace {

constexpr int kThreads = 128;  // columns per block
constexpr int kRows = 16;      // rows per block; box i is a broadcast read

// One batch: column j of the (n, m) matrix, rows strided over the grid's y blocks.
template <typename S, typename A>
__device__ __forceinline__ void box_iou_batch(const S* __restrict__ b1, const S* __restrict__ b2, std::int64_t n,
                                              std::int64_t m, std::int64_t j, S* __restrict__ out) {
  const A bx1 = to_acc(b2[4 * j]), by1 = to_acc(b2[4 * j + 1]), bx2 = to_acc(b2[4 * j + 2]),
          by2 = to_acc(b2[4 * j + 3]);
  const A area_b = math::box_area(bx1, by1, bx2, by2);
  for (std::int64_t i0 = std::int64_t(blockIdx.y) * kRows; i0 < n; i0 += std::int64_t(gridDim.y) * kRows) {
    const std::int64_t i1 = i0 + kRows < n ? i0 + kRows : n;
    for (std::int64_t i = i0; i < i1; ++i) {
      const A ax1 = to_acc(b1[4 * i]), ay1 = to_acc(b1[4 * i + 1]), ax2 = to_acc(b1[4 * i + 2]),
              ay2 = to_acc(b1[4 * i + 3]);
      const A iou = math::box_iou(ax1, ay1, ax2, ay2, math::box_area(ax1, ay1, ax2, ay2), bx1, by1, bx2, by2, area_b);
      out[i * m + j] = from_acc<S>(iou);
    }
  }
}

template <typename S, typename A>
__global__ void box_iou_kernel(const S* __restrict__ b1, const S* __restrict__ b2, std::int64_t n, std::int64_t m,
                               std::int64_t batches, S* __restrict__ out) {
  const std::int64_t j = std::int64_t(blockIdx.x) * kThreads + threadIdx.x;
  if (j >= m) return;
  for (std::int64_t b = blockIdx.z; b < batches; b += gridDim.z)
    box_iou_batch<S, A>(b1 + 4 * n * b, b2 + 4 * m * b, n, m, j, out + n * m * b);
}

template <typename H>
void launch(ConstTensorView boxes1, ConstTensorView boxes2, TensorView out, cudaStream_t st) {
  using S = typename DeviceElem<H>::type;
  using A = typename DeviceElem<H>::acc;
  const int nd = boxes1.ndim();
  const std::int64_t n = boxes1.size(nd - 2), m = boxes2.size(nd - 2), batches = leading_count(boxes1, 2);
  const dim3 grid(blocks_for(m, kThreads, (1ll << 31) - 1), blocks_for(n, kRows, 65535), blocks_for(batches, 1, 65535));
  box_iou_kernel<S, A><<<grid, kThreads, 0, st>>>(reinterpret_cast<const S*>(boxes1.data()),
                                                reinterpret_cast<const S*>(boxes2.data()), n, m, batches,
                                                reinterpret_cast<S*>(out.data()));
  FOVEAL_CUDA_CHECK(cudaGetLastError());
}

}  // namespace

void box_iou(ConstTensorView boxes1, ConstTensorView boxes2, TensorView out, const ExecContext& ctx) {
  DeviceGuard guard(boxes1.device().index);
  const cudaStream_t st = stream_of(ctx);
  switch (boxes1.dtype()) {
    case DType::Float16: return launch<foveal::half>(boxes1, boxes2, out, st);
    case DType::Float32: return launch<float>(boxes1, boxes2, out, st);
    default: return launch<double>(boxes1, boxes2, out, st);
  }
}

}  // namespace foveal::cuda
