// SPDX-License-Identifier: Apache-2.0
// Soft-NMS on the CPU, exact and sub-quadratic in practice:
//  - selection: a min-heap of integer keys (score rank, index) with lazy updates. Scores only
//    decrease, so a popped key whose score is stale is pushed back with the current score; a key
//    that is current is the true maximum (every stored key bounds its box's score from above).
//  - decay: only boxes that intersect the selected one can change (the decay is exactly 1 at
//    IoU 0), found through a uniform grid in which each box is listed in every cell it covers. A
//    pair is handled only in the cell holding the top-left corner of its intersection, so once.
//    Boxes of different labels live in disjoint bands of the grid. A cell's boxes are kept as
//    structure-of-arrays, so the IoU of the selected box with a whole cell is one SIMD loop; cells
//    are compacted when half their boxes are dead.
// Each box's score is multiplied by the same factors in the same order as the textbook loop, so
// the result is the same bit for bit.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "cpu/simd.hpp"
#include "foveal/math/box.hpp"
#include "foveal/math/nms.hpp"
#include "foveal/math/soft_nms.hpp"
#include "ops/backend.hpp"

namespace foveal::cpu {
namespace {

struct Grid {
  double x0 = 0, y0 = 0, inv = 0;
  std::int64_t gx = 1, gy = 1;
  std::int32_t cx(double x) const { return index(std::floor((x - x0) * inv), gx); }
  std::int32_t cy(double y) const { return index(std::floor((y - y0) * inv), gy); }
  // Clamped in double, before the cast (an overflowing product is +-inf).
  static std::int32_t index(double f, std::int64_t n) {
    return f < 1 ? 0 : (f >= static_cast<double>(n - 1) ? static_cast<std::int32_t>(n - 1) : static_cast<std::int32_t>(f));
  }
};

/// The boxes listed in the grid's cells, structure-of-arrays; cell c holds [start[c], start[c] + count[c]).
template <typename T>
struct Cells {
  std::vector<T> x1, y1, x2, y2, area;
  std::vector<std::int32_t> box, fx, fy;  // index; first cell column and row (band-local)
  void resize(std::size_t n) {
    for (auto* v : {&x1, &y1, &x2, &y2, &area}) v->resize(n);
    for (auto* v : {&box, &fx, &fy}) v->resize(n);
  }
  void move(std::int64_t to, std::int64_t from) {
    x1[to] = x1[from], y1[to] = y1[from], x2[to] = x2[from], y2[to] = y2[from], area[to] = area[from];
    box[to] = box[from], fx[to] = fx[from], fy[to] = fy[from];
  }
};

// IoU of the selected box with m listed boxes, 0 where the pair is not handled in this cell (the
// intersection's corner cell is (max of the first columns, max of the first rows)) or the listed
// box is dead; returns how many are dead.
template <typename T>
FOVEAL_ALWAYS_INLINE std::int64_t scan_cell_body(const T* x1, const T* y1, const T* x2, const T* y2, const T* area,
                                                 const std::int32_t* box, const std::int32_t* fx,
                                                 const std::int32_t* fy, const std::int32_t* alive, std::int64_t m,
                                                 const T* a, std::int32_t ax0, std::int32_t ay0, std::int32_t cx,
                                                 std::int32_t cy, T* iou) {
  const T ax1 = a[0], ay1 = a[1], ax2 = a[2], ay2 = a[3], area_a = a[4];
  std::int64_t dead = 0;
#pragma omp simd reduction(+ : dead)
  for (std::int64_t e = 0; e < m; ++e) {
    const T v = math::box_iou(ax1, ay1, ax2, ay2, area_a, x1[e], y1[e], x2[e], y2[e], area[e]);
    const std::int32_t live = alive[box[e]];
    const bool here = (ax0 > fx[e] ? ax0 : fx[e]) == cx && (ay0 > fy[e] ? ay0 : fy[e]) == cy;
    iou[e] = (live != 0 && here) ? v : T(0);
    dead += live != 0 ? 0 : 1;
  }
  return dead;
}

template <typename T>
FOVEAL_ALWAYS_INLINE void scan_cell_call(const Cells<T>* c, std::int64_t s0, const std::int32_t* alive, std::int64_t m,
                                         const T* a, const std::int32_t* pos, T* iou, std::int64_t* dead) {
  *dead = scan_cell_body<T>(c->x1.data() + s0, c->y1.data() + s0, c->x2.data() + s0, c->y2.data() + s0,
                            c->area.data() + s0, c->box.data() + s0, c->fx.data() + s0, c->fy.data() + s0, alive, m,
                            a, pos[0], pos[1], pos[2], pos[3], iou);
}
FOVEAL_SIMD_VARIANTS(scan_cell, scan_cell_call,
                     (const Cells<T>* c, std::int64_t s0, const std::int32_t* alive, std::int64_t m, const T* a,
                      const std::int32_t* pos, T* iou, std::int64_t* dead),
                     (c, s0, alive, m, a, pos, iou, dead))

// A 4-ary min-heap: shallower than a binary one, and the smallest of four children is picked
// without branches, which matters when most pops re-queue a stale key.
template <typename Key>
class MinHeap4 {
 public:
  void reserve(std::size_t n) { h_.reserve(n); }
  void add(Key k) { h_.push_back(k); }  // before build()
  void build() {
    for (std::size_t i = h_.size() / 4 + 1; i-- > 0;) sift_down(i);
  }
  bool empty() const { return h_.empty(); }
  Key top() const { return h_[0]; }
  void pop() {
    h_[0] = h_.back();
    h_.pop_back();
    if (!h_.empty()) sift_down(0);
  }
  void replace_top(Key k) {  // k >= top(): the top's key grew
    h_[0] = k;
    sift_down(0);
  }

