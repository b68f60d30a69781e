// SPDX-License-Identifier: Apache-2.0
// Rotated IoU on the CPU. Per row, a vectorised pass over boxes2 (structure of arrays) writes 0
// for every pair whose axis-aligned bounding boxes are apart (most pairs, for spread-out boxes)
// and flags the rest; the exact polygon IoU (math/rotated.hpp) then runs on the flagged pairs.
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "cpu/parallel.hpp"
#include "cpu/simd.hpp"
#include "foveal/math/rotated.hpp"
#include "ops/backend.hpp"

namespace foveal::cpu {
namespace {

/// Boxes as structure of arrays, with (cos, sin) of the angle and bounding-box half extents.
template <typename T>
struct RotatedSoa {
  std::vector<T> data;
  T *cx, *cy, *w, *h, *c, *s, *ex, *ey;
  RotatedSoa(const T* b, std::int64_t n) : data(static_cast<std::size_t>(8 * n)) {
    T* p = data.data();
    cx = p, cy = p + n, w = p + 2 * n, h = p + 3 * n, c = p + 4 * n, s = p + 5 * n, ex = p + 6 * n, ey = p + 7 * n;
    for (std::int64_t i = 0; i < n; ++i) {
      const T* r = b + 5 * i;
      double cd, sd;
      math::rotated_trig(static_cast<double>(r[4]), cd, sd);
      cx[i] = r[0], cy[i] = r[1], w[i] = r[2], h[i] = r[3], c[i] = static_cast<T>(cd), s[i] = static_cast<T>(sd);
      math::rotated_half_extents(w[i], h[i], c[i], s[i], ex[i], ey[i]);
      // A non-finite box never passes as "apart": its pairs go to the exact IoU, which is NaN.
      bool finite = true;
      for (int q = 0; q < 5; ++q) finite = finite && std::isfinite(r[q]);
      if (!finite) ex[i] = ey[i] = std::numeric_limits<T>::quiet_NaN();
    }
  }
};

// Bounding boxes apart (strictly, or touching): the IoU is 0. NaN anywhere leaves the pair flagged.
template <typename T>
FOVEAL_ALWAYS_INLINE void reject_row_body(T cx, T cy, T ex, T ey, const T* bcx, const T* bcy, const T* bex,
                                          const T* bey, std::int64_t m, T* out, unsigned char* flag) {
#pragma omp simd
  for (std::int64_t j = 0; j < m; ++j) {
    const T dx = cx - bcx[j], dy = cy - bcy[j];
    const T adx = dx < T(0) ? -dx : dx, ady = dy < T(0) ? -dy : dy;
    const bool apart = adx >= ex + bex[j] || ady >= ey + bey[j];
    out[j] = T(0);
    flag[j] = apart ? 0 : 1;
  }
}
FOVEAL_SIMD_VARIANTS(reject_row, reject_row_body,
                     (T cx, T cy, T ex, T ey, const T* bcx, const T* bcy, const T* bex, const T* bey, std::int64_t m,
                      T* out, unsigned char* flag),
                     (cx, cy, ex, ey, bcx, bcy, bex, bey, m, out, flag))

template <typename T>
void impl(const T* b1, std::int64_t n, const T* b2, std::int64_t m, T* out, int num_threads) {
  const RotatedSoa<T> a(b1, n), b(b2, m);
  const auto reject = reject_row<T>();
  const std::int64_t min_rows = m > 0 ? (1 << 13) / m + 1 : n + 1;
  parallel_for_dynamic(0, n, num_threads, min_rows, [&](std::int64_t i) {
    thread_local std::vector<unsigned char> flag;
    if (flag.size() < static_cast<std::size_t>(m)) flag.resize(static_cast<std::size_t>(m));
    T* o = out + i * m;
    reject(a.cx[i], a.cy[i], a.ex[i], a.ey[i], b.cx, b.cy, b.ex, b.ey, m, o, flag.data());
    for (std::int64_t j = 0; j < m; ++j)
      if (flag[j])
        o[j] = math::rotated_iou(a.cx[i], a.cy[i], a.w[i], a.h[i], a.c[i], a.s[i], b.cx[j], b.cy[j], b.w[j], b.h[j],
                                 b.c[j], b.s[j]);
  });
}

}  // namespace

void box_iou_rotated(ConstTensorView boxes1, ConstTensorView boxes2, TensorView out, const ExecContext& ctx) {
  const std::int64_t n = boxes1.size(0), m = boxes2.size(0);
  if (boxes1.dtype() == DType::Float32)
    impl(boxes1.data_as<float>(), n, boxes2.data_as<float>(), m, out.data_as<float>(), ctx.num_threads);
  else
    impl(boxes1.data_as<double>(), n, boxes2.data_as<double>(), m, out.data_as<double>(), ctx.num_threads);
}

}  // namespace foveal::cpu
