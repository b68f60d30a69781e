// SPDX-License-Identifier: Apache-2.0
// Greedy rotated NMS (and its batched form) on the GPU, the bitmask scheme of nms_cuda.cu: rank
// (nms_common.cuh), build the "suppresses" bitmask of every ranked pair
// in 64-box tiles with the exact polygon IoU of math/rotated.hpp, then resolve the greedy order in
// one block. The pair rule is the CPU's (nms_rotated_cpu.cpp), without its search grid: both boxes
// valid (finite, w, h > 0), the same category, IoU > t; below threshold 0 every pair of finite
// boxes of one category; from 1 up none. Categories are compared per pair (O(N^2) like nms).
#include <cstdint>
#include <type_traits>

#include "common.cuh"
#include "nms_common.cuh"
#include "foveal/math/nms.hpp"
#include "foveal/math/rotated.hpp"
#include "ops/backend.hpp"

namespace foveal::cuda {
namespace {

template <typename T>
struct RBoxD {
  T cx, cy, w, h, c, s;
  std::int64_t cls;
  int finite, valid;
};

enum class PairRule : int { Iou = 0, AnyFinite = 1, None = 2 };

// Ranked box r: the CPU's preparation (trig of the angle in double, validity).
template <typename T>
__global__ void rotated_gather_kernel(const T* __restrict__ boxes, const std::int64_t* __restrict__ idxs,
                                      const std::uint32_t* __restrict__ order, std::int64_t n,
                                      RBoxD<T>* __restrict__ sorted) {
  for (std::int64_t r = std::int64_t(blockIdx.x) * blockDim.x + threadIdx.x; r < n;
       r += std::int64_t(gridDim.x) * blockDim.x) {
    const std::int64_t i = order[r];
    const T* p = boxes + 5 * i;
    double cd, sd;
    math::rotated_trig(static_cast<double>(p[4]), cd, sd);
    RBoxD<T> b;
    b.cx = p[0], b.cy = p[1], b.w = p[2], b.h = p[3], b.c = T(cd), b.s = T(sd);
    b.finite = isfinite(p[0]) && isfinite(p[1]) && isfinite(p[2]) && isfinite(p[3]) && isfinite(p[4]);
    b.valid = b.finite && b.w > T(0) && b.h > T(0);
    b.cls = idxs ? idxs[i] : 0;
    sorted[r] = b;
  }
}

// The "suppresses" bitmask (pair_mask_tiles) with this op's pair rule.
template <typename T>
__global__ void rotated_mask_kernel(const RBoxD<T>* __restrict__ sorted, std::int64_t n, std::int64_t col_blocks,
                                    T t, PairRule rule, unsigned long long* __restrict__ mask) {
  pair_mask_tiles(
      sorted, n, col_blocks,
      [t, rule](const RBoxD<T>& a, const RBoxD<T>& b) {
        if (b.cls != a.cls) return false;
        if (rule == PairRule::AnyFinite) return a.finite && b.finite;
        return rule == PairRule::Iou && a.valid && b.valid &&
               math::rotated_iou(a.cx, a.cy, a.w, a.h, a.c, a.s, b.cx, b.cy, b.w, b.h, b.c, b.s) > t;
      },
      mask);
}

template <typename T>
std::int64_t impl(ConstTensorView boxes_v, ConstTensorView scores_v, const std::int64_t* idxs, double thr,
                  TensorView keep_v, cudaStream_t st) {
  const std::int64_t n = boxes_v.size(0);
  const std::int64_t col_blocks = (n + kTile - 1) / kTile;
  FOVEAL_CHECK_VALUE(col_blocks <= 65535, "nms_rotated: at most ", 65535 * kTile, " boxes are supported on CUDA, got ",
                     n);
  const auto* boxes = static_cast<const T*>(boxes_v.data());
  const auto* scores = static_cast<const T*>(scores_v.data());

  Workspace<std::uint32_t> order(n, st);
  rank_order<T>(scores, n, order.get(), st);
  const unsigned grid = blocks_for(n, 256);
  Workspace<RBoxD<T>> sorted(n, st);
  rotated_gather_kernel<<<grid, 256, 0, st>>>(boxes, idxs, order.get(), n, sorted.get());
  FOVEAL_CUDA_CHECK(cudaGetLastError());

  const PairRule rule = thr >= 1.0 ? PairRule::None : (thr < 0.0 ? PairRule::AnyFinite : PairRule::Iou);
  Workspace<unsigned long long> mask(static_cast<std::size_t>(n * col_blocks), st);
  const dim3 mgrid(static_cast<unsigned>(col_blocks), static_cast<unsigned>(col_blocks));
  rotated_mask_kernel<T><<<mgrid, kTile, 0, st>>>(sorted.get(), n, col_blocks, math::nms_threshold<T>(thr), rule,
                                                  mask.get());
  FOVEAL_CUDA_CHECK(cudaGetLastError());

  return resolve_greedy(mask.get(), n, col_blocks, order.get(), keep_v.data_as<std::int64_t>(), st);
}

}  // namespace

std::int64_t nms_rotated(ConstTensorView boxes, ConstTensorView scores, const std::int64_t* idxs,
                         double iou_threshold, TensorView keep, const ExecContext& ctx) {
  DeviceGuard guard(boxes.device().index);
  const cudaStream_t st = stream_of(ctx);
  if (boxes.dtype() == DType::Float32) return impl<float>(boxes, scores, idxs, iou_threshold, keep, st);
  return impl<double>(boxes, scores, idxs, iou_threshold, keep, st);
}

}  // namespace foveal::cuda