 private:
  void sift_down(std::size_t i) {
    const std::size_t n = h_.size();
    if (i >= n) return;
    const Key v = h_[i];
    for (;;) {
      const std::size_t c = 4 * i + 1;
      if (c >= n) break;
      const std::size_t end = c + 4 < n ? c + 4 : n;
      std::size_t best = c;
      Key bk = h_[c];
      for (std::size_t k = c + 1; k < end; ++k) {
        const bool lt = h_[k] < bk;
        bk = lt ? h_[k] : bk;
        best = lt ? k : best;
      }
      if (!(bk < v)) break;
      h_[i] = bk;
      i = best;
    }
    h_[i] = v;
  }
  std::vector<Key> h_;
};

template <typename T>
std::int64_t soft_nms_impl(const T* b, const T* s, const std::int64_t* labels, std::int64_t n, double iou_threshold,
                           double sigma, double score_threshold, int kind, std::int64_t* keep, T* kept) {
  const T thr = math::nms_threshold<T>(iou_threshold);
  const T sig = static_cast<T>(sigma);
  std::vector<T> cur(s, s + n);
  std::vector<std::int32_t> alive(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) alive[i] = static_cast<double>(cur[i]) >= score_threshold;

  // Boxes that can overlap anything: finite coordinates and a finite positive area.
  std::vector<unsigned char> valid(static_cast<std::size_t>(n));
  double xmin = INFINITY, ymin = INFINITY, xmax = -INFINITY, ymax = -INFINITY, sum_w = 0, sum_h = 0;
  std::int64_t nvalid = 0;
  for (std::int64_t i = 0; i < n; ++i) {
    const T* p = b + 4 * i;
    const T w = p[2] - p[0], h = p[3] - p[1];
    const bool ok = std::isfinite(p[0]) && std::isfinite(p[1]) && std::isfinite(p[2]) && std::isfinite(p[3]) &&
                    w > 0 && h > 0 && std::isfinite(w * h);
    valid[i] = ok;
    if (!ok) continue;
    ++nvalid;
    xmin = std::min<double>(xmin, p[0]), ymin = std::min<double>(ymin, p[1]);
    xmax = std::max<double>(xmax, p[2]), ymax = std::max<double>(ymax, p[3]);
    sum_w += w, sum_h += h;
  }

  // Labels -> dense ranks; each rank gets its own band of gy rows.
  std::vector<std::int64_t> band(static_cast<std::size_t>(n), 0);
  std::int64_t nbands = 1;
  if (labels) {
    std::vector<std::int64_t> u(labels, labels + n);
    std::sort(u.begin(), u.end());
    u.erase(std::unique(u.begin(), u.end()), u.end());
    nbands = static_cast<std::int64_t>(u.size());
    for (std::int64_t i = 0; i < n; ++i) band[i] = std::lower_bound(u.begin(), u.end(), labels[i]) - u.begin();
  }

  // Cell size about the mean box extent, grown until the lists stay near linear in size.
  Grid g;
  Cells<T> cells;
  std::vector<std::int64_t> start, count;
  std::vector<std::int32_t> first_x(static_cast<std::size_t>(n)), first_y(static_cast<std::size_t>(n));
  const std::int64_t budget = 16 * n + 4096;
  if (nvalid > 0) {
    g.x0 = xmin, g.y0 = ymin;
    const double span = std::max(xmax - xmin, ymax - ymin);
    double cell = std::max(sum_w / nvalid, sum_h / nvalid);
    if (!(cell > 0) || !std::isfinite(cell)) cell = 1;
    for (;;) {
      if (!std::isfinite(span)) {
        g.inv = 0, g.gx = g.gy = 1;
        break;
      }
      cell = std::max(cell, span / 4096);
      g.inv = 1.0 / cell;
      g.gx = static_cast<std::int64_t>((xmax - xmin) * g.inv) + 1;
      g.gy = static_cast<std::int64_t>((ymax - ymin) * g.inv) + 1;
      std::int64_t total = 0;
      for (std::int64_t i = 0; i < n && total <= budget; ++i)
        if (valid[i]) {
          const T* p = b + 4 * i;
          total += std::int64_t(g.cx(p[2]) - g.cx(p[0]) + 1) * (g.cy(p[3]) - g.cy(p[1]) + 1);
        }
      if ((total <= budget && g.gx * g.gy * nbands <= budget) || span <= cell) break;
      cell *= 2;
    }
    for (std::int64_t i = 0; i < n; ++i)
      if (valid[i]) first_x[i] = g.cx(b[4 * i]), first_y[i] = g.cy(b[4 * i + 1]);
    const std::int64_t ncells = g.gx * g.gy * nbands;
    count.assign(static_cast<std::size_t>(ncells), 0);
    auto each_cell = [&](std::int64_t i, auto&& f) {
      const T* p = b + 4 * i;
      const std::int64_t x1 = g.cx(p[2]), y1 = g.cy(p[3]), base = band[i] * g.gy;
      for (std::int64_t y = first_y[i]; y <= y1; ++y)
        for (std::int64_t x = first_x[i]; x <= x1; ++x) f((base + y) * g.gx + x);
    };
    for (std::int64_t i = 0; i < n; ++i)
      if (valid[i] && alive[i]) each_cell(i, [&](std::int64_t c) { ++count[c]; });
    start.assign(static_cast<std::size_t>(ncells + 1), 0);
    for (std::int64_t c = 0; c < ncells; ++c) start[c + 1] = start[c] + count[c];
    cells.resize(static_cast<std::size_t>(start[ncells]));
    std::fill(count.begin(), count.end(), 0);
    for (std::int64_t i = 0; i < n; ++i)
      if (valid[i] && alive[i]) {
        const T* p = b + 4 * i;
        each_cell(i, [&](std::int64_t c) {
          const std::int64_t e = start[c] + count[c]++;
          cells.x1[e] = p[0], cells.y1[e] = p[1], cells.x2[e] = p[2], cells.y2[e] = p[3];
          cells.area[e] = math::box_area(p[0], p[1], p[2], p[3]);
          cells.box[e] = static_cast<std::int32_t>(i), cells.fx[e] = first_x[i], cells.fy[e] = first_y[i];
        });
      }
  }
  std::int64_t longest = 0;
  for (std::int64_t c : count) longest = std::max(longest, c);
  std::vector<T> iou(static_cast<std::size_t>(longest));
  std::vector<std::int32_t> hits(static_cast<std::size_t>(longest));
  const auto scan = scan_cell<T>();

  // Min-heap of integer keys: rank key of the score (ascending = descending score), then the
  // index, so one integer comparison orders (score desc, index asc).
  using Key = std::conditional_t<sizeof(T) == 4, std::uint64_t, unsigned __int128>;
  const auto key_of = [](T score, std::int64_t i) {
    return (static_cast<Key>(math::score_rank_key(score)) << 32) | static_cast<Key>(static_cast<std::uint32_t>(i));
  };
  MinHeap4<Key> heap;
  heap.reserve(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i)
    if (alive[i]) heap.add(key_of(cur[i], i));
  heap.build();

  std::int64_t kept_n = 0;
  while (!heap.empty()) {
    const Key top = heap.top();
    const std::int64_t i = static_cast<std::int64_t>(static_cast<std::uint32_t>(top));
    if (!alive[i]) {
      heap.pop();
      continue;
    }
    const Key now = key_of(cur[i], i);
    if (now != top) {  // decayed since queued: re-queue at its current score
      heap.replace_top(now);
      continue;
    }
    heap.pop();
    keep[kept_n] = i;
    kept[kept_n] = cur[i];
    ++kept_n;
    alive[i] = 0;
    if (!valid[i]) continue;
    const T* p = b + 4 * i;
    const T a[5] = {p[0], p[1], p[2], p[3], math::box_area(p[0], p[1], p[2], p[3])};
    const std::int32_t x0 = first_x[i], y0 = first_y[i], x1 = g.cx(p[2]), y1 = g.cy(p[3]);
    const std::int64_t base = band[i] * g.gy;
    for (std::int32_t y = y0; y <= y1; ++y)
      for (std::int32_t x = x0; x <= x1; ++x) {
        const std::int64_t c = (base + y) * g.gx + x;
        const std::int64_t s0 = start[c], m = count[c];
        if (m == 0) continue;
        const std::int32_t pos[4] = {x0, y0, x, y};
        std::int64_t dead = 0;
        scan(&cells, s0, alive.data(), m, a, pos, iou.data(), &dead);
        // Branch-free gather of the overlapping entries (about one in four), then the decays.
        std::int64_t h = 0;
        for (std::int64_t e = 0; e < m; ++e) {
          hits[h] = static_cast<std::int32_t>(e);
          h += iou[e] > T(0);
        }
        for (std::int64_t q = 0; q < h; ++q) {
          const std::int32_t e = hits[q], j = cells.box[s0 + e];
          cur[j] *= math::soft_nms_decay(iou[e], kind, thr, sig);
          if (!(static_cast<double>(cur[j]) >= score_threshold)) alive[j] = 0;
        }
        if (2 * dead > m) {  // compact: drop the dead for good
          std::int64_t w = 0;
          for (std::int64_t e = 0; e < m; ++e)
            if (alive[cells.box[s0 + e]]) cells.move(s0 + w++, s0 + e);
          count[c] = w;
        }
      }
  }
  return kept_n;
}

}  // namespace

std::int64_t soft_nms(ConstTensorView boxes, ConstTensorView scores, ConstTensorView idxs, double iou_threshold,
                      double sigma, double score_threshold, SoftNmsMethod method, TensorView keep,
                      TensorView kept_scores, const ExecContext&) {
  const std::int64_t n = boxes.size(0);
  const std::int64_t* labels = idxs.data() ? idxs.data_as<std::int64_t>() : nullptr;
  const int kind = method == SoftNmsMethod::Gaussian ? math::kSoftNmsGaussian : math::kSoftNmsLinear;
  if (boxes.dtype() == DType::Float32)
    return soft_nms_impl(boxes.data_as<float>(), scores.data_as<float>(), labels, n, iou_threshold, sigma,
                         score_threshold, kind, keep.data_as<std::int64_t>(), kept_scores.data_as<float>());
  return soft_nms_impl(boxes.data_as<double>(), scores.data_as<double>(), labels, n, iou_threshold, sigma,
                       score_threshold, kind, keep.data_as<std::int64_t>(), kept_scores.data_as<double>());
}

}  // namespace foveal::cpu
