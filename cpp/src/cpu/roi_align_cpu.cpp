// SPDX-License-Identifier: Apache-2.0
// RoIAlign on the CPU: the bilinear taps of every RoI are computed once (roi_tables.hpp explains
// the layout and the loop order); the forward pass splits over (image, channel, RoI chunk), the
// backward pass over channels (each task owns whole gradient planes: no atomics, and the
// accumulation order into each pixel is torchvision's).
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>
#include <type_traits>
#include <vector>

#include "cpu/parallel.hpp"
#include "cpu/roi_tables.hpp"
#include "cpu/simd.hpp"
#include "foveal/math/roi.hpp"
#include "ops/backend.hpp"

#if FOVEAL_X86_DISPATCH
#include <immintrin.h>
#endif

namespace foveal::cpu {
namespace {

template <typename T>
struct Tap {
  std::int64_t lo, hi;  // row or column indices
  T w_lo, w_hi;
};

/// Separable taps of every RoI: for RoI k, bin row ph, the valid samples along y are
/// y_taps[y_begin[k * (PH + 1) + ph] .. y_begin[k * (PH + 1) + ph + 1]), likewise along x.
template <typename T>
struct AlignTables {
  std::vector<Tap<T>> y_taps, x_taps;
  std::vector<std::int64_t> y_begin, x_begin;
  std::vector<T> count;

  AlignTables(const T* rois, std::int64_t k_n, std::int64_t height, std::int64_t width, std::int64_t ph_n,
              std::int64_t pw_n, const RoiAlignParams& p)
      : AlignTables(rois, k_n, ph_n, pw_n, p.sampling_ratio, p.aligned,
                    [&](std::int64_t, double& scale, std::int64_t& h, std::int64_t& w) {
                      scale = p.spatial_scale, h = height, w = width;
                      return true;
                    }) {}

  /// RoIs on maps of their own: geom(k, scale, height, width) gives RoI k's map and scale, or
  /// returns false for a RoI that has no map (no taps).
  template <typename Geom>
  AlignTables(const T* rois, std::int64_t k_n, std::int64_t ph_n, std::int64_t pw_n, int sampling_ratio,
              bool aligned, Geom geom)
      : y_begin(static_cast<std::size_t>(k_n * (ph_n + 1))),
        x_begin(static_cast<std::size_t>(k_n * (pw_n + 1))),
        count(static_cast<std::size_t>(k_n), T(1)) {
    for (std::int64_t k = 0; k < k_n; ++k) {
      double scale = 1.0;
      std::int64_t height = 0, width = 0;
      if (!geom(k, scale, height, width)) {
        std::fill_n(y_begin.data() + k * (ph_n + 1), ph_n + 1, static_cast<std::int64_t>(y_taps.size()));
        std::fill_n(x_begin.data() + k * (pw_n + 1), pw_n + 1, static_cast<std::int64_t>(x_taps.size()));
        continue;
      }
      const auto b =
          math::roi_align_bins(rois + 5 * k, static_cast<T>(scale), ph_n, pw_n, sampling_ratio, aligned);
      count[k] = b.count;
      axis(b.start_h, b.bin_h, b.grid_h, ph_n, height, y_taps, y_begin.data() + k * (ph_n + 1));
      axis(b.start_w, b.bin_w, b.grid_w, pw_n, width, x_taps, x_begin.data() + k * (pw_n + 1));
    }
  }

