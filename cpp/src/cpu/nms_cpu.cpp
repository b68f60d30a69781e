// SPDX-License-Identifier: Apache-2.0
// Greedy NMS whose work follows the boxes near each kept box, not N x kept.
//
// 1. Rank boxes by math::score_rank_key (stable radix sort: ties keep index order).
// 2. t >= 1 keeps every box (no IoU exceeds 1, see nms_impl). t < 0 suppresses every pair whose
//    IoU is not NaN, whatever the geometry: the live set is scanned, compacted after each kept box
//    (nms_scan, also used for at most 128 boxes).
// 3. 0 <= t < 1. Boxes that can never reach IoU > t (non-positive or non-finite width, height or
//    area) are left out of the search: they are kept when their turn comes and suppress nothing.
//    Boxes so small that their products underflow are compared with everything (rare; exact).
// 4. The others are split into size levels (max(w, h) within about a factor 16, levels centred on
//    the median size), each with its own grid of centres: cells sized by the level's median search
//    bound, laid out from the level's own bounding box. A level's cell offsets are a dense array
//    when its bounding box holds few cells, else only the occupied cells are kept, sorted by key
//    and found through a hash table (a window costs at most the level's occupied cells, see
//    GridIndex::visit). So a far outlier costs one more occupied cell, and a huge box widens the
//    searches into its own level only; a level of at most 64 boxes is one cell, scanned whole.
//    math::nms_centre_bound limits how far a partner's centre can be, math::nms_extent_can_match
//    which levels can hold a partner.
// 5. In rank order, a box that is still live is kept and marks every live box in its search
//    windows with IoU > t as suppressed (its area set to NaN: a NaN area makes every later IoU
//    NaN, which never exceeds t). The window loop is SIMD-dispatched.
#include <algorithm>
#include <atomic>
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

// t < 0: hit[k] = (IoU with box a > tf) for k in [k0, k1).
template <typename T>
FOVEAL_ALWAYS_INLINE void overlap_flags_body(const T* a, T area_a, const T* x1, const T* y1, const T* x2,
                                             const T* y2, const T* area, std::uint8_t* hit, std::int64_t k0,
                                             std::int64_t k1, T tf) {
  const T ax1 = a[0], ay1 = a[1], ax2 = a[2], ay2 = a[3];
#pragma omp simd
  for (std::int64_t k = k0; k < k1; ++k) {
    const T iou = math::box_iou(ax1, ay1, ax2, ay2, area_a, x1[k], y1[k], x2[k], y2[k], area[k]);
    hit[k] = iou > tf ? 1 : 0;
  }
}
FOVEAL_SIMD_VARIANTS(overlap_flags, overlap_flags_body,
                     (const T* a, T area_a, const T* x1, const T* y1, const T* x2, const T* y2, const T* area,
                      std::uint8_t* hit, std::int64_t k0, std::int64_t k1, T tf),
                     (a, area_a, x1, y1, x2, y2, area, hit, k0, k1, tf))

// The greedy definition itself: each kept box scans the boxes still live, in rank order, and the
// survivors are compacted. Used for t < 0, where the IoU of any two boxes (0 when apart, whatever
// the distance) exceeds t unless it is NaN, so no spatial pruning applies (usually the first kept
// box removes almost everything), and for a few boxes, where building the index costs more than
// the scan. Exact for every box kind: a degenerate box's IoU is 0 or NaN with every box.
template <typename T>
std::int64_t nms_scan(const T* boxes, const std::vector<std::uint32_t>& order, T tf, std::int64_t* keep) {
  const std::int64_t n = static_cast<std::int64_t>(order.size());
  std::vector<T> soa(static_cast<std::size_t>(5 * n));
  T *X1 = soa.data(), *Y1 = X1 + n, *X2 = Y1 + n, *Y2 = X2 + n, *AR = Y2 + n;
  std::vector<std::uint32_t> id(order);
  for (std::int64_t r = 0; r < n; ++r) {
    const T* b = boxes + 4 * std::int64_t(order[r]);
    X1[r] = b[0], Y1[r] = b[1], X2[r] = b[2], Y2[r] = b[3];
    AR[r] = math::box_area(b[0], b[1], b[2], b[3]);
  }
  std::vector<std::uint8_t> hit(static_cast<std::size_t>(n));
  const auto flags = overlap_flags<T>();
  std::int64_t live = n, count = 0;
  while (live > 0) {
    keep[count++] = id[0];
    const T a[4] = {X1[0], Y1[0], X2[0], Y2[0]};
    flags(a, AR[0], X1, Y1, X2, Y2, AR, hit.data(), 1, live, tf);
    std::int64_t m = 0;
    for (std::int64_t k = 1; k < live; ++k) {
      if (hit[k]) continue;
      X1[m] = X1[k], Y1[m] = Y1[k], X2[m] = X2[k], Y2[m] = Y2[k], AR[m] = AR[k], id[m] = id[k];
      ++m;
    }
    live = m;
  }
  return count;
}

