// SPDX-License-Identifier: Apache-2.0
#include "foveal/ops/rl.hpp"

#include <algorithm>
#include <cmath>

#include "cpu/fft_cpu.hpp"
#include "ops/backend.hpp"
#include "ops/rl_plan.hpp"
#include "ops/validate.hpp"

namespace foveal {
namespace detail {
namespace {

std::int64_t nonzero(const std::vector<double>& v) {
  return std::count_if(v.begin(), v.end(), [](double x) { return x != 0.0; });
}

}  // namespace

RlPlan rl_plan(const std::vector<double>& psf_values, const std::int64_t* image_shape, const std::int64_t* psf_shape,
               int ndim, bool float32, const RlArgs& args, bool fft_available) {
  constexpr const char* op = "richardson_lucy";
  RlPlan p;
  p.args = args;
  for (int a = 0; a < ndim; ++a) {
    p.n[3 - ndim + a] = image_shape[a];
    p.k[3 - ndim + a] = psf_shape[a];
  }
  double sum = 0, peak = 0;
  for (double v : psf_values) {
    FOVEAL_CHECK_VALUE(std::isfinite(v), op, ": psf must hold finite values, got ", v);
    sum += v;
    peak = std::max(peak, std::abs(v));
  }
  FOVEAL_CHECK_VALUE(sum > 0, op, ": psf must have a sum > 0, got ", sum);
  p.psf = psf_values;

  // Rank 1 iff psf equals the product of its marginals divided by sum^2 (exact for a product of
  // vectors, any other psf fails the reconstruction). Tolerance: a few ulps of the dtype.
  const std::int64_t k0 = p.k[0], k1 = p.k[1], k2 = p.k[2];
  std::vector<double> m[3] = {std::vector<double>(k0), std::vector<double>(k1), std::vector<double>(k2)};
  for (std::int64_t i = 0; i < k0; ++i)
    for (std::int64_t j = 0; j < k1; ++j)
      for (std::int64_t l = 0; l < k2; ++l) {
        const double v = p.psf[(i * k1 + j) * k2 + l];
        m[0][i] += v, m[1][j] += v, m[2][l] += v;
      }
  for (auto& x : m[1]) x /= sum;
  for (auto& x : m[2]) x /= sum;
  const double tol = (float32 ? 1e-6 : 1e-12) * peak;
  bool rank1 = true;
  for (std::int64_t i = 0; i < k0 && rank1; ++i)
    for (std::int64_t j = 0; j < k1 && rank1; ++j)
      for (std::int64_t l = 0; l < k2; ++l)
        if (std::abs(m[0][i] * m[1][j] * m[2][l] - p.psf[(i * k1 + j) * k2 + l]) > tol) {
          rank1 = false;
          break;
        }
  const std::int64_t sep_taps = nonzero(m[0]) + nonzero(m[1]) + nonzero(m[2]);
  switch (args.method) {
    case RlMethod::Direct: p.method = RlMethod::Direct; break;
    case RlMethod::Separable:
      FOVEAL_CHECK_VALUE(rank1, op,
                         ": method 'separable' needs a rank-1 psf (an outer product of one vector per axis); "
                         "this psf is not, use 'auto' or 'direct'");
      p.method = RlMethod::Separable;
      break;
    case RlMethod::Auto:
      p.method = rank1 && sep_taps < nonzero(p.psf) ? RlMethod::Separable : RlMethod::Direct;
      break;
    case RlMethod::Fft: p.method = RlMethod::Fft; break;
  }
  // Fft lengths: 'same' outputs of a zero-padded signal need n + k / 2 (the kernel sits centred on
  // the circle); reflect pads both sides in full; wrap is the circular convolution itself. The last
  // axis even, for the half-length real transform.
  for (int a = 0; a < 3; ++a) {
    const std::int64_t n = p.n[a], k = p.k[a];
    const std::int64_t need = args.mode == RlBoundary::Wrap ? n : n + (args.mode == RlBoundary::Reflect ? k - 1 : k / 2);
    p.fft_n[a] = args.mode == RlBoundary::Wrap || need == 1 ? need : cpu::fft::good_size(need, a == 2);
  }
  if (args.method == RlMethod::Auto && fft_available) {
    const double N = static_cast<double>(p.n[0] * p.n[1] * p.n[2]);
    const double P = static_cast<double>(p.fft_n[0] * p.fft_n[1] * p.fft_n[2]);
    const double taps = static_cast<double>(p.method == RlMethod::Separable ? sep_taps : nonzero(p.psf));
    if (4 * 2.5 * P * std::log2(std::max(P, 2.0)) + 8 * P < 0.5 * 2 * N * taps) p.method = RlMethod::Fft;
  }
  if (p.method == RlMethod::Separable)
    for (int a = 0; a < 3; ++a) p.factor[a] = std::move(m[a]);
  return p;
}

void check_rl_tensors(const char* op, ConstTensorView image, ConstTensorView psf, ConstTensorView out, bool odd_psf) {
  const check::Named im{"image", image}, ps{"psf", psf}, o{"out", out};
  const int nd = image.ndim();
  FOVEAL_CHECK_VALUE(nd >= 1 && nd <= 3, op, ": image must have 1 to 3 dimensions, got shape ", image.shape().str());
  FOVEAL_CHECK_VALUE(psf.ndim() == nd, op, ": psf must have as many dimensions as image (", nd, "), got shape ",
                     psf.shape().str());
  for (int a = 0; a < nd; ++a) {
    FOVEAL_CHECK_VALUE(image.size(a) >= 1, op, ": image must not be empty, got shape ", image.shape().str());
    FOVEAL_CHECK_VALUE(psf.size(a) >= 1 && psf.size(a) <= image.size(a), op,
                       ": psf must be non-empty and no larger than image along every axis, got psf shape ",
                       psf.shape().str(), " for image shape ", image.shape().str());
    if (odd_psf)
      FOVEAL_CHECK_VALUE(psf.size(a) % 2 == 1, op,
                         ": psf must have an odd size along every axis (its centre is a pixel), got shape ",
                         psf.shape().str());
  }
  FOVEAL_CHECK_VALUE(out.shape() == image.shape(), op, ": out must have shape ", image.shape().str(), ", got ",
                     out.shape().str());
  check::same_device(op, {im, ps, o});
  const DType t = image.dtype();
  FOVEAL_CHECK_TYPE(t == DType::Float32 || t == DType::Float64, op, ": image must be float32 or float64, got ",
                    dtype_name(t));
  check::same_dtype(op, {im, ps, o});
  check::contiguous(op, {im, ps, o});
  check::not_null(op, {im, ps, o});
}

void check_rl_scalars(const char* op, std::int64_t num_iter, double filter_epsilon, RlBoundary mode) {
  FOVEAL_CHECK_VALUE(num_iter >= 1, op, ": num_iter must be >= 1, got ", num_iter);
  FOVEAL_CHECK_VALUE(std::isfinite(filter_epsilon), op, ": filter_epsilon must be a finite number, got ",
                     filter_epsilon);
  const int m = static_cast<int>(mode);
  FOVEAL_CHECK_VALUE(m >= 0 && m <= 2, op, ": mode must be Constant, Reflect or Wrap, got ", m);
}

}  // namespace detail

RlMethod richardson_lucy(ConstTensorView image, ConstTensorView psf, TensorView out, std::int64_t num_iter, bool clip,
                         double filter_epsilon, RlBoundary mode, RlMethod method, const ExecContext& ctx) {
  constexpr const char* op = "richardson_lucy";
  detail::check_rl_tensors(op, image, psf, out, false);
  detail::check_rl_scalars(op, num_iter, filter_epsilon, mode);
  const int me = static_cast<int>(method);
  FOVEAL_CHECK_VALUE(me >= 0 && me <= 3, op, ": method must be Auto, Direct, Separable or Fft, got ", me);
  const detail::RlArgs args{num_iter, clip, filter_epsilon, mode, method};
  switch (image.device().type) {
    case DeviceType::CPU: return cpu::richardson_lucy(image, psf, out, args, ctx);
    case DeviceType::CUDA: return FOVEAL_CUDA_CALL(richardson_lucy, image, psf, out, args, ctx);
  }
  return RlMethod::Direct;
}

}  // namespace foveal
