// SPDX-License-Identifier: Apache-2.0
// Element-wise activations shared by the CNN epilogues and detection post-processing.
#pragma once
#include <cmath>

#include "foveal/math/hd.hpp"

namespace foveal::math {

/// Logistic sigmoid 1 / (1 + exp(-v)).
template <typename T>
FOVEAL_HD_INLINE T sigmoid(T v) {
#ifdef __CUDA_ARCH__
  return T(1) / (T(1) + ::exp(-v));
#else
  return T(1) / (T(1) + std::exp(-v));
#endif
}

}  // namespace foveal::math
