// SPDX-License-Identifier: Apache-2.0
// RoIPool on the CPU, channel-outer and RoI-inner (roi_tables.hpp says why), with the separable
// bin spans of every RoI computed once. Without argmax, a bin row's maxima are first taken
// column-wise over its rows (a contiguous, branch-free select that vectorises), then across each
// bin's columns. Both orders give torchvision's value: `v > m` never picks NaN and the maximum of
// the rest does not depend on the order. With argmax, the scan is torchvision's (row-major, the
// first maximum wins).
#include <algorithm>
#include <cfloat>
#include <cstdint>
#include <cstring>
#include <vector>

#include "cpu/parallel.hpp"
#include "cpu/roi_tables.hpp"
#include "cpu/simd.hpp"
#include "foveal/math/roi.hpp"
#include "ops/backend.hpp"

namespace foveal::cpu {
namespace {

constexpr std::int64_t kPad = 16;

// Maxima (no argmax) of all RoIs [r0, r1) of one channel plane `v`; `ys`/`xs` hold the spans of
// RoI k at k * PH / k * PW; `colmax` has room for `width` values.
template <typename T>
FOVEAL_ALWAYS_INLINE void pool_plane_body(const T* v, std::int64_t width, const math::PoolSpan* ys,
                                          const math::PoolSpan* xs, const std::int64_t* order, std::int64_t r0,
                                          std::int64_t r1, std::int64_t ph_n, std::int64_t pw_n, T* out,
                                          std::int64_t k_stride, T* colmax) {
  const T lowest = static_cast<T>(-FLT_MAX);
  for (std::int64_t r = r0; r < r1; ++r) {
    const std::int64_t k = order[r];
    const math::PoolSpan* y = ys + k * ph_n;
    const math::PoolSpan* x = xs + k * pw_n;
    T* o = out + k * k_stride;
    // Columns spanned by the RoI's bins (consecutive bins touch or overlap).
    std::int64_t w_lo = width, w_hi = 0;
    for (std::int64_t pw = 0; pw < pw_n; ++pw)
      if (x[pw].hi > x[pw].lo) {
        w_lo = x[pw].lo < w_lo ? x[pw].lo : w_lo;
        w_hi = x[pw].hi > w_hi ? x[pw].hi : w_hi;
      }
    // Padded to whole vectors within the map row (padded columns are never read back).
    std::int64_t span = w_hi - w_lo;
    if (span > 0) span = std::min((span + kPad - 1) / kPad * kPad, width - w_lo);
    for (std::int64_t ph = 0; ph < ph_n; ++ph) {
      const bool rows = y[ph].hi > y[ph].lo && span > 0;
      if (rows) {
        const T* first = v + y[ph].lo * width + w_lo;
#pragma omp simd
        for (std::int64_t j = 0; j < span; ++j) colmax[j] = first[j] > lowest ? first[j] : lowest;
        for (std::int64_t h = y[ph].lo + 1; h < y[ph].hi; ++h) {
          const T* row = v + h * width + w_lo;
#pragma omp simd
          for (std::int64_t j = 0; j < span; ++j) colmax[j] = row[j] > colmax[j] ? row[j] : colmax[j];
        }
      }
      for (std::int64_t pw = 0; pw < pw_n; ++pw) {
        const bool empty = !rows || x[pw].hi <= x[pw].lo;
        T m = empty ? T(0) : lowest;
        if (!empty && x[pw].hi - x[pw].lo <= kPad) {
          // colmax holds no NaN, so any order of the maxima gives the sequential scan's value:
          // one masked vector of kPad columns (colmax has kPad columns of room past the span)
          const T* cm = colmax + (x[pw].lo - w_lo);
          const std::int64_t len = x[pw].hi - x[pw].lo;
#pragma omp simd reduction(max : m)
          for (std::int64_t q = 0; q < kPad; ++q) {
            const T v = q < len ? cm[q] : lowest;
            m = v > m ? v : m;
          }
        } else if (!empty) {
          // four independent partial maxima (a short dependency chain)
          T m4[4] = {lowest, lowest, lowest, lowest};
          std::int64_t w = x[pw].lo - w_lo;
          const std::int64_t w_end = x[pw].hi - w_lo;
          for (; w + 4 <= w_end; w += 4)
            for (int q = 0; q < 4; ++q) m4[q] = colmax[w + q] > m4[q] ? colmax[w + q] : m4[q];
          for (; w < w_end; ++w) m4[0] = colmax[w] > m4[0] ? colmax[w] : m4[0];
          for (int q = 0; q < 4; ++q) m = m4[q] > m ? m4[q] : m;
        }
        o[ph * pw_n + pw] = m;
      }
    }
  }
}
FOVEAL_SIMD_VARIANTS(pool_plane, pool_plane_body,
                     (const T* v, std::int64_t width, const math::PoolSpan* ys, const math::PoolSpan* xs,
                      const std::int64_t* order, std::int64_t r0, std::int64_t r1, std::int64_t ph_n,
                      std::int64_t pw_n, T* out, std::int64_t k_stride, T* colmax),
                     (v, width, ys, xs, order, r0, r1, ph_n, pw_n, out, k_stride, colmax))

// torchvision's scan, for the argmax: row-major, the first maximum wins.
template <typename T>
void pool_plane_argmax(const T* v, std::int64_t width, const math::PoolSpan* ys, const math::PoolSpan* xs,
                       const std::int64_t* order, std::int64_t r0, std::int64_t r1, std::int64_t ph_n,
                       std::int64_t pw_n, T* out, std::int64_t* argmax, std::int64_t k_stride) {
  const T lowest = static_cast<T>(-FLT_MAX);
  for (std::int64_t r = r0; r < r1; ++r) {
    const std::int64_t k = order[r];
    const math::PoolSpan* y = ys + k * ph_n;
    const math::PoolSpan* x = xs + k * pw_n;
    for (std::int64_t ph = 0; ph < ph_n; ++ph)
      for (std::int64_t pw = 0; pw < pw_n; ++pw) {
        const bool empty = y[ph].hi <= y[ph].lo || x[pw].hi <= x[pw].lo;
        T m = empty ? T(0) : lowest;
        std::int64_t at = -1;
        for (std::int64_t h = y[ph].lo; h < y[ph].hi; ++h)
          for (std::int64_t w = x[pw].lo; w < x[pw].hi; ++w)
            if (v[h * width + w] > m) m = v[h * width + w], at = h * width + w;
        out[k * k_stride + ph * pw_n + pw] = m;
        argmax[k * k_stride + ph * pw_n + pw] = at;
      }
  }
}

template <typename T>
void forward(const T* input, const T* rois, T* out, std::int64_t* argmax, std::int64_t n_n, std::int64_t k_n,
             std::int64_t c_n, std::int64_t height, std::int64_t width, std::int64_t ph_n, std::int64_t pw_n,
             const RoiPoolParams& p, int num_threads) {
  const T scale = static_cast<T>(p.spatial_scale);
  const bool seed = p.bins == RoiPoolBins::Seed;
  // Spans of RoI k: rows ys[k * PH + ph], columns xs[k * PW + pw].
  std::vector<math::PoolSpan> ys(static_cast<std::size_t>(k_n * ph_n)), xs(static_cast<std::size_t>(k_n * pw_n));
  for (std::int64_t k = 0; k < k_n; ++k) {
    const T* r = rois + 5 * k;
    for (std::int64_t ph = 0; ph < ph_n; ++ph)
      ys[k * ph_n + ph] = math::roi_pool_span(r[2], r[4], scale, ph_n, ph, height, seed);
    for (std::int64_t pw = 0; pw < pw_n; ++pw)
      xs[k * pw_n + pw] = math::roi_pool_span(r[1], r[3], scale, pw_n, pw, width, seed);
  }
  const RoisByImage by_image(rois, k_n, n_n);
  const std::int64_t chunks = ForwardSplit(n_n, c_n, k_n, num_threads).chunks;
  const std::int64_t plane = height * width, bins = ph_n * pw_n;
  const auto body = pool_plane<T>();
  parallel_for_dynamic(0, n_n * c_n * chunks, num_threads, 2, [&](std::int64_t task) {
    const std::int64_t chunk = task % chunks, c = (task / chunks) % c_n, b = task / chunks / c_n;
    const std::int64_t first = by_image.first[b], r_n = by_image.first[b + 1] - first;
    const std::int64_t r0 = first + r_n * chunk / chunks, r1 = first + r_n * (chunk + 1) / chunks;
    const T* v = input + (b * c_n + c) * plane;
    if (argmax != nullptr) {
      pool_plane_argmax(v, width, ys.data(), xs.data(), by_image.order.data(), r0, r1, ph_n, pw_n, out + c * bins,
                        argmax + c * bins, c_n * bins);
      return;
    }
    std::vector<T> colmax(static_cast<std::size_t>(width + kPad));
    prefetch_planes(v, plane, 1);
    body(v, width, ys.data(), xs.data(), by_image.order.data(), r0, r1, ph_n, pw_n, out + c * bins, c_n * bins,
         colmax.data());
  });
}

template <typename T>
void backward(const T* grad_out, const T* rois, const std::int64_t* argmax, T* grad_in, std::int64_t n_n,
              std::int64_t k_n, std::int64_t c_n, std::int64_t plane, std::int64_t bins, int num_threads) {
  std::memset(grad_in, 0, sizeof(T) * static_cast<std::size_t>(n_n * c_n * plane));
  // Each task owns whole channels, so the scatter needs no atomics and keeps torchvision's order.
  parallel_for_dynamic(0, c_n, num_threads, 2, [&](std::int64_t c) {
    for (std::int64_t k = 0; k < k_n; ++k) {
      T* gi = grad_in + (static_cast<std::int64_t>(rois[5 * k]) * c_n + c) * plane;
      const T* go = grad_out + (k * c_n + c) * bins;
      const std::int64_t* am = argmax + (k * c_n + c) * bins;
      for (std::int64_t b = 0; b < bins; ++b)
        if (am[b] >= 0) gi[am[b]] += go[b];
    }
  });
}

}  // namespace

void roi_pool(ConstTensorView input, ConstTensorView rois, TensorView out, TensorView argmax,
              const RoiPoolParams& params, const ExecContext& ctx) {
  const std::int64_t n = input.size(0), c = input.size(1), h = input.size(2), w = input.size(3);
  const std::int64_t k = rois.size(0), ph = out.size(2), pw = out.size(3);
  std::int64_t* am = argmax.ndim() != 0 ? argmax.data_as<std::int64_t>() : nullptr;
  if (input.dtype() == DType::Float32)
    forward(input.data_as<float>(), rois.data_as<float>(), out.data_as<float>(), am, n, k, c, h, w, ph, pw, params,
            ctx.num_threads);
  else
    forward(input.data_as<double>(), rois.data_as<double>(), out.data_as<double>(), am, n, k, c, h, w, ph, pw,
            params, ctx.num_threads);
}

void roi_pool_backward(ConstTensorView grad_output, ConstTensorView rois, ConstTensorView argmax,
                       TensorView grad_input, const ExecContext& ctx) {
  const std::int64_t n = grad_input.size(0), c = grad_input.size(1);
  const std::int64_t plane = grad_input.size(2) * grad_input.size(3);
  const std::int64_t k = rois.size(0), bins = grad_output.size(2) * grad_output.size(3);
  const auto* am = argmax.data_as<std::int64_t>();
  if (grad_input.dtype() == DType::Float32)
    backward(grad_output.data_as<float>(), rois.data_as<float>(), am, grad_input.data_as<float>(), n, k, c, plane,
             bins, ctx.num_threads);
  else
    backward(grad_output.data_as<double>(), rois.data_as<double>(), am, grad_input.data_as<double>(), n, k, c, plane,
             bins, ctx.num_threads);
}

}  // namespace foveal::cpu
