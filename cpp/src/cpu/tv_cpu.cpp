// SPDX-License-Identifier: Apache-2.0
// Chambolle TV iteration on the CPU. The image is walked as rows along its last axis; every other
// axis is a whole-row neighbour at a fixed row offset. One iteration is two fused, row-parallel
// passes: (1) u = image - div p and sum (u - image)^2; (2) grad u, |grad u|, p update and
// sum |grad u|. Inner loops run over one row, contiguous, so they vectorise.
#include <algorithm>
#include <cmath>
#include <cstdint>
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
};

// Pass 1 over rows [r0, r1): out = image + d, d = -div p in skimage's order (-(p_0 + ... +
// p_{D-1}), then the shifted terms axis by axis); *energy = sum d^2.
template <typename T>
FOVEAL_ALWAYS_INLINE void pass1_body(const Iter<T>* c, std::int64_t r0, std::int64_t r1, double* energy) {
  const Grid& g = *c->g;
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

template <typename T>
std::int64_t chambolle_one(const T* image, T* out, T* p, T* scratch, const Grid& g, double weight, double eps,
                           std::int64_t max_num_iter, int num_threads) {
  const std::int64_t W = g.width, R = g.rows, N = g.size;
  const double tau_d = math::tv_tau(g.ndim);
  const Iter<T> c{&g, image, out, p, static_cast<T>(tau_d), static_cast<T>(tau_d / weight)};
  const auto run1 = pass1<T>();
  const auto run2 = pass2<T>();
  std::fill(p, p + g.ndim * N, T(0));
  const std::int64_t chunk = g.chunk();
  const std::int64_t tasks = (R + chunk - 1) / chunk;
  std::vector<double> part(static_cast<std::size_t>(2 * tasks));
  double e_init = 0, e_prev = 0;
  for (std::int64_t it = 0; it < max_num_iter; ++it) {
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

template <typename T>
std::vector<std::int64_t> chambolle_impl(ConstTensorView image, TensorView out, double weight, double eps,
                                         std::int64_t max_num_iter, int batch_dims, int num_threads) {
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
  std::vector<T> p(static_cast<std::size_t>(g.ndim * g.size));
  std::vector<T> scratch(static_cast<std::size_t>((g.rows + g.chunk() - 1) / g.chunk() * g.width));
  std::vector<std::int64_t> iters(static_cast<std::size_t>(batch));
  for (std::int64_t b = 0; b < batch; ++b)
    iters[b] = chambolle_one(image.data_as<T>() + b * g.size, out.data_as<T>() + b * g.size, p.data(), scratch.data(), g, weight,
                             eps, max_num_iter, num_threads);
  return iters;
}

}  // namespace

std::vector<std::int64_t> denoise_tv_chambolle(ConstTensorView image, TensorView out, double weight, double eps,
                                               std::int64_t max_num_iter, int batch_dims, const ExecContext& ctx) {
  if (image.dtype() == DType::Float32)
    return chambolle_impl<float>(image, out, weight, eps, max_num_iter, batch_dims, ctx.num_threads);
  return chambolle_impl<double>(image, out, weight, eps, max_num_iter, batch_dims, ctx.num_threads);
}

}  // namespace foveal::cpu
