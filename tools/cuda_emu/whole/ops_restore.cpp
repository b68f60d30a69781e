// Adapters of the restoration kernels' host entry points (see registry.hpp): TV (Chambolle, split
// Bregman) and non-local means. Their front ends only validate, so the adapters call the backend.
// emulates: cuda/tv_cuda.cu
// emulates: cuda/nlm_cuda.cu
#include <cstring>

#include "ops/backend.hpp"
#include "registry.hpp"

namespace {
// The per-image iteration counts, into the int64 output "iters".
void put_iters(emu::Call& c, const std::vector<std::int64_t>& v) {
  auto o = c.out("iters");
  if (static_cast<std::int64_t>(v.size()) != o.numel()) throw std::runtime_error("iters: wrong count");
  std::memcpy(o.data(), v.data(), v.size() * sizeof(std::int64_t));
}
}  // namespace

FOVEAL_EMU_OP("denoise_tv_chambolle") {
  put_iters(c, foveal::cuda::denoise_tv_chambolle(c.in("image"), c.out("out"), c.num("weight"), c.num("eps"),
                                                  c.i64("max_num_iter"), static_cast<int>(c.i64("batch_dims")), c.ctx));
}
FOVEAL_EMU_OP("denoise_tv_bregman") {
  put_iters(c, foveal::cuda::denoise_tv_bregman(c.in("image"), c.out("out"), c.num("weight"), c.num("eps"),
                                                c.i64("max_num_iter"), c.num("isotropic") != 0, c.num("joint") != 0,
                                                c.ctx));
}
FOVEAL_EMU_OP("denoise_nl_means") {
  foveal::cuda::denoise_nl_means(c.in("image"), c.out("out"), c.i64("patch_size"), c.i64("patch_distance"),
                                 c.num("h"), c.num("sigma"), c.num("fast_mode") != 0, c.ctx);
}
FOVEAL_EMU_OP("fast_nl_means") {
  foveal::cuda::fast_nl_means(c.in("image"), c.out("out"), c.num("h"), c.i64("template_window_size"),
                              c.i64("search_window_size"), c.ctx);
}
FOVEAL_EMU_OP("fast_nl_means_colored") {
  foveal::cuda::fast_nl_means_colored(c.in("image"), c.out("out"), c.num("h"), c.num("h_color"),
                                      c.i64("template_window_size"), c.i64("search_window_size"), c.ctx);
}
