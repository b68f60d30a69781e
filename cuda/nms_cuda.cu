// SPDX-License-Identifier: Apache-2.0
// Greedy NMS on the GPU: rank (nms_common.cuh), build the "IoU > t" bitmask of every ranked pair
// in 64-box tiles, then resolve the greedy order on the device (nms_common.cuh). Only the kept
// count travels to the host.
#include <cub/device/device_radix_sort.cuh>
#include <cub/device/device_select.cuh>
#include <thrust/iterator/counting_iterator.h>

#include <vector>

#include "common.cuh"
#include "nms_common.cuh"
#include "foveal/math/box.hpp"
#include "foveal/math/nms.hpp"
#include "ops/backend.hpp"

namespace foveal::cuda {
namespace {

template <typename A> struct Box5 { A x1, y1, x2, y2, area; };

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

// The "suppresses" bitmask (pair_mask_tiles) with this op's pair rule.
template <typename A>
__global__ void nms_mask_kernel(const Box5<A>* __restrict__ sorted, std::int64_t n, std::int64_t col_blocks, A tf,
                                unsigned long long* __restrict__ mask) {
  pair_mask_tiles(
      sorted, n, col_blocks,
      [tf](const Box5<A>& a, const Box5<A>& b) {
        return math::box_iou(a.x1, a.y1, a.x2, a.y2, a.area, b.x1, b.y1, b.x2, b.y2, b.area) > tf;
      },
      mask);
}

template <typename H>
std::int64_t nms_impl(ConstTensorView boxes_v, ConstTensorView scores_v, double t, TensorView keep_v,
                      cudaStream_t st) {
  using S = typename DeviceElem<H>::type;
  using A = typename DeviceElem<H>::acc;
  const std::int64_t n = boxes_v.size(0);
  const std::int64_t col_blocks = (n + kTile - 1) / kTile;
  FOVEAL_CHECK_VALUE(col_blocks <= 65535, "nms: at most ", 65535 * kTile, " boxes are supported on CUDA, got ", n);
  const auto* boxes = reinterpret_cast<const S*>(boxes_v.data());
  const auto* scores = reinterpret_cast<const S*>(scores_v.data());

  Workspace<std::uint32_t> order(n, st);
  rank_order<A>(scores, n, order.get(), st);
  const unsigned grid = blocks_for(n, 256);

  Workspace<Box5<A>> sorted(n, st);
  gather_boxes_kernel<<<grid, 256, 0, st>>>(boxes, order.get(), n, sorted.get());
  FOVEAL_CUDA_CHECK(cudaGetLastError());

  Workspace<unsigned long long> mask(static_cast<std::size_t>(n * col_blocks), st);
  const dim3 mgrid(static_cast<unsigned>(col_blocks), static_cast<unsigned>(col_blocks));
  nms_mask_kernel<A><<<mgrid, kTile, 0, st>>>(sorted.get(), n, col_blocks, math::nms_threshold<A>(t), mask.get());
  FOVEAL_CUDA_CHECK(cudaGetLastError());

  return resolve_greedy(mask.get(), n, col_blocks, order.get(), keep_v.data_as<std::int64_t>(), st);
}


// -- batched (per-class) NMS -------------------------------------------------------------------
// Ranks as nms, then a stable radix sort of the ranks by class makes each class a contiguous
// segment in rank order. IoU bitmasks are built only within a segment (64-box tiles, one block
// per row tile) and each segment is resolved by its own block; the kept boxes are listed in
// rank order by one select. Nothing is ever compared across classes.

constexpr int kSegThreads = 128;

template <typename I>
__global__ void class_keys_kernel(const I* __restrict__ idxs, const std::uint32_t* __restrict__ order,
                                  std::int64_t n, std::uint64_t* __restrict__ keys, std::uint32_t* __restrict__ ranks) {
  for (std::int64_t r = std::int64_t(blockIdx.x) * blockDim.x + threadIdx.x; r < n;
       r += std::int64_t(gridDim.x) * blockDim.x) {
    // Flipping the sign bit orders int64 classes as unsigned keys.
    keys[r] = static_cast<std::uint64_t>(std::int64_t(idxs[order[r]])) ^ (std::uint64_t(1) << 63);
    ranks[r] = static_cast<std::uint32_t>(r);
  }
}

// Position p of the class-sorted list: its box, and whether it starts a class segment.
template <typename S, typename A>
__global__ void gather_segments_kernel(const S* __restrict__ boxes, const std::uint32_t* __restrict__ order,
                                       const std::uint32_t* __restrict__ ranks,
                                       const std::uint64_t* __restrict__ keys, std::int64_t n,
                                       Box5<A>* __restrict__ sorted, unsigned char* __restrict__ head) {
  for (std::int64_t p = std::int64_t(blockIdx.x) * blockDim.x + threadIdx.x; p < n;
       p += std::int64_t(gridDim.x) * blockDim.x) {
    const S* b = boxes + 4 * std::int64_t(order[ranks[p]]);
    Box5<A> o;
    o.x1 = to_acc(b[0]), o.y1 = to_acc(b[1]), o.x2 = to_acc(b[2]), o.y2 = to_acc(b[3]);
    o.area = math::box_area(o.x1, o.y1, o.x2, o.y2);
    sorted[p] = o;
    head[p] = p == 0 || keys[p] != keys[p - 1];
  }
}

// Segment s covers positions [seg_start[s], seg_start[s+1]), has tile_off[s+1] - tile_off[s]
// 64-box tiles and its mask rows (one word per tile) from mask_off[s]. Block = one row tile.
template <typename A>
__global__ void segmented_mask_kernel(const Box5<A>* __restrict__ sorted, const std::int64_t* __restrict__ seg_start,
                                      const std::int64_t* __restrict__ tile_off,
                                      const std::int64_t* __restrict__ mask_off,
                                      const std::uint32_t* __restrict__ tile_seg, A tf,
                                      unsigned long long* __restrict__ mask) {
  __shared__ Box5<A> tile[kTile];
  const std::int64_t seg = tile_seg[blockIdx.x];
  const std::int64_t s0 = seg_start[seg], m = seg_start[seg + 1] - s0;
  const std::int64_t cb = tile_off[seg + 1] - tile_off[seg];
  const std::int64_t row_block = std::int64_t(blockIdx.x) - tile_off[seg];
  const int row_size = static_cast<int>(min(m - row_block * kTile, std::int64_t(kTile)));
  const std::int64_t i = row_block * kTile + threadIdx.x;  // row within the segment
  Box5<A> a{};
  if (threadIdx.x < row_size) a = sorted[s0 + i];
  for (std::int64_t c = row_block; c < cb; ++c) {
    const int col_size = static_cast<int>(min(m - c * kTile, std::int64_t(kTile)));
    __syncthreads();
    if (threadIdx.x < col_size) tile[threadIdx.x] = sorted[s0 + c * kTile + threadIdx.x];
    __syncthreads();
    if (threadIdx.x >= row_size) continue;
    unsigned long long bits = 0;
    for (int k = c == row_block ? threadIdx.x + 1 : 0; k < col_size; ++k) {
      const Box5<A>& b = tile[k];
      if (math::box_iou(a.x1, a.y1, a.x2, a.y2, a.area, b.x1, b.y1, b.x2, b.y2, b.area) > tf) bits |= 1ull << k;
    }
    mask[mask_off[seg] + i * cb + c] = bits;
  }
}

// One block per segment: the greedy pass of nms_reduce_kernel over the segment's mask; marks
// kept[rank] for its kept boxes.
__global__ void segmented_reduce_kernel(const unsigned long long* __restrict__ mask,
                                        const std::int64_t* __restrict__ seg_start,
                                        const std::int64_t* __restrict__ tile_off,
                                        const std::int64_t* __restrict__ mask_off,
                                        const std::uint32_t* __restrict__ ranks,
                                        unsigned long long* __restrict__ removed_all,
                                        unsigned char* __restrict__ kept) {
  __shared__ std::int64_t kept_rows[kTile];
  __shared__ int n_kept;
  const std::int64_t seg = blockIdx.x;
  const std::int64_t s0 = seg_start[seg], m = seg_start[seg + 1] - s0;
  const std::int64_t cb = tile_off[seg + 1] - tile_off[seg];
  const unsigned long long* mk = mask + mask_off[seg];
  unsigned long long* removed = removed_all + tile_off[seg];
  for (std::int64_t c = 0; c < cb; ++c) {
    if (threadIdx.x == 0) {
      unsigned long long rem = removed[c];
      const int rows = static_cast<int>(min(m - c * kTile, std::int64_t(kTile)));
      int nk = 0;
      for (int k = 0; k < rows; ++k) {
        if ((rem >> k) & 1ull) continue;
        const std::int64_t i = c * kTile + k;
        kept_rows[nk++] = i;
        kept[ranks[s0 + i]] = 1;
        rem |= mk[i * cb + c];
      }
      n_kept = nk;
    }
    __syncthreads();
    const int nk = n_kept;
    for (std::int64_t w = c + 1 + threadIdx.x; w < cb; w += blockDim.x) {
      unsigned long long acc = 0;
      for (int q = 0; q < nk; ++q) acc |= mk[kept_rows[q] * cb + w];
      removed[w] |= acc;
    }
    __syncthreads();
  }
}

template <typename H>
std::int64_t batched_nms_impl(ConstTensorView boxes_v, ConstTensorView scores_v, ConstTensorView idxs_v, double t,
                              TensorView keep_v, cudaStream_t st) {
  using S = typename DeviceElem<H>::type;
  using A = typename DeviceElem<H>::acc;
  const std::int64_t n = boxes_v.size(0);
  const int ni = static_cast<int>(n);
  const auto* boxes = reinterpret_cast<const S*>(boxes_v.data());
  const auto* scores = reinterpret_cast<const S*>(scores_v.data());
  const unsigned grid = blocks_for(n, 256);

  // 1. Rank (as nms): order[r] = box of rank r.
  Workspace<std::uint32_t> order(n, st);
  rank_order<A>(scores, n, order.get(), st);

  // 2. Stable sort of the ranks by class: each class a segment, in rank order.
  Workspace<std::uint64_t> ckeys(n, st), ckeys_sorted(n, st);
  Workspace<std::uint32_t> rank_in(n, st), ranks(n, st);
  if (idxs_v.dtype() == DType::Int32)
    class_keys_kernel<<<grid, 256, 0, st>>>(idxs_v.data_as<std::int32_t>(), order.get(), n, ckeys.get(), rank_in.get());
  else
    class_keys_kernel<<<grid, 256, 0, st>>>(idxs_v.data_as<std::int64_t>(), order.get(), n, ckeys.get(), rank_in.get());
  FOVEAL_CUDA_CHECK(cudaGetLastError());
  {
    std::size_t temp_bytes = 0;
    FOVEAL_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(nullptr, temp_bytes, ckeys.get(), ckeys_sorted.get(),
                                                      rank_in.get(), ranks.get(), ni, 0, 64, st));
    Workspace<unsigned char> temp(temp_bytes, st);
    FOVEAL_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(temp.get(), temp_bytes, ckeys.get(), ckeys_sorted.get(),
                                                      rank_in.get(), ranks.get(), ni, 0, 64, st));
  }

