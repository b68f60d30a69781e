// SPDX-License-Identifier: Apache-2.0
// RoI geometry of RoIAlign and RoIPool, as torchvision defines it. A RoI row is
// [batch_index, x1, y1, x2, y2] in input-image coordinates; `spatial_scale` maps them onto the map.
#pragma once
#include <cmath>
#include <cstdint>

#include "foveal/math/bilinear.hpp"
#include "foveal/math/hd.hpp"

namespace foveal::math {

// Sampling grids are capped per axis so that the grid stays an integer; samples outside the map
// are skipped (roi_align_sample_range), so a capped, huge RoI costs O(map), not O(grid).
constexpr std::int64_t kRoiAlignMaxGrid = std::int64_t(1) << 40;

/// Bin layout of one RoI in RoIAlign.
template <typename T>
struct RoiAlignBins {
  T start_h, start_w;    // top-left corner on the map
  T bin_h, bin_w;        // bin extent
  std::int64_t grid_h, grid_w;  // samples per bin along each axis (>= 0)
  T count;               // divisor of the average: max(grid_h * grid_w, 1)
};

template <typename T>
FOVEAL_HD_INLINE std::int64_t roi_align_grid(int sampling_ratio, T extent, std::int64_t pooled) {
  if (sampling_ratio > 0) return sampling_ratio;
  const T g = std::ceil(extent / static_cast<T>(pooled));
  if (!(g > T(0))) return 0;  // empty (or negative, aligned) RoI: no samples
  return g < T(kRoiAlignMaxGrid) ? static_cast<std::int64_t>(g) : kRoiAlignMaxGrid;
}

/// torchvision's arithmetic, in the same order and type T (the geometry is not rounded:
/// "this implementation detail is critical"). Unaligned RoIs are at least 1x1.
template <typename T>
FOVEAL_HD_INLINE RoiAlignBins<T> roi_align_bins(const T* roi, T spatial_scale, std::int64_t pooled_h,
                                                std::int64_t pooled_w, int sampling_ratio, bool aligned) {
  RoiAlignBins<T> b;
  const T offset = aligned ? T(0.5) : T(0);
  b.start_w = roi[1] * spatial_scale - offset;
  b.start_h = roi[2] * spatial_scale - offset;
  const T end_w = roi[3] * spatial_scale - offset;
  const T end_h = roi[4] * spatial_scale - offset;
  T roi_w = end_w - b.start_w;
  T roi_h = end_h - b.start_h;
  if (!aligned) {
    roi_w = roi_w < T(1) ? T(1) : roi_w;
    roi_h = roi_h < T(1) ? T(1) : roi_h;
  }
  b.bin_h = roi_h / static_cast<T>(pooled_h);
  b.bin_w = roi_w / static_cast<T>(pooled_w);
  b.grid_h = roi_align_grid(sampling_ratio, roi_h, pooled_h);
  b.grid_w = roi_align_grid(sampling_ratio, roi_w, pooled_w);
  const T n = static_cast<T>(b.grid_h) * static_cast<T>(b.grid_w);
  b.count = n > T(1) ? n : T(1);
  return b;
}

/// Coordinate of sample `i` of bin `p` along one axis. (i + 0.5f) is a float sum, as in torchvision.
template <typename T>
FOVEAL_HD_INLINE T roi_align_sample(T start, T bin, std::int64_t p, std::int64_t i, std::int64_t grid) {
  return start + static_cast<T>(p) * bin + static_cast<T>(static_cast<float>(i) + 0.5f) * bin / static_cast<T>(grid);
}

/// Grids of more samples than this per bin axis are narrowed to the samples that may land on the map.
constexpr std::int64_t kNarrowGrid = 64;

/// Half-open range [i0, i1) of the sample indices i in [0, grid) whose coordinate
/// base + (i + 0.5) * step may lie in [lo, hi], with one sample of slack each side: the exact
/// test stays with bilinear_axis, this only narrows a huge grid (> kNarrowGrid samples), so that
/// a huge RoI costs O(map), not O(grid). A non-finite base or step puts no sample on a map.
FOVEAL_HD_INLINE void sample_index_range(double base, double step, std::int64_t grid, double lo, double hi,
                                         std::int64_t& i0, std::int64_t& i1) {
  i0 = 0;
  i1 = grid;
  if (grid <= kNarrowGrid || step == 0.0) return;
  if (!std::isfinite(base) || !std::isfinite(step)) {
    i1 = 0;
    return;
  }
  double a = (lo - base) / step - 0.5, b = (hi - base) / step - 0.5;
  if (b < a) {  // a decreasing coordinate
    const double t = a;
    a = b;
    b = t;
  }
  const double first = std::floor(a) - 1.0, last = std::ceil(b) + 2.0;
  if (first > 0.0) i0 = first < static_cast<double>(grid) ? static_cast<std::int64_t>(first) : grid;
  if (last < static_cast<double>(grid)) i1 = last > 0.0 ? static_cast<std::int64_t>(last) : 0;
  if (i1 < i0) i1 = i0;
}

/// roi_align_sample's axis in double: sample i of bin p sits at base + (i + 0.5) * step.
struct SampleAxis {
  double base, step;
};
template <typename T>
FOVEAL_HD_INLINE SampleAxis sample_axis(T start, T bin, std::int64_t p, std::int64_t grid) {
  return {static_cast<double>(start) + static_cast<double>(p) * static_cast<double>(bin),
          static_cast<double>(bin) / static_cast<double>(grid)};
}

/// Half-open range [i0, i1) of sample indices of bin `p` that may lie in [-1, size].
template <typename T>
FOVEAL_HD_INLINE void roi_align_sample_range(T start, T bin, std::int64_t p, std::int64_t grid, std::int64_t size,
                                             std::int64_t& i0, std::int64_t& i1) {
  if (!(bin > T(0))) {
    i0 = 0;
    i1 = grid;
    return;
  }
  const SampleAxis a = sample_axis(start, bin, p, grid);
  sample_index_range(a.base, a.step, grid, -1.0, static_cast<double>(size), i0, i1);
}

/// RoIPool corner: round half away from zero of coordinate * scale, as torchvision's `round`;
/// clamped far outside any map so that the integer stays defined for huge RoIs.
template <typename T>
FOVEAL_HD_INLINE std::int64_t roi_pool_corner(T v, T spatial_scale) {
  const T r = std::round(v * spatial_scale);
  const T cap = T(std::int64_t(1) << 40);
  return static_cast<std::int64_t>(r < -cap ? -cap : (r > cap ? cap : r));
}

FOVEAL_HD_INLINE std::int64_t clamp_index(std::int64_t v, std::int64_t size) {
  return v < 0 ? 0 : (v > size ? size : v);
}

/// Half-open pixel range [lo, hi) of a RoIPool bin along one axis (empty when hi <= lo).
struct PoolSpan {
  std::int64_t lo, hi;
};

/// Range of bin `p` of `pooled` along one axis, for RoI corners `c0`, `c1` (x1, x2 or y1, y2) on an
/// axis of `size` pixels. Bins are separable: a bin's rows depend on its row only.
/// `seed_bins` false: torchvision's bins (inclusive RoI corners, extent R = c1 - c0 + 1 at least
/// 1; bin p covers [floor(p * R / P), ceil((p + 1) * R / P)) of it, so neighbours may overlap).
/// true: the seed's bins (oracle R1): floor(R / P) pixels per bin, the remainder in the last.
template <typename T>
FOVEAL_HD_INLINE PoolSpan roi_pool_span(T c0, T c1, T spatial_scale, std::int64_t pooled, std::int64_t p,
                                        std::int64_t size, bool seed_bins) {
  const std::int64_t s = roi_pool_corner(c0, spatial_scale);
  const std::int64_t e = roi_pool_corner(c1, spatial_scale);
  const std::int64_t r = e - s + 1 > 1 ? e - s + 1 : 1;
  std::int64_t lo, hi;
  if (seed_bins) {
    const std::int64_t q = r / pooled;
    lo = p * q;
    hi = p == pooled - 1 ? r : (p + 1) * q;
  } else {
    const T bin = static_cast<T>(r) / static_cast<T>(pooled);
    lo = static_cast<std::int64_t>(std::floor(static_cast<T>(p) * bin));
    hi = static_cast<std::int64_t>(std::ceil(static_cast<T>(p + 1) * bin));
  }
  return {clamp_index(lo + s, size), clamp_index(hi + s, size)};
}

// -- Multi-scale RoIAlign (torchvision's MultiScaleRoIAlign / LevelMapper) ------------------------

/// Scale of a pyramid level whose map has `feature` rows for an image of `image` rows (the largest
/// image of the batch): 2**round(log2(feature / image)), with the log2 and the rounding (half to
/// even) in float32, as torchvision's _infer_scale does on a 0-d tensor.
FOVEAL_HD_INLINE double fpn_level_scale(std::int64_t feature, std::int64_t image) {
  const float approx = static_cast<float>(static_cast<double>(feature) / static_cast<double>(image));
  return std::exp2(static_cast<double>(std::nearbyint(std::log2(approx))));
}

/// Pyramid level k of a scale (2**-k), as torchvision: int(-log2(scale)).
FOVEAL_HD_INLINE int fpn_level_of_scale(double scale) {
  return static_cast<int>(-std::log2(static_cast<float>(scale)));
}

/// Index into the level list of RoI row `roi` (LevelMapper, FPN paper eq. 1), or -1 when it has
/// none: k = floor(canonical_level + log2(sqrt(area) / canonical_scale) + 1e-6) in the RoI dtype,
/// clamped to [k_min, k_max] as torch.clamp (max wins when k_min > k_max), minus k_min. A RoI whose
/// area is negative (sqrt NaN) or whose index falls outside [0, levels) is pooled from no level and
/// stays zero, as in torchvision. With one level every RoI uses it (torchvision skips the mapper).
template <typename T>
FOVEAL_HD_INLINE int fpn_roi_level(const T* roi, int k_min, int k_max, int canonical_scale, int canonical_level,
                                   int levels) {
  if (levels == 1) return 0;
  const T s = std::sqrt((roi[3] - roi[1]) * (roi[4] - roi[2]));
  T k = std::floor(static_cast<T>(canonical_level) + std::log2(s / static_cast<T>(canonical_scale)) + T(1e-6));
  if (!(k == k)) return -1;  // NaN
  k = k < static_cast<T>(k_min) ? static_cast<T>(k_min) : k;
  k = k > static_cast<T>(k_max) ? static_cast<T>(k_max) : k;
  const int index = static_cast<int>(k) - k_min;
  return index >= 0 && index < levels ? index : -1;
}

}  // namespace foveal::math
