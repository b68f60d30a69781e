// SPDX-License-Identifier: Apache-2.0
#pragma once
#include <cstdint>

#include "foveal/core/exec_context.hpp"
#include "foveal/core/tensor_view.hpp"

namespace foveal {

/// Greedy non-maximum suppression of rotated boxes (cx, cy, w, h, angle) with box_iou_rotated's
/// IoU. The rules of nms: boxes visited by decreasing score (equal scores: lower index first, NaN
/// scores last); a box is kept unless a kept box overlaps it with IoU > `iou_threshold`; any real
/// threshold (below 0 every pair with a non-NaN IoU suppresses, from 1 up nothing does; NaN
/// throws ValueError). Writes the kept indices, in visiting order, to the front of `keep` and
/// returns their count.
///
/// `boxes` (N, 5), `scores` (N,) of the same dtype (float32 or float64), `keep` int64 with at
/// least N elements, C-contiguous, on one device. The CPU backend searches grids of box centres,
/// one per size level, and tests only pairs whose circumscribed circles, bounding boxes and areas
/// allow IoU > threshold before the exact polygon IoU; the CUDA backend builds the bitmask of all
/// ranked pairs (as nms) with the same pair rule, at most 65535 * 64 boxes.
std::int64_t nms_rotated(ConstTensorView boxes, ConstTensorView scores, double iou_threshold, TensorView keep,
                         const ExecContext& ctx = {});

/// nms_rotated within each category: boxes with different `idxs` (N,) int64 never suppress each
/// other. The keep list is in visiting order over all categories.
std::int64_t batched_nms_rotated(ConstTensorView boxes, ConstTensorView scores, ConstTensorView idxs,
                                 double iou_threshold, TensorView keep, const ExecContext& ctx = {});

}  // namespace foveal
