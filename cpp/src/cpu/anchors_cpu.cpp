// SPDX-License-Identifier: Apache-2.0
#include <cstdint>
#include <vector>

#include "cpu/parallel.hpp"
#include "foveal/math/anchors.hpp"
#include "ops/backend.hpp"

namespace foveal::cpu {
namespace {

template <typename T>
void anchor_grid_impl(const T* cells, const std::vector<AnchorLevel>& levels, bool yx, T* out, int num_threads) {
  std::int64_t cell0 = 0, out0 = 0;
  for (const AnchorLevel& lv : levels) {
    const T* c = cells + 4 * cell0;
    T* o = out + 4 * out0;
    const std::int64_t a = lv.num_cells, cols = lv.cols;
    // One grid row per task: rows * cols * a anchors, written once, in order.
    parallel_for(0, lv.rows, num_threads, cols * a > 0 ? 4096 / (cols * a) + 1 : lv.rows + 1, [&](std::int64_t i) {
      const T sy = static_cast<T>(static_cast<std::int32_t>(i * lv.step_y));
      T* row = o + 4 * i * cols * a;
      for (std::int64_t j = 0; j < cols; ++j) {
        const T sx = static_cast<T>(static_cast<std::int32_t>(j * lv.step_x));
        for (std::int64_t k = 0; k < a; ++k) math::anchor_at(sx, sy, c + 4 * k, yx, row + 4 * (j * a + k));
      }
    });
    cell0 += lv.num_cells;
    out0 += lv.rows * lv.cols * lv.num_cells;
  }
}

}  // namespace

void anchor_grid(ConstTensorView cells, const std::vector<AnchorLevel>& levels, AnchorStyle style, TensorView out,
                 const ExecContext& ctx) {
  const bool yx = style == AnchorStyle::Matterport;
  if (out.dtype() == DType::Float32)
    anchor_grid_impl(cells.data_as<float>(), levels, yx, out.data_as<float>(), ctx.num_threads);
  else
    anchor_grid_impl(cells.data_as<double>(), levels, yx, out.data_as<double>(), ctx.num_threads);
}

}  // namespace foveal::cpu
