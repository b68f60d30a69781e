// SPDX-License-Identifier: Apache-2.0
// The core of the straight-line (vectorisable) float exps: Cody-Waite reduction and Cephes'
// degree-7 polynomial. Callers add their own range handling and 2^n scaling.
#pragma once
#include "foveal/math/hd.hpp"

namespace foveal::math {

/// e^r for r = x - n ln 2, |r| <= ln 2 / 2, reduced in two steps (ln 2 = 0.693359375 - 2.12e-4).
FOVEAL_HD_INLINE float expf_reduced(float x, float n) {
  float r = x - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  return p * (r * r) + r + 1.0f;
}

}  // namespace foveal::math
