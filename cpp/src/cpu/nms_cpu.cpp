// SPDX-License-Identifier: Apache-2.0
// Greedy NMS whose work follows the boxes near each kept box, not N x kept.
//
// 1. Rank boxes by math::score_rank_key (stable radix sort: ties keep index order).
// 2. Boxes that can never reach IoU > t (non-positive or non-finite width, height or area) are
//    left out of the search: they are kept when their turn comes and suppress nothing. Boxes
//    so small that their products underflow are compared with everything (rare; exact).
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

// Smallest area searched through the grid. Below it, products can underflow and the IoU
// computed in T can stray far from the geometric one that math::nms_centre_bound reasons about,
// so such (tiny) boxes are compared with every box instead.
// Midpoint of [lo, hi] without overflow near the largest double.
inline double centre(double lo, double hi) { return lo + 0.5 * (hi - lo); }

template <typename T>
constexpr T kGridMinArea = std::numeric_limits<T>::min() * T(67108864);  // 2^26 above underflow

template <typename T>
std::int64_t nms_impl(const T* boxes, const T* scores, std::int64_t n, double t, std::int64_t* keep) {
  if (n == 0) return 0;
  const std::vector<std::uint32_t> order = rank_order(scores, n);
  const T tf = math::nms_threshold<T>(t);

  // Classify: 0 overlaps nothing, 1 grid, 2 tiny. Extents of the grid boxes.
  enum : std::uint8_t { kNone = 0, kGrid = 1, kTiny = 2 };
  std::vector<std::uint8_t> kind(static_cast<std::size_t>(n));
  double min_cx = INFINITY, max_cx = -INFINITY, min_cy = INFINITY, max_cy = -INFINITY;
  double max_w = 0, max_h = 0;
  std::vector<double> ws, hs;
  std::int64_t n_tiny = 0;
  for (std::int64_t i = 0; i < n; ++i) {
    const T* b = boxes + 4 * i;
    const T w = b[2] - b[0], h = b[3] - b[1], ar = w * h;
    if (!(w > T(0) && h > T(0) && ar < std::numeric_limits<T>::infinity())) {
      kind[i] = kNone;  // NaN, infinite, empty or inverted: IoU is 0 or NaN with every box
      continue;
    }
    const double wd = double(w), hd = double(h);
    if (max_w < wd) max_w = wd;
    if (max_h < hd) max_h = hd;
    if (!(ar >= kGridMinArea<T>)) {
      kind[i] = kTiny;
      ++n_tiny;
      continue;
    }
    kind[i] = kGrid;
    const double cx = centre(b[0], b[2]), cy = centre(b[1], b[3]);
    min_cx = std::min(min_cx, cx), max_cx = std::max(max_cx, cx);
    min_cy = std::min(min_cy, cy), max_cy = std::max(max_cy, cy);
    ws.push_back(wd), hs.push_back(hd);
  }
  const std::int64_t n_grid = static_cast<std::int64_t>(ws.size()), n_live = n_grid + n_tiny;

  // The search bound is derived from the exact IoU; a small relative and absolute slack on t
  // covers the rounding of the IoU computed in T (areas are >= kGridMinArea, so no underflow).
  const double t_low = std::max(0.0, t * (1.0 - 1e-5) - 1e-12);
  std::int64_t gx = 1, gy = 1;
  double cell_w = INFINITY, cell_h = INFINITY;
  const double span_x = max_cx - min_cx, span_y = max_cy - min_cy;
  if (n_grid > 0 && std::isfinite(span_x) && std::isfinite(span_y)) {
    // Cell ~ the search half-width of a median box, so a typical window spans about 3x3 cells.
    auto med = [](std::vector<double>& v) {
      std::nth_element(v.begin(), v.begin() + v.size() / 2, v.end());
      return v[v.size() / 2];
    };
    cell_w = std::max(math::nms_centre_bound(med(ws), max_w, t_low), 1e-300);
    cell_h = std::max(math::nms_centre_bound(med(hs), max_h, t_low), 1e-300);
    const double cap = std::min<double>(2.0 * double(n_grid) + 16.0, double(1 << 24));
    double fx = std::floor(span_x / cell_w) + 1, fy = std::floor(span_y / cell_h) + 1;
    if (!(fx * fy <= cap)) {  // too fine for the box count: coarsen both axes alike
      const double s = std::sqrt(fx) * std::sqrt(fy) / std::sqrt(cap);
      cell_w *= s, cell_h *= s;
      fx = std::min(std::floor(span_x / cell_w) + 1, cap);
      fy = std::min(std::floor(span_y / cell_h) + 1, std::max(1.0, std::floor(cap / fx)));
    }
    if (fx >= 1 && fy >= 1 && fx * fy <= cap) gx = static_cast<std::int64_t>(fx), gy = static_cast<std::int64_t>(fy);
    else cell_w = cell_h = INFINITY;  // a single cell: still exact, just a wider search
  }
  // NB: written so that NaN and +-inf land in a valid cell.
  auto cell_of_coord = [](double c, double lo, double cell, std::int64_t g) {
    const double f = std::floor((c - lo) / cell);
    if (!(f > 0)) return std::int64_t(0);
    return f >= double(g) ? g - 1 : static_cast<std::int64_t>(f);
  };

  // Counting sort of grid boxes into cells, structure-of-arrays in cell order; tiny boxes
  // follow at [n_grid, n_live).
  std::vector<std::int64_t> start(static_cast<std::size_t>(gx * gy + 1), 0);
  std::vector<std::int64_t> cell(static_cast<std::size_t>(n), -1);
  for (std::int64_t i = 0; i < n; ++i) {
    if (kind[i] != kGrid) continue;
    const T* b = boxes + 4 * i;
    cell[i] = cell_of_coord(centre(b[1], b[3]), min_cy, cell_h, gy) * gx + cell_of_coord(centre(b[0], b[2]), min_cx, cell_w, gx);
    ++start[cell[i] + 1];
  }
  for (std::int64_t c = 0; c < gx * gy; ++c) start[c + 1] += start[c];
  std::vector<T> soa(static_cast<std::size_t>(5 * n_live));
  T *X1 = soa.data(), *Y1 = X1 + n_live, *X2 = Y1 + n_live, *Y2 = X2 + n_live, *AR = Y2 + n_live;
  std::vector<std::int64_t> pos(static_cast<std::size_t>(n), -1);
  {
    std::vector<std::int64_t> fill(start.begin(), start.end() - 1);
    std::int64_t next_tiny = n_grid;
    for (std::int64_t i = 0; i < n; ++i) {
      if (kind[i] == kNone) continue;
      const std::int64_t p = kind[i] == kGrid ? fill[cell[i]]++ : next_tiny++;
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
    if (p < 0) {  // overlaps nothing: kept, suppresses nothing
      keep[count++] = i;
      continue;
    }
    const T area_i = AR[p];
    if (area_i != area_i) continue;  // suppressed earlier
    keep[count++] = i;
    AR[p] = std::numeric_limits<T>::quiet_NaN();  // done: later boxes never look at it again
    const T a[4] = {X1[p], Y1[p], X2[p], Y2[p]};
    if (kind[i] == kTiny) {  // compared with every live box
      suppress(a, area_i, X1, Y1, X2, Y2, AR, 0, n_live, tf);
      continue;
    }
    const double w = double(a[2]) - double(a[0]), h = double(a[3]) - double(a[1]);
    const double cx = centre(a[0], a[2]), cy = centre(a[1], a[3]);
    const double bx = math::nms_centre_bound(w, max_w, t_low) * (1 + 1e-9);
    const double by = math::nms_centre_bound(h, max_h, t_low) * (1 + 1e-9);
    const std::int64_t x0 = cell_of_coord(cx - bx, min_cx, cell_w, gx), x1 = cell_of_coord(cx + bx, min_cx, cell_w, gx);
    const std::int64_t y0 = cell_of_coord(cy - by, min_cy, cell_h, gy), y1 = cell_of_coord(cy + by, min_cy, cell_h, gy);
    for (std::int64_t row = y0; row <= y1; ++row)
      suppress(a, area_i, X1, Y1, X2, Y2, AR, start[row * gx + x0], start[row * gx + x1 + 1], tf);
    suppress(a, area_i, X1, Y1, X2, Y2, AR, n_grid, n_live, tf);  // tiny boxes
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