 private:
  static void axis(T start, T bin, std::int64_t grid, std::int64_t pooled, std::int64_t size,
                   std::vector<Tap<T>>& taps, std::int64_t* begin) {
    for (std::int64_t p = 0; p < pooled; ++p) {
      begin[p] = static_cast<std::int64_t>(taps.size());
      std::int64_t i0, i1;
      math::roi_align_sample_range(start, bin, p, grid, size, i0, i1);
      for (std::int64_t i = i0; i < i1; ++i) {
        math::AxisTap<T> t;
        if (math::bilinear_axis(math::roi_align_sample(start, bin, p, i, grid), size, t))
          taps.push_back({t.lo, t.hi, t.w_lo, t.w_hi});
      }
    }
    begin[pooled] = static_cast<std::int64_t>(taps.size());
  }
};

// Columns processed per vector step; spans are padded up to a multiple (within the map row) so
// that the contiguous loops run without scalar tails. Padded columns are never read back.
constexpr std::int64_t kPad = 16;

// All RoIs [r0, r1) of NC consecutive channel planes v, v + plane, ... Bilinear interpolation is
// separable, and the column taps of a bin row are the same for all its sample rows: so per bin
// row, the blended sample rows are summed over the RoI's column span first (contiguous: it
// vectorises), and each column tap then reads that sum once. That is 2 ops per column per sample
// row plus 2 per column tap per bin, instead of 12 per sample. It rounds differently from
// torchvision's four-corner sums, within a few float ulps (tested against it and a float64
// reference). The NC channels share each RoI's setup and column taps, and give the tap loop NC
// independent sums.
template <typename T, int NC>
FOVEAL_ALWAYS_INLINE void align_block(const T* v, std::int64_t plane, std::int64_t width, const Tap<T>* y_taps,
                                      const Tap<T>* x_taps, const std::int64_t* y_begin, const std::int64_t* x_begin,
                                      const T* count, const std::int64_t* order, std::int64_t r0, std::int64_t r1,
                                      std::int64_t ph_n, std::int64_t pw_n, T* out, std::int64_t k_stride, T* row,
                                      std::int64_t row_cap) {
  const std::int64_t bins = ph_n * pw_n;
  for (std::int64_t r = r0; r < r1; ++r) {
    const std::int64_t k = order[r];
    const std::int64_t* yb = y_begin + k * (ph_n + 1);
    const std::int64_t* xb = x_begin + k * (pw_n + 1);
    T* o = out + k * k_stride;
    std::int64_t c_lo = width, c_hi = -1;  // column span of the RoI's taps
    for (std::int64_t j = xb[0]; j < xb[pw_n]; ++j) {
      c_lo = x_taps[j].lo < c_lo ? x_taps[j].lo : c_lo;
      c_hi = x_taps[j].hi > c_hi ? x_taps[j].hi : c_hi;
    }
    std::int64_t span = c_hi - c_lo + 1;
    if (span > 0) span = std::min((span + kPad - 1) / kPad * kPad, width - c_lo);
    const T inv = T(1) / count[k];  // a multiply per bin instead of a divide: within an ulp
    for (std::int64_t ph = 0; ph < ph_n; ++ph) {
      if (span <= 0 || yb[ph] == yb[ph + 1]) {  // no sample of this bin row lies on the map
        for (int ch = 0; ch < NC; ++ch)
          for (std::int64_t pw = 0; pw < pw_n; ++pw) o[ch * bins + ph * pw_n + pw] = T(0);
        continue;
      }
      for (int ch = 0; ch < NC; ++ch) {
        const T* vc = v + ch * plane + c_lo;
        T* rc = row + ch * row_cap;
        for (std::int64_t i = yb[ph]; i < yb[ph + 1]; ++i) {
          const Tap<T>& ty = y_taps[i];
          const T* lo = vc + ty.lo * width;
          const T* hi = vc + ty.hi * width;
          const T wl = ty.w_lo, wh = ty.w_hi;
          if (i == yb[ph]) {
#pragma omp simd
            for (std::int64_t c = 0; c < span; ++c) rc[c] = wl * lo[c] + wh * hi[c];
          } else {
#pragma omp simd
            for (std::int64_t c = 0; c < span; ++c) rc[c] += wl * lo[c] + wh * hi[c];
          }
        }
      }
      for (std::int64_t pw = 0; pw < pw_n; ++pw) {
        T a[NC];
        for (int ch = 0; ch < NC; ++ch) a[ch] = T(0);
        for (std::int64_t j = xb[pw]; j < xb[pw + 1]; ++j) {
          const Tap<T>& tx = x_taps[j];
          const std::int64_t lo = tx.lo - c_lo, hi = tx.hi - c_lo;
          for (int ch = 0; ch < NC; ++ch) a[ch] += tx.w_lo * row[ch * row_cap + lo] + tx.w_hi * row[ch * row_cap + hi];
        }
        for (int ch = 0; ch < NC; ++ch) o[ch * bins + ph * pw_n + pw] = a[ch] * inv;
      }
    }
  }
}

/// The column taps of every RoI laid out for align_block_perm (AVX-512, float): a RoI's bins are
/// cut into runs of consecutive bins whose taps span at most 32 map columns; per run, its first
/// column, masks of its bins (lanes) and of the columns it reads; per tap slot s (the s-th column
/// tap of each bin), the taps' columns relative to their run and weights, lane = bin. Built once
/// per call, not per channel block. fits[k] == 0: RoI k has a bin wider than 32 columns or more
/// than kSlots taps, and takes align_block.
struct PermTables {
  static constexpr int kSlots = 8;
  struct Run {
    std::int64_t c_lo, c_hi;  // the columns the run reads
    std::int32_t taps;
    std::uint16_t lanes, m0, m1;
  };
  struct Slot {
    float w_lo[16], w_hi[16];
    std::uint8_t lo[16], hi[16];
    std::uint16_t valid;  // lanes (bins) that have this tap
  };
  std::vector<std::int32_t> run_begin, slot_begin;  // RoI k: [begin[k], begin[k + 1])
  std::vector<Run> runs;
  std::vector<Slot> slots;
  std::vector<std::uint8_t> fits;
  bool stream = false;  // write `out` with streaming stores (set by the caller for large outputs)

  PermTables(const Tap<float>* x_taps, const std::int64_t* x_begin, std::int64_t k_n, std::int64_t pw_n)
      : run_begin(static_cast<std::size_t>(k_n + 1), 0),
        slot_begin(static_cast<std::size_t>(k_n + 1), 0),
        fits(static_cast<std::size_t>(k_n), 0) {
    for (std::int64_t k = 0; k < k_n; ++k) {
      if (add(x_taps, x_begin + k * (pw_n + 1), pw_n)) fits[k] = 1;
      run_begin[k + 1] = static_cast<std::int32_t>(runs.size());
      slot_begin[k + 1] = static_cast<std::int32_t>(slots.size());
    }
  }

