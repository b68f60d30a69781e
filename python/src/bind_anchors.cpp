// SPDX-License-Identifier: Apache-2.0
// Kernel entry points of anchors, box coding and soft-NMS. Users call foveal.ops.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <array>
#include <memory>
#include <tuple>
#include <vector>

#include "foveal/ops/anchors.hpp"
#include "foveal/ops/box_coder.hpp"
#include "foveal/ops/soft_nms.hpp"
#include "interop.hpp"

namespace py = pybind11;

namespace {
foveal::AnchorStyle style_of(int style) {
  return style == 1 ? foveal::AnchorStyle::Matterport : foveal::AnchorStyle::Torchvision;
}
}  // namespace

void bind_anchors(py::module_& m) {
  m.def(
      "cell_anchors",
      [](py::handle sizes, py::handle ratios, int style, py::handle out) {
        const auto s = foveal::interop::borrow(sizes, "sizes", false);
        const auto r = foveal::interop::borrow(ratios, "aspect_ratios", false);
        const auto o = foveal::interop::borrow(out, "out", true);
        foveal::cell_anchors(s.view, r.view, style_of(style), o.view);
      },
      py::arg("sizes"), py::arg("aspect_ratios"), py::arg("style"), py::arg("out"),
      "Kernel entry point: cell anchors (A, 4) float64 for style 0 (torchvision) or 1 (matterport). "
      "Use foveal.ops.AnchorGenerator.");

  m.def(
      "anchor_grid",
      [](py::handle cells,
         const std::vector<std::tuple<std::int64_t, std::int64_t, std::int64_t, std::int64_t, std::int64_t>>& levels,
         int style, py::handle out, std::uintptr_t stream) {
        const auto c = foveal::interop::borrow(cells, "cells", false, stream);
        const auto o = foveal::interop::borrow(out, "out", true, stream);
        std::vector<foveal::AnchorLevel> lv;
        lv.reserve(levels.size());
        for (const auto& [rows, cols, sy, sx, a] : levels) lv.push_back({rows, cols, sy, sx, a});
        py::gil_scoped_release nogil;
        foveal::anchor_grid(c.view, lv, style_of(style), o.view, foveal::ExecContext::on_stream(stream));
      },
      py::arg("cells"), py::arg("levels"), py::arg("style"), py::arg("out"), py::kw_only(), py::arg("stream") = 0,
      "Kernel entry point: levels are (rows, cols, step_y, step_x, num_cells). Use foveal.ops.anchor_grid.");

  m.def(
      "encode_boxes",
      [](py::handle reference_boxes, py::handle proposals, std::array<double, 4> weights, py::handle out,
         std::uintptr_t stream) {
        const auto g = foveal::interop::borrow(reference_boxes, "reference_boxes", false, stream);
        const auto p = foveal::interop::borrow(proposals, "proposals", false, stream);
        const auto o = foveal::interop::borrow(out, "out", true, stream);
        py::gil_scoped_release nogil;
        foveal::encode_boxes(g.view, p.view, weights, o.view, foveal::ExecContext::on_stream(stream));
      },
      py::arg("reference_boxes"), py::arg("proposals"), py::arg("weights"), py::arg("out"), py::kw_only(),
      py::arg("stream") = 0, "Kernel entry point. Use foveal.ops.encode_boxes.");

  m.def(
      "decode_boxes",
      [](py::handle rel_codes, py::handle boxes, std::array<double, 4> weights, double clip, py::handle out,
         std::uintptr_t stream) {
        const auto c = foveal::interop::borrow(rel_codes, "rel_codes", false, stream);
        const auto b = foveal::interop::borrow(boxes, "boxes", false, stream);
        const auto o = foveal::interop::borrow(out, "out", true, stream);
        py::gil_scoped_release nogil;
        foveal::decode_boxes(c.view, b.view, weights, clip, o.view, foveal::ExecContext::on_stream(stream));
      },
      py::arg("rel_codes"), py::arg("boxes"), py::arg("weights"), py::arg("bbox_xform_clip"), py::arg("out"),
      py::kw_only(), py::arg("stream") = 0, "Kernel entry point. Use foveal.ops.decode_boxes.");

  m.def(
      "soft_nms",
      [](py::handle boxes, py::handle scores, py::handle idxs, double iou_threshold, double sigma,
         double score_threshold, int method, py::handle keep, py::handle kept_scores, std::uintptr_t stream) {
        const auto b = foveal::interop::borrow(boxes, "boxes", false, stream);
        const auto s = foveal::interop::borrow(scores, "scores", false, stream);
        std::unique_ptr<foveal::interop::Borrowed> ix;
        if (!idxs.is_none())
          ix = std::make_unique<foveal::interop::Borrowed>(foveal::interop::borrow(idxs, "idxs", false, stream));
        const auto k = foveal::interop::borrow(keep, "keep", true, stream);
        const auto ks = foveal::interop::borrow(kept_scores, "kept_scores", true, stream);
        const foveal::ConstTensorView labels = ix ? foveal::ConstTensorView(ix->view) : foveal::ConstTensorView{};
        py::gil_scoped_release nogil;
        return foveal::soft_nms(b.view, s.view, labels, iou_threshold, sigma, score_threshold,
                                static_cast<foveal::SoftNmsMethod>(method), k.view, ks.view,
                                foveal::ExecContext::on_stream(stream));
      },
      py::arg("boxes"), py::arg("scores"), py::arg("idxs"), py::arg("iou_threshold"), py::arg("sigma"),
      py::arg("score_threshold"), py::arg("method"), py::arg("keep"), py::arg("kept_scores"), py::kw_only(),
      py::arg("stream") = 0,
      "Kernel entry point: method 0 linear, 1 gaussian; writes kept indices and scores, returns the count. "
      "Use foveal.ops.soft_nms.");
}
