// SPDX-License-Identifier: Apache-2.0
// TV denoising on the CPU: Chambolle's projection and split Bregman.
// Chambolle: the image is walked as rows along its last axis; every other axis is a whole-row
// neighbour at a fixed row offset. One iteration is two row-parallel passes: (1) u = image - div p
// and sum (u - image)^2; (2) grad u, |grad u|, p update and sum |grad u|, each one loop per row
// (per plane for 3-D) in skimage's order of operations, so float32 results are bit for bit
// skimage's. Images of two or more dimensions run as a wavefront over the planes of axis 0 (see
// chambolle_wave): p and u cross memory once per block of iterations, not twice per iteration; with
// eps <= 0 (no stop possible) all iterations form one long pipeline of short stages.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <memory>
#include <thread>
#include <vector>

#include "cpu/parallel.hpp"
#include "cpu/simd.hpp"
#include "foveal/math/tv.hpp"
#include "ops/backend.hpp"

namespace foveal::cpu {
namespace {

struct Grid {
  int ndim = 0;
  std::int64_t dims[8] = {};
  std::int64_t row_step[8] = {};  // rows between neighbours along axis a (non-last axes)
  std::int64_t width = 0, rows = 0, size = 0;
  // Row r's coordinate along non-last axis a.
  std::int64_t coord(std::int64_t r, int a) const { return (r / row_step[a]) % dims[a]; }
  // Rows per parallel task: long enough (~16K elements) to amortise the task.
  std::int64_t chunk() const { return std::max<std::int64_t>(1, std::min<std::int64_t>(rows, (1 << 14) / width + 1)); }
};

// The state one iteration's row loops read.
template <typename T>
struct Iter {
  const Grid* g;
  const T* image;
  T* out;
  T* p;
  T tau, tow;
  const T* zero = nullptr;   // zeros: a row long, a plane of axis 0 long for 3-D
  const T* mprev = nullptr;  // 2-D: per element of a row, 3-D: of a plane; 1 where the last axis has a previous element, else 0
  const T* mnext = nullptr;  // 1 where it has a next one
  bool energy = true;        // false: the energies are not needed (eps = 0) and not summed
};

// 2-D rows as one full-width loop (no scalar peel or tail for widths that are multiples of the
// vector length): pass 2's last-axis gradient is multiplied by a 0/1 mask at the row's end (x * 1 is
// exact, x * 0 adds or subtracts an exact 0) and pass 1 needs none (kLastAxisZero below), so results
// stay skimage's bit for bit. Pass 1 reads
// pl[-1] (the previous element in memory, inside p) and pass 2 reads o[W] (the next row's first
// element), so the image's last row goes through pass2_row instead.
// Energy sums of the kernels below: kAcc independent float64 accumulators (a single one makes the
// vector loop wait on its add every iteration), then the tail; E = false skips them.
constexpr int kAcc = 32;
// kLastAxisZero: p's last-axis component is +0 at every row's last element, always: it starts at
// +0 and pass 2 updates it with a gradient masked to 0 there ((+0 - tau * (+-0)) / scale = +0). So
// pass 1 adds p[j - 1] at a row's first element without a mask: it adds +0, which is what the
// masked term (p[j - 1] * 0) added, bit for bit.

template <typename T>
FOVEAL_ALWAYS_INLINE T pass1_elem2(const T* p0, const T* p1, const T* pu, const T* im, T* o, std::int64_t j) {
  T d = -(p0[j] + p1[j]);
  d += pu[j];
  d += p1[j - 1];  // +0 at a row's first element (see kLastAxisZero)
  o[j] = im[j] + d;
  return d;
}

template <typename T, bool E>
FOVEAL_ALWAYS_INLINE double pass1_row2m(const Iter<T>* c, std::int64_t r) {
  const Grid& g = *c->g;
  const std::int64_t W = g.width, N = g.size;
  const T* p0 = c->p + r * W;
  const T* p1 = p0 + N;
  const T* pu = r > 0 ? p0 - W : c->zero;
  const T* im = c->image + r * W;
  T* o = c->out + r * W;
  if (!E) {
#pragma omp simd
    for (std::int64_t j = 0; j < W; ++j) pass1_elem2(p0, p1, pu, im, o, j);
    return 0;
  }
  double acc[kAcc] = {};
  std::int64_t j = 0;
  for (; j + kAcc <= W; j += kAcc) {
#pragma omp simd
    for (int k = 0; k < kAcc; ++k) {
      const double d = static_cast<double>(pass1_elem2(p0, p1, pu, im, o, j + k));
      acc[k] += d * d;
    }
  }
  double e = 0;
  for (; j < W; ++j) {
    const double d = static_cast<double>(pass1_elem2(p0, p1, pu, im, o, j));
    e += d * d;
  }
  for (int k = 0; k < kAcc; ++k) e += acc[k];
  return e;
}

template <typename T>
FOVEAL_ALWAYS_INLINE T pass2_elem2(const T* o, const T* on, const T* m, T* p0, T* p1, T tau, T tow, std::int64_t j) {
  const T g0 = on[j] - o[j], g1 = (o[j + 1] - o[j]) * m[j];
  T s = g0 * g0;
  s += g1 * g1;
  const T n = std::sqrt(s);
  const T sc = math::tv_scale(n, tow);
  p0[j] = math::tv_dual_update(p0[j], g0, tau, sc);
  p1[j] = math::tv_dual_update(p1[j], g1, tau, sc);
  return n;
}

template <typename T, bool E>
FOVEAL_ALWAYS_INLINE double pass2_row2m(const Iter<T>* c, std::int64_t r) {
  const Grid& g = *c->g;
  const std::int64_t W = g.width, N = g.size;
  const T tau = c->tau, tow = c->tow;
  const T* o = c->out + r * W;
  const T* on = o + W;  // r + 1 < rows here
  const T* m = c->mnext;
  T* p0 = c->p + r * W;
  T* p1 = p0 + N;
  if (!E) {
#pragma omp simd
    for (std::int64_t j = 0; j < W; ++j) pass2_elem2(o, on, m, p0, p1, tau, tow, j);
    return 0;
  }
  double acc[kAcc] = {};
  std::int64_t j = 0;
  for (; j + kAcc <= W; j += kAcc) {
#pragma omp simd
    for (int k = 0; k < kAcc; ++k) acc[k] += static_cast<double>(pass2_elem2(o, on, m, p0, p1, tau, tow, j + k));
  }
  double e = 0;
  for (; j < W; ++j) e += static_cast<double>(pass2_elem2(o, on, m, p0, p1, tau, tow, j));
  for (int k = 0; k < kAcc; ++k) e += acc[k];
  return e;
}
// Fused rows for 2 and 3 dimensions: one loop per row and pass, same operation order as the
// generic bodies. A missing neighbour (first plane along an axis) reads a row of zeros and a
// missing forward neighbour reads the row itself (difference 0): x + 0 and p - tau * 0 are exact.
template <typename T, int D>
FOVEAL_ALWAYS_INLINE double pass1_row(const Iter<T>* c, std::int64_t r) {
  const Grid& g = *c->g;
  const std::int64_t W = g.width, N = g.size;
  const T* pc[D];
  const T* pu[D];
  for (int a = 0; a < D; ++a) pc[a] = c->p + a * N + r * W;
  for (int a = 0; a + 1 < D; ++a) pu[a] = g.coord(r, a) == 0 ? c->zero : pc[a] - g.row_step[a] * W;
  const T* pl = pc[D - 1];
  const T* im = c->image + r * W;
  T* o = c->out + r * W;
  double e = 0;
  {
    T s = pc[0][0];
    for (int a = 1; a < D; ++a) s += pc[a][0];
    T d = -s;
    for (int a = 0; a + 1 < D; ++a) d += pu[a][0];
    e += static_cast<double>(d) * static_cast<double>(d);
    o[0] = im[0] + d;
  }
#pragma omp simd reduction(+ : e)
  for (std::int64_t j = 1; j < W; ++j) {
    T s = pc[0][j];
    for (int a = 1; a < D; ++a) s += pc[a][j];
    T d = -s;
    for (int a = 0; a + 1 < D; ++a) d += pu[a][j];
    d += pl[j - 1];
    e += static_cast<double>(d) * static_cast<double>(d);
    o[j] = im[j] + d;
  }
  return e;
}

template <typename T, int D>
FOVEAL_ALWAYS_INLINE double pass2_row(const Iter<T>* c, std::int64_t r) {
  const Grid& g = *c->g;
  const std::int64_t W = g.width, N = g.size;
  const T tau = c->tau, tow = c->tow;
  const T* o = c->out + r * W;
  const T* on[D];
  T* pc[D];
  for (int a = 0; a < D; ++a) pc[a] = c->p + a * N + r * W;
  for (int a = 0; a + 1 < D; ++a) on[a] = g.coord(r, a) + 1 < g.dims[a] ? o + g.row_step[a] * W : o;
  T* pl = pc[D - 1];
  double e = 0;
#pragma omp simd reduction(+ : e)
  for (std::int64_t j = 0; j < W - 1; ++j) {
    T gr[D];
    for (int a = 0; a + 1 < D; ++a) gr[a] = on[a][j] - o[j];
    gr[D - 1] = o[j + 1] - o[j];
    T s = gr[0] * gr[0];
    for (int a = 1; a < D; ++a) s += gr[a] * gr[a];
    const T n = std::sqrt(s);
    e += static_cast<double>(n);
    const T sc = math::tv_scale(n, tow);
    for (int a = 0; a + 1 < D; ++a) pc[a][j] = math::tv_dual_update(pc[a][j], gr[a], tau, sc);
    pl[j] = math::tv_dual_update(pl[j], gr[D - 1], tau, sc);
  }
  {
    const std::int64_t j = W - 1;
    T gr[D];
    for (int a = 0; a + 1 < D; ++a) gr[a] = on[a][j] - o[j];
    gr[D - 1] = T(0);
    T s = gr[0] * gr[0];
    for (int a = 1; a < D; ++a) s += gr[a] * gr[a];
    const T n = std::sqrt(s);
    e += static_cast<double>(n);
    const T sc = math::tv_scale(n, tow);
    for (int a = 0; a < D; ++a) pc[a][j] = math::tv_dual_update(pc[a][j], gr[a], tau, sc);
  }
  return e;
}



// Pass 1 over rows [r0, r1): out = image + d, d = -div p in skimage's order (-(p_0 + ... +
// p_{D-1}), then the shifted terms axis by axis); *energy = sum d^2.

// 3-D, a whole plane of axis 0 as one loop (rows of a 96^3 volume are too short to amortise a
// row's set-up): the axis-1 neighbour is +-W inside the plane (the loops split where it is
// missing) and pass 2's last-axis gradient is multiplied by a 0/1 mask (x * 1 is exact; x * 0
// adds 0); pass 1's last-axis term needs no mask (kLastAxisZero).
template <typename T, bool Up1>
FOVEAL_ALWAYS_INLINE T pass1_elem3(const T* p0, const T* p1, const T* p2, const T* u0, const T* im, T* o,
                                   std::int64_t W, std::int64_t j) {
  const T s = (p0[j] + p1[j]) + p2[j];
  T d = -s;
  d += u0[j];
  if (Up1) d += p1[j - W];
  d += p2[j - 1];  // +0 at a row's first element (see kLastAxisZero)
  o[j] = im[j] + d;
  return d;
}

template <typename T, bool Up1, bool E>
FOVEAL_ALWAYS_INLINE double pass1_plane3_run(const Iter<T>* c, std::int64_t x, std::int64_t ja, std::int64_t jb) {
  const Grid& g = *c->g;
  const std::int64_t W = g.width, N = g.size, P = g.size / g.dims[0];
  const T* p0 = c->p + x * P;
  const T* p1 = p0 + N;
  const T* p2 = p1 + N;
  const T* u0 = x > 0 ? p0 - P : c->zero;
  const T* im = c->image + x * P;
  T* o = c->out + x * P;
  if (!E) {
#pragma omp simd
    for (std::int64_t j = ja; j < jb; ++j) pass1_elem3<T, Up1>(p0, p1, p2, u0, im, o, W, j);
    return 0;
  }
  double acc[kAcc] = {};
  std::int64_t j = ja;
  for (; j + kAcc <= jb; j += kAcc) {
#pragma omp simd
    for (int k = 0; k < kAcc; ++k) {
      const double d = static_cast<double>(pass1_elem3<T, Up1>(p0, p1, p2, u0, im, o, W, j + k));
      acc[k] += d * d;
    }
  }
  double e = 0;
  for (; j < jb; ++j) {
    const double d = static_cast<double>(pass1_elem3<T, Up1>(p0, p1, p2, u0, im, o, W, j));
    e += d * d;
  }
  for (int k = 0; k < kAcc; ++k) e += acc[k];
  return e;
}

template <typename T>
FOVEAL_ALWAYS_INLINE double pass1_plane3(const Iter<T>* c, std::int64_t x, std::int64_t j0, std::int64_t j1) {
  const Grid& g = *c->g;
  const std::int64_t W = g.width, N = g.size, P = g.size / g.dims[0];
  double e = 0;
  if (j0 == 0) {  // no previous element along axes 1 and 2
    const T* p0 = c->p + x * P;
    T d = -((p0[0] + p0[N]) + p0[2 * N]);
    d += x > 0 ? p0[-P] : T(0);
    e += static_cast<double>(d) * static_cast<double>(d);
    c->out[x * P] = c->image[x * P] + d;
    j0 = 1;
  }
  if (j0 < std::min(j1, W))
    e += c->energy ? pass1_plane3_run<T, false, true>(c, x, j0, std::min(j1, W))
                   : pass1_plane3_run<T, false, false>(c, x, j0, std::min(j1, W));
  if (std::max(j0, W) < j1)
    e += c->energy ? pass1_plane3_run<T, true, true>(c, x, std::max(j0, W), j1)
                   : pass1_plane3_run<T, true, false>(c, x, std::max(j0, W), j1);
  return e;
}

template <typename T>
FOVEAL_ALWAYS_INLINE T pass2_elem3(const T* o, const T* on0, const T* on1, const T* m, T* p0, T* p1, T* p2, T tau,
                                   T tow, std::int64_t j) {
  const T g0 = on0[j] - o[j], g1 = on1[j] - o[j], g2 = (o[j + 1] - o[j]) * m[j];
  T s = g0 * g0;
  s += g1 * g1;
  s += g2 * g2;
  const T n = std::sqrt(s);
  const T sc = math::tv_scale(n, tow);
  p0[j] = math::tv_dual_update(p0[j], g0, tau, sc);
  p1[j] = math::tv_dual_update(p1[j], g1, tau, sc);
  p2[j] = math::tv_dual_update(p2[j], g2, tau, sc);
  return n;
}

template <typename T, bool Dn1, bool E>
FOVEAL_ALWAYS_INLINE double pass2_plane3_run(const Iter<T>* c, std::int64_t x, std::int64_t ja, std::int64_t jb) {
  const Grid& g = *c->g;
  const std::int64_t W = g.width, N = g.size, P = g.size / g.dims[0];
  const T tau = c->tau, tow = c->tow;
  const T* o = c->out + x * P;
  const T* on0 = x + 1 < g.dims[0] ? o + P : o;
  const T* on1 = Dn1 ? o + W : o;
  T* p0 = c->p + x * P;
  T* p1 = p0 + N;
  T* p2 = p1 + N;
  const T* m = c->mnext;
  if (!E) {
#pragma omp simd
    for (std::int64_t j = ja; j < jb; ++j) pass2_elem3(o, on0, on1, m, p0, p1, p2, tau, tow, j);
    return 0;
  }
  double acc[kAcc] = {};
  std::int64_t j = ja;
  for (; j + kAcc <= jb; j += kAcc) {
#pragma omp simd
    for (int k = 0; k < kAcc; ++k) acc[k] += static_cast<double>(pass2_elem3(o, on0, on1, m, p0, p1, p2, tau, tow, j + k));
  }
  double e = 0;
  for (; j < jb; ++j) e += static_cast<double>(pass2_elem3(o, on0, on1, m, p0, p1, p2, tau, tow, j));
  for (int k = 0; k < kAcc; ++k) e += acc[k];
  return e;
}

template <typename T>
FOVEAL_ALWAYS_INLINE double pass2_plane3(const Iter<T>* c, std::int64_t x, std::int64_t j0, std::int64_t j1) {
  const Grid& g = *c->g;
  const std::int64_t W = g.width, N = g.size, P = g.size / g.dims[0];
  double e = 0;
  const std::int64_t last = P - 1;  // no next element along axes 1 and 2
  const std::int64_t jl = std::min(j1, last);
  if (j0 < std::min(jl, P - W))
    e += c->energy ? pass2_plane3_run<T, true, true>(c, x, j0, std::min(jl, P - W))
                   : pass2_plane3_run<T, true, false>(c, x, j0, std::min(jl, P - W));
  if (std::max(j0, P - W) < jl)
    e += c->energy ? pass2_plane3_run<T, false, true>(c, x, std::max(j0, P - W), jl)
                   : pass2_plane3_run<T, false, false>(c, x, std::max(j0, P - W), jl);
  if (j0 <= last && last < j1) {
    const T* o = c->out + x * P;
    T* p0 = c->p + x * P;
    const T g0 = x + 1 < g.dims[0] ? o[last + P] - o[last] : T(0);
    T s = g0 * g0;
    s += T(0);
    s += T(0);
    const T n = std::sqrt(s);
    e += static_cast<double>(n);
    const T sc = math::tv_scale(n, c->tow);
    p0[last] = math::tv_dual_update(p0[last], g0, c->tau, sc);
    p0[last + N] = math::tv_dual_update(p0[last + N], T(0), c->tau, sc);
    p0[last + 2 * N] = math::tv_dual_update(p0[last + 2 * N], T(0), c->tau, sc);
  }
  return e;
}

template <typename T>
FOVEAL_ALWAYS_INLINE void pass1_body(const Iter<T>* c, std::int64_t r0, std::int64_t r1, double* energy) {
  const Grid& g = *c->g;
  if (g.ndim == 3 && c->mprev) {
    // A plain loop, not a lambda: a lambda's body is a function of its own, compiled without this
    // variant's target ISA (it ran as baseline SSE code).
    const std::int64_t P = g.size / g.dims[0], q0 = r0 * g.width, q1 = r1 * g.width;
    double e = 0;
    for (std::int64_t x = q0 / P; x * P < q1; ++x)
      e += pass1_plane3(c, x, std::max<std::int64_t>(q0 - x * P, 0), std::min(q1 - x * P, P));
    *energy = e;
    return;
  }
  if (g.ndim == 2 && c->mprev) {
    double e = 0;
    for (std::int64_t r = r0; r < r1; ++r) e += c->energy ? pass1_row2m<T, true>(c, r) : pass1_row2m<T, false>(c, r);
    *energy = e;
    return;
  }
  if (g.ndim == 2 || g.ndim == 3) {
    double e = 0;
    for (std::int64_t r = r0; r < r1; ++r) e += g.ndim == 2 ? pass1_row<T, 2>(c, r) : pass1_row<T, 3>(c, r);
    *energy = e;
    return;
  }
  const int D = g.ndim;
  const std::int64_t W = g.width, N = g.size;
  const T* p = c->p;
  double e = 0;
  for (std::int64_t r = r0; r < r1; ++r) {
    T* o = c->out + r * W;
    const T* im = c->image + r * W;
    const T* p0 = p + r * W;
#pragma omp simd
    for (std::int64_t j = 0; j < W; ++j) o[j] = p0[j];
    for (int a = 1; a < D; ++a) {
      const T* pa = p + a * N + r * W;
#pragma omp simd
      for (std::int64_t j = 0; j < W; ++j) o[j] += pa[j];
    }
#pragma omp simd
    for (std::int64_t j = 0; j < W; ++j) o[j] = -o[j];
    for (int a = 0; a + 1 < D; ++a) {
      if (g.coord(r, a) == 0) continue;
      const T* pa = p + a * N + (r - g.row_step[a]) * W;
#pragma omp simd
      for (std::int64_t j = 0; j < W; ++j) o[j] += pa[j];
    }
    const T* pl = p + (D - 1) * N + r * W;
#pragma omp simd
    for (std::int64_t j = 1; j < W; ++j) o[j] += pl[j - 1];
#pragma omp simd reduction(+ : e)
    for (std::int64_t j = 0; j < W; ++j) {
      const T d = o[j];
      e += static_cast<double>(d) * static_cast<double>(d);
      o[j] = im[j] + d;
    }
  }
  *energy = e;
}
FOVEAL_SIMD_VARIANTS(pass1, pass1_body, (const Iter<T>* c, std::int64_t r0, std::int64_t r1, double* energy),
                     (c, r0, r1, energy))

// Pass 2 over rows [r0, r1): gradient of out (0 past the last element of each axis), its norm,
// the p update; *energy = sum |grad out|. `s` is a scratch row.
template <typename T>
FOVEAL_ALWAYS_INLINE void pass2_body(const Iter<T>* c, std::int64_t r0, std::int64_t r1, T* s, double* energy) {
  const Grid& g = *c->g;
  if (g.ndim == 3 && c->mprev) {
    const std::int64_t P = g.size / g.dims[0], q0 = r0 * g.width, q1 = r1 * g.width;
    double e = 0;
    for (std::int64_t x = q0 / P; x * P < q1; ++x)
      e += pass2_plane3(c, x, std::max<std::int64_t>(q0 - x * P, 0), std::min(q1 - x * P, P));
    *energy = e;
    return;
  }
  if (g.ndim == 2 && c->mprev) {
    double e = 0;
    for (std::int64_t r = r0; r < r1; ++r)
      e += r + 1 == g.rows ? pass2_row<T, 2>(c, r)
                           : (c->energy ? pass2_row2m<T, true>(c, r) : pass2_row2m<T, false>(c, r));
    *energy = e;
    return;
  }
  if (g.ndim == 2 || g.ndim == 3) {
    double e = 0;
    for (std::int64_t r = r0; r < r1; ++r) e += g.ndim == 2 ? pass2_row<T, 2>(c, r) : pass2_row<T, 3>(c, r);
    *energy = e;
    return;
  }
  const int D = g.ndim;
  const std::int64_t W = g.width, N = g.size;
  const T tau = c->tau, tow = c->tow;
  double e = 0;
  for (std::int64_t r = r0; r < r1; ++r) {
    const T* o = c->out + r * W;
    bool has[8];
    for (int a = 0; a + 1 < D; ++a) has[a] = g.coord(r, a) + 1 < g.dims[a];
#pragma omp simd
    for (std::int64_t j = 0; j < W; ++j) s[j] = T(0);
    for (int a = 0; a + 1 < D; ++a) {
      if (!has[a]) continue;  // g_a = 0 adds 0
      const T* on = o + g.row_step[a] * W;
#pragma omp simd
      for (std::int64_t j = 0; j < W; ++j) {
        const T d = on[j] - o[j];
        s[j] += d * d;
      }
    }
#pragma omp simd
    for (std::int64_t j = 0; j < W - 1; ++j) {
      const T d = o[j + 1] - o[j];
      s[j] += d * d;
    }
#pragma omp simd reduction(+ : e)
    for (std::int64_t j = 0; j < W; ++j) {
      const T n = std::sqrt(s[j]);
      e += static_cast<double>(n);
      s[j] = math::tv_scale(n, tow);
    }
    for (int a = 0; a + 1 < D; ++a) {
      T* pa = c->p + a * N + r * W;
      if (has[a]) {
        const T* on = o + g.row_step[a] * W;
#pragma omp simd
        for (std::int64_t j = 0; j < W; ++j) pa[j] = math::tv_dual_update(pa[j], on[j] - o[j], tau, s[j]);
      } else {
#pragma omp simd
        for (std::int64_t j = 0; j < W; ++j) pa[j] = math::tv_dual_update(pa[j], T(0), tau, s[j]);
      }
    }
    T* pl = c->p + (D - 1) * N + r * W;
#pragma omp simd
    for (std::int64_t j = 0; j < W - 1; ++j) pl[j] = math::tv_dual_update(pl[j], o[j + 1] - o[j], tau, s[j]);
    pl[W - 1] = math::tv_dual_update(pl[W - 1], T(0), tau, s[W - 1]);
  }
  *energy = e;
}
FOVEAL_SIMD_VARIANTS(pass2, pass2_body,
                     (const Iter<T>* c, std::int64_t r0, std::int64_t r1, T* s, double* energy),
                     (c, r0, r1, s, energy))


// The zero row (a plane long for 3-D) and the 3-D last-axis masks of a grid.
template <typename T>
struct PlaneMasks {
  std::vector<T> zero, mp, mn;
  explicit PlaneMasks(const Grid& g) {
    const std::int64_t W = g.width, P = g.ndim == 3 ? g.size / g.dims[0] : W;
    zero.assign(static_cast<std::size_t>(P), T(0));
    if (g.ndim != 3 && g.ndim != 2) return;
    mp.resize(static_cast<std::size_t>(P));
    mn.resize(static_cast<std::size_t>(P));
    for (std::int64_t j = 0; j < P; ++j) {
      mp[j] = j % W != 0 ? T(1) : T(0);
      mn[j] = j % W != W - 1 ? T(1) : T(0);
    }
  }
  const T* prev() const { return mp.empty() ? nullptr : mp.data(); }
  const T* next() const { return mn.empty() ? nullptr : mn.data(); }
};

// Cooperative cancellation (ExecContext::cancel): polled between iterations or blocks of them.
void poll_cancel(const std::atomic<bool>* cancel, const char* op) {
  ExecContext c;
  c.cancel = cancel;
  c.throw_if_cancelled(op);
}

template <typename T>
std::int64_t chambolle_one(const T* image, T* out, T* p, T* scratch, const Grid& g, double weight, double eps,
                           std::int64_t max_num_iter, int num_threads, const std::atomic<bool>* cancel) {
  const std::int64_t W = g.width, R = g.rows, N = g.size;
  const double tau_d = math::tv_tau(g.ndim);
  const PlaneMasks<T> mk(g);
  Iter<T> c{&g, image, out, p, static_cast<T>(tau_d), static_cast<T>(tau_d / weight), mk.zero.data(), mk.prev(), mk.next()};
  c.energy = eps > 0;  // with eps = 0 the energies cannot stop the run
  const auto run1 = pass1<T>();
  const auto run2 = pass2<T>();
  std::fill(p, p + g.ndim * N, T(0));
  const std::int64_t chunk = g.chunk();
  const std::int64_t tasks = (R + chunk - 1) / chunk;
  std::vector<double> part(static_cast<std::size_t>(2 * tasks));
  double e_init = 0, e_prev = 0;
  for (std::int64_t it = 0; it < max_num_iter; ++it) {
    poll_cancel(cancel, "denoise_tv_chambolle");
    parallel_for(0, tasks, num_threads, 2, [&](std::int64_t k) {
      run1(&c, k * chunk, std::min(R, (k + 1) * chunk), &part[2 * k]);
    });
    if (it + 1 == max_num_iter) break;  // the final p update and energy cannot change the result
    parallel_for(0, tasks, num_threads, 2, [&](std::int64_t k) {
      run2(&c, k * chunk, std::min(R, (k + 1) * chunk), scratch + k * W, &part[2 * k + 1]);
    });
    double d2 = 0, tv = 0;
    for (std::int64_t k = 0; k < tasks; ++k) d2 += part[2 * k], tv += part[2 * k + 1];
    const double energy = (d2 + weight * tv) / static_cast<double>(N);
    if (it == 0) {
      e_init = e_prev = energy;
    } else if (std::abs(e_prev - energy) < eps * e_init) {
      return it + 1;
    } else {
      e_prev = energy;
    }
  }
  return max_num_iter;
}

// Wavefront temporal blocking (2 or more dimensions): a block of n iterations sweeps the planes of
// axis 0 once, iteration t running `t` steps behind iteration t - 1: at step i, iteration t does
// pass 1 on plane r = i - 2t and pass 2 on plane r - 1. Pass 1 on r needs p of planes r and r - 1
// from pass 2 of iteration t - 1, which ran one step earlier; pass 2 on r - 1 needs u of planes
// r - 1 and r from pass 1 of the same iteration. u and p are updated in place (each plane's value
// of iteration t - 1 is no longer read once iteration t reaches it), so the block touches each
// array once, without halos or copies, and its working set is about 2n planes. On several threads
// the n iterations are split into stages, one per thread, each following the one before it
// plane by plane. Energies are summed per iteration in plane order, whatever the thread count.
constexpr std::int64_t kMaxWaveDepth = 16;  // iterations per block, at most

template <typename T>
struct Wave {
  const Iter<T>* c;
  std::int64_t X, rpp;  // planes of axis 0, rows per plane
  double* e1;           // per iteration: sum d^2, sum |grad u|
  double* e2;
  T* scratch;           // a row per thread
  // Polled every step (long blocks): a set flag ends every stage early (the block's result is then
  // garbage; the caller polls and throws).
  const std::atomic<bool>* cancel = nullptr;
};

template <typename T>
void wave_block(const Wave<T>& w, std::int64_t n, bool update_last, int num_threads, std::int64_t stage_depth = 0) {
  const auto run1 = pass1<T>();
  const auto run2 = pass2<T>();
  // stage_depth > 0: stages of about that many iterations, more stages than threads (a thread
  // takes the next unclaimed stage when its own ends); else one stage per thread.
  const int threads = max_threads(num_threads);
  const int K = stage_depth > 0
                    ? static_cast<int>((n + stage_depth - 1) / stage_depth)
                    : static_cast<int>(std::min<std::int64_t>(threads, std::max<std::int64_t>(1, n / 2)));
  // One cache line per stage's counter: stages publish their progress every plane, and counters
  // sharing a line would bounce it between the cores at that rate.
  struct alignas(64) Progress {
    std::atomic<std::int64_t> steps{0};
  };
  std::vector<Progress> progress(static_cast<std::size_t>(K));
  std::atomic<int> next{0};
  std::atomic<bool> stop{false};
  const std::int64_t X = w.X, rpp = w.rpp;
  auto t_of = [&](int k) { return n * k / K; };
  auto steps_of = [&](int k) { return X + 2 * (t_of(k + 1) - 1 - t_of(k)) + 1; };
  auto stage = [&](int k) {
    const std::int64_t t0 = t_of(k), t1 = t_of(k + 1), steps = steps_of(k);
    // A scratch row per thread: the stages running at once are consecutive (a stage cannot end
    // before the one it follows) and at most one per thread, so k modulo the threads is unique.
    T* srow = w.scratch + (k % threads) * w.c->g->width;
    double e1[kMaxWaveDepth] = {}, e2[kMaxWaveDepth] = {};  // this stage's sums, stored at its end
    for (std::int64_t i = 0; i < steps; ++i) {
      if (w.cancel && w.cancel->load(std::memory_order_relaxed)) stop.store(true, std::memory_order_relaxed);
      if (stop.load(std::memory_order_relaxed)) return;
      if (k > 0) {
        const std::int64_t need = std::min(i + 2 * (t0 - t_of(k - 1)), steps_of(k - 1));
        for (int spin = 0; progress[k - 1].steps.load(std::memory_order_acquire) < need; ++spin) {
          if (stop.load(std::memory_order_relaxed)) return;  // the stage it follows ended early
          if (spin > 64) std::this_thread::yield();
        }
      }
      for (std::int64_t t = t0; t < t1; ++t) {
        const std::int64_t r = i - 2 * (t - t0);
        double e;
        if (r >= 0 && r < X) {
          run1(w.c, r * rpp, (r + 1) * rpp, &e);
          e1[t - t0] += e;
        }
        if (r >= 1 && r <= X && (update_last || t + 1 < n)) {
          run2(w.c, (r - 1) * rpp, r * rpp, srow, &e);
          e2[t - t0] += e;
        }
      }
      progress[k].steps.store(i + 1, std::memory_order_release);
    }
    if (w.c->energy)
      for (std::int64_t t = t0; t < t1; ++t) w.e1[t] = e1[t - t0], w.e2[t] = e2[t - t0];
  };
  if (K == 1) {
    stage(0);
    return;
  }
  // Stages are claimed in order, so a thread only waits on a stage another thread is running.
  parallel_for(0, K, num_threads, 2, [&](std::int64_t) {
    for (int k = next.fetch_add(1); k < K; k = next.fetch_add(1)) stage(k);
  });
}

constexpr std::int64_t kWaveDepth = kMaxWaveDepth;
constexpr std::int64_t kLongBlock = 256;  // iterations per block when no stop is possible (eps <= 0)
// Iterations per stage of a long block on several threads. Each stage streams the state (p, u, the
// image) once; while that stays in L3, short stages balance best. Measured at 2 threads (medians,
// same process): 96^3 (17.7 MB) stages of 4 took 11.6-12.6 ms, of 8 13.7-14.2, of 16 12.8-13.1,
// blocks of 16 in two stages 13.5; 2048x2048 (67 MB) and 128^3 (42 MB) spent ~8-10% more CPU time
// with stages of 4 than of 8 (twice the passes from memory), so larger states get 8.
constexpr std::int64_t kStageDepth = 4, kStageDepthBig = 8;
constexpr std::int64_t kStageStateBytes = std::int64_t(24) << 20;  // well inside a 32 MB L3

template <typename T>
std::int64_t chambolle_wave(const T* image, T* out, T* p, T* snap, T* scratch, const Grid& g, double weight,
                            double eps, std::int64_t max_num_iter, int num_threads, const std::atomic<bool>* cancel) {
  const std::int64_t N = g.size, X = g.dims[0];
  const double tau_d = math::tv_tau(g.ndim);
  const PlaneMasks<T> mk(g);
  Iter<T> c{&g, image, out, p, static_cast<T>(tau_d), static_cast<T>(tau_d / weight), mk.zero.data(), mk.prev(), mk.next()};
  c.energy = eps > 0;  // with eps = 0 the energies cannot stop the run
  double e1[kWaveDepth], e2[kWaveDepth];
  Wave<T> w{&c, X, g.rows / X, e1, e2, scratch};
  std::fill(p, p + g.ndim * N, T(0));
  if (eps <= 0) {
    w.cancel = cancel;
    // No stop possible: the iterations run as long blocks of short stages, threads taking stages in
    // turn, so the pipeline fills and drains once per long block instead of once per 16 iterations.
    const bool fits_l3 = static_cast<std::int64_t>((g.ndim + 2) * sizeof(T)) * N <= kStageStateBytes;
    const std::int64_t depth = max_threads(num_threads) == 1 ? kMaxWaveDepth : fits_l3 ? kStageDepth : kStageDepthBig;
    for (std::int64_t k = 0; k < max_num_iter;) {
      poll_cancel(cancel, "denoise_tv_chambolle");
      const std::int64_t n = std::min(kLongBlock, max_num_iter - k);
      wave_block(w, n, k + n < max_num_iter, num_threads, depth);
      k += n;
    }
    poll_cancel(cancel, "denoise_tv_chambolle");  // a block cut short by a cancel is not a result
    return max_num_iter;
  }
  double e_init = 0, e_prev = 0;
  for (std::int64_t k = 0; k < max_num_iter;) {
    poll_cancel(cancel, "denoise_tv_chambolle");
    const std::int64_t n = std::min(kWaveDepth, max_num_iter - k);
    const bool last = k + n == max_num_iter;
    if (eps > 0 && n > 1) std::copy(p, p + g.ndim * N, snap);  // a stop inside the block replays it
    wave_block(w, n, !last, num_threads);
    for (std::int64_t t = 0; t < n; ++t) {
      const std::int64_t it = k + t;
      if (it + 1 == max_num_iter) return max_num_iter;
      const double energy = (e1[t] + weight * e2[t]) / static_cast<double>(N);
      if (it == 0) {
        e_init = e_prev = energy;
      } else if (std::abs(e_prev - energy) < eps * e_init) {
        if (t + 1 < n) {
          std::copy(snap, snap + g.ndim * N, p);
          wave_block(w, t + 1, false, num_threads);
        }
        return it + 1;
      } else {
        e_prev = energy;
      }
    }
    k += n;
  }
  return max_num_iter;
}

template <typename T>
std::vector<std::int64_t> chambolle_impl(ConstTensorView image, TensorView out, double weight, double eps,
                                         std::int64_t max_num_iter, int batch_dims, int num_threads,
                                         const std::atomic<bool>* cancel) {
  Grid g;
  g.ndim = image.ndim() - batch_dims;
  for (int a = 0; a < g.ndim; ++a) g.dims[a] = image.size(a + batch_dims);
  g.width = g.dims[g.ndim - 1];
  g.size = 1;
  for (int a = 0; a < g.ndim; ++a) g.size *= g.dims[a];
  g.rows = g.size / g.width;
  std::int64_t step = 1;
  for (int a = g.ndim - 2; a >= 0; --a) {
    g.row_step[a] = step;
    step *= g.dims[a];
  }
  const std::int64_t batch = batch_dims ? image.size(0) : 1;
  std::vector<std::int64_t> iters(static_cast<std::size_t>(batch));
  if (g.ndim >= 2) {
    std::vector<T> p(static_cast<std::size_t>(g.ndim * g.size)), snap(eps > 0 ? p.size() : 0),
        scratch(static_cast<std::size_t>(max_threads(num_threads) * g.width));
    for (std::int64_t b = 0; b < batch; ++b)
      iters[b] = chambolle_wave(image.data_as<T>() + b * g.size, out.data_as<T>() + b * g.size, p.data(), snap.data(),
                                scratch.data(), g, weight, eps, max_num_iter, num_threads, cancel);
    return iters;
  }
  std::vector<T> p(static_cast<std::size_t>(g.size)), scratch(static_cast<std::size_t>(g.width));
  for (std::int64_t b = 0; b < batch; ++b)
    iters[b] = chambolle_one(image.data_as<T>() + b * g.size, out.data_as<T>() + b * g.size, p.data(), scratch.data(),
                             g, weight, eps, max_num_iter, num_threads, cancel);
  return iters;
}


// ---- Split-Bregman (skimage's _denoise_tv_bregman) ----
// In one Gauss-Seidel sweep, the d and b updates at (r, c) read only values from before the sweep
// (u at (r, c), (r, c + 1), (r + 1, c); b at (r, c)), so they vectorise along a row. What stays
// sequential is u_new(r, c) = (lam (u_new(r, c - 1) + Q) + weight f) / norm, Q holding u_new of the
// row above and the other ten terms: a first-order recurrence along the row with factor
// lam / norm = 2/9. It runs as G interleaved segments; a segment after the first starts 24
// elements early from 0 ((2/9)^25 < 1e-16 of the true start value is lost), so the chains overlap
// in the pipeline instead of waiting on each other.

struct BregmanParams {
  double weight;
  bool iso;
};

template <typename T>
struct BregmanPlane {
  std::int64_t R = 0, C = 0;  // interior rows, columns; u is (R + 2) x (C + 2)
  const T* f = nullptr;
  T *u = nullptr, *dx = nullptr, *dy = nullptr, *bx = nullptr, *by = nullptr;
  T *uo = nullptr, *g = nullptr;  // scratch rows: u before the sweep, the recurrence's terms
  T* g2 = nullptr;                 // two more scratch rows: the second stage of a split block
  T* snap = nullptr;               // u, dx, dy, bx, by at the start of a block (eps > 0 only)
  std::int64_t UN = 0;             // (R + 2) (C + 2)
  void (*terms)(const BregmanPlane*, std::int64_t, const BregmanParams*) = nullptr;
  void (*sqdiff)(const T*, const T*, std::int64_t, double*) = nullptr;
};

// sum (x - y)^2 in float64 over kAcc accumulators (one would serialise the vector loop on its add).
template <typename T>
FOVEAL_ALWAYS_INLINE void bregman_sqdiff_body(const T* x, const T* y, std::int64_t n, double* out) {
  double acc[kAcc] = {};
  std::int64_t c = 0;
  for (; c + kAcc <= n; c += kAcc) {
#pragma omp simd
    for (int k = 0; k < kAcc; ++k) {
      const double d = static_cast<double>(x[c + k]) - static_cast<double>(y[c + k]);
      acc[k] += d * d;
    }
  }
  double e = 0;
  for (; c < n; ++c) {
    const double d = static_cast<double>(x[c]) - static_cast<double>(y[c]);
    e += d * d;
  }
  for (int k = 0; k < kAcc; ++k) e += acc[k];
  *out = e;
}
FOVEAL_SIMD_VARIANTS(bregman_sqdiff, bregman_sqdiff_body, (const T* x, const T* y, std::int64_t n, double* out),
                     (x, y, n, out))

// Row r: new d and b in place, u before the sweep into uo, the recurrence's terms into g.
template <typename T>
FOVEAL_ALWAYS_INLINE void bregman_terms_body(const BregmanPlane<T>* s, std::int64_t r, const BregmanParams* bp) {
  const std::int64_t C = s->C, CP = C + 2;
  const T w = static_cast<T>(bp->weight), lam = T(2) * w, norm = w + T(4) * lam, inv = T(1) / norm;
  const T* uc = s->u + (r + 1) * CP + 1;
  const T* ud = uc + CP;
  const T* uu = uc - CP;
  const T* f = s->f + r * C;
  T* dx = s->dx + r * C;
  T* dy = s->dy + r * C;
  T* bx = s->bx + r * C;
  T* by = s->by + r * C;
  T* uo = s->uo;
  T* g = s->g;
  if (bp->iso) {
#pragma omp simd
    for (std::int64_t c = 0; c < C; ++c) {
      const T u0 = uc[c], ux = uc[c + 1] - u0, uy = ud[c] - u0, bxo = bx[c], byo = by[c];
      uo[c] = u0;
      g[c] = (bxo - dx[c]) + (byo - dy[c]);
      T dxn, dyn;
      math::tv_bregman_shrink_iso(ux + bxo, uy + byo, lam, &dxn, &dyn);
      dx[c] = dxn;
      dy[c] = dyn;
      bx[c] = bxo + (ux - dxn);
      by[c] = byo + (uy - dyn);
    }
  } else {
#pragma omp simd
    for (std::int64_t c = 0; c < C; ++c) {
      const T u0 = uc[c], ux = uc[c + 1] - u0, uy = ud[c] - u0, bxo = bx[c], byo = by[c];
      uo[c] = u0;
      g[c] = (bxo - dx[c]) + (byo - dy[c]);
      const T dxn = math::tv_bregman_shrink_aniso(ux + bxo, lam), dyn = math::tv_bregman_shrink_aniso(uy + byo, lam);
      dx[c] = dxn;
      dy[c] = dyn;
      bx[c] = bxo + (ux - dxn);
      by[c] = byo + (uy - dyn);
    }
  }
  // Q = u below + u above (new) + u right + (dx - bx) left (new) + (dy - by) above (new) + old terms.
  const T* dyu = r ? dy - C : nullptr;
  const T* byu = r ? by - C : nullptr;
  {
    const T up = r ? dyu[0] - byu[0] : T(0);  // column 0: d and b left of it are 0
    g[0] = (lam * (((ud[0] + uu[0]) + uc[1]) + (up + g[0])) + w * f[0]) * inv;
  }
  if (r) {
#pragma omp simd
    for (std::int64_t c = 1; c < C; ++c)
      g[c] = (lam * (((ud[c] + uu[c]) + uc[c + 1]) + (((dx[c - 1] - bx[c - 1]) + (dyu[c] - byu[c])) + g[c])) +
              w * f[c]) *
             inv;
  } else {
#pragma omp simd
    for (std::int64_t c = 1; c < C; ++c)
      g[c] = (lam * (((ud[c] + uu[c]) + uc[c + 1]) + ((dx[c - 1] - bx[c - 1]) + g[c])) + w * f[c]) * inv;
  }
}
FOVEAL_SIMD_VARIANTS(bregman_terms, bregman_terms_body,
                     (const BregmanPlane<T>* s, std::int64_t r, const BregmanParams* bp), (s, r, bp))

// x[c] = a x[c - 1] + g[c], x[-1] = x0, as G interleaved segments (see above).
template <typename T, int G>
void bregman_recur(const T* g, T* x, std::int64_t C, T x0, T a) {
  constexpr std::int64_t warm = 24;
  const std::int64_t L = (C + warm * (G - 1)) / G;  // steps of every segment; >= 2 warm
  std::int64_t b[G];
  T v[G];
  b[0] = 0;
  v[0] = x0;
  for (int k = 1; k < G; ++k) {
    b[k] = L + (k - 1) * (L - warm) - warm;
    v[k] = T(0);
  }
  // A segment's warm-up writes the last `warm` outputs of the one before; that one writes them
  // again, correctly, `L - warm >= warm` steps later.
  for (std::int64_t i = 0; i < L; ++i) {
    for (int k = 0; k < G; ++k) {
      v[k] = a * v[k] + g[b[k] + i];
      x[b[k] + i] = v[k];
    }
  }
  T t = v[G - 1];
  for (std::int64_t c = b[G - 1] + L; c < C; ++c) {
    t = a * t + g[c];
    x[c] = t;
  }
}

// Row r of one sweep; returns its sum (u_new - u_old)^2.
template <typename T>
double bregman_row(const BregmanPlane<T>& s, const BregmanParams& bp, std::int64_t r) {
  const std::int64_t C = s.C, CP = C + 2;
  const T w = static_cast<T>(bp.weight), lam = T(2) * w, a = lam * (T(1) / (w + T(4) * lam));
  s.terms(&s, r, &bp);
  T* x = s.u + (r + 1) * CP + 1;
  const T x0 = x[-1];
  if (C >= 8 * 64)
    bregman_recur<T, 8>(s.g, x, C, x0, a);
  else if (C >= 4 * 64)
    bregman_recur<T, 4>(s.g, x, C, x0, a);
  else if (C >= 2 * 64)
    bregman_recur<T, 2>(s.g, x, C, x0, a);
  else
    bregman_recur<T, 1>(s.g, x, C, x0, a);
  double e;
  s.sqdiff(x, s.uo, C, &e);
  return e;
}

// State rows of row r (u, dx, dy, bx, by) between the plane and its snapshot.
template <typename T>
void bregman_copy_row(const BregmanPlane<T>& s, std::int64_t r, bool save) {
  const std::int64_t C = s.C, CP = C + 2, N = s.R * C;
  T* live[5] = {s.u + (r + 1) * CP + 1, s.dx + r * C, s.dy + r * C, s.bx + r * C, s.by + r * C};
  T* snap[5] = {s.snap + (r + 1) * CP + 1, s.snap + s.UN + r * C, s.snap + s.UN + N + r * C,
                s.snap + s.UN + 2 * N + r * C, s.snap + s.UN + 3 * N + r * C};
  for (int k = 0; k < 5; ++k) {
    if (save)
      std::copy(live[k], live[k] + C, snap[k]);
    else
      std::copy(snap[k], snap[k] + C, live[k]);
  }
}

// n sweeps, pipelined: step i runs sweep k on row i - k for k = 0..n-1. Sweep k + 1 reaches row r
// once sweep k has finished rows r and r + 1 (all that Gauss-Seidel reads from it), so the state
// goes through the cache once per block instead of once per sweep. With `save`, each row's state
// goes to the snapshot just before the first sweep changes it. sums[k] = sweep k's sum.
template <typename T>
void bregman_block(const BregmanPlane<T>& s, const BregmanParams& bp, int n, bool save, double* sums) {
  for (int k = 0; k < n; ++k) sums[k] = 0;
  for (std::int64_t i = 0; i < s.R + n - 1; ++i) {
    for (int k = 0; k < n; ++k) {
      const std::int64_t r = i - k;
      if (r < 0 || r >= s.R) continue;
      if (k == 0 && save) bregman_copy_row(s, r, true);
      sums[k] += bregman_row(s, bp, r);
    }
  }
}

constexpr int kBregmanDepth = 16;

// A block of one plane on two threads: stage 0 runs sweeps [0, h), stage 1 sweeps [h, n), each
// pipelined as above. Stage 1 takes row r once stage 0's last sweep has finished rows r and r + 1;
// stage 0 never waits (it writes each row once per sweep and no longer reads a row that stage 1
// may write). Stages are claimed in order, so a thread only ever waits on a stage that another
// thread is running, whatever the pool does.
template <typename T>
void bregman_block_split(const BregmanPlane<T>& s, T* scratch, const BregmanParams& bp, int n, bool save,
                         double* sums, int num_threads) {
  const int h = n / 2;
  const std::int64_t R = s.R;
  BregmanPlane<T> s1 = s;  // stage 1's own scratch rows
  s1.uo = scratch;
  s1.g = scratch + s.C;
  // The counter on a cache line of its own, and each stage's sums kept locally until its end:
  // both are updated every row, and a line shared between the cores would bounce at that rate.
  alignas(64) std::atomic<std::int64_t> progress{0};  // steps stage 0 has finished
  alignas(64) std::atomic<int> next{0};
  auto stage = [&](int st) {
    const BregmanPlane<T>& sp = st ? s1 : s;
    const int k0 = st ? h : 0, k1 = st ? n : h;
    double local[kBregmanDepth] = {};
    for (std::int64_t i = 0; i < R + (k1 - k0) - 1; ++i) {
      if (st == 1) {
        const std::int64_t need = std::min(i + 1, R - 1) + h;
        for (int spin = 0; progress.load(std::memory_order_acquire) < need; ++spin)
          if (spin > 64) std::this_thread::yield();
      }
      for (int kk = 0; kk < k1 - k0; ++kk) {
        const std::int64_t r = i - kk;
        if (r < 0 || r >= R) continue;
        if (st == 0 && kk == 0 && save) bregman_copy_row(sp, r, true);
        local[kk] += bregman_row(sp, bp, r);
      }
      if (st == 0) progress.store(i + 1, std::memory_order_release);
    }
    for (int kk = 0; kk < k1 - k0; ++kk) sums[k0 + kk] = local[kk];
  };
  parallel_for(0, 2, num_threads, 2, [&](std::int64_t) {
    for (int st = next.fetch_add(1); st < 2; st = next.fetch_add(1)) stage(st);
  });
}

// Sweeps of a group of planes sharing one stopping rule, in blocks of up to kBregmanDepth; a stop
// inside a block restores the snapshot and reruns the block up to the stopping sweep.

// The state before the first sweep: u = the image on skimage's border (top = image row 1, left =
// column 1, bottom = row R-1, right = column C-1), d = b = 0.
template <typename T>
void bregman_init(const BregmanPlane<T>& s, std::int64_t r0, std::int64_t r1) {
  const std::int64_t R = s.R, C = s.C, CP = C + 2, N = R * C;
  const T* f = s.f;
  for (std::int64_t r = r0; r < r1; ++r) {
    std::copy(f + r * C, f + (r + 1) * C, s.u + (r + 1) * CP + 1);
    s.u[(r + 1) * CP] = f[r * C + 1];
    s.u[(r + 1) * CP + C + 1] = f[r * C + C - 1];
  }
  if (r0 == 0) {
    std::copy(f + C, f + 2 * C, s.u + 1);
    s.u[0] = s.u[C + 1] = T(0);  // corners (never read)
  }
  if (r1 == R) {
    std::copy(f + (R - 1) * C, f + R * C, s.u + (R + 1) * CP + 1);
    s.u[(R + 1) * CP] = s.u[(R + 1) * CP + C + 1] = T(0);
  }
  for (int k = 0; k < 4; ++k) std::fill(s.dx + k * N + r0 * C, s.dx + k * N + r1 * C, T(0));  // dx, dy, bx, by
}

// With eps = 0 a stop needs a sweep that leaves u exactly unchanged: rare enough that blocks then
// skip the snapshot, and such a stop reruns from the start instead.
template <typename T>
std::int64_t bregman_group(BregmanPlane<T>* planes, std::int64_t count, const BregmanParams& bp, double eps,
                           std::int64_t max_num_iter, int num_threads, const std::atomic<bool>* cancel) {
  const bool can_stop = eps >= 0;  // eps < 0: internal, exactly max_num_iter sweeps
  const bool snapshot = eps > 0;
  const T eps_t = static_cast<T>(eps);
  const std::int64_t total = count * planes[0].R * planes[0].C;
  std::vector<double> part(static_cast<std::size_t>(count * kBregmanDepth));
  std::int64_t i = 0;
  while (i < max_num_iter) {
    poll_cancel(cancel, "denoise_tv_bregman");
    const int n = static_cast<int>(std::min<std::int64_t>(kBregmanDepth, max_num_iter - i));
    if (count == 1 && n >= 4 && planes[0].R >= 64 && max_threads(num_threads) >= 2)
      bregman_block_split(planes[0], planes[0].g2, bp, n,
                          snapshot && n > 1, part.data(), num_threads);
    else
      parallel_for(0, count, num_threads, 2, [&](std::int64_t p) {
        bregman_block(planes[p], bp, n, snapshot && n > 1, &part[p * kBregmanDepth]);
      });
    if (!can_stop) {
      i += n;
      continue;
    }
    for (int k = 0; k < n; ++k) {
      double sum = 0;
      for (std::int64_t p = 0; p < count; ++p) sum += part[p * kBregmanDepth + k];
      // skimage keeps rmse in the image dtype: sqrt(sum / count), compared with eps in that dtype.
      const T q = static_cast<T>(sum) / static_cast<T>(total);
      const T rmse = static_cast<T>(std::sqrt(static_cast<double>(q)));
      if (!(rmse > eps_t)) {
        if (k + 1 < n && !snapshot) {
          parallel_for(0, count, num_threads, 2, [&](std::int64_t p) { bregman_init(planes[p], 0, planes[p].R); });
          bregman_group(planes, count, bp, -1.0, i + k + 1, num_threads, cancel);
        } else if (k + 1 < n) {
          parallel_for(0, count, num_threads, 2, [&](std::int64_t p) {
            for (std::int64_t r = 0; r < planes[p].R; ++r) bregman_copy_row(planes[p], r, false);
            bregman_block(planes[p], bp, k + 1, false, &part[p * kBregmanDepth]);
          });
        }
        return i + k + 1;
      }
    }
    i += n;
  }
  return i;
}

template <typename T>
std::vector<std::int64_t> bregman_impl(ConstTensorView image, TensorView out, double weight, double eps,
                                       std::int64_t max_num_iter, bool iso, bool joint, int num_threads,
                                       const std::atomic<bool>* cancel) {
  const std::int64_t P = image.size(0), R = image.size(1), C = image.size(2), CP = C + 2, N = R * C;
  const std::int64_t UN = (R + 2) * CP;
  const T* f0 = image.data_as<T>();
  T* o0 = out.data_as<T>();
  // Per plane: u (padded), dx, dy, bx, by, two scratch rows, two more (the second stage of a split
  // block); the snapshot of the first five in a buffer of its own, only with eps > 0 (the only case
  // that restores it). Neither is value-initialised: bregman_init writes all the state that is
  // read. A zeroed 40 MB buffer (1024 x 1024 with the snapshot) cost 20 ms a call: glibc maps
  // blocks over 32 MB afresh every time, so each call paid the page faults and the zeroing again.
  const std::int64_t state = UN + 4 * N, per = state + 4 * C;
  std::unique_ptr<T[]> buf(new T[static_cast<std::size_t>(P * per)]);
  std::unique_ptr<T[]> snaps(eps > 0 ? new T[static_cast<std::size_t>(P * state)] : nullptr);
  std::vector<BregmanPlane<T>> planes(static_cast<std::size_t>(P));
  const auto terms = bregman_terms<T>();
  for (std::int64_t p = 0; p < P; ++p) {
    BregmanPlane<T>& s = planes[p];
    T* base = buf.get() + p * per;
    s.R = R;
    s.C = C;
    s.UN = UN;
    s.f = f0 + p * N;
    s.u = base;
    s.dx = base + UN;
    s.dy = s.dx + N;
    s.bx = s.dy + N;
    s.by = s.bx + N;
    s.uo = s.by + N;
    s.g = s.uo + C;
    s.g2 = s.g + C;
    s.snap = snaps ? snaps.get() + p * state : nullptr;
    s.terms = terms;
    s.sqdiff = bregman_sqdiff<T>();
  }
  // The initial state and, at the end, the output: row chunks of every plane on the threads.
  const std::int64_t rc = std::max<std::int64_t>(1, (1 << 16) / C), chunks = (R + rc - 1) / rc;
  parallel_for(0, P * chunks, num_threads, 2, [&](std::int64_t k) {
    const std::int64_t r0 = (k % chunks) * rc;
    bregman_init(planes[k / chunks], r0, std::min(R, r0 + rc));
  });
  const BregmanParams bp{weight, iso};
  std::vector<std::int64_t> iters(static_cast<std::size_t>(P), 0);
  if (joint) {
    std::fill(iters.begin(), iters.end(), bregman_group(planes.data(), P, bp, eps, max_num_iter, num_threads, cancel));
  } else {
    parallel_for_dynamic(0, P, num_threads, 2, [&](std::int64_t p) {
      iters[p] = bregman_group(&planes[p], 1, bp, eps, max_num_iter, 1, cancel);
    });
  }
  parallel_for(0, P * chunks, num_threads, 2, [&](std::int64_t k) {
    const std::int64_t p = k / chunks, r0 = (k % chunks) * rc;
    for (std::int64_t r = r0; r < std::min(R, r0 + rc); ++r)
      std::copy(planes[p].u + (r + 1) * CP + 1, planes[p].u + (r + 1) * CP + 1 + C, o0 + p * N + r * C);
  });
  return iters;
}

}  // namespace

std::vector<std::int64_t> denoise_tv_chambolle(ConstTensorView image, TensorView out, double weight, double eps,
                                               std::int64_t max_num_iter, int batch_dims, const ExecContext& ctx) {
  if (image.dtype() == DType::Float32)
    return chambolle_impl<float>(image, out, weight, eps, max_num_iter, batch_dims, ctx.num_threads, ctx.cancel);
  return chambolle_impl<double>(image, out, weight, eps, max_num_iter, batch_dims, ctx.num_threads, ctx.cancel);
}

std::vector<std::int64_t> denoise_tv_bregman(ConstTensorView image, TensorView out, double weight, double eps,
                                             std::int64_t max_num_iter, bool isotropic, bool joint,
                                             const ExecContext& ctx) {
  if (image.dtype() == DType::Float32)
    return bregman_impl<float>(image, out, weight, eps, max_num_iter, isotropic, joint, ctx.num_threads, ctx.cancel);
  return bregman_impl<double>(image, out, weight, eps, max_num_iter, isotropic, joint, ctx.num_threads, ctx.cancel);
}

}  // namespace foveal::cpu
