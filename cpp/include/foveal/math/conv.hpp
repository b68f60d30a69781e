// SPDX-License-Identifier: Apache-2.0
// Convolution geometry and the fused epilogue's activations, with torch.nn.functional's
// conventions. Shared by the CPU and CUDA backends.
#pragma once
#include <cmath>
#include <cstdint>

#include "foveal/math/activation.hpp"
#include "foveal/math/hd.hpp"
#include "foveal/math/pool.hpp"

namespace foveal::math {

/// Output extent of a convolution along one axis: `in` samples, padding `pad_lo` before and
/// `pad_hi` after, `kernel` taps `dilation` apart, moved by `stride`:
///   floor((in + pad_lo + pad_hi - dilation (kernel - 1) - 1) / stride) + 1.
/// May be <= 0 when the kernel does not fit; front ends refuse that.
FOVEAL_HD_INLINE std::int64_t conv_output_size(std::int64_t in, std::int64_t kernel, std::int64_t stride,
                                               std::int64_t pad_lo, std::int64_t pad_hi, std::int64_t dilation) {
  return floor_div(in + pad_lo + pad_hi - dilation * (kernel - 1) - 1, stride) + 1;
}

/// torch's padding="same" (stride 1): dilation (kernel - 1) in all, the odd one on the high side.
FOVEAL_HD_INLINE std::int64_t same_pad_lo(std::int64_t kernel, std::int64_t dilation) {
  return dilation * (kernel - 1) / 2;
}
FOVEAL_HD_INLINE std::int64_t same_pad_hi(std::int64_t kernel, std::int64_t dilation) {
  return dilation * (kernel - 1) - same_pad_lo(kernel, dilation);
}

/// Activations of the fused epilogue (bias, then residual, then the activation).
enum class Activation : int { None = 0, Relu = 1, LeakyRelu = 2, Silu = 3, Sigmoid = 4 };

/// f(v) for activation `a`; `slope` is leaky_relu's negative slope. NaN stays NaN.
template <typename T>
FOVEAL_HD_INLINE T activate(Activation a, T v, T slope) {
  switch (a) {
    case Activation::Relu: return v < T(0) ? T(0) : v;
    case Activation::LeakyRelu: return v < T(0) ? v * slope : v;
    case Activation::Silu: return v * sigmoid(v);
    case Activation::Sigmoid: return sigmoid(v);
    default: return v;
  }
}

}  // namespace foveal::math