// Smallest area searched through the grid. Below it, products can underflow and the IoU
// computed in T can stray far from the geometric one that math::nms_centre_bound reasons about,
// so such (tiny) boxes are compared with every box instead.
template <typename T>
constexpr T kGridMinArea = std::numeric_limits<T>::min() * T(67108864);  // 2^26 above underflow

// Midpoint of [lo, hi] without overflow near the largest double.
inline double centre(double lo, double hi) { return lo + 0.5 * (hi - lo); }

// Cell of coordinate c on an axis of g cells of size 1 / inv starting at lo, clamped to [0, g-1].
// Monotone in c (whatever the rounding), so [cell_of(c - b), cell_of(c + b)] holds every centre
// within b of c. Truncation is floor here (f > 0). NB: NaN and +-inf land in a valid cell.
inline std::int64_t cell_of_coord(double c, double lo, double inv, std::int64_t g) {
  const double f = (c - lo) * inv;
  if (!(f > 0)) return 0;
  return f >= double(g) ? g - 1 : static_cast<std::int64_t>(f);
}

// ilogb of a positive finite double, from its bits (the libm call costs more than the rest).
inline int exponent_of(double v) {
  const int e = static_cast<int>(math::bits_of(v) >> 52) - 1023;
  return e > -1023 ? e : std::ilogb(v);  // subnormal
}

constexpr std::uint64_t kNoKey = ~std::uint64_t(0);  // sparse keys are row << 32 | col < 2^63
inline std::uint64_t cell_key(std::int64_t row, std::int64_t col) {
  return (std::uint64_t(row) << 32) | std::uint64_t(col);
}

// One size level: its boxes occupy SoA slots [first, first + count), cell by cell in key order.
struct Level {
  double lo_x, lo_y, inv_w, inv_h;    // grid origin (smallest centre) and 1 / cell size
  double min_w, max_w, min_h, max_h;  // extents of its boxes
  std::int64_t gx, gy;                // cells per axis; coordinates clamp to them
  std::int64_t first, count;          // its SoA slots
  bool dense;
  // dense: slot of the first box of cell (row, col) is off[off0 + row * gx + col] (gx * gy + 1
  // entries). sparse: occupied cell j has key keys[k0 + j] (ascending), its boxes start at
  // off[off0 + j] (ncell + 1 entries), and hash slots [h0, h0 + hmask] map keys to j.
  std::int64_t off0, k0, ncell, h0;
  std::uint64_t hmask;
  int hshift;
  double search_cost;  // sparse: steps of the two binary searches that bound a row's cells
};

struct GridIndex {
  std::vector<Level> levels;
  std::vector<std::int64_t> off;
  std::vector<std::uint64_t> keys;
  std::vector<std::uint64_t> hkey;  // kNoKey: empty
  std::vector<std::int64_t> hval;

