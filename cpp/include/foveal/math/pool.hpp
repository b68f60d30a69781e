// SPDX-License-Identifier: Apache-2.0
// 2-D pooling: output-size arithmetic, window bounds and the max-pool comparison, with
// torch.nn.functional's conventions. One axis at a time; H and W use the same functions.
#pragma once
#include <cstdint>

#include "foveal/math/hd.hpp"

namespace foveal::math {

/// Floor division rounding toward -inf (b > 0).
FOVEAL_HD_INLINE std::int64_t floor_div(std::int64_t a, std::int64_t b) {
  const std::int64_t q = a / b;
  return (a % b != 0 && a < 0) ? q - 1 : q;
}

/// Output extent of a pooling window of `kernel` taps `dilation` apart moved by `stride` over
/// `in` samples with `pad` on both sides:
///   floor((in + 2 pad - dilation (kernel - 1) - 1 [+ stride - 1 if ceil_mode]) / stride) + 1,
/// and with ceil_mode the last window must start inside the input or the left padding, else it
/// is dropped. May be <= 0 when the window does not fit; front ends refuse that.
FOVEAL_HD_INLINE std::int64_t pool_output_size(std::int64_t in, std::int64_t kernel, std::int64_t stride,
                                               std::int64_t pad, std::int64_t dilation, bool ceil_mode) {
  const std::int64_t span = dilation * (kernel - 1) + 1;
  std::int64_t out = floor_div(in + 2 * pad - span + (ceil_mode ? stride - 1 : 0), stride) + 1;
  if (ceil_mode && (out - 1) * stride >= in + pad) --out;
  return out;
}

/// Input taps [begin, end) step `dilation` of max-pool output `o`: the window clipped to the
/// input, its first tap moved onto the input by whole dilation steps. May be empty (begin >=
/// end) when every tap falls in the padding.
struct TapRange {
  std::int64_t begin, end;
};
FOVEAL_HD_INLINE TapRange max_pool_taps(std::int64_t o, std::int64_t in, std::int64_t kernel, std::int64_t stride,
                                        std::int64_t pad, std::int64_t dilation) {
  std::int64_t b = o * stride - pad;
  const std::int64_t last = b + (kernel - 1) * dilation + 1;
  if (b < 0) b += ((-b + dilation - 1) / dilation) * dilation;
  return {b, last < in ? last : in};
}

/// Average-pool window of output `o`: the taps [begin, end) inside the input, and `padded`, the
/// window's length counting padding but not what lies past the right padding (torch's
/// count_include_pad divisor).
struct AvgWindow {
  std::int64_t begin, end, padded;
};
FOVEAL_HD_INLINE AvgWindow avg_pool_window(std::int64_t o, std::int64_t in, std::int64_t kernel, std::int64_t stride,
                                           std::int64_t pad) {
  const std::int64_t b = o * stride - pad;
  std::int64_t e = b + kernel;
  if (e > in + pad) e = in + pad;
  return {b < 0 ? 0 : b, e < in ? e : in, e - b};
}

/// Adaptive pooling bin `o` of `out` bins over `in` samples: [floor(o in / out), ceil((o+1) in / out)).
FOVEAL_HD_INLINE std::int64_t adaptive_begin(std::int64_t o, std::int64_t out, std::int64_t in) {
  return (o * in) / out;
}
FOVEAL_HD_INLINE std::int64_t adaptive_end(std::int64_t o, std::int64_t out, std::int64_t in) {
  return ((o + 1) * in + out - 1) / out;
}

/// Max pooling takes `v` over the running maximum `m` when v > m or v is NaN, as torch does:
/// the value is NaN once any tap is NaN, the index is the first maximum (or the last NaN) in
/// row-major scan order.
template <typename T>
FOVEAL_HD_INLINE bool max_pool_takes(T v, T m) {
  return v > m || v != v;
}

}  // namespace foveal::math
