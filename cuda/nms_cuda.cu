// SPDX-License-Identifier: Apache-2.0
// Greedy NMS on the GPU: rank by a stable radix sort of math::score_rank_key, build the
// "IoU > t" bitmask of every ranked pair in 64-box tiles, then resolve the greedy order on the
// device in one block, 64 boxes at a time. Only the kept count travels to the host.
#include <cub/device/device_radix_sort.cuh>

#include "common.cuh"
#include "foveal/math/box.hpp"
#include "foveal/math/nms.hpp"
#include "ops/backend.hpp"

namespace foveal::cuda {
namespace {

constexpr int kTile = 64;  // boxes per mask word
constexpr int kReduceThreads = 256;

template <typename A> struct Box5 { A x1, y1, x2, y2, area; };

template <typename S, typename K>
__global__ void rank_keys_kernel(const S* __restrict__ scores, std::int64_t n, K* __restrict__ keys,
                                 std::uint32_t* __restrict__ idx) {
  for (std::int64_t i = std::int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += std::int64_t(gridDim.x) * blockDim.x) {
    keys[i] = math::score_rank_key(to_acc(scores[i]));
    idx[i] = static_cast<std::uint32_t>(i);
  }
}

template <typename S, typename A>
__global__ void gather_boxes_kernel(const S* __restrict__ boxes, const std::uint32_t* __restrict__ order,
                                    std::int64_t n, Box5<A>* __restrict__ sorted) {
  for (std::int64_t r = std::int64_t(blockIdx.x) * blockDim.x + threadIdx.x; r < n;
       r += std::int64_t(gridDim.x) * blockDim.x) {
    const S* b = boxes + 4 * std::int64_t(order[r]);
    Box5<A> o;
    o.x1 = to_acc(b[0]), o.y1 = to_acc(b[1]), o.x2 = to_acc(b[2]), o.y2 = to_acc(b[3]);
    o.area = math::box_area(o.x1, o.y1, o.x2, o.y2);
    sorted[r] = o;
  }
}

// mask[i * col_blocks + c] bit k: ranked box i suppresses ranked box c*64+k (> i).
template <typename A>
__global__ void nms_mask_kernel(const Box5<A>* __restrict__ sorted, std::int64_t n, std::int64_t col_blocks, A tf,
                                unsigned long long* __restrict__ mask) {
  const std::int64_t row_block = blockIdx.y, col_block = blockIdx.x;
  if (row_block > col_block) return;
  __shared__ Box5<A> tile[kTile];
  const int row_size = static_cast<int>(min(n - row_block * kTile, std::int64_t(kTile)));
  const int col_size = static_cast<int>(min(n - col_block * kTile, std::int64_t(kTile)));
  if (threadIdx.x < col_size) tile[threadIdx.x] = sorted[col_block * kTile + threadIdx.x];
  __syncthreads();
  if (threadIdx.x >= row_size) return;
  const std::int64_t i = row_block * kTile + threadIdx.x;
  const Box5<A> a = sorted[i];
  unsigned long long bits = 0;
  for (int k = row_block == col_block ? threadIdx.x + 1 : 0; k < col_size; ++k) {
    const Box5<A>& b = tile[k];
    if (math::box_iou(a.x1, a.y1, a.x2, a.y2, a.area, b.x1, b.y1, b.x2, b.y2, b.area) > tf) bits |= 1ull << k;
  }
  mask[i * col_blocks + col_block] = bits;
}

// One block walks the tiles in rank order: thread 0 resolves the 64 boxes of a tile serially
// (the tile's own mask words), then all threads fold the kept rows into later tiles' words.
__global__ void nms_reduce_kernel(const unsigned long long* __restrict__ mask, std::int64_t n,
                                  std::int64_t col_blocks, const std::uint32_t* __restrict__ order,
                                  unsigned long long* __restrict__ removed, std::int64_t* __restrict__ keep,
                                  std::int64_t* __restrict__ count) {
  __shared__ std::int64_t kept_rows[kTile];
  __shared__ int n_kept;
  std::int64_t total = 0;  // meaningful in thread 0
  for (std::int64_t c = 0; c < col_blocks; ++c) {
    if (threadIdx.x == 0) {
      unsigned long long rem = removed[c];
      const int rows = static_cast<int>(min(n - c * kTile, std::int64_t(kTile)));
      int nk = 0;
      for (int k = 0; k < rows; ++k) {
        if ((rem >> k) & 1ull) continue;
        const std::int64_t i = c * kTile + k;
        kept_rows[nk++] = i;
        keep[total++] = order[i];
        rem |= mask[i * col_blocks + c];
      }
      n_kept = nk;
    }
    __syncthreads();
    const int nk = n_kept;
    for (std::int64_t w = c + 1 + threadIdx.x; w < col_blocks; w += blockDim.x) {
      unsigned long long acc = 0;
      for (int q = 0; q < nk; ++q) acc |= mask[kept_rows[q] * col_blocks + w];
      removed[w] |= acc;
    }
    __syncthreads();
  }
  if (threadIdx.x == 0) *count = total;
}

template <typename H>
std::int64_t nms_impl(ConstTensorView boxes_v, ConstTensorView scores_v, double t, TensorView keep_v,
                      cudaStream_t st) {
  using S = typename DeviceElem<H>::type;
  using A = typename DeviceElem<H>::acc;
  using K = std::conditional_t<sizeof(A) == 8, std::uint64_t, std::uint32_t>;
  const std::int64_t n = boxes_v.size(0);
  const std::int64_t col_blocks = (n + kTile - 1) / kTile;
  FOVEAL_CHECK_VALUE(col_blocks <= 65535, "nms: at most ", 65535 * kTile, " boxes are supported on CUDA, got ", n);
  const auto* boxes = reinterpret_cast<const S*>(boxes_v.data());
  const auto* scores = reinterpret_cast<const S*>(scores_v.data());

  Workspace<K> keys(n, st), keys_sorted(n, st);
  Workspace<std::uint32_t> idx(n, st), order(n, st);
  const unsigned grid = blocks_for(n, 256);
  rank_keys_kernel<<<grid, 256, 0, st>>>(scores, n, keys.get(), idx.get());
  FOVEAL_CUDA_CHECK(cudaGetLastError());

  // Ascending, stable: equal keys keep index order.
  std::size_t temp_bytes = 0;
  FOVEAL_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(nullptr, temp_bytes, keys.get(), keys_sorted.get(), idx.get(),
                                                    order.get(), static_cast<int>(n), 0, int(8 * sizeof(K)), st));
  {
    Workspace<unsigned char> temp(temp_bytes, st);
    FOVEAL_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(temp.get(), temp_bytes, keys.get(), keys_sorted.get(),
                                                      idx.get(), order.get(), static_cast<int>(n), 0,
                                                      int(8 * sizeof(K)), st));
  }

