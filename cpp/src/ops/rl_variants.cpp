// SPDX-License-Identifier: Apache-2.0
// Richardson-Lucy variants: validation and the iteration loops (accelerated, TV-regularised,
// blind), over a backend's RlKernels primitives. The loops, the Biggs-Andrews weights and the
// psf updates (a few hundred host values) live here, once for every backend.
#include <algorithm>
#include <cmath>
#include <memory>
#include <numeric>
#include <utility>
#include <vector>

#include "foveal/math/rl.hpp"
#include "foveal/ops/rl.hpp"
#include "ops/backend.hpp"
#include "ops/rl_plan.hpp"
#include "ops/rl_variants.hpp"
#include "ops/validate.hpp"
#include "ops/workspace.hpp"

namespace foveal {
namespace {

using detail::RlKernels;
using detail::RlVariantArgs;

void check_common(const char* op, std::int64_t num_iter, double filter_epsilon, RlBoundary mode,
                  RlAcceleration acceleration) {
  detail::check_rl_scalars(op, num_iter, filter_epsilon, mode);
  const int a = static_cast<int>(acceleration);
  FOVEAL_CHECK_VALUE(a >= 0 && a <= 1, op, ": acceleration must be None or Biggs, got ", a);
}

RlVariantArgs variant_args(ConstTensorView image, ConstTensorView psf, double filter_epsilon, RlBoundary mode) {
  RlVariantArgs a;
  const int nd = image.ndim();
  for (int i = 0; i < nd; ++i) {
    a.n[3 - nd + i] = image.size(i);
    a.k[3 - nd + i] = psf.size(i);
  }
  a.filter_epsilon = filter_epsilon;
  a.mode = mode;
  a.device = image.device().index;
  return a;
}

// Iterations of (accelerated, TV-regularised) RL from the estimate in x, in place. The
// acceleration state starts afresh (alpha = 0 for the first two iterations).
template <typename T>
class RlLoop {
 public:
  RlLoop(RlKernels<T>& k, bool accelerate, double lambda, double floor, const ExecContext& ctx, const char* op)
      : k_(k), ctx_(ctx), op_(op), accelerate_(accelerate), lambda_(lambda), floor_(floor) {
    ratio_ = k.alloc();
    if (lambda > 0) divisor_ = k.alloc();
    if (accelerate) {
      prev_ = k.alloc();
      y_ = k.alloc();
      g1_ = k.alloc();
      g2_ = k.alloc();
    }
  }

  T* ratio_buffer() const { return ratio_; }

  // Returns the estimate's buffer (x, or another buffer of this loop once accelerated).
  T* run(T* x, std::int64_t n) {
    if (!accelerate_) {
      for (std::int64_t it = 0; it < n; ++it) {
        ctx_.throw_if_cancelled(op_);
        if (divisor_) k_.tv_divisor(x, lambda_, floor_, divisor_);
        k_.ratio(x, ratio_);
        k_.correct(x, ratio_, divisor_, x);
      }
      return x;
    }
    // Buffers rotate: x (current), prev (previous), y (extrapolated), g1 / g2 (last two steps).
    T* cur = x;
    T* prev = prev_;
    k_.copy(cur, prev);
    for (std::int64_t it = 0; it < n; ++it) {
      ctx_.throw_if_cancelled(op_);
      const double alpha = it >= 2 ? math::rl_biggs_alpha(k_.dot(g1_, g2_), k_.dot(g2_, g2_)) : 0.0;
      k_.extrapolate(cur, prev, alpha, y_);
      if (divisor_) k_.tv_divisor(y_, lambda_, floor_, divisor_);
      k_.ratio(y_, ratio_);
      std::swap(prev, cur);  // prev = the estimate before this step; cur is overwritten
      k_.correct(y_, ratio_, divisor_, cur);
      std::swap(g1_, g2_);
      k_.subtract(cur, y_, g1_);
    }
    // Keep the caller's buffer as the estimate's home.
    if (cur != x) k_.copy(cur, x);
    prev_ = prev == x ? cur : prev;
    return x;
  }

