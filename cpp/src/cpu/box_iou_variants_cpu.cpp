// SPDX-License-Identifier: Apache-2.0
#include <cstdint>
#include <vector>

#include "cpu/parallel.hpp"
#include "cpu/simd.hpp"
#include "foveal/math/box.hpp"
#include "ops/backend.hpp"

namespace foveal::cpu {
namespace {

// boxes2 as structure-of-arrays with its per-box terms (area, centre, aspect angle) computed
// once, so each row is a vectorised loop of per-pair arithmetic only.
template <typename T>
struct Soa {
  const T *x1, *y1, *x2, *y2, *area, *cx, *cy, *ang;
};

template <BoxIouVariant K, typename T>
FOVEAL_ALWAYS_INLINE void variant_row(const T* a, const Soa<T>& s, std::int64_t m, T eps, T* out) {
  const T ax1 = a[0], ay1 = a[1], ax2 = a[2], ay2 = a[3];
  const T area_a = math::box_area(ax1, ay1, ax2, ay2);
  const T *x1 = s.x1, *y1 = s.y1, *x2 = s.x2, *y2 = s.y2, *ar = s.area;
  if constexpr (K == BoxIouVariant::Generalized) {
#pragma omp simd
    for (std::int64_t j = 0; j < m; ++j)
      out[j] = math::box_giou(ax1, ay1, ax2, ay2, area_a, x1[j], y1[j], x2[j], y2[j], ar[j]);
  } else {
    const T acx = math::box_center(ax1, ax2), acy = math::box_center(ay1, ay2);
    const T *cx = s.cx, *cy = s.cy;
    if constexpr (K == BoxIouVariant::Distance) {
#pragma omp simd
      for (std::int64_t j = 0; j < m; ++j)
        out[j] = math::box_diou(ax1, ay1, ax2, ay2, area_a, acx, acy, x1[j], y1[j], x2[j], y2[j], ar[j], cx[j],
                                cy[j], eps);
    } else {
      const T ang_a = math::box_aspect_angle(ax1, ay1, ax2, ay2);
      const T* ang = s.ang;
#pragma omp simd
      for (std::int64_t j = 0; j < m; ++j)
        out[j] = math::box_ciou(ax1, ay1, ax2, ay2, area_a, acx, acy, ang_a, x1[j], y1[j], x2[j], y2[j], ar[j],
                                cx[j], cy[j], ang[j], eps);
    }
  }
}

#define FOVEAL_VARIANT_ROW(name, kind)                                                                  \
  template <typename T>                                                                                 \
  FOVEAL_ALWAYS_INLINE void name##_body(const T* a, const Soa<T>* s, std::int64_t m, T eps, T* out) {   \
    variant_row<kind, T>(a, *s, m, eps, out);                                                           \
  }                                                                                                     \
  FOVEAL_SIMD_VARIANTS(name, name##_body, (const T* a, const Soa<T>* s, std::int64_t m, T eps, T* out), \
                       (a, s, m, eps, out))
FOVEAL_VARIANT_ROW(giou_row, BoxIouVariant::Generalized)
FOVEAL_VARIANT_ROW(diou_row, BoxIouVariant::Distance)
FOVEAL_VARIANT_ROW(ciou_row, BoxIouVariant::Complete)
#undef FOVEAL_VARIANT_ROW

template <typename T>
void variant_impl(BoxIouVariant kind, const T* b1, std::int64_t n, const T* b2, std::int64_t m,
                  std::int64_t batches, T eps, T* out, int num_threads) {
  // Batch b's boxes2 sit at offset b * m of each array.
  const std::int64_t bm = batches * m;
  const int fields = kind == BoxIouVariant::Generalized ? 5 : kind == BoxIouVariant::Distance ? 7 : 8;
  std::vector<T> buf(static_cast<std::size_t>(fields * bm));
  T* f[8] = {};
  for (int k = 0; k < fields; ++k) f[k] = buf.data() + k * bm;
  for (std::int64_t j = 0; j < bm; ++j) {
    const T* b = b2 + 4 * j;
    f[0][j] = b[0], f[1][j] = b[1], f[2][j] = b[2], f[3][j] = b[3];
    f[4][j] = math::box_area(b[0], b[1], b[2], b[3]);
    if (fields > 5) f[5][j] = math::box_center(b[0], b[2]), f[6][j] = math::box_center(b[1], b[3]);
    if (fields > 7) f[7][j] = math::box_aspect_angle(b[0], b[1], b[2], b[3]);
  }
  const auto row = kind == BoxIouVariant::Generalized ? giou_row<T>()
                   : kind == BoxIouVariant::Distance  ? diou_row<T>()
                                                      : ciou_row<T>();
  // Rows (of all batches) are independent; parallelise once there is enough work for the threads.
  const std::int64_t min_rows = (1 << 15) / m + 1;
  parallel_for(0, batches * n, num_threads, min_rows, [&](std::int64_t r) {
    const std::int64_t o = (r / n) * m;
    const Soa<T> s{f[0] + o, f[1] + o, f[2] + o, f[3] + o, f[4] + o,
                   f[5] ? f[5] + o : nullptr, f[6] ? f[6] + o : nullptr, f[7] ? f[7] + o : nullptr};
    row(b1 + 4 * r, &s, m, eps, out + r * m);
  });
}

}  // namespace

void box_iou_variant(BoxIouVariant kind, ConstTensorView boxes1, ConstTensorView boxes2, double eps, TensorView out,
                     const ExecContext& ctx) {
  const int nd = boxes1.ndim();
  const std::int64_t n = boxes1.size(nd - 2), m = boxes2.size(nd - 2), batches = leading_count(boxes1, 2);
  if (boxes1.dtype() == DType::Float32)
    variant_impl<float>(kind, boxes1.data_as<float>(), n, boxes2.data_as<float>(), m, batches,
                        static_cast<float>(eps), out.data_as<float>(), ctx.num_threads);
  else
    variant_impl<double>(kind, boxes1.data_as<double>(), n, boxes2.data_as<double>(), m, batches, eps,
                         out.data_as<double>(), ctx.num_threads);
}

}  // namespace foveal::cpu
