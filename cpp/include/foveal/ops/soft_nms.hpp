// SPDX-License-Identifier: Apache-2.0
#pragma once
#include <cstdint>

#include "foveal/core/exec_context.hpp"
#include "foveal/core/tensor_view.hpp"

namespace foveal {

enum class SoftNmsMethod : int { Linear = 0, Gaussian = 1 };

/// Soft non-maximum suppression (Bodla et al., 2017).
///
/// Repeatedly selects the box with the highest current score (ties: lower index), stops when that
/// score is below `score_threshold` (or NaN), and multiplies the score of every box not yet
/// selected by exp(-IoU^2 / sigma) (Gaussian) or, where IoU > iou_threshold, by 1 - IoU (Linear).
/// Writes the selected indices, in selection order, to the front of `keep` (int64, >= N elements)
/// and their scores at selection to `kept_scores` (scores' dtype, >= N elements); returns the count.
///
/// `boxes` (N, 4) (x1, y1, x2, y2), `scores` (N,), same dtype (float32 or float64 on the CPU;
/// float16 too on CUDA, computed in float32); `idxs` (N,) int64 class labels for per-class
/// soft-NMS (boxes of different labels never interact) or a default-constructed view for none.
/// A box with a non-finite coordinate or no area overlaps nothing. `sigma` > 0 (Gaussian).
std::int64_t soft_nms(ConstTensorView boxes, ConstTensorView scores, ConstTensorView idxs, double iou_threshold,
                      double sigma, double score_threshold, SoftNmsMethod method, TensorView keep,
                      TensorView kept_scores, const ExecContext& ctx = {});

}  // namespace foveal