 private:
  /// Appends the runs and slots of a RoI whose bin columns start at xb; false (nothing appended)
  /// when it does not fit.
  bool add(const Tap<float>* x_taps, const std::int64_t* xb, std::int64_t pw_n) {
    const std::size_t first_run = runs.size();
    int run_of[16];
    std::int64_t taps = 0;
    for (std::int64_t pw = 0; pw < pw_n; ++pw) {
      const std::int64_t n = xb[pw + 1] - xb[pw];
      run_of[pw] = -1;
      if (n == 0) continue;  // no sample of this bin lies on the map: its lane stays 0
      std::int64_t lo = x_taps[xb[pw]].lo, hi = x_taps[xb[pw]].hi;
      for (std::int64_t j = xb[pw]; j < xb[pw + 1]; ++j)
        lo = std::min(lo, x_taps[j].lo), hi = std::max(hi, x_taps[j].hi);
      if (n > kSlots || hi - lo >= 32) {
        runs.resize(first_run);
        return false;
      }
      taps = std::max(taps, n);
      Run* cur = runs.size() > first_run ? &runs.back() : nullptr;
      if (cur && std::max(hi, cur->c_hi) - std::min(lo, cur->c_lo) < 32) {
        cur->c_lo = std::min(lo, cur->c_lo), cur->c_hi = std::max(hi, cur->c_hi);
      } else {
        runs.push_back(Run{lo, hi, 0, 0, 0, 0});
        cur = &runs.back();
      }
      cur->taps = static_cast<std::int32_t>(std::max<std::int64_t>(cur->taps, n));
      cur->lanes = static_cast<std::uint16_t>(cur->lanes | (1u << pw));
      run_of[pw] = static_cast<int>(runs.size() - first_run - 1);
    }
    for (std::size_t g = first_run; g < runs.size(); ++g) {  // load masks: the run's columns
      const auto span = static_cast<unsigned>(runs[g].c_hi - runs[g].c_lo + 1);
      runs[g].m0 = static_cast<std::uint16_t>(span >= 16 ? 0xFFFFu : (1u << span) - 1u);
      runs[g].m1 = static_cast<std::uint16_t>(span <= 16 ? 0u : (1u << (span - 16)) - 1u);
    }
    const std::size_t first_slot = slots.size();
    slots.resize(first_slot + static_cast<std::size_t>(taps), Slot{});
    for (std::int64_t pw = 0; pw < pw_n; ++pw)
      for (std::int64_t j = xb[pw]; j < xb[pw + 1]; ++j) {
        Slot& sl = slots[first_slot + static_cast<std::size_t>(j - xb[pw])];
        const std::int64_t c_lo = runs[first_run + static_cast<std::size_t>(run_of[pw])].c_lo;
        sl.lo[pw] = static_cast<std::uint8_t>(x_taps[j].lo - c_lo);
        sl.hi[pw] = static_cast<std::uint8_t>(x_taps[j].hi - c_lo);
        sl.w_lo[pw] = x_taps[j].w_lo, sl.w_hi[pw] = x_taps[j].w_hi;
        sl.valid = static_cast<std::uint16_t>(sl.valid | (1u << pw));
      }
    return true;
  }
};

// Channel blocks of 4, 2 or 1 (the caller picks the block so that its planes fit in L2).
template <typename T>
FOVEAL_ALWAYS_INLINE void align_plane_body(const T* v, std::int64_t plane, int nc, std::int64_t width,
                                           const Tap<T>* y_taps, const Tap<T>* x_taps, const std::int64_t* y_begin,
                                           const std::int64_t* x_begin, const T* count, const std::int64_t* order,
                                           std::int64_t r0, std::int64_t r1, std::int64_t ph_n, std::int64_t pw_n,
                                           T* out, std::int64_t k_stride, T* row, std::int64_t row_cap,
                                           const PermTables*) {
  switch (nc) {
    case 4:
      return align_block<T, 4>(v, plane, width, y_taps, x_taps, y_begin, x_begin, count, order, r0, r1, ph_n, pw_n,
                               out, k_stride, row, row_cap);
    case 2:
      return align_block<T, 2>(v, plane, width, y_taps, x_taps, y_begin, x_begin, count, order, r0, r1, ph_n, pw_n,
                               out, k_stride, row, row_cap);
    default:
      return align_block<T, 1>(v, plane, width, y_taps, x_taps, y_begin, x_begin, count, order, r0, r1, ph_n, pw_n,
                               out, k_stride, row, row_cap);
  }
}
FOVEAL_SIMD_VARIANTS(align_plane, align_plane_body,
                     (const T* v, std::int64_t plane, int nc, std::int64_t width, const Tap<T>* y_taps,
                      const Tap<T>* x_taps, const std::int64_t* y_begin, const std::int64_t* x_begin, const T* count,
                      const std::int64_t* order, std::int64_t r0, std::int64_t r1, std::int64_t ph_n,
                      std::int64_t pw_n, T* out, std::int64_t k_stride, T* row, std::int64_t row_cap,
                      const PermTables* perm),
                     (v, plane, nc, width, y_taps, x_taps, y_begin, x_begin, count, order, r0, r1, ph_n, pw_n, out,
                      k_stride, row, row_cap, perm))

#if FOVEAL_X86_DISPATCH
// align_block for float with AVX-512 and at most 16 bins per bin row, on PermTables' runs: a run's
// blended sample rows stay in two registers, and each column tap of all the run's bins is one
// two-register permute (vpermt2ps) instead of a scalar load per bin. The NC channels go through
// each step together (independent chains for the out-of-order core). The adds and multiplies are
// align_block's, in its order (the build does not contract them), so the results are
// bit-identical. A RoI's bins are assembled in `row` (NC * PH * PW floats) and then copied out.
template <int NC>
FOVEAL_TARGET_AVX512 void align_block_perm(const float* v, std::int64_t plane, std::int64_t width,
                                           const Tap<float>* y_taps, const Tap<float>* x_taps,
                                           const std::int64_t* y_begin, const std::int64_t* x_begin,
                                           const float* count, const std::int64_t* order, std::int64_t r0,
                                           std::int64_t r1, std::int64_t ph_n, std::int64_t pw_n, float* out,
                                           std::int64_t k_stride, float* row, std::int64_t row_cap,
                                           const PermTables& pt) {
  const std::int64_t bins = ph_n * pw_n;
  const auto out_mask = static_cast<__mmask16>((1u << pw_n) - 1u);
  const bool stream = pt.stream;
  float* buf = row;  // NC * bins floats (the caller's row buffer, which align_block uses otherwise)
  for (std::int64_t r = r0; r < r1; ++r) {
    const std::int64_t k = order[r];
    if (!pt.fits[k]) {
      align_block<float, NC>(v, plane, width, y_taps, x_taps, y_begin, x_begin, count, order, r, r + 1, ph_n, pw_n,
                             out, k_stride, row, row_cap);
      continue;
    }
    const std::int64_t* yb = y_begin + k * (ph_n + 1);
    const PermTables::Run* runs = pt.runs.data() + pt.run_begin[k];
    const int n_runs = pt.run_begin[k + 1] - pt.run_begin[k];
    const PermTables::Slot* slots = pt.slots.data() + pt.slot_begin[k];
    const __m512 inv = _mm512_set1_ps(1.0f / count[k]);
    for (std::int64_t ph = 0; ph < ph_n; ++ph) {
      __m512 acc[NC];
      for (int ch = 0; ch < NC; ++ch) acc[ch] = _mm512_setzero_ps();
      if (yb[ph] < yb[ph + 1]) {  // else no sample of this bin row lies on the map: zeros
        for (int g = 0; g < n_runs; ++g) {
          const PermTables::Run& run = runs[g];
          const __mmask16 m0 = run.m0, m1 = run.m1;
          __m512 a0[NC], a1[NC];
          for (std::int64_t i = yb[ph]; i < yb[ph + 1]; ++i) {
            const Tap<float>& ty = y_taps[i];
            const float* lo = v + ty.lo * width + run.c_lo;
            const float* hi = v + ty.hi * width + run.c_lo;
            const __m512 wl = _mm512_set1_ps(ty.w_lo), wh = _mm512_set1_ps(ty.w_hi);
            for (int ch = 0; ch < NC; ++ch) {  // the masked loads stay in the run's columns, on the map
              const std::int64_t off = ch * plane;
              const __m512 t0 = _mm512_add_ps(_mm512_mul_ps(wl, _mm512_maskz_loadu_ps(m0, lo + off)),
                                              _mm512_mul_ps(wh, _mm512_maskz_loadu_ps(m0, hi + off)));
              const __m512 t1 = m1 ? _mm512_add_ps(_mm512_mul_ps(wl, _mm512_maskz_loadu_ps(m1, lo + off + 16)),
                                                   _mm512_mul_ps(wh, _mm512_maskz_loadu_ps(m1, hi + off + 16)))
                                   : _mm512_setzero_ps();
              if (i == yb[ph]) {
                a0[ch] = t0, a1[ch] = t1;
              } else {
                a0[ch] = _mm512_add_ps(a0[ch], t0), a1[ch] = _mm512_add_ps(a1[ch], t1);
              }
            }
          }
          for (std::int32_t s = 0; s < run.taps; ++s) {
            const PermTables::Slot& sl = slots[s];
            const __m512i il = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(sl.lo)));
            const __m512i ih = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(sl.hi)));
            const __m512 wl = _mm512_loadu_ps(sl.w_lo), wh = _mm512_loadu_ps(sl.w_hi);
            const auto m = static_cast<__mmask16>(sl.valid & run.lanes);  // a bin's missing taps add nothing
            for (int ch = 0; ch < NC; ++ch) {
              const __m512 t = _mm512_add_ps(_mm512_mul_ps(wl, _mm512_permutex2var_ps(a0[ch], il, a1[ch])),
                                             _mm512_mul_ps(wh, _mm512_permutex2var_ps(a0[ch], ih, a1[ch])));
              acc[ch] = _mm512_mask_add_ps(acc[ch], m, acc[ch], t);
            }
          }
        }
      }
      for (int ch = 0; ch < NC; ++ch)
        _mm512_mask_storeu_ps(buf + ch * bins + ph * pw_n, out_mask, _mm512_mul_ps(acc[ch], inv));
    }
    // The RoI's NC channels are one contiguous run of `out`: it is copied there with whole-vector
    // stores (masked stores straight to `out` stalled on its cache misses). For large outputs,
    // the 64-byte lines the run covers whole are written with streaming stores (no read for
    // ownership); its partial end lines with ordinary masked stores.
    float* o = out + k * k_stride;
    const std::int64_t n = NC * bins;
    std::int64_t i = 0;
    if (stream) {
      const std::int64_t head = std::min<std::int64_t>(n, (64 - reinterpret_cast<std::uintptr_t>(o) % 64) % 64 / 4);
      const auto m = static_cast<__mmask16>((1u << head) - 1u);
      _mm512_mask_storeu_ps(o, m, _mm512_maskz_loadu_ps(m, buf));
      for (i = head; i + 16 <= n; i += 16) _mm512_stream_ps(o + i, _mm512_loadu_ps(buf + i));
    } else {
      for (; i + 16 <= n; i += 16) _mm512_storeu_ps(o + i, _mm512_loadu_ps(buf + i));
    }
    const auto tail = static_cast<__mmask16>((1u << (n - i)) - 1u);  // n - i < 16
    _mm512_mask_storeu_ps(o + i, tail, _mm512_maskz_loadu_ps(tail, buf + i));
  }
  if (stream) _mm_sfence();  // order the streaming stores before the task's completion is published
}

