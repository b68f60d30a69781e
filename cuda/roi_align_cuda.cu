// SPDX-License-Identifier: Apache-2.0
// RoIAlign on the GPU, from the same math::roi_align_bins / bilinear_axis / bilinear_weights as
// the CPU, summing a bin's samples in torchvision's order (equal to torchvision's CPU result with
// --fmad=false). 16-bit maps are read and written in their type and computed in float32.
// Forward (roi_align and multi_scale_roi_align): one warp per (RoI, channel). Its lanes take
// consecutive sample columns of one sample row, so the four taps of neighbouring lanes lie in the
// same map row (coalesced), and bins of 2 or more bin rows at once when a row of samples leaves
// lanes free; each lane computes its column's x tap once, the y taps are computed once per RoI
// and fetched by shuffle; a sample's 4-corner term is formed by its lane and the bin's first lane
// adds its columns' terms in order (shuffles), which is torchvision's summation order. A block
// takes one channel plane and a long run of RoIs (up to 512; one block of 16 or 24 warps per SM),
// so the plane's pixels are reused from L1 across the RoIs (best when RoIs come sorted by image,
// as detectors give them). Bins whose grid is wider than 32 or taller than 64
// samples fall back to one lane per bin. Backward: one thread per grad_output element (atomics).
#include <climits>

#include "foveal/math/roi.hpp"
#include "ops/backend.hpp"
#include "roi_common.cuh"

