// SPDX-License-Identifier: Apache-2.0
// Kernel entry points of RoIAlign / RoIPool. Users call foveal.ops, which allocates the outputs.
#include <pybind11/pybind11.h>

#include <string>
#include <vector>

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

  m.def(
      "multi_scale_roi_align",
      [](py::sequence features, py::handle rois, py::handle out, std::int64_t image_height, std::int64_t image_width,
         int sampling_ratio, int canonical_scale, int canonical_level, bool aligned, std::uintptr_t stream) {
        std::vector<std::string> names;
        std::vector<foveal::interop::Borrowed> held;
        std::vector<foveal::ConstTensorView> views;
        for (std::size_t l = 0; l < features.size(); ++l) {
          names.push_back("features[" + std::to_string(l) + "]");
          held.push_back(foveal::interop::borrow(features[l], names.back().c_str(), false, stream));
          views.push_back(held.back().view);
        }
        const auto r = foveal::interop::borrow(rois, "rois", false, stream);
        const auto o = foveal::interop::borrow(out, "out", true, stream);
        const foveal::MultiScaleRoiAlignParams params{sampling_ratio, canonical_scale, canonical_level, aligned};
        py::gil_scoped_release nogil;
        foveal::multi_scale_roi_align(views.data(), static_cast<int>(views.size()), r.view, image_height, image_width,
                                      o.view, params, foveal::ExecContext::on_stream(stream));
      },
      py::arg("features"), py::arg("rois"), py::arg("out"), py::arg("image_height"), py::arg("image_width"),
      py::arg("sampling_ratio"), py::arg("canonical_scale"), py::arg("canonical_level"), py::arg("aligned"),
      py::kw_only(), py::arg("stream") = 0,
      "Kernel entry point: writes multi-scale RoIAlign of the pyramid `features` into `out`. Use "
      "foveal.ops.multi_scale_roi_align.");
}
