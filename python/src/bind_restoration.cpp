// SPDX-License-Identifier: Apache-2.0
// Kernel entry points of the restoration ops. Users call foveal.restoration, which allocates
// the outputs and applies scikit-image's dtype rules.
#include <algorithm>
#include <vector>

#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "foveal/ops/bilateral.hpp"
#include "foveal/ops/tv.hpp"
#include "foveal/ops/rl.hpp"
#include "cancel.hpp"
#include "interop.hpp"

namespace py = pybind11;

namespace {
// The work estimate run_cancellable takes: element-operations of a CPU call, 0 for CUDA arrays.
double cpu_work(const foveal::ConstTensorView& v, double per_element) {
  return v.device().type == foveal::DeviceType::CPU ? static_cast<double>(v.numel()) * per_element : 0.0;
}
}  // namespace

void bind_restoration(py::module_& m) {
  m.def(
      "denoise_tv_chambolle",
      [](py::handle image, py::handle out, double weight, double eps, std::int64_t max_num_iter, int batch_dims,
         std::uintptr_t stream, foveal::interop::CancelFlag* cancel) {
        const auto im = foveal::interop::borrow(image, "image", false, stream);
        const auto o = foveal::interop::borrow(out, "out", true, stream);
        std::vector<std::int64_t> iters;
        foveal::interop::run_cancellable(cancel, cpu_work(im.view, 20.0 * double(max_num_iter)),
                                         foveal::ExecContext::on_stream(stream), [&](const foveal::ExecContext& ctx) {
                                           iters = foveal::denoise_tv_chambolle(im.view, o.view, weight, eps,
                                                                                max_num_iter, batch_dims, ctx);
                                         });
        return iters;
      },
      py::arg("image"), py::arg("out"), py::arg("weight"), py::arg("eps"), py::arg("max_num_iter"),
      py::arg("batch_dims") = 0, py::kw_only(), py::arg("stream") = 0, py::arg("cancel") = nullptr,
      "Kernel entry point: writes the TV-denoised image into `out`, returns the iteration count of "
      "each image. Use foveal.restoration.denoise_tv_chambolle.");
  m.def(
      "denoise_tv_bregman",
      [](py::handle image, py::handle out, double weight, double eps, std::int64_t max_num_iter, bool isotropic,
         bool joint, std::uintptr_t stream, foveal::interop::CancelFlag* cancel) {
        const auto im = foveal::interop::borrow(image, "image", false, stream);
        const auto o = foveal::interop::borrow(out, "out", true, stream);
        std::vector<std::int64_t> iters;
        foveal::interop::run_cancellable(cancel, cpu_work(im.view, 30.0 * double(max_num_iter)),
                                         foveal::ExecContext::on_stream(stream), [&](const foveal::ExecContext& ctx) {
                                           iters = foveal::denoise_tv_bregman(im.view, o.view, weight, eps,
                                                                              max_num_iter, isotropic, joint, ctx);
                                         });
        return iters;
      },
      py::arg("image"), py::arg("out"), py::arg("weight"), py::arg("eps"), py::arg("max_num_iter"),
      py::arg("isotropic"), py::arg("joint"), py::kw_only(), py::arg("stream") = 0, py::arg("cancel") = nullptr,
      "Kernel entry point: writes the split-Bregman TV-denoised planes (planes, rows, cols) into `out`, "
      "returns the sweep count of each plane. Use foveal.restoration.denoise_tv_bregman.");
  m.def(
      "richardson_lucy",
      [](py::handle image, py::handle psf, py::handle out, std::int64_t num_iter, bool clip, double filter_epsilon,
         int mode, int method, std::uintptr_t stream, foveal::interop::CancelFlag* cancel) {
        const auto im = foveal::interop::borrow(image, "image", false, stream);
        const auto ps = foveal::interop::borrow(psf, "psf", false, stream);
        const auto o = foveal::interop::borrow(out, "out", true, stream);
        foveal::RlMethod used = foveal::RlMethod::Direct;
        foveal::interop::run_cancellable(
            cancel, cpu_work(im.view, 4.0 * double(num_iter) * std::min<double>(double(ps.view.numel()), 64.0)),
            foveal::ExecContext::on_stream(stream), [&](const foveal::ExecContext& ctx) {
              used = foveal::richardson_lucy(im.view, ps.view, o.view, num_iter, clip, filter_epsilon,
                                             static_cast<foveal::RlBoundary>(mode),
                                             static_cast<foveal::RlMethod>(method), ctx);
            });
        return static_cast<int>(used);
      },
      py::arg("image"), py::arg("psf"), py::arg("out"), py::arg("num_iter"), py::arg("clip"), py::arg("filter_epsilon"),
      py::arg("mode") = 0, py::arg("method") = 0, py::kw_only(), py::arg("stream") = 0, py::arg("cancel") = nullptr,
      "Kernel entry point: writes the Richardson-Lucy deconvolution into `out`; returns the convolution "
      "method used (1 direct, 2 separable). mode: 0 constant, 1 reflect, 2 wrap; method: 0 auto, 1 direct, "
      "2 separable. Use foveal.restoration.richardson_lucy.");

  m.def(
      "richardson_lucy_variant",
      [](py::handle image, py::handle psf, py::handle out, std::int64_t num_iter, bool clip, double filter_epsilon,
         int mode, int acceleration, double regularization, int method, std::uintptr_t stream,
         foveal::interop::CancelFlag* cancel) {
        const auto im = foveal::interop::borrow(image, "image", false, stream);
        const auto ps = foveal::interop::borrow(psf, "psf", false, stream);
        const auto o = foveal::interop::borrow(out, "out", true, stream);
        foveal::RlVariantOptions opt;
        opt.num_iter = num_iter;
        opt.clip = clip;
        opt.filter_epsilon = filter_epsilon;
        opt.mode = static_cast<foveal::RlBoundary>(mode);
        opt.acceleration = static_cast<foveal::RlAcceleration>(acceleration);
        opt.regularization = regularization;
        opt.method = static_cast<foveal::RlMethod>(method);
        foveal::interop::run_cancellable(
            cancel, cpu_work(im.view, 4.0 * double(num_iter) * std::min<double>(double(ps.view.numel()), 64.0)),
            foveal::ExecContext::on_stream(stream), [&](const foveal::ExecContext& ctx) {
              foveal::richardson_lucy_variant(im.view, ps.view, o.view, opt, ctx);
            });
      },
      py::arg("image"), py::arg("psf"), py::arg("out"), py::arg("num_iter"), py::arg("clip"), py::arg("filter_epsilon"),
      py::arg("mode"), py::arg("acceleration"), py::arg("regularization"), py::arg("method") = 0, py::kw_only(),
      py::arg("stream") = 0, py::arg("cancel") = nullptr,
      "Kernel entry point: Richardson-Lucy with Biggs-Andrews acceleration (acceleration 1) and/or TV "
      "regularisation (regularization > 0) into `out`. mode: 0 constant, 1 reflect, 2 wrap; method: 0 auto, "
      "1 direct, 2 separable. Use "
      "foveal.restoration.richardson_lucy.");
  m.def(
      "blind_richardson_lucy",
      [](py::handle image, py::handle psf, py::handle out, py::handle psf_out, std::int64_t num_iter,
         std::int64_t psf_iter, std::int64_t image_iter, bool clip, double filter_epsilon, int mode, int acceleration,
         std::uintptr_t stream, foveal::interop::CancelFlag* cancel) {
        const auto im = foveal::interop::borrow(image, "image", false, stream);
        const auto ps = foveal::interop::borrow(psf, "psf", false, stream);
        const auto o = foveal::interop::borrow(out, "out", true, stream);
        const auto po = foveal::interop::borrow(psf_out, "psf_out", true, stream);
        foveal::BlindRlOptions opt;
        opt.num_iter = num_iter;
        opt.psf_iter = psf_iter;
        opt.image_iter = image_iter;
        opt.clip = clip;
        opt.filter_epsilon = filter_epsilon;
        opt.mode = static_cast<foveal::RlBoundary>(mode);
        opt.acceleration = static_cast<foveal::RlAcceleration>(acceleration);
        foveal::interop::run_cancellable(
            cancel, cpu_work(im.view, 8.0 * double(num_iter) * double(psf_iter + image_iter) *
                                          std::min<double>(double(ps.view.numel()), 64.0)),
            foveal::ExecContext::on_stream(stream), [&](const foveal::ExecContext& ctx) {
              foveal::blind_richardson_lucy(im.view, ps.view, o.view, po.view, opt, ctx);
            });
      },
      py::arg("image"), py::arg("psf"), py::arg("out"), py::arg("psf_out"), py::arg("num_iter"), py::arg("psf_iter"),
      py::arg("image_iter"), py::arg("clip"), py::arg("filter_epsilon"), py::arg("mode"), py::arg("acceleration"),
      py::kw_only(), py::arg("stream") = 0, py::arg("cancel") = nullptr,
      "Kernel entry point: blind Richardson-Lucy from the initial `psf`; writes the image into `out` and the "
      "estimated psf into `psf_out`. Use foveal.restoration.blind_richardson_lucy.");

  m.def(
      "denoise_bilateral",
      [](py::handle image, py::handle out, std::int64_t win_size, double sigma_color, double sigma_spatial,
         std::int64_t bins, int border, double cval, double raw_min, double raw_max, std::uintptr_t stream,
         foveal::interop::CancelFlag* cancel) {
        const auto im = foveal::interop::borrow(image, "image", false, stream);
        const auto o = foveal::interop::borrow(out, "out", true, stream);
        foveal::DenoiseBilateralOptions opt;
        opt.win_size = win_size;
        opt.sigma_color = sigma_color;
        opt.sigma_spatial = sigma_spatial;
        opt.bins = bins;
        opt.border = static_cast<foveal::BilateralBorder>(border);
        opt.cval = cval;
        opt.raw_min = raw_min;
        opt.raw_max = raw_max;
        const double work = static_cast<double>(im.view.numel()) * double(win_size) * double(win_size);
        foveal::interop::run_cancellable(cancel, im.view.device().type == foveal::DeviceType::CPU ? work : 0.0, foveal::ExecContext::on_stream(stream),
                                         [&](const foveal::ExecContext& ctx) {
                                           foveal::denoise_bilateral(im.view, o.view, opt, ctx);
                                         });
      },
      py::arg("image"), py::arg("out"), py::arg("win_size"), py::arg("sigma_color"), py::arg("sigma_spatial"),
      py::arg("bins"), py::arg("border"), py::arg("cval"), py::arg("raw_min"), py::arg("raw_max"), py::kw_only(),
      py::arg("stream") = 0, py::arg("cancel") = nullptr,
      "Kernel entry point: writes scikit-image's bilateral filter of an (H, W, C) float image into `out` "
      "(bins=0: exact). border: 0 constant, 1 edge, 2 symmetric, 3 reflect, 4 wrap. Use "
      "foveal.restoration.denoise_bilateral.");
  m.def(
      "bilateral_filter",
      [](py::handle image, py::handle out, int d, double sigma_color, double sigma_space, double value_min,
         double value_max, int border, bool exact, std::uintptr_t stream, foveal::interop::CancelFlag* cancel) {
        const auto im = foveal::interop::borrow(image, "image", false, stream);
        const auto o = foveal::interop::borrow(out, "out", true, stream);
        const double work = static_cast<double>(im.view.numel()) * (d > 0 ? double(d) * d : 25.0);
        foveal::interop::run_cancellable(cancel, im.view.device().type == foveal::DeviceType::CPU ? work : 0.0, foveal::ExecContext::on_stream(stream),
                                         [&](const foveal::ExecContext& ctx) {
                                           foveal::bilateral_filter(im.view, o.view, d, sigma_color, sigma_space,
                                                                    value_min, value_max,
                                                                    static_cast<foveal::BilateralBorder>(border), exact,
                                                                    ctx);
                                         });
      },
      py::arg("image"), py::arg("out"), py::arg("d"), py::arg("sigma_color"), py::arg("sigma_space"),
      py::arg("value_min"), py::arg("value_max"), py::arg("border"), py::arg("exact"), py::kw_only(),
      py::arg("stream") = 0, py::arg("cancel") = nullptr,
      "Kernel entry point: writes OpenCV's bilateralFilter of an (H, W, C) uint8/float32 image into `out`. "
      "Use foveal.restoration.bilateral_filter.");
}