namespace foveal::cuda {
namespace {

constexpr int kThreads = 256;         // backward blocks
constexpr int kWarps = 24;            // forward: warps per block (one block per SM)
constexpr std::int64_t kMaxRoisPerBlock = 512;  // forward: RoIs of one channel per block, at most
constexpr unsigned kFull = 0xffffffffu;

struct Dims {
  std::int64_t n, c, h, w, ph, pw, total;
};

// Sum of the bilinear samples of bin (ph, pw) of a RoI on the map `v` (h x w), in torchvision's
// order (the fallback of align_roi).
template <typename S, typename A>
__device__ __forceinline__ A align_bin_sum(const S* __restrict__ v, std::int64_t h, std::int64_t w,
                                           const math::RoiAlignBins<A>& bins, std::int64_t ph, std::int64_t pw) {
  A acc = A(0);
  std::int64_t y0, y1, x0, x1;
  math::roi_align_sample_range(bins.start_h, bins.bin_h, ph, bins.grid_h, h, y0, y1);
  math::roi_align_sample_range(bins.start_w, bins.bin_w, pw, bins.grid_w, w, x0, x1);
  for (std::int64_t iy = y0; iy < y1; ++iy) {
    math::AxisTap<A> ty;
    if (!math::bilinear_axis(math::roi_align_sample(bins.start_h, bins.bin_h, ph, iy, bins.grid_h), h, ty)) continue;
    for (std::int64_t ix = x0; ix < x1; ++ix) {
      math::AxisTap<A> tx;
      if (!math::bilinear_axis(math::roi_align_sample(bins.start_w, bins.bin_w, pw, ix, bins.grid_w), w, tx))
        continue;
      A w1, w2, w3, w4;
      math::bilinear_weights(ty, tx, w1, w2, w3, w4);
      acc += w1 * roi::load(v + ty.lo * w + tx.lo) + w2 * roi::load(v + ty.lo * w + tx.hi) +
             w3 * roi::load(v + ty.hi * w + tx.lo) + w4 * roi::load(v + ty.hi * w + tx.hi);
    }
  }
  return acc;
}

// Tap of sample i of bin p along one axis (false: outside the map, no contribution); lo and hi
// are pixel indices in int (the caller's map has at most INT_MAX pixels).
template <typename A>
__device__ __forceinline__ bool axis_tap(A start, A bin, int p, int i, std::int64_t grid, std::int64_t size, int& lo,
                                         int& hi, A& w_lo, A& w_hi) {
  math::AxisTap<A> t;
  if (!math::bilinear_axis(math::roi_align_sample(start, bin, std::int64_t(p), std::int64_t(i), grid), size, t))
    return false;
  lo = static_cast<int>(t.lo), hi = static_cast<int>(t.hi), w_lo = t.w_lo, w_hi = t.w_hi;
  return true;
}

// The ph_n x pw_n bins of one RoI on the map `v` (h x w) into out[ph * pw_n + pw], by the whole
// warp (every branch around a shuffle is warp-uniform: it depends on the RoI only).
// Lanes: groups of `span` lanes, group g on bin row ph0 + g, lane col of it on sample column
// col % gw of bin pw0 + col / gw. Per sample row iy, lane forms its sample's term t (0 when the
// sample is off the map, which adds exactly nothing: acc starts at +0 and never becomes -0), and
// the bin's first lane (col % gw == 0) adds its own term, then those of the next gw - 1 lanes.
template <typename S, typename A>
__device__ __forceinline__ void align_roi(const S* __restrict__ v, std::int64_t h, std::int64_t w,
                                          const math::RoiAlignBins<A>& bins, std::int64_t ph_n64, std::int64_t pw_n64,
                                          S* __restrict__ out, int lane) {
  const std::int64_t bins_n = ph_n64 * pw_n64;
  if (!(bins.grid_w >= 1 && bins.grid_w <= 32 && bins.grid_h >= 1 && bins.grid_h <= 64 && h * w <= INT_MAX &&
        bins_n <= INT_MAX - 64)) {
    for (std::int64_t e = lane; e < bins_n; e += 32) {
      const std::int64_t ph = e / pw_n64, pw = e - ph * pw_n64;
      roi::store(out + e, align_bin_sum(v, h, w, bins, ph, pw) / bins.count);
    }
    return;
  }
  const int gw = static_cast<int>(bins.grid_w), gh = static_cast<int>(bins.grid_h);
  const int ph_n = static_cast<int>(ph_n64), pw_n = static_cast<int>(pw_n64);
  const int per_pass = pw_n < 32 / gw ? pw_n : 32 / gw;  // bins per column pass
  const int span = per_pass * gw;                        // lanes of a group
  const int groups = 32 / span < ph_n ? 32 / span : ph_n;  // bin rows per row pass
  const int g = lane / span, col = lane - g * span, ix = col % gw;
  const int width = static_cast<int>(w);
  // y taps: sample row r = ph * gh + iy held by lane r when they fit in the warp.
  const bool y_shared = std::int64_t(ph_n) * gh <= 32;
  int r_lo = 0, r_hi = 0, r_ok = 0;
  A r_wl = A(0), r_wh = A(0);
  if (y_shared && lane < ph_n * gh)
    r_ok = axis_tap(bins.start_h, bins.bin_h, lane / gh, lane % gh, bins.grid_h, h, r_lo, r_hi, r_wl, r_wh);
  for (int pw0 = 0; pw0 < pw_n; pw0 += per_pass) {
    const int pw = pw0 + col / gw;
    const bool col_ok = g < groups && pw < pw_n;
    int x_lo = 0, x_hi = 0;
    A x_wl = A(0), x_wh = A(0);
    const bool x_ok = col_ok && axis_tap(bins.start_w, bins.bin_w, pw, ix, bins.grid_w, w, x_lo, x_hi, x_wl, x_wh);
    for (int ph0 = 0; ph0 < ph_n; ph0 += groups) {
      const int ph = ph0 + g;
      const bool row_ok = g < groups && ph < ph_n;
      A acc = A(0);
      for (int iy = 0; iy < gh; ++iy) {
        int y_lo = 0, y_hi = 0;
        A y_wl = A(0), y_wh = A(0);
        bool y_ok;
        if (y_shared) {
          const int src = row_ok ? ph * gh + iy : 0;
          y_lo = __shfl_sync(kFull, r_lo, src), y_hi = __shfl_sync(kFull, r_hi, src);
          y_wl = __shfl_sync(kFull, r_wl, src), y_wh = __shfl_sync(kFull, r_wh, src);
          const int ok = __shfl_sync(kFull, r_ok, src);  // every lane shuffles (no short circuit)
          y_ok = row_ok && ok != 0;
        } else {
          y_ok = row_ok && axis_tap(bins.start_h, bins.bin_h, ph, iy, bins.grid_h, h, y_lo, y_hi, y_wl, y_wh);
        }
        A t = A(0);
        if (x_ok && y_ok) {
          const math::AxisTap<A> ty{0, 0, y_wl, y_wh}, tx{0, 0, x_wl, x_wh};
          A w1, w2, w3, w4;
          math::bilinear_weights(ty, tx, w1, w2, w3, w4);
          const S* lo = v + y_lo * width;
          const S* hi = v + y_hi * width;
          t = w1 * roi::load(lo + x_lo) + w2 * roi::load(lo + x_hi) + w3 * roi::load(hi + x_lo) +
              w4 * roi::load(hi + x_hi);
        }
        acc += t;
        for (int d = 1; d < gw; ++d) {
          const A u = __shfl_down_sync(kFull, t, d);
          if (ix == 0) acc += u;
        }
      }
      if (row_ok && col_ok && ix == 0) roi::store(out + ph * pw_n + pw, acc / bins.count);
    }
  }
}

// Forward blocks: block blk (grid-stride over c_n * chunks) takes channel blk / chunks and RoIs
// [k0, k1) of chunk blk % chunks; its warps take those RoIs in turn. fn(k, c, lane) runs a RoI.
template <int kW, typename F>
__device__ __forceinline__ void for_each_roi(std::int64_t c_n, std::int64_t num_rois, std::int64_t chunks, F fn) {
  const int lane = static_cast<int>(threadIdx.x) & 31, warp = static_cast<int>(threadIdx.x) >> 5;
  for (std::int64_t blk = blockIdx.x; blk < c_n * chunks; blk += gridDim.x) {
    const std::int64_t c = blk / chunks, chunk = blk - c * chunks;
    const std::int64_t k0 = num_rois * chunk / chunks, k1 = num_rois * (chunk + 1) / chunks;
    for (std::int64_t k = k0 + warp; k < k1; k += kW) fn(k, c, lane);
  }
}

template <int kW, typename S, typename A>
__global__ void __launch_bounds__(kW * 32, 1)
    roi_align_kernel(const S* __restrict__ input, const A* __restrict__ rois, S* __restrict__ out, Dims d,
                     std::int64_t num_rois, std::int64_t chunks, A scale, int sampling_ratio, bool aligned) {
  const std::int64_t bins_n = d.ph * d.pw;
  for_each_roi<kW>(d.c, num_rois, chunks, [&](std::int64_t k, std::int64_t c, int lane) {
    const A* roi = rois + 5 * k;
    const std::int64_t b = roi::batch_index(roi[0], d.n);
    S* o = out + (k * d.c + c) * bins_n;
    if (b < 0) {
      for (std::int64_t e = lane; e < bins_n; e += 32) roi::store(o + e, A(0));
      return;
    }
    const auto bins = math::roi_align_bins(roi, scale, d.ph, d.pw, sampling_ratio, aligned);
    align_roi(input + (b * d.c + c) * d.h * d.w, d.h, d.w, bins, d.ph, d.pw, o, lane);
  });
}

// The pyramid of multi_scale_roi_align, by value (kernel parameter space).
struct Pyramid {
  const void* maps[kMaxPyramidLevels];
  std::int64_t h[kMaxPyramidLevels], w[kMaxPyramidLevels];
  double scale[kMaxPyramidLevels];
  int levels, k_min, k_max, canonical_scale, canonical_level;
};

// roi_align's warp per (RoI, channel) on the RoI's level (math::fpn_roi_level), written at the
// RoI's own row of `out`; a RoI of no level (or a bad batch index) gives zeros.
template <int kW, typename S, typename A>
__global__ void __launch_bounds__(kW * 32, 1)
    multi_scale_roi_align_kernel(Pyramid pyr, const A* __restrict__ rois, S* __restrict__ out, Dims d,
                                 std::int64_t num_rois, std::int64_t chunks, int sampling_ratio, bool aligned) {
  const std::int64_t bins_n = d.ph * d.pw;
  for_each_roi<kW>(d.c, num_rois, chunks, [&](std::int64_t k, std::int64_t c, int lane) {
    const A* roi = rois + 5 * k;
    const std::int64_t b = roi::batch_index(roi[0], d.n);
    const int l = math::fpn_roi_level(roi, pyr.k_min, pyr.k_max, pyr.canonical_scale, pyr.canonical_level,
                                      pyr.levels);
    S* o = out + (k * d.c + c) * bins_n;
    if (b < 0 || l < 0) {
      for (std::int64_t e = lane; e < bins_n; e += 32) roi::store(o + e, A(0));
      return;
    }
    const auto bins =
        math::roi_align_bins(roi, static_cast<A>(pyr.scale[l]), d.ph, d.pw, sampling_ratio, aligned);
    const std::int64_t h = pyr.h[l], w = pyr.w[l];
    align_roi(static_cast<const S*>(pyr.maps[l]) + (b * d.c + c) * h * w, h, w, bins, d.ph, d.pw, o, lane);
  });
}

template <typename S, typename A, typename G>
__global__ void roi_align_backward_kernel(const S* __restrict__ grad_out, const A* __restrict__ rois,
                                          G* __restrict__ grad_in, Dims d, A scale, int sampling_ratio,
                                          bool aligned) {
  for (std::int64_t idx = std::int64_t(blockIdx.x) * blockDim.x + threadIdx.x; idx < d.total;
       idx += std::int64_t(gridDim.x) * blockDim.x) {
    const std::int64_t pw = idx % d.pw, ph = (idx / d.pw) % d.ph, c = (idx / d.pw / d.ph) % d.c;
    const std::int64_t k = idx / d.pw / d.ph / d.c;
    const A* roi = rois + 5 * k;
    const std::int64_t b = roi::batch_index(roi[0], d.n);
    if (b < 0) continue;
    const auto bins = math::roi_align_bins(roi, scale, d.ph, d.pw, sampling_ratio, aligned);
    const A g = roi::load(grad_out + idx);
    G* gi = grad_in + (b * d.c + c) * d.h * d.w;
    std::int64_t y0, y1, x0, x1;
    math::roi_align_sample_range(bins.start_h, bins.bin_h, ph, bins.grid_h, d.h, y0, y1);
    math::roi_align_sample_range(bins.start_w, bins.bin_w, pw, bins.grid_w, d.w, x0, x1);
    for (std::int64_t iy = y0; iy < y1; ++iy) {
      math::AxisTap<A> ty;
      if (!math::bilinear_axis(math::roi_align_sample(bins.start_h, bins.bin_h, ph, iy, bins.grid_h), d.h, ty))
        continue;
      for (std::int64_t ix = x0; ix < x1; ++ix) {
        math::AxisTap<A> tx;
        if (!math::bilinear_axis(math::roi_align_sample(bins.start_w, bins.bin_w, pw, ix, bins.grid_w), d.w, tx))
          continue;
        A w1, w2, w3, w4;
        math::bilinear_weights(ty, tx, w1, w2, w3, w4);
        atomicAdd(gi + ty.lo * d.w + tx.lo, static_cast<G>(g * w1 / bins.count));
        atomicAdd(gi + ty.lo * d.w + tx.hi, static_cast<G>(g * w2 / bins.count));
        atomicAdd(gi + ty.hi * d.w + tx.lo, static_cast<G>(g * w3 / bins.count));
        atomicAdd(gi + ty.hi * d.w + tx.hi, static_cast<G>(g * w4 / bins.count));
      }
    }
  }
}

// Forward warps per block: 24 (768 threads, up to 80 registers) where the arithmetic is float,
// 16 for double (its taps and sums take more registers) and for multi_scale_roi_align (the level
// lookup); fewer registers would spill.
template <typename A>
constexpr int forward_warps() {
  return sizeof(A) == 4 ? kWarps : 16;
}

// Prefer L1 over shared memory (the forward kernels use none): the plane's pixels stay cached.
template <typename K>
void prefer_l1(K kernel) {
  FOVEAL_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributePreferredSharedMemoryCarveout,
                                         static_cast<int>(cudaSharedmemCarveoutMaxL1)));
}

