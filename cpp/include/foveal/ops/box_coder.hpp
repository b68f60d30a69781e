// SPDX-License-Identifier: Apache-2.0
#pragma once
#include <array>

#include "foveal/core/exec_context.hpp"
#include "foveal/core/tensor_view.hpp"

namespace foveal {

/// Faster R-CNN box encoding (torchvision BoxCoder.encode_single): row i of `out` (N, 4) is
/// (wx * (gcx - pcx) / pw, wy * (gcy - pcy) / ph, ww * log(gw / pw), wh * log(gh / ph)) for
/// g = `reference_boxes`[i] and p = `proposals`[i], both (N, 4) (x1, y1, x2, y2).
/// Same device and dtype (float32, float64; float16 on CUDA, computed in float32), C-contiguous.
void encode_boxes(ConstTensorView reference_boxes, ConstTensorView proposals, const std::array<double, 4>& weights,
                  TensorView out, const ExecContext& ctx = {});

/// Faster R-CNN box decoding (torchvision BoxCoder.decode_single): `rel_codes` (N, 4 * K) or
/// (N, K, 4) against `boxes` (N, 4), into `out` of rel_codes' shape. dw / ww and dh / wh are
/// clamped from above at `bbox_xform_clip`. Same device and dtype rules as encode_boxes.
void decode_boxes(ConstTensorView rel_codes, ConstTensorView boxes, const std::array<double, 4>& weights,
                  double bbox_xform_clip, TensorView out, const ExecContext& ctx = {});

}  // namespace foveal