void align_plane_perm(const float* v, std::int64_t plane, int nc, std::int64_t width, const Tap<float>* y_taps,
                      const Tap<float>* x_taps, const std::int64_t* y_begin, const std::int64_t* x_begin,
                      const float* count, const std::int64_t* order, std::int64_t r0, std::int64_t r1,
                      std::int64_t ph_n, std::int64_t pw_n, float* out, std::int64_t k_stride, float* row,
                      std::int64_t row_cap, const PermTables* perm) {
  switch (nc) {
    case 4:
      return align_block_perm<4>(v, plane, width, y_taps, x_taps, y_begin, x_begin, count, order, r0, r1, ph_n, pw_n,
                                 out, k_stride, row, row_cap, *perm);
    case 2:
      return align_block_perm<2>(v, plane, width, y_taps, x_taps, y_begin, x_begin, count, order, r0, r1, ph_n, pw_n,
                                 out, k_stride, row, row_cap, *perm);
    default:
      return align_block_perm<1>(v, plane, width, y_taps, x_taps, y_begin, x_begin, count, order, r0, r1, ph_n, pw_n,
                                 out, k_stride, row, row_cap, *perm);
  }
}
#endif

/// Outputs at least this large are written with streaming stores: they do not fit in the caches,
/// and a store that misses would first read its line from memory (measured: 5% of
/// multi_scale_roi_align's time at 50 MB). Smaller outputs stay cached for the caller.
constexpr std::int64_t kStreamBytes = std::int64_t(16) << 20;

