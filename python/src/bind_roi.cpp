// SPDX-License-Identifier: Apache-2.0
// Kernel entry points of RoIAlign / RoIPool. Users call foveal.ops, which allocates the outputs.
#include <pybind11/pybind11.h>

#include <string>

#include "foveal/core/error.hpp"
#include "foveal/ops/roi_align.hpp"
#include "foveal/ops/roi_pool.hpp"
#include "interop.hpp"

namespace py = pybind11;

namespace {

foveal::RoiPoolBins pool_bins(const std::string& name) {
  if (name == "torchvision") return foveal::RoiPoolBins::Torchvision;
  if (name == "seed") return foveal::RoiPoolBins::Seed;
  throw foveal::ValueError("roi_pool: bins must be 'torchvision' or 'seed', got '" + name + "'");
}

}  // namespace

void bind_roi(py::module_& m) {
  m.def(
      "roi_align",
      [](py::handle input, py::handle rois, py::handle out, double spatial_scale, int sampling_ratio, bool aligned,
         std::uintptr_t stream) {
        const auto x = foveal::interop::borrow(input, "input", false, stream);
        const auto r = foveal::interop::borrow(rois, "rois", false, stream);
        const auto o = foveal::interop::borrow(out, "out", true, stream);
        py::gil_scoped_release nogil;
        foveal::roi_align(x.view, r.view, o.view, {spatial_scale, sampling_ratio, aligned},
                          foveal::ExecContext::on_stream(stream));
      },
      py::arg("input"), py::arg("rois"), py::arg("out"), py::arg("spatial_scale"), py::arg("sampling_ratio"),
      py::arg("aligned"), py::kw_only(), py::arg("stream") = 0,
      "Kernel entry point: writes RoIAlign of `input` into `out`. Use foveal.ops.roi_align.");

  m.def(
      "roi_align_backward",
      [](py::handle grad_output, py::handle rois, py::handle grad_input, double spatial_scale, int sampling_ratio,
         bool aligned, std::uintptr_t stream) {
        const auto g = foveal::interop::borrow(grad_output, "grad_output", false, stream);
        const auto r = foveal::interop::borrow(rois, "rois", false, stream);
        const auto gi = foveal::interop::borrow(grad_input, "grad_input", true, stream);
        py::gil_scoped_release nogil;
        foveal::roi_align_backward(g.view, r.view, gi.view, {spatial_scale, sampling_ratio, aligned},
                                   foveal::ExecContext::on_stream(stream));
      },
      py::arg("grad_output"), py::arg("rois"), py::arg("grad_input"), py::arg("spatial_scale"),
      py::arg("sampling_ratio"), py::arg("aligned"), py::kw_only(), py::arg("stream") = 0,
      "Kernel entry point: overwrites `grad_input` with the RoIAlign gradient. Use foveal.ops.roi_align_backward.");

  m.def(
      "roi_pool",
      [](py::handle input, py::handle rois, py::handle out, py::handle argmax, double spatial_scale,
         const std::string& bins, std::uintptr_t stream) {
        const foveal::RoiPoolParams params{spatial_scale, pool_bins(bins)};
        const auto x = foveal::interop::borrow(input, "input", false, stream);
        const auto r = foveal::interop::borrow(rois, "rois", false, stream);
        const auto o = foveal::interop::borrow(out, "out", true, stream);
        foveal::interop::Borrowed a;
        if (!argmax.is_none()) a = foveal::interop::borrow(argmax, "argmax", true, stream);
        py::gil_scoped_release nogil;
        foveal::roi_pool(x.view, r.view, o.view, a.view, params, foveal::ExecContext::on_stream(stream));
      },
      py::arg("input"), py::arg("rois"), py::arg("out"), py::arg("argmax"), py::arg("spatial_scale"),
      py::arg("bins"), py::kw_only(), py::arg("stream") = 0,
      "Kernel entry point: writes RoIPool of `input` into `out` (and argmax unless None). Use foveal.ops.roi_pool.");

  m.def(
      "roi_pool_backward",
      [](py::handle grad_output, py::handle rois, py::handle argmax, py::handle grad_input, std::uintptr_t stream) {
        const auto g = foveal::interop::borrow(grad_output, "grad_output", false, stream);
        const auto r = foveal::interop::borrow(rois, "rois", false, stream);
        const auto a = foveal::interop::borrow(argmax, "argmax", false, stream);
        const auto gi = foveal::interop::borrow(grad_input, "grad_input", true, stream);
        py::gil_scoped_release nogil;
        foveal::roi_pool_backward(g.view, r.view, a.view, gi.view, foveal::ExecContext::on_stream(stream));
      },
      py::arg("grad_output"), py::arg("rois"), py::arg("argmax"), py::arg("grad_input"), py::kw_only(),
      py::arg("stream") = 0,
      "Kernel entry point: overwrites `grad_input` with the RoIPool gradient. Use foveal.ops.roi_pool_backward.");
}
