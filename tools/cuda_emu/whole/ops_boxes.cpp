// Adapters of the box kernels' host entry points (see registry.hpp).
// emulates: cuda/box_coder_cuda.cu
#include "ops/backend.hpp"
#include "registry.hpp"

namespace {
std::array<double, 4> four(const emu::Call& c, const char* name) {
  const auto& v = c.nums(name);
  return {v.at(0), v.at(1), v.at(2), v.at(3)};
}
}  // namespace

FOVEAL_EMU_OP("encode_boxes") {
  foveal::cuda::encode_boxes(c.in("reference_boxes"), c.in("proposals"), four(c, "weights"), c.out("out"), c.ctx);
}
FOVEAL_EMU_OP("decode_boxes") {
  foveal::cuda::decode_boxes(c.in("rel_codes"), c.in("boxes"), four(c, "weights"), c.num("clip"), c.out("out"),
                             c.ctx);
}