/// The forward body for a bin grid of PW columns: the permute variant where it applies (then
/// `perm` holds its tables), else align_plane's SIMD variant.
template <typename T>
auto align_plane_for(const AlignTables<T>& tab, std::int64_t k_n, std::int64_t c_n, std::int64_t ph_n,
                     std::int64_t pw_n, std::unique_ptr<PermTables>& perm) {
#if FOVEAL_X86_DISPATCH
  if constexpr (std::is_same_v<T, float>)
    if (pw_n <= 16 && simd_level() == SimdLevel::Avx512) {
      perm = std::make_unique<PermTables>(tab.x_taps.data(), tab.x_begin.data(), k_n, pw_n);
      perm->stream = k_n * c_n * ph_n * pw_n * static_cast<std::int64_t>(sizeof(float)) >= kStreamBytes;
      return &align_plane_perm;
    }
#endif
  (void)tab, (void)k_n, (void)c_n, (void)ph_n, (void)pw_n, (void)perm;
  return align_plane<T>();
}

/// Channels per task: the largest of 4, 2, 1 whose planes fit in half of a typical L2 (512 KiB),
/// and that divides C.
template <typename T>
int channel_block(std::int64_t plane, std::int64_t c_n) {
  for (int nc : {4, 2})
    if (c_n % nc == 0 && nc * plane * static_cast<std::int64_t>(sizeof(T)) <= (std::int64_t(1) << 19)) return nc;
  return 1;
}

template <typename T>
void forward(const T* input, const T* rois, T* out, std::int64_t n_n, std::int64_t k_n, std::int64_t c_n,
             std::int64_t height, std::int64_t width, std::int64_t ph_n, std::int64_t pw_n, const RoiAlignParams& p,
             int num_threads) {
  const AlignTables<T> tab(rois, k_n, height, width, ph_n, pw_n, p);
  const RoisByImage by_image(rois, k_n, n_n);
  const std::int64_t plane = height * width, bins = ph_n * pw_n;
  const int nc = channel_block<T>(plane, c_n);
  const std::int64_t blocks = c_n / nc, chunks = ForwardSplit(n_n, blocks, k_n, num_threads).chunks;
  std::unique_ptr<PermTables> perm;
  const auto body = align_plane_for<T>(tab, k_n, c_n, ph_n, pw_n, perm);
  parallel_for_dynamic(0, n_n * blocks * chunks, num_threads, 2, [&](std::int64_t task) {
    const std::int64_t chunk = task % chunks, c = (task / chunks) % blocks * nc, b = task / chunks / blocks;
    const std::int64_t r0 = by_image.first[b], r_n = by_image.first[b + 1] - r0;
    const std::int64_t cap = width + kPad;
    std::vector<T> row(static_cast<std::size_t>(nc * std::max(cap, bins)));  // also align_block_perm's output
    const T* v = input + (b * c_n + c) * plane;
    prefetch_planes(v, plane, nc);
    const bool next = chunks == 1 && c + nc < c_n;  // the next task reads the next nc planes
    run_prefetching_next(r0 + r_n * chunk / chunks, r0 + r_n * (chunk + 1) / chunks, next ? v + nc * plane : nullptr,
                         nc * plane, [&](std::int64_t lo, std::int64_t hi) {
                           body(v, plane, nc, width, tab.y_taps.data(), tab.x_taps.data(), tab.y_begin.data(),
                                tab.x_begin.data(), tab.count.data(), by_image.order.data(), lo, hi, ph_n, pw_n,
                                out + c * bins, c_n * bins, row.data(), cap, perm.get());
                         });
  });
}