  std::int64_t find(const Level& L, std::uint64_t key) const {
    std::uint64_t s = (key * 0x9E3779B97F4A7C15ull) >> L.hshift;
    for (;; s = (s + 1) & L.hmask) {
      const std::uint64_t k = hkey[L.h0 + s];
      if (k == key) return hval[L.h0 + s];
      if (k == kNoKey) return -1;
    }
  }
  // Open addressing, linear probing, load <= 1/2.
  void build_hash(Level& L) {
    int bits = 1;
    while ((std::int64_t(1) << bits) < 2 * L.ncell) ++bits;
    L.hshift = 64 - bits;
    L.hmask = (std::uint64_t(1) << bits) - 1;
    L.h0 = static_cast<std::int64_t>(hkey.size());
    L.search_cost = 2.0 * std::log2(double(L.ncell) + 1.0) + 2.0;
    hkey.resize(static_cast<std::size_t>(L.h0 + (std::int64_t(1) << bits)), kNoKey);
    hval.resize(hkey.size(), -1);
    for (std::int64_t j = 0; j < L.ncell; ++j) {
      const std::uint64_t key = keys[L.k0 + j];
      std::uint64_t s = (key * 0x9E3779B97F4A7C15ull) >> L.hshift;
      while (hkey[L.h0 + s] != kNoKey) s = (s + 1) & L.hmask;
      hkey[L.h0 + s] = key, hval[L.h0 + s] = j;
    }
  }
  // First occupied cell j with key >= key (ncell if none).
  std::int64_t lower(const Level& L, std::uint64_t key) const {
    const auto b = keys.begin() + L.k0;
    return std::lower_bound(b, b + L.ncell, key) - b;
  }

  // Calls f(begin, end) on runs of SoA slots that hold every box of L with its centre's cell in
  // rows [y0, y1] x columns [x0, x1] (and possibly more: callers test every box they get).
  template <typename F>
  void visit(const Level& L, std::int64_t x0, std::int64_t x1, std::int64_t y0, std::int64_t y1, F&& f) const {
    if (L.dense) {
      for (std::int64_t row = y0; row <= y1; ++row)
        f(off[L.off0 + row * L.gx + x0], off[L.off0 + row * L.gx + x1 + 1]);
      return;
    }
    const std::int64_t rows = y1 - y0 + 1, cols = x1 - x0 + 1;
    const std::int64_t* o = off.data() + L.off0;
    // Cost per row: probing each column, or two binary searches; a walk over every occupied cell
    // in the window's key range costs at most ncell. Take the cheaper.
    const double per_row = cols <= 8 ? double(cols) : L.search_cost;
    if (double(rows) * per_row <= double(L.ncell)) {
      for (std::int64_t row = y0; row <= y1; ++row) {
        std::int64_t j0 = -1, j1 = -1;
        if (cols <= 8) {
          std::int64_t x = x0;
          for (; x <= x1 && j0 < 0; ++x) j0 = find(L, cell_key(row, x));
          if (j0 < 0) continue;
          j1 = j0;
          for (std::int64_t xr = x1; xr >= x; --xr) {
            const std::int64_t j = find(L, cell_key(row, xr));
            if (j >= 0) { j1 = j; break; }
          }
          ++j1;
        } else {
          j0 = lower(L, cell_key(row, x0));
          j1 = lower(L, cell_key(row, x1 + 1));
        }
        if (j0 < j1) f(o[j0], o[j1]);
      }
      return;
    }
    const std::uint64_t* k = keys.data() + L.k0;
    std::int64_t run = -1;  // first cell of the current run of in-window cells
    std::int64_t j = lower(L, cell_key(y0, x0));
    const std::uint64_t last = cell_key(y1, x1);
    for (; j < L.ncell && k[j] <= last; ++j) {
      const std::int64_t col = std::int64_t(k[j] & 0xFFFFFFFFu);
      if (col >= x0 && col <= x1) {
        if (run < 0) run = j;
      } else if (run >= 0) {
        f(o[run], o[j]);
        run = -1;
      }
    }
    if (run >= 0) f(o[run], o[j]);
  }
};

// A level this small is one cell: scanning it costs less than finding cells in it.
constexpr std::int64_t kSmallLevel = 64;

inline std::int64_t floor_div4(std::int64_t v) { return v >= 0 ? v / 4 : -((3 - v) / 4); }

// Median of v[0], v[step], v[2 * step], ... (at most ~1024 of them): a cell size needs no more.
template <typename F>
double sampled_median(std::int64_t m, F&& v, std::vector<double>& buf) {
  const std::int64_t step = m / 1024 + 1;
  buf.clear();
  for (std::int64_t q = 0; q < m; q += step) buf.push_back(v(q));
  std::nth_element(buf.begin(), buf.begin() + buf.size() / 2, buf.end());
  return buf[buf.size() / 2];
}

