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

/// Greedy non-maximum suppression within each class: boxes of different classes never suppress
/// each other.
///
/// Same visiting order, tie rule and thresholds as nms; `idxs` (N,) int64 or int32 holds each
/// box's class (any values). Writes the kept indices, by decreasing score over all classes (equal
/// scores: lower index first), to the front of `keep` (int64, at least N elements) and returns
/// how many there are; torchvision.ops.batched_nms's keep list. Classes are independent: the CPU
/// backend runs them in parallel, the CUDA backend builds IoU bitmasks only within each class
/// (after a segmented sort), never across classes. On CUDA the call waits for the stream.
std::int64_t batched_nms(ConstTensorView boxes, ConstTensorView scores, ConstTensorView idxs, double iou_threshold,
                         TensorView keep, const ExecContext& ctx = {});

}  // namespace foveal
