// SPDX-License-Identifier: Apache-2.0
// interpolate on the CPU: per-axis source tables (math/interpolate.hpp) computed once, then one
// parallel pass over output rows. Nearest 2x (the FPN top-down upsample) widens each input row
// once and copies it to both output rows; other nearest sizes copy a repeated source row instead
// of gathering it again. Bilinear blends two source rows, then the columns of the blend.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "cpu/parallel.hpp"
#include "cpu/simd.hpp"
#include "foveal/math/interpolate.hpp"
#include "ops/backend.hpp"

namespace foveal::cpu {
namespace {

using i64 = std::int64_t;

/// o[2x] = o[2x + 1] = s[x].
template <typename T>
FOVEAL_ALWAYS_INLINE void widen2_body(T* o, const T* s, i64 n) {
#pragma omp simd
  for (i64 x = 0; x < n; ++x) {
    o[2 * x] = s[x];
    o[2 * x + 1] = s[x];
  }
}
FOVEAL_SIMD_VARIANTS(widen2, widen2_body, (T * o, const T* s, i64 n), (o, s, n))

/// t[x] = a[x] + wy (b[x] - a[x]) in the blend type, over a row.
template <typename T, typename A>
FOVEAL_ALWAYS_INLINE void blend_rows(A* t, const T* a, const T* b, A wa, A wb, i64 n) {
#pragma omp simd
  for (i64 x = 0; x < n; ++x) t[x] = wa * static_cast<A>(a[x]) + wb * static_cast<A>(b[x]);
}

template <typename T>
void interpolate_typed(ConstTensorView input, TensorView out, const InterpolateParams& p, const ExecContext& ctx) {
  const i64 H = input.size(2), W = input.size(3), OH = out.size(2), OW = out.size(3);
  const i64 planes = input.size(0) * input.size(1);
  const T* x = input.data_as<T>();
  T* y = out.data_as<T>();
  if (p.mode == InterpolateMode::Nearest) {
    if (OH == 2 * H && OW == 2 * W) {
      auto wide = widen2<T>();
      parallel_for(0, planes * H, ctx.num_threads, 64, [&](i64 r) {
        const i64 pl = r / H, iy = r - pl * H;
        T* o = y + (pl * OH + 2 * iy) * OW;
        wide(o, x + r * W, W);
        std::memcpy(o + OW, o, static_cast<std::size_t>(OW) * sizeof(T));
      });
      return;
    }
    const float sh = math::interp_scale<float>(H, OH, p.scale_h), sw = math::interp_scale<float>(W, OW, p.scale_w);
    std::vector<i64> ix(static_cast<std::size_t>(OW)), iy(static_cast<std::size_t>(OH));
    for (i64 i = 0; i < OW; ++i) ix[i] = math::nearest_source(i, W, OW, sw);
    for (i64 i = 0; i < OH; ++i) iy[i] = math::nearest_source(i, H, OH, sh);
    parallel_for(0, planes * OH, ctx.num_threads, 64, [&](i64 r) {
      const i64 pl = r / OH, oy = r - pl * OH;
      T* o = y + r * OW;
      const T* s = x + (pl * H + iy[oy]) * W;
      for (i64 i = 0; i < OW; ++i) o[i] = s[ix[i]];
    });
    return;
  }
  using A = T;  // torch's opmath: float for float32, double for float64
  const A sh = math::linear_scale<A>(H, OH, p.align_corners, p.scale_h);
  const A sw = math::linear_scale<A>(W, OW, p.align_corners, p.scale_w);
  std::vector<math::LinearTaps<A>> tx(static_cast<std::size_t>(OW)), ty(static_cast<std::size_t>(OH));
  for (i64 i = 0; i < OW; ++i) tx[i] = math::linear_taps<A>(i, W, sw, p.align_corners);
  for (i64 i = 0; i < OH; ++i) ty[i] = math::linear_taps<A>(i, H, sh, p.align_corners);
  parallel_for(0, planes * OH, ctx.num_threads, 16, [&](i64 r) {
    thread_local std::vector<A> row;
    row.resize(static_cast<std::size_t>(W));
    const i64 pl = r / OH, oy = r - pl * OH;
    const math::LinearTaps<A>& t = ty[oy];
    const T* src = x + pl * H * W;
    blend_rows<T, A>(row.data(), src + t.lo * W, src + t.hi * W, A(1) - t.w_hi, t.w_hi, W);
    T* o = y + r * OW;
    for (i64 i = 0; i < OW; ++i) {
      const math::LinearTaps<A>& c = tx[i];
      o[i] = static_cast<T>((A(1) - c.w_hi) * row[c.lo] + c.w_hi * row[c.hi]);
    }
  });
}

}  // namespace

void interpolate(ConstTensorView input, TensorView out, const InterpolateParams& p, const ExecContext& ctx) {
  if (input.dtype() == DType::Float64) return interpolate_typed<double>(input, out, p, ctx);
  interpolate_typed<float>(input, out, p, ctx);
}

}  // namespace foveal::cpu
