// SPDX-License-Identifier: Apache-2.0
#include "common.cuh"
#include "foveal/math/box.hpp"
#include "ops/backend.hpp"

namespace foveal::cuda {
namespace {

constexpr int kThreads = 128;  // columns per block
constexpr int kRows = 16;      // rows per block; box i is a broadcast read

// Column j of every batch's (n, m) matrix; box j's per-box terms are computed once per thread.
template <BoxIouVariant K, typename S, typename A>
__global__ void variant_kernel(const S* __restrict__ b1, const S* __restrict__ b2, std::int64_t n, std::int64_t m,
                               std::int64_t batches, A eps, S* __restrict__ out) {
  const std::int64_t j = std::int64_t(blockIdx.x) * kThreads + threadIdx.x;
  if (j >= m) return;
  for (std::int64_t b = blockIdx.z; b < batches; b += gridDim.z) {
    const S* p = b2 + 4 * (b * m + j);
    const A bx1 = to_acc(p[0]), by1 = to_acc(p[1]), bx2 = to_acc(p[2]), by2 = to_acc(p[3]);
    const A area_b = math::box_area(bx1, by1, bx2, by2);
    const A bcx = math::box_center(bx1, bx2), bcy = math::box_center(by1, by2);
    const A ang_b = K == BoxIouVariant::Complete ? math::box_aspect_angle(bx1, by1, bx2, by2) : A(0);
    for (std::int64_t i0 = std::int64_t(blockIdx.y) * kRows; i0 < n; i0 += std::int64_t(gridDim.y) * kRows) {
      const std::int64_t i1 = i0 + kRows < n ? i0 + kRows : n;
      for (std::int64_t i = i0; i < i1; ++i) {
        const S* q = b1 + 4 * (b * n + i);
        const A ax1 = to_acc(q[0]), ay1 = to_acc(q[1]), ax2 = to_acc(q[2]), ay2 = to_acc(q[3]);
        const A area_a = math::box_area(ax1, ay1, ax2, ay2);
        A v;
        if constexpr (K == BoxIouVariant::Generalized) {
          v = math::box_giou(ax1, ay1, ax2, ay2, area_a, bx1, by1, bx2, by2, area_b);
        } else {
          const A acx = math::box_center(ax1, ax2), acy = math::box_center(ay1, ay2);
          if constexpr (K == BoxIouVariant::Distance)
            v = math::box_diou(ax1, ay1, ax2, ay2, area_a, acx, acy, bx1, by1, bx2, by2, area_b, bcx, bcy, eps);
          else
            v = math::box_ciou(ax1, ay1, ax2, ay2, area_a, acx, acy, math::box_aspect_angle(ax1, ay1, ax2, ay2), bx1,
                               by1, bx2, by2, area_b, bcx, bcy, ang_b, eps);
        }
        out[(b * n + i) * m + j] = from_acc<S>(v);
      }
    }
  }
}

template <BoxIouVariant K, typename H>
void launch(ConstTensorView boxes1, ConstTensorView boxes2, double eps, TensorView out, cudaStream_t st) {
  using S = typename DeviceElem<H>::type;
  using A = typename DeviceElem<H>::acc;
  const int nd = boxes1.ndim();
  const std::int64_t n = boxes1.size(nd - 2), m = boxes2.size(nd - 2), batches = leading_count(boxes1, 2);
  const dim3 grid(blocks_for(m, kThreads, (1ll << 31) - 1), blocks_for(n, kRows, 65535), blocks_for(batches, 1, 65535));
  variant_kernel<K, S, A><<<grid, kThreads, 0, st>>>(reinterpret_cast<const S*>(boxes1.data()),
                                                     reinterpret_cast<const S*>(boxes2.data()), n, m, batches,
                                                     static_cast<A>(eps), reinterpret_cast<S*>(out.data()));
  FOVEAL_CUDA_CHECK(cudaGetLastError());
}

template <BoxIouVariant K>
void dispatch(ConstTensorView boxes1, ConstTensorView boxes2, double eps, TensorView out, cudaStream_t st) {
  switch (boxes1.dtype()) {
    case DType::Float16: return launch<K, foveal::half>(boxes1, boxes2, eps, out, st);
    case DType::Float32: return launch<K, float>(boxes1, boxes2, eps, out, st);
    default: return launch<K, double>(boxes1, boxes2, eps, out, st);
  }
}

}  // namespace

void box_iou_variant(BoxIouVariant kind, ConstTensorView boxes1, ConstTensorView boxes2, double eps, TensorView out,
                     const ExecContext& ctx) {
  DeviceGuard guard(boxes1.device().index);
  const cudaStream_t st = stream_of(ctx);
  switch (kind) {
    case BoxIouVariant::Generalized: return dispatch<BoxIouVariant::Generalized>(boxes1, boxes2, eps, out, st);
    case BoxIouVariant::Distance: return dispatch<BoxIouVariant::Distance>(boxes1, boxes2, eps, out, st);
    default: return dispatch<BoxIouVariant::Complete>(boxes1, boxes2, eps, out, st);
  }
}

}  // namespace foveal::cuda
