// CPU emulation of greedy bitmask NMS on CUDA (see run.sh): nms_cuda.cu's gather and mask kernels,
// nms_rotated_cuda.cu's, and nms_common.cuh's pair_mask_tiles and greedy_reduce_kernel. The rank
// order is cub's stable ascending radix sort of math::score_rank_key, done here by std::stable_sort.
//   nms_emu axis|rotated float|double N THRESHOLD HAS_IDXS   (reads boxes.bin, scores.bin, idxs.bin;
//   writes keep.bin, the kept indices in rank order)
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <numeric>
#include <vector>

#include "foveal/math/box.hpp"
#include "foveal/math/nms.hpp"
#include "foveal/math/rotated.hpp"
#include "emu_types.hpp"

namespace foveal::cuda {
using std::isfinite;
using std::min;
namespace {
#include "kernels_nms.inc"

template <typename T>
std::vector<T> read(const char* name, std::size_t n) {
  std::vector<T> v(n);
  FILE* f = fopen(name, "rb");
  if (!f || fread(v.data(), sizeof(T), n, f) != n) abort();
  fclose(f);
  return v;
}

template <typename T>
void run(bool rotated, long long n, double thr, bool has_idxs) {
  const auto boxes = read<T>("boxes.bin", n * (rotated ? 5 : 4));
  const auto scores = read<T>("scores.bin", n);
  std::vector<std::int64_t> idxs = has_idxs ? read<std::int64_t>("idxs.bin", n) : std::vector<std::int64_t>();
  std::vector<std::uint32_t> order(n);
  std::iota(order.begin(), order.end(), 0u);
  std::stable_sort(order.begin(), order.end(), [&](std::uint32_t a, std::uint32_t b) {
    return math::score_rank_key(scores[a]) < math::score_rank_key(scores[b]);
  });
  const long long col_blocks = (n + kTile - 1) / kTile;
  std::vector<unsigned long long> mask(n * col_blocks, 0xDEADBEEFull), removed(col_blocks, 0);
  const unsigned g = unsigned((n + 255) / 256);
  if (rotated) {
    std::vector<RBoxD<T>> sorted(n);
    emu::launch(g, 1, 256, 1, 0, [&] {
      rotated_gather_kernel<T>(boxes.data(), has_idxs ? idxs.data() : nullptr, order.data(), n, sorted.data());
    });
    const PairRule rule = thr >= 1.0 ? PairRule::None : (thr < 0.0 ? PairRule::AnyFinite : PairRule::Iou);
    emu::launch(unsigned(col_blocks), unsigned(col_blocks), kTile, 1, 0, [&] {
      rotated_mask_kernel<T>(sorted.data(), n, col_blocks, math::nms_threshold<T>(thr), rule, mask.data());
    });
  } else {
    std::vector<Box5<T>> sorted(n);
    emu::launch(g, 1, 256, 1, 0, [&] { gather_boxes_kernel<T, T>(boxes.data(), order.data(), n, sorted.data()); });
    emu::launch(unsigned(col_blocks), unsigned(col_blocks), kTile, 1, 0, [&] {
      nms_mask_kernel<T>(sorted.data(), n, col_blocks, math::nms_threshold<T>(thr), mask.data());
    });
  }
  std::vector<std::int64_t> keep(n, -1);
  std::int64_t count = -1;
  emu::launch(1, 1, kReduceThreads, 1, 0, [&] {
    greedy_reduce_kernel(mask.data(), n, col_blocks, order.data(), removed.data(), keep.data(), &count);
  });
  FILE* f = fopen("keep.bin", "wb");
  fwrite(keep.data(), 8, count, f);
  fclose(f);
}
}  // namespace
}  // namespace foveal::cuda

int main(int argc, char** argv) {
  const bool rotated = std::strcmp(argv[1], "rotated") == 0, dbl = std::strcmp(argv[2], "double") == 0;
  const long long n = atoll(argv[3]);
  const double thr = atof(argv[4]);
  const bool has_idxs = atoi(argv[5]) != 0;
  if (dbl) foveal::cuda::run<double>(rotated, n, thr, has_idxs);
  else foveal::cuda::run<float>(rotated, n, thr, has_idxs);
}
