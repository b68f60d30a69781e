// SPDX-License-Identifier: Apache-2.0
// RoIPool on the GPU, from the CPU's math::roi_pool_span. Forward: one warp per (RoI, channel).
// For up to kRowsPerPass bin rows at a time, the lanes sweep the RoI's columns (adjacent lanes
// read adjacent pixels of a map row, so every load is coalesced) and keep each column's maximum
// over the bin row's rows, and its first row, in shared memory; then one lane per bin reduces the
// bin's columns. A block (16 warps: one per SM at ~120 registers) takes one channel and a long
// run of RoIs (up to 512), so the plane's pixels are reused from L1 across RoIs rather than read
// from L2 for each RoI (the bound of this op: it reads every pixel of every RoI's box). RoIs
// wider than kCols columns fall back to one lane per bin scanning the map.
// Backward: one thread per grad_output element (atomics at the argmax).
#include <cfloat>
#include <climits>

#include "foveal/math/roi.hpp"
#include "ops/backend.hpp"
#include "roi_common.cuh"

namespace foveal::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int kWarps = 16;                  // warps per block of the forward kernel
constexpr int kRowsPerPass = 2;             // bin rows staged at once (16 warps' stages: 33 KB)
constexpr int kSlots = 4;                   // staged columns per lane
constexpr std::int64_t kCols = 32 * kSlots;  // widest RoI (map columns) staged in shared memory
constexpr std::int64_t kMaxRoisPerBlock = 512;  // RoIs of one channel per block, at most

struct Dims {
  std::int64_t n, c, h, w, ph, pw, total;
};

/// One warp's staging area: for staged bin row g and RoI column j, the column's maximum over the
/// bin row's rows and the first map row holding it (-1 while the maximum is still -FLT_MAX).
/// Rows padded by one 4-byte word, so that the lanes of one bin column in different staged rows
/// read different banks (double, 8-byte words, stays unpadded).
template <typename A>
struct Stage {
  static constexpr std::int64_t kStride = kCols + (sizeof(A) == 4 ? 1 : 0);
  A m[kRowsPerPass][kStride];
  int row[kRowsPerPass][kStride];
};

// Column maxima of one bin row: lane `lane` takes columns lane + 32 q (q < kUsed, those below
// `width`) of the n map rows from `p` (the bin row's first row at the RoI's first column). Rows
// go in increasing order, kRows at a time with all their loads issued before any compare (up to
// kUsed * kRows loads in flight), so `first` is the first row holding the maximum.
template <int kUsed, typename S, typename A>
__device__ __forceinline__ void stage_columns(const S* __restrict__ p, std::int64_t w, int n, std::int64_t width,
                                              int y_lo, int lane, A* col_m, int* col_row) {
  constexpr int kRows = kUsed <= 2 ? 4 : 1;  // 3 to 8 loads in flight: the loop is latency-bound
  A m[kUsed];
  int first[kUsed];
  bool in[kUsed];
#pragma unroll
  for (int q = 0; q < kUsed; ++q) m[q] = static_cast<A>(-FLT_MAX), first[q] = -1, in[q] = lane + 32 * q < width;
  p += lane;
  int r = 0;
  for (; r + kRows <= n; r += kRows, p += kRows * w) {
    A a[kRows][kUsed];
#pragma unroll
    for (int t = 0; t < kRows; ++t)
#pragma unroll
      for (int q = 0; q < kUsed; ++q)
        if (in[q]) a[t][q] = roi::load(p + t * w + 32 * q);
#pragma unroll
    for (int t = 0; t < kRows; ++t)
#pragma unroll
      for (int q = 0; q < kUsed; ++q)
        if (in[q] && a[t][q] > m[q]) m[q] = a[t][q], first[q] = r + t;
  }
  for (; r < n; ++r, p += w) {
#pragma unroll
    for (int q = 0; q < kUsed; ++q)
      if (in[q]) {
        const A a = roi::load(p + 32 * q);
        if (a > m[q]) m[q] = a, first[q] = r;
      }
  }
#pragma unroll
  for (int q = 0; q < kUsed; ++q)
    if (in[q]) col_m[lane + 32 * q] = m[q], col_row[lane + 32 * q] = first[q] < 0 ? -1 : y_lo + first[q];
}

