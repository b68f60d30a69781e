// SPDX-License-Identifier: Apache-2.0
// Per-pixel structural similarity (Wang et al. 2004) from windowed moments, in scikit-image's
// form and order of operations (skimage.metrics.structural_similarity), and the three maps whose
// filtered sum is its gradient with respect to the second image (Avanaki 2009, eqs. 7-8).
#pragma once
#include <cmath>

#include "foveal/math/hd.hpp"

namespace foveal::math {

/// The two stabilising constants: C1 = (K1 R)^2, C2 = (K2 R)^2 for data range R.
struct SsimConstants {
  double c1, c2, cov_norm;  // cov_norm: NP / (NP - 1) for the sample covariance, else 1
};

/// Gaussian window radius of scipy.ndimage: int(truncate * sigma + 0.5).
FOVEAL_HD_INLINE long long ssim_gaussian_radius(double sigma, double truncate) {
  return static_cast<long long>(truncate * sigma + 0.5);
}

/// The terms of SSIM at one pixel from the filtered moments ux = <x>, uy = <y>, uxx = <x^2>,
/// uyy = <y^2>, uxy = <xy>.
template <typename T>
struct SsimTerms {
  T a1, a2, b1, b2, d, s;
};

template <typename T>
FOVEAL_HD_INLINE SsimTerms<T> ssim_terms(T ux, T uy, T uxx, T uyy, T uxy, const SsimConstants& k) {
  const T cn = static_cast<T>(k.cov_norm), c1 = static_cast<T>(k.c1), c2 = static_cast<T>(k.c2);
  const T vx = cn * (uxx - ux * ux);
  const T vy = cn * (uyy - uy * uy);
  const T vxy = cn * (uxy - ux * uy);
  SsimTerms<T> t;
  t.a1 = T(2) * ux * uy + c1;
  t.a2 = T(2) * vxy + c2;
  t.b1 = (ux * ux + uy * uy) + c1;
  t.b2 = (vx + vy) + c2;
  t.d = t.b1 * t.b2;
  t.s = (t.a1 * t.a2) / t.d;
  return t;
}

/// The maps whose windowed means m0, m1, m2 give the gradient d mssim / d y = (2 / size)
/// (<m0> x + <m1> y + <m2>).
template <typename T>
FOVEAL_HD_INLINE void ssim_grad_maps(T ux, T uy, const SsimTerms<T>& t, T* m0, T* m1, T* m2) {
  *m0 = t.a1 / t.d;
  *m1 = -t.s / t.b2;
  *m2 = (ux * (t.a2 - t.a1) - uy * (t.b2 - t.b1) * t.s) / t.d;
}

}  // namespace foveal::math