// Greedy NMS of boxes[0, n) visited in `order` (a permutation of 0..n-1); writes kept indices.
template <typename T>
std::int64_t nms_ordered(const T* boxes, const std::vector<std::uint32_t>& order, double t, std::int64_t* keep) {
  const std::int64_t n = static_cast<std::int64_t>(order.size());
  if (n == 0) return 0;
  const T tf = math::nms_threshold<T>(t);
  // IoU never exceeds 1: inter <= min(area_a, area_b) and the rounded union >= inter (rounding is
  // monotone), or a NaN/inf operand makes it NaN or 0. So t >= 1 suppresses nothing.
  if (!(t < 1)) {
    for (std::int64_t r = 0; r < n; ++r) keep[r] = order[r];
    return n;
  }
  constexpr std::int64_t kScanMax = 128;  // below this the index costs more than the scan
  if (t < 0 || n <= kScanMax) return nms_scan(boxes, order, tf, keep);

  // Classify: kNone overlaps nothing, kTiny is compared with everything, a grid box gets
  // e = ilogb(max(w, h)) + kEOff (ilogb of a positive finite double is in [-1074, 1023]).
  constexpr std::int16_t kNone = -1, kTiny = -2, kEOff = 1074, kECount = 2098;
  std::vector<std::int16_t> cls(static_cast<std::size_t>(n));
  std::vector<std::int64_t> e_count(kECount, 0);
  std::int64_t n_tiny = 0, n_grid = 0;
  auto extents = [&](const T* b, double& w, double& h) { w = double(b[2]) - double(b[0]), h = double(b[3]) - double(b[1]); };
  for (std::int64_t i = 0; i < n; ++i) {
    const T* b = boxes + 4 * i;
    const T w = b[2] - b[0], h = b[3] - b[1], ar = w * h;
    if (!(w > T(0) && h > T(0) && ar < std::numeric_limits<T>::infinity())) {
      cls[i] = kNone;  // NaN, infinite, empty or inverted: IoU is 0 or NaN with every box
    } else if (!(ar >= kGridMinArea<T>)) {
      cls[i] = kTiny;
      ++n_tiny;
    } else {
      double wd, hd;
      extents(b, wd, hd);
      cls[i] = static_cast<std::int16_t>(exponent_of(std::max(wd, hd)) + kEOff);
      ++e_count[cls[i]];
      ++n_grid;
    }
  }
  const std::int64_t n_live = n_grid + n_tiny;

  // The search bound is derived from the exact IoU; a small relative and absolute slack on t
  // covers the rounding of the IoU computed in T (areas are >= kGridMinArea, so no underflow).
  const double t_low = std::max(0.0, t * (1.0 - 1e-5) - 1e-12);

  // Size levels: level = floor((e - e_med + 2) / 4), so sizes within about 4x of the median
  // share a level and each level spans a factor of about 16. Counting sort of grid boxes by level.
  std::vector<std::int64_t> level_start;        // per level id (offset by the smallest)
  std::vector<std::int16_t> level_of_e(kECount, 0);
  std::vector<std::uint32_t> by_level(static_cast<std::size_t>(n_grid));
  if (n_grid > 0) {
    std::int64_t e_med = 0;
    for (std::int64_t c = 0; e_med < kECount; ++e_med) if ((c += e_count[e_med]) > n_grid / 2) break;
    std::int64_t lo = INT64_MAX, hi = INT64_MIN;
    for (std::int64_t e = 0; e < kECount; ++e)
      if (e_count[e]) lo = std::min(lo, floor_div4(e - e_med + 2)), hi = std::max(hi, floor_div4(e - e_med + 2));
    level_start.assign(static_cast<std::size_t>(hi - lo + 2), 0);
    for (std::int64_t e = 0; e < kECount; ++e) {
      level_of_e[e] = static_cast<std::int16_t>(floor_div4(e - e_med + 2) - lo);
      // Only sizes that occur have a level in [lo, hi]: the others index outside level_start.
      if (e_count[e]) level_start[level_of_e[e] + 1] += e_count[e];
    }
    for (std::size_t l = 1; l < level_start.size(); ++l) level_start[l] += level_start[l - 1];
    std::vector<std::int64_t> fill(level_start.begin(), level_start.end() - 1);
    for (std::int64_t i = 0; i < n; ++i)
      if (cls[i] >= 0) by_level[fill[level_of_e[cls[i]]]++] = static_cast<std::uint32_t>(i);
  }

  // SoA slots: grid boxes level by level, cell by cell, in [0, n_grid); tiny boxes after them.
  std::vector<T> soa(static_cast<std::size_t>(5 * n_live));
  T *X1 = soa.data(), *Y1 = X1 + n_live, *X2 = Y1 + n_live, *Y2 = X2 + n_live, *AR = Y2 + n_live;
  constexpr std::uint32_t kNoSlot = 0xFFFFFFFFu;  // n <= INT32_MAX
  std::vector<std::uint32_t> pos(static_cast<std::size_t>(n), kNoSlot);
  auto place = [&](std::uint32_t i, std::int64_t p) {
    const T* b = boxes + 4 * std::int64_t(i);
    X1[p] = b[0], Y1[p] = b[1], X2[p] = b[2], Y2[p] = b[3];
    AR[p] = math::box_area(b[0], b[1], b[2], b[3]);
    pos[i] = static_cast<std::uint32_t>(p);
  };

  GridIndex index;
  std::vector<double> buf;
  std::vector<std::uint64_t> keys;
  std::vector<std::uint32_t> local;
  for (std::size_t l = 0; l + 1 < level_start.size(); ++l) {
    const std::int64_t first = level_start[l], m = level_start[l + 1] - first;
    if (m == 0) continue;
    const std::uint32_t* ids = by_level.data() + first;
    Level L{};
    double hi_x = -INFINITY, hi_y = -INFINITY;
    L.lo_x = L.lo_y = L.min_w = L.min_h = INFINITY;
    L.max_w = L.max_h = 0;
    for (std::int64_t q = 0; q < m; ++q) {
      const T* b = boxes + 4 * std::int64_t(ids[q]);
      double w, h;
      extents(b, w, h);
      const double cx = centre(b[0], b[2]), cy = centre(b[1], b[3]);
      L.lo_x = std::min(L.lo_x, cx), hi_x = std::max(hi_x, cx);
      L.lo_y = std::min(L.lo_y, cy), hi_y = std::max(hi_y, cy);
      L.min_w = std::min(L.min_w, w), L.max_w = std::max(L.max_w, w);
      L.min_h = std::min(L.min_h, h), L.max_h = std::max(L.max_h, h);
    }
    // Cell ~ the search half-width of the level's median box, so a typical window spans about
    // 3x3 cells; at most 2^30 cells per axis (coarser only for spans beyond that).
    const T* bb = boxes;
    const double med_w = sampled_median(m, [&](std::int64_t q) { const T* b = bb + 4 * std::int64_t(ids[q]); return double(b[2]) - double(b[0]); }, buf);
    const double med_h = sampled_median(m, [&](std::int64_t q) { const T* b = bb + 4 * std::int64_t(ids[q]); return double(b[3]) - double(b[1]); }, buf);
    const double span_x = hi_x - L.lo_x, span_y = hi_y - L.lo_y;
    const double cell_w = std::max({math::nms_centre_bound(med_w, L.max_w, t_low), 1e-300, span_x * 0x1p-30});
    const double cell_h = std::max({math::nms_centre_bound(med_h, L.max_h, t_low), 1e-300, span_y * 0x1p-30});
    // A span that overflows a double, or a level small enough to scan whole: one column / row.
    L.inv_w = std::isfinite(span_x) && m > kSmallLevel ? 1.0 / cell_w : 0.0;
    L.inv_h = std::isfinite(span_y) && m > kSmallLevel ? 1.0 / cell_h : 0.0;
    L.gx = L.inv_w > 0 ? static_cast<std::int64_t>(span_x * L.inv_w) + 1 : 1;  // <= 2^30 + 1
    L.gy = L.inv_h > 0 ? static_cast<std::int64_t>(span_y * L.inv_h) + 1 : 1;
    L.dense = double(L.gx) * double(L.gy) <= 2.0 * double(m) + 16.0;
    L.first = first, L.count = m;

    keys.resize(static_cast<std::size_t>(m));
    for (std::int64_t q = 0; q < m; ++q) {
      const T* b = boxes + 4 * std::int64_t(ids[q]);
      const std::int64_t col = cell_of_coord(centre(b[0], b[2]), L.lo_x, L.inv_w, L.gx);
      const std::int64_t row = cell_of_coord(centre(b[1], b[3]), L.lo_y, L.inv_h, L.gy);
      keys[q] = L.dense ? std::uint64_t(row * L.gx + col) : cell_key(row, col);
    }
    L.off0 = static_cast<std::int64_t>(index.off.size());
    if (L.dense) {  // counting sort by cell
      const std::int64_t cells = L.gx * L.gy;
      index.off.resize(static_cast<std::size_t>(L.off0 + cells + 1), 0);
      std::int64_t* o = index.off.data() + L.off0;
      for (std::int64_t q = 0; q < m; ++q) ++o[keys[q] + 1];
      o[0] = first;
      for (std::int64_t c = 0; c < cells; ++c) o[c + 1] += o[c];
      std::vector<std::int64_t> fill(o, o + cells);
      for (std::int64_t q = 0; q < m; ++q) place(ids[q], fill[keys[q]]++);
    } else {  // sort by key; keep the occupied cells and a hash table over them
      local.resize(static_cast<std::size_t>(m));
      for (std::int64_t q = 0; q < m; ++q) local[q] = static_cast<std::uint32_t>(q);
      radix_sort_by_key(keys, local);
      L.k0 = static_cast<std::int64_t>(index.keys.size());
      for (std::int64_t q = 0; q < m; ++q) {
        if (q == 0 || keys[q] != keys[q - 1]) {
          index.keys.push_back(keys[q]);
          index.off.push_back(first + q);
        }
        place(ids[local[q]], first + q);
      }
      index.off.push_back(first + m);
      L.ncell = static_cast<std::int64_t>(index.keys.size()) - L.k0;
      index.build_hash(L);
    }
    index.levels.push_back(L);
  }
  {
    std::int64_t next_tiny = n_grid;
    for (std::int64_t i = 0; i < n; ++i)
      if (cls[i] == kTiny) place(static_cast<std::uint32_t>(i), next_tiny++);
  }

  const auto suppress = suppress_span<T>();
  std::int64_t count = 0;
  for (std::int64_t r = 0; r < n; ++r) {
    const std::uint32_t i = order[r];
    const std::uint32_t p = pos[i];
    if (p == kNoSlot) {  // overlaps nothing: kept, suppresses nothing
      keep[count++] = i;
      continue;
    }
    const T area_i = AR[p];
    if (area_i != area_i) continue;  // suppressed earlier
    keep[count++] = i;
    AR[p] = std::numeric_limits<T>::quiet_NaN();  // done: later boxes never look at it again
    const T a[4] = {X1[p], Y1[p], X2[p], Y2[p]};
    if (cls[i] == kTiny) {  // compared with every live box
      suppress(a, area_i, X1, Y1, X2, Y2, AR, 0, n_live, tf);
      continue;
    }
    double w, h;
    extents(a, w, h);
    const double cx = centre(a[0], a[2]), cy = centre(a[1], a[3]);
    auto run = [&](std::int64_t k0, std::int64_t k1) { suppress(a, area_i, X1, Y1, X2, Y2, AR, k0, k1, tf); };
    for (const Level& L : index.levels) {
      // Level extents widened by a relative 1e-9 for the rounding of extents (in double).
      if (!math::nms_extent_can_match(w, L.min_w * (1 - 1e-9), L.max_w * (1 + 1e-9), t_low) ||
          !math::nms_extent_can_match(h, L.min_h * (1 - 1e-9), L.max_h * (1 + 1e-9), t_low))
        continue;
      if (L.gx == 1 && L.gy == 1) {  // one cell: no window to compute
        run(L.first, L.first + L.count);
        continue;
      }
      const double bx = math::nms_centre_bound(w, L.max_w, t_low) * (1 + 1e-9);
      const double by = math::nms_centre_bound(h, L.max_h, t_low) * (1 + 1e-9);
      index.visit(L, cell_of_coord(cx - bx, L.lo_x, L.inv_w, L.gx), cell_of_coord(cx + bx, L.lo_x, L.inv_w, L.gx),
                  cell_of_coord(cy - by, L.lo_y, L.inv_h, L.gy), cell_of_coord(cy + by, L.lo_y, L.inv_h, L.gy), run);
    }
    suppress(a, area_i, X1, Y1, X2, Y2, AR, n_grid, n_live, tf);  // tiny boxes
  }
  return count;
}