// The argmax rule of the CPU (and torchvision): the first maximum in row-major scan order of the
// bin (a strict `>` from -FLT_MAX, so NaN never wins), i.e. the smallest flat index among the
// pixels equal to the maximum. Each column's first maximum over the rows, then, over the columns
// from left to right, a larger value or an equal one on an earlier row, is exactly that pixel.
template <typename S, typename A>
__device__ __forceinline__ void pool_roi(const S* __restrict__ input, const A* __restrict__ rois, S* __restrict__ out,
                                         std::int64_t* __restrict__ argmax, const Dims& d, A scale, bool seed,
                                         bool rows32, std::int64_t k, std::int64_t c, int lane, Stage<A>& st) {
  const A* roi = rois + 5 * k;
  const std::int64_t bins = d.ph * d.pw;
  const std::int64_t o = (k * d.c + c) * bins;  // first output of (k, c)
  const std::int64_t b = roi::batch_index(roi[0], d.n);
  if (b < 0) {
    for (std::int64_t e = lane; e < bins; e += 32) {
      roi::store(out + o + e, A(0));
      if (argmax != nullptr) argmax[o + e] = -1;
    }
    return;
  }
  // Bin ranges are nondecreasing in pw (both conventions), so [x_lo, x_hi) holds every bin.
  const std::int64_t x_lo = math::roi_pool_span(roi[1], roi[3], scale, d.pw, std::int64_t(0), d.w, seed).lo;
  const std::int64_t x_hi = math::roi_pool_span(roi[1], roi[3], scale, d.pw, d.pw - 1, d.w, seed).hi;
  const std::int64_t width = x_hi - x_lo;
  const S* v = input + (b * d.c + c) * d.h * d.w;
  if (width > kCols || !rows32) {
    for (std::int64_t e = lane; e < bins; e += 32) {
      const std::int64_t ph = e / d.pw, pw = e - ph * d.pw;
      const math::PoolSpan y = math::roi_pool_span(roi[2], roi[4], scale, d.ph, ph, d.h, seed);
      const math::PoolSpan x = math::roi_pool_span(roi[1], roi[3], scale, d.pw, pw, d.w, seed);
      A m = A(0);
      std::int64_t at = -1;
      if (y.hi > y.lo && x.hi > x.lo) {
        m = static_cast<A>(-FLT_MAX);
        for (std::int64_t h = y.lo; h < y.hi; ++h)
          for (std::int64_t w = x.lo; w < x.hi; ++w) {
            const A val = roi::load(v + h * d.w + w);
            if (val > m) m = val, at = h * d.w + w;
          }
      }
      roi::store(out + o + e, m);
      if (argmax != nullptr) argmax[o + e] = at;
    }
    return;
  }
  for (std::int64_t ph0 = 0; ph0 < d.ph; ph0 += kRowsPerPass) {
    const int rows_here = d.ph - ph0 < kRowsPerPass ? static_cast<int>(d.ph - ph0) : kRowsPerPass;
    const int slots = static_cast<int>((width + 31) / 32);  // warp-uniform, 0..kSlots
    for (int g = 0; g < rows_here; ++g) {
      const math::PoolSpan y = math::roi_pool_span(roi[2], roi[4], scale, d.ph, ph0 + g, d.h, seed);
      const int n = y.hi > y.lo ? static_cast<int>(y.hi - y.lo) : 0;
      const S* p = v + y.lo * d.w + x_lo;
      switch (slots) {  // the loop body holds exactly the slots in use
        case 1: stage_columns<1>(p, d.w, n, width, static_cast<int>(y.lo), lane, st.m[g], st.row[g]); break;
        case 2: stage_columns<2>(p, d.w, n, width, static_cast<int>(y.lo), lane, st.m[g], st.row[g]); break;
        case 3: stage_columns<3>(p, d.w, n, width, static_cast<int>(y.lo), lane, st.m[g], st.row[g]); break;
        case 4: stage_columns<4>(p, d.w, n, width, static_cast<int>(y.lo), lane, st.m[g], st.row[g]); break;
        default: break;  // no columns
      }
    }
    __syncwarp();
    for (std::int64_t e = lane; e < rows_here * d.pw; e += 32) {
      const int g = static_cast<int>(e / d.pw);
      const std::int64_t pw = e - g * d.pw, ph = ph0 + g;
      const math::PoolSpan y = math::roi_pool_span(roi[2], roi[4], scale, d.ph, ph, d.h, seed);
      const math::PoolSpan x = math::roi_pool_span(roi[1], roi[3], scale, d.pw, pw, d.w, seed);
      A m = A(0);
      std::int64_t at = -1;
      if (y.hi > y.lo && x.hi > x.lo) {
        // While m is -FLT_MAX, row is -1, and so is a column's row whose maximum is -FLT_MAX:
        // the tie test never prefers a -1.
        m = static_cast<A>(-FLT_MAX);
        int row = -1;
        std::int64_t col = 0;
        for (std::int64_t xx = x.lo; xx < x.hi; ++xx) {
          const A cm = st.m[g][xx - x_lo];
          const int cr = st.row[g][xx - x_lo];
          if (cm > m || (cm == m && cr < row)) m = cm, row = cr, col = xx;
        }
        at = row < 0 ? -1 : row * d.w + col;
      }
      roi::store(out + o + ph * d.pw + pw, m);
      if (argmax != nullptr) argmax[o + ph * d.pw + pw] = at;
    }
    __syncwarp();  // the next pass overwrites the staging area
  }
}

