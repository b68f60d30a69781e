// SPDX-License-Identifier: Apache-2.0
// Kernel entry points of the restoration ops. Users call foveal.restoration, which allocates
// the outputs and applies scikit-image's dtype rules.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "foveal/ops/tv.hpp"
#include "foveal/ops/rl.hpp"
#include "interop.hpp"

namespace py = pybind11;

void bind_restoration(py::module_& m) {
  m.def(
      "denoise_tv_chambolle",
      [](py::handle image, py::handle out, double weight, double eps, std::int64_t max_num_iter, int batch_dims,
         std::uintptr_t stream) {
        const auto im = foveal::interop::borrow(image, "image", false, stream);
        const auto o = foveal::interop::borrow(out, "out", true, stream);
        py::gil_scoped_release nogil;
        return foveal::denoise_tv_chambolle(im.view, o.view, weight, eps, max_num_iter, batch_dims,
                                            foveal::ExecContext::on_stream(stream));
      },
      py::arg("image"), py::arg("out"), py::arg("weight"), py::arg("eps"), py::arg("max_num_iter"),
      py::arg("batch_dims") = 0, py::kw_only(), py::arg("stream") = 0,
      "Kernel entry point: writes the TV-denoised image into `out`, returns the iteration count of "
      "each image. Use foveal.restoration.denoise_tv_chambolle.");
  m.def(
      "denoise_tv_bregman",
      [](py::handle image, py::handle out, double weight, double eps, std::int64_t max_num_iter, bool isotropic,
         bool joint, std::uintptr_t stream) {
        const auto im = foveal::interop::borrow(image, "image", false, stream);
        const auto o = foveal::interop::borrow(out, "out", true, stream);
        py::gil_scoped_release nogil;
        return foveal::denoise_tv_bregman(im.view, o.view, weight, eps, max_num_iter, isotropic, joint,
                                          foveal::ExecContext::on_stream(stream));
      },
      py::arg("image"), py::arg("out"), py::arg("weight"), py::arg("eps"), py::arg("max_num_iter"),
      py::arg("isotropic"), py::arg("joint"), py::kw_only(), py::arg("stream") = 0,
      "Kernel entry point: writes the split-Bregman TV-denoised planes (planes, rows, cols) into `out`, "
      "returns the sweep count of each plane. Use foveal.restoration.denoise_tv_bregman.");
  m.def(
      "richardson_lucy",
      [](py::handle image, py::handle psf, py::handle out, std::int64_t num_iter, bool clip, double filter_epsilon,
         int mode, int method, std::uintptr_t stream) {
        const auto im = foveal::interop::borrow(image, "image", false, stream);
        const auto ps = foveal::interop::borrow(psf, "psf", false, stream);
        const auto o = foveal::interop::borrow(out, "out", true, stream);
        py::gil_scoped_release nogil;
        const auto used = foveal::richardson_lucy(im.view, ps.view, o.view, num_iter, clip, filter_epsilon,
                                                  static_cast<foveal::RlBoundary>(mode),
                                                  static_cast<foveal::RlMethod>(method),
                                                  foveal::ExecContext::on_stream(stream));
        return static_cast<int>(used);
      },
      py::arg("image"), py::arg("psf"), py::arg("out"), py::arg("num_iter"), py::arg("clip"), py::arg("filter_epsilon"),
      py::arg("mode") = 0, py::arg("method") = 0, py::kw_only(), py::arg("stream") = 0,
      "Kernel entry point: writes the Richardson-Lucy deconvolution into `out`; returns the convolution "
      "method used (1 direct, 2 separable). mode: 0 constant, 1 reflect, 2 wrap; method: 0 auto, 1 direct, "
      "2 separable. Use foveal.restoration.richardson_lucy.");
}
