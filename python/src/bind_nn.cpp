// SPDX-License-Identifier: Apache-2.0
// Kernel entry points of foveal.nn (pooling). Users call foveal.nn, which allocates the outputs.
#include <pybind11/pybind11.h>

#include <memory>
#include <tuple>

#include "foveal/ops/pool.hpp"
#include "interop.hpp"

namespace py = pybind11;

namespace {

foveal::Pool2dParams params(py::tuple kernel, py::tuple stride, py::tuple padding, py::tuple dilation,
                            bool ceil_mode) {
  foveal::Pool2dParams p;
  p.kernel_h = kernel[0].cast<std::int64_t>(), p.kernel_w = kernel[1].cast<std::int64_t>();
  p.stride_h = stride[0].cast<std::int64_t>(), p.stride_w = stride[1].cast<std::int64_t>();
  p.pad_h = padding[0].cast<std::int64_t>(), p.pad_w = padding[1].cast<std::int64_t>();
  p.dilation_h = dilation[0].cast<std::int64_t>(), p.dilation_w = dilation[1].cast<std::int64_t>();
  p.ceil_mode = ceil_mode;
  return p;
}

foveal::TensorView maybe(const foveal::interop::Borrowed* b) { return b ? b->view : foveal::TensorView{}; }

}  // namespace

void bind_nn(py::module_& m) {
  m.def(
      "pool2d_output_size",
      [](const char* op, std::int64_t h, std::int64_t w, py::tuple kernel, py::tuple stride, py::tuple padding,
         py::tuple dilation, bool ceil_mode) {
        const auto s = foveal::pool2d_output_size(op, h, w, params(kernel, stride, padding, dilation, ceil_mode));
        return std::make_tuple(s.h, s.w);
      },
      py::arg("op"), py::arg("h"), py::arg("w"), py::arg("kernel_size"), py::arg("stride"), py::arg("padding"),
      py::arg("dilation"), py::arg("ceil_mode"),
      "Pooled (H, W) of an (h, w) input; raises ValueError naming a bad parameter (pairs are (H, W)).");

  m.def(
      "max_pool2d",
      [](py::handle input, py::handle out, py::handle indices, py::tuple kernel, py::tuple stride,
         py::tuple padding, py::tuple dilation, bool ceil_mode, std::uintptr_t stream) {
        const auto p = params(kernel, stride, padding, dilation, ceil_mode);
        const auto x = foveal::interop::borrow(input, "input", false, stream);
        const auto o = foveal::interop::borrow(out, "out", true, stream);
        std::unique_ptr<foveal::interop::Borrowed> ix;
        if (!indices.is_none())
          ix = std::make_unique<foveal::interop::Borrowed>(foveal::interop::borrow(indices, "indices", true, stream));
        py::gil_scoped_release nogil;
        foveal::max_pool2d(x.view, o.view, maybe(ix.get()), p, foveal::ExecContext::on_stream(stream));
      },
      py::arg("input"), py::arg("out"), py::arg("indices"), py::arg("kernel_size"), py::arg("stride"),
      py::arg("padding"), py::arg("dilation"), py::arg("ceil_mode"), py::kw_only(), py::arg("stream") = 0,
      "Kernel entry point (indices may be None). Use foveal.nn.max_pool2d.");

  m.def(
      "avg_pool2d",
      [](py::handle input, py::handle out, py::tuple kernel, py::tuple stride, py::tuple padding, bool ceil_mode,
         bool count_include_pad, std::int64_t divisor_override, std::uintptr_t stream) {
        const auto p = params(kernel, stride, padding, py::make_tuple(1, 1), ceil_mode);
        const auto x = foveal::interop::borrow(input, "input", false, stream);
        const auto o = foveal::interop::borrow(out, "out", true, stream);
        py::gil_scoped_release nogil;
        foveal::avg_pool2d(x.view, o.view, p, count_include_pad, divisor_override,
                           foveal::ExecContext::on_stream(stream));
      },
      py::arg("input"), py::arg("out"), py::arg("kernel_size"), py::arg("stride"), py::arg("padding"),
      py::arg("ceil_mode"), py::arg("count_include_pad"), py::arg("divisor_override"), py::kw_only(),
      py::arg("stream") = 0, "Kernel entry point (divisor_override 0 = none). Use foveal.nn.avg_pool2d.");

  m.def(
      "adaptive_max_pool2d",
      [](py::handle input, py::handle out, py::handle indices, std::uintptr_t stream) {
        const auto x = foveal::interop::borrow(input, "input", false, stream);
        const auto o = foveal::interop::borrow(out, "out", true, stream);
        std::unique_ptr<foveal::interop::Borrowed> ix;
        if (!indices.is_none())
          ix = std::make_unique<foveal::interop::Borrowed>(foveal::interop::borrow(indices, "indices", true, stream));
        py::gil_scoped_release nogil;
        foveal::adaptive_max_pool2d(x.view, o.view, maybe(ix.get()), foveal::ExecContext::on_stream(stream));
      },
      py::arg("input"), py::arg("out"), py::arg("indices"), py::kw_only(), py::arg("stream") = 0,
      "Kernel entry point (indices may be None). Use foveal.nn.adaptive_max_pool2d.");

  m.def(
      "adaptive_avg_pool2d",
      [](py::handle input, py::handle out, std::uintptr_t stream) {
        const auto x = foveal::interop::borrow(input, "input", false, stream);
        const auto o = foveal::interop::borrow(out, "out", true, stream);
        py::gil_scoped_release nogil;
        foveal::adaptive_avg_pool2d(x.view, o.view, foveal::ExecContext::on_stream(stream));
      },
      py::arg("input"), py::arg("out"), py::kw_only(), py::arg("stream") = 0,
      "Kernel entry point. Use foveal.nn.adaptive_avg_pool2d.");
}
