// Adapters of the Richardson-Lucy variants (see registry.hpp): the shipped loops (ops/rl_variants.cpp:
// acceleration, TV regularisation, blind psf updates) compiled in and run over the CUDA primitives.
// emulates: cuda/rl_variants_cuda.cu
#include "ops/rl_variants.cpp"
#include "registry.hpp"

namespace foveal::cpu {  // not linked: the loops reach them for CPU tensors only
std::unique_ptr<::foveal::detail::RlKernels<float>> rl_kernels_f32(const float*, float*,
                                                                    const ::foveal::detail::RlVariantArgs&,
                                                                    const ExecContext&) {
  throw std::logic_error("ops_emu: CPU backend called");
}
std::unique_ptr<::foveal::detail::RlKernels<double>> rl_kernels_f64(const double*, double*,
                                                                     const ::foveal::detail::RlVariantArgs&,
                                                                     const ExecContext&) {
  throw std::logic_error("ops_emu: CPU backend called");
}
}  // namespace foveal::cpu

FOVEAL_EMU_OP("richardson_lucy_variant") {
  foveal::RlVariantOptions o;
  o.num_iter = c.i64("num_iter");
  o.clip = c.num("clip") != 0;
  o.filter_epsilon = c.num("filter_epsilon");
  o.mode = static_cast<foveal::RlBoundary>(c.i64("mode"));
  o.acceleration = static_cast<foveal::RlAcceleration>(c.i64("acceleration"));
  o.regularization = c.num("regularization");
  o.method = static_cast<foveal::RlMethod>(c.i64("method"));
  foveal::richardson_lucy_variant(c.in("image"), c.in("psf"), c.out("out"), o, c.ctx);
}
FOVEAL_EMU_OP("blind_richardson_lucy") {
  foveal::BlindRlOptions o;
  o.num_iter = c.i64("num_iter");
  o.psf_iter = c.i64("psf_iter");
  o.image_iter = c.i64("image_iter");
  o.clip = c.num("clip") != 0;
  o.filter_epsilon = c.num("filter_epsilon");
  o.mode = static_cast<foveal::RlBoundary>(c.i64("mode"));
  o.acceleration = static_cast<foveal::RlAcceleration>(c.i64("acceleration"));
  foveal::blind_richardson_lucy(c.in("image"), c.in("psf"), c.out("out"), c.out("psf_out"), o, c.ctx);
}
