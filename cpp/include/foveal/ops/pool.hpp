// SPDX-License-Identifier: Apache-2.0
#pragma once
#include <cstdint>

#include "foveal/core/exec_context.hpp"
#include "foveal/core/tensor_view.hpp"

namespace foveal {

/// Window geometry of a 2-D pooling, torch.nn.functional's parameters per axis (H, then W).
struct Pool2dParams {
  std::int64_t kernel_h = 1, kernel_w = 1;
  std::int64_t stride_h = 1, stride_w = 1;
  std::int64_t pad_h = 0, pad_w = 0;
  std::int64_t dilation_h = 1, dilation_w = 1;  ///< max pooling only; must be 1 for average pooling
  bool ceil_mode = false;
};

/// Output (H, W) of pooling an (H, W) input with `p`. Throws ValueError naming the argument when
/// `p` is invalid (kernel, stride or dilation < 1, padding < 0 or over half the kernel) or the
/// output would be empty. `op` names the operation in messages.
struct PoolOutputSize {
  std::int64_t h, w;
};
PoolOutputSize pool2d_output_size(const char* op, std::int64_t in_h, std::int64_t in_w, const Pool2dParams& p);

/// Pooling ops take `input` (N, C, H, W) or (C, H, W); outputs have the same leading dimensions
/// and the pooled (H, W) last. C, H and W must be positive (N may be 0). All arrays are
/// C-contiguous on one device; values are float32 or float64 (float16 / bfloat16 also on CUDA,
/// computed in float32) and `out` has the input's dtype; `indices` is int64, the flat index
/// h * W + w of the chosen tap in its input plane. CUDA work is enqueued on `ctx.stream`.
/// Throw ValueError (shapes, parameters), TypeError (dtypes), DeviceError, NotCompiledError.

/// Max pooling. NaN propagates (a window with a NaN gives NaN); the index is the first maximum in
/// row-major scan order, or the last NaN. Pass an empty `indices` view (numel 0 with a null data
/// pointer, e.g. `TensorView{}`) to skip the indices.
void max_pool2d(ConstTensorView input, TensorView out, TensorView indices, const Pool2dParams& p,
                const ExecContext& ctx = {});

/// Average pooling. The divisor is `divisor_override` when it is non-zero, else the window size
/// counting padding (`count_include_pad`) or only the taps inside the input.
void avg_pool2d(ConstTensorView input, TensorView out, const Pool2dParams& p, bool count_include_pad = true,
                std::int64_t divisor_override = 0, const ExecContext& ctx = {});

/// Adaptive max pooling to `out`'s (H, W): bin i of n over L samples is
/// [floor(i L / n), ceil((i + 1) L / n)). `indices` as in max_pool2d.
void adaptive_max_pool2d(ConstTensorView input, TensorView out, TensorView indices, const ExecContext& ctx = {});

/// Adaptive average pooling to `out`'s (H, W), bins as in adaptive_max_pool2d.
void adaptive_avg_pool2d(ConstTensorView input, TensorView out, const ExecContext& ctx = {});

}  // namespace foveal