  // 3. Boxes in segment order, and the segments' starts (on the host: the tile layout).
  Workspace<Box5<A>> sorted(n, st);
  Workspace<unsigned char> head(n, st);
  gather_segments_kernel<<<grid, 256, 0, st>>>(boxes, order.get(), ranks.get(), ckeys_sorted.get(), n, sorted.get(),
                                               head.get());
  FOVEAL_CUDA_CHECK(cudaGetLastError());
  Workspace<std::int64_t> d_starts(n, st);
  Workspace<int> d_nseg(1, st);
  {
    thrust::counting_iterator<std::int64_t> positions(0);
    std::size_t temp_bytes = 0;
    FOVEAL_CUDA_CHECK(cub::DeviceSelect::Flagged(nullptr, temp_bytes, positions, head.get(), d_starts.get(),
                                                 d_nseg.get(), ni, st));
    Workspace<unsigned char> temp(temp_bytes, st);
    FOVEAL_CUDA_CHECK(cub::DeviceSelect::Flagged(temp.get(), temp_bytes, positions, head.get(), d_starts.get(),
                                                 d_nseg.get(), ni, st));
  }
  int nseg = 0;
  FOVEAL_CUDA_CHECK(cudaMemcpyAsync(&nseg, d_nseg.get(), sizeof nseg, cudaMemcpyDeviceToHost, st));
  FOVEAL_CUDA_CHECK(cudaStreamSynchronize(st));
  // layout[0, nseg] segment starts, [nseg + 1, 2 nseg + 1] tile offsets, then mask offsets.
  std::vector<std::int64_t> layout(static_cast<std::size_t>(3 * (nseg + 1)));
  std::int64_t *h_start = layout.data(), *h_tile = h_start + nseg + 1, *h_mask = h_tile + nseg + 1;
  FOVEAL_CUDA_CHECK(cudaMemcpyAsync(h_start, d_starts.get(), nseg * sizeof(std::int64_t), cudaMemcpyDeviceToHost, st));
  FOVEAL_CUDA_CHECK(cudaStreamSynchronize(st));
  h_start[nseg] = n;
  h_tile[0] = h_mask[0] = 0;
  for (int s = 0; s < nseg; ++s) {
    const std::int64_t m = h_start[s + 1] - h_start[s], cb = (m + kTile - 1) / kTile;
    h_tile[s + 1] = h_tile[s] + cb;
    h_mask[s + 1] = h_mask[s] + m * cb;
  }
  const std::int64_t tiles = h_tile[nseg], mask_words = h_mask[nseg];
  FOVEAL_CHECK_VALUE(tiles <= std::int64_t(INT32_MAX), "batched_nms: too many boxes for CUDA, got ", n);
  std::vector<std::uint32_t> tile_seg(static_cast<std::size_t>(tiles));
  for (int s = 0; s < nseg; ++s)
    for (std::int64_t j = h_tile[s]; j < h_tile[s + 1]; ++j) tile_seg[j] = static_cast<std::uint32_t>(s);
  Workspace<std::int64_t> d_layout(layout.size(), st);
  Workspace<std::uint32_t> d_tile_seg(tiles, st);
  FOVEAL_CUDA_CHECK(cudaMemcpyAsync(d_layout.get(), layout.data(), layout.size() * sizeof(std::int64_t),
                                    cudaMemcpyHostToDevice, st));
  FOVEAL_CUDA_CHECK(cudaMemcpyAsync(d_tile_seg.get(), tile_seg.data(), tiles * sizeof(std::uint32_t),
                                    cudaMemcpyHostToDevice, st));
  const std::int64_t* d_start = d_layout.get();
  const std::int64_t* d_tile = d_start + nseg + 1;
  const std::int64_t* d_mask = d_tile + nseg + 1;