template <typename S, typename A>
void forward(ConstTensorView input, ConstTensorView rois, TensorView out, const RoiAlignParams& p, cudaStream_t st) {
  const Dims d{input.size(0), input.size(1), input.size(2), input.size(3), out.size(2), out.size(3), out.numel()};
  if (d.total == 0) return;
  constexpr int kW = forward_warps<A>();
  const std::int64_t num_rois = out.size(0), chunks = roi::forward_chunks(num_rois, d.c, kMaxRoisPerBlock);
  prefer_l1(roi_align_kernel<kW, S, A>);
  roi_align_kernel<kW, S, A><<<blocks_for(d.c * chunks, 1), kW * 32, 0, st>>>(
      static_cast<const S*>(input.data()), static_cast<const A*>(rois.data()), static_cast<S*>(out.data()), d,
      num_rois, chunks, static_cast<A>(p.spatial_scale), p.sampling_ratio, p.aligned);
  FOVEAL_CUDA_CHECK(cudaGetLastError());
}

template <typename S, typename A>
void multi_scale_forward(const ConstTensorView* features, const PyramidPlan& plan, ConstTensorView rois,
                         TensorView out, const MultiScaleRoiAlignParams& p, cudaStream_t st) {
  Pyramid pyr{};
  for (int l = 0; l < plan.levels; ++l) {
    pyr.maps[l] = features[l].data();
    pyr.h[l] = features[l].size(2), pyr.w[l] = features[l].size(3), pyr.scale[l] = plan.scale[l];
  }
  pyr.levels = plan.levels, pyr.k_min = plan.k_min, pyr.k_max = plan.k_max;
  pyr.canonical_scale = p.canonical_scale, pyr.canonical_level = p.canonical_level;
  const Dims d{features[0].size(0), features[0].size(1), 0, 0, out.size(2), out.size(3), out.numel()};
  if (d.total == 0) return;
  constexpr int kW = 16;
  const std::int64_t num_rois = out.size(0), chunks = roi::forward_chunks(num_rois, d.c, kMaxRoisPerBlock);
  prefer_l1(multi_scale_roi_align_kernel<kW, S, A>);
  multi_scale_roi_align_kernel<kW, S, A><<<blocks_for(d.c * chunks, 1), kW * 32, 0, st>>>(
      pyr, static_cast<const A*>(rois.data()), static_cast<S*>(out.data()), d, num_rois, chunks, p.sampling_ratio,
      p.aligned);
  FOVEAL_CUDA_CHECK(cudaGetLastError());
}

