// SPDX-License-Identifier: Apache-2.0
#pragma once
#include <cstdint>
#include <vector>

#include "foveal/core/exec_context.hpp"
#include "foveal/core/tensor_view.hpp"

namespace foveal {

/// Which detector's anchor convention.
///  - Torchvision: AnchorGenerator. aspect ratio = h / w; cell anchors computed in float32 and
///    rounded half to even; boxes (x1, y1, x2, y2).
///  - Matterport: Mask R-CNN (matterport). ratio = w / h; cell anchors in float64, not rounded;
///    boxes (y1, x1, y2, x2), matterport's order.
enum class AnchorStyle : int { Torchvision = 0, Matterport = 1 };

/// One level of an anchor grid: `rows` x `cols` grid points, point (i, j) at pixel
/// (j * step_x, i * step_y), `num_cells` cell anchors per point.
struct AnchorLevel {
  std::int64_t rows = 0, cols = 0;
  std::int64_t step_y = 0, step_x = 0;
  std::int64_t num_cells = 0;
};

/// Cell anchors (zero-centred boxes): row k from `sizes[k]` and `aspect_ratios[k]` (both (A,)
/// float64, CPU) in `style`'s convention, written to `out` (A, 4) float64 on the CPU.
void cell_anchors(ConstTensorView sizes, ConstTensorView aspect_ratios, AnchorStyle style, TensorView out);

/// The anchors of every level, in one call: for each level in order, for each grid point
/// row-major, each of the level's cell anchors (the next `num_cells` rows of `cells`) shifted to
/// the point. `cells` (sum num_cells, 4) and `out` (sum rows * cols * num_cells, 4): same device,
/// same dtype (float32, float64; float16 on CUDA), C-contiguous. Shifts are integers converted to
/// the dtype, then added (torchvision's arithmetic).
void anchor_grid(ConstTensorView cells, const std::vector<AnchorLevel>& levels, AnchorStyle style, TensorView out,
                 const ExecContext& ctx = {});

}  // namespace foveal