// Channels-last input (memory N, H, W, C): every bilinear corner is a contiguous vector of
// channels, so the channel loop is the vector loop and each sample is torchvision's four-corner
// sum. Tasks are (channel block, RoI chunk) with the block's slice of the maps small enough to
// stay in the last-level cache while all RoIs visit it; a task sums a bin's samples for its
// block in a local vector and writes the bin to `out` (K, C, PH, PW).
constexpr std::int64_t kNhwcBlock = 64;

template <typename T>
FOVEAL_ALWAYS_INLINE void align_nhwc_body(const T* map, std::int64_t width, std::int64_t c_n, std::int64_t cb,
                                          const Tap<T>* y_taps, const Tap<T>* x_taps, const std::int64_t* yb,
                                          const std::int64_t* xb, T inv, std::int64_t ph_n, std::int64_t pw_n,
                                          T* o, std::int64_t bins) {
  T acc[kNhwcBlock];
  for (std::int64_t ph = 0; ph < ph_n; ++ph)
    for (std::int64_t pw = 0; pw < pw_n; ++pw) {
      for (std::int64_t c = 0; c < cb; ++c) acc[c] = T(0);
      for (std::int64_t i = yb[ph]; i < yb[ph + 1]; ++i) {
        const Tap<T>& ty = y_taps[i];
        const T* lo = map + ty.lo * width * c_n;
        const T* hi = map + ty.hi * width * c_n;
        for (std::int64_t j = xb[pw]; j < xb[pw + 1]; ++j) {
          const Tap<T>& tx = x_taps[j];
          const T w1 = ty.w_lo * tx.w_lo, w2 = ty.w_lo * tx.w_hi, w3 = ty.w_hi * tx.w_lo, w4 = ty.w_hi * tx.w_hi;
          const T *p1 = lo + tx.lo * c_n, *p2 = lo + tx.hi * c_n, *p3 = hi + tx.lo * c_n, *p4 = hi + tx.hi * c_n;
#pragma omp simd
          for (std::int64_t c = 0; c < cb; ++c) acc[c] += w1 * p1[c] + w2 * p2[c] + w3 * p3[c] + w4 * p4[c];
        }
      }
      T* ob = o + ph * pw_n + pw;
      for (std::int64_t c = 0; c < cb; ++c) ob[c * bins] = acc[c] * inv;
    }
}
FOVEAL_SIMD_VARIANTS(align_nhwc, align_nhwc_body,
                     (const T* map, std::int64_t width, std::int64_t c_n, std::int64_t cb, const Tap<T>* y_taps,
                      const Tap<T>* x_taps, const std::int64_t* yb, const std::int64_t* xb, T inv, std::int64_t ph_n,
                      std::int64_t pw_n, T* o, std::int64_t bins),
                     (map, width, c_n, cb, y_taps, x_taps, yb, xb, inv, ph_n, pw_n, o, bins))

// The channels-last forward: tasks over (64-channel block, RoI chunk); RoI k reads level
// level[k] of `maps` (none when negative: zeroed by the caller), or level 0 without `level`.
template <typename T>
void nhwc_forward(const T* const* maps, const std::int64_t* heights, const std::int64_t* widths, const T* rois,
                  const std::int64_t* level, const AlignTables<T>& tab, T* out, std::int64_t k_n, std::int64_t c_n,
                  std::int64_t ph_n, std::int64_t pw_n, int num_threads) {
  const std::int64_t bins = ph_n * pw_n, blocks = (c_n + kNhwcBlock - 1) / kNhwcBlock;
  const std::int64_t want = 8 * static_cast<std::int64_t>(max_threads(num_threads));  // tasks, for balance
  const std::int64_t chunks = std::max<std::int64_t>(1, std::min(k_n, (want + blocks - 1) / blocks));
  const auto body = align_nhwc<T>();
  parallel_for_dynamic(0, blocks * chunks, num_threads, 1, [&](std::int64_t task) {
    const std::int64_t blk = task / chunks, chunk = task % chunks, c0 = blk * kNhwcBlock;
    const std::int64_t cb = std::min(kNhwcBlock, c_n - c0);
    for (std::int64_t k = k_n * chunk / chunks; k < k_n * (chunk + 1) / chunks; ++k) {
      const std::int64_t l = level ? level[k] : 0;
      if (l < 0) continue;
      const T* map = maps[l] + static_cast<std::int64_t>(rois[5 * k]) * heights[l] * widths[l] * c_n + c0;
      body(map, widths[l], c_n, cb, tab.y_taps.data(), tab.x_taps.data(), tab.y_begin.data() + k * (ph_n + 1),
           tab.x_begin.data() + k * (pw_n + 1), T(1) / tab.count[k], ph_n, pw_n, out + (k * c_n + c0) * bins, bins);
    }
  });
}

