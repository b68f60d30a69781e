// SPDX-License-Identifier: Apache-2.0
// Rotated boxes (cx, cy, w, h, angle): angle in degrees, counter-clockwise as seen in an image
// (y axis down), as detectron2 and torchvision define it. A box's frame maps local (u, v) to
//   x = cx + cos(a) * u + sin(a) * v,   y = cy - sin(a) * u + cos(a) * v,
// so its corners are the images of (+-w/2, +-h/2).
//
// IoU: box 1 is expressed in box 2's frame, where box 2 is the axis-aligned [-w2/2, w2/2] x
// [-h2/2, h2/2]; box 1's corner quad is clipped by those four half-planes (Sutherland-Hodgman,
// at most 8 vertices) and the shoelace formula gives the area. In that frame the clipping lines
// are exact constants, a crossing is placed exactly on its line, and near-parallel edges need no
// special case (a crossing is only computed between vertices strictly on opposite sides, where
// the division is well conditioned). Centre differences are taken before rotating, so far-off
// coordinates lose no precision to large absolute values.
#pragma once
#include <cmath>

#include "foveal/math/hd.hpp"
#include "foveal/math/roi.hpp"

namespace foveal::math {

/// cos and sin of an angle in degrees, evaluated in double (angles of float boxes included) after
/// reducing it to [-180, 180], so that 90, 180, ... give exact zeros.
FOVEAL_HD_INLINE void rotated_trig(double deg, double& c, double& s) {
  double r = std::fmod(deg, 360.0);
  if (r > 180.0) r -= 360.0;
  if (r < -180.0) r += 360.0;
  if (r == 90.0 || r == -90.0) {
    c = 0.0;
    s = r > 0 ? 1.0 : -1.0;
    return;
  }
  if (r == 180.0 || r == -180.0) {
    c = -1.0;
    s = 0.0;
    return;
  }
  const double t = r * 0.017453292519943295;  // pi / 180
  c = std::cos(t);
  s = std::sin(t);
}

/// Half extents of a rotated box's axis-aligned bounding box.
template <typename T>
FOVEAL_HD_INLINE void rotated_half_extents(T w, T h, T c, T s, T& ex, T& ey) {
  const T ac = c < T(0) ? -c : c, as = s < T(0) ? -s : s;
  ex = T(0.5) * (ac * w + as * h);
  ey = T(0.5) * (as * w + ac * h);
}

namespace detail {

// One Sutherland-Hodgman pass: keep the part of polygon (x, y)[0..n) where sign * coord <= lim,
// coord being x (axis 0) or y (axis 1). Writes to (ox, oy), returns the new count.
template <typename T>
FOVEAL_HD_INLINE int clip_pass(const T* x, const T* y, int n, int axis, T sign, T lim, T* ox, T* oy) {
  int m = 0;
  for (int i = 0; i < n; ++i) {
    const int j = i + 1 == n ? 0 : i + 1;
    const T pc = axis == 0 ? x[i] : y[i], qc = axis == 0 ? x[j] : y[j];
    const T dp = sign * pc - lim, dq = sign * qc - lim;
    if (dp <= T(0)) {
      ox[m] = x[i];
      oy[m] = y[i];
      ++m;
    }
    if ((dp < T(0) && dq > T(0)) || (dp > T(0) && dq < T(0))) {
      const T t = dp / (dp - dq);  // in (0, 1): the vertices are strictly on opposite sides
      if (axis == 0) {
        ox[m] = sign * lim;
        oy[m] = y[i] + t * (y[j] - y[i]);
      } else {
        ox[m] = x[i] + t * (x[j] - x[i]);
        oy[m] = sign * lim;
      }
      ++m;
    }
  }
  return m;
}

}  // namespace detail

/// Area of the intersection of box 1 with box 2, box 1 given in box 2's frame: centre (px, py),
/// orientation (c, s) relative to box 2, size w1 x h1; box 2 is [-w2/2, w2/2] x [-h2/2, h2/2].
template <typename T>
FOVEAL_HD_INLINE T rotated_intersection_local(T px, T py, T c, T s, T w1, T h1, T w2, T h2) {
  const T hw = T(0.5) * w1, hh = T(0.5) * h1;
  const T ux = c * hw, uy = -s * hw;  // half width axis
  const T vx = s * hh, vy = c * hh;   // half height axis
  T ax[8], ay[8], bx[8], by[8];
  ax[0] = px - ux - vx, ay[0] = py - uy - vy;
  ax[1] = px + ux - vx, ay[1] = py + uy - vy;
  ax[2] = px + ux + vx, ay[2] = py + uy + vy;
  ax[3] = px - ux + vx, ay[3] = py - uy + vy;
  const T lx = T(0.5) * w2, ly = T(0.5) * h2;
  int n = detail::clip_pass(ax, ay, 4, 0, T(1), lx, bx, by);
  n = detail::clip_pass(bx, by, n, 0, T(-1), lx, ax, ay);
  n = detail::clip_pass(ax, ay, n, 1, T(1), ly, bx, by);
  n = detail::clip_pass(bx, by, n, 1, T(-1), ly, ax, ay);
  if (n < 3) return T(0);
  T twice = T(0);
  for (int i = 0; i < n; ++i) {
    const int j = i + 1 == n ? 0 : i + 1;
    twice += ax[i] * ay[j] - ax[j] * ay[i];
  }
  const T a = T(0.5) * (twice < T(0) ? -twice : twice);
  return a;
}

/// IoU of two rotated boxes given as centres, sizes and the (cos, sin) of their angles.
/// Rules: a box with a non-finite value gives NaN; a box of zero or negative width or height
/// gives 0; otherwise the intersection is clamped to the smaller area, so IoU is in [0, 1].
template <typename T>
FOVEAL_HD_INLINE T rotated_iou(T cx1, T cy1, T w1, T h1, T c1, T s1, T cx2, T cy2, T w2, T h2, T c2, T s2) {
  // v - v is 0 for a finite v and NaN otherwise: the sum is NaN exactly when a value is not finite.
  const T z = ((cx1 - cx1) + (cy1 - cy1) + (w1 - w1) + (h1 - h1) + (c1 - c1) + (s1 - s1)) +
              ((cx2 - cx2) + (cy2 - cy2) + (w2 - w2) + (h2 - h2) + (c2 - c2) + (s2 - s2));
  if (z != z) return z;
  if (!(w1 > T(0) && h1 > T(0) && w2 > T(0) && h2 > T(0))) return T(0);
  const T dx = cx1 - cx2, dy = cy1 - cy2;
  // Box 2's frame: local = R(-a2) * world offset.
  const T px = c2 * dx - s2 * dy, py = s2 * dx + c2 * dy;
  // Relative orientation a1 - a2.
  const T c = c1 * c2 + s1 * s2, s = s1 * c2 - c1 * s2;
  const T a1 = w1 * h1, a2 = w2 * h2;
  T inter = rotated_intersection_local(px, py, c, s, w1, h1, w2, h2);
  const T amin = a1 < a2 ? a1 : a2;
  inter = inter < amin ? inter : amin;
  return inter / (a1 + a2 - inter);
}

/// Radius of the circle around a box's centre that contains it (in double: no overflow).
FOVEAL_HD_INLINE double rotated_radius(double w, double h) { return 0.5 * std::sqrt(w * w + h * h); }


/// Geometry of one RoI of RoIAlignRotated: row [batch, cx, cy, w, h, angle]. detectron2's
/// arithmetic (always aligned there); `aligned` false drops the -0.5 shift and makes the RoI at
/// least 1x1, as roi_align does. Bins are laid out in the RoI's frame, centred on it.
template <typename T>
struct RotatedRoiBins {
  T cx, cy, c, s;        // centre on the map, (cos, sin) of the angle
  T start_h, start_w;    // -h/2, -w/2
  T bin_h, bin_w;
  std::int64_t grid_h, grid_w;
  T count;
};

template <typename T>
FOVEAL_HD_INLINE RotatedRoiBins<T> roi_align_rotated_bins(const T* roi, T spatial_scale, std::int64_t pooled_h,
                                                          std::int64_t pooled_w, int sampling_ratio, bool aligned) {
  RotatedRoiBins<T> b;
  const T offset = aligned ? T(0.5) : T(0);
  b.cx = roi[1] * spatial_scale - offset;
  b.cy = roi[2] * spatial_scale - offset;
  T w = roi[3] * spatial_scale, h = roi[4] * spatial_scale;
  if (!aligned) {
    w = w < T(1) ? T(1) : w;
    h = h < T(1) ? T(1) : h;
  }
  double cd, sd;
  rotated_trig(static_cast<double>(roi[5]), cd, sd);
  b.c = static_cast<T>(cd);
  b.s = static_cast<T>(sd);
  b.start_h = -h / T(2);
  b.start_w = -w / T(2);
  b.bin_h = h / static_cast<T>(pooled_h);
  b.bin_w = w / static_cast<T>(pooled_w);
  b.grid_h = roi_align_grid(sampling_ratio, h, pooled_h);
  b.grid_w = roi_align_grid(sampling_ratio, w, pooled_w);
  const T n = static_cast<T>(b.grid_h) * static_cast<T>(b.grid_w);
  b.count = n > T(1) ? n : T(1);
  return b;
}

/// Map position (y, x) of sample (iy, ix) of bin (ph, pw): the RoI-frame point turned by the
/// box rotation (math above) and moved to the centre.
template <typename T>
FOVEAL_HD_INLINE void roi_align_rotated_sample(const RotatedRoiBins<T>& b, std::int64_t ph, std::int64_t pw,
                                               std::int64_t iy, std::int64_t ix, T& y, T& x) {
  const T yy = roi_align_sample(b.start_h, b.bin_h, ph, iy, b.grid_h);
  const T xx = roi_align_sample(b.start_w, b.bin_w, pw, ix, b.grid_w);
  y = yy * b.c - xx * b.s + b.cy;
  x = yy * b.s + xx * b.c + b.cx;
}

/// Rows [i0, i1) of bin (ph, ...)'s samples that may land on a height x width map (huge grids
/// only, see sample_index_range): the RoI-frame y of the map's corners (-1 and size on each axis)
/// bounds the rows. In double, with the frame's inverse rotation.
template <typename T>
FOVEAL_HD_INLINE void roi_align_rotated_rows(const RotatedRoiBins<T>& b, std::int64_t ph, std::int64_t height,
                                             std::int64_t width, std::int64_t& i0, std::int64_t& i1) {
  i0 = 0;
  i1 = b.grid_h;
  if (b.grid_h <= kNarrowGrid) return;  // sample_index_range would keep them all: skip the corners
  const double c = b.c, s = b.s, cy = b.cy, cx = b.cx;
  double lo = 0, hi = 0;
  for (int k = 0; k < 4; ++k) {
    const double y = (k & 1) ? static_cast<double>(height) : -1.0, x = (k & 2) ? static_cast<double>(width) : -1.0;
    const double yy = c * (y - cy) + s * (x - cx);
    lo = k == 0 || yy < lo ? yy : lo;
    hi = k == 0 || yy > hi ? yy : hi;
  }
  const SampleAxis a = sample_axis(b.start_h, b.bin_h, ph, b.grid_h);
  sample_index_range(a.base, a.step, b.grid_h, lo, hi, i0, i1);
}

/// Columns [j0, j1) of row iy of bin (ph, pw) that may land on the map: where the row's line
/// (RoI-frame y fixed, x varying) crosses the rectangle [-1, height] x [-1, width].
template <typename T>
FOVEAL_HD_INLINE void roi_align_rotated_cols(const RotatedRoiBins<T>& b, std::int64_t ph, std::int64_t pw,
                                             std::int64_t iy, std::int64_t height, std::int64_t width,
                                             std::int64_t& j0, std::int64_t& j1) {
  j0 = 0;
  j1 = b.grid_w;
  if (b.grid_w <= kNarrowGrid) return;
  const double c = b.c, s = b.s;
  const SampleAxis ay = sample_axis(b.start_h, b.bin_h, ph, b.grid_h);
  const double yy = ay.base + (static_cast<double>(iy) + 0.5) * ay.step;
  // y = yy c - xx s + cy in [-1, H] and x = yy s + xx c + cx in [-1, W], solved for xx (an axis
  // parallel to the line leaves xx free: the rows already hold it)
  double lo = -INFINITY, hi = INFINITY;
  if (s != 0.0) {
    const double a = (yy * c + static_cast<double>(b.cy) + 1.0) / s,
                 e = (yy * c + static_cast<double>(b.cy) - static_cast<double>(height)) / s;
    lo = a < e ? a : e;
    hi = a < e ? e : a;
  }
  if (c != 0.0) {
    const double a = (-1.0 - yy * s - static_cast<double>(b.cx)) / c,
                 e = (static_cast<double>(width) - yy * s - static_cast<double>(b.cx)) / c;
    const double l2 = a < e ? a : e, h2 = a < e ? e : a;
    lo = l2 > lo ? l2 : lo;
    hi = h2 < hi ? h2 : hi;
  }
  if (hi < lo) lo = hi = 0.5 * (lo + hi);  // the line misses the map: a few samples near it, all off
  const SampleAxis ax = sample_axis(b.start_w, b.bin_w, pw, b.grid_w);
  sample_index_range(ax.base, ax.step, b.grid_w, lo, hi, j0, j1);
}

}  // namespace foveal::math