// Block `blk` of a grid-stride loop: channel blk / chunks, RoIs [k0, k1) of chunk blk % chunks;
// its kW warps take those RoIs in turn.
template <int kW, typename S, typename A>
__global__ void __launch_bounds__(kW * 32)
    roi_pool_kernel(const S* __restrict__ input, const A* __restrict__ rois, S* __restrict__ out,
                    std::int64_t* __restrict__ argmax, Dims d, std::int64_t num_rois, std::int64_t chunks, A scale,
                    bool seed, bool rows32) {
  __shared__ Stage<A> stage[kW];
  const int lane = static_cast<int>(threadIdx.x) & 31, warp = static_cast<int>(threadIdx.x) >> 5;
  for (std::int64_t blk = blockIdx.x; blk < d.c * chunks; blk += gridDim.x) {
    const std::int64_t c = blk / chunks, chunk = blk - c * chunks;
    const std::int64_t k0 = num_rois * chunk / chunks, k1 = num_rois * (chunk + 1) / chunks;
    for (std::int64_t k = k0 + warp; k < k1; k += kW)
      pool_roi<S, A>(input, rois, out, argmax, d, scale, seed, rows32, k, c, lane, stage[warp]);
  }
}

template <typename S, typename A, typename G>
__global__ void roi_pool_backward_kernel(const S* __restrict__ grad_out, const A* __restrict__ rois,
                                         const std::int64_t* __restrict__ argmax, G* __restrict__ grad_in, Dims d) {
  for (std::int64_t idx = std::int64_t(blockIdx.x) * blockDim.x + threadIdx.x; idx < d.total;
       idx += std::int64_t(gridDim.x) * blockDim.x) {
    const std::int64_t c = (idx / d.pw / d.ph) % d.c, k = idx / d.pw / d.ph / d.c;
    const std::int64_t b = roi::batch_index(rois[5 * k], d.n);
    const std::int64_t at = argmax[idx];
    if (b < 0 || at < 0 || at >= d.h * d.w) continue;
    atomicAdd(grad_in + (b * d.c + c) * d.h * d.w + at, static_cast<G>(roi::load(grad_out + idx)));
  }
}

