// SPDX-License-Identifier: Apache-2.0
// Soft-NMS on CUDA: the selections are sequential, so one block does them all: a block-wide argmax
// of the live scores, then every thread decays its share of the boxes. O(K * N / threads); the
// CPU backend (grid + heap) is the fast one for large N.
#include <cstdint>

#include "common.cuh"
#include "foveal/math/box.hpp"
#include "foveal/math/nms.hpp"
#include "foveal/math/soft_nms.hpp"
#include "ops/backend.hpp"

namespace foveal::cuda {
namespace {

constexpr int kThreads = 1024;

template <typename A>
__device__ __forceinline__ bool better(A sa, std::int64_t ia, A sb, std::int64_t ib) {
  return ib < 0 || sa > sb || (sa == sb && ia < ib);
}

template <typename S, typename A>
__global__ void __launch_bounds__(kThreads)
    soft_nms_kernel(const S* __restrict__ boxes, const S* __restrict__ scores, const std::int64_t* __restrict__ labels,
                    std::int64_t n, A thr, A sigma, double score_threshold, int kind, A* __restrict__ cur,
                    std::int64_t* __restrict__ keep, S* __restrict__ kept, std::int64_t* __restrict__ count) {
  __shared__ A best_s[kThreads];
  __shared__ std::int64_t best_i[kThreads];
  const int t = threadIdx.x;
  for (std::int64_t j = t; j < n; j += kThreads) {
    const A s = to_acc(scores[j]);
    cur[j] = static_cast<double>(s) >= score_threshold ? s : A(NAN);  // NaN marks a dead box
  }
  __syncthreads();
  std::int64_t kept_n = 0;
  for (;;) {
    A bs = 0;
    std::int64_t bi = -1;
    for (std::int64_t j = t; j < n; j += kThreads) {
      const A s = cur[j];
      if (s == s && better(s, j, bs, bi)) bs = s, bi = j;
    }
    best_s[t] = bs;
    best_i[t] = bi;
    __syncthreads();
    for (int w = kThreads / 2; w > 0; w >>= 1) {
      if (t < w && best_i[t + w] >= 0 && better(best_s[t + w], best_i[t + w], best_s[t], best_i[t])) {
        best_s[t] = best_s[t + w];
        best_i[t] = best_i[t + w];
      }
      __syncthreads();
    }
    const std::int64_t i = best_i[0];
    const A si = best_s[0];
    __syncthreads();
    if (i < 0) break;
    if (t == 0) {
      keep[kept_n] = i;
      kept[kept_n] = from_acc<S>(si);
      cur[i] = A(NAN);
    }
    ++kept_n;
    const A ax1 = to_acc(boxes[4 * i]), ay1 = to_acc(boxes[4 * i + 1]), ax2 = to_acc(boxes[4 * i + 2]),
            ay2 = to_acc(boxes[4 * i + 3]);
    const A area_a = math::box_area(ax1, ay1, ax2, ay2);
    const bool valid_a = isfinite(area_a) && ax2 - ax1 > A(0) && ay2 - ay1 > A(0);
    if (valid_a) {
      for (std::int64_t j = t; j < n; j += kThreads) {
        if (j == i || !(cur[j] == cur[j])) continue;
        if (labels && labels[j] != labels[i]) continue;
        const A bx1 = to_acc(boxes[4 * j]), by1 = to_acc(boxes[4 * j + 1]), bx2 = to_acc(boxes[4 * j + 2]),
                by2 = to_acc(boxes[4 * j + 3]);
        const A area_b = math::box_area(bx1, by1, bx2, by2);
        if (!(isfinite(area_b) && bx2 - bx1 > A(0) && by2 - by1 > A(0))) continue;
        const A iou = math::box_iou(ax1, ay1, ax2, ay2, area_a, bx1, by1, bx2, by2, area_b);
        if (!(iou > A(0))) continue;
        const A s = cur[j] * math::soft_nms_decay(iou, kind, thr, sigma);
        cur[j] = static_cast<double>(s) >= score_threshold ? s : A(NAN);
      }
    }
    __syncthreads();
  }
  if (t == 0) *count = kept_n;
}

template <typename H>
std::int64_t launch(ConstTensorView boxes, ConstTensorView scores, ConstTensorView idxs, double iou_threshold,
                    double sigma, double score_threshold, int kind, TensorView keep, TensorView kept_scores,
                    cudaStream_t st) {
  using S = typename DeviceElem<H>::type;
  using A = typename DeviceElem<H>::acc;
  const std::int64_t n = boxes.size(0);
  Workspace<A> cur(static_cast<std::size_t>(n), st);
  Workspace<std::int64_t> d_count(1, st);
  soft_nms_kernel<S, A><<<1, kThreads, 0, st>>>(
      reinterpret_cast<const S*>(boxes.data()), reinterpret_cast<const S*>(scores.data()),
      idxs.data() ? idxs.data_as<std::int64_t>() : nullptr, n, math::nms_threshold<A>(iou_threshold),
      static_cast<A>(sigma), score_threshold, kind, cur.get(), keep.data_as<std::int64_t>(),
      reinterpret_cast<S*>(kept_scores.data()), d_count.get());
  FOVEAL_CUDA_CHECK(cudaGetLastError());
  std::int64_t count = 0;
  FOVEAL_CUDA_CHECK(cudaMemcpyAsync(&count, d_count.get(), sizeof count, cudaMemcpyDeviceToHost, st));
  FOVEAL_CUDA_CHECK(cudaStreamSynchronize(st));
  return count;
}

}  // namespace

std::int64_t soft_nms(ConstTensorView boxes, ConstTensorView scores, ConstTensorView idxs, double iou_threshold,
                      double sigma, double score_threshold, SoftNmsMethod method, TensorView keep,
                      TensorView kept_scores, const ExecContext& ctx) {
  DeviceGuard guard(boxes.device().index);
  const cudaStream_t st = stream_of(ctx);
  const int kind = method == SoftNmsMethod::Gaussian ? math::kSoftNmsGaussian : math::kSoftNmsLinear;
  switch (boxes.dtype()) {
    case DType::Float16:
      return launch<foveal::half>(boxes, scores, idxs, iou_threshold, sigma, score_threshold, kind, keep,
                                  kept_scores, st);
    case DType::Float32:
      return launch<float>(boxes, scores, idxs, iou_threshold, sigma, score_threshold, kind, keep, kept_scores, st);
    default:
      return launch<double>(boxes, scores, idxs, iou_threshold, sigma, score_threshold, kind, keep, kept_scores,
                            st);
  }
}

}  // namespace foveal::cuda
