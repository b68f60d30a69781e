// SPDX-License-Identifier: Apache-2.0
// The CPU greedy NMS, for other CPU kernels (fused detection post-processing).
#pragma once
#include <cstdint>

namespace foveal::cpu {

/// Greedy NMS of `m` boxes (x1, y1, x2, y2) already in visiting order (box q is visited q-th),
/// with nms's IoU and threshold rules. Writes the kept positions, ascending, to `keep` (room for
/// m) and returns how many. A plain scan for small m, the grid NMS above. T: float or double.
template <typename T>
std::int64_t nms_presorted(const T* boxes, std::int64_t m, double iou_threshold, std::int64_t* keep);

}  // namespace foveal::cpu
