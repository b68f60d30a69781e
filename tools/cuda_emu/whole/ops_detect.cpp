// Adapters of the detection ops' host entry points (see registry.hpp): box IoU (plain, variants,
// rotated), anchor grids, soft-NMS, greedy NMS (plain, batched, rotated) and the device queries.
// emulates: cuda/box_iou_cuda.cu
// emulates: cuda/box_iou_variants_cuda.cu
// emulates: cuda/box_iou_rotated_cuda.cu
// emulates: cuda/anchors_cuda.cu
// emulates: cuda/soft_nms_cuda.cu
// emulates: cuda/nms_cuda.cu
// emulates: cuda/nms_rotated_cuda.cu
// emulates: cuda/device_cuda.cu
#include <cuda_runtime.h>

#include <cstring>
#include <string>
#include <vector>

#include "common.cuh"
#include "foveal/build_info.hpp"
#include "ops/backend.hpp"
#include "registry.hpp"

namespace {
void put_count(emu::Call& c, std::int64_t n) { *c.out("count").data_as<std::int64_t>() = n; }

// The entry points fill only the first `count` entries of keep / kept_scores: the op runs on a
// copy of the output that starts as 0x5a bytes (the same in both runs of the driver), copied back
// whole, so that the check sees anything written past the count.
struct Padded {
  emu::Call& c;
  std::string name;
  std::vector<unsigned char> bytes;
  Padded(emu::Call& call, const char* n) : c(call), name(n) {
    const foveal::TensorView o = c.out(name);
    bytes.assign(static_cast<std::size_t>(o.numel()) * foveal::itemsize(o.dtype()), 0x5a);
  }
  foveal::TensorView view() {
    const foveal::TensorView o = c.out(name);
    return foveal::TensorView(bytes.data(), o.dtype(), o.device(), o.shape());
  }
  ~Padded() {
    if (!bytes.empty()) std::memcpy(c.out(name).data(), bytes.data(), bytes.size());
  }
};
foveal::ConstTensorView maybe(const emu::Call& c, const char* name) {
  return c.has(name) ? c.in(name) : foveal::ConstTensorView{};
}
}  // namespace

FOVEAL_EMU_OP("box_iou") { foveal::cuda::box_iou(c.in("boxes1"), c.in("boxes2"), c.out("out"), c.ctx); }
FOVEAL_EMU_OP("box_iou_variant") {
  foveal::cuda::box_iou_variant(static_cast<foveal::BoxIouVariant>(c.i64("kind")), c.in("boxes1"), c.in("boxes2"),
                                c.num("eps"), c.out("out"), c.ctx);
}
FOVEAL_EMU_OP("box_iou_rotated") {
  foveal::cuda::box_iou_rotated(c.in("boxes1"), c.in("boxes2"), c.out("out"), c.ctx);
}
// levels: rows, cols, step_y, step_x, num_cells per level, flat.
FOVEAL_EMU_OP("anchor_grid") {
  const auto v = c.i64s("levels");
  std::vector<foveal::AnchorLevel> levels;
  for (std::size_t i = 0; i + 5 <= v.size(); i += 5) levels.push_back({v[i], v[i + 1], v[i + 2], v[i + 3], v[i + 4]});
  foveal::cuda::anchor_grid(c.in("cells"), levels, static_cast<foveal::AnchorStyle>(c.i64("style")), c.out("out"),
                            c.ctx);
}
FOVEAL_EMU_OP("soft_nms") {
  Padded keep(c, "keep"), kept(c, "kept_scores");
  put_count(c, foveal::cuda::soft_nms(c.in("boxes"), c.in("scores"), maybe(c, "idxs"), c.num("iou_threshold"),
                                      c.num("sigma"), c.num("score_threshold"),
                                      static_cast<foveal::SoftNmsMethod>(c.i64("method")), keep.view(), kept.view(),
                                      c.ctx));
}
FOVEAL_EMU_OP("nms") {
  Padded keep(c, "keep");
  put_count(c, foveal::cuda::nms(c.in("boxes"), c.in("scores"), c.num("iou_threshold"), keep.view(), c.ctx));
}
FOVEAL_EMU_OP("batched_nms") {
  Padded keep(c, "keep");
  put_count(c, foveal::cuda::batched_nms(c.in("boxes"), c.in("scores"), c.in("idxs"), c.num("iou_threshold"),
                                         keep.view(), c.ctx));
}
FOVEAL_EMU_OP("nms_rotated") {
  const std::int64_t* idxs = c.has("idxs") ? c.in("idxs").data_as<std::int64_t>() : nullptr;
  Padded keep(c, "keep");
  put_count(c, foveal::cuda::nms_rotated(c.in("boxes"), c.in("scores"), idxs, c.num("iou_threshold"), keep.view(),
                                         c.ctx));
}
// device_cuda.cu: out = [device_count, runtime_version, the pool's release threshold after
// keep_pool_memory, cuda_device_of(inside `probe`), cuda_device_of(a host stack address)].
FOVEAL_EMU_OP("device_queries") {
  auto* o = c.out("out").data_as<std::int64_t>();
  o[0] = foveal::cuda::device_count();
  o[1] = foveal::cuda::runtime_version();
  foveal::cuda::keep_pool_memory();
  o[2] = static_cast<std::int64_t>(emu::default_pool.release_threshold);
  const auto probe = c.in("probe");
  emu::device_base = probe.data(), emu::device_bytes = static_cast<std::size_t>(probe.numel()) * 4;
  o[3] = foveal::cuda_device_of(static_cast<const char*>(probe.data()) + 4);
  int local = 0;
  o[4] = foveal::cuda_device_of(&local);
  emu::device_base = nullptr, emu::device_bytes = 0;
}
// throw_cuda_error through FOVEAL_CUDA_CHECK: `code` is the cudaError_t; the driver prints the message.
FOVEAL_EMU_OP("cuda_error") {
  try {
    FOVEAL_CUDA_CHECK(static_cast<cudaError_t>(c.i64("code")));
  } catch (const foveal::MemoryError& e) {
    throw std::runtime_error(std::string("MemoryError: ") + e.what());
  } catch (const foveal::DeviceError& e) {
    throw std::runtime_error(std::string("DeviceError: ") + e.what());
  }
}
