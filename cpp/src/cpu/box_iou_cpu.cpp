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
void box_iou_impl(const T* b1, std::int64_t n, const T* b2, std::int64_t m, std::int64_t batches, T* out,
                  int num_threads) {
  // boxes2 of every batch as structure-of-arrays; batch b's are at offset b * m.
  const std::int64_t bm = batches * m;
  std::vector<T> soa(static_cast<std::size_t>(5 * bm));
  T *x1 = soa.data(), *y1 = x1 + bm, *x2 = y1 + bm, *y2 = x2 + bm, *ar = y2 + bm;
  for (std::int64_t j = 0; j < bm; ++j) {
    const T* b = b2 + 4 * j;
    x1[j] = b[0], y1[j] = b[1], x2[j] = b[2], y2[j] = b[3];
    ar[j] = math::box_area(b[0], b[1], b[2], b[3]);
  }
  const auto row = iou_row<T>();
  // Rows (of all batches) are independent; parallelise once there is enough work to pay for the threads.
  const std::int64_t min_rows = m > 0 ? (1 << 15) / m + 1 : n + 1;
  parallel_for(0, batches * n, num_threads, min_rows, [&](std::int64_t r) {
    const T* a = b1 + 4 * r;
    const std::int64_t o = (r / n) * m;
    row(a, math::box_area(a[0], a[1], a[2], a[3]), x1 + o, y1 + o, x2 + o, y2 + o, ar + o, m, out + r * m);
  });
}

}  // namespace

void box_iou(ConstTensorView boxes1, ConstTensorView boxes2, TensorView out, const ExecContext& ctx) {
  const int nd = boxes1.ndim();
  const std::int64_t n = boxes1.size(nd - 2), m = boxes2.size(nd - 2), batches = leading_count(boxes1, 2);
  if (boxes1.dtype() == DType::Float32)
    box_iou_impl(boxes1.data_as<float>(), n, boxes2.data_as<float>(), m, batches, out.data_as<float>(),
                 ctx.num_threads);
  else
    box_iou_impl(boxes1.data_as<double>(), n, boxes2.data_as<double>(), m, batches, out.data_as<double>(),
                 ctx.num_threads);
}

}  // namespace foveal::cpu
