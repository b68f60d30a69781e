// SPDX-License-Identifier: Apache-2.0
// Kernel entry points of foveal.nn (pooling). Users call foveal.nn, which allocates the outputs.
#include <pybind11/pybind11.h>

#include <memory>
#include <tuple>

#include "foveal/ops/conv2d.hpp"
#include "foveal/ops/interpolate.hpp"
#include "foveal/ops/elementwise.hpp"
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

/// padding as (top, bottom, left, right).
foveal::Conv2dParams conv_params(py::tuple stride, py::tuple padding, py::tuple dilation, std::int64_t groups) {
  foveal::Conv2dParams p;
  p.stride_h = stride[0].cast<std::int64_t>(), p.stride_w = stride[1].cast<std::int64_t>();
  p.pad_top = padding[0].cast<std::int64_t>(), p.pad_bottom = padding[1].cast<std::int64_t>();
  p.pad_left = padding[2].cast<std::int64_t>(), p.pad_right = padding[3].cast<std::int64_t>();
  p.dilation_h = dilation[0].cast<std::int64_t>(), p.dilation_w = dilation[1].cast<std::int64_t>();
  p.groups = groups;
  return p;
}

foveal::ConvTranspose2dParams convt_params(py::tuple stride, py::tuple padding, py::tuple output_padding,
                                           py::tuple dilation, std::int64_t groups) {
  foveal::ConvTranspose2dParams p;
  p.stride_h = stride[0].cast<std::int64_t>(), p.stride_w = stride[1].cast<std::int64_t>();
  p.pad_h = padding[0].cast<std::int64_t>(), p.pad_w = padding[1].cast<std::int64_t>();
  p.output_padding_h = output_padding[0].cast<std::int64_t>();
  p.output_padding_w = output_padding[1].cast<std::int64_t>();
  p.dilation_h = dilation[0].cast<std::int64_t>(), p.dilation_w = dilation[1].cast<std::int64_t>();
  p.groups = groups;
  return p;
}

foveal::Epilogue epilogue(int activation, double slope, bool allow_tf32 = false) {
  foveal::Epilogue e;
  e.activation = static_cast<foveal::Activation>(activation);
  e.negative_slope = slope;
  e.allow_tf32 = allow_tf32;
  return e;
}

