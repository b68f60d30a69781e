// SPDX-License-Identifier: Apache-2.0
#pragma once
#include "foveal/core/exec_context.hpp"
#include "foveal/core/tensor_view.hpp"

namespace foveal {

/// Scaling of the FFTs, numpy's `norm`: Backward = the inverse divides by N, Ortho = both by
/// sqrt(N), Forward = the forward divides by N (N = product of the transformed lengths).
enum class FftNorm : int { Backward = 0, Ortho = 1, Forward = 2 };

// Discrete Fourier transforms over the last `naxes` axes of an array (the leading axes are a batch),
// as numpy.fft.fftn / ifftn / rfftn / irfftn with axes = the last `naxes`: forward sign -1.
// A complex array is a float32 or float64 tensor with a trailing axis of length 2 (re, im), numpy's
// complex layout; `naxes` counts the axes of the complex array, not that trailing one. Any length
// >= 1 is allowed (mixed radix 2/3/4/5, small primes directly, other lengths by Bluestein); batch
// axes may be empty. All tensors C-contiguous, of one float dtype, on the CPU (CUDA tensors raise
// DeviceError). Throws ValueError (shapes, naxes), TypeError (dtypes), DeviceError.

/// Complex -> complex forward transform; `out` has the shape of `in` and may be `in` itself.
void fftn(ConstTensorView in, TensorView out, int naxes, FftNorm norm = FftNorm::Backward,
          const ExecContext& ctx = {});
/// Complex -> complex inverse transform (sign +1); `out` may be `in` itself.
void ifftn(ConstTensorView in, TensorView out, int naxes, FftNorm norm = FftNorm::Backward,
           const ExecContext& ctx = {});
/// Real (shape S) -> half spectrum (S with its last axis n replaced by n / 2 + 1, then 2).
void rfftn(ConstTensorView in, TensorView out, int naxes, FftNorm norm = FftNorm::Backward,
           const ExecContext& ctx = {});
/// Half spectrum -> real of shape S, the shape of `out` (its last length n says how long the
/// signal is; `in` has n / 2 + 1 there). `in` is not modified. The imaginary parts of bin 0 and
/// (even n) bin n / 2 along the last axis are ignored, as numpy's irfftn does.
void irfftn(ConstTensorView in, TensorView out, int naxes, FftNorm norm = FftNorm::Backward,
            const ExecContext& ctx = {});

}  // namespace foveal
