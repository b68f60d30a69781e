// SPDX-License-Identifier: Apache-2.0
// Element-wise nn ops: inference batch norm and its folding into a convolution, relu, sigmoid,
// softmax and add (torch.nn.functional semantics). All arrays C-contiguous, one dtype (float32 /
// float64; also float16 / bfloat16 on CUDA, computed in float), one device.
#pragma once
#include <cstdint>

#include "foveal/core/exec_context.hpp"
#include "foveal/core/tensor_view.hpp"

namespace foveal {

/// torch.nn.functional.batch_norm(training=False): input (N, C, ...) (ndim >= 2), per-channel
/// running_mean, running_var, weight and bias (C,) (weight / bias may be empty: 1 / 0).
void batch_norm(ConstTensorView input, ConstTensorView running_mean, ConstTensorView running_var,
                ConstTensorView weight, ConstTensorView bias, TensorView out, double eps,
                const ExecContext& ctx = {});

/// A convolution followed by a frozen batch norm as one convolution: out_weight = conv_weight
/// scale (per output channel), out_bias = (conv_bias - mean) scale + bn_bias with
/// scale = bn_weight / sqrt(var + eps). conv_weight (C_out, ...); conv_bias (C_out,) or empty.
void fold_batch_norm(ConstTensorView conv_weight, ConstTensorView conv_bias, ConstTensorView running_mean,
                     ConstTensorView running_var, ConstTensorView bn_weight, ConstTensorView bn_bias,
                     TensorView out_weight, TensorView out_bias, double eps, const ExecContext& ctx = {});

enum class UnaryOp : int { Relu = 0, Sigmoid = 1 };

/// out = f(input), same shape.
void unary(UnaryOp op, ConstTensorView input, TensorView out, const ExecContext& ctx = {});

/// Numerically stable softmax along `dim` (0 <= dim < ndim): exp(x - max) / sum exp(x - max).
void softmax(ConstTensorView input, int dim, TensorView out, const ExecContext& ctx = {});

/// out = a + b, all three the same shape.
void add(ConstTensorView a, ConstTensorView b, TensorView out, const ExecContext& ctx = {});

}  // namespace foveal