 private:
  RlKernels<T>& k_;
  const ExecContext& ctx_;  // polled for cancellation once per iteration
  const char* op_;
  bool accelerate_;
  double lambda_, floor_;
  T* ratio_ = nullptr;
  T* divisor_ = nullptr;
  T* prev_ = nullptr;
  T* y_ = nullptr;
  T* g1_ = nullptr;
  T* g2_ = nullptr;
};

std::unique_ptr<RlKernels<float>> make_kernels(const float* image, float* out, const RlVariantArgs& a,
                                               DeviceType dev, const ExecContext& ctx) {
  if (dev == DeviceType::CPU) return cpu::rl_kernels_f32(image, out, a, ctx);
  return FOVEAL_CUDA_CALL(rl_kernels_f32, image, out, a, ctx);
}
std::unique_ptr<RlKernels<double>> make_kernels(const double* image, double* out, const RlVariantArgs& a,
                                                DeviceType dev, const ExecContext& ctx) {
  if (dev == DeviceType::CPU) return cpu::rl_kernels_f64(image, out, a, ctx);
  return FOVEAL_CUDA_CALL(rl_kernels_f64, image, out, a, ctx);
}

// The psf's values on the host, checked: finite (and >= 0 for blind RL) with a sum > 0.
template <typename T>
std::vector<double> checked_psf(const char* op, RlKernels<T>& k, ConstTensorView psf, bool non_negative) {
  std::vector<double> v = k.to_host(psf.data_as<T>(), psf.numel());
  double sum = 0;
  for (double x : v) {
    if (non_negative) {
      FOVEAL_CHECK_VALUE(std::isfinite(x) && x >= 0, op, ": psf must hold finite values >= 0, got ", x);
    } else {
      FOVEAL_CHECK_VALUE(std::isfinite(x), op, ": psf must hold finite values, got ", x);
    }
    sum += x;
  }
  FOVEAL_CHECK_VALUE(sum > 0, op, ": psf must have a sum > 0, got ", sum);
  return v;
}

template <typename T>
void variant_impl(ConstTensorView image, ConstTensorView psf, TensorView out, const RlVariantOptions& o,
                  const RlVariantArgs& args, double floor, const ExecContext& ctx) {
  auto k = make_kernels(image.data_as<T>(), out.data_as<T>(), args, image.device().type, ctx);
  k->set_psf(checked_psf<T>("richardson_lucy", *k, psf, false));
  T* x = k->alloc();
  k->fill(x, 0.5);
  RlLoop<T> loop(*k, o.acceleration == RlAcceleration::Biggs, o.regularization, floor, ctx, "richardson_lucy");
  loop.run(x, o.num_iter);
  k->finish(x, o.clip);
}

// Biggs-Andrews on the host psf vector: the same rule as RlLoop.
struct HostAccel {
  std::vector<double> prev, g1, g2;
  std::int64_t steps = 0;
  void reset(const std::vector<double>& k) {
    prev = k;
    g1.assign(k.size(), 0.0);
    g2.assign(k.size(), 0.0);
    steps = 0;
  }
  double alpha() const {
    if (steps < 2) return 0.0;
    double num = 0, den = 0;
    for (std::size_t i = 0; i < g1.size(); ++i) num += g1[i] * g2[i], den += g2[i] * g2[i];
    return math::rl_biggs_alpha(num, den);
  }
};

template <typename T>
void blind_impl(ConstTensorView image, ConstTensorView psf, TensorView out, TensorView psf_out,
                const BlindRlOptions& o, const RlVariantArgs& args, const ExecContext& ctx) {
  auto k = make_kernels(image.data_as<T>(), out.data_as<T>(), args, image.device().type, ctx);
  std::vector<double> kv = checked_psf<T>("blind_richardson_lucy", *k, psf, true);
  const double sum0 = std::accumulate(kv.begin(), kv.end(), 0.0);
  for (double& v : kv) v /= sum0;
  const bool acc = o.acceleration == RlAcceleration::Biggs;
  T* x = k->alloc();
  k->init_from_image(x);
  RlLoop<T> loop(*k, acc, 0.0, 0.0, ctx, "blind_richardson_lucy");
  T* ratio = loop.ratio_buffer();
  HostAccel ha;
  std::vector<double> y(kv.size()), kn(kv.size());
  for (std::int64_t outer = 0; outer < o.num_iter; ++outer) {
    k->set_psf(kv);
    loop.run(x, o.image_iter);
    const double xsum = k->sum(x);
    if (!(xsum > 0)) break;  // an all-zero estimate carries no information about the psf
    ha.reset(kv);
    for (std::int64_t it = 0; it < o.psf_iter; ++it) {
      const double alpha = acc ? ha.alpha() : 0.0;
      for (std::size_t j = 0; j < kv.size(); ++j) y[j] = math::rl_extrapolate(kv[j], ha.prev[j], alpha);
      k->set_psf(y);
      k->ratio(x, ratio);
      const std::vector<double> corr = k->psf_correlation(ratio, x);
      double s = 0;
      for (std::size_t j = 0; j < kv.size(); ++j) {
        kn[j] = math::rl_psf_update(y[j], corr[j], xsum);
        s += kn[j];
      }
      if (!(s > 0) || !std::isfinite(s)) break;  // keep the last valid psf
      for (double& v : kn) v /= s;
      ha.prev = kv;
      std::swap(ha.g1, ha.g2);
      for (std::size_t j = 0; j < kv.size(); ++j) ha.g1[j] = kn[j] - y[j];
      ++ha.steps;
      kv = kn;
    }
  }
  k->finish(x, o.clip);
  k->from_host(kv, psf_out.data_as<T>());
}

}  // namespace

void richardson_lucy_variant(ConstTensorView image, ConstTensorView psf, TensorView out,
                             const RlVariantOptions& options, const ExecContext& ctx) {
  constexpr const char* op = "richardson_lucy";
  check_common(op, options.num_iter, options.filter_epsilon, options.mode, options.acceleration);
  const double lam = options.regularization;
  const int nd = image.ndim();
  FOVEAL_CHECK_VALUE(std::isfinite(lam) && lam >= 0, op, ": regularization must be a finite number >= 0, got ", lam);
  FOVEAL_CHECK_VALUE(nd < 1 || nd > 3 || lam < 1.0 / (2 * nd), op, ": regularization must be < 1 / (2 ndim) = ",
                     1.0 / (2 * nd), " for a ", nd,
                     "-D image (a larger weight can make the TV divisor 1 - regularization * div <= 0), got ", lam);
  detail::check_rl_tensors(op, image, psf, out, false);
  const bool f32 = image.dtype() == DType::Float32;
  const int me = static_cast<int>(options.method);
  FOVEAL_CHECK_VALUE(me >= 0 && me <= 2, op, ": method must be Auto, Direct or Separable, got ", me);
  RlVariantArgs args = variant_args(image, psf, options.filter_epsilon, options.mode);
  args.method = options.method;
  const double floor = 1.0 - 2.0 * nd * lam;
  const double bytes = static_cast<double>(image.numel()) * (f32 ? 4 : 8) * 8;
  detail::with_workspace(op, bytes, image.numel(), "pixels", [&] {
    if (f32) {
      variant_impl<float>(image, psf, out, options, args, floor, ctx);
    } else {
      variant_impl<double>(image, psf, out, options, args, floor, ctx);
    }
  });
}

void blind_richardson_lucy(ConstTensorView image, ConstTensorView psf, TensorView out, TensorView psf_out,
                           const BlindRlOptions& options, const ExecContext& ctx) {
  constexpr const char* op = "blind_richardson_lucy";
  check_common(op, options.num_iter, options.filter_epsilon, options.mode, options.acceleration);
  FOVEAL_CHECK_VALUE(options.psf_iter >= 1, op, ": psf_iter must be >= 1, got ", options.psf_iter);
  FOVEAL_CHECK_VALUE(options.image_iter >= 1, op, ": image_iter must be >= 1, got ", options.image_iter);
  detail::check_rl_tensors(op, image, psf, out, true);
  const check::Named ps{"psf", psf}, po{"psf_out", psf_out};
  FOVEAL_CHECK_VALUE(psf_out.shape() == psf.shape(), op, ": psf_out must have shape ", psf.shape().str(), ", got ",
                     psf_out.shape().str());
  check::same_device(op, {ps, po});
  check::same_dtype(op, {ps, po});
  check::contiguous(op, {ps, po});
  check::not_null(op, {ps, po});
  const bool f32 = image.dtype() == DType::Float32;
  const RlVariantArgs args = variant_args(image, psf, options.filter_epsilon, options.mode);
  const double bytes = static_cast<double>(image.numel()) * (f32 ? 4 : 8) * 8;
  detail::with_workspace(op, bytes, image.numel(), "pixels", [&] {
    if (f32) {
      blind_impl<float>(image, psf, out, psf_out, options, args, ctx);
    } else {
      blind_impl<double>(image, psf, out, psf_out, options, args, ctx);
    }
  });
}

}  // namespace foveal
