// SPDX-License-Identifier: Apache-2.0
// Bilateral filter on CUDA: one thread per pixel, all channels; taps, spatial weights and the
// range table are copied to device memory once per call; borders resolve per tap through
// math::border_index (no padded copy). Same formulas as the CPU backend (foveal/math/bilateral.hpp).
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "common.cuh"
#include "foveal/math/bilateral.hpp"
#include "ops/backend.hpp"

namespace foveal::cuda {
namespace {

using math::BilateralRange;

constexpr int kThreads = 256;
constexpr int kMaxChannels = 4;  // channels held in registers; more are re-read per tap

template <typename T>
struct Args {
  const int* dy;
  const int* dx;
  const T* sp;
  const T* lsp;
  int taps;
  std::int64_t h, w, c;
  math::BilateralBorder border;
  T pad;
  BilateralRange kind;
  bool l1, centre_unit, reciprocal;
  math::RangeParams<T> rp;
};

template <typename S, typename T>
__device__ __forceinline__ S store(T v) {
  if constexpr (std::is_same_v<S, std::uint8_t>) {
    const long r = lrintf(v);
    return static_cast<S>(r < 0 ? 0 : r > 255 ? 255 : r);
  } else {
    return static_cast<S>(v);
  }
}

template <typename S, typename T>
__global__ void bilateral_kernel(const S* __restrict__ img, S* __restrict__ out, Args<T> a) {
  const std::int64_t n = a.h * a.w;
  for (std::int64_t p = static_cast<std::int64_t>(blockIdx.x) * kThreads + threadIdx.x; p < n;
       p += static_cast<std::int64_t>(gridDim.x) * kThreads) {
    const std::int64_t y = p / a.w, x = p % a.w;
    const S* cp = img + p * a.c;
    T ctr[kMaxChannels], sum[kMaxChannels];
    const int cr = a.c < kMaxChannels ? static_cast<int>(a.c) : kMaxChannels;
    for (int ch = 0; ch < cr; ++ch) {
      ctr[ch] = static_cast<T>(cp[ch]);
      sum[ch] = T(0);
    }
    T wsum = 0;
    for (int k = 0; k < a.taps; ++k) {
      const std::int64_t yy = math::border_index(y + a.dy[k], a.h, a.border);
      const std::int64_t xx = math::border_index(x + a.dx[k], a.w, a.border);
      const S* qp = (yy < 0 || xx < 0) ? nullptr : img + (yy * a.w + xx) * a.c;
      T dist = 0;
      for (std::int64_t ch = 0; ch < a.c; ++ch) {
        const T v = qp ? static_cast<T>(qp[ch]) : a.pad;
        const T t = (ch < kMaxChannels ? ctr[ch] : static_cast<T>(cp[ch])) - v;
        dist += a.l1 ? fabs(t) : t * t;
      }
      T wt;
      switch (a.kind) {
        case BilateralRange::Exact: wt = math::exp_neg(a.rp.coeff * (a.l1 ? dist * dist : dist) + a.lsp[k]); break;
        case BilateralRange::Binned: wt = a.sp[k] * math::range_binned(sqrt(dist), a.rp); break;
        case BilateralRange::Interp: wt = a.sp[k] * math::range_interp(dist, a.rp); break;
        default: wt = a.sp[k] * a.rp.lut[static_cast<std::int32_t>(dist)]; break;
      }
      wsum += wt;
      for (int ch = 0; ch < cr; ++ch) sum[ch] += (qp ? static_cast<T>(qp[ch]) : a.pad) * wt;
    }
    if (a.centre_unit) wsum += T(1);
    const T inv = T(1) / wsum;
    for (std::int64_t ch = 0; ch < a.c; ++ch) {
      T s;
      if (ch < kMaxChannels) {
        s = sum[ch];
      } else {  // channels past the register block: a second pass over the taps
        s = 0;
        for (int k = 0; k < a.taps; ++k) {
          const std::int64_t yy = math::border_index(y + a.dy[k], a.h, a.border);
          const std::int64_t xx = math::border_index(x + a.dx[k], a.w, a.border);
          const S* qp = (yy < 0 || xx < 0) ? nullptr : img + (yy * a.w + xx) * a.c;
          T dist = 0;
          for (std::int64_t c2 = 0; c2 < a.c; ++c2) {
            const T v = qp ? static_cast<T>(qp[c2]) : a.pad;
            const T t = static_cast<T>(cp[c2]) - v;
            dist += a.l1 ? fabs(t) : t * t;
          }
          T wt;
          switch (a.kind) {
            case BilateralRange::Exact: wt = math::exp_neg(a.rp.coeff * (a.l1 ? dist * dist : dist) + a.lsp[k]); break;
            case BilateralRange::Binned: wt = a.sp[k] * math::range_binned(sqrt(dist), a.rp); break;
            case BilateralRange::Interp: wt = a.sp[k] * math::range_interp(dist, a.rp); break;
            default: wt = a.sp[k] * a.rp.lut[static_cast<std::int32_t>(dist)]; break;
          }
          s += (qp ? static_cast<T>(qp[ch]) : a.pad) * wt;
        }
      }
      if (a.centre_unit) s += static_cast<T>(cp[ch]);
      out[p * a.c + ch] = store<S, T>(a.reciprocal ? s * inv : s / wsum);
    }
  }
}

// Tiled kernel for float compute (uint8 and float32 images) with 1 or 3 channels and the Exact,
// Binned or IntLut range rules. A block of kBx x kBy threads owns kBx x kBy kRows outputs; it
// stages the tile and its halo (borders resolved once per element, channel planes) and the uint8
// table in shared memory; the taps arrive as kernel parameters (offsets in the staged tile and
// spatial weights), so a call needs no device allocation, copy or synchronisation. Thread (x, y)
// owns column x and rows y + i kBy, i < kRows: each tap's parameters serve kRows outputs. Weights
// as the CPU backend's (math::exp_neg, range_binned_exp, the same table).
constexpr int kBx = 32, kBy = 8, kRows = 4;
constexpr int kMaxTaps = 320, kMaxLut = 1024;
constexpr std::size_t kMaxTileSmem = 48 * 1024;

struct TileTaps {
  int off[kMaxTaps];  // dy * pitch + dx in a staged channel plane
  float w[kMaxTaps];  // Exact: log s; Binned / IntLut: s
  float lut[kMaxLut]; // IntLut table
};

struct TileArgs {
  long long h, w;
  int r, pitch, taps, lut_n;
  math::BilateralBorder border;
  float pad;
  bool l1, centre_unit, reciprocal;
  math::RangeParams<float> rp;  // lut unused (IntLut reads the staged copy)
};

template <typename S, int C, BilateralRange K>
__global__ void __launch_bounds__(kBx* kBy) bilateral_tiled(const S* __restrict__ img, S* __restrict__ out, TileArgs a,
                                                             TileTaps t) {
  extern __shared__ float tile[];
  const int pitch = a.pitch, rows = kBy * kRows + 2 * a.r, plane = pitch * rows;
  float* lut = tile + C * plane;
  const long long y0 = static_cast<long long>(blockIdx.y) * (kBy * kRows), x0 = static_cast<long long>(blockIdx.x) * kBx;
  const int tid = threadIdx.y * kBx + threadIdx.x;
  for (int i = tid; i < plane; i += kBx * kBy) {
    const int ty = i / pitch, tx = i - ty * pitch;
    const long long yy = math::border_index(y0 - a.r + ty, a.h, a.border);
    const long long xx = math::border_index(x0 - a.r + tx, a.w, a.border);
    if (yy < 0 || xx < 0) {
#pragma unroll
      for (int ch = 0; ch < C; ++ch) tile[ch * plane + i] = a.pad;
    } else {
      const S* q = img + (yy * a.w + xx) * C;
#pragma unroll
      for (int ch = 0; ch < C; ++ch) tile[ch * plane + i] = static_cast<float>(q[ch]);
    }
  }
  if constexpr (K == BilateralRange::IntLut)
    for (int i = tid; i < a.lut_n; i += kBx * kBy) lut[i] = t.lut[i];
  __syncthreads();
  int base[kRows];
  float ctr[kRows][C], sum[kRows][C], wsum[kRows];
#pragma unroll
  for (int i = 0; i < kRows; ++i) {
    base[i] = (threadIdx.y + i * kBy + a.r) * pitch + threadIdx.x + a.r;
    wsum[i] = 0.0f;
#pragma unroll
    for (int ch = 0; ch < C; ++ch) {
      ctr[i][ch] = tile[ch * plane + base[i]];
      sum[i][ch] = 0.0f;
    }
  }
  const math::RangeParams<float> rp = a.rp;
  for (int k = 0; k < a.taps; ++k) {
    const int off = t.off[k];
    const float sw = t.w[k];
#pragma unroll
    for (int i = 0; i < kRows; ++i) {
      float v[C], d2 = 0.0f, l1 = 0.0f;
#pragma unroll
      for (int ch = 0; ch < C; ++ch) {
        v[ch] = tile[ch * plane + base[i] + off];
        const float e = ctr[i][ch] - v[ch];
        d2 += e * e;
        l1 += fabsf(e);
      }
      float wt;
      if constexpr (K == BilateralRange::Exact)
        wt = math::exp_neg(rp.coeff * (a.l1 ? l1 * l1 : d2) + sw);
      else if constexpr (K == BilateralRange::Binned)
        wt = sw * math::range_binned_exp(sqrtf(d2), rp);
      else
        wt = sw * lut[static_cast<int>(l1)];
      wsum[i] += wt;
#pragma unroll
      for (int ch = 0; ch < C; ++ch) sum[i][ch] += v[ch] * wt;
    }
  }
#pragma unroll
  for (int i = 0; i < kRows; ++i) {
    const long long y = y0 + threadIdx.y + i * kBy, x = x0 + threadIdx.x;
    if (y >= a.h || x >= a.w) continue;
    const float ws = a.centre_unit ? wsum[i] + 1.0f : wsum[i];
    const float inv = 1.0f / ws;
#pragma unroll
    for (int ch = 0; ch < C; ++ch) {
      const float sv = a.centre_unit ? sum[i][ch] + ctr[i][ch] : sum[i][ch];
      out[(y * a.w + x) * C + ch] = store<S, float>(a.reciprocal ? sv * inv : sv / ws);
    }
  }
}

template <typename S, int C>
void tiled_for_kind(const S* img, S* out, const TileArgs& a, const TileTaps& t, BilateralRange kind, dim3 grid,
                    std::size_t smem, cudaStream_t s) {
  const dim3 block(kBx, kBy);
  switch (kind) {
    case BilateralRange::Exact:
      bilateral_tiled<S, C, BilateralRange::Exact><<<grid, block, smem, s>>>(img, out, a, t);
      break;
    case BilateralRange::Binned:
      bilateral_tiled<S, C, BilateralRange::Binned><<<grid, block, smem, s>>>(img, out, a, t);
      break;
    default:
      bilateral_tiled<S, C, BilateralRange::IntLut><<<grid, block, smem, s>>>(img, out, a, t);
      break;
  }
  FOVEAL_CUDA_CHECK(cudaGetLastError());
}

// The tiled kernel when it applies (float compute, 1 or 3 channels, Exact / Binned / IntLut,
// taps and table within the parameter block, tile within 48 KB); false otherwise.
template <typename S>
bool launch_tiled(ConstTensorView image, TensorView out, const math::BilateralPlan& plan, cudaStream_t s) {
  const long long H = image.size(0), W = image.size(1), C = image.size(2);
  const int K = static_cast<int>(plan.dy.size());
  const bool kind_ok = plan.range == BilateralRange::Exact || plan.range == BilateralRange::Binned ||
                       (plan.range == BilateralRange::IntLut && plan.lut.size() <= static_cast<std::size_t>(kMaxLut));
  if (!kind_ok || (C != 1 && C != 3) || K > kMaxTaps || H < 1 || W < 1) return false;
  int r = 0;
  for (int k = 0; k < K; ++k) r = std::max(r, std::max(std::abs(plan.dy[k]), std::abs(plan.dx[k])));
  const std::size_t pitch = kBx + 2 * static_cast<std::size_t>(r), rows = kBy * kRows + 2 * static_cast<std::size_t>(r);
  const std::size_t lut_n = plan.range == BilateralRange::IntLut ? plan.lut.size() : 0;
  const std::size_t smem = (static_cast<std::size_t>(C) * pitch * rows + lut_n) * sizeof(float);
  const long long gy = (H + kBy * kRows - 1) / (kBy * kRows), gx = (W + kBx - 1) / kBx;
  if (smem > kMaxTileSmem || gy > 65535 || gx > 0x7fffffff) return false;
  TileTaps t{};  // zeroed: the parameter block is copied whole
  for (int k = 0; k < K; ++k) {
    t.off[k] = plan.dy[k] * static_cast<int>(pitch) + plan.dx[k];
    t.w[k] = static_cast<float>(plan.range == BilateralRange::Exact ? plan.log_space[k] : plan.space[k]);
  }
  for (std::size_t i = 0; i < lut_n; ++i) t.lut[i] = static_cast<float>(plan.lut[i]);
  TileArgs a{H,
             W,
             r,
             static_cast<int>(pitch),
             K,
             static_cast<int>(lut_n),
             plan.border,
             static_cast<float>(plan.pad_value),
             plan.l1,
             plan.centre_unit,
             plan.reciprocal,
             math::RangeParams<float>{static_cast<float>(plan.coeff), static_cast<float>(plan.scale),
                                      static_cast<float>(plan.max_pos), nullptr}};
  const dim3 grid(static_cast<unsigned>(gx), static_cast<unsigned>(gy));
  if (C == 1)
    tiled_for_kind<S, 1>(image.data_as<S>(), out.data_as<S>(), a, t, plan.range, grid, smem, s);
  else
    tiled_for_kind<S, 3>(image.data_as<S>(), out.data_as<S>(), a, t, plan.range, grid, smem, s);
  return true;
}

template <typename S, typename T>
void launch(ConstTensorView image, TensorView out, const math::BilateralPlan& plan, cudaStream_t s) {
  const int K = static_cast<int>(plan.dy.size());
  // One device block: dy, dx (int) then sp, lsp, lut (T), each section aligned to 8 bytes.
  const std::size_t ints = (2 * static_cast<std::size_t>(K) + 1) & ~std::size_t(1);
  const std::size_t nt = 2 * static_cast<std::size_t>(K) + plan.lut.size();
  std::vector<unsigned char> host(ints * sizeof(int) + nt * sizeof(T));
  int* hi = reinterpret_cast<int*>(host.data());
  T* ht = reinterpret_cast<T*>(host.data() + ints * sizeof(int));
  for (int k = 0; k < K; ++k) {
    hi[k] = plan.dy[k];
    hi[K + k] = plan.dx[k];
    ht[k] = static_cast<T>(plan.space[k]);
    ht[K + k] = static_cast<T>(plan.log_space[k]);
  }
  for (std::size_t i = 0; i < plan.lut.size(); ++i) ht[2 * K + i] = static_cast<T>(plan.lut[i]);
  Workspace<unsigned char> dev(host.size() ? host.size() : 1, s);
  if (!host.empty())
    FOVEAL_CUDA_CHECK(cudaMemcpyAsync(dev.get(), host.data(), host.size(), cudaMemcpyHostToDevice, s));
  const int* di = reinterpret_cast<const int*>(dev.get());
  const T* dt = reinterpret_cast<const T*>(dev.get() + ints * sizeof(int));
  Args<T> a{di,
            di + K,
            dt,
            dt + K,
            K,
            image.size(0),
            image.size(1),
            image.size(2),
            plan.border,
            static_cast<T>(plan.pad_value),
            plan.range,
            plan.l1,
            plan.centre_unit,
            plan.reciprocal,
            math::RangeParams<T>{static_cast<T>(plan.coeff), static_cast<T>(plan.scale), static_cast<T>(plan.max_pos),
                                 dt + 2 * K}};
  const std::int64_t n = image.size(0) * image.size(1);
  bilateral_kernel<S, T><<<blocks_for(n, kThreads), kThreads, 0, s>>>(image.data_as<S>(), out.data_as<S>(), a);
  FOVEAL_CUDA_CHECK(cudaGetLastError());
  // The host staging buffer must outlive the asynchronous copy.
  FOVEAL_CUDA_CHECK(cudaStreamSynchronize(s));
}

}  // namespace

void bilateral(ConstTensorView image, TensorView out, const math::BilateralPlan& plan, const ExecContext& ctx) {
  DeviceGuard guard(image.device().index);
  const cudaStream_t s = stream_of(ctx);
  switch (image.dtype()) {
    case DType::UInt8:
      if (launch_tiled<std::uint8_t>(image, out, plan, s)) return;
      return launch<std::uint8_t, float>(image, out, plan, s);
    case DType::Float32:
      if (launch_tiled<float>(image, out, plan, s)) return;
      return launch<float, float>(image, out, plan, s);
    default: return launch<double, double>(image, out, plan, s);
  }
}

}  // namespace foveal::cuda
