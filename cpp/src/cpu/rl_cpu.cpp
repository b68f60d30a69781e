// SPDX-License-Identifier: Apache-2.0
// Richardson-Lucy on the CPU. f and the ratio image live in two zero-initialised padded buffers
// (padded by the psf extent), so the convolutions read without bounds checks; for the 'reflect'
// and 'wrap' modes the pads are refilled after each pass, for 'constant' they stay zero. A pass
// computes one output row at a time (tasks = row blocks of a plane, run by parallel_for) as a
// weighted sum of shifted rows, then writes the fused result straight into the other buffer:
// forward pass ratio = image / (conv + eps), backward pass f *= conv. Direct: one shifted row per
// non-zero psf tap. Separable: axis 0, axis 1, axis 2 factors in turn through row scratch.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "cpu/parallel.hpp"
#include "cpu/rl_fft_cpu.hpp"
#include "cpu/simd.hpp"
#include "foveal/math/rl.hpp"
#include "ops/backend.hpp"

namespace foveal::cpu {
namespace {

constexpr std::int64_t kBlock = 32;  // slack elements after rows and buffers

// Non-zero taps: offsets (in elements, within a buffer) and weights.
template <typename T>
struct Taps {
  std::vector<std::int64_t> off;
  std::vector<T> w;
  int size() const { return static_cast<int>(w.size()); }
};

template <typename T>
struct Rl {
  const ::foveal::detail::RlPlan* p;
  std::int64_t n[3], N[3], S0, S1;
  const T* image;
  T* buf[2];                // buf[0]: padded f (read by pass 0), buf[1]: padded ratio (read by pass 1)
  std::int64_t lo[2][3];    // leading pads of buf[0], buf[1] (equal: both passes centre at k / 2)
  Taps<T> direct[2];        // pass -> taps into its source buffer
  Taps<T> axis[2][3];       // separable: pass, axis -> taps (off = index along the axis)
  std::int64_t block_rows, blocks;
  T filter_epsilon;
  bool filter;
  int mode;
};

// out = (First ? 0 : out) + the sum of the n (1 to 4) rows s[0..n).
template <bool First, typename T>
FOVEAL_ALWAYS_INLINE void add_rows(T* __restrict out, const T* const* s, int n, std::int64_t len) {
  const T* __restrict a = s[0];
  const T* __restrict b = s[n > 1 ? 1 : 0];
  const T* __restrict c = s[n > 2 ? 2 : 0];
  const T* __restrict d = s[n > 3 ? 3 : 0];
  switch (n) {
    case 1:
#pragma omp simd
      for (std::int64_t x = 0; x < len; ++x) out[x] = First ? a[x] : out[x] + a[x];
      break;
    case 2:
#pragma omp simd
      for (std::int64_t x = 0; x < len; ++x) out[x] = First ? a[x] + b[x] : out[x] + (a[x] + b[x]);
      break;
    case 3:
#pragma omp simd
      for (std::int64_t x = 0; x < len; ++x) out[x] = First ? (a[x] + b[x]) + c[x] : out[x] + ((a[x] + b[x]) + c[x]);
      break;
    default:
#pragma omp simd
      for (std::int64_t x = 0; x < len; ++x)
        out[x] = First ? (a[x] + b[x]) + (c[x] + d[x]) : out[x] + ((a[x] + b[x]) + (c[x] + d[x]));
  }
}

// out[x] = sum_t w[t] * base[off[t] + x] for x < len: streaming passes over an L1-resident row
// (out never aliases the sources), fewest multiplies first: equal weights (box, motion) sum the
// rows and scale once; mirrored weights (w[t] == w[taps-1-t]: Gaussian, any symmetric factor)
// add each pair before multiplying; otherwise four taps per pass.
template <typename T>
FOVEAL_ALWAYS_INLINE void combine(const T* base, const std::int64_t* off, const T* w, int taps, T* __restrict out,
                                  std::int64_t len) {
  bool uniform = true, mirrored = true;
  for (int t = 0; t < taps; ++t) {
    uniform &= w[t] == w[0];
    mirrored &= w[t] == w[taps - 1 - t];
  }
  if (uniform && taps > 1) {
    for (int t = 0; t < taps; t += 4) {
      const T* s[4] = {};
      const int n = std::min(4, taps - t);
      for (int i = 0; i < n; ++i) s[i] = base + off[t + i];
      if (t == 0) {
        add_rows<true>(out, s, n, len);
      } else {
        add_rows<false>(out, s, n, len);
      }
    }
    const T w0 = w[0];
#pragma omp simd
    for (std::int64_t x = 0; x < len; ++x) out[x] *= w0;
    return;
  }
  if (mirrored && taps > 2) {
    const int pairs = taps / 2;
    int p = 0;
    if (taps % 2) {
      const T* __restrict c = base + off[pairs];
      const T wc = w[pairs];
#pragma omp simd
      for (std::int64_t x = 0; x < len; ++x) out[x] = c[x] * wc;
    } else {
      const T* __restrict a = base + off[0];
      const T* __restrict b = base + off[taps - 1];
      const T w0 = w[0];
#pragma omp simd
      for (std::int64_t x = 0; x < len; ++x) out[x] = (a[x] + b[x]) * w0;
      p = 1;
    }
    for (; p + 1 < pairs; p += 2) {
      const T* __restrict a0 = base + off[p];
      const T* __restrict b0 = base + off[taps - 1 - p];
      const T* __restrict a1 = base + off[p + 1];
      const T* __restrict b1 = base + off[taps - 2 - p];
      const T w0 = w[p], w1 = w[p + 1];
#pragma omp simd
      for (std::int64_t x = 0; x < len; ++x) out[x] += (a0[x] + b0[x]) * w0 + (a1[x] + b1[x]) * w1;
    }
    if (p < pairs) {
      const T* __restrict a = base + off[p];
      const T* __restrict b = base + off[taps - 1 - p];
      const T w0 = w[p];
#pragma omp simd
      for (std::int64_t x = 0; x < len; ++x) out[x] += (a[x] + b[x]) * w0;
    }
    return;
  }
  int t = taps % 4;
  if (t == 0) {
#pragma omp simd
    for (std::int64_t x = 0; x < len; ++x) out[x] = T(0);
  } else {
    const T* __restrict s0 = base + off[0];
    const T w0 = w[0];
    if (t == 1) {
#pragma omp simd
      for (std::int64_t x = 0; x < len; ++x) out[x] = s0[x] * w0;
    } else if (t == 2) {
      const T* __restrict s1 = base + off[1];
      const T w1 = w[1];
#pragma omp simd
      for (std::int64_t x = 0; x < len; ++x) out[x] = s0[x] * w0 + s1[x] * w1;
    } else {
      const T* __restrict s1 = base + off[1];
      const T* __restrict s2 = base + off[2];
      const T w1 = w[1], w2 = w[2];
#pragma omp simd
      for (std::int64_t x = 0; x < len; ++x) out[x] = s0[x] * w0 + s1[x] * w1 + s2[x] * w2;
    }
  }
  for (; t < taps; t += 4) {
    const T* __restrict s0 = base + off[t];
    const T* __restrict s1 = base + off[t + 1];
    const T* __restrict s2 = base + off[t + 2];
    const T* __restrict s3 = base + off[t + 3];
    const T w0 = w[t], w1 = w[t + 1], w2 = w[t + 2], w3 = w[t + 3];
#pragma omp simd
    for (std::int64_t x = 0; x < len; ++x) out[x] += (s0[x] * w0 + s1[x] * w1) + (s2[x] * w2 + s3[x] * w3);
  }
}

template <typename T>
FOVEAL_ALWAYS_INLINE void fill_row_pads(T* row, std::int64_t lo, std::int64_t n, std::int64_t N, int mode) {
  for (std::int64_t x = 0; x < lo; ++x) row[x] = row[lo + math::rl_boundary_index(x - lo, n, mode)];
  for (std::int64_t x = lo + n; x < N; ++x) row[x] = row[lo + math::rl_boundary_index(x - lo, n, mode)];
}

// Writes the fused result of pass `ps` for output row (i0, i1) from its convolution `acc`.
template <typename T>
FOVEAL_ALWAYS_INLINE void emit(const Rl<T>* c, int ps, std::int64_t i0, std::int64_t i1, const T* acc) {
  const std::int64_t n2 = c->n[2];
  const int dst_buf = 1 - ps;
  const std::int64_t* lo = c->lo[dst_buf];
  T* row = c->buf[dst_buf] + (i0 + lo[0]) * c->S0 + (i1 + lo[1]) * c->S1;
  T* d = row + lo[2];
  if (ps == 0) {
    const T* im = c->image + (i0 * c->n[1] + i1) * n2;
    const T fe = c->filter_epsilon;
    if (c->filter) {
#pragma omp simd
      for (std::int64_t x = 0; x < n2; ++x) d[x] = math::rl_ratio(im[x], acc[x], fe, true);
    } else {
#pragma omp simd
      for (std::int64_t x = 0; x < n2; ++x) d[x] = math::rl_ratio(im[x], acc[x], fe, false);
    }
  } else {
#pragma omp simd
    for (std::int64_t x = 0; x < n2; ++x) d[x] *= acc[x];
  }
  if (c->mode != 0) fill_row_pads(row, lo[2], n2, c->N[2], c->mode);
}

template <typename T>
struct Scratch {
  std::vector<T> v;
  T* get(std::size_t n) {
    if (v.size() < n) v.assign(n, T(0));
    return v.data();
  }
};

// One task of pass `ps`: rows [b0, b1) of plane i0.
template <typename T>
FOVEAL_ALWAYS_INLINE void pass_body(const Rl<T>* c, int ps, std::int64_t task) {
  static thread_local Scratch<T> scratch;
  const std::int64_t i0 = task / c->blocks;
  const std::int64_t b0 = (task % c->blocks) * c->block_rows;
  const std::int64_t b1 = std::min(c->n[1], b0 + c->block_rows);
  const std::int64_t n2 = c->n[2], N2 = c->N[2], S0 = c->S0, S1 = c->S1;
  const T* src = c->buf[ps];
  const std::size_t row_len = static_cast<std::size_t>(N2 + 2 * kBlock);
  if (c->p->method == RlMethod::Direct) {
    T* acc = scratch.get(row_len);
    const Taps<T>& tp = c->direct[ps];
    for (std::int64_t i1 = b0; i1 < b1; ++i1) {
      combine(src + i0 * S0 + i1 * S1, tp.off.data(), tp.w.data(), tp.size(), acc, n2);
      emit(c, ps, i0, i1, acc);
    }
    return;
  }
  const Taps<T>& a0 = c->axis[ps][0];
  const Taps<T>& a1 = c->axis[ps][1];
  const Taps<T>& a2 = c->axis[ps][2];
  const std::int64_t k1 = c->p->k[1];
  const std::int64_t t0_rows = b1 - b0 + k1 - 1;
  T* acc = scratch.get(row_len * static_cast<std::size_t>(t0_rows + 2));
  T* rrow = acc + row_len;
  T* t0 = rrow + row_len;
  // Stage A (axis 0) into t0 rows b0 .. b1 + k1 - 2, unless axis 0 is a single tap (then read
  // the source rows in place, its weight folded into stage B).
  static thread_local std::vector<std::int64_t> offs, off2;
  static thread_local std::vector<T> ws, w2;
  offs.resize(std::max(a0.size(), a1.size()));
  ws.resize(a1.size());
  off2.resize(a2.size());
  w2.resize(a2.size());
  const bool a0_inplace = a0.size() == 1;
  const T* t0_base;
  std::int64_t t0_stride;
  T scale0 = T(1);
  if (a0_inplace) {
    t0_base = src + (i0 + a0.off[0]) * S0 + b0 * S1;
    t0_stride = S1;
    scale0 = a0.w[0];
  } else {
    for (int t = 0; t < a0.size(); ++t) offs[t] = a0.off[t] * S0;
    for (std::int64_t r = 0; r < t0_rows; ++r)
      combine(src + i0 * S0 + (b0 + r) * S1, offs.data(), a0.w.data(), a0.size(), t0 + r * row_len, N2);
    t0_base = t0;
    t0_stride = static_cast<std::int64_t>(row_len);
  }
  const bool a1_inplace = a1.size() == 1;
  for (int t = 0; t < a1.size(); ++t) offs[t] = a1.off[t] * t0_stride, ws[t] = a1.w[t] * scale0;
  const T scale1 = a1_inplace ? ws[0] : T(1);
  for (int t = 0; t < a2.size(); ++t) off2[t] = a2.off[t], w2[t] = a2.w[t] * scale1;
  for (std::int64_t i1 = b0; i1 < b1; ++i1) {
    const T* rb = t0_base + (i1 - b0) * t0_stride;
    const T* r;
    if (a1_inplace) {
      r = rb + offs[0];
    } else {
      combine(rb, offs.data(), ws.data(), a1.size(), rrow, N2);
      r = rrow;
    }
    combine(r, off2.data(), w2.data(), a2.size(), acc, n2);
    emit(c, ps, i0, i1, acc);
  }
}
FOVEAL_SIMD_VARIANTS(run_pass, pass_body, (const Rl<T>* c, int ps, std::int64_t task), (c, ps, task))

// Pads of axes 1 and 0 of buffer b (the rows' own pads are filled by emit).
template <typename T>
void fill_outer_pads(const Rl<T>& c, int b, int num_threads) {
  if (c.mode == 0) return;
  const std::int64_t* lo = c.lo[b];
  T* buf = c.buf[b];
  const std::int64_t N1 = c.N[1], N0 = c.N[0], S0 = c.S0, S1 = c.S1;
  const std::size_t row_bytes = sizeof(T) * static_cast<std::size_t>(c.N[2]);
  if (N1 > c.n[1])
    parallel_for(0, c.n[0], num_threads, 8, [&](std::int64_t i0) {
      T* plane = buf + (i0 + lo[0]) * S0;
      for (std::int64_t y = 0; y < N1; ++y) {
        if (y >= lo[1] && y < lo[1] + c.n[1]) continue;
        const std::int64_t s = lo[1] + math::rl_boundary_index(y - lo[1], c.n[1], c.mode);
        std::memcpy(plane + y * S1, plane + s * S1, row_bytes);
      }
    });
  for (std::int64_t z = 0; z < N0; ++z) {
    if (z >= lo[0] && z < lo[0] + c.n[0]) continue;
    const std::int64_t s = lo[0] + math::rl_boundary_index(z - lo[0], c.n[0], c.mode);
    std::memcpy(buf + z * S0, buf + s * S0, sizeof(T) * static_cast<std::size_t>(S0));
  }
}

template <typename T>
RlMethod rl_impl(ConstTensorView image, ConstTensorView psf, TensorView out, const ::foveal::detail::RlArgs& args,
                 const ExecContext& ctx) {
  const int num_threads = ctx.num_threads;
  const int nd = image.ndim();
  const T* pv = psf.data_as<T>();
  const std::vector<double> values(pv, pv + psf.numel());
  const ::foveal::detail::RlPlan plan =
      ::foveal::detail::rl_plan(values, image.shape().data(), psf.shape().data(), nd, sizeof(T) == 4, args, true);
  if (plan.method == RlMethod::Fft) return rl_fft<T>(image.data_as<T>(), plan, out.data_as<T>(), ctx);
  Rl<T> c;
  c.p = &plan;
  for (int a = 0; a < 3; ++a) c.n[a] = plan.n[a], c.N[a] = plan.padded(a);
  c.S1 = c.N[2];
  c.S0 = c.N[1] * c.N[2];
  c.image = image.data_as<T>();
  c.mode = static_cast<int>(args.mode);
  c.filter = args.filter_epsilon != 0.0;
  c.filter_epsilon = static_cast<T>(args.filter_epsilon);
  for (int b = 0; b < 2; ++b)
    for (int a = 0; a < 3; ++a) c.lo[b][a] = plan.lo(a);
  // Taps: pass 0 correlates f with the flipped psf, pass 1 the ratio with the psf itself.
  const std::int64_t* k = plan.k;
  for (int ps = 0; ps < 2; ++ps) {
    auto w_at = [&](std::int64_t m, std::int64_t kk) { return ps == 0 ? kk - 1 - m : m; };
    if (plan.method == RlMethod::Direct) {
      for (std::int64_t i = 0; i < k[0]; ++i)
        for (std::int64_t j = 0; j < k[1]; ++j)
          for (std::int64_t l = 0; l < k[2]; ++l) {
            const double v = plan.psf[(w_at(i, k[0]) * k[1] + w_at(j, k[1])) * k[2] + w_at(l, k[2])];
            if (v == 0.0) continue;
            c.direct[ps].off.push_back(i * c.S0 + j * c.S1 + l);
            c.direct[ps].w.push_back(static_cast<T>(v));
          }
    } else {
      for (int a = 0; a < 3; ++a)
        for (std::int64_t m = 0; m < k[a]; ++m) {
          const double v = plan.factor[a][w_at(m, k[a])];
          if (v == 0.0) continue;
          c.axis[ps][a].off.push_back(m);
          c.axis[ps][a].w.push_back(static_cast<T>(v));
        }
    }
  }
  // Task size: whole planes when there are enough of them, else blocks of rows.
  const int nt = max_threads(num_threads);
  c.block_rows = c.n[0] >= 4 * nt ? c.n[1] : std::max<std::int64_t>(8, c.n[1] / (8 * nt));
  c.block_rows = std::min(c.block_rows, c.n[1]);
  c.blocks = (c.n[1] + c.block_rows - 1) / c.block_rows;
  const std::int64_t tasks = c.n[0] * c.blocks;

  const std::size_t size = static_cast<std::size_t>(plan.padded_size() + c.N[2] + 4 * kBlock);
  std::vector<T> f(size, T(0)), r(size, T(0));
  c.buf[0] = f.data();
  c.buf[1] = r.data();
  parallel_for(0, c.n[0] * c.n[1], num_threads, 64, [&](std::int64_t row) {
    const std::int64_t i0 = row / c.n[1], i1 = row % c.n[1];
    T* d = c.buf[0] + (i0 + c.lo[0][0]) * c.S0 + (i1 + c.lo[0][1]) * c.S1;
    std::fill(d + c.lo[0][2], d + c.lo[0][2] + c.n[2], T(0.5));
    if (c.mode != 0) fill_row_pads(d, c.lo[0][2], c.n[2], c.N[2], c.mode);
  });
  fill_outer_pads(c, 0, num_threads);
  const auto run = run_pass<T>();
  for (std::int64_t it = 0; it < args.num_iter; ++it) {
    ctx.throw_if_cancelled("richardson_lucy");
    for (int ps = 0; ps < 2; ++ps) {
      parallel_for(0, tasks, num_threads, 2, [&](std::int64_t t) { run(&c, ps, t); });
      if (ps == 0 || it + 1 < args.num_iter) fill_outer_pads(c, 1 - ps, num_threads);
    }
  }
  T* o = out.data_as<T>();
  const bool clip = args.clip;
  parallel_for(0, c.n[0] * c.n[1], num_threads, 64, [&](std::int64_t row) {
    const std::int64_t i0 = row / c.n[1], i1 = row % c.n[1];
    const T* s = c.buf[0] + (i0 + c.lo[0][0]) * c.S0 + (i1 + c.lo[0][1]) * c.S1 + c.lo[0][2];
    T* d = o + row * c.n[2];
    if (clip) {
#pragma omp simd
      for (std::int64_t x = 0; x < c.n[2]; ++x) d[x] = math::rl_clip(s[x]);
    } else {
      std::memcpy(d, s, sizeof(T) * static_cast<std::size_t>(c.n[2]));
    }
  });
  return plan.method;
}

}  // namespace

RlMethod richardson_lucy(ConstTensorView image, ConstTensorView psf, TensorView out, const ::foveal::detail::RlArgs& args,
                         const ExecContext& ctx) {
  if (image.dtype() == DType::Float32) return rl_impl<float>(image, psf, out, args, ctx);
  return rl_impl<double>(image, psf, out, args, ctx);
}

}  // namespace foveal::cpu
