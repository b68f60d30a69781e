// SPDX-License-Identifier: Apache-2.0
#include "foveal/ops/conv2d.hpp"

#include <cstdint>

#include "foveal/math/conv.hpp"
#include "ops/backend.hpp"
#include "ops/validate.hpp"

namespace foveal {
namespace {

constexpr std::int64_t kMaxParam = 2147483647;  // keeps the geometry's products in int64

bool given(ConstTensorView v) { return v.ndim() != 0 || v.data() != nullptr; }

void check_pair(const char* op, const char* name, std::int64_t h, std::int64_t w, std::int64_t min) {
  FOVEAL_CHECK_VALUE(h >= min && w >= min && h <= kMaxParam && w <= kMaxParam, op, ": ", name, " must be ",
                     min > 0 ? "positive" : "non-negative", " (and at most ", kMaxParam, "), got (", h, ", ", w,
                     ")");
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

/// Device, dtype, contiguity and data of `xs` (the first one's dtype is checked against the
/// supported ones; absent optional arrays are skipped).
void check_common(const char* op, std::initializer_list<check::Named> xs) {
  const check::Named& first = *xs.begin();
  check_value_dtype(op, first);
  for (const check::Named& x : xs) {
    if (!given(x.view)) continue;
    check::same_device(op, {first, x});
    check::same_dtype(op, {first, x});
    check::contiguous(op, {x});
    check::not_null(op, {x});
  }
}

void check_epilogue(const char* op, const Epilogue& e) {
  const int a = static_cast<int>(e.activation);
  FOVEAL_CHECK_VALUE(a >= 0 && a <= 4, op, ": activation must be None, relu, leaky_relu, silu or sigmoid, got code ",
                     a);
  FOVEAL_CHECK_VALUE(e.negative_slope == e.negative_slope, op, ": negative_slope must not be NaN");
}

}  // namespace

ConvOutputSize conv2d_output_size(const char* op, std::int64_t in_h, std::int64_t in_w, std::int64_t kernel_h,
                                  std::int64_t kernel_w, const Conv2dParams& p) {
  check_pair(op, "stride", p.stride_h, p.stride_w, 1);
  check_pair(op, "padding", p.pad_top, p.pad_left, 0);
  check_pair(op, "padding", p.pad_bottom, p.pad_right, 0);
  check_pair(op, "dilation", p.dilation_h, p.dilation_w, 1);
  check_pair(op, "kernel size", kernel_h, kernel_w, 1);
  FOVEAL_CHECK_VALUE(p.groups >= 1 && p.groups <= kMaxParam, op, ": groups must be positive, got ", p.groups);
  const std::int64_t oh =
      math::conv_output_size(in_h, kernel_h, p.stride_h, p.pad_top, p.pad_bottom, p.dilation_h);
  const std::int64_t ow =
      math::conv_output_size(in_w, kernel_w, p.stride_w, p.pad_left, p.pad_right, p.dilation_w);
  FOVEAL_CHECK_VALUE(oh >= 1 && ow >= 1, op, ": weight's kernel (", kernel_h, ", ", kernel_w, ") with dilation (",
                     p.dilation_h, ", ", p.dilation_w, ") spans (", p.dilation_h * (kernel_h - 1) + 1, ", ",
                     p.dilation_w * (kernel_w - 1) + 1, "), larger than the padded input (",
                     in_h + p.pad_top + p.pad_bottom, ", ", in_w + p.pad_left + p.pad_right,
                     "): the output size would be (", oh, ", ", ow, "); it must be at least 1");
  return {oh, ow};
}

namespace {

/// Shared by conv2d and conv_transpose2d once the output size is known: bias (C_out,), out and
/// residual of the output's shape, then the dtype / device / layout checks and the epilogue.
void check_outputs(const char* op, ConstTensorView input, ConstTensorView weight, ConstTensorView bias,
                   ConstTensorView residual, TensorView out, std::int64_t cout, const ConvOutputSize& o,
                   const Epilogue& epi) {
  const int nd = input.ndim();
  if (given(bias))
    FOVEAL_CHECK_VALUE(bias.ndim() == 1 && bias.size(0) == cout, op, ": bias must have shape (", cout,
                       ",) (one value per output channel), got ", bias.shape().str());
  Shape want = input.shape();
  want[nd - 3] = cout, want[nd - 2] = o.h, want[nd - 1] = o.w;
  FOVEAL_CHECK_VALUE(out.shape() == want, op, ": out must have shape ", want.str(), ", got ", out.shape().str());
  if (given(residual))
    FOVEAL_CHECK_VALUE(residual.shape() == want, op, ": residual must have the output's shape ", want.str(),
                       ", got ", residual.shape().str());
  check_common(op, {{"input", input}, {"weight", weight}, {"bias", bias}, {"residual", residual}, {"out", out}});
  check_epilogue(op, epi);
}

}  // namespace

void conv2d(ConstTensorView input, ConstTensorView weight, ConstTensorView bias, ConstTensorView residual,
            TensorView out, const Conv2dParams& p, const Epilogue& epi, const ExecContext& ctx) {
  constexpr const char* op = "conv2d";
  const int nd = input.ndim();
  bool ok = nd == 3 || nd == 4;
  for (int i = nd == 4 ? 1 : 0; ok && i < nd; ++i) ok = input.size(i) > 0;
  FOVEAL_CHECK_VALUE(ok, op, ": input must have shape (N, C_in, H, W) or (C_in, H, W) with C_in, H and W positive, got ",
                     input.shape().str());
  ok = weight.ndim() == 4;
  for (int i = 0; ok && i < 4; ++i) ok = weight.size(i) > 0;
  FOVEAL_CHECK_VALUE(ok, op, ": weight must have shape (C_out, C_in / groups, kH, kW) with positive sizes, got ",
                     weight.shape().str());
  const std::int64_t cin = input.size(nd - 3), cout = weight.size(0);
  FOVEAL_CHECK_VALUE(p.groups >= 1, op, ": groups must be positive, got ", p.groups);
  FOVEAL_CHECK_VALUE(cin % p.groups == 0, op, ": groups (", p.groups, ") must divide input's channels (C_in = ", cin,
                     ")");
  FOVEAL_CHECK_VALUE(cout % p.groups == 0, op, ": groups (", p.groups,
                     ") must divide weight's output channels (C_out = ", cout, ")");
  FOVEAL_CHECK_VALUE(weight.size(1) * p.groups == cin, op, ": weight must have C_in / groups = ", cin / p.groups,
                     " input channels (input has C_in = ", cin, ", groups = ", p.groups, "), got weight shape ",
                     weight.shape().str());
  const ConvOutputSize o =
      conv2d_output_size(op, input.size(nd - 2), input.size(nd - 1), weight.size(2), weight.size(3), p);
  check_outputs(op, input, weight, bias, residual, out, cout, o, epi);
  if (out.numel() == 0) return;
  switch (input.device().type) {
    case DeviceType::CPU: return cpu::conv2d(input, weight, bias, residual, out, p, epi, ctx);
    case DeviceType::CUDA: return FOVEAL_CUDA_CALL(conv2d, input, weight, bias, residual, out, p, epi, ctx);
  }
}

ConvOutputSize conv_transpose2d_output_size(const char* op, std::int64_t in_h, std::int64_t in_w,
                                            std::int64_t kernel_h, std::int64_t kernel_w,
                                            const ConvTranspose2dParams& p) {
  check_pair(op, "stride", p.stride_h, p.stride_w, 1);
  check_pair(op, "padding", p.pad_h, p.pad_w, 0);
  check_pair(op, "output_padding", p.output_padding_h, p.output_padding_w, 0);
  check_pair(op, "dilation", p.dilation_h, p.dilation_w, 1);
  check_pair(op, "kernel size", kernel_h, kernel_w, 1);
  FOVEAL_CHECK_VALUE(p.groups >= 1 && p.groups <= kMaxParam, op, ": groups must be positive, got ", p.groups);
  // torch's rule: each output_padding below its stride or its dilation.
  FOVEAL_CHECK_VALUE((p.output_padding_h < p.stride_h || p.output_padding_h < p.dilation_h) &&
                         (p.output_padding_w < p.stride_w || p.output_padding_w < p.dilation_w),
                     op, ": output_padding must be smaller than stride or dilation, got output_padding (",
                     p.output_padding_h, ", ", p.output_padding_w, "), stride (", p.stride_h, ", ", p.stride_w,
                     "), dilation (", p.dilation_h, ", ", p.dilation_w, ")");
  const std::int64_t oh = math::conv_transpose_output_size(in_h, kernel_h, p.stride_h, p.pad_h,
                                                           p.output_padding_h, p.dilation_h);
  const std::int64_t ow = math::conv_transpose_output_size(in_w, kernel_w, p.stride_w, p.pad_w,
                                                           p.output_padding_w, p.dilation_w);
  FOVEAL_CHECK_VALUE(oh >= 1 && ow >= 1, op, ": padding (", p.pad_h, ", ", p.pad_w,
                     ") crops the whole output: its size would be (", oh, ", ", ow, "); it must be at least 1");
  return {oh, ow};
}

void conv_transpose2d(ConstTensorView input, ConstTensorView weight, ConstTensorView bias, ConstTensorView residual,
                      TensorView out, const ConvTranspose2dParams& p, const Epilogue& epi, const ExecContext& ctx) {
  constexpr const char* op = "conv_transpose2d";
  const int nd = input.ndim();
  bool ok = nd == 3 || nd == 4;
  for (int i = nd == 4 ? 1 : 0; ok && i < nd; ++i) ok = input.size(i) > 0;
  FOVEAL_CHECK_VALUE(ok, op, ": input must have shape (N, C_in, H, W) or (C_in, H, W) with C_in, H and W positive, got ",
                     input.shape().str());
  ok = weight.ndim() == 4;
  for (int i = 0; ok && i < 4; ++i) ok = weight.size(i) > 0;
  FOVEAL_CHECK_VALUE(ok, op, ": weight must have shape (C_in, C_out / groups, kH, kW) with positive sizes, got ",
                     weight.shape().str());
  const std::int64_t cin = input.size(nd - 3);
  FOVEAL_CHECK_VALUE(p.groups >= 1, op, ": groups must be positive, got ", p.groups);
  FOVEAL_CHECK_VALUE(cin % p.groups == 0, op, ": groups (", p.groups, ") must divide input's channels (C_in = ", cin,
                     ")");
  FOVEAL_CHECK_VALUE(weight.size(0) == cin, op, ": weight must have C_in = ", cin,
                     " rows (input's channels), got weight shape ", weight.shape().str());
  const std::int64_t cout = weight.size(1) * p.groups;
  const ConvOutputSize o =
      conv_transpose2d_output_size(op, input.size(nd - 2), input.size(nd - 1), weight.size(2), weight.size(3), p);
  check_outputs(op, input, weight, bias, residual, out, cout, o, epi);
  if (out.numel() == 0) return;
  switch (input.device().type) {
    case DeviceType::CPU: return cpu::conv_transpose2d(input, weight, bias, residual, out, p, epi, ctx);
    case DeviceType::CUDA: return FOVEAL_CUDA_CALL(conv_transpose2d, input, weight, bias, residual, out, p, epi, ctx);
  }
}

void linear(ConstTensorView x, ConstTensorView weight, ConstTensorView bias, TensorView out, const Epilogue& epi,
            const ExecContext& ctx) {
  constexpr const char* op = "linear";
  FOVEAL_CHECK_VALUE(x.ndim() >= 1, op, ": input must have shape (..., in_features), got ", x.shape().str());
  FOVEAL_CHECK_VALUE(weight.ndim() == 2, op, ": weight must have shape (out_features, in_features), got ",
                     weight.shape().str());
  const std::int64_t k = x.size(x.ndim() - 1), n = weight.size(0);
  FOVEAL_CHECK_VALUE(weight.size(1) == k, op, ": weight must have in_features = ", k,
                     " columns (input's last dimension), got weight shape ", weight.shape().str());
  if (given(bias))
    FOVEAL_CHECK_VALUE(bias.ndim() == 1 && bias.size(0) == n, op, ": bias must have shape (", n,
                       ",) (out_features), got ", bias.shape().str());
  Shape want = x.shape();
  want[x.ndim() - 1] = n;
  FOVEAL_CHECK_VALUE(out.shape() == want, op, ": out must have shape ", want.str(), ", got ", out.shape().str());
  check_common(op, {{"input", x}, {"weight", weight}, {"bias", bias}, {"out", out}});
  check_epilogue(op, epi);
  if (out.numel() == 0) return;
  switch (x.device().type) {
    case DeviceType::CPU: return cpu::linear(x, weight, bias, out, epi, ctx);
    case DeviceType::CUDA: return FOVEAL_CUDA_CALL(linear, x, weight, bias, out, epi, ctx);
  }
}

void gemm(ConstTensorView a, ConstTensorView b, TensorView out, const ExecContext& ctx) {
  constexpr const char* op = "gemm";
  check::shape(op, {"a", a}, Shape{-1, -1}, "(M, K)");
  check::shape(op, {"b", b}, Shape{a.size(1), -1}, "(K, N) with K = a's columns");
  check::shape(op, {"out", out}, Shape{a.size(0), b.size(1)}, "(M, N)");
  check_common(op, {{"a", a}, {"b", b}, {"out", out}});
  if (out.numel() == 0) return;
  switch (a.device().type) {
    case DeviceType::CPU: return cpu::matmul(a, b, out, ctx);
    case DeviceType::CUDA: return FOVEAL_CUDA_CALL(matmul, a, b, out, ctx);
  }
}

}  // namespace foveal