template <typename T>
void forward_nhwc(const T* input, const T* rois, T* out, std::int64_t k_n, std::int64_t c_n, std::int64_t height,
                  std::int64_t width, std::int64_t ph_n, std::int64_t pw_n, const RoiAlignParams& p, int num_threads) {
  const AlignTables<T> tab(rois, k_n, height, width, ph_n, pw_n, p);
  nhwc_forward(&input, &height, &width, rois, nullptr, tab, out, k_n, c_n, ph_n, pw_n, num_threads);
}

// Multi-scale: tasks over (level, image, channel block, RoI chunk); each RoI of the group is pooled from
// its level's plane straight into its own row of `out` (no per-level outputs, no gather).
template <typename T>
void multi_scale_forward(const ConstTensorView* features, const PyramidPlan& plan, const T* rois, T* out,
                         std::int64_t k_n, std::int64_t ph_n, std::int64_t pw_n, const MultiScaleRoiAlignParams& p,
                         int num_threads) {
  const std::int64_t n_n = features[0].size(0), c_n = features[0].size(1);
  const T* maps[kMaxPyramidLevels];
  std::int64_t heights[kMaxPyramidLevels], widths[kMaxPyramidLevels];
  for (int l = 0; l < plan.levels; ++l)
    maps[l] = features[l].data_as<T>(), heights[l] = features[l].size(2), widths[l] = features[l].size(3);
  const std::int64_t bins = ph_n * pw_n, groups = plan.levels * n_n;
  std::vector<std::int64_t> level(static_cast<std::size_t>(k_n)), key(static_cast<std::size_t>(k_n));
  for (std::int64_t k = 0; k < k_n; ++k) {
    const T* r = rois + 5 * k;
    level[k] = math::fpn_roi_level(r, plan.k_min, plan.k_max, p.canonical_scale, p.canonical_level, plan.levels);
    key[k] = level[k] < 0 ? -1 : level[k] * n_n + static_cast<std::int64_t>(r[0]);
    if (level[k] < 0) std::fill_n(out + k * c_n * bins, c_n * bins, T(0));  // pooled from no level
  }
  const AlignTables<T> tab(rois, k_n, ph_n, pw_n, p.sampling_ratio, p.aligned,
                           [&](std::int64_t k, double& scale, std::int64_t& h, std::int64_t& w) {
                             if (level[k] < 0) return false;
                             scale = plan.scale[level[k]], h = heights[level[k]], w = widths[level[k]];
                             return true;
                           });
  if (!features[0].is_contiguous()) {  // channels-last pyramid (the front end checks every level)
    nhwc_forward(maps, heights, widths, rois, level.data(), tab, out, k_n, c_n, ph_n, pw_n, num_threads);
    return;
  }
  const RoisByImage by_group(key.data(), k_n, groups);
  // Tasks: per group (level, image) with RoIs, its level's channel blocks x RoI chunks; a level's
  // channel block is chosen from its own plane size, as roi_align does. task_first[g] is the first
  // task of group g.
  int nc[kMaxPyramidLevels];
  for (int l = 0; l < plan.levels; ++l) nc[l] = channel_block<T>(heights[l] * widths[l], c_n);
  std::int64_t busy = 0;
  for (std::int64_t g = 0; g < groups; ++g) busy += by_group.first[g + 1] > by_group.first[g];
  const std::int64_t chunks = ForwardSplit(busy, c_n / nc[0], k_n, num_threads).chunks;
  std::vector<std::int64_t> task_first(static_cast<std::size_t>(groups + 1), 0);
  for (std::int64_t g = 0; g < groups; ++g) {
    const bool has = by_group.first[g + 1] > by_group.first[g];
    task_first[g + 1] = task_first[g] + (has ? c_n / nc[g / n_n] * chunks : 0);
  }
  const std::int64_t max_width = *std::max_element(widths, widths + plan.levels);
  std::unique_ptr<PermTables> perm;
  const auto body = align_plane_for<T>(tab, k_n, c_n, ph_n, pw_n, perm);
  parallel_for_dynamic(0, task_first[groups], num_threads, 2, [&](std::int64_t task) {
    const std::int64_t g = std::upper_bound(task_first.begin(), task_first.end(), task) - task_first.begin() - 1;
    const std::int64_t l = g / n_n, b = g % n_n, width = widths[l], plane = heights[l] * width;
    const std::int64_t local = task - task_first[g], chunk = local % chunks, c = local / chunks * nc[l];
    const std::int64_t r0 = by_group.first[g], r_n = by_group.first[g + 1] - r0;
    const std::int64_t cap = max_width + kPad;
    std::vector<T> row(static_cast<std::size_t>(nc[l] * std::max(cap, bins)));  // also align_block_perm's output
    const T* v = maps[l] + (b * c_n + c) * plane;
    prefetch_planes(v, plane, nc[l]);
    const bool next = chunks == 1 && c + nc[l] < c_n;  // the next task reads the next planes of this map
    run_prefetching_next(r0 + r_n * chunk / chunks, r0 + r_n * (chunk + 1) / chunks,
                         next ? v + nc[l] * plane : nullptr, nc[l] * plane, [&](std::int64_t lo, std::int64_t hi) {
                           body(v, plane, nc[l], width, tab.y_taps.data(), tab.x_taps.data(), tab.y_begin.data(),
                                tab.x_begin.data(), tab.count.data(), by_group.order.data(), lo, hi, ph_n, pw_n,
                                out + c * bins, c_n * bins, row.data(), cap, perm.get());
                         });
  });
}