template <typename S, typename A>
void backward(ConstTensorView grad_output, ConstTensorView rois, TensorView grad_input, const RoiAlignParams& p,
              cudaStream_t st) {
  const Dims d{grad_input.size(0), grad_input.size(1), grad_input.size(2), grad_input.size(3),
               grad_output.size(2), grad_output.size(3), grad_output.numel()};
  roi::GradBuffer<S> buf(static_cast<S*>(grad_input.data()), grad_input.numel(), st);
  if (d.total > 0) {
    roi_align_backward_kernel<S, A><<<blocks_for(d.total, kThreads), kThreads, 0, st>>>(
        static_cast<const S*>(grad_output.data()), static_cast<const A*>(rois.data()), buf.get(), d,
        static_cast<A>(p.spatial_scale), p.sampling_ratio, p.aligned);
    FOVEAL_CUDA_CHECK(cudaGetLastError());
  }
  buf.finish();
}

}  // namespace

void roi_align(ConstTensorView input, ConstTensorView rois, TensorView out, const RoiAlignParams& params,
               const ExecContext& ctx) {
  DeviceGuard guard(input.device().index);
  const cudaStream_t st = stream_of(ctx);
  switch (input.dtype()) {
    case DType::Float16: return forward<__half, float>(input, rois, out, params, st);
    case DType::BFloat16: return forward<__nv_bfloat16, float>(input, rois, out, params, st);
    case DType::Float32: return forward<float, float>(input, rois, out, params, st);
    default: return forward<double, double>(input, rois, out, params, st);
  }
}