template <typename T>
std::int64_t nms_impl(const T* boxes, const T* scores, std::int64_t n, double t, std::int64_t* keep) {
  if (n == 0) return 0;
  return nms_ordered(boxes, rank_order(scores, n), t, keep);
}

// -- batched (per-class) NMS -------------------------------------------------------------------

// Classes this small run the plain greedy scan (each kept box against the later boxes of its
// class): cheaper than building a grid.
constexpr std::int64_t kBruteClass = 512;
constexpr std::int64_t kParallelBoxes = 65536;

template <typename T>
struct ClassScratch {
  std::vector<T> boxes, soa;
  std::vector<std::uint8_t> nan_area;
  std::vector<std::uint32_t> order;
  std::vector<std::int64_t> keep;
};

// Greedy NMS of m boxes already in rank order (box q has rank q); writes kept positions.
template <typename T>
std::int64_t nms_presorted_impl(const T* boxes, std::int64_t m, double t, std::int64_t* keep, ClassScratch<T>& sc) {
  if (m <= 1) {
    if (m == 1) keep[0] = 0;
    return m;
  }
  if (m > kBruteClass) {
    sc.order.resize(static_cast<std::size_t>(m));
    for (std::int64_t q = 0; q < m; ++q) sc.order[q] = static_cast<std::uint32_t>(q);
    return nms_ordered(boxes, sc.order, t, keep);
  }
  const T tf = math::nms_threshold<T>(t);
  sc.soa.resize(static_cast<std::size_t>(5 * m));
  sc.nan_area.resize(static_cast<std::size_t>(m));
  T *X1 = sc.soa.data(), *Y1 = X1 + m, *X2 = Y1 + m, *Y2 = X2 + m, *AR = Y2 + m;
  for (std::int64_t q = 0; q < m; ++q) {
    const T* b = boxes + 4 * q;
    X1[q] = b[0], Y1[q] = b[1], X2[q] = b[2], Y2[q] = b[3];
    AR[q] = math::box_area(b[0], b[1], b[2], b[3]);
    sc.nan_area[q] = AR[q] != AR[q];  // IoU with it is NaN: kept, suppresses nothing
  }
  const auto suppress = suppress_span<T>();
  std::int64_t count = 0;
  for (std::int64_t q = 0; q < m; ++q) {
    if (sc.nan_area[q]) {
      keep[count++] = q;
      continue;
    }
    if (AR[q] != AR[q]) continue;  // suppressed (area set to NaN)
    keep[count++] = q;
    const T a[4] = {X1[q], Y1[q], X2[q], Y2[q]};
    suppress(a, AR[q], X1, Y1, X2, Y2, AR, q + 1, m, tf);
  }
  return count;
}