template <typename T>
void backward(const T* grad_out, const T* rois, T* grad_in, std::int64_t n_n, std::int64_t k_n, std::int64_t c_n,
              std::int64_t height, std::int64_t width, std::int64_t ph_n, std::int64_t pw_n, const RoiAlignParams& p,
              int num_threads) {
  const std::int64_t plane = height * width, bins = ph_n * pw_n;
  std::memset(grad_in, 0, sizeof(T) * static_cast<std::size_t>(n_n * c_n * plane));
  const AlignTables<T> tab(rois, k_n, height, width, ph_n, pw_n, p);
  parallel_for_dynamic(0, c_n, num_threads, 2, [&](std::int64_t c) {
    for (std::int64_t k = 0; k < k_n; ++k) {
      T* gi = grad_in + (static_cast<std::int64_t>(rois[5 * k]) * c_n + c) * plane;
      const T* go = grad_out + (k * c_n + c) * bins;
      const std::int64_t* yb = tab.y_begin.data() + k * (ph_n + 1);
      const std::int64_t* xb = tab.x_begin.data() + k * (pw_n + 1);
      const T count = tab.count[k];
      for (std::int64_t ph = 0; ph < ph_n; ++ph)
        for (std::int64_t pw = 0; pw < pw_n; ++pw) {
          const T g = go[ph * pw_n + pw];
          for (std::int64_t i = yb[ph]; i < yb[ph + 1]; ++i) {
            const Tap<T>& ty = tab.y_taps[i];
            T* lo = gi + ty.lo * width;
            T* hi = gi + ty.hi * width;
            for (std::int64_t j = xb[pw]; j < xb[pw + 1]; ++j) {
              const Tap<T>& tx = tab.x_taps[j];
              const T w1 = ty.w_lo * tx.w_lo, w2 = ty.w_lo * tx.w_hi, w3 = ty.w_hi * tx.w_lo, w4 = ty.w_hi * tx.w_hi;
              // torchvision's rounding: (g * w) / count per corner
              lo[tx.lo] += g * w1 / count;
              lo[tx.hi] += g * w2 / count;
              hi[tx.lo] += g * w3 / count;
              hi[tx.hi] += g * w4 / count;
            }
          }
        }
    }
  });
}

}  // namespace

void roi_align(ConstTensorView input, ConstTensorView rois, TensorView out, const RoiAlignParams& params,
               const ExecContext& ctx) {
  const std::int64_t n = input.size(0), c = input.size(1), h = input.size(2), w = input.size(3);
  const std::int64_t k = rois.size(0), ph = out.size(2), pw = out.size(3);
  if (!input.is_contiguous()) {  // channels-last (the front end admits no other layout)
    if (input.dtype() == DType::Float32)
      forward_nhwc(input.data_as<float>(), rois.data_as<float>(), out.data_as<float>(), k, c, h, w, ph, pw, params,
                   ctx.num_threads);
    else
      forward_nhwc(input.data_as<double>(), rois.data_as<double>(), out.data_as<double>(), k, c, h, w, ph, pw, params,
                   ctx.num_threads);
    return;
  }
  if (input.dtype() == DType::Float32)
    forward(input.data_as<float>(), rois.data_as<float>(), out.data_as<float>(), n, k, c, h, w, ph, pw, params,
            ctx.num_threads);
  else
    forward(input.data_as<double>(), rois.data_as<double>(), out.data_as<double>(), n, k, c, h, w, ph, pw, params,
            ctx.num_threads);
}

void multi_scale_roi_align(const ConstTensorView* features, const PyramidPlan& plan, ConstTensorView rois,
                           TensorView out, const MultiScaleRoiAlignParams& params, const ExecContext& ctx) {
  const std::int64_t k = rois.size(0), ph = out.size(2), pw = out.size(3);
  if (out.dtype() == DType::Float32)
    multi_scale_forward(features, plan, rois.data_as<float>(), out.data_as<float>(), k, ph, pw, params,
                        ctx.num_threads);
  else
    multi_scale_forward(features, plan, rois.data_as<double>(), out.data_as<double>(), k, ph, pw, params,
                        ctx.num_threads);
}

void roi_align_backward(ConstTensorView grad_output, ConstTensorView rois, TensorView grad_input,
                        const RoiAlignParams& params, const ExecContext& ctx) {
  const std::int64_t n = grad_input.size(0), c = grad_input.size(1), h = grad_input.size(2), w = grad_input.size(3);
  const std::int64_t k = rois.size(0), ph = grad_output.size(2), pw = grad_output.size(3);
  if (grad_input.dtype() == DType::Float32)
    backward(grad_output.data_as<float>(), rois.data_as<float>(), grad_input.data_as<float>(), n, k, c, h, w, ph, pw,
             params, ctx.num_threads);
  else
    backward(grad_output.data_as<double>(), rois.data_as<double>(), grad_input.data_as<double>(), n, k, c, h, w, ph,
             pw, params, ctx.num_threads);
}

}  // namespace foveal::cpu
