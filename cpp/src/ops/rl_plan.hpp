// SPDX-License-Identifier: Apache-2.0
// Richardson-Lucy: the convolution plan both backends run. The front end validates shapes and
// arguments; the backends read the psf to the host and call rl_plan, which checks the psf values
// once and decides the convolution path.
#pragma once
#include <cstdint>
#include <vector>

#include "foveal/core/tensor_view.hpp"
#include "foveal/math/rl.hpp"
#include "foveal/ops/rl.hpp"

namespace foveal::detail {

struct RlArgs {
  std::int64_t num_iter = 1;
  bool clip = true;
  double filter_epsilon = 0.0;
  RlBoundary mode = RlBoundary::Constant;
  RlMethod method = RlMethod::Auto;
};

/// Image and psf as 3-D (leading axes of length 1), the psf's values and, for the separable path,
/// its rank-1 factors (psf[i][j][l] = factor[0][i] factor[1][j] factor[2][l]).
struct RlPlan {
  RlArgs args;
  std::int64_t n[3] = {1, 1, 1};
  std::int64_t k[3] = {1, 1, 1};
  RlMethod method = RlMethod::Direct;
  std::vector<double> psf;        // k[0] * k[1] * k[2], row-major
  std::vector<double> factor[3];  // separable only
  std::int64_t fft_n[3] = {1, 1, 1};  // fft: the padded transform lengths

  std::int64_t padded(int a) const { return n[a] + k[a] - 1; }
  /// Leading pad along axis a of the padded buffers (f and the ratio image).
  std::int64_t lo(int a) const { return math::rl_offset(k[a]); }
  std::int64_t padded_size() const { return padded(0) * padded(1) * padded(2); }
};

/// Checks the psf values (finite, sum > 0) and plans. `psf_values` is the psf in row-major order,
/// `image_shape` and `psf_shape` have `ndim` (1 to 3) entries, already validated.
/// `fft_available`: the backend has the Fft path (the CPU's); Auto considers it only then.
RlPlan rl_plan(const std::vector<double>& psf_values, const std::int64_t* image_shape, const std::int64_t* psf_shape,
               int ndim, bool float32, const RlArgs& args, bool fft_available = false);

/// The front ends' checks of image / psf / out (1 to 3 dims, psf no larger than image and, with
/// `odd_psf`, odd along every axis; one float dtype, one device, contiguous) and of the scalars.
void check_rl_tensors(const char* op, ConstTensorView image, ConstTensorView psf, ConstTensorView out, bool odd_psf);
void check_rl_scalars(const char* op, std::int64_t num_iter, double filter_epsilon, RlBoundary mode);

}  // namespace foveal::detail
