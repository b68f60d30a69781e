// SPDX-License-Identifier: Apache-2.0
// Per-element stencils of Chambolle's total-variation projection (scikit-image's
// _denoise_tv_chambolle_nd). The operation order follows skimage's NumPy code so float32 results
// agree to rounding.
#pragma once
#include <cmath>

#include "foveal/math/hd.hpp"

namespace foveal::math {

using std::sqrt;

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

// Split-Bregman TV (scikit-image's _denoise_tv_bregman): lam = 2 weight, norm = weight + 4 lam.

/// Isotropic d-subproblem with t = grad u + b: d = s lam t / (s lam + 1), s = |t| (skimage's
/// form and order of operations).
template <typename T>
FOVEAL_HD_INLINE void tv_bregman_shrink_iso(T tx, T ty, T lam, T* dx, T* dy) {
  const T s = sqrt(tx * tx + ty * ty);
  *dx = s * lam * tx / (s * lam + T(1));
  *dy = s * lam * ty / (s * lam + T(1));
}

/// Anisotropic d-subproblem of one component: soft threshold of s at 1 / lam.
template <typename T>
FOVEAL_HD_INLINE T tv_bregman_shrink_aniso(T s, T lam) {
  const T t = T(1) / lam;
  return s > t ? s - t : (s < -t ? s + t : T(0));
}

}  // namespace foveal::math