template <typename S, typename A>
void forward(ConstTensorView input, ConstTensorView rois, TensorView out, TensorView argmax, const RoiPoolParams& p,
             cudaStream_t st) {
  const Dims d{input.size(0), input.size(1), input.size(2), input.size(3), out.size(2), out.size(3), out.numel()};
  if (d.total == 0) return;
  std::int64_t* am = argmax.ndim() != 0 ? static_cast<std::int64_t*>(argmax.data()) : nullptr;
  const std::int64_t num_rois = out.size(0);
  const std::int64_t chunks = roi::forward_chunks(num_rois, d.c, kMaxRoisPerBlock);
  // 16 warps where the arithmetic is float; 8 for double (128 registers a thread would spill)
  constexpr int kW = sizeof(A) == 4 ? kWarps : kWarps / 2;
  FOVEAL_CUDA_CHECK(cudaFuncSetAttribute(roi_pool_kernel<kW, S, A>, cudaFuncAttributePreferredSharedMemoryCarveout,
                                         static_cast<int>(cudaSharedmemCarveoutMaxL1)));  // L1 for the plane
  roi_pool_kernel<kW, S, A><<<blocks_for(d.c * chunks, 1), kW * 32, 0, st>>>(
      static_cast<const S*>(input.data()), static_cast<const A*>(rois.data()), static_cast<S*>(out.data()), am, d,
      num_rois, chunks, static_cast<A>(p.spatial_scale), p.bins == RoiPoolBins::Seed, d.h <= INT_MAX);
  FOVEAL_CUDA_CHECK(cudaGetLastError());
}

template <typename S, typename A>
void backward(ConstTensorView grad_output, ConstTensorView rois, ConstTensorView argmax, TensorView grad_input,
              cudaStream_t st) {
  const Dims d{grad_input.size(0), grad_input.size(1), grad_input.size(2), grad_input.size(3),
               grad_output.size(2), grad_output.size(3), grad_output.numel()};
  roi::GradBuffer<S> buf(static_cast<S*>(grad_input.data()), grad_input.numel(), st);
  if (d.total > 0) {
    roi_pool_backward_kernel<S, A><<<blocks_for(d.total, kThreads), kThreads, 0, st>>>(
        static_cast<const S*>(grad_output.data()), static_cast<const A*>(rois.data()),
        static_cast<const std::int64_t*>(argmax.data()), buf.get(), d);
    FOVEAL_CUDA_CHECK(cudaGetLastError());
  }
  buf.finish();
}

}  // namespace

void roi_pool(ConstTensorView input, ConstTensorView rois, TensorView out, TensorView argmax,
              const RoiPoolParams& params, const ExecContext& ctx) {
  DeviceGuard guard(input.device().index);
  const cudaStream_t st = stream_of(ctx);
  switch (input.dtype()) {
    case DType::Float16: return forward<__half, float>(input, rois, out, argmax, params, st);
    case DType::BFloat16: return forward<__nv_bfloat16, float>(input, rois, out, argmax, params, st);
    case DType::Float32: return forward<float, float>(input, rois, out, argmax, params, st);
    default: return forward<double, double>(input, rois, out, argmax, params, st);
  }
}

void roi_pool_backward(ConstTensorView grad_output, ConstTensorView rois, ConstTensorView argmax,
                       TensorView grad_input, const ExecContext& ctx) {
  DeviceGuard guard(grad_input.device().index);
  const cudaStream_t st = stream_of(ctx);
  switch (grad_input.dtype()) {
    case DType::Float16: return backward<__half, float>(grad_output, rois, argmax, grad_input, st);
    case DType::BFloat16: return backward<__nv_bfloat16, float>(grad_output, rois, argmax, grad_input, st);
    case DType::Float32: return backward<float, float>(grad_output, rois, argmax, grad_input, st);
    default: return backward<double, double>(grad_output, rois, argmax, grad_input, st);
  }
}

}  // namespace foveal::cuda
