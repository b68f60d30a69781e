// SPDX-License-Identifier: Apache-2.0
// Backend entry points. Front ends validate, then call these; backends never re-validate.
#pragma once
#include <array>
#include <cstdint>
#include <vector>

#include "foveal/config.hpp"
#include "foveal/core/exec_context.hpp"
#include "foveal/core/tensor_view.hpp"
#include "foveal/ops/roi_align.hpp"
#include "foveal/ops/roi_pool.hpp"
#include "foveal/ops/pool.hpp"
#include "ops/rl_plan.hpp"
#include "foveal/ops/conv2d.hpp"
#include "foveal/ops/interpolate.hpp"
#include "foveal/ops/elementwise.hpp"
#include "foveal/ops/anchors.hpp"
#include "foveal/ops/box_coder.hpp"
#include "foveal/ops/soft_nms.hpp"
#include "foveal/ops/postprocess.hpp"
#include "foveal/ops/ssim.hpp"
#include "foveal/math/bilateral.hpp"
#include "foveal/ops/fft.hpp"

namespace foveal {

/// Product of the leading dimensions of `v`, all but its last `trailing` ones (pairwise box ops:
/// the batch count).
inline std::int64_t leading_count(const ConstTensorView& v, int trailing) {
  std::int64_t n = 1;
  for (int i = 0; i + trailing < v.ndim(); ++i) n *= v.size(i);
  return n;
}

/// The generalised-IoU family of pairwise box metrics, one backend entry point for all three.
enum class BoxIouVariant : int { Generalized = 0, Distance = 1, Complete = 2 };


/// Pyramid of multi_scale_roi_align, worked out by the front end: the scale of every level and
/// the LevelMapper's clamp range [k_min, k_max].
struct PyramidPlan {
  int levels = 0, k_min = 0, k_max = 0;
  double scale[kMaxPyramidLevels] = {};
};

namespace cpu {
void box_iou(ConstTensorView boxes1, ConstTensorView boxes2, TensorView out, const ExecContext& ctx);
std::int64_t nms(ConstTensorView boxes, ConstTensorView scores, double iou_threshold, TensorView keep,
                 const ExecContext& ctx);
std::int64_t batched_nms(ConstTensorView boxes, ConstTensorView scores, ConstTensorView idxs, double iou_threshold,
                         TensorView keep, const ExecContext& ctx);
void rpn_postprocess(ConstTensorView anchors, ConstTensorView objectness, ConstTensorView deltas,
                     ConstTensorView image_sizes, const std::vector<std::int64_t>& num_anchors_per_level,
                     const RpnPostprocessParams& params, TensorView boxes, TensorView scores, TensorView counts,
                     const ExecContext& ctx);
void box_head_postprocess(ConstTensorView proposals, ConstTensorView proposal_counts, ConstTensorView class_logits,
                          ConstTensorView box_regression, ConstTensorView image_sizes,
                          const BoxHeadPostprocessParams& params, TensorView boxes, TensorView scores,
                          TensorView labels, TensorView counts, const ExecContext& ctx);
void retinanet_postprocess(ConstTensorView anchors, ConstTensorView class_logits, ConstTensorView box_regression,
                           ConstTensorView image_sizes, const std::vector<std::int64_t>& num_anchors_per_level,
                           const RetinaNetPostprocessParams& params, TensorView boxes, TensorView scores,
                           TensorView labels, TensorView counts, const ExecContext& ctx);
void roi_align(ConstTensorView input, ConstTensorView rois, TensorView out, const RoiAlignParams& params,
               const ExecContext& ctx);
void roi_align_backward(ConstTensorView grad_output, ConstTensorView rois, TensorView grad_input,
                        const RoiAlignParams& params, const ExecContext& ctx);
void roi_pool(ConstTensorView input, ConstTensorView rois, TensorView out, TensorView argmax,
              const RoiPoolParams& params, const ExecContext& ctx);
void roi_pool_backward(ConstTensorView grad_output, ConstTensorView rois, ConstTensorView argmax,
                       TensorView grad_input, const ExecContext& ctx);
std::vector<std::int64_t> denoise_tv_chambolle(ConstTensorView image, TensorView out, double weight, double eps,
                                               std::int64_t max_num_iter, int batch_dims, const ExecContext& ctx);
std::vector<std::int64_t> denoise_tv_bregman(ConstTensorView image, TensorView out, double weight, double eps,
                                             std::int64_t max_num_iter, bool isotropic, bool joint,
                                             const ExecContext& ctx);
double structural_similarity(ConstTensorView im1, ConstTensorView im2, TensorView full, TensorView grad,
                             const SsimOptions& options, const ExecContext& ctx);
void box_iou_variant(BoxIouVariant kind, ConstTensorView boxes1, ConstTensorView boxes2, double eps, TensorView out,
                     const ExecContext& ctx);
void max_pool2d(ConstTensorView input, TensorView out, TensorView indices, const Pool2dParams& p,
                const ExecContext& ctx);
void avg_pool2d(ConstTensorView input, TensorView out, const Pool2dParams& p, bool count_include_pad,
                std::int64_t divisor_override, const ExecContext& ctx);
void adaptive_max_pool2d(ConstTensorView input, TensorView out, TensorView indices, const ExecContext& ctx);
void adaptive_avg_pool2d(ConstTensorView input, TensorView out, const ExecContext& ctx);
void box_iou_rotated(ConstTensorView boxes1, ConstTensorView boxes2, TensorView out, const ExecContext& ctx);
void roi_align_rotated(ConstTensorView input, ConstTensorView rois, TensorView out, const RoiAlignParams& params,
                       const ExecContext& ctx);
void roi_align_rotated_backward(ConstTensorView grad_output, ConstTensorView rois, TensorView grad_input,
                                const RoiAlignParams& params, const ExecContext& ctx);
/// `idxs` null: plain nms_rotated; else batched (categories never suppress each other).
std::int64_t nms_rotated(ConstTensorView boxes, ConstTensorView scores, const std::int64_t* idxs,
                         double iou_threshold, TensorView keep, const ExecContext& ctx);
RlMethod richardson_lucy(ConstTensorView image, ConstTensorView psf, TensorView out, const ::foveal::detail::RlArgs& args,
                         const ExecContext& ctx);
/// FFTs (validated by ops/fft.cpp); `shape` is the real-domain shape (complex: less the trailing 2).
void fft_c2c(ConstTensorView in, TensorView out, const Shape& shape, int naxes, bool inverse, FftNorm norm,
             const ExecContext& ctx);
void fft_r2c(ConstTensorView in, TensorView out, const Shape& shape, int naxes, FftNorm norm, const ExecContext& ctx);
void fft_c2r(ConstTensorView in, TensorView out, const Shape& shape, int naxes, FftNorm norm, const ExecContext& ctx);
void conv2d(ConstTensorView input, ConstTensorView weight, ConstTensorView bias, ConstTensorView residual,
            TensorView out, const Conv2dParams& p, const Epilogue& epi, const ExecContext& ctx);
void linear(ConstTensorView x, ConstTensorView weight, ConstTensorView bias, TensorView out, const Epilogue& epi,
            const ExecContext& ctx);
void matmul(ConstTensorView a, ConstTensorView b, TensorView out, const ExecContext& ctx);
void conv_transpose2d(ConstTensorView input, ConstTensorView weight, ConstTensorView bias, ConstTensorView residual,
                      TensorView out, const ConvTranspose2dParams& p, const Epilogue& epi, const ExecContext& ctx);
void interpolate(ConstTensorView input, TensorView out, const InterpolateParams& p, const ExecContext& ctx);
void batch_norm(ConstTensorView input, ConstTensorView running_mean, ConstTensorView running_var,
                ConstTensorView weight, ConstTensorView bias, TensorView out, double eps, const ExecContext& ctx);
void fold_batch_norm(ConstTensorView conv_weight, ConstTensorView conv_bias, ConstTensorView running_mean,
                     ConstTensorView running_var, ConstTensorView bn_weight, ConstTensorView bn_bias,
                     TensorView out_weight, TensorView out_bias, double eps, const ExecContext& ctx);
void unary(UnaryOp op, ConstTensorView input, TensorView out, const ExecContext& ctx);
void softmax(ConstTensorView input, int dim, TensorView out, const ExecContext& ctx);
void add(ConstTensorView a, ConstTensorView b, TensorView out, const ExecContext& ctx);
void anchor_grid(ConstTensorView cells, const std::vector<AnchorLevel>& levels, AnchorStyle style, TensorView out,
                 const ExecContext& ctx);
void encode_boxes(ConstTensorView reference_boxes, ConstTensorView proposals, const std::array<double, 4>& weights,
                  TensorView out, const ExecContext& ctx);
void decode_boxes(ConstTensorView rel_codes, ConstTensorView boxes, const std::array<double, 4>& weights,
                  double bbox_xform_clip, TensorView out, const ExecContext& ctx);
std::int64_t soft_nms(ConstTensorView boxes, ConstTensorView scores, ConstTensorView idxs, double iou_threshold,
                      double sigma, double score_threshold, SoftNmsMethod method, TensorView keep,
                      TensorView kept_scores, const ExecContext& ctx);
void denoise_nl_means(ConstTensorView image, TensorView out, std::int64_t patch_size, std::int64_t patch_distance,
                      double h, double sigma, bool fast_mode, const ExecContext& ctx);
void fast_nl_means(ConstTensorView image, TensorView out, double h, std::int64_t template_window_size,
                   std::int64_t search_window_size, const ExecContext& ctx);
void fast_nl_means_colored(ConstTensorView image, TensorView out, double h, double h_color,
                           std::int64_t template_window_size, std::int64_t search_window_size, const ExecContext& ctx);
void bilateral(ConstTensorView image, TensorView out, const math::BilateralPlan& plan, const ExecContext& ctx);
void multi_scale_roi_align(const ConstTensorView* features, const PyramidPlan& plan, ConstTensorView rois,
                           TensorView out, const MultiScaleRoiAlignParams& params, const ExecContext& ctx);
}  // namespace cpu

namespace cuda {
void box_iou(ConstTensorView boxes1, ConstTensorView boxes2, TensorView out, const ExecContext& ctx);
std::int64_t nms(ConstTensorView boxes, ConstTensorView scores, double iou_threshold, TensorView keep,
                 const ExecContext& ctx);
std::int64_t batched_nms(ConstTensorView boxes, ConstTensorView scores, ConstTensorView idxs, double iou_threshold,
                         TensorView keep, const ExecContext& ctx);
void roi_align(ConstTensorView input, ConstTensorView rois, TensorView out, const RoiAlignParams& params,
               const ExecContext& ctx);
void roi_align_backward(ConstTensorView grad_output, ConstTensorView rois, TensorView grad_input,
                        const RoiAlignParams& params, const ExecContext& ctx);
void roi_pool(ConstTensorView input, ConstTensorView rois, TensorView out, TensorView argmax,
              const RoiPoolParams& params, const ExecContext& ctx);
void roi_pool_backward(ConstTensorView grad_output, ConstTensorView rois, ConstTensorView argmax,
                       TensorView grad_input, const ExecContext& ctx);
std::vector<std::int64_t> denoise_tv_chambolle(ConstTensorView image, TensorView out, double weight, double eps,
                                               std::int64_t max_num_iter, int batch_dims, const ExecContext& ctx);
std::vector<std::int64_t> denoise_tv_bregman(ConstTensorView image, TensorView out, double weight, double eps,
                                             std::int64_t max_num_iter, bool isotropic, bool joint,
                                             const ExecContext& ctx);
void box_iou_variant(BoxIouVariant kind, ConstTensorView boxes1, ConstTensorView boxes2, double eps, TensorView out,
                     const ExecContext& ctx);
void max_pool2d(ConstTensorView input, TensorView out, TensorView indices, const Pool2dParams& p,
                const ExecContext& ctx);
void avg_pool2d(ConstTensorView input, TensorView out, const Pool2dParams& p, bool count_include_pad,
                std::int64_t divisor_override, const ExecContext& ctx);
void adaptive_max_pool2d(ConstTensorView input, TensorView out, TensorView indices, const ExecContext& ctx);
void adaptive_avg_pool2d(ConstTensorView input, TensorView out, const ExecContext& ctx);
void box_iou_rotated(ConstTensorView boxes1, ConstTensorView boxes2, TensorView out, const ExecContext& ctx);
void roi_align_rotated(ConstTensorView input, ConstTensorView rois, TensorView out, const RoiAlignParams& params,
                       const ExecContext& ctx);
void roi_align_rotated_backward(ConstTensorView grad_output, ConstTensorView rois, TensorView grad_input,
                                const RoiAlignParams& params, const ExecContext& ctx);
RlMethod richardson_lucy(ConstTensorView image, ConstTensorView psf, TensorView out, const ::foveal::detail::RlArgs& args,
                         const ExecContext& ctx);
void conv2d(ConstTensorView input, ConstTensorView weight, ConstTensorView bias, ConstTensorView residual,
            TensorView out, const Conv2dParams& p, const Epilogue& epi, const ExecContext& ctx);
void linear(ConstTensorView x, ConstTensorView weight, ConstTensorView bias, TensorView out, const Epilogue& epi,
            const ExecContext& ctx);
void matmul(ConstTensorView a, ConstTensorView b, TensorView out, const ExecContext& ctx);
void conv_transpose2d(ConstTensorView input, ConstTensorView weight, ConstTensorView bias, ConstTensorView residual,
                      TensorView out, const ConvTranspose2dParams& p, const Epilogue& epi, const ExecContext& ctx);
void interpolate(ConstTensorView input, TensorView out, const InterpolateParams& p, const ExecContext& ctx);
void batch_norm(ConstTensorView input, ConstTensorView running_mean, ConstTensorView running_var,
                ConstTensorView weight, ConstTensorView bias, TensorView out, double eps, const ExecContext& ctx);
void fold_batch_norm(ConstTensorView conv_weight, ConstTensorView conv_bias, ConstTensorView running_mean,
                     ConstTensorView running_var, ConstTensorView bn_weight, ConstTensorView bn_bias,
                     TensorView out_weight, TensorView out_bias, double eps, const ExecContext& ctx);
void unary(UnaryOp op, ConstTensorView input, TensorView out, const ExecContext& ctx);
void softmax(ConstTensorView input, int dim, TensorView out, const ExecContext& ctx);
void add(ConstTensorView a, ConstTensorView b, TensorView out, const ExecContext& ctx);
void anchor_grid(ConstTensorView cells, const std::vector<AnchorLevel>& levels, AnchorStyle style, TensorView out,
                 const ExecContext& ctx);
void encode_boxes(ConstTensorView reference_boxes, ConstTensorView proposals, const std::array<double, 4>& weights,
                  TensorView out, const ExecContext& ctx);
void decode_boxes(ConstTensorView rel_codes, ConstTensorView boxes, const std::array<double, 4>& weights,
                  double bbox_xform_clip, TensorView out, const ExecContext& ctx);
std::int64_t soft_nms(ConstTensorView boxes, ConstTensorView scores, ConstTensorView idxs, double iou_threshold,
                      double sigma, double score_threshold, SoftNmsMethod method, TensorView keep,
                      TensorView kept_scores, const ExecContext& ctx);
void fast_nl_means(ConstTensorView image, TensorView out, double h, std::int64_t template_window_size,
                   std::int64_t search_window_size, const ExecContext& ctx);
void fast_nl_means_colored(ConstTensorView image, TensorView out, double h, double h_color,
                           std::int64_t template_window_size, std::int64_t search_window_size, const ExecContext& ctx);
void denoise_nl_means(ConstTensorView image, TensorView out, std::int64_t patch_size, std::int64_t patch_distance,
                      double h, double sigma, bool fast_mode, const ExecContext& ctx);
void bilateral(ConstTensorView image, TensorView out, const math::BilateralPlan& plan, const ExecContext& ctx);
int device_count();
int runtime_version();
void multi_scale_roi_align(const ConstTensorView* features, const PyramidPlan& plan, ConstTensorView rois,
                           TensorView out, const MultiScaleRoiAlignParams& params, const ExecContext& ctx);
/// `idxs` (device pointer) null: plain nms_rotated; else batched.
std::int64_t nms_rotated(ConstTensorView boxes, ConstTensorView scores, const std::int64_t* idxs,
                         double iou_threshold, TensorView keep, const ExecContext& ctx);
// Fused detection post-processing: float16 / bfloat16 / float32; image_sizes on the host,
// proposal_counts on the host or the device; no host synchronisation (counts written on the device).
void rpn_postprocess(ConstTensorView anchors, ConstTensorView objectness, ConstTensorView deltas,
                     ConstTensorView image_sizes, const std::vector<std::int64_t>& num_anchors_per_level,
                     const RpnPostprocessParams& params, TensorView boxes, TensorView scores, TensorView counts,
                     const ExecContext& ctx);
void box_head_postprocess(ConstTensorView proposals, ConstTensorView proposal_counts, ConstTensorView class_logits,
                          ConstTensorView box_regression, ConstTensorView image_sizes,
                          const BoxHeadPostprocessParams& params, TensorView boxes, TensorView scores,
                          TensorView labels, TensorView counts, const ExecContext& ctx);
void retinanet_postprocess(ConstTensorView anchors, ConstTensorView class_logits, ConstTensorView box_regression,
                           ConstTensorView image_sizes, const std::vector<std::int64_t>& num_anchors_per_level,
                           const RetinaNetPostprocessParams& params, TensorView boxes, TensorView scores,
                           TensorView labels, TensorView counts, const ExecContext& ctx);
}  // namespace cuda

namespace detail {
[[noreturn]] void throw_not_compiled(const char* op);
/// Stands in for a CUDA backend call in a build without CUDA; R is that call's return type.
template <typename R>
[[noreturn]] R not_compiled(const char* op) { throw_not_compiled(op); }
}  // namespace detail
}  // namespace foveal

// The only #if on CUDA availability in the front ends.
#if FOVEAL_WITH_CUDA
#define FOVEAL_CUDA_CALL(fn, ...) ::foveal::cuda::fn(__VA_ARGS__)
#else
// Backends share one signature per op, so the CPU declaration names the return type.
#define FOVEAL_CUDA_CALL(fn, ...) ::foveal::detail::not_compiled<decltype(::foveal::cpu::fn(__VA_ARGS__))>(#fn)
#endif
