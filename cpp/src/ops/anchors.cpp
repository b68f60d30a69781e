// SPDX-License-Identifier: Apache-2.0
#include "foveal/ops/anchors.hpp"

#include <cmath>
#include <cstdint>

#include "foveal/math/anchors.hpp"
#include "ops/backend.hpp"
#include "ops/validate.hpp"

namespace foveal {

void cell_anchors(ConstTensorView sizes, ConstTensorView aspect_ratios, AnchorStyle style, TensorView out) {
  constexpr const char* op = "cell_anchors";
  const check::Named s{"sizes", sizes}, r{"aspect_ratios", aspect_ratios}, o{"out", out};
  check::shape(op, s, {-1}, "(A,)");
  const std::int64_t a = sizes.size(0);
  FOVEAL_CHECK_VALUE(aspect_ratios.ndim() == 1 && aspect_ratios.size(0) == a, op,
                     ": aspect_ratios must have shape (A,) with A = ", a, " (the number of sizes), got ",
                     aspect_ratios.shape().str());
  FOVEAL_CHECK_VALUE(out.ndim() == 2 && out.size(0) == a && out.size(1) == 4, op, ": out must have shape (", a,
                     ", 4), got ", out.shape().str());
  for (const check::Named* x : {&s, &r, &o}) {
    FOVEAL_CHECK_DEVICE(x->view.device().type == DeviceType::CPU, op, ": ", x->name, " must be on the CPU");
    FOVEAL_CHECK_TYPE(x->view.dtype() == DType::Float64, op, ": ", x->name, " must be float64, got ",
                      dtype_name(x->view.dtype()));
  }
  check::contiguous(op, {s, r, o});
  check::not_null(op, {s, r, o});
  const double* sz = sizes.data_as<double>();
  const double* ar = aspect_ratios.data_as<double>();
  for (std::int64_t k = 0; k < a; ++k) {
    FOVEAL_CHECK_VALUE(std::isfinite(sz[k]) && sz[k] > 0, op, ": sizes must be positive and finite, got ", sz[k]);
    FOVEAL_CHECK_VALUE(std::isfinite(ar[k]) && ar[k] > 0, op, ": aspect_ratios must be positive and finite, got ",
                       ar[k]);
  }
  double* dst = out.data_as<double>();
  for (std::int64_t k = 0; k < a; ++k) {
    if (style == AnchorStyle::Matterport)
      math::matterport_cell_anchor(sz[k], ar[k], dst + 4 * k);
    else
      math::torchvision_cell_anchor(sz[k], ar[k], dst + 4 * k);
  }
}

void anchor_grid(ConstTensorView cells, const std::vector<AnchorLevel>& levels, AnchorStyle style, TensorView out,
                 const ExecContext& ctx) {
  constexpr const char* op = "anchor_grid";
  const check::Named c{"cells", cells}, o{"out", out};
  check::shape(op, c, {-1, 4}, "(A, 4)");
  std::int64_t cell_total = 0, total = 0;
  for (std::size_t l = 0; l < levels.size(); ++l) {
    const AnchorLevel& lv = levels[l];
    FOVEAL_CHECK_VALUE(lv.rows >= 0 && lv.cols >= 0 && lv.num_cells >= 0, op, ": level ", l,
                       " must have non-negative rows, cols and num_cells, got ", lv.rows, ", ", lv.cols, ", ",
                       lv.num_cells);
    FOVEAL_CHECK_VALUE(lv.step_y >= 0 && lv.step_x >= 0, op, ": level ", l,
                       " must have non-negative strides, got ", lv.step_y, ", ", lv.step_x);
    FOVEAL_CHECK_VALUE((lv.rows == 0 || lv.step_y <= INT32_MAX / lv.rows) &&
                           (lv.cols == 0 || lv.step_x <= INT32_MAX / lv.cols),
                       op, ": level ", l, " reaches past 2^31 pixels");
    cell_total += lv.num_cells;
    total += lv.rows * lv.cols * lv.num_cells;
  }
  FOVEAL_CHECK_VALUE(cells.size(0) == cell_total, op, ": cells must have ", cell_total,
                     " rows (the levels' num_cells summed), got ", cells.shape().str());
  FOVEAL_CHECK_VALUE(out.ndim() == 2 && out.size(0) == total && out.size(1) == 4, op, ": out must have shape (",
                     total, ", 4), got ", out.shape().str());
  check::same_device(op, {c, o});
  check::box_float_dtype(op, c);
  check::same_dtype(op, {c, o});
  check::contiguous(op, {c, o});
  check::not_null(op, {c, o});
  if (total == 0) return;
  switch (out.device().type) {
    case DeviceType::CPU: return cpu::anchor_grid(cells, levels, style, out, ctx);
    case DeviceType::CUDA: return FOVEAL_CUDA_CALL(anchor_grid, cells, levels, style, out, ctx);
  }
}

}  // namespace foveal
