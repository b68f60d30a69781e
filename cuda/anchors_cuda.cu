// SPDX-License-Identifier: Apache-2.0
#include <cstdint>
#include <vector>

#include "common.cuh"
#include "foveal/math/anchors.hpp"
#include "ops/backend.hpp"

namespace foveal::cuda {
namespace {

constexpr int kThreads = 256;

struct LevelArg {
  std::int64_t cols, step_y, step_x, num_cells, cell0, count;
};

// One thread per anchor of one level.
template <typename S, typename A>
__global__ void anchor_grid_kernel(const S* __restrict__ cells, LevelArg lv, bool yx, S* __restrict__ out) {
  for (std::int64_t t = std::int64_t(blockIdx.x) * kThreads + threadIdx.x; t < lv.count;
       t += std::int64_t(gridDim.x) * kThreads) {
    const std::int64_t k = t % lv.num_cells, p = t / lv.num_cells;
    const std::int64_t j = p % lv.cols, i = p / lv.cols;
    // Shifts are integers converted to the storage type first, as torch adds int32 to the dtype.
    const A sx = to_acc(from_acc<S>(static_cast<A>(static_cast<std::int32_t>(j * lv.step_x))));
    const A sy = to_acc(from_acc<S>(static_cast<A>(static_cast<std::int32_t>(i * lv.step_y))));
    const S* c = cells + 4 * (lv.cell0 + k);
    const A cell[4] = {to_acc(c[0]), to_acc(c[1]), to_acc(c[2]), to_acc(c[3])};
    A o[4];
    math::anchor_at(sx, sy, cell, yx, o);
    S* dst = out + 4 * t;
    for (int q = 0; q < 4; ++q) dst[q] = from_acc<S>(o[q]);
  }
}

template <typename H>
void launch(ConstTensorView cells, const std::vector<AnchorLevel>& levels, bool yx, TensorView out, cudaStream_t st) {
  using S = typename DeviceElem<H>::type;
  using A = typename DeviceElem<H>::acc;
  std::int64_t cell0 = 0, out0 = 0;
  for (const AnchorLevel& l : levels) {
    const LevelArg lv{l.cols, l.step_y, l.step_x, l.num_cells, cell0, l.rows * l.cols * l.num_cells};
    if (lv.count > 0) {
      anchor_grid_kernel<S, A><<<blocks_for(lv.count, kThreads), kThreads, 0, st>>>(
          reinterpret_cast<const S*>(cells.data()), lv, yx, reinterpret_cast<S*>(out.data()) + 4 * out0);
      FOVEAL_CUDA_CHECK(cudaGetLastError());
    }
    cell0 += l.num_cells;
    out0 += lv.count;
  }
}

}  // namespace

void anchor_grid(ConstTensorView cells, const std::vector<AnchorLevel>& levels, AnchorStyle style, TensorView out,
                 const ExecContext& ctx) {
  DeviceGuard guard(out.device().index);
  const cudaStream_t st = stream_of(ctx);
  const bool yx = style == AnchorStyle::Matterport;
  switch (out.dtype()) {
    case DType::Float16: return launch<foveal::half>(cells, levels, yx, out, st);
    case DType::Float32: return launch<float>(cells, levels, yx, out, st);
    default: return launch<double>(cells, levels, yx, out, st);
  }
}

}  // namespace foveal::cuda
