// SPDX-License-Identifier: Apache-2.0
// Greedy rotated NMS on the CPU. Boxes are ranked (math/nms.hpp's order) and bucketed by centre
// into one grid per size level (circumscribed radius in [b * 2^l, b * 2^(l+1))), so that a kept
// box only visits the cells where a box whose circle meets its own can lie. Each candidate then
// passes cheap necessary conditions for IoU > t (circles meet; the overlap of the two bounding
// boxes, which contains the intersection, exceeds t * the larger area; the area ratio exceeds t)
// before the exact polygon IoU (math/rotated.hpp). The bounds carry a relative slack of 1e-5 so
// that rounding never prunes a pair the exact IoU would suppress.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <vector>

#include "foveal/math/nms.hpp"
#include "foveal/math/rotated.hpp"
#include "ops/backend.hpp"

namespace foveal::cpu {
namespace {

template <typename T>
struct RBox {
  T cx, cy, w, h, c, s, ex, ey, area;
  double x, y, r;  // centre and circumscribed radius in double: the circle test never overflows
  std::int64_t cls;
  bool finite, valid;
};

struct Level {
  double x0 = 0, y0 = 0, cell_x = 1, cell_y = 1, reach = 0;  // reach: largest radius in the level
  std::int64_t nx = 1, ny = 1;
  // CSR of ranks per cell, ascending; live entries of a cell are entries[head[c] .. end[c]):
  // scans drop ranks already visited (from the front) and removed boxes (compacting in place).
  std::vector<std::int64_t> start, head, end, entries;

