// Adapter of richardson_lucy (see registry.hpp): the shipped front end (ops/rl.cpp: validation,
// and rl_plan, which the CUDA backend calls for its method and FFT lengths) compiled in, called on
// device tensors, so the plan is the library's own. The FFT path loads the stand-in cuFFT
// (../cufft_fake.cpp, FOVEAL_CUFFT_LIBRARY) through the shipped cufft_api.cu.
// emulates: cuda/rl_cuda.cu
// emulates: cuda/cufft_api.cu
#include <cuda_runtime.h>
#include <dlfcn.h>

#include <cstdlib>

#include "ops/rl.cpp"  // rl_plan, check_rl_*, foveal::richardson_lucy
#include "cpu/fft_cpu.hpp"
#include "registry.hpp"

// The CPU backend is not linked: the front end only reaches it for CPU tensors.
namespace foveal::cpu {
RlMethod richardson_lucy(ConstTensorView, ConstTensorView, TensorView, const ::foveal::detail::RlArgs&,
                         const ExecContext&) {
  throw std::logic_error("ops_emu: CPU backend called");
}
}  // namespace foveal::cpu

FOVEAL_EMU_OP("richardson_lucy") {
  const auto used = foveal::richardson_lucy(c.in("image"), c.in("psf"), c.out("out"), c.i64("num_iter"),
                                            c.num("clip") != 0, c.num("filter_epsilon"),
                                            static_cast<foveal::RlBoundary>(c.i64("mode")),
                                            static_cast<foveal::RlMethod>(c.i64("method")), c.ctx);
  auto o = c.out("used");
  *static_cast<std::int64_t*>(o.data()) = static_cast<std::int64_t>(used);
  // Every cuFFT transform ran on the caller's stream (the stand-in counts them per stream).
  void* lib = std::getenv("FOVEAL_CUFFT_LIBRARY") ? dlopen(std::getenv("FOVEAL_CUFFT_LIBRARY"), RTLD_NOW | RTLD_NOLOAD)
                                                  : nullptr;
  auto stats = lib ? reinterpret_cast<void (*)(void*, long*)>(dlsym(lib, "fake_cufft_stats")) : nullptr;
  if (stats) {
    long st[5];
    stats(reinterpret_cast<void*>(c.ctx.stream), st);
    emu::wrong_stream += st[2] - st[3];
  }
}
