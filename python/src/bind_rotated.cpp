// SPDX-License-Identifier: Apache-2.0
// Kernel entry points of the rotated-box ops. Users call foveal.ops, which allocates the outputs.
#include <pybind11/pybind11.h>

#include "foveal/ops/box_iou_rotated.hpp"
#include "foveal/ops/nms_rotated.hpp"
#include "foveal/ops/roi_align_rotated.hpp"
#include "interop.hpp"

namespace py = pybind11;

void bind_rotated(py::module_& m) {
  m.def(
      "box_iou_rotated",
      [](py::handle boxes1, py::handle boxes2, py::handle out, std::uintptr_t stream) {
        const auto a = foveal::interop::borrow(boxes1, "boxes1", false, stream);
        const auto b = foveal::interop::borrow(boxes2, "boxes2", false, stream);
        const auto o = foveal::interop::borrow(out, "out", true, stream);
        py::gil_scoped_release nogil;
        foveal::box_iou_rotated(a.view, b.view, o.view, foveal::ExecContext::on_stream(stream));
      },
      py::arg("boxes1"), py::arg("boxes2"), py::arg("out"), py::kw_only(), py::arg("stream") = 0,
      "Kernel entry point: writes the rotated IoU matrix into `out`. Use foveal.ops.box_iou_rotated.");
  m.def(
      "nms_rotated",
      [](py::handle boxes, py::handle scores, double iou_threshold, py::handle keep, std::uintptr_t stream) {
        const auto b = foveal::interop::borrow(boxes, "boxes", false, stream);
        const auto s = foveal::interop::borrow(scores, "scores", false, stream);
        const auto k = foveal::interop::borrow(keep, "keep", true, stream);
        py::gil_scoped_release nogil;
        return foveal::nms_rotated(b.view, s.view, iou_threshold, k.view, foveal::ExecContext::on_stream(stream));
      },
      py::arg("boxes"), py::arg("scores"), py::arg("iou_threshold"), py::arg("keep"), py::kw_only(),
      py::arg("stream") = 0,
      "Kernel entry point: writes kept indices to the front of `keep`, returns their count. "
      "Use foveal.ops.nms_rotated.");
  m.def(
      "batched_nms_rotated",
      [](py::handle boxes, py::handle scores, py::handle idxs, double iou_threshold, py::handle keep,
         std::uintptr_t stream) {
        const auto b = foveal::interop::borrow(boxes, "boxes", false, stream);
        const auto s = foveal::interop::borrow(scores, "scores", false, stream);
        const auto i = foveal::interop::borrow(idxs, "idxs", false, stream);
        const auto k = foveal::interop::borrow(keep, "keep", true, stream);
        py::gil_scoped_release nogil;
        return foveal::batched_nms_rotated(b.view, s.view, i.view, iou_threshold, k.view,
                                           foveal::ExecContext::on_stream(stream));
      },
      py::arg("boxes"), py::arg("scores"), py::arg("idxs"), py::arg("iou_threshold"), py::arg("keep"), py::kw_only(),
      py::arg("stream") = 0,
      "Kernel entry point: batched_nms_rotated into `keep`, returns the count. Use foveal.ops.batched_nms_rotated.");
  m.def(
      "roi_align_rotated",
      [](py::handle input, py::handle rois, py::handle out, double spatial_scale, int sampling_ratio, bool aligned,
         std::uintptr_t stream) {
        const auto x = foveal::interop::borrow(input, "input", false, stream);
        const auto r = foveal::interop::borrow(rois, "rois", false, stream);
        const auto o = foveal::interop::borrow(out, "out", true, stream);
        py::gil_scoped_release nogil;
        foveal::roi_align_rotated(x.view, r.view, o.view, {spatial_scale, sampling_ratio, aligned},
                                  foveal::ExecContext::on_stream(stream));
      },
      py::arg("input"), py::arg("rois"), py::arg("out"), py::arg("spatial_scale"), py::arg("sampling_ratio"),
      py::arg("aligned"), py::kw_only(), py::arg("stream") = 0,
      "Kernel entry point: writes RoIAlignRotated of `input` into `out`. Use foveal.ops.roi_align_rotated.");
  m.def(
      "roi_align_rotated_backward",
      [](py::handle grad_output, py::handle rois, py::handle grad_input, double spatial_scale, int sampling_ratio,
         bool aligned, std::uintptr_t stream) {
        const auto g = foveal::interop::borrow(grad_output, "grad_output", false, stream);
        const auto r = foveal::interop::borrow(rois, "rois", false, stream);
        const auto gi = foveal::interop::borrow(grad_input, "grad_input", true, stream);
        py::gil_scoped_release nogil;
        foveal::roi_align_rotated_backward(g.view, r.view, gi.view, {spatial_scale, sampling_ratio, aligned},
                                           foveal::ExecContext::on_stream(stream));
      },
      py::arg("grad_output"), py::arg("rois"), py::arg("grad_input"), py::arg("spatial_scale"),
      py::arg("sampling_ratio"), py::arg("aligned"), py::kw_only(), py::arg("stream") = 0,
      "Kernel entry point: gradient of roi_align_rotated into `grad_input`. Use foveal.ops.roi_align_rotated_backward.");
}
