// SPDX-License-Identifier: Apache-2.0
// Kernel entry points of the detection ops. Users call foveal.ops, which allocates the outputs.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <array>
#include <optional>

#include "foveal/ops/box_iou.hpp"
#include "foveal/ops/box_iou_variants.hpp"
#include "foveal/ops/nms.hpp"
#include "foveal/ops/postprocess.hpp"
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
      "batched_nms",
      [](py::handle boxes, py::handle scores, py::handle idxs, double iou_threshold, py::handle keep,
         std::uintptr_t stream) {
        const auto b = foveal::interop::borrow(boxes, "boxes", false, stream);
        const auto s = foveal::interop::borrow(scores, "scores", false, stream);
        const auto c = foveal::interop::borrow(idxs, "idxs", false, stream);
        const auto k = foveal::interop::borrow(keep, "keep", true, stream);
        py::gil_scoped_release nogil;
        return foveal::batched_nms(b.view, s.view, c.view, iou_threshold, k.view,
                                   foveal::ExecContext::on_stream(stream));
      },
      py::arg("boxes"), py::arg("scores"), py::arg("idxs"), py::arg("iou_threshold"), py::arg("keep"), py::kw_only(),
      py::arg("stream") = 0,
      "Kernel entry point: writes kept indices to the front of `keep`, returns their count. "
      "Use foveal.ops.batched_nms.");
  m.def(
      "rpn_postprocess",
      [](py::handle anchors, py::handle objectness, py::handle deltas, py::handle image_sizes,
         const std::vector<std::int64_t>& num_anchors_per_level, std::int64_t pre_nms_top_n,
         std::int64_t post_nms_top_n, double nms_thresh, double min_size, double score_thresh,
         const std::array<double, 4>& weights, double bbox_xform_clip, py::handle boxes, py::handle scores,
         py::handle counts, std::uintptr_t stream) {
        const auto a = foveal::interop::borrow(anchors, "anchors", false, stream);
        const auto o = foveal::interop::borrow(objectness, "objectness", false, stream);
        const auto d = foveal::interop::borrow(deltas, "deltas", false, stream);
        const auto sz = foveal::interop::borrow(image_sizes, "image_sizes", false, stream);
        const auto b = foveal::interop::borrow(boxes, "boxes", true, stream);
        const auto s = foveal::interop::borrow(scores, "scores", true, stream);
        const auto c = foveal::interop::borrow(counts, "counts", true, stream);
        foveal::RpnPostprocessParams p;
        p.pre_nms_top_n = pre_nms_top_n, p.post_nms_top_n = post_nms_top_n, p.nms_thresh = nms_thresh;
        p.min_size = min_size, p.score_thresh = score_thresh, p.bbox_xform_clip = bbox_xform_clip;
        for (int i = 0; i < 4; ++i) p.weights[i] = weights[i];
        py::gil_scoped_release nogil;
        foveal::rpn_postprocess(a.view, o.view, d.view, sz.view, num_anchors_per_level, p, b.view, s.view, c.view,
                                foveal::ExecContext::on_stream(stream));
      },
      py::arg("anchors"), py::arg("objectness"), py::arg("deltas"), py::arg("image_sizes"),
      py::arg("num_anchors_per_level"), py::arg("pre_nms_top_n"), py::arg("post_nms_top_n"), py::arg("nms_thresh"),
      py::arg("min_size"), py::arg("score_thresh"), py::arg("weights"), py::arg("bbox_xform_clip"), py::arg("boxes"),
      py::arg("scores"), py::arg("counts"), py::kw_only(), py::arg("stream") = 0,
      "Kernel entry point: fills the padded proposals and their counts. Use foveal.ops.rpn_postprocess.");
  m.def(
      "box_head_postprocess",
      [](py::handle proposals, py::handle proposal_counts, py::handle class_logits, py::handle box_regression,
         py::handle image_sizes, double score_thresh, double nms_thresh, std::int64_t detections_per_img,
         double min_size, const std::array<double, 4>& weights, double bbox_xform_clip, py::handle boxes,
         py::handle scores, py::handle labels, py::handle counts, std::uintptr_t stream) {
        const auto pr = foveal::interop::borrow(proposals, "proposals", false, stream);
        foveal::ConstTensorView pc_view;
        std::optional<foveal::interop::Borrowed> pc;
        if (!proposal_counts.is_none()) {
          pc.emplace(foveal::interop::borrow(proposal_counts, "proposal_counts", false, stream));
          pc_view = pc->view;
        }
        const auto cl = foveal::interop::borrow(class_logits, "class_logits", false, stream);
        const auto re = foveal::interop::borrow(box_regression, "box_regression", false, stream);
        const auto sz = foveal::interop::borrow(image_sizes, "image_sizes", false, stream);
        const auto b = foveal::interop::borrow(boxes, "boxes", true, stream);
        const auto s = foveal::interop::borrow(scores, "scores", true, stream);
        const auto l = foveal::interop::borrow(labels, "labels", true, stream);
        const auto c = foveal::interop::borrow(counts, "counts", true, stream);
        foveal::BoxHeadPostprocessParams p;
        p.score_thresh = score_thresh, p.nms_thresh = nms_thresh, p.detections_per_img = detections_per_img;
        p.min_size = min_size, p.bbox_xform_clip = bbox_xform_clip;
        for (int i = 0; i < 4; ++i) p.weights[i] = weights[i];
        py::gil_scoped_release nogil;
        foveal::box_head_postprocess(pr.view, pc_view, cl.view, re.view, sz.view, p, b.view, s.view, l.view, c.view,
                                     foveal::ExecContext::on_stream(stream));
      },
      py::arg("proposals"), py::arg("proposal_counts"), py::arg("class_logits"), py::arg("box_regression"),
      py::arg("image_sizes"), py::arg("score_thresh"), py::arg("nms_thresh"), py::arg("detections_per_img"),
      py::arg("min_size"), py::arg("weights"), py::arg("bbox_xform_clip"), py::arg("boxes"), py::arg("scores"),
      py::arg("labels"), py::arg("counts"), py::kw_only(), py::arg("stream") = 0,
      "Kernel entry point: fills the padded detections and their counts. Use foveal.ops.box_head_postprocess.");
  m.def(
      "retinanet_postprocess",
      [](py::handle anchors, py::handle class_logits, py::handle box_regression, py::handle image_sizes,
         const std::vector<std::int64_t>& num_anchors_per_level, double score_thresh, double nms_thresh,
         std::int64_t detections_per_img, std::int64_t topk_candidates, const std::array<double, 4>& weights,
         double bbox_xform_clip, py::handle boxes, py::handle scores, py::handle labels, py::handle counts,
         std::uintptr_t stream) {
        const auto a = foveal::interop::borrow(anchors, "anchors", false, stream);
        const auto cl = foveal::interop::borrow(class_logits, "class_logits", false, stream);
        const auto re = foveal::interop::borrow(box_regression, "box_regression", false, stream);
        const auto sz = foveal::interop::borrow(image_sizes, "image_sizes", false, stream);
        const auto b = foveal::interop::borrow(boxes, "boxes", true, stream);
        const auto s = foveal::interop::borrow(scores, "scores", true, stream);
        const auto l = foveal::interop::borrow(labels, "labels", true, stream);
        const auto c = foveal::interop::borrow(counts, "counts", true, stream);
        foveal::RetinaNetPostprocessParams p;
        p.score_thresh = score_thresh, p.nms_thresh = nms_thresh, p.detections_per_img = detections_per_img;
        p.topk_candidates = topk_candidates, p.bbox_xform_clip = bbox_xform_clip;
        for (int i = 0; i < 4; ++i) p.weights[i] = weights[i];
        py::gil_scoped_release nogil;
        foveal::retinanet_postprocess(a.view, cl.view, re.view, sz.view, num_anchors_per_level, p, b.view, s.view,
                                      l.view, c.view, foveal::ExecContext::on_stream(stream));
      },
      py::arg("anchors"), py::arg("class_logits"), py::arg("box_regression"), py::arg("image_sizes"),
      py::arg("num_anchors_per_level"), py::arg("score_thresh"), py::arg("nms_thresh"),
      py::arg("detections_per_img"), py::arg("topk_candidates"), py::arg("weights"), py::arg("bbox_xform_clip"),
      py::arg("boxes"), py::arg("scores"), py::arg("labels"), py::arg("counts"), py::kw_only(),
      py::arg("stream") = 0,
      "Kernel entry point: fills the padded detections and their counts. Use foveal.ops.retinanet_postprocess.");
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
