// SPDX-License-Identifier: Apache-2.0
#include "foveal/ops/box_coder.hpp"

#include <cstdint>

#include "ops/backend.hpp"
#include "ops/validate.hpp"

namespace foveal {

void encode_boxes(ConstTensorView reference_boxes, ConstTensorView proposals, const std::array<double, 4>& weights,
                  TensorView out, const ExecContext& ctx) {
  constexpr const char* op = "encode_boxes";
  const check::Named r{"reference_boxes", reference_boxes}, p{"proposals", proposals}, o{"out", out};
  check::shape(op, r, {-1, 4}, "(N, 4)");
  const std::int64_t n = reference_boxes.size(0);
  FOVEAL_CHECK_VALUE(proposals.ndim() == 2 && proposals.size(0) == n && proposals.size(1) == 4, op,
                     ": proposals must have shape (N, 4) with N = ", n, " (the number of reference_boxes), got ",
                     proposals.shape().str());
  FOVEAL_CHECK_VALUE(out.shape() == reference_boxes.shape(), op, ": out must have shape ",
                     reference_boxes.shape().str(), ", got ", out.shape().str());
  check::same_device(op, {r, p, o});
  check::box_float_dtype(op, r);
  check::same_dtype(op, {r, p, o});
  check::contiguous(op, {r, p, o});
  check::not_null(op, {r, p, o});
  if (n == 0) return;
  switch (out.device().type) {
    case DeviceType::CPU: return cpu::encode_boxes(reference_boxes, proposals, weights, out, ctx);
    case DeviceType::CUDA: return FOVEAL_CUDA_CALL(encode_boxes, reference_boxes, proposals, weights, out, ctx);
  }
}

void decode_boxes(ConstTensorView rel_codes, ConstTensorView boxes, const std::array<double, 4>& weights,
                  double bbox_xform_clip, TensorView out, const ExecContext& ctx) {
  constexpr const char* op = "decode_boxes";
  const check::Named c{"rel_codes", rel_codes}, b{"boxes", boxes}, o{"out", out};
  const bool flat = rel_codes.ndim() == 2 && rel_codes.size(1) % 4 == 0;
  const bool split = rel_codes.ndim() == 3 && rel_codes.size(2) == 4;
  FOVEAL_CHECK_VALUE(flat || split, op, ": rel_codes must have shape (N, 4 * K) or (N, K, 4), got ",
                     rel_codes.shape().str());
  const std::int64_t n = rel_codes.size(0);
  FOVEAL_CHECK_VALUE(boxes.ndim() == 2 && boxes.size(0) == n && boxes.size(1) == 4, op,
                     ": boxes must have shape (N, 4) with N = ", n, " (the rows of rel_codes), got ",
                     boxes.shape().str());
  FOVEAL_CHECK_VALUE(out.shape() == rel_codes.shape(), op, ": out must have shape ", rel_codes.shape().str(),
                     ", got ", out.shape().str());
  check::same_device(op, {c, b, o});
  check::box_float_dtype(op, c);
  check::same_dtype(op, {c, b, o});
  check::contiguous(op, {c, b, o});
  check::not_null(op, {c, b, o});
  if (rel_codes.numel() == 0) return;
  switch (out.device().type) {
    case DeviceType::CPU: return cpu::decode_boxes(rel_codes, boxes, weights, bbox_xform_clip, out, ctx);
    case DeviceType::CUDA:
      return FOVEAL_CUDA_CALL(decode_boxes, rel_codes, boxes, weights, bbox_xform_clip, out, ctx);
  }
}

}  // namespace foveal
