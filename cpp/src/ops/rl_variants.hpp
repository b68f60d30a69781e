// SPDX-License-Identifier: Apache-2.0
// Richardson-Lucy variants (Biggs-Andrews acceleration, TV regularisation, blind): the device
// primitives their iteration loops (ops/rl_variants.cpp) run. A backend implements RlKernels for
// float and double; every array argument is a volume of the image's shape on the backend's
// device, allocated by `alloc`. The loops themselves, the extrapolation weights and the psf
// updates (a few hundred values) run on the host.
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "foveal/core/exec_context.hpp"
#include "foveal/core/tensor_view.hpp"
#include "foveal/ops/rl.hpp"

namespace foveal::detail {

template <typename T>
class RlKernels {
 public:
  virtual ~RlKernels() = default;
  /// A zeroed volume of the image's shape, owned by this object.
  virtual T* alloc() = 0;
  /// Sets the psf (row-major, the shape given at construction, as 3-D). Zero taps are skipped.
  virtual void set_psf(const std::vector<double>& psf) = 0;
  /// ratio = image / (conv(x, psf) + 1e-12), 0 where that is < filter_epsilon when filtering.
  virtual void ratio(const T* x, T* ratio) = 0;
  /// out = y * conv(ratio, flip(psf)) / divisor (divisor null: 1). out may alias y.
  virtual void correct(const T* y, const T* ratio, const T* divisor, T* out) = 0;
  /// divisor = max(1 - lambda div(grad x / |grad x|_eps), floor).
  virtual void tv_divisor(const T* x, double lambda, double floor, T* divisor) = 0;
  /// y = rl_extrapolate(x, x_prev, alpha).
  virtual void extrapolate(const T* x, const T* x_prev, double alpha, T* y) = 0;
  /// out = a - b.
  virtual void subtract(const T* a, const T* b, T* out) = 0;
  /// sum(a * b) in double.
  virtual double dot(const T* a, const T* b) = 0;
  /// sum(a) in double.
  virtual double sum(const T* a) = 0;
  virtual void copy(const T* src, T* dst) = 0;
  /// dst = src (the caller's image, on the device) clamped below at 0.
  virtual void init_from_image(T* dst) = 0;
  virtual void fill(T* dst, double value) = 0;
  /// corr[j] = sum_i ratio[i] x[i + c - j] for every psf tap j (c = the psf centre, odd psf): the
  /// correlation blind RL's psf update multiplies by. x is read with the boundary mode.
  virtual std::vector<double> psf_correlation(const T* ratio, const T* x) = 0;
  /// Writes x (clamped to [-1, 1] when clip) into the caller's output.
  virtual void finish(const T* x, bool clip) = 0;
  /// `count` values of a device array (the psf) on the host, and back.
  virtual std::vector<double> to_host(const T* p, std::int64_t count) = 0;
  virtual void from_host(const std::vector<double>& v, T* p) = 0;
};

struct RlVariantArgs {
  std::int64_t n[3] = {1, 1, 1};  // image shape as 3-D
  std::int64_t k[3] = {1, 1, 1};  // psf shape as 3-D
  double filter_epsilon = 0.0;
  RlBoundary mode = RlBoundary::Constant;
  RlMethod method = RlMethod::Auto;  // the CPU's convolution path
  int device = 0;  // CUDA device index
};

}  // namespace foveal::detail

namespace foveal::cpu {
/// The CPU primitives over the caller's image and output (host memory, C-contiguous).
std::unique_ptr<::foveal::detail::RlKernels<float>> rl_kernels_f32(const float* image, float* out,
                                                                    const ::foveal::detail::RlVariantArgs& args,
                                                                    const ExecContext& ctx);
std::unique_ptr<::foveal::detail::RlKernels<double>> rl_kernels_f64(const double* image, double* out,
                                                                     const ::foveal::detail::RlVariantArgs& args,
                                                                     const ExecContext& ctx);
}  // namespace foveal::cpu

namespace foveal::cuda {
/// The CUDA primitives (device memory, work on ctx.stream); defined when built with CUDA.
std::unique_ptr<::foveal::detail::RlKernels<float>> rl_kernels_f32(const float* image, float* out,
                                                                    const ::foveal::detail::RlVariantArgs& args,
                                                                    const ExecContext& ctx);
std::unique_ptr<::foveal::detail::RlKernels<double>> rl_kernels_f64(const double* image, double* out,
                                                                     const ::foveal::detail::RlVariantArgs& args,
                                                                     const ExecContext& ctx);
}  // namespace foveal::cuda
