// SPDX-License-Identifier: Apache-2.0
// The C++ SDK of anchors, box coding and soft-NMS without Python: seed oracle A1 through
// cell_anchors + anchor_grid, decode(encode(g)) == g, a hand-computed soft-NMS, and the errors.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <vector>

#include "foveal/core/error.hpp"
#include "foveal/ops/anchors.hpp"
#include "foveal/ops/box_coder.hpp"
#include "foveal/ops/soft_nms.hpp"

#include "check.hpp"

using foveal::ConstTensorView;
using foveal::Device;
using foveal::DType;
using foveal::Shape;
using foveal::TensorView;


template <typename T>
TensorView view(std::vector<T>& v, DType t, std::initializer_list<std::int64_t> shape) {
  return TensorView(v.data(), t, Device{}, Shape(shape));
}

void test_seed_A1() {
  // matterport: scales 32..512 (one per level), ratios 0.5, 1, 2, strides 4..64, 1024 x 1024.
  const std::int64_t strides[5] = {4, 8, 16, 32, 64};
  std::vector<double> sizes, ratios;
  for (double s : {32.0, 64.0, 128.0, 256.0, 512.0})
    for (double r : {0.5, 1.0, 2.0}) sizes.push_back(s), ratios.push_back(r);
  std::vector<double> cells(4 * sizes.size());
  foveal::cell_anchors(view(sizes, DType::Float64, {15}), view(ratios, DType::Float64, {15}),
                       foveal::AnchorStyle::Matterport, view(cells, DType::Float64, {15, 4}));
  std::vector<foveal::AnchorLevel> levels;
  std::int64_t total = 0;
  for (std::int64_t s : strides) {
    const std::int64_t g = (1024 + s - 1) / s;
    levels.push_back({g, g, s, s, 3});
    total += g * g * 3;
  }
  EXPECT(total == 261888, "count %lld", static_cast<long long>(total));
  std::vector<double> out(4 * total);
  foveal::anchor_grid(view(cells, DType::Float64, {15, 4}), levels, foveal::AnchorStyle::Matterport,
                      view(out, DType::Float64, {total, 4}));
  double lo = INFINITY, hi = -INFINITY;
  for (std::int64_t i = 0; i < total; ++i)
    for (int c = 0; c < 4; ++c) {
      const double v = (out[4 * i + c] - (c >= 2 ? 1.0 : 0.0)) / 1023.0;  // matterport's norm_boxes
      lo = std::min(lo, v), hi = std::max(hi, v);
    }
  EXPECT(std::round(lo * 1e5) == -35390 && std::round(hi * 1e5) == 129134, "min %.6f max %.6f", lo, hi);
}

void test_torchvision_cells() {
  std::vector<double> sizes = {32, 32, 32}, ratios = {0.5, 1.0, 2.0}, cells(12);
  foveal::cell_anchors(view(sizes, DType::Float64, {3}), view(ratios, DType::Float64, {3}),
                       foveal::AnchorStyle::Torchvision, view(cells, DType::Float64, {3, 4}));
  // torchvision: ratio 0.5 -> (-23, -11, 23, 11), 1 -> (-16, -16, 16, 16), 2 -> (-11, -23, 11, 23)
  const double want[12] = {-23, -11, 23, 11, -16, -16, 16, 16, -11, -23, 11, 23};
  EXPECT(std::equal(cells.begin(), cells.end(), want), "cells %g %g %g %g", cells[0], cells[1], cells[2], cells[3]);
}

void test_encode_decode_round_trip() {
  std::vector<float> g = {10, 20, 50, 90, -30, -40, -5, 2}, p = {12, 18, 40, 100, -25, -45, 0, 0};
  std::vector<float> codes(8), back(8);
  const std::array<double, 4> w = {10, 10, 5, 5};
  foveal::encode_boxes(view(g, DType::Float32, {2, 4}), view(p, DType::Float32, {2, 4}), w,
                       view(codes, DType::Float32, {2, 4}));
  foveal::decode_boxes(view(codes, DType::Float32, {2, 4}), view(p, DType::Float32, {2, 4}), w, std::log(1000.0 / 16),
                       view(back, DType::Float32, {2, 4}));
  for (int i = 0; i < 8; ++i) EXPECT(std::fabs(back[i] - g[i]) < 1e-4, "coordinate %d: %g vs %g", i, back[i], g[i]);
}

void test_soft_nms() {
  std::vector<double> b = {0, 0, 10, 10, 1, 0, 11, 10, 20, 20, 30, 30}, s = {0.9, 0.8, 0.7}, kept(3);
  std::vector<std::int64_t> keep(3);
  const std::int64_t n = foveal::soft_nms(view(b, DType::Float64, {3, 4}), view(s, DType::Float64, {3}),
                                          ConstTensorView{}, 0.3, 0.5, 0.001, foveal::SoftNmsMethod::Gaussian,
                                          view(keep, DType::Int64, {3}), view(kept, DType::Float64, {3}));
  const double iou = 90.0 / 110.0;
  EXPECT(n == 3 && keep[0] == 0 && keep[1] == 2 && keep[2] == 1, "keep %lld %lld %lld", (long long)keep[0],
         (long long)keep[1], (long long)keep[2]);
  EXPECT(std::fabs(kept[2] - 0.8 * std::exp(-iou * iou / 0.5)) < 1e-15, "decayed %.17g", kept[2]);
  const std::int64_t m = foveal::soft_nms(view(b, DType::Float64, {3, 4}), view(s, DType::Float64, {3}),
                                          ConstTensorView{}, 0.3, 0.5, 0.001, foveal::SoftNmsMethod::Linear,
                                          view(keep, DType::Int64, {3}), view(kept, DType::Float64, {3}));
  EXPECT(m == 3 && std::fabs(kept[2] - 0.8 * (1 - iou)) < 1e-15, "linear %.17g", kept[2]);
  bool threw = false;
  try {
    foveal::soft_nms(view(b, DType::Float64, {3, 4}), view(s, DType::Float64, {3}), ConstTensorView{}, 0.3, -1.0,
                     0.001, foveal::SoftNmsMethod::Gaussian, view(keep, DType::Int64, {3}),
                     view(kept, DType::Float64, {3}));
  } catch (const foveal::ValueError& e) {
    threw = std::string(e.what()).find("sigma must be positive") != std::string::npos;
  }
  EXPECT(threw, "negative sigma must throw ValueError naming sigma");
}

int main() {
  test_seed_A1();
  test_torchvision_cells();
  test_encode_decode_round_trip();
  test_soft_nms();
  if (failures) std::fprintf(stderr, "%d failure(s)\n", failures);
  return failures ? 1 : 0;
}
