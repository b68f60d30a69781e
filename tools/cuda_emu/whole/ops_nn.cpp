// Adapters of the nn kernels' host entry points (see registry.hpp): convolutions and GEMMs,
// pooling, interpolation and the element-wise ops. Absent optional tensors (bias, residual,
// indices ...) are passed as empty views, as the front ends pass them.
// emulates: cuda/conv2d_cuda.cu
// emulates: cuda/pool_cuda.cu
// emulates: cuda/interpolate_cuda.cu
// emulates: cuda/elementwise_cuda.cu
#include "ops/backend.hpp"
#include "registry.hpp"

namespace {
foveal::ConstTensorView opt_in(const emu::Call& c, const char* name) {
  return c.tensors.count(name) ? c.in(name) : foveal::ConstTensorView{};
}
foveal::TensorView opt_out(emu::Call& c, const char* name) {
  return c.tensors.count(name) ? c.out(name) : foveal::TensorView{};
}
foveal::Epilogue epilogue(const emu::Call& c) {
  foveal::Epilogue e;
  e.activation = static_cast<foveal::Activation>(c.i64("act"));
  e.negative_slope = c.num("slope");
  e.allow_tf32 = c.num("tf32") != 0;
  return e;
}
foveal::Pool2dParams pool_params(const emu::Call& c) {
  const auto k = c.i64s("kernel"), s = c.i64s("stride"), p = c.i64s("padding");
  foveal::Pool2dParams q;
  q.kernel_h = k.at(0), q.kernel_w = k.at(1), q.stride_h = s.at(0), q.stride_w = s.at(1);
  q.pad_h = p.at(0), q.pad_w = p.at(1);
  if (c.has("dilation")) q.dilation_h = c.i64s("dilation").at(0), q.dilation_w = c.i64s("dilation").at(1);
  q.ceil_mode = c.has("ceil_mode") && c.num("ceil_mode") != 0;
  return q;
}
}  // namespace

FOVEAL_EMU_OP("conv2d") {
  const auto s = c.i64s("stride"), p = c.i64s("padding"), d = c.i64s("dilation");  // padding: top, bottom, left, right
  foveal::Conv2dParams cp;
  cp.stride_h = s.at(0), cp.stride_w = s.at(1), cp.pad_top = p.at(0), cp.pad_bottom = p.at(1);
  cp.pad_left = p.at(2), cp.pad_right = p.at(3), cp.dilation_h = d.at(0), cp.dilation_w = d.at(1);
  cp.groups = c.i64("groups");
  foveal::cuda::conv2d(c.in("input"), c.in("weight"), opt_in(c, "bias"), opt_in(c, "residual"), c.out("out"), cp,
                       epilogue(c), c.ctx);
}
FOVEAL_EMU_OP("conv_transpose2d") {
  const auto s = c.i64s("stride"), p = c.i64s("padding"), op = c.i64s("output_padding"), d = c.i64s("dilation");
  foveal::ConvTranspose2dParams cp;
  cp.stride_h = s.at(0), cp.stride_w = s.at(1), cp.pad_h = p.at(0), cp.pad_w = p.at(1);
  cp.output_padding_h = op.at(0), cp.output_padding_w = op.at(1), cp.dilation_h = d.at(0), cp.dilation_w = d.at(1);
  cp.groups = c.i64("groups");
  foveal::cuda::conv_transpose2d(c.in("input"), c.in("weight"), opt_in(c, "bias"), opt_in(c, "residual"),
                                 c.out("out"), cp, epilogue(c), c.ctx);
}
FOVEAL_EMU_OP("linear") {
  foveal::cuda::linear(c.in("input"), c.in("weight"), opt_in(c, "bias"), c.out("out"), epilogue(c), c.ctx);
}
FOVEAL_EMU_OP("matmul") { foveal::cuda::matmul(c.in("a"), c.in("b"), c.out("out"), c.ctx); }

FOVEAL_EMU_OP("max_pool2d") {
  foveal::cuda::max_pool2d(c.in("input"), c.out("out"), opt_out(c, "indices"), pool_params(c), c.ctx);
}
FOVEAL_EMU_OP("avg_pool2d") {
  foveal::cuda::avg_pool2d(c.in("input"), c.out("out"), pool_params(c), c.num("count_include_pad") != 0,
                           c.i64("divisor_override"), c.ctx);
}
FOVEAL_EMU_OP("adaptive_max_pool2d") {
  foveal::cuda::adaptive_max_pool2d(c.in("input"), c.out("out"), opt_out(c, "indices"), c.ctx);
}
FOVEAL_EMU_OP("adaptive_avg_pool2d") { foveal::cuda::adaptive_avg_pool2d(c.in("input"), c.out("out"), c.ctx); }

FOVEAL_EMU_OP("interpolate") {
  foveal::InterpolateParams p;
  p.mode = static_cast<foveal::InterpolateMode>(c.i64("mode"));
  p.align_corners = c.num("align_corners") != 0;
  p.scale_h = c.nums("scale").at(0), p.scale_w = c.nums("scale").at(1);
  foveal::cuda::interpolate(c.in("input"), c.out("out"), p, c.ctx);
}

FOVEAL_EMU_OP("batch_norm") {
  foveal::cuda::batch_norm(c.in("input"), c.in("running_mean"), c.in("running_var"), opt_in(c, "weight"),
                           opt_in(c, "bias"), c.out("out"), c.num("eps"), c.ctx);
}
FOVEAL_EMU_OP("fold_batch_norm") {
  foveal::cuda::fold_batch_norm(c.in("conv_weight"), opt_in(c, "conv_bias"), c.in("running_mean"),
                                c.in("running_var"), c.in("bn_weight"), c.in("bn_bias"), c.out("out_weight"),
                                c.out("out_bias"), c.num("eps"), c.ctx);
}
FOVEAL_EMU_OP("unary") {
  foveal::cuda::unary(static_cast<foveal::UnaryOp>(c.i64("which")), c.in("input"), c.out("out"), c.ctx);
}
FOVEAL_EMU_OP("softmax") {
  foveal::cuda::softmax(c.in("input"), static_cast<int>(c.i64("dim")), c.out("out"), c.ctx);
}
FOVEAL_EMU_OP("add") { foveal::cuda::add(c.in("a"), c.in("b"), c.out("out"), c.ctx); }