std::unique_ptr<foveal::interop::Borrowed> borrow_opt(py::handle h, const char* name, std::uintptr_t stream) {
  if (h.is_none()) return nullptr;
  return std::make_unique<foveal::interop::Borrowed>(foveal::interop::borrow(h, name, false, stream));
}

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

  m.def(
      "conv2d_output_size",
      [](std::int64_t h, std::int64_t w, std::int64_t kh, std::int64_t kw, py::tuple stride, py::tuple padding,
         py::tuple dilation, std::int64_t groups) {
        const auto s = foveal::conv2d_output_size("conv2d", h, w, kh, kw, conv_params(stride, padding, dilation, groups));
        return std::make_tuple(s.h, s.w);
      },
      py::arg("h"), py::arg("w"), py::arg("kernel_h"), py::arg("kernel_w"), py::arg("stride"), py::arg("padding"),
      py::arg("dilation"), py::arg("groups"),
      "Convolved (H, W); padding is (top, bottom, left, right). Raises ValueError naming a bad parameter.");

  m.def(
      "conv2d_same_padding",
      [](std::int64_t kh, std::int64_t kw, py::tuple dilation) {
        const auto dh = dilation[0].cast<std::int64_t>(), dw = dilation[1].cast<std::int64_t>();
        return std::make_tuple(foveal::math::same_pad_lo(kh, dh), foveal::math::same_pad_hi(kh, dh),
                               foveal::math::same_pad_lo(kw, dw), foveal::math::same_pad_hi(kw, dw));
      },
      py::arg("kernel_h"), py::arg("kernel_w"), py::arg("dilation"),
      "padding='same' as (top, bottom, left, right): dilation (k - 1) in all, the odd one after.");

  m.def(
      "conv2d",
      [](py::handle input, py::handle weight, py::handle bias, py::handle residual, py::handle out, py::tuple stride,
         py::tuple padding, py::tuple dilation, std::int64_t groups, int activation, double slope,
         std::uintptr_t stream, bool allow_tf32) {
        const auto p = conv_params(stride, padding, dilation, groups);
        const auto x = foveal::interop::borrow(input, "input", false, stream);
        const auto w = foveal::interop::borrow(weight, "weight", false, stream);
        const auto b = borrow_opt(bias, "bias", stream);
        const auto r = borrow_opt(residual, "residual", stream);
        const auto o = foveal::interop::borrow(out, "out", true, stream);
        py::gil_scoped_release nogil;
        foveal::conv2d(x.view, w.view, maybe(b.get()), maybe(r.get()), o.view, p,
                       epilogue(activation, slope, allow_tf32), foveal::ExecContext::on_stream(stream));
      },
      py::arg("input"), py::arg("weight"), py::arg("bias"), py::arg("residual"), py::arg("out"), py::arg("stride"),
      py::arg("padding"), py::arg("dilation"), py::arg("groups"), py::arg("activation"), py::arg("negative_slope"),
      py::kw_only(), py::arg("stream") = 0, py::arg("allow_tf32") = false,
      "Kernel entry point (padding (top, bottom, left, right); activation 0 none, 1 relu, 2 leaky_relu, 3 silu, "
      "4 sigmoid). Use foveal.nn.conv2d.");

  m.def(
      "conv_transpose2d_output_size",
      [](std::int64_t h, std::int64_t w, std::int64_t kh, std::int64_t kw, py::tuple stride, py::tuple padding,
         py::tuple output_padding, py::tuple dilation, std::int64_t groups) {
        const auto s = foveal::conv_transpose2d_output_size(
            "conv_transpose2d", h, w, kh, kw, convt_params(stride, padding, output_padding, dilation, groups));
        return std::make_tuple(s.h, s.w);
      },
      py::arg("h"), py::arg("w"), py::arg("kernel_h"), py::arg("kernel_w"), py::arg("stride"), py::arg("padding"),
      py::arg("output_padding"), py::arg("dilation"), py::arg("groups"),
      "Transposed-convolution (H, W). Raises ValueError naming a bad parameter.");

  m.def(
      "conv_transpose2d",
      [](py::handle input, py::handle weight, py::handle bias, py::handle residual, py::handle out, py::tuple stride,
         py::tuple padding, py::tuple output_padding, py::tuple dilation, std::int64_t groups, int activation,
         double slope, std::uintptr_t stream, bool allow_tf32) {
        const auto p = convt_params(stride, padding, output_padding, dilation, groups);
        const auto x = foveal::interop::borrow(input, "input", false, stream);
        const auto w = foveal::interop::borrow(weight, "weight", false, stream);
        const auto b = borrow_opt(bias, "bias", stream);
        const auto r = borrow_opt(residual, "residual", stream);
        const auto o = foveal::interop::borrow(out, "out", true, stream);
        py::gil_scoped_release nogil;
        foveal::conv_transpose2d(x.view, w.view, maybe(b.get()), maybe(r.get()), o.view, p,
                                 epilogue(activation, slope, allow_tf32), foveal::ExecContext::on_stream(stream));
      },
      py::arg("input"), py::arg("weight"), py::arg("bias"), py::arg("residual"), py::arg("out"), py::arg("stride"),
      py::arg("padding"), py::arg("output_padding"), py::arg("dilation"), py::arg("groups"), py::arg("activation"),
      py::arg("negative_slope"), py::kw_only(), py::arg("stream") = 0, py::arg("allow_tf32") = false,
      "Kernel entry point. Use foveal.nn.conv_transpose2d.");

  m.def(
      "interpolate",
      [](py::handle input, py::handle out, int mode, bool align_corners, double scale_h, double scale_w,
         std::uintptr_t stream) {
        foveal::InterpolateParams p;
        p.mode = static_cast<foveal::InterpolateMode>(mode);
        p.align_corners = align_corners, p.scale_h = scale_h, p.scale_w = scale_w;
        const auto x = foveal::interop::borrow(input, "input", false, stream);
        const auto o = foveal::interop::borrow(out, "out", true, stream);
        py::gil_scoped_release nogil;
        foveal::interpolate(x.view, o.view, p, foveal::ExecContext::on_stream(stream));
      },
      py::arg("input"), py::arg("out"), py::arg("mode"), py::arg("align_corners"), py::arg("scale_h"),
      py::arg("scale_w"), py::kw_only(), py::arg("stream") = 0,
      "Kernel entry point (mode 0 nearest, 1 bilinear; scale 0: none). Use foveal.nn.interpolate.");

  m.def(
      "batch_norm",
      [](py::handle input, py::handle mean, py::handle var, py::handle weight, py::handle bias, py::handle out,
         double eps, std::uintptr_t stream) {
        const auto x = foveal::interop::borrow(input, "input", false, stream);
        const auto m_ = foveal::interop::borrow(mean, "running_mean", false, stream);
        const auto v = foveal::interop::borrow(var, "running_var", false, stream);
        const auto w = borrow_opt(weight, "weight", stream);
        const auto b = borrow_opt(bias, "bias", stream);
        const auto o = foveal::interop::borrow(out, "out", true, stream);
        py::gil_scoped_release nogil;
        foveal::batch_norm(x.view, m_.view, v.view, maybe(w.get()), maybe(b.get()), o.view, eps,
                           foveal::ExecContext::on_stream(stream));
      },
      py::arg("input"), py::arg("running_mean"), py::arg("running_var"), py::arg("weight"), py::arg("bias"),
      py::arg("out"), py::arg("eps"), py::kw_only(), py::arg("stream") = 0,
      "Kernel entry point. Use foveal.nn.batch_norm.");

  m.def(
      "fold_batch_norm",
      [](py::handle cw, py::handle cb, py::handle mean, py::handle var, py::handle bw, py::handle bb, py::handle ow,
         py::handle ob, double eps, std::uintptr_t stream) {
        const auto w = foveal::interop::borrow(cw, "conv_weight", false, stream);
        const auto b = borrow_opt(cb, "conv_bias", stream);
        const auto m_ = foveal::interop::borrow(mean, "running_mean", false, stream);
        const auto v = foveal::interop::borrow(var, "running_var", false, stream);
        const auto g = foveal::interop::borrow(bw, "bn_weight", false, stream);
        const auto h = foveal::interop::borrow(bb, "bn_bias", false, stream);
        const auto o1 = foveal::interop::borrow(ow, "out_weight", true, stream);
        const auto o2 = foveal::interop::borrow(ob, "out_bias", true, stream);
        py::gil_scoped_release nogil;
        foveal::fold_batch_norm(w.view, maybe(b.get()), m_.view, v.view, g.view, h.view, o1.view, o2.view, eps,
                                foveal::ExecContext::on_stream(stream));
      },
      py::arg("conv_weight"), py::arg("conv_bias"), py::arg("running_mean"), py::arg("running_var"),
      py::arg("bn_weight"), py::arg("bn_bias"), py::arg("out_weight"), py::arg("out_bias"), py::arg("eps"),
      py::kw_only(), py::arg("stream") = 0, "Kernel entry point. Use foveal.nn.fold_batch_norm.");

  m.def(
      "unary",
      [](int op, py::handle input, py::handle out, std::uintptr_t stream) {
        const auto x = foveal::interop::borrow(input, "input", false, stream);
        const auto o = foveal::interop::borrow(out, "out", true, stream);
        py::gil_scoped_release nogil;
        foveal::unary(static_cast<foveal::UnaryOp>(op), x.view, o.view, foveal::ExecContext::on_stream(stream));
      },
      py::arg("op"), py::arg("input"), py::arg("out"), py::kw_only(), py::arg("stream") = 0,
      "Kernel entry point (op 0 relu, 1 sigmoid). Use foveal.nn.relu / sigmoid.");

  m.def(
      "softmax",
      [](py::handle input, int dim, py::handle out, std::uintptr_t stream) {
        const auto x = foveal::interop::borrow(input, "input", false, stream);
        const auto o = foveal::interop::borrow(out, "out", true, stream);
        py::gil_scoped_release nogil;
        foveal::softmax(x.view, dim, o.view, foveal::ExecContext::on_stream(stream));
      },
      py::arg("input"), py::arg("dim"), py::arg("out"), py::kw_only(), py::arg("stream") = 0,
      "Kernel entry point. Use foveal.nn.softmax.");

  m.def(
      "add",
      [](py::handle a, py::handle b, py::handle out, std::uintptr_t stream) {
        const auto av = foveal::interop::borrow(a, "a", false, stream);
        const auto bv = foveal::interop::borrow(b, "b", false, stream);
        const auto o = foveal::interop::borrow(out, "out", true, stream);
        py::gil_scoped_release nogil;
        foveal::add(av.view, bv.view, o.view, foveal::ExecContext::on_stream(stream));
      },
      py::arg("a"), py::arg("b"), py::arg("out"), py::kw_only(), py::arg("stream") = 0,
      "Kernel entry point. Use foveal.nn.add.");

  m.def(
      "linear",
      [](py::handle input, py::handle weight, py::handle bias, py::handle out, int activation, double slope,
         std::uintptr_t stream, bool allow_tf32) {
        const auto x = foveal::interop::borrow(input, "input", false, stream);
        const auto w = foveal::interop::borrow(weight, "weight", false, stream);
        const auto b = borrow_opt(bias, "bias", stream);
        const auto o = foveal::interop::borrow(out, "out", true, stream);
        py::gil_scoped_release nogil;
        foveal::linear(x.view, w.view, maybe(b.get()), o.view, epilogue(activation, slope, allow_tf32),
                       foveal::ExecContext::on_stream(stream));
      },
      py::arg("input"), py::arg("weight"), py::arg("bias"), py::arg("out"), py::arg("activation"),
      py::arg("negative_slope"), py::kw_only(), py::arg("stream") = 0, py::arg("allow_tf32") = false,
      "Kernel entry point. Use foveal.nn.linear.");

  m.def(
      "gemm",
      [](py::handle a, py::handle b, py::handle out, std::uintptr_t stream) {
        const auto av = foveal::interop::borrow(a, "a", false, stream);
        const auto bv = foveal::interop::borrow(b, "b", false, stream);
        const auto o = foveal::interop::borrow(out, "out", true, stream);
        py::gil_scoped_release nogil;
        foveal::gemm(av.view, bv.view, o.view, foveal::ExecContext::on_stream(stream));
      },
      py::arg("a"), py::arg("b"), py::arg("out"), py::kw_only(), py::arg("stream") = 0,
      "out = a @ b for 2-D a (M, K), b (K, N), out (M, N) of one dtype (the CPU GEMM of linear and conv2d).");
}