  // 4. Masks within segments, then each segment's greedy pass.
  Workspace<unsigned long long> mask(static_cast<std::size_t>(mask_words), st);
  segmented_mask_kernel<A><<<static_cast<unsigned>(tiles), kTile, 0, st>>>(
      sorted.get(), d_start, d_tile, d_mask, d_tile_seg.get(), math::nms_threshold<A>(t), mask.get());
  FOVEAL_CUDA_CHECK(cudaGetLastError());
  Workspace<unsigned long long> removed(tiles, st);
  Workspace<unsigned char> kept(n, st);
  FOVEAL_CUDA_CHECK(cudaMemsetAsync(removed.get(), 0, tiles * sizeof(unsigned long long), st));
  FOVEAL_CUDA_CHECK(cudaMemsetAsync(kept.get(), 0, n, st));
  segmented_reduce_kernel<<<static_cast<unsigned>(nseg), kSegThreads, 0, st>>>(
      mask.get(), d_start, d_tile, d_mask, ranks.get(), removed.get(), kept.get());
  FOVEAL_CUDA_CHECK(cudaGetLastError());

  // 5. Kept boxes in rank order.
  Workspace<int> d_count(1, st);
  {
    std::size_t temp_bytes = 0;
    FOVEAL_CUDA_CHECK(cub::DeviceSelect::Flagged(nullptr, temp_bytes, order.get(), kept.get(),
                                                 keep_v.data_as<std::int64_t>(), d_count.get(), ni, st));
    Workspace<unsigned char> temp(temp_bytes, st);
    FOVEAL_CUDA_CHECK(cub::DeviceSelect::Flagged(temp.get(), temp_bytes, order.get(), kept.get(),
                                                 keep_v.data_as<std::int64_t>(), d_count.get(), ni, st));
  }
  int count = 0;
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

std::int64_t batched_nms(ConstTensorView boxes, ConstTensorView scores, ConstTensorView idxs, double iou_threshold,
                         TensorView keep, const ExecContext& ctx) {
  DeviceGuard guard(boxes.device().index);
  const cudaStream_t st = stream_of(ctx);
  switch (boxes.dtype()) {
    case DType::Float16: return batched_nms_impl<foveal::half>(boxes, scores, idxs, iou_threshold, keep, st);
    case DType::Float32: return batched_nms_impl<float>(boxes, scores, idxs, iou_threshold, keep, st);
    default: return batched_nms_impl<double>(boxes, scores, idxs, iou_threshold, keep, st);
  }
}

}  // namespace foveal::cuda
