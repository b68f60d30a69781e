// SPDX-License-Identifier: Apache-2.0
// Runs box IoU and NMS through the installed C++ SDK; exits non-zero on a wrong answer.
#include <foveal/foveal.hpp>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

int main() {
  // Seed oracle N1: A (1,1,4,4) 0.9, B (2,2,5,5) 0.8, C (3,3,6,6) 0.7, D (7,7,9,9) 0.6 at IoU 0.5:
  // all four are kept. Plus E, a near copy of A with a lower score, which A suppresses.
  std::vector<float> boxes = {1, 1, 4, 4, 2, 2, 5, 5, 3, 3, 6, 6, 7, 7, 9, 9, 1.1f, 1, 4, 4};
  std::vector<float> scores = {0.9f, 0.8f, 0.7f, 0.6f, 0.95f};
  scores[4] = 0.5f;
  const std::int64_t n = 5;
  const foveal::Device cpu = foveal::Device::cpu();
  const foveal::ConstTensorView b(boxes.data(), foveal::DType::Float32, cpu, {n, 4});
  const foveal::ConstTensorView s(scores.data(), foveal::DType::Float32, cpu, {n});

  std::vector<float> iou(n * n);
  foveal::box_iou(b, b, foveal::TensorView(iou.data(), foveal::DType::Float32, cpu, {n, n}));
  if (std::fabs(iou[1] - 4.0f / 14.0f) > 1e-6f || std::fabs(iou[2] - 1.0f / 17.0f) > 1e-6f) {
    std::fprintf(stderr, "box_iou: wrong IoU(A,B)=%g IoU(A,C)=%g\n", iou[1], iou[2]);
    return 1;
  }

  std::vector<std::int64_t> keep(n);
  const std::int64_t kept = foveal::nms(b, s, 0.5, foveal::TensorView(keep.data(), foveal::DType::Int64, cpu, {n}));
  const std::int64_t expected[] = {0, 1, 2, 3};
  if (kept != 4) {
    std::fprintf(stderr, "nms: kept %lld boxes, expected 4\n", static_cast<long long>(kept));
    return 1;
  }
  for (int i = 0; i < 4; ++i)
    if (keep[i] != expected[i]) {
      std::fprintf(stderr, "nms: keep[%d] = %lld, expected %lld\n", i, static_cast<long long>(keep[i]),
                   static_cast<long long>(expected[i]));
      return 1;
    }

  // Errors are exceptions of one hierarchy, with the argument named.
  try {
    foveal::nms(b, s, std::nan(""), foveal::TensorView(keep.data(), foveal::DType::Int64, cpu, {n}));
    std::fprintf(stderr, "nms accepted a NaN iou_threshold\n");
    return 1;
  } catch (const foveal::ValueError& e) {
    std::printf("expected error: %s\n", e.what());
  }

  // Big enough to run on the thread pool: every row of a shifted grid has the same IoU pattern.
  {
    const std::int64_t m = 300;
    std::vector<float> grid(4 * m), big(m * m);
    for (std::int64_t i = 0; i < m; ++i) {
      const float x = static_cast<float>(i);
      grid[4 * i] = x, grid[4 * i + 1] = 0, grid[4 * i + 2] = x + 2, grid[4 * i + 3] = 1;
    }
    const foveal::ConstTensorView g(grid.data(), foveal::DType::Float32, cpu, {m, 4});
    foveal::box_iou(g, g, foveal::TensorView(big.data(), foveal::DType::Float32, cpu, {m, m}));
    for (std::int64_t i = 0; i + 1 < m; ++i)
      if (big[i * m + i] != 1.0f || std::fabs(big[i * m + i + 1] - 1.0f / 3.0f) > 1e-6f) {
        std::fprintf(stderr, "box_iou (threaded): wrong row %lld\n", static_cast<long long>(i));
        return 1;
      }
  }
  for (const std::string& w : foveal::config_warnings()) std::printf("foveal warning: %s\n", w.c_str());

  const foveal::BuildInfo info = foveal::build_info();
  std::printf("foveal %s (%s, SIMD %s, %d threads, CUDA %s): IoU(A,B)=%.6f, kept %lld of %lld boxes\n",
              info.version.c_str(), info.compiler.c_str(), info.simd_selected.c_str(), info.num_threads,
              info.cuda_compiled ? "compiled" : "off", iou[1],
              static_cast<long long>(kept), static_cast<long long>(n));
  return 0;
}
