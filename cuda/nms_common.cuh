// SPDX-License-Identifier: Apache-2.0
// The parts of greedy bitmask NMS that do not depend on the box type (nms_cuda.cu and
// nms_rotated_cuda.cu): ranking by a stable radix sort of math::score_rank_key, the tiled
// "suppresses" bitmask over a pair rule, and resolving the greedy order from it on the device, in
// one block, 64 boxes at a time.
// Internal linkage: each .cu that includes this gets its own copy of the kernels.
#pragma once
#include <cub/device/device_radix_sort.cuh>

#include <cstdint>
#include <type_traits>

#include "common.cuh"
#include "foveal/math/nms.hpp"

namespace foveal::cuda {
namespace {

constexpr int kTile = 64;  // boxes per mask word
constexpr int kReduceThreads = 256;

// The "suppresses" bitmask of greedy NMS: mask[i * col_blocks + c] bit k says ranked box i
// suppresses ranked box c * 64 + k (> i), by the op's pair rule suppresses(a, b) (a ranked
// first). A block of kTile threads per (row tile, column tile) on or above the diagonal; the
// column tile sits in shared memory.
template <typename Box, typename Rule>
__device__ __forceinline__ void pair_mask_tiles(const Box* __restrict__ sorted, std::int64_t n, std::int64_t col_blocks,
                                                Rule suppresses, unsigned long long* __restrict__ mask) {
  const std::int64_t row_block = blockIdx.y, col_block = blockIdx.x;
  if (row_block > col_block) return;
  __shared__ Box tile[kTile];
  const int row_size = static_cast<int>(min(n - row_block * kTile, std::int64_t(kTile)));
  const int col_size = static_cast<int>(min(n - col_block * kTile, std::int64_t(kTile)));
  if (threadIdx.x < col_size) tile[threadIdx.x] = sorted[col_block * kTile + threadIdx.x];
  __syncthreads();
  if (threadIdx.x >= row_size) return;
  const std::int64_t i = row_block * kTile + threadIdx.x;
  const Box a = sorted[i];
  unsigned long long bits = 0;
  for (int k = row_block == col_block ? threadIdx.x + 1 : 0; k < col_size; ++k)
    if (suppresses(a, tile[k])) bits |= 1ull << k;
  mask[i * col_blocks + col_block] = bits;
}
// end of pair_mask_tiles

template <typename S, typename K>
__global__ void rank_keys_kernel(const S* __restrict__ scores, std::int64_t n, K* __restrict__ keys,
                                 std::uint32_t* __restrict__ idx) {
  for (std::int64_t i = std::int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += std::int64_t(gridDim.x) * blockDim.x) {
    keys[i] = math::score_rank_key(to_acc(scores[i]));
    idx[i] = static_cast<std::uint32_t>(i);
  }
}

/// order[r] = the index of the box ranked r-th (higher score first; equal scores keep index
/// order). A: the accumulation type the scores are compared in (float or double).
template <typename A, typename S>
void rank_order(const S* scores, std::int64_t n, std::uint32_t* order, cudaStream_t st) {
  using K = std::conditional_t<sizeof(A) == 8, std::uint64_t, std::uint32_t>;
  Workspace<K> keys(n, st), keys_sorted(n, st);
  Workspace<std::uint32_t> idx(n, st);
  rank_keys_kernel<<<blocks_for(n, 256), 256, 0, st>>>(scores, n, keys.get(), idx.get());
  FOVEAL_CUDA_CHECK(cudaGetLastError());
  std::size_t temp_bytes = 0;  // ascending and stable: equal keys keep index order
  FOVEAL_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(nullptr, temp_bytes, keys.get(), keys_sorted.get(), idx.get(),
                                                    order, static_cast<int>(n), 0, int(8 * sizeof(K)), st));
  Workspace<unsigned char> temp(temp_bytes, st);
  FOVEAL_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(temp.get(), temp_bytes, keys.get(), keys_sorted.get(), idx.get(),
                                                    order, static_cast<int>(n), 0, int(8 * sizeof(K)), st));
}

// One block walks the tiles in rank order: thread 0 resolves the 64 boxes of a tile serially
// (the tile's own mask words), then all threads fold the kept rows into later tiles' words.
__global__ void greedy_reduce_kernel(const unsigned long long* __restrict__ mask, std::int64_t n,
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

/// Resolves the greedy order from `mask` (mask[i * col_blocks + c] bit k: ranked box i suppresses
/// ranked box c*64+k), writes the kept indices (order[i]) in rank order to `keep` and returns how
/// many: the only host synchronisation.
inline std::int64_t resolve_greedy(const unsigned long long* mask, std::int64_t n, std::int64_t col_blocks,
                                   const std::uint32_t* order, std::int64_t* keep, cudaStream_t st) {
  Workspace<unsigned long long> removed(col_blocks, st);
  Workspace<std::int64_t> d_count(1, st);
  FOVEAL_CUDA_CHECK(cudaMemsetAsync(removed.get(), 0, col_blocks * sizeof(unsigned long long), st));
  greedy_reduce_kernel<<<1, kReduceThreads, 0, st>>>(mask, n, col_blocks, order, removed.get(), keep, d_count.get());
  FOVEAL_CUDA_CHECK(cudaGetLastError());
  std::int64_t count = 0;
  FOVEAL_CUDA_CHECK(cudaMemcpyAsync(&count, d_count.get(), sizeof count, cudaMemcpyDeviceToHost, st));
  FOVEAL_CUDA_CHECK(cudaStreamSynchronize(st));
  return count;
}

}  // namespace
}  // namespace foveal::cuda
