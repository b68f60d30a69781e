// SPDX-License-Identifier: Apache-2.0
// Kernel entry points of the restoration ops. Users call foveal.restoration, which allocates
// the outputs and applies scikit-image's dtype rules.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "foveal/ops/tv.hpp"
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
}
