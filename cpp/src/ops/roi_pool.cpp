// SPDX-License-Identifier: Apache-2.0
#include "foveal/ops/roi_pool.hpp"

#include <cstdint>

#include "ops/backend.hpp"
#include "ops/roi_checks.hpp"

namespace foveal {

void roi_pool(ConstTensorView input, ConstTensorView rois, TensorView out, TensorView argmax,
              const RoiPoolParams& params, const ExecContext& ctx) {
  constexpr const char* op = "roi_pool";
  const check::Named in{"input", input}, r{"rois", rois}, o{"out", out};
  check::roi_shapes(op, in, r, o);
  check::same_device(op, {in, r, o});
  check::roi_dtypes(op, in, r, o);
  check::contiguous(op, {in, r, o});
  check::not_null(op, {in, r, o});
  if (argmax.ndim() != 0) {  // a default-constructed view: no argmax wanted
    const check::Named a{"argmax", argmax};
    FOVEAL_CHECK_VALUE(argmax.shape() == out.shape(), op, ": argmax must have the shape of out ", out.shape().str(),
                       ", got ", argmax.shape().str());
    FOVEAL_CHECK_TYPE(argmax.dtype() == DType::Int64, op, ": argmax must be int64, got ", dtype_name(argmax.dtype()));
    check::same_device(op, {in, a});
    check::contiguous(op, {a});
    check::not_null(op, {a});
  }
  check::spatial_scale(op, params.spatial_scale);
  check::roi_values(op, rois, input.size(0), params.spatial_scale);
  if (out.numel() == 0) return;
  switch (input.device().type) {
    case DeviceType::CPU: return cpu::roi_pool(input, rois, out, argmax, params, ctx);
    case DeviceType::CUDA: return FOVEAL_CUDA_CALL(roi_pool, input, rois, out, argmax, params, ctx);
  }
}

void roi_pool_backward(ConstTensorView grad_output, ConstTensorView rois, ConstTensorView argmax,
                       TensorView grad_input, const ExecContext& ctx) {
  constexpr const char* op = "roi_pool_backward";
  const check::Named gi{"grad_input", grad_input}, r{"rois", rois}, go{"grad_output", grad_output},
      a{"argmax", argmax};
  check::roi_shapes(op, gi, r, go);
  FOVEAL_CHECK_VALUE(argmax.shape() == grad_output.shape(), op, ": argmax must have the shape of grad_output ",
                     grad_output.shape().str(), ", got ", argmax.shape().str());
  check::same_device(op, {gi, r, go, a});
  check::roi_dtypes(op, gi, r, go);
  FOVEAL_CHECK_TYPE(argmax.dtype() == DType::Int64, op, ": argmax must be int64, got ", dtype_name(argmax.dtype()));
  check::contiguous(op, {gi, r, go, a});
  check::not_null(op, {gi, r, go, a});
  check::roi_values(op, rois, grad_input.size(0), 1.0);
  if (argmax.device().type == DeviceType::CPU) {
    const std::int64_t plane = grad_input.size(2) * grad_input.size(3);
    const std::int64_t* am = argmax.data_as<std::int64_t>();
    for (std::int64_t i = 0, n = argmax.numel(); i < n; ++i)
      FOVEAL_CHECK_VALUE(am[i] >= -1 && am[i] < plane, op, ": argmax values must be -1 or a flat index in [0, ",
                         plane, ") of the H x W plane, got ", am[i], " at flat position ", i);
  }
  if (grad_input.numel() == 0) return;
  switch (grad_input.device().type) {
    case DeviceType::CPU: return cpu::roi_pool_backward(grad_output, rois, argmax, grad_input, ctx);
    case DeviceType::CUDA: return FOVEAL_CUDA_CALL(roi_pool_backward, grad_output, rois, argmax, grad_input, ctx);
  }
}

}  // namespace foveal
