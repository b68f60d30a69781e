// SPDX-License-Identifier: Apache-2.0
// Kernel entry point of non-local means. Users call foveal.restoration.denoise_nl_means, which
// moves the channels last, allocates the output and applies scikit-image's dtype rules.
#include <pybind11/pybind11.h>

#include "foveal/ops/nlm.hpp"
#include "interop.hpp"

namespace py = pybind11;

void bind_nlm(py::module_& m) {
  m.def(
      "denoise_nl_means",
      [](py::handle image, py::handle out, std::int64_t patch_size, std::int64_t patch_distance, double h,
         double sigma, bool fast_mode, std::uintptr_t stream) {
        const auto im = foveal::interop::borrow(image, "image", false, stream);
        const auto o = foveal::interop::borrow(out, "out", true, stream);
        py::gil_scoped_release nogil;
        foveal::denoise_nl_means(im.view, o.view, patch_size, patch_distance, h, sigma, fast_mode,
                                 foveal::ExecContext::on_stream(stream));
      },
      py::arg("image"), py::arg("out"), py::arg("patch_size"), py::arg("patch_distance"), py::arg("h"),
      py::arg("sigma"), py::arg("fast_mode"), py::kw_only(), py::arg("stream") = 0,
      "Kernel entry point: writes the non-local means of `image` (spatial..., channels) into `out`. "
      "Use foveal.restoration.denoise_nl_means.");
  m.def(
      "fast_nl_means",
      [](py::handle image, py::handle out, double h, std::int64_t template_window_size, std::int64_t search_window_size,
         std::uintptr_t stream) {
        const auto im = foveal::interop::borrow(image, "image", false, stream);
        const auto o = foveal::interop::borrow(out, "out", true, stream);
        py::gil_scoped_release nogil;
        foveal::fast_nl_means(im.view, o.view, h, template_window_size, search_window_size,
                              foveal::ExecContext::on_stream(stream));
      },
      py::arg("image"), py::arg("out"), py::arg("h"), py::arg("template_window_size"), py::arg("search_window_size"),
      py::kw_only(), py::arg("stream") = 0,
      "Kernel entry point: OpenCV-style fastNlMeansDenoising of a grey uint8 image into `out`. "
      "Use foveal.restoration.fast_nl_means.");
}
