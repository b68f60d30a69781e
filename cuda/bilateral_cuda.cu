// SPDX-License-Identifier: Apache-2.0
// Bilateral filter on CUDA: one thread per pixel, all channels; taps, spatial weights and the
// range table are copied to device memory once per call; borders resolve per tap through
// math::border_index (no padded copy). Same formulas as the CPU backend (foveal/math/bilateral.hpp).
#include <cstdint>
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
    case DType::UInt8: return launch<std::uint8_t, float>(image, out, plan, s);
    case DType::Float32: return launch<float, float>(image, out, plan, s);
    default: return launch<double, double>(image, out, plan, s);
  }
}

}  // namespace foveal::cuda
