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

/// Output extent of a transposed convolution along one axis (torch.nn.functional.conv_transpose2d):
///   (in - 1) stride - 2 pad + dilation (kernel - 1) + output_padding + 1.
/// May be <= 0 when the padding crops everything; front ends refuse that.
FOVEAL_HD_INLINE std::int64_t conv_transpose_output_size(std::int64_t in, std::int64_t kernel, std::int64_t stride,
                                                         std::int64_t pad, std::int64_t output_padding,
                                                         std::int64_t dilation) {
  return (in - 1) * stride - 2 * pad + dilation * (kernel - 1) + output_padding + 1;
}

/// torch's padding="same" (stride 1): dilation (kernel - 1) in all, the odd one on the high side.
FOVEAL_HD_INLINE std::int64_t same_pad_lo(std::int64_t kernel, std::int64_t dilation) {
  return dilation * (kernel - 1) / 2;
}
FOVEAL_HD_INLINE std::int64_t same_pad_hi(std::int64_t kernel, std::int64_t dilation) {
  return dilation * (kernel - 1) - same_pad_lo(kernel, dilation);
}

/// Winograd F(2, 3) (Lavin & Gray 2016), the 1-D transforms; a 2-D transform is the 1-D one along
/// each axis of a tile. A 3x3 stride-1 correlation of a 4x4 input tile d with kernel g gives its
/// 2x2 output as A^T [(G g G^T) .* (B^T d B)] A, 16 products instead of 36. The transforms only
/// add, subtract and halve, so the result differs from the direct sum only by the roundings of
/// the short transform sums: the error stays of the direct sum's order, a small multiple of
/// eps * sum |g| |d| over the taps (test_conv.py holds each output to 8 eps (|w| * |x|) against
/// float64; measured below 1 eps (|w| * |x|), like torch's direct kernel).
/// Kernel g0..g2 -> u0..u3 = G g, G = [[1, 0, 0], [1/2, 1/2, 1/2], [1/2, -1/2, 1/2], [0, 0, 1]].
template <typename T>
FOVEAL_HD_INLINE void winograd_f23_kernel(T g0, T g1, T g2, T& u0, T& u1, T& u2, T& u3) {
  const T h = T(0.5);
  u0 = g0;
  u1 = h * (g0 + g1 + g2);
  u2 = h * (g0 - g1 + g2);
  u3 = g2;
}
/// Input d0..d3 -> v0..v3 = B^T d, B^T = [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]].
template <typename T>
FOVEAL_HD_INLINE void winograd_f23_input(T d0, T d1, T d2, T d3, T& v0, T& v1, T& v2, T& v3) {
  v0 = d0 - d2;
  v1 = d1 + d2;
  v2 = d2 - d1;
  v3 = d1 - d3;
}
/// Products m0..m3 -> outputs y0, y1 = A^T m, A^T = [[1, 1, 1, 0], [0, 1, -1, -1]].
template <typename T>
FOVEAL_HD_INLINE void winograd_f23_output(T m0, T m1, T m2, T m3, T& y0, T& y1) {
  y0 = m0 + m1 + m2;
  y1 = m1 - m2 - m3;
}

/// Sub-pixel decomposition of a transposed convolution (dilation 1) along one axis: the outputs
/// o = q stride + phase (q = 0, 1, ...) take the taps k = k0 + stride t only, and
/// o = i stride - pad + k means input i = q + off - t. Flipping t (t' = taps - 1 - t) makes each
/// phase a stride-1 correlation with a `taps`-long kernel, input start q - lead, where
/// lead = taps - 1 - off may be negative. `taps` may be 0 (the phase gets no tap: epilogue only).
struct SubPixelPhase {
  std::int64_t k0, taps, lead, count;  ///< first tap, taps, correlation padding, outputs
};
FOVEAL_HD_INLINE SubPixelPhase sub_pixel_phase(std::int64_t phase, std::int64_t kernel, std::int64_t stride,
                                               std::int64_t pad, std::int64_t out) {
  SubPixelPhase s;
  s.k0 = (phase + pad) % stride;  // phase, pad >= 0
  s.taps = s.k0 < kernel ? (kernel - s.k0 + stride - 1) / stride : 0;
  s.lead = s.taps - 1 - (phase + pad - s.k0) / stride;
  s.count = phase < out ? (out - phase + stride - 1) / stride : 0;
  return s;
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
