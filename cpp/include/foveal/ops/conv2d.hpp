// SPDX-License-Identifier: Apache-2.0
// Dense layers: matrix product (gemm), linear and 2-D convolution, with a fused epilogue.
#pragma once
#include <cstdint>

#include "foveal/core/exec_context.hpp"
#include "foveal/core/tensor_view.hpp"
#include "foveal/math/conv.hpp"

namespace foveal {

using math::Activation;

/// What runs on each output after the product: + bias, + residual, then the activation; and how
/// the product itself may round.
struct Epilogue {
  Activation activation = Activation::None;
  double negative_slope = 0.01;  ///< leaky_relu only
  /// CUDA, float32 data: the product may run on TF32 tensor cores (inputs rounded to a 10-bit
  /// mantissa, float32 sums; about 1e-3 relative error, as torch's allow_tf32). false (default):
  /// exact float32 multiply-adds. No effect on the CPU, which always computes in float32 (or
  /// float64), nor on float64 / float16 / bfloat16 data.
  bool allow_tf32 = false;
};

/// Geometry of a 2-D convolution (torch.nn.functional.conv2d); padding may differ per side
/// (padding="same" with an even extent puts the extra sample on the bottom / right).
struct Conv2dParams {
  std::int64_t stride_h = 1, stride_w = 1;
  std::int64_t pad_top = 0, pad_bottom = 0, pad_left = 0, pad_right = 0;
  std::int64_t dilation_h = 1, dilation_w = 1;
  std::int64_t groups = 1;
};

/// Output (H, W) of convolving an (in_h, in_w) input with a (kernel_h, kernel_w) kernel. Throws
/// ValueError naming the argument when a parameter is invalid (stride, dilation or groups < 1,
/// padding < 0) or the output would be empty (kernel larger than the padded input).
struct ConvOutputSize {
  std::int64_t h, w;
};
ConvOutputSize conv2d_output_size(const char* op, std::int64_t in_h, std::int64_t in_w, std::int64_t kernel_h,
                                  std::int64_t kernel_w, const Conv2dParams& p);

/// out = a @ b for a (M, K) and b (K, N), C-contiguous, same dtype (float32 / float64 on the CPU;
/// also float16 / bfloat16 on CUDA, on tensor cores, accumulated in float32). Not bit-identical across backends or
/// SIMD levels (the CPU kernel fuses multiply-adds); within float tolerance.
void gemm(ConstTensorView a, ConstTensorView b, TensorView out, const ExecContext& ctx = {});

/// torch.nn.functional.linear: out (..., out_features) = x (..., in_features) @ weight.T + bias,
/// then the epilogue's activation. `weight` (out_features, in_features); `bias` (out_features,) or
/// empty (`TensorView{}`). All C-contiguous, one dtype, one device.
void linear(ConstTensorView x, ConstTensorView weight, ConstTensorView bias, TensorView out,
            const Epilogue& epi = {}, const ExecContext& ctx = {});

/// torch.nn.functional.conv2d (cross-correlation) with a fused epilogue: input (N, C_in, H, W) or
/// (C_in, H, W); weight (C_out, C_in / groups, kH, kW); bias (C_out,) or empty; residual empty or
/// of out's shape, added after the bias and before the activation; out (N, C_out, H_out, W_out)
/// (or unbatched). All C-contiguous, one dtype, one device. Throws ValueError naming the argument
/// on a shape or parameter mismatch, TypeError on dtypes.
void conv2d(ConstTensorView input, ConstTensorView weight, ConstTensorView bias, ConstTensorView residual,
            TensorView out, const Conv2dParams& p, const Epilogue& epi = {}, const ExecContext& ctx = {});

/// Geometry of a transposed 2-D convolution (torch.nn.functional.conv_transpose2d): input pixel
/// (y, x) scatters the kernel onto output (y stride + i dilation - pad, x stride + j dilation - pad);
/// output_padding adds rows / columns at the bottom / right (each less than stride or dilation).
struct ConvTranspose2dParams {
  std::int64_t stride_h = 1, stride_w = 1;
  std::int64_t pad_h = 0, pad_w = 0;
  std::int64_t output_padding_h = 0, output_padding_w = 0;
  std::int64_t dilation_h = 1, dilation_w = 1;
  std::int64_t groups = 1;
};

/// Output (H, W) of a transposed convolution; ValueError naming a bad parameter or an empty output.
ConvOutputSize conv_transpose2d_output_size(const char* op, std::int64_t in_h, std::int64_t in_w,
                                            std::int64_t kernel_h, std::int64_t kernel_w,
                                            const ConvTranspose2dParams& p);

/// torch.nn.functional.conv_transpose2d (the adjoint of conv2d, a scatter-add) with the fused
/// epilogue: input (N, C_in, H, W) or (C_in, H, W); weight (C_in, C_out / groups, kH, kW); bias
/// (C_out,) or empty; residual empty or of out's shape; out (N, C_out, H_out, W_out).
void conv_transpose2d(ConstTensorView input, ConstTensorView weight, ConstTensorView bias, ConstTensorView residual,
                      TensorView out, const ConvTranspose2dParams& p, const Epilogue& epi = {},
                      const ExecContext& ctx = {});

}  // namespace foveal
