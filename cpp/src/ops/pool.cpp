// SPDX-License-Identifier: Apache-2.0
#include "foveal/ops/pool.hpp"

#include <cstdint>

#include "foveal/math/pool.hpp"
#include "ops/backend.hpp"
#include "ops/validate.hpp"

namespace foveal {
namespace {

constexpr std::int64_t kMaxParam = 2147483647;  // keeps every product in the window math in int64

void check_param(const char* op, const char* name, std::int64_t h, std::int64_t w, std::int64_t min) {
  FOVEAL_CHECK_VALUE(h >= min && w >= min && h <= kMaxParam && w <= kMaxParam, op, ": ", name, " must be ",
                     min > 0 ? "positive" : "non-negative", " (and at most ", kMaxParam, "), got (", h, ", ", w,
                     ")");
}

/// The input as (planes, H, W): (N, C, H, W) or (C, H, W) with C, H, W positive.
void check_input(const char* op, ConstTensorView input) {
  const int nd = input.ndim();
  bool ok = nd == 3 || nd == 4;
  for (int i = nd == 4 ? 1 : 0; ok && i < nd; ++i) ok = input.size(i) > 0;
  FOVEAL_CHECK_VALUE(ok, op, ": input must have shape (N, C, H, W) or (C, H, W) with C, H and W positive, got ",
                     input.shape().str());
}

Shape pooled_shape(ConstTensorView input, std::int64_t oh, std::int64_t ow) {
  Shape s = input.shape();
  s[s.ndim() - 2] = oh;
  s[s.ndim() - 1] = ow;
  return s;
}

void check_out(const char* op, const check::Named& a, const Shape& want) {
  FOVEAL_CHECK_VALUE(a.view.shape() == want, op, ": ", a.name, " must have shape ", want.str(), ", got ",
                     a.view.shape().str());
}

void check_value_dtype(const char* op, const check::Named& a) {
  const DType t = a.view.dtype();
  const bool cuda = a.view.device().type == DeviceType::CUDA;
  const bool ok = t == DType::Float32 || t == DType::Float64 ||
                  (cuda && (t == DType::Float16 || t == DType::BFloat16));
  FOVEAL_CHECK_TYPE(ok, op, ": ", a.name, " must be float32 or float64",
                    cuda ? ", float16 or bfloat16" : " (float16 and bfloat16 only on CUDA)", ", got ",
                    dtype_name(t));
}

bool given(ConstTensorView v) { return v.ndim() != 0 || v.data() != nullptr; }

/// Checks shared by every pooling op; `indices` may be absent.
void check_arrays(const char* op, ConstTensorView input, TensorView out, TensorView indices, const Shape& want) {
  const check::Named i{"input", input}, o{"out", out}, x{"indices", indices};
  check_out(op, o, want);
  check::same_device(op, {i, o});
  check_value_dtype(op, i);
  check::same_dtype(op, {i, o});
  check::contiguous(op, {i, o});
  check::not_null(op, {i, o});
  if (given(indices)) {
    check_out(op, x, want);
    check::same_device(op, {i, x});
    FOVEAL_CHECK_TYPE(indices.dtype() == DType::Int64, op, ": indices must be int64, got ",
                      dtype_name(indices.dtype()));
    check::contiguous(op, {x});
    check::not_null(op, {x});
  }
}

}  // namespace

PoolOutputSize pool2d_output_size(const char* op, std::int64_t in_h, std::int64_t in_w, const Pool2dParams& p) {
  check_param(op, "kernel_size", p.kernel_h, p.kernel_w, 1);
  check_param(op, "stride", p.stride_h, p.stride_w, 1);
  check_param(op, "padding", p.pad_h, p.pad_w, 0);
  check_param(op, "dilation", p.dilation_h, p.dilation_w, 1);
  FOVEAL_CHECK_VALUE(p.pad_h <= p.kernel_h / 2 && p.pad_w <= p.kernel_w / 2, op,
                     ": padding must be at most half of kernel_size (", p.kernel_h / 2, ", ", p.kernel_w / 2,
                     "), got (", p.pad_h, ", ", p.pad_w, ")");
  const std::int64_t oh = math::pool_output_size(in_h, p.kernel_h, p.stride_h, p.pad_h, p.dilation_h, p.ceil_mode);
  const std::int64_t ow = math::pool_output_size(in_w, p.kernel_w, p.stride_w, p.pad_w, p.dilation_w, p.ceil_mode);
  FOVEAL_CHECK_VALUE(oh >= 1 && ow >= 1, op, ": kernel_size (", p.kernel_h, ", ", p.kernel_w, ") with dilation (",
                     p.dilation_h, ", ", p.dilation_w, ") does not fit the input (", in_h, ", ", in_w,
                     ") with padding (", p.pad_h, ", ", p.pad_w, "): the output size would be (", oh, ", ", ow,
                     "); it must be at least 1");
  return {oh, ow};
}

void max_pool2d(ConstTensorView input, TensorView out, TensorView indices, const Pool2dParams& p,
                const ExecContext& ctx) {
  constexpr const char* op = "max_pool2d";
  check_input(op, input);
  const int nd = input.ndim();
  const PoolOutputSize o = pool2d_output_size(op, input.size(nd - 2), input.size(nd - 1), p);
  check_arrays(op, input, out, indices, pooled_shape(input, o.h, o.w));
  if (out.numel() == 0) return;
  if (!given(indices)) indices = TensorView{};
  switch (input.device().type) {
    case DeviceType::CPU: return cpu::max_pool2d(input, out, indices, p, ctx);
    case DeviceType::CUDA: return FOVEAL_CUDA_CALL(max_pool2d, input, out, indices, p, ctx);
  }
}

void avg_pool2d(ConstTensorView input, TensorView out, const Pool2dParams& p, bool count_include_pad,
                std::int64_t divisor_override, const ExecContext& ctx) {
  constexpr const char* op = "avg_pool2d";
  check_input(op, input);
  FOVEAL_CHECK_VALUE(p.dilation_h == 1 && p.dilation_w == 1, op, ": dilation must be (1, 1), got (", p.dilation_h,
                     ", ", p.dilation_w, ")");
  const int nd = input.ndim();
  const PoolOutputSize o = pool2d_output_size(op, input.size(nd - 2), input.size(nd - 1), p);
  check_arrays(op, input, out, TensorView{}, pooled_shape(input, o.h, o.w));
  if (out.numel() == 0) return;
  switch (input.device().type) {
    case DeviceType::CPU: return cpu::avg_pool2d(input, out, p, count_include_pad, divisor_override, ctx);
    case DeviceType::CUDA:
      return FOVEAL_CUDA_CALL(avg_pool2d, input, out, p, count_include_pad, divisor_override, ctx);
  }
}

namespace {
void check_adaptive(const char* op, ConstTensorView input, TensorView out, TensorView indices) {
  check_input(op, input);
  const int nd = input.ndim();
  FOVEAL_CHECK_VALUE(out.ndim() == nd && out.size(nd - 2) >= 0 && out.size(nd - 1) >= 0, op,
                     ": out must have the input's number of dimensions (", nd, "), got shape ", out.shape().str());
  check_arrays(op, input, out, indices, pooled_shape(input, out.size(nd - 2), out.size(nd - 1)));
}
}  // namespace

void adaptive_max_pool2d(ConstTensorView input, TensorView out, TensorView indices, const ExecContext& ctx) {
  constexpr const char* op = "adaptive_max_pool2d";
  check_adaptive(op, input, out, indices);
  if (out.numel() == 0) return;
  if (!given(indices)) indices = TensorView{};
  switch (input.device().type) {
    case DeviceType::CPU: return cpu::adaptive_max_pool2d(input, out, indices, ctx);
    case DeviceType::CUDA: return FOVEAL_CUDA_CALL(adaptive_max_pool2d, input, out, indices, ctx);
  }
}

void adaptive_avg_pool2d(ConstTensorView input, TensorView out, const ExecContext& ctx) {
  constexpr const char* op = "adaptive_avg_pool2d";
  check_adaptive(op, input, out, TensorView{});
  if (out.numel() == 0) return;
  switch (input.device().type) {
    case DeviceType::CPU: return cpu::adaptive_avg_pool2d(input, out, ctx);
    case DeviceType::CUDA: return FOVEAL_CUDA_CALL(adaptive_avg_pool2d, input, out, ctx);
  }
}

}  // namespace foveal
