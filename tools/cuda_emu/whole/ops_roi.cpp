// Adapters of the RoI kernels' host entry points (see registry.hpp): the params structs and the
// PyramidPlan built as the C++ front ends build them (cpp/src/ops/roi_align.cpp, roi_pool.cpp).
// emulates: cuda/roi_align_cuda.cu
// emulates: cuda/roi_pool_cuda.cu
// emulates: cuda/roi_align_rotated_cuda.cu
#include <string>
#include <vector>

#include "foveal/math/roi.hpp"
#include "ops/backend.hpp"
#include "registry.hpp"

namespace {
foveal::RoiAlignParams align_params(const emu::Call& c) {
  foveal::RoiAlignParams p;
  p.spatial_scale = c.num("spatial_scale");
  p.sampling_ratio = static_cast<int>(c.i64("sampling_ratio"));
  p.aligned = c.num("aligned") != 0;
  return p;
}
}  // namespace

FOVEAL_EMU_OP("roi_align") {
  foveal::cuda::roi_align(c.in("input"), c.in("rois"), c.out("out"), align_params(c), c.ctx);
}
FOVEAL_EMU_OP("roi_align_backward") {
  foveal::cuda::roi_align_backward(c.in("grad_output"), c.in("rois"), c.out("grad_input"), align_params(c), c.ctx);
}
FOVEAL_EMU_OP("roi_align_rotated") {
  foveal::cuda::roi_align_rotated(c.in("input"), c.in("rois"), c.out("out"), align_params(c), c.ctx);
}
FOVEAL_EMU_OP("roi_align_rotated_backward") {
  foveal::cuda::roi_align_rotated_backward(c.in("grad_output"), c.in("rois"), c.out("grad_input"), align_params(c),
                                           c.ctx);
}

// features: tensors f0, f1, ... (levels of them); image_height: the largest image height.
FOVEAL_EMU_OP("multi_scale_roi_align") {
  const int levels = static_cast<int>(c.i64("levels"));
  std::vector<foveal::ConstTensorView> f;
  for (int l = 0; l < levels; ++l) f.push_back(c.in("f" + std::to_string(l)));
  foveal::PyramidPlan plan;
  plan.levels = levels;
  for (int l = 0; l < levels; ++l) plan.scale[l] = foveal::math::fpn_level_scale(f[l].size(2), c.i64("image_height"));
  plan.k_min = foveal::math::fpn_level_of_scale(plan.scale[0]);
  plan.k_max = foveal::math::fpn_level_of_scale(plan.scale[levels - 1]);
  foveal::MultiScaleRoiAlignParams p;
  p.sampling_ratio = static_cast<int>(c.i64("sampling_ratio"));
  p.canonical_scale = static_cast<int>(c.i64("canonical_scale"));
  p.canonical_level = static_cast<int>(c.i64("canonical_level"));
  p.aligned = c.num("aligned") != 0;
  foveal::cuda::multi_scale_roi_align(f.data(), plan, c.in("rois"), c.out("out"), p, c.ctx);
}

// argmax is optional: without an `argmax` output the entry point gets a default (0-d) view.
FOVEAL_EMU_OP("roi_pool") {
  foveal::RoiPoolParams p;
  p.spatial_scale = c.num("spatial_scale");
  p.bins = c.num("seed") != 0 ? foveal::RoiPoolBins::Seed : foveal::RoiPoolBins::Torchvision;
  foveal::cuda::roi_pool(c.in("input"), c.in("rois"), c.out("out"), c.has("argmax") ? c.out("argmax") : foveal::TensorView(),
                         p, c.ctx);
}
FOVEAL_EMU_OP("roi_pool_backward") {
  foveal::cuda::roi_pool_backward(c.in("grad_output"), c.in("rois"), c.in("argmax"), c.out("grad_input"), c.ctx);
}
