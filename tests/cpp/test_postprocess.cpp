// SPDX-License-Identifier: Apache-2.0
// C++ SDK entry points of batched_nms, rpn_postprocess, box_head_postprocess and
// retinanet_postprocess on small worked examples (capacity + count outputs, padding, errors).
#include <cstdint>
#include <cstdio>
#include <vector>

#include "foveal/core/error.hpp"
#include "foveal/ops/nms.hpp"
#include "foveal/ops/postprocess.hpp"

#include "check.hpp"


using foveal::ConstTensorView;
using foveal::Device;
using foveal::DType;
using foveal::TensorView;

void test_batched_nms() {
  // Boxes 0 and 1 (class 0) overlap with IoU 9/16: 1 goes; box 2 equals box 0 but is class 1;
  // box 3 (class 1) overlaps box 2 with IoU 12/16 and goes.
  const float boxes[] = {0, 0, 4, 4, 1, 1, 4, 4, 0, 0, 4, 4, 0, 1, 4, 4};
  const float scores[] = {0.9f, 0.8f, 0.7f, 0.6f};
  const std::int64_t idx64[] = {0, 0, 1, 1};
  const std::int32_t idx32[] = {0, 0, 1, 1};
  std::int64_t keep[4] = {-1, -1, -1, -1};
  const ConstTensorView b(boxes, DType::Float32, Device::cpu(), {4, 4});
  const ConstTensorView s(scores, DType::Float32, Device::cpu(), {4});
  const TensorView k(keep, DType::Int64, Device::cpu(), {4});
  std::int64_t n = foveal::batched_nms(b, s, ConstTensorView(idx64, DType::Int64, Device::cpu(), {4}), 0.5, k);
  EXPECT(n == 2 && keep[0] == 0 && keep[1] == 2, "int64: n=%lld keep=%lld,%lld", (long long)n, (long long)keep[0],
         (long long)keep[1]);
  n = foveal::batched_nms(b, s, ConstTensorView(idx32, DType::Int32, Device::cpu(), {4}), 0.5, k);
  EXPECT(n == 2 && keep[0] == 0 && keep[1] == 2, "int32: n=%lld", (long long)n);
  bool threw = false;
  try {
    foveal::batched_nms(b, s, ConstTensorView(idx64, DType::Int64, Device::cpu(), {3}), 0.5, k);
  } catch (const foveal::ValueError&) {
    threw = true;
  }
  EXPECT(threw, "idxs of the wrong length must throw ValueError");
}

void test_rpn_postprocess() {
  // Level 0: anchors 0 and 1 (IoU 0.82 > 0.7: 1 goes), level 1: anchor 2. Zero deltas.
  const double anchors[] = {0, 0, 10, 10, 0.5, 0.5, 10.5, 10.5, 20, 20, 30, 30};
  const double obj[] = {2, 1, 0};
  const double deltas[12] = {};
  const double sizes[] = {100, 100};
  double boxes[3 * 4], scores[3];
  std::int64_t counts[1];
  foveal::rpn_postprocess(ConstTensorView(anchors, DType::Float64, Device::cpu(), {3, 4}),
                          ConstTensorView(obj, DType::Float64, Device::cpu(), {1, 3}),
                          ConstTensorView(deltas, DType::Float64, Device::cpu(), {1, 3, 4}),
                          ConstTensorView(sizes, DType::Float64, Device::cpu(), {1, 2}), {3}, {},
                          TensorView(boxes, DType::Float64, Device::cpu(), {1, 3, 4}),
                          TensorView(scores, DType::Float64, Device::cpu(), {1, 3}),
                          TensorView(counts, DType::Int64, Device::cpu(), {1}));
  EXPECT(counts[0] == 2, "count %lld", (long long)counts[0]);
  EXPECT(boxes[0] == 0 && boxes[2] == 10 && boxes[4] == 20 && boxes[7] == 30, "boxes %g %g %g %g", boxes[0], boxes[2],
         boxes[4], boxes[7]);
  EXPECT(boxes[8] == 0 && boxes[11] == 0 && scores[2] == 0, "padding must be zero");
  EXPECT(scores[0] > scores[1] && scores[1] == 0.5, "scores %g %g", scores[0], scores[1]);
  foveal::RpnPostprocessParams bad;
  bad.pre_nms_top_n = -1;
  bool threw = false;
  try {
    foveal::rpn_postprocess(ConstTensorView(anchors, DType::Float64, Device::cpu(), {3, 4}),
                            ConstTensorView(obj, DType::Float64, Device::cpu(), {1, 3}),
                            ConstTensorView(deltas, DType::Float64, Device::cpu(), {1, 3, 4}),
                            ConstTensorView(sizes, DType::Float64, Device::cpu(), {1, 2}), {3}, bad,
                            TensorView(boxes, DType::Float64, Device::cpu(), {1, 3, 4}),
                            TensorView(scores, DType::Float64, Device::cpu(), {1, 3}),
                            TensorView(counts, DType::Int64, Device::cpu(), {1}));
  } catch (const foveal::ValueError&) {
    threw = true;
  }
  EXPECT(threw, "negative pre_nms_top_n must throw ValueError");
}

