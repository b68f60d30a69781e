// SPDX-License-Identifier: Apache-2.0
// Greedy NMS whose work follows the boxes near each kept box, not N x kept.
//
// 1. Rank boxes by math::score_rank_key (stable radix sort: ties keep index order).
// 2. Boxes that can never reach IoU > t (non-positive or non-finite width, height or area) are
//    left out of the search: they are kept when their turn comes and suppress nothing.
// 3. The others are bucketed by centre into a uniform grid, stored cell by cell as
//    structure-of-arrays. math::nms_centre_bound limits how far a partner's centre can be.
// 4. In rank order, a box that is still live is kept and marks every live box in its search
//    window with IoU > t as suppressed (its area set to NaN: a NaN area makes every later IoU
//    NaN, which never exceeds t). The window loop is SIMD-dispatched.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "cpu/parallel.hpp"
#include "cpu/simd.hpp"
#include "foveal/math/box.hpp"
#include "foveal/math/nms.hpp"
#include "ops/backend.hpp"

namespace foveal::cpu {
namespace {

template <typename T> struct KeyOf;
template <> struct KeyOf<float> { using type = std::uint32_t; };
template <> struct KeyOf<double> { using type = std::uint64_t; };

/// Stable LSD radix sort of `idx` (initially 0..n-1) by `keys`, 8 bits per pass; passes whose
/// digit is the same for every key are skipped.
template <typename K>
void radix_sort_by_key(std::vector<K>& keys, std::vector<std::uint32_t>& idx) {
  const std::size_t n = keys.size();
  std::vector<K> k2(n);
  std::vector<std::uint32_t> i2(n);
  for (unsigned shift = 0; shift < 8 * sizeof(K); shift += 8) {
    std::size_t count[257] = {};
    for (std::size_t i = 0; i < n; ++i) ++count[((keys[i] >> shift) & 0xFF) + 1];
    if (count[((keys[0] >> shift) & 0xFF) + 1] == n) continue;
    for (int d = 0; d < 256; ++d) count[d + 1] += count[d];
    for (std::size_t i = 0; i < n; ++i) {
      const std::size_t dst = count[(keys[i] >> shift) & 0xFF]++;
      k2[dst] = keys[i];
      i2[dst] = idx[i];
    }
    keys.swap(k2);
    idx.swap(i2);
  }
}

template <typename T>
std::vector<std::uint32_t> rank_order(const T* scores, std::int64_t n) {
  using K = typename KeyOf<T>::type;
  std::vector<K> keys(static_cast<std::size_t>(n));
  std::vector<std::uint32_t> idx(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) {
    keys[i] = math::score_rank_key(scores[i]);
    idx[i] = static_cast<std::uint32_t>(i);
  }
  if (n < 64) {
    std::stable_sort(idx.begin(), idx.end(), [&](std::uint32_t a, std::uint32_t b) { return keys[a] < keys[b]; });
  } else {
    radix_sort_by_key(keys, idx);
  }
  return idx;
}

// Marks live boxes in [k0, k1) whose IoU with box a exceeds tf: their area becomes NaN.
template <typename T>
FOVEAL_ALWAYS_INLINE void suppress_span_body(const T* a, T area_a, const T* x1, const T* y1, const T* x2,
                                             const T* y2, T* area, std::int64_t k0, std::int64_t k1, T tf) {
  const T ax1 = a[0], ay1 = a[1], ax2 = a[2], ay2 = a[3];
  const T dead = std::numeric_limits<T>::quiet_NaN();
#pragma omp simd
  for (std::int64_t k = k0; k < k1; ++k) {
    const T iou = math::box_iou(ax1, ay1, ax2, ay2, area_a, x1[k], y1[k], x2[k], y2[k], area[k]);
    area[k] = iou > tf ? dead : area[k];
  }
}
FOVEAL_SIMD_VARIANTS(suppress_span, suppress_span_body,
                     (const T* a, T area_a, const T* x1, const T* y1, const T* x2, const T* y2, T* area,
                      std::int64_t k0, std::int64_t k1, T tf),
                     (a, area_a, x1, y1, x2, y2, area, k0, k1, tf))

template <typename T>
std::int64_t nms_impl(const T* boxes, const T* scores, std::int64_t n, double t, std::int64_t* keep) {
  if (n == 0) return 0;
  const std::vector<std::uint32_t> order = rank_order(scores, n);
  const T tf = math::nms_threshold<T>(t);

  // Boxes that can take part, their extents, and the grid's bounds.
  std::vector<std::uint8_t> eligible(static_cast<std::size_t>(n));
  double min_cx = INFINITY, max_cx = -INFINITY, min_cy = INFINITY, max_cy = -INFINITY;
  double max_w = 0, max_h = 0;
  std::vector<double> ws, hs;
  ws.reserve(n);
  hs.reserve(n);
  for (std::int64_t i = 0; i < n; ++i) {
    const T* b = boxes + 4 * i;
    const T w = b[2] - b[0], h = b[3] - b[1], ar = w * h;
    const bool ok = w > T(0) && h > T(0) && ar > T(0) && ar < std::numeric_limits<T>::infinity();
    eligible[i] = ok;
    if (!ok) continue;
    const double cx = 0.5 * (double(b[0]) + double(b[2])), cy = 0.5 * (double(b[1]) + double(b[3]));
    min_cx = std::min(min_cx, cx), max_cx = std::max(max_cx, cx);
    min_cy = std::min(min_cy, cy), max_cy = std::max(max_cy, cy);
    const double wd = double(b[2]) - double(b[0]), hd = double(b[3]) - double(b[1]);
    max_w = std::max(max_w, wd), max_h = std::max(max_h, hd);
    ws.push_back(wd), hs.push_back(hd);
  }
  const std::int64_t ne = static_cast<std::int64_t>(ws.size());

  // Slack so that float rounding in the IoU can never put a partner outside the window.
  const double t_low = t * (1.0 - 1e-5);
  std::int64_t gx = 1, gy = 1;
  double cell_w = 1, cell_h = 1;
  if (ne > 0) {
    // Cell ~ the search half-width of a median box, so a typical window spans about 3x3 cells.
    auto med = [](std::vector<double>& v) {
      std::nth_element(v.begin(), v.begin() + v.size() / 2, v.end());
      return v[v.size() / 2];
    };
    const double span_x = max_cx - min_cx, span_y = max_cy - min_cy;
    cell_w = std::max(math::nms_centre_bound(med(ws), max_w, t_low), 1e-300);
    cell_h = std::max(math::nms_centre_bound(med(hs), max_h, t_low), 1e-300);
    const double cap = std::min<double>(2.0 * double(ne) + 16.0, double(1 << 24));
    double fx = std::floor(span_x / cell_w) + 1, fy = std::floor(span_y / cell_h) + 1;
    if (!(fx * fy <= cap)) {  // too fine for the box count: coarsen both axes alike
      const double s = std::sqrt(fx * fy / cap);
      cell_w *= s, cell_h *= s;
      fx = std::min(std::floor(span_x / cell_w) + 1, cap);
      fy = std::min(std::floor(span_y / cell_h) + 1, std::max(1.0, std::floor(cap / fx)));
    }
    gx = static_cast<std::int64_t>(fx), gy = static_cast<std::int64_t>(fy);
  }
  auto cell_x = [&](double c) {
    const double f = std::floor((c - min_cx) / cell_w);
    return f < 0 ? std::int64_t(0) : f >= double(gx) ? gx - 1 : static_cast<std::int64_t>(f);
  };
  auto cell_y = [&](double c) {
    const double f = std::floor((c - min_cy) / cell_h);
    return f < 0 ? std::int64_t(0) : f >= double(gy) ? gy - 1 : static_cast<std::int64_t>(f);
  };

  // Counting sort of eligible boxes into cells; structure-of-arrays in cell order.
  std::vector<std::int64_t> start(static_cast<std::size_t>(gx * gy + 1), 0);
  std::vector<std::int64_t> cell_of(static_cast<std::size_t>(n), -1);
  for (std::int64_t i = 0; i < n; ++i) {
    if (!eligible[i]) continue;
    const T* b = boxes + 4 * i;
    const std::int64_t c = cell_y(0.5 * (double(b[1]) + double(b[3]))) * gx + cell_x(0.5 * (double(b[0]) + double(b[2])));
    cell_of[i] = c;
    ++start[c + 1];
  }
  for (std::int64_t c = 0; c < gx * gy; ++c) start[c + 1] += start[c];
  std::vector<T> soa(static_cast<std::size_t>(5 * ne));
  T *X1 = soa.data(), *Y1 = X1 + ne, *X2 = Y1 + ne, *Y2 = X2 + ne, *AR = Y2 + ne;
  std::vector<std::int64_t> pos(static_cast<std::size_t>(n), -1);
  {
    std::vector<std::int64_t> fill(start.begin(), start.end() - 1);
    for (std::int64_t i = 0; i < n; ++i) {
      if (cell_of[i] < 0) continue;
      const std::int64_t p = fill[cell_of[i]]++;
      const T* b = boxes + 4 * i;
      X1[p] = b[0], Y1[p] = b[1], X2[p] = b[2], Y2[p] = b[3];
      AR[p] = math::box_area(b[0], b[1], b[2], b[3]);
      pos[i] = p;
    }
  }

  const auto suppress = suppress_span<T>();
  std::int64_t count = 0;
  for (std::int64_t r = 0; r < n; ++r) {
    const std::uint32_t i = order[r];
    const std::int64_t p = pos[i];
    if (p < 0) {  // never overlaps anything: kept, suppresses nothing
      keep[count++] = i;
      continue;
    }
    const T area_i = AR[p];
    if (area_i != area_i) continue;  // suppressed earlier
    keep[count++] = i;
    AR[p] = std::numeric_limits<T>::quiet_NaN();  // done: later boxes never look at it again
    const T a[4] = {X1[p], Y1[p], X2[p], Y2[p]};
    const double w = double(a[2]) - double(a[0]), h = double(a[3]) - double(a[1]);
    const double cx = 0.5 * (double(a[0]) + double(a[2])), cy = 0.5 * (double(a[1]) + double(a[3]));
    const double bx = math::nms_centre_bound(w, max_w, t_low) * (1 + 1e-9) + 1e-12 * (std::abs(cx) + std::abs(min_cx));
    const double by = math::nms_centre_bound(h, max_h, t_low) * (1 + 1e-9) + 1e-12 * (std::abs(cy) + std::abs(min_cy));
    const std::int64_t x0 = cell_x(cx - bx), x1 = cell_x(cx + bx);
    const std::int64_t y0 = cell_y(cy - by), y1 = cell_y(cy + by);
    for (std::int64_t row = y0; row <= y1; ++row)
      suppress(a, area_i, X1, Y1, X2, Y2, AR, start[row * gx + x0], start[row * gx + x1 + 1], tf);
  }
  return count;
}

}  // namespace

std::int64_t nms(ConstTensorView boxes, ConstTensorView scores, double iou_threshold, TensorView keep,
                 const ExecContext&) {
  const std::int64_t n = boxes.size(0);
  if (boxes.dtype() == DType::Float32)
    return nms_impl(boxes.data_as<float>(), scores.data_as<float>(), n, iou_threshold, keep.data_as<std::int64_t>());
  return nms_impl(boxes.data_as<double>(), scores.data_as<double>(), n, iou_threshold, keep.data_as<std::int64_t>());
}

}  // namespace foveal::cpu
