// SPDX-License-Identifier: Apache-2.0
// Kernel entry points of the FFTs (CPU). Complex arrays travel as float arrays with a trailing
// axis of 2; foveal._fft wraps them for numpy (Wiener deconvolution runs on it).
#include <pybind11/pybind11.h>

#include "foveal/ops/fft.hpp"
#include "interop.hpp"

namespace py = pybind11;

void bind_fft(py::module_& m) {
  m.def(
      "fftn",
      [](py::handle in, py::handle out, int naxes, bool inverse, int norm) {
        const auto i = foveal::interop::borrow(in, "input", false, 0);
        const auto o = foveal::interop::borrow(out, "out", true, 0);
        py::gil_scoped_release nogil;
        if (inverse) {
          foveal::ifftn(i.view, o.view, naxes, static_cast<foveal::FftNorm>(norm));
        } else {
          foveal::fftn(i.view, o.view, naxes, static_cast<foveal::FftNorm>(norm));
        }
      },
      py::arg("input"), py::arg("out"), py::arg("naxes"), py::arg("inverse"), py::arg("norm"),
      "Kernel entry point: complex FFT over the last `naxes` axes (complex = trailing axis of 2); "
      "norm 0 backward, 1 ortho, 2 forward. Use foveal._fft.");
  m.def(
      "rfftn",
      [](py::handle in, py::handle out, int naxes, int norm) {
        const auto i = foveal::interop::borrow(in, "input", false, 0);
        const auto o = foveal::interop::borrow(out, "out", true, 0);
        py::gil_scoped_release nogil;
        foveal::rfftn(i.view, o.view, naxes, static_cast<foveal::FftNorm>(norm));
      },
      py::arg("input"), py::arg("out"), py::arg("naxes"), py::arg("norm"),
      "Kernel entry point: real-input FFT over the last `naxes` axes. Use foveal._fft.");
  m.def(
      "irfftn",
      [](py::handle in, py::handle out, int naxes, int norm) {
        const auto i = foveal::interop::borrow(in, "input", false, 0);
        const auto o = foveal::interop::borrow(out, "out", true, 0);
        py::gil_scoped_release nogil;
        foveal::irfftn(i.view, o.view, naxes, static_cast<foveal::FftNorm>(norm));
      },
      py::arg("input"), py::arg("out"), py::arg("naxes"), py::arg("norm"),
      "Kernel entry point: inverse real FFT over the last `naxes` axes, `out`'s shape gives the "
      "lengths. Use foveal._fft.");
}