  std::int64_t cell(double v, double v0, double cell, std::int64_t n) const {
    double f = std::floor((v - v0) / cell);
    if (!(f >= 0)) f = 0;  // NaN too (infinite cell sizes)
    if (f > static_cast<double>(n - 1)) f = static_cast<double>(n - 1);
    return static_cast<std::int64_t>(f);
  }
};

template <typename T>
std::vector<Level> build_levels(const std::vector<RBox<T>>& bx) {
  const std::int64_t n = static_cast<std::int64_t>(bx.size());
  double rmin = INFINITY;
  for (const auto& b : bx)
    if (b.valid) rmin = std::min(rmin, b.r);
  std::vector<Level> levels;
  if (!(rmin < INFINITY)) return levels;
  auto level_of = [&](double r) {
    const double q = std::floor(std::log2(r / rmin));
    return static_cast<std::size_t>(q > 0 ? (q < 2000 ? q : 2000) : 0);
  };
  std::vector<std::int64_t> count;
  std::vector<double> lo_x, lo_y, hi_x, hi_y;
  for (const auto& b : bx) {
    if (!b.valid) continue;
    const std::size_t l = level_of(b.r);
    if (l >= count.size()) {
      count.resize(l + 1, 0);
      levels.resize(l + 1);
      lo_x.resize(l + 1, INFINITY), lo_y.resize(l + 1, INFINITY), hi_x.resize(l + 1, -INFINITY),
          hi_y.resize(l + 1, -INFINITY);
    }
    ++count[l];
    levels[l].reach = std::max(levels[l].reach, b.r);
    lo_x[l] = std::min(lo_x[l], double(b.cx)), hi_x[l] = std::max(hi_x[l], double(b.cx));
    lo_y[l] = std::min(lo_y[l], double(b.cy)), hi_y[l] = std::max(hi_y[l], double(b.cy));
  }
  for (std::size_t l = 0; l < levels.size(); ++l) {
    Level& L = levels[l];
    if (count[l] == 0) {
      L.start.assign(2, 0);
      L.head.assign(1, 0);
      continue;
    }
    // Cells of the level's largest radius, coarsened until there are at most ~4 per box.
    const double limit = 4.0 * static_cast<double>(count[l]) + 16.0;
    const double sx = hi_x[l] - lo_x[l], sy = hi_y[l] - lo_y[l];
    double cell = L.reach;
    for (int it = 0; it < 4200; ++it) {
      const double fx = std::floor(sx / cell) + 1, fy = std::floor(sy / cell) + 1;
      if (fx * fy <= limit) break;
      cell *= 2.0;
    }
    const double fx = std::floor(sx / cell) + 1, fy = std::floor(sy / cell) + 1;
    if (!(fx * fy <= limit)) {  // spans beyond double range: one cell
      L.nx = L.ny = 1;
      L.cell_x = L.cell_y = INFINITY;
    } else {
      L.nx = static_cast<std::int64_t>(fx), L.ny = static_cast<std::int64_t>(fy);
      L.cell_x = L.cell_y = cell;
    }
    L.x0 = lo_x[l], L.y0 = lo_y[l];
    L.start.assign(static_cast<std::size_t>(L.nx * L.ny + 1), 0);
  }
  std::vector<std::int64_t> cell_of(static_cast<std::size_t>(n), -1);
  for (std::int64_t i = 0; i < n; ++i) {
    if (!bx[i].valid) continue;
    Level& L = levels[level_of(bx[i].r)];
    const std::int64_t c = L.cell(bx[i].cy, L.y0, L.cell_y, L.ny) * L.nx + L.cell(bx[i].cx, L.x0, L.cell_x, L.nx);
    cell_of[i] = c;
    ++L.start[c + 1];
  }
  for (Level& L : levels) {
    for (std::size_t c = 1; c < L.start.size(); ++c) L.start[c] += L.start[c - 1];
    L.head.assign(L.start.begin(), L.start.end() - 1);
    L.entries.resize(static_cast<std::size_t>(L.start.back()));
  }
  for (std::int64_t i = 0; i < n; ++i) {  // ascending rank within each cell
    if (cell_of[i] < 0) continue;
    Level& L = levels[level_of(bx[i].r)];
    L.entries[L.head[cell_of[i]]++] = i;
  }
  for (Level& L : levels) {
    L.head.assign(L.start.begin(), L.start.end() - 1);
    L.end.assign(L.start.begin() + 1, L.start.end());
  }
  return levels;
}

template <typename T>
std::int64_t impl(const T* boxes, const T* scores, const std::int64_t* idxs, std::int64_t n, double thr,
                  std::int64_t* keep) {
  using Key = decltype(math::score_rank_key(T(0)));
  std::vector<std::pair<Key, std::int64_t>> rank(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) rank[i] = {math::score_rank_key(scores[i]), i};
  std::sort(rank.begin(), rank.end());
  std::vector<RBox<T>> bx(static_cast<std::size_t>(n));
  for (std::int64_t k = 0; k < n; ++k) {
    const std::int64_t i = rank[k].second;
    const T* p = boxes + 5 * i;
    RBox<T>& b = bx[k];
    double cd, sd;
    math::rotated_trig(static_cast<double>(p[4]), cd, sd);
    b.cx = p[0], b.cy = p[1], b.w = p[2], b.h = p[3], b.c = T(cd), b.s = T(sd);
    b.finite = std::isfinite(p[0]) && std::isfinite(p[1]) && std::isfinite(p[2]) && std::isfinite(p[3]) &&
               std::isfinite(p[4]);
    b.valid = b.finite && b.w > T(0) && b.h > T(0);
    math::rotated_half_extents(b.w, b.h, b.c, b.s, b.ex, b.ey);
    b.area = b.w * b.h;
    b.r = math::rotated_radius(double(b.w), double(b.h));
    b.x = double(b.cx), b.y = double(b.cy);
    b.cls = idxs ? idxs[i] : 0;
  }
  std::vector<unsigned char> removed(static_cast<std::size_t>(n), 0);
  std::int64_t count = 0;
  if (thr >= 1.0) {  // IoU <= 1 (the intersection is clamped to the smaller area): nothing suppresses
    for (std::int64_t k = 0; k < n; ++k) keep[count++] = rank[k].second;
    return count;
  }
  if (thr < 0.0) {  // every pair with a numeric IoU (both boxes finite) suppresses
    for (std::int64_t k = 0; k < n; ++k) {
      if (removed[k]) continue;
      keep[count++] = rank[k].second;
      if (!bx[k].finite) continue;
      for (std::int64_t j = k + 1; j < n; ++j)
        if (!removed[j] && bx[j].finite && bx[j].cls == bx[k].cls) removed[j] = 1;
    }
    return count;
  }
  const T t = math::nms_threshold<T>(thr);
  const T shrink = T(1) - T(1e-5);
  std::vector<Level> levels = build_levels(bx);
  for (std::int64_t k = 0; k < n; ++k) {
    if (removed[k]) continue;
    keep[count++] = rank[k].second;
    const RBox<T>& a = bx[k];
    if (!a.valid) continue;
    for (Level& L : levels) {
      if (L.entries.empty()) continue;
      const double reach = (a.r + L.reach) * (1 + 1e-6);
      const std::int64_t x0 = L.cell(a.x - reach, L.x0, L.cell_x, L.nx), x1 = L.cell(a.x + reach, L.x0, L.cell_x, L.nx);
      const std::int64_t y0 = L.cell(a.y - reach, L.y0, L.cell_y, L.ny), y1 = L.cell(a.y + reach, L.y0, L.cell_y, L.ny);
      for (std::int64_t cy = y0; cy <= y1; ++cy)
        for (std::int64_t cx = x0; cx <= x1; ++cx) {
          const std::int64_t cell = cy * L.nx + cx;
          std::int64_t e = L.head[cell];
          const std::int64_t end = L.end[cell];
          // Ranks at or before k are done for good (they lead the cell): advance its head.
          while (e < end && L.entries[e] <= k) ++e;
          L.head[cell] = e;
          std::int64_t live = e;
          for (; e < end; ++e) {
            const std::int64_t j = L.entries[e];
            if (removed[j]) continue;  // dropped from the cell
            L.entries[live++] = j;
            const RBox<T>& b = bx[j];
            if (b.cls != a.cls) continue;
            const double dx = b.x - a.x, dy = b.y - a.y, rr = (a.r + b.r) * (1 + 1e-6);
            if (dx * dx + dy * dy >= rr * rr) continue;
            const T amax = a.area > b.area ? a.area : b.area, amin = a.area > b.area ? b.area : a.area;
            if (amin < t * amax * shrink) continue;
            const T adx = T(dx < 0 ? -dx : dx), ady = T(dy < 0 ? -dy : dy);
            T ox = a.ex + b.ex - adx, oy = a.ey + b.ey - ady;
            ox = std::min(ox, T(2) * std::min(a.ex, b.ex));
            oy = std::min(oy, T(2) * std::min(a.ey, b.ey));
            if (ox <= T(0) || oy <= T(0) || ox * oy < t * amax * shrink) continue;
            if (math::rotated_iou(a.cx, a.cy, a.w, a.h, a.c, a.s, b.cx, b.cy, b.w, b.h, b.c, b.s) > t) {
              removed[j] = 1;
              --live;
            }
          }
          L.end[cell] = live;
        }
    }
  }
  return count;
}

}  // namespace

std::int64_t nms_rotated(ConstTensorView boxes, ConstTensorView scores, const std::int64_t* idxs,
                         double iou_threshold, TensorView keep, const ExecContext& ctx) {
  (void)ctx;  // sequential: the greedy order is inherently serial
  const std::int64_t n = boxes.size(0);
  if (boxes.dtype() == DType::Float32)
    return impl(boxes.data_as<float>(), scores.data_as<float>(), idxs, n, iou_threshold, keep.data_as<std::int64_t>());
  return impl(boxes.data_as<double>(), scores.data_as<double>(), idxs, n, iou_threshold, keep.data_as<std::int64_t>());
}

}  // namespace foveal::cpu
