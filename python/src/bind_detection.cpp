// SPDX-License-Identifier: Apache-2.0
// Kernel entry points of the detection ops. Users call foveal.ops, which allocates the outputs.
#include <pybind11/pybind11.h>

#include "foveal/ops/box_iou.hpp"
#include "foveal/ops/box_iou_variants.hpp"
#include "foveal/ops/nms.hpp"
#include "interop.hpp"

namespace py = pybind11;

void bind_detection(py::module_& m) {
  m.def(
      "box_iou",
      [](py::handle boxes1, py::handle boxes2, py::handle out, std::uintptr_t stream) {
        const auto a = foveal::interop::borrow(boxes1, "boxes1", false, stream);
        const auto b = foveal::interop::borrow(boxes2, "boxes2", false, stream);
        const auto o = foveal::interop::borrow(out, "out", true, stream);
        py::gil_scoped_release nogil;
        foveal::box_iou(a.view, b.view, o.view, foveal::ExecContext::on_stream(stream));
      },
      py::arg("boxes1"), py::arg("boxes2"), py::arg("out"), py::kw_only(), py::arg("stream") = 0,
      "Kernel entry point: writes the IoU matrix into `out`. Use foveal.ops.box_iou.");

  m.def(
      "nms",
      [](py::handle boxes, py::handle scores, double iou_threshold, py::handle keep, std::uintptr_t stream) {
        const auto b = foveal::interop::borrow(boxes, "boxes", false, stream);
        const auto s = foveal::interop::borrow(scores, "scores", false, stream);
        const auto k = foveal::interop::borrow(keep, "keep", true, stream);
        py::gil_scoped_release nogil;
        return foveal::nms(b.view, s.view, iou_threshold, k.view, foveal::ExecContext::on_stream(stream));
      },
      py::arg("boxes"), py::arg("scores"), py::arg("iou_threshold"), py::arg("keep"), py::kw_only(),
      py::arg("stream") = 0,
      "Kernel entry point: writes kept indices to the front of `keep`, returns their count. "
      "Use foveal.ops.nms.");
  m.def(
      "generalized_box_iou",
      [](py::handle boxes1, py::handle boxes2, py::handle out, std::uintptr_t stream) {
        const auto a = foveal::interop::borrow(boxes1, "boxes1", false, stream);
        const auto b = foveal::interop::borrow(boxes2, "boxes2", false, stream);
        const auto o = foveal::interop::borrow(out, "out", true, stream);
        py::gil_scoped_release nogil;
        foveal::generalized_box_iou(a.view, b.view, o.view, foveal::ExecContext::on_stream(stream));
      },
      py::arg("boxes1"), py::arg("boxes2"), py::arg("out"), py::kw_only(), py::arg("stream") = 0,
      "Kernel entry point: writes the GIoU matrix into `out`. Use foveal.ops.generalized_box_iou.");

  // DIoU and CIoU share a signature (with eps).
  using EpsOp = void (*)(foveal::ConstTensorView, foveal::ConstTensorView, double, foveal::TensorView,
                         const foveal::ExecContext&);
  const auto def_eps_op = [&m](const char* name, EpsOp fn, const char* doc) {
    m.def(
        name,
        [fn](py::handle boxes1, py::handle boxes2, double eps, py::handle out, std::uintptr_t stream) {
          const auto a = foveal::interop::borrow(boxes1, "boxes1", false, stream);
          const auto b = foveal::interop::borrow(boxes2, "boxes2", false, stream);
          const auto o = foveal::interop::borrow(out, "out", true, stream);
          py::gil_scoped_release nogil;
          fn(a.view, b.view, eps, o.view, foveal::ExecContext::on_stream(stream));
        },
        py::arg("boxes1"), py::arg("boxes2"), py::arg("eps"), py::arg("out"), py::kw_only(), py::arg("stream") = 0,
        doc);
  };
  def_eps_op("distance_box_iou", &foveal::distance_box_iou,
             "Kernel entry point: writes the DIoU matrix into `out`. Use foveal.ops.distance_box_iou.");
  def_eps_op("complete_box_iou", &foveal::complete_box_iou,
             "Kernel entry point: writes the CIoU matrix into `out`. Use foveal.ops.complete_box_iou.");
}
