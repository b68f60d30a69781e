// SPDX-License-Identifier: Apache-2.0
#include "foveal/ops/elementwise.hpp"

#include <cstdint>
#include <initializer_list>

#include "ops/backend.hpp"
#include "ops/validate.hpp"

namespace foveal {
namespace {

bool given(ConstTensorView v) { return v.ndim() != 0 || v.data() != nullptr; }

/// dtype of the first array (a float type), then device / dtype / contiguity of every given one.
void check_arrays(const char* op, std::initializer_list<check::Named> xs) {
  const check::Named& first = *xs.begin();
  const DType t = first.view.dtype();
  const bool cuda = first.view.device().type == DeviceType::CUDA;
  FOVEAL_CHECK_TYPE(t == DType::Float32 || t == DType::Float64 ||
                        (cuda && (t == DType::Float16 || t == DType::BFloat16)),
                    op, ": ", first.name, " must be float32 or float64",
                    cuda ? ", float16 or bfloat16" : " (float16 and bfloat16 only on CUDA)", ", got ", dtype_name(t));
  for (const check::Named& x : xs) {
    if (!given(x.view)) continue;
    check::same_device(op, {first, x});
    check::same_dtype(op, {first, x});
    check::contiguous(op, {x});
    check::not_null(op, {x});
  }
}

void check_vector(const char* op, const char* name, ConstTensorView v, std::int64_t c, const char* what) {
  if (!given(v)) return;
  FOVEAL_CHECK_VALUE(v.ndim() == 1 && v.size(0) == c, op, ": ", name, " must have shape (", c, ",) (", what,
                     "), got ", v.shape().str());
}

void check_same_shape(const char* op, const char* name, ConstTensorView v, const Shape& want) {
  FOVEAL_CHECK_VALUE(v.shape() == want, op, ": ", name, " must have shape ", want.str(), ", got ", v.shape().str());
}

void check_eps(const char* op, double eps) {
  FOVEAL_CHECK_VALUE(eps >= 0 && eps < 1e308, op, ": eps must be finite and non-negative, got ", eps);
}

}  // namespace

void batch_norm(ConstTensorView input, ConstTensorView running_mean, ConstTensorView running_var,
                ConstTensorView weight, ConstTensorView bias, TensorView out, double eps, const ExecContext& ctx) {
  constexpr const char* op = "batch_norm";
  FOVEAL_CHECK_VALUE(input.ndim() >= 2 && input.size(1) > 0, op,
                     ": input must have shape (N, C, ...) with C positive, got ", input.shape().str());
  const std::int64_t c = input.size(1);
  FOVEAL_CHECK_VALUE(given(running_mean) && given(running_var), op, ": running_mean and running_var are required");
  check_vector(op, "running_mean", running_mean, c, "input's channels");
  check_vector(op, "running_var", running_var, c, "input's channels");
  check_vector(op, "weight", weight, c, "input's channels");
  check_vector(op, "bias", bias, c, "input's channels");
  check_same_shape(op, "out", out, input.shape());
  check_eps(op, eps);
  check_arrays(op, {{"input", input}, {"running_mean", running_mean}, {"running_var", running_var},
                    {"weight", weight}, {"bias", bias}, {"out", out}});
  if (out.numel() == 0) return;
  switch (input.device().type) {
    case DeviceType::CPU: return cpu::batch_norm(input, running_mean, running_var, weight, bias, out, eps, ctx);
    case DeviceType::CUDA:
      return FOVEAL_CUDA_CALL(batch_norm, input, running_mean, running_var, weight, bias, out, eps, ctx);
  }
}

void fold_batch_norm(ConstTensorView conv_weight, ConstTensorView conv_bias, ConstTensorView running_mean,
                     ConstTensorView running_var, ConstTensorView bn_weight, ConstTensorView bn_bias,
                     TensorView out_weight, TensorView out_bias, double eps, const ExecContext& ctx) {
  constexpr const char* op = "fold_batch_norm";
  FOVEAL_CHECK_VALUE(conv_weight.ndim() >= 1 && conv_weight.size(0) > 0, op,
                     ": conv_weight must have shape (C_out, ...) with C_out positive, got ", conv_weight.shape().str());
  const std::int64_t c = conv_weight.size(0);
  FOVEAL_CHECK_VALUE(given(running_mean) && given(running_var) && given(bn_weight) && given(bn_bias), op,
                     ": running_mean, running_var, bn_weight and bn_bias are required");
  check_vector(op, "conv_bias", conv_bias, c, "conv_weight's output channels");
  check_vector(op, "running_mean", running_mean, c, "conv_weight's output channels");
  check_vector(op, "running_var", running_var, c, "conv_weight's output channels");
  check_vector(op, "bn_weight", bn_weight, c, "conv_weight's output channels");
  check_vector(op, "bn_bias", bn_bias, c, "conv_weight's output channels");
  check_same_shape(op, "out_weight", out_weight, conv_weight.shape());
  check_same_shape(op, "out_bias", out_bias, Shape{c});
  check_eps(op, eps);
  check_arrays(op, {{"conv_weight", conv_weight}, {"conv_bias", conv_bias}, {"running_mean", running_mean},
                    {"running_var", running_var}, {"bn_weight", bn_weight}, {"bn_bias", bn_bias},
                    {"out_weight", out_weight}, {"out_bias", out_bias}});
  switch (conv_weight.device().type) {
    case DeviceType::CPU:
      return cpu::fold_batch_norm(conv_weight, conv_bias, running_mean, running_var, bn_weight, bn_bias, out_weight,
                                  out_bias, eps, ctx);
    case DeviceType::CUDA:
      return FOVEAL_CUDA_CALL(fold_batch_norm, conv_weight, conv_bias, running_mean, running_var, bn_weight, bn_bias,
                              out_weight, out_bias, eps, ctx);
  }
}

void unary(UnaryOp u, ConstTensorView input, TensorView out, const ExecContext& ctx) {
  const char* op = u == UnaryOp::Relu ? "relu" : "sigmoid";
  const int k = static_cast<int>(u);
  FOVEAL_CHECK_VALUE(k == 0 || k == 1, "unary: op must be relu or sigmoid, got code ", k);
  check_same_shape(op, "out", out, input.shape());
  check_arrays(op, {{"input", input}, {"out", out}});
  if (out.numel() == 0) return;
  switch (input.device().type) {
    case DeviceType::CPU: return cpu::unary(u, input, out, ctx);
    case DeviceType::CUDA: return FOVEAL_CUDA_CALL(unary, u, input, out, ctx);
  }
}

void softmax(ConstTensorView input, int dim, TensorView out, const ExecContext& ctx) {
  constexpr const char* op = "softmax";
  FOVEAL_CHECK_VALUE(input.ndim() >= 1, op, ": input must have at least one dimension, got ", input.shape().str());
  FOVEAL_CHECK_VALUE(dim >= 0 && dim < input.ndim(), op, ": dim must be in [0, ", input.ndim(), "), got ", dim);
  check_same_shape(op, "out", out, input.shape());
  check_arrays(op, {{"input", input}, {"out", out}});
  if (out.numel() == 0) return;
  switch (input.device().type) {
    case DeviceType::CPU: return cpu::softmax(input, dim, out, ctx);
    case DeviceType::CUDA: return FOVEAL_CUDA_CALL(softmax, input, dim, out, ctx);
  }
}

void add(ConstTensorView a, ConstTensorView b, TensorView out, const ExecContext& ctx) {
  constexpr const char* op = "add";
  check_same_shape(op, "b", b, a.shape());
  check_same_shape(op, "out", out, a.shape());
  check_arrays(op, {{"a", a}, {"b", b}, {"out", out}});
  if (out.numel() == 0) return;
  switch (a.device().type) {
    case DeviceType::CPU: return cpu::add(a, b, out, ctx);
    case DeviceType::CUDA: return FOVEAL_CUDA_CALL(add, a, b, out, ctx);
  }
}

}  // namespace foveal
