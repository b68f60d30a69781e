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
  // One task per grid row of any level, in a single parallel region (one barrier, not one per level).
  struct Span {
    std::int64_t row0, cell0, out0;
  };
  std::vector<Span> spans;
  std::int64_t rows = 0, cell0 = 0, out0 = 0;
  for (const AnchorLevel& lv : levels) {
    spans.push_back({rows, cell0, out0});
    rows += lv.rows;
    cell0 += lv.num_cells;
    out0 += lv.rows * lv.cols * lv.num_cells;
  }
  const std::int64_t per_row = rows > 0 ? out0 / rows : 0;
  parallel_for(0, rows, num_threads, per_row > 0 ? (1 << 16) / per_row + 1 : rows + 1, [&](std::int64_t r) {
    std::size_t l = 0;
    while (l + 1 < spans.size() && spans[l + 1].row0 <= r) ++l;
    const AnchorLevel& lv = levels[l];
    const std::int64_t i = r - spans[l].row0, a = lv.num_cells, cols = lv.cols;
    const T* c = cells + 4 * spans[l].cell0;
    T* row = out + 4 * (spans[l].out0 + i * cols * a);
    const T sy = static_cast<T>(static_cast<std::int32_t>(i * lv.step_y));
    for (std::int64_t j = 0; j < cols; ++j) {
      const T sx = static_cast<T>(static_cast<std::int32_t>(j * lv.step_x));
      for (std::int64_t k = 0; k < a; ++k) math::anchor_at(sx, sy, c + 4 * k, yx, row + 4 * (j * a + k));
    }
  });
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
