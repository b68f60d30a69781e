// SPDX-License-Identifier: Apache-2.0
// Per-element formulas of the element-wise nn ops (inference batch norm, activations), shared by
// the CPU and CUDA backends.
#pragma once
#include <cmath>

#include "foveal/math/conv.hpp"
#include "foveal/math/hd.hpp"

namespace foveal::math {

/// Inference batch norm as an affine map per channel: y = x scale + shift with
/// scale = weight / sqrt(var + eps), shift = bias - mean scale (torchvision's FrozenBatchNorm2d).
template <typename A>
FOVEAL_HD_INLINE A bn_scale(A var, A weight, double eps) {
#ifdef __CUDA_ARCH__
  return weight / ::sqrt(var + static_cast<A>(eps));
#else
  return weight / std::sqrt(var + static_cast<A>(eps));
#endif
}
template <typename A>
FOVEAL_HD_INLINE A bn_shift(A mean, A bias, A scale) {
  return bias - mean * scale;
}

template <typename T>
FOVEAL_HD_INLINE T relu(T v) {
  return v < T(0) ? T(0) : v;  // NaN stays NaN
}

}  // namespace foveal::math