// Greedy NMS of one class: `ranks` (m of them, ascending) are global rank positions, `order`
// maps a rank to its box. Sets kept[rank] for the class's kept boxes.
template <typename T>
void nms_class(const T* boxes, const std::uint32_t* order, const std::uint32_t* ranks, std::int64_t m, double t,
               ClassScratch<T>& sc, std::uint8_t* kept) {
  if (m == 1) {
    kept[ranks[0]] = 1;
    return;
  }
  sc.boxes.resize(static_cast<std::size_t>(4 * m));
  sc.keep.resize(static_cast<std::size_t>(m));
  for (std::int64_t q = 0; q < m; ++q) {
    const T* b = boxes + 4 * std::int64_t(order[ranks[q]]);
    std::copy(b, b + 4, sc.boxes.data() + 4 * q);
  }
  const std::int64_t count = nms_presorted_impl(sc.boxes.data(), m, t, sc.keep.data(), sc);
  for (std::int64_t k = 0; k < count; ++k) kept[ranks[sc.keep[k]]] = 1;
}

// Rank every box, stable-sort the ranks by class (so each class's slice is in rank order), run
// the greedy NMS of each class independently, then list the kept boxes in rank order.
template <typename T, typename I>
std::int64_t batched_nms_impl(const T* boxes, const T* scores, const I* idxs, std::int64_t n, double t,
                              std::int64_t* keep, int num_threads) {
  if (n == 0) return 0;
  const std::vector<std::uint32_t> order = rank_order(scores, n);  // rank -> box
  std::vector<std::uint64_t> ckeys(static_cast<std::size_t>(n));
  std::vector<std::uint32_t> ranks(static_cast<std::size_t>(n));
  for (std::int64_t r = 0; r < n; ++r) {
    // Flipping the sign bit orders int64 classes as unsigned keys.
    ckeys[r] = static_cast<std::uint64_t>(std::int64_t(idxs[order[r]])) ^ (std::uint64_t(1) << 63);
    ranks[r] = static_cast<std::uint32_t>(r);
  }
  if (n < 64) {
    std::vector<std::uint64_t> k0(ckeys);
    std::stable_sort(ranks.begin(), ranks.end(), [&](std::uint32_t a, std::uint32_t b) { return k0[a] < k0[b]; });
    for (std::int64_t r = 0; r < n; ++r) ckeys[r] = k0[ranks[r]];
  } else {
    radix_sort_by_key(ckeys, ranks);
  }
  std::vector<std::int64_t> start;
  for (std::int64_t r = 0; r < n; ++r)
    if (r == 0 || ckeys[r] != ckeys[r - 1]) start.push_back(r);
  start.push_back(n);
  const std::int64_t nc = static_cast<std::int64_t>(start.size()) - 1;

  std::vector<std::uint8_t> kept(static_cast<std::size_t>(n), 0);  // by rank
  // Largest classes first, handed out one at a time: class sizes can differ by orders of magnitude.
  std::vector<std::uint32_t> todo(static_cast<std::size_t>(nc));
  for (std::int64_t c = 0; c < nc; ++c) todo[c] = static_cast<std::uint32_t>(c);
  std::stable_sort(todo.begin(), todo.end(), [&](std::uint32_t a, std::uint32_t b) {
    return start[a + 1] - start[a] > start[b + 1] - start[b];
  });
  std::atomic<std::int64_t> next{0};
  // Threads only for work of a millisecond or more (waking the pool costs more than small work).
  const std::int64_t workers = nc > 1 && n >= kParallelBoxes ? std::min<std::int64_t>(max_threads(num_threads), nc) : 1;
  parallel_for(0, workers, num_threads, 2, [&](std::int64_t) {
    ClassScratch<T> sc;
    for (std::int64_t j; (j = next.fetch_add(1, std::memory_order_relaxed)) < nc;) {
      const std::int64_t c = todo[j];
      nms_class(boxes, order.data(), ranks.data() + start[c], start[c + 1] - start[c], t, sc, kept.data());
    }
  });
  std::int64_t count = 0;
  for (std::int64_t r = 0; r < n; ++r)
    if (kept[r]) keep[count++] = order[r];
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

namespace foveal::cpu {

std::int64_t batched_nms(ConstTensorView boxes, ConstTensorView scores, ConstTensorView idxs, double iou_threshold,
                         TensorView keep, const ExecContext& ctx) {
  const std::int64_t n = boxes.size(0);
  auto run = [&](const auto* ids) {
    if (boxes.dtype() == DType::Float32)
      return batched_nms_impl(boxes.data_as<float>(), scores.data_as<float>(), ids, n, iou_threshold,
                              keep.data_as<std::int64_t>(), ctx.num_threads);
    return batched_nms_impl(boxes.data_as<double>(), scores.data_as<double>(), ids, n, iou_threshold,
                            keep.data_as<std::int64_t>(), ctx.num_threads);
  };
  return idxs.dtype() == DType::Int32 ? run(idxs.data_as<std::int32_t>()) : run(idxs.data_as<std::int64_t>());
}

}  // namespace foveal::cpu
