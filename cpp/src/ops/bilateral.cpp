// SPDX-License-Identifier: Apache-2.0
// Front ends of the bilateral filters: validate, build the plan (window taps and range tables by
// scikit-image's or OpenCV's rules, see foveal/ops/bilateral.hpp), dispatch.
#include "foveal/ops/bilateral.hpp"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdlib>

#include "ops/backend.hpp"
#include "ops/bilateral_plan.hpp"
#include "ops/validate.hpp"

namespace foveal {
namespace {

using math::BilateralPlan;
using math::BilateralRange;

void check_arrays(const char* op, ConstTensorView image, TensorView out) {
  const check::Named im{"image", image}, o{"out", out};
  FOVEAL_CHECK_VALUE(image.ndim() == 3, op, ": image must have shape (H, W, C), got ", image.shape().str());
  FOVEAL_CHECK_VALUE(out.shape() == image.shape(), op, ": out must have shape ", image.shape().str(), ", got ",
                     out.shape().str());
  check::same_device(op, {im, o});
  check::same_dtype(op, {im, o});
  check::contiguous(op, {im, o});
  check::not_null(op, {im, o});
}

using detail::add_tap;
using detail::gaussian_taps;

void dispatch(ConstTensorView image, TensorView out, const BilateralPlan& plan, const ExecContext& ctx) {
  if (image.numel() == 0) return;
  switch (image.device().type) {
    case DeviceType::CPU: return cpu::bilateral(image, out, plan, ctx);
    case DeviceType::CUDA: return FOVEAL_CUDA_CALL(bilateral, image, out, plan, ctx);
  }
}

// The plan that returns the image unchanged (OpenCV's copy cases).
BilateralPlan identity_plan(bool uint8) {
  BilateralPlan p;
  p.border = BilateralBorder::Edge;
  if (uint8) {
    p.range = BilateralRange::IntLut;
    p.l1 = true;
    p.lut.assign(256 * 3, 1.0);
    add_tap(p, 0, 0, 1.0, 0.0);
  } else {
    p.range = BilateralRange::Exact;
    p.centre_unit = true;  // no taps: (0 + centre) / (0 + 1)
  }
  return p;
}

bool valid_border(BilateralBorder b) {
  const int v = static_cast<int>(b);
  return v >= 0 && v <= 4;
}

}  // namespace

void denoise_bilateral(ConstTensorView image, TensorView out, const DenoiseBilateralOptions& o,
                       const ExecContext& ctx) {
  constexpr const char* op = "denoise_bilateral";
  check_arrays(op, image, out);
  const DType t = image.dtype();
  FOVEAL_CHECK_TYPE(t == DType::Float32 || t == DType::Float64, op, ": image must be float32 or float64, got ",
                    dtype_name(t));
  FOVEAL_CHECK_VALUE(o.win_size >= 1 && o.win_size <= 1025, op, ": win_size must be in [1, 1025], got ", o.win_size);
  FOVEAL_CHECK_VALUE(std::isfinite(o.sigma_color) && o.sigma_color > 0, op,
                     ": sigma_color must be a finite number > 0, got ", o.sigma_color);
  FOVEAL_CHECK_VALUE(std::isfinite(o.sigma_spatial) && o.sigma_spatial > 0, op,
                     ": sigma_spatial must be a finite number > 0, got ", o.sigma_spatial);
  FOVEAL_CHECK_VALUE(o.bins >= 0 && o.bins <= (std::int64_t(1) << 30), op,
                     ": bins must be in [1, 2^30] (0: exact), got ", o.bins);
  FOVEAL_CHECK_VALUE(valid_border(o.border), op, ": border must be a BilateralBorder, got ",
                     static_cast<int>(o.border));
  FOVEAL_CHECK_VALUE(std::isfinite(o.cval), op, ": cval must be finite, got ", o.cval);
  const std::int64_t C = image.size(2);
  FOVEAL_CHECK_VALUE(C >= 1, op, ": image must have at least one channel, got shape ", image.shape().str());
  BilateralPlan p;
  p.border = o.border;
  const int ext = static_cast<int>((o.win_size - 1) / 2);
  if (o.bins == 0) {
    FOVEAL_CHECK_VALUE(o.win_size % 2 == 1, op, ": win_size must be odd for the exact filter (bins=0), got ",
                       o.win_size);
    gaussian_taps(p, ext, o.sigma_spatial, false);
    p.range = BilateralRange::Exact;
    p.coeff = -0.5 / (o.sigma_color * o.sigma_color);
    p.pad_value = o.cval;
    return dispatch(image, out, p, ctx);
  }
  FOVEAL_CHECK_VALUE(std::isfinite(o.raw_min) && std::isfinite(o.raw_max) && o.raw_min < o.raw_max, op,
                     ": raw_min and raw_max must be finite with raw_min < raw_max, got ", o.raw_min, " and ",
                     o.raw_max);
  // skimage's spatial table: Gaussian over the grid [-ws // 2, ws // 2]^2, flattened, read at
  // kr * ws + kc (not centred for odd ws).
  const std::int64_t ws = o.win_size, lo = -((ws + 1) / 2), n = ws / 2 - lo + 1;
  const double s2 = o.sigma_spatial * o.sigma_spatial;
  for (int kr = 0; kr <= 2 * ext; ++kr)
    for (int kc = 0; kc <= 2 * ext; ++kc) {
      const std::int64_t e = kr * ws + kc;
      const double a = double(lo + e / n), b = double(lo + e % n), h = std::hypot(a, b);
      const double l = -0.5 * (h * h / s2);
      add_tap(p, kr - ext, kc - ext, std::exp(l), l);
    }
  p.range = BilateralRange::Binned;
  const double shift = std::min(o.raw_min, 0.0), span = o.raw_max - shift;
  const double c2 = o.sigma_color * o.sigma_color, step = o.raw_max / double(o.bins);
  p.lut.resize(static_cast<std::size_t>(o.bins));
  for (std::int64_t k = 0; k < o.bins; ++k) {
    const double v = double(k) * step;
    p.lut[k] = std::exp(-0.5 * (v * v / c2));
  }
  const double q = double(o.bins / C);  // integer division, as skimage
  p.scale = t == DType::Float32 ? double(float(q) / float(span)) : q / span;
  p.max_pos = double(o.bins - 1);
  p.coeff = -0.5 * (step * step / c2);
  p.pad_value = o.cval + shift;
  dispatch(image, out, p, ctx);
}

void bilateral_filter(ConstTensorView image, TensorView out, int d, double sigma_color, double sigma_space,
                      double value_min, double value_max, BilateralBorder border, bool exact,
                      const ExecContext& ctx) {
  constexpr const char* op = "bilateral_filter";
  check_arrays(op, image, out);
  const DType t = image.dtype();
  FOVEAL_CHECK_TYPE(t == DType::UInt8 || t == DType::Float32, op, ": image must be uint8 or float32, got ",
                    dtype_name(t));
  const std::int64_t C = image.size(2);
  FOVEAL_CHECK_VALUE(C == 1 || C == 3, op, ": image must have 1 or 3 channels, got shape ", image.shape().str());
  FOVEAL_CHECK_VALUE(std::isfinite(sigma_color) && sigma_color > 0, op,
                     ": sigma_color must be a finite number > 0, got ", sigma_color);
  FOVEAL_CHECK_VALUE(std::isfinite(sigma_space) && sigma_space > 0, op,
                     ": sigma_space must be a finite number > 0, got ", sigma_space);
  FOVEAL_CHECK_VALUE(valid_border(border), op, ": border must be a BilateralBorder, got ", static_cast<int>(border));
  const bool u8 = t == DType::UInt8;
  if (!u8)
    FOVEAL_CHECK_VALUE(std::isfinite(value_min) && std::isfinite(value_max) && value_min <= value_max, op,
                       ": value_min and value_max must be finite with value_min <= value_max, got ", value_min,
                       " and ", value_max);
  const double rr = d <= 0 ? std::nearbyint(sigma_space * 1.5) : double(d / 2);
  FOVEAL_CHECK_VALUE(rr <= 512, op, ": the window radius must be <= 512, got ", rr, " (d=", d,
                     ", sigma_space=", sigma_space, ")");
  const int radius = std::max(static_cast<int>(rr), 1);
  if (sigma_color <= 1e-6 || sigma_space <= 1e-6 || (!u8 && std::abs(value_min - value_max) < FLT_EPSILON))
    return dispatch(image, out, identity_plan(u8), ctx);

  BilateralPlan p;
  p.border = border;
  if (exact) {
    detail::opencv_exact_plan(p, radius, sigma_color, sigma_space);
    return dispatch(image, out, p, ctx);
  }
  if (u8) {
    detail::opencv_u8_plan(p, radius, sigma_color, sigma_space, static_cast<int>(C));
    return dispatch(image, out, p, ctx);
  }
  p.l1 = true;
  const double cc = -0.5 / (sigma_color * sigma_color), cs = -0.5 / (sigma_space * sigma_space);
  const int nb = 4096 * static_cast<int>(C);
  const float len = float((value_max - value_min) * double(C)), scale = float(nb) / len;
  p.lut.assign(static_cast<std::size_t>(nb + 2), 0.0);
  for (int i = 0; i < nb + 2; ++i) {
    const double v = double(float(i) / scale);
    p.lut[i] = double(float(std::exp(v * v * cc)));
    if (p.lut[i] == 0) break;
  }
  for (int i = -radius; i <= radius; ++i)
    for (int j = -radius; j <= radius; ++j) {
      const double r = std::sqrt(double(i) * i + double(j) * j);
      if (r > radius || (i == 0 && j == 0)) continue;
      const double s = double(float(std::exp(r * r * cs)));
      add_tap(p, i, j, s, std::log(s));
    }
  p.radius = radius;
  p.range = BilateralRange::Interp;
  p.scale = scale;
  p.max_pos = nb;
  p.centre_unit = true;
  dispatch(image, out, p, ctx);
}

}  // namespace foveal