  Workspace<Box5<A>> sorted(n, st);
  gather_boxes_kernel<<<grid, 256, 0, st>>>(boxes, order.get(), n, sorted.get());
  FOVEAL_CUDA_CHECK(cudaGetLastError());

  Workspace<unsigned long long> mask(static_cast<std::size_t>(n * col_blocks), st);
  const dim3 mgrid(static_cast<unsigned>(col_blocks), static_cast<unsigned>(col_blocks));
  nms_mask_kernel<A><<<mgrid, kTile, 0, st>>>(sorted.get(), n, col_blocks, math::nms_threshold<A>(t), mask.get());
  FOVEAL_CUDA_CHECK(cudaGetLastError());

  Workspace<unsigned long long> removed(col_blocks, st);
  Workspace<std::int64_t> d_count(1, st);
  FOVEAL_CUDA_CHECK(cudaMemsetAsync(removed.get(), 0, col_blocks * sizeof(unsigned long long), st));
  nms_reduce_kernel<<<1, kReduceThreads, 0, st>>>(mask.get(), n, col_blocks, order.get(), removed.get(),
                                                   keep_v.data_as<std::int64_t>(), d_count.get());
  FOVEAL_CUDA_CHECK(cudaGetLastError());

  std::int64_t count = 0;
  FOVEAL_CUDA_CHECK(cudaMemcpyAsync(&count, d_count.get(), sizeof count, cudaMemcpyDeviceToHost, st));
  FOVEAL_CUDA_CHECK(cudaStreamSynchronize(st));
  return count;
}

}  // namespace

std::int64_t nms(ConstTensorView boxes, ConstTensorView scores, double iou_threshold, TensorView keep,
                 const ExecContext& ctx) {
  DeviceGuard guard(boxes.device().index);
  const cudaStream_t st = stream_of(ctx);
  switch (boxes.dtype()) {
    case DType::Float16: return nms_impl<foveal::half>(boxes, scores, iou_threshold, keep, st);
    case DType::Float32: return nms_impl<float>(boxes, scores, iou_threshold, keep, st);
    default: return nms_impl<double>(boxes, scores, iou_threshold, keep, st);
  }
}

}  // namespace foveal::cuda