void multi_scale_roi_align(const ConstTensorView* features, const PyramidPlan& plan, ConstTensorView rois,
                           TensorView out, const MultiScaleRoiAlignParams& params, const ExecContext& ctx) {
  DeviceGuard guard(out.device().index);
  const cudaStream_t st = stream_of(ctx);
  switch (out.dtype()) {
    case DType::Float16: return multi_scale_forward<__half, float>(features, plan, rois, out, params, st);
    case DType::BFloat16: return multi_scale_forward<__nv_bfloat16, float>(features, plan, rois, out, params, st);
    case DType::Float32: return multi_scale_forward<float, float>(features, plan, rois, out, params, st);
    default: return multi_scale_forward<double, double>(features, plan, rois, out, params, st);
  }
}

void roi_align_backward(ConstTensorView grad_output, ConstTensorView rois, TensorView grad_input,
                        const RoiAlignParams& params, const ExecContext& ctx) {
  DeviceGuard guard(grad_input.device().index);
  const cudaStream_t st = stream_of(ctx);
  switch (grad_input.dtype()) {
    case DType::Float16: return backward<__half, float>(grad_output, rois, grad_input, params, st);
    case DType::BFloat16: return backward<__nv_bfloat16, float>(grad_output, rois, grad_input, params, st);
    case DType::Float32: return backward<float, float>(grad_output, rois, grad_input, params, st);
    default: return backward<double, double>(grad_output, rois, grad_input, params, st);
  }
}

}  // namespace foveal::cuda
