// SPDX-License-Identifier: Apache-2.0
#include <cstdint>
#include <vector>

#include "cpu/parallel.hpp"
#include "cpu/simd.hpp"
#include "foveal/math/box.hpp"
#include "ops/backend.hpp"

namespace foveal::cpu {
namespace {

// One output row against boxes2 held as structure-of-arrays, so the loop vectorises.
template <typename T>
FOVEAL_ALWAYS_INLINE void iou_row_body(const T* a, T area_a, const T* bx1, const T* by1, const T* bx2,
                                       const T* by2, const T* barea, std::int64_t m, T* out) {
  const T ax1 = a[0], ay1 = a[1], ax2 = a[2], ay2 = a[3];
#pragma omp simd
  for (std::int64_t j = 0; j < m; ++j)
    out[j] = math::box_iou(ax1, ay1, ax2, ay2, area_a, bx1[j], by1[j], bx2[j], by2[j], barea[j]);
}
FOVEAL_SIMD_VARIANTS(iou_row, iou_row_body,
                     (const T* a, T area_a, const T* bx1, const T* by1, const T* bx2, const T* by2,
                      const T* barea, std::int64_t m, T* out),
                     (a, area_a, bx1, by1, bx2, by2, barea, m, out))

template <typename T>
void box_iou_impl(const T* b1, std::int64_t n, const T* b2, std::int64_t m, T* out, int num_threads) {
  std::vector<T> soa(static_cast<std::size_t>(5 * m));
  T *x1 = soa.data(), *y1 = x1 + m, *x2 = y1 + m, *y2 = x2 + m, *ar = y2 + m;
  for (std::int64_t j = 0; j < m; ++j) {
    const T* b = b2 + 4 * j;
    x1[j] = b[0], y1[j] = b[1], x2[j] = b[2], y2[j] = b[3];
    ar[j] = math::box_area(b[0], b[1], b[2], b[3]);
  }
  const auto row = iou_row<T>();
  // Rows are independent; parallelise once there is enough work to pay for the threads.
  const std::int64_t min_rows = m > 0 ? (1 << 15) / m + 1 : n + 1;
  parallel_for(0, n, num_threads, min_rows, [&](std::int64_t i) {
    const T* a = b1 + 4 * i;
    row(a, math::box_area(a[0], a[1], a[2], a[3]), x1, y1, x2, y2, ar, m, out + i * m);
  });
}

}  // namespace

void box_iou(ConstTensorView boxes1, ConstTensorView boxes2, TensorView out, const ExecContext& ctx) {
  const std::int64_t n = boxes1.size(0), m = boxes2.size(0);
  if (boxes1.dtype() == DType::Float32)
    box_iou_impl(boxes1.data_as<float>(), n, boxes2.data_as<float>(), m, out.data_as<float>(), ctx.num_threads);
  else
    box_iou_impl(boxes1.data_as<double>(), n, boxes2.data_as<double>(), m, out.data_as<double>(), ctx.num_threads);
}

}  // namespace foveal::cpu