void test_box_head_postprocess() {
  // One proposal, classes (background, 1, 2) with logits (0, 4, 0): only class 1 passes 0.05.
  const float proposals[] = {10, 10, 50, 50};
  const float logits[] = {0, 4, 0};
  const float regression[12] = {};
  const double sizes[] = {100, 100};
  float boxes[2 * 4], scores[2];
  std::int64_t labels[2], counts[1];
  foveal::box_head_postprocess(ConstTensorView(proposals, DType::Float32, Device::cpu(), {1, 1, 4}), {},
                               ConstTensorView(logits, DType::Float32, Device::cpu(), {1, 1, 3}),
                               ConstTensorView(regression, DType::Float32, Device::cpu(), {1, 1, 12}),
                               ConstTensorView(sizes, DType::Float64, Device::cpu(), {1, 2}), {},
                               TensorView(boxes, DType::Float32, Device::cpu(), {1, 2, 4}),
                               TensorView(scores, DType::Float32, Device::cpu(), {1, 2}),
                               TensorView(labels, DType::Int64, Device::cpu(), {1, 2}),
                               TensorView(counts, DType::Int64, Device::cpu(), {1}));
  EXPECT(counts[0] == 1 && labels[0] == 1, "count %lld label %lld", (long long)counts[0], (long long)labels[0]);
  EXPECT(boxes[0] == 10 && boxes[3] == 50 && labels[1] == 0 && scores[1] == 0, "box %g %g", boxes[0], boxes[3]);
}

void test_retinanet_postprocess() {
  // Anchors 0 and 1 (IoU 0.68 > 0.5) both score best in class 0: 1 goes; anchor 2 is class 1's.
  const float anchors[] = {0, 0, 10, 10, 1, 1, 11, 11, 20, 20, 40, 40};
  const float logits[] = {3, -9, 2, -9, -9, 1};  // (anchor, class)
  const float regression[12] = {};
  const double sizes[] = {100, 100};
  float boxes[6 * 4], scores[6];  // room for every (anchor, class) pair
  std::int64_t labels[6], counts[1];
  auto run = [&](const foveal::RetinaNetPostprocessParams& p) {
    foveal::retinanet_postprocess(ConstTensorView(anchors, DType::Float32, Device::cpu(), {3, 4}),
                                  ConstTensorView(logits, DType::Float32, Device::cpu(), {1, 3, 2}),
                                  ConstTensorView(regression, DType::Float32, Device::cpu(), {1, 3, 4}),
                                  ConstTensorView(sizes, DType::Float64, Device::cpu(), {1, 2}), {3}, p,
                                  TensorView(boxes, DType::Float32, Device::cpu(), {1, 6, 4}),
                                  TensorView(scores, DType::Float32, Device::cpu(), {1, 6}),
                                  TensorView(labels, DType::Int64, Device::cpu(), {1, 6}),
                                  TensorView(counts, DType::Int64, Device::cpu(), {1}));
  };
  run({});
  EXPECT(counts[0] == 2 && labels[0] == 0 && labels[1] == 1, "count %lld labels %lld %lld", (long long)counts[0],
         (long long)labels[0], (long long)labels[1]);
  EXPECT(boxes[0] == 0 && boxes[2] == 10 && boxes[4] == 20 && boxes[7] == 40, "boxes %g %g %g %g", boxes[0],
         boxes[2], boxes[4], boxes[7]);
  EXPECT(boxes[8] == 0 && boxes[23] == 0 && scores[2] == 0 && labels[5] == 0, "padding must be zero");
  foveal::RetinaNetPostprocessParams bad;
  bad.topk_candidates = -1;
  bool threw = false;
  try {
    run(bad);
  } catch (const foveal::ValueError&) {
    threw = true;
  }
  EXPECT(threw, "negative topk_candidates must throw ValueError");
}

int main() {
  test_batched_nms();
  test_rpn_postprocess();
  test_box_head_postprocess();
  test_retinanet_postprocess();
  if (failures) std::fprintf(stderr, "%d failure(s)\n", failures);
  return failures ? 1 : 0;
}
