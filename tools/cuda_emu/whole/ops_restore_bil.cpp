// Adapters of the bilateral filters (see registry.hpp): the shipped front ends (ops/bilateral.cpp,
// which build the plan: taps, range kind and tables) compiled in and called on device tensors.
// emulates: cuda/bilateral_cuda.cu
#include "ops/bilateral.cpp"
#include "registry.hpp"

namespace foveal::cpu {  // not linked: the front ends reach it for CPU tensors only
void bilateral(ConstTensorView, TensorView, const math::BilateralPlan&, const ExecContext&) {
  throw std::logic_error("ops_emu: CPU backend called");
}
}  // namespace foveal::cpu

FOVEAL_EMU_OP("denoise_bilateral") {
  foveal::DenoiseBilateralOptions o;
  o.win_size = c.i64("win_size");
  o.sigma_color = c.num("sigma_color");
  o.sigma_spatial = c.num("sigma_spatial");
  o.bins = c.i64("bins");
  o.border = static_cast<foveal::BilateralBorder>(c.i64("border"));
  o.cval = c.num("cval");
  o.raw_min = c.num("raw_min");
  o.raw_max = c.num("raw_max");
  foveal::denoise_bilateral(c.in("image"), c.out("out"), o, c.ctx);
}
FOVEAL_EMU_OP("bilateral_filter") {
  foveal::bilateral_filter(c.in("image"), c.out("out"), static_cast<int>(c.i64("d")), c.num("sigma_color"),
                           c.num("sigma_space"), c.num("value_min"), c.num("value_max"),
                           static_cast<foveal::BilateralBorder>(c.i64("border")), c.num("exact") != 0, c.ctx);
}
