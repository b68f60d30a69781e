// SPDX-License-Identifier: Apache-2.0
// Per-element stencils of Chambolle's total-variation projection (scikit-image's
// _denoise_tv_chambolle_nd). The operation order follows skimage's NumPy code so float32 results
// agree to rounding.
#pragma once
#include <cmath>

#include "foveal/math/hd.hpp"

namespace foveal::math {

/// Chambolle step size for a `ndim`-dimensional image: 1 / (2 ndim).
FOVEAL_HD_INLINE double tv_tau(int ndim) { return 1.0 / (2.0 * ndim); }

/// Dual-variable update of one axis: (p - tau g) / scale, with scale = 1 + |grad| tau / weight
/// (see tv_scale).
template <typename T>
FOVEAL_HD_INLINE T tv_dual_update(T p, T g, T tau, T scale) {
  return (p - tau * g) / scale;
}

/// 1 + |grad| * (tau / weight), where `tau_over_weight` is tau / weight rounded to T once.
template <typename T>
FOVEAL_HD_INLINE T tv_scale(T grad_norm, T tau_over_weight) {
  return grad_norm * tau_over_weight + T(1);
}

}  // namespace foveal::math
