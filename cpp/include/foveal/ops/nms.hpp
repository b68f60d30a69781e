// SPDX-License-Identifier: Apache-2.0
#pragma once
#include <cstdint>

#include "foveal/core/exec_context.hpp"
#include "foveal/core/tensor_view.hpp"

namespace foveal {

/// Greedy non-maximum suppression.
///
/// Visits boxes by decreasing score (equal scores: lower index first; NaN scores last) and keeps a
/// box unless a kept box overlaps it with IoU > `iou_threshold`. Any real threshold, as
/// torchvision: below 0 every pair with a non-NaN IoU suppresses (disjoint boxes too, IoU 0),
/// from 1 up nothing does; NaN throws ValueError. Writes the kept indices, in visiting order, to
/// the front of `keep` and returns how many there are.
///
/// `boxes` (N, 4) as in box_iou, `scores` (N,) of the same dtype, `keep` int64 with at least N
/// elements; all on one device, C-contiguous. Every backend keeps the same set (IoU is computed
/// with the same IEEE operations everywhere). On CUDA the call waits for the stream to learn the
/// count. The CPU backend searches grids of box centres, one per size level, stored sparse when
/// boxes are spread out, so its work follows the number of boxes near each kept box rather than
/// N times the number kept, whatever the span of the boxes or the size of the largest.
std::int64_t nms(ConstTensorView boxes, ConstTensorView scores, double iou_threshold, TensorView keep,
                 const ExecContext& ctx = {});

}  // namespace foveal
