// SPDX-License-Identifier: Apache-2.0
// CUDA primitives of the Richardson-Lucy variants (ops/rl_variants.hpp), the CPU backend's
// layout: one padded scratch volume takes each convolution's input with its boundary pads, one
// thread per output element sums the psf's non-zero taps and applies the fused ratio or
// correction (math/rl.hpp). Reductions (dot, sum, the psf correlation) keep double partials per
// block, added on the host in a fixed order (deterministic). Work is enqueued on ctx.stream; a
// reduction synchronises it to read its result.
#include <cstdint>
#include <memory>
#include <vector>

#include "common.cuh"
#include "foveal/math/rl.hpp"
#include "ops/rl_variants.hpp"

namespace foveal::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int kReduceBlocks = 512;

struct VGeo {
  std::int64_t n[3], N[3], lo[3], k[3];
};

#define FOVEAL_GRID_LOOP(i, count)                                                              \
  for (std::int64_t i = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; i < (count); \
       i += std::int64_t(gridDim.x) * blockDim.x)

template <typename T>
__global__ void pad_fill_kernel(const T* v, T* pad, VGeo g, int mode) {
  const std::int64_t total = g.N[0] * g.N[1] * g.N[2];
  FOVEAL_GRID_LOOP(p, total) {
    const std::int64_t x = p % g.N[2], y = (p / g.N[2]) % g.N[1], z = p / (g.N[1] * g.N[2]);
    const std::int64_t qx = x - g.lo[2], qy = y - g.lo[1], qz = z - g.lo[0];
    const bool inside = qx >= 0 && qx < g.n[2] && qy >= 0 && qy < g.n[1] && qz >= 0 && qz < g.n[0];
    if (!inside && mode == 0) {
      pad[p] = T(0);
      continue;
    }
    const std::int64_t sx = math::rl_boundary_index(qx, g.n[2], mode);
    const std::int64_t sy = math::rl_boundary_index(qy, g.n[1], mode);
    const std::int64_t sz = math::rl_boundary_index(qz, g.n[0], mode);
    pad[p] = v[(sz * g.n[1] + sy) * g.n[2] + sx];
  }
}

// E 0: out = rl_ratio(image, conv); E 1: out = y * conv / divisor (divisor null: 1).
template <typename T, int E>
__global__ void conv_kernel(const T* pad, const std::int64_t* off, const T* w, int taps, VGeo g, const T* image,
                            T fe, bool filter, const T* y, const T* divisor, T* out) {
  const std::int64_t n = g.n[0] * g.n[1] * g.n[2];
  FOVEAL_GRID_LOOP(i, n) {
    const std::int64_t i2 = i % g.n[2], i1 = (i / g.n[2]) % g.n[1], i0 = i / (g.n[1] * g.n[2]);
    const T* s = pad + (i0 * g.N[1] + i1) * g.N[2] + i2;
    T acc = T(0);
    for (int t = 0; t < taps; ++t) acc += w[t] * s[off[t]];
    if (E == 0) {
      out[i] = math::rl_ratio(image[i], acc, fe, filter);
    } else {
      out[i] = divisor ? math::rl_correct(y[i], acc, divisor[i]) : y[i] * acc;
    }
  }
}

template <typename T>
__global__ void tv_divisor_kernel(const T* x, VGeo g, T lambda, T floor, T* divisor) {
  const std::int64_t n = g.n[0] * g.n[1] * g.n[2];
  const std::int64_t s[3] = {g.n[1] * g.n[2], g.n[2], 1};
  FOVEAL_GRID_LOOP(i, n) {
    const std::int64_t c[3] = {i / s[0], (i / g.n[2]) % g.n[1], i % g.n[2]};
    divisor[i] = math::rl_tv_divisor(x, i, c, g.n, s, lambda, floor);
  }
}

// op 0: y = extrapolate(a, b, alpha); 1: y = a - b; 2: y = max(a, 0); 3: y = alpha; 4: y = clip(a)
template <typename T, int Op>
__global__ void elementwise_kernel(const T* a, const T* b, T alpha, std::int64_t n, T* y) {
  FOVEAL_GRID_LOOP(i, n) {
    if (Op == 0) y[i] = math::rl_extrapolate(a[i], b[i], alpha);
    if (Op == 1) y[i] = a[i] - b[i];
    if (Op == 2) y[i] = a[i] > T(0) ? a[i] : T(0);
    if (Op == 3) y[i] = alpha;
    if (Op == 4) y[i] = math::rl_clip(a[i]);
  }
}

__device__ __forceinline__ double block_sum(double v) {
  __shared__ double sh[kThreads];
  sh[threadIdx.x] = v;
  __syncthreads();
  for (int w = kThreads / 2; w > 0; w >>= 1) {
    if (threadIdx.x < w) sh[threadIdx.x] += sh[threadIdx.x + w];
    __syncthreads();
  }
  return sh[0];
}

// partial[block] = sum over the block's elements of a * b (b null: a).
template <typename T>
__global__ void dot_kernel(const T* a, const T* b, std::int64_t n, double* partial) {
  double s = 0;
  FOVEAL_GRID_LOOP(i, n) s += static_cast<double>(a[i]) * (b ? static_cast<double>(b[i]) : 1.0);
  const double t = block_sum(s);
  if (threadIdx.x == 0) partial[blockIdx.x] = t;
}

// One block per psf tap j: corr[j] = sum_i ratio[i] x[i + c - j], x read from its padded copy
// (padded index i + (k - 1 - j) along every axis).
template <typename T>
__global__ void psf_corr_kernel(const T* ratio, const T* pad, VGeo g, double* corr) {
  const std::int64_t t = blockIdx.x;
  const std::int64_t j0 = t / (g.k[1] * g.k[2]), j1 = (t / g.k[2]) % g.k[1], j2 = t % g.k[2];
  const std::int64_t base = ((g.k[0] - 1 - j0) * g.N[1] + (g.k[1] - 1 - j1)) * g.N[2] + (g.k[2] - 1 - j2);
  const std::int64_t n = g.n[0] * g.n[1] * g.n[2];
  double s = 0;
  for (std::int64_t i = threadIdx.x; i < n; i += blockDim.x) {
    const std::int64_t i2 = i % g.n[2], i1 = (i / g.n[2]) % g.n[1], i0 = i / (g.n[1] * g.n[2]);
    s += static_cast<double>(ratio[i]) * static_cast<double>(pad[base + (i0 * g.N[1] + i1) * g.N[2] + i2]);
  }
  const double v = block_sum(s);
  if (threadIdx.x == 0) corr[t] = v;
}

template <typename T>
class CudaRlKernels final : public ::foveal::detail::RlKernels<T> {
 public:
  CudaRlKernels(const T* image, T* out, const ::foveal::detail::RlVariantArgs& args, const ExecContext& ctx,
                int device)
      : guard_(device), s_(stream_of(ctx)), image_(image), out_(out) {
    for (int a = 0; a < 3; ++a) {
      g_.n[a] = args.n[a];
      g_.k[a] = args.k[a];
      g_.lo[a] = math::rl_offset(args.k[a]);
      g_.N[a] = args.n[a] + args.k[a] - 1;
    }
    count_ = g_.n[0] * g_.n[1] * g_.n[2];
    padded_ = g_.N[0] * g_.N[1] * g_.N[2];
    mode_ = static_cast<int>(args.mode);
    filter_ = args.filter_epsilon != 0.0;
    fe_ = static_cast<T>(args.filter_epsilon);
    pad_ = std::make_unique<Workspace<T>>(static_cast<std::size_t>(padded_), s_);
    partial_ = std::make_unique<Workspace<double>>(kReduceBlocks, s_);
    taps_total_ = g_.k[0] * g_.k[1] * g_.k[2];
    corr_ = std::make_unique<Workspace<double>>(static_cast<std::size_t>(taps_total_), s_);
    off_ = std::make_unique<Workspace<std::int64_t>>(static_cast<std::size_t>(2 * taps_total_), s_);
    w_ = std::make_unique<Workspace<T>>(static_cast<std::size_t>(2 * taps_total_), s_);
  }

  T* alloc() override {
    bufs_.push_back(std::make_unique<Workspace<T>>(static_cast<std::size_t>(count_), s_));
    T* p = bufs_.back()->get();
    FOVEAL_CUDA_CHECK(cudaMemsetAsync(p, 0, static_cast<std::size_t>(count_) * sizeof(T), s_));
    return p;
  }

  void set_psf(const std::vector<double>& psf) override {
    const std::int64_t S1 = g_.N[2], S0 = g_.N[1] * g_.N[2];
    const std::int64_t* k = g_.k;
    std::vector<std::int64_t> offs[2];
    std::vector<T> ws[2];
    for (std::int64_t i = 0; i < k[0]; ++i)
      for (std::int64_t j = 0; j < k[1]; ++j)
        for (std::int64_t l = 0; l < k[2]; ++l) {
          const std::int64_t off = i * S0 + j * S1 + l;
          const double f =
              psf[static_cast<std::size_t>(((k[0] - 1 - i) * k[1] + (k[1] - 1 - j)) * k[2] + (k[2] - 1 - l))];
          const double b = psf[static_cast<std::size_t>((i * k[1] + j) * k[2] + l)];
          if (f != 0.0) offs[0].push_back(off), ws[0].push_back(static_cast<T>(f));
          if (b != 0.0) offs[1].push_back(off), ws[1].push_back(static_cast<T>(b));
        }
    for (int ps = 0; ps < 2; ++ps) {
      taps_[ps] = static_cast<int>(ws[ps].size());
      if (taps_[ps] == 0) continue;
      // Pageable sources: the copy has taken them when cudaMemcpyAsync returns.
      FOVEAL_CUDA_CHECK(cudaMemcpyAsync(off_->get() + ps * taps_total_, offs[ps].data(),
                                        offs[ps].size() * sizeof(std::int64_t), cudaMemcpyHostToDevice, s_));
      FOVEAL_CUDA_CHECK(cudaMemcpyAsync(w_->get() + ps * taps_total_, ws[ps].data(), ws[ps].size() * sizeof(T),
                                        cudaMemcpyHostToDevice, s_));
    }
  }

  void ratio(const T* x, T* ratio) override {
    fill_pad(x);
    conv_kernel<T, 0><<<blocks(count_), kThreads, 0, s_>>>(pad_->get(), off_->get(), w_->get(), taps_[0], g_,
                                                           image_, fe_, filter_, nullptr, nullptr, ratio);
    FOVEAL_CUDA_CHECK(cudaGetLastError());
  }

  void correct(const T* y, const T* ratio, const T* divisor, T* out) override {
    fill_pad(ratio);
    conv_kernel<T, 1><<<blocks(count_), kThreads, 0, s_>>>(pad_->get(), off_->get() + taps_total_,
                                                           w_->get() + taps_total_, taps_[1], g_, image_, fe_,
                                                           filter_, y, divisor, out);
    FOVEAL_CUDA_CHECK(cudaGetLastError());
  }

  void tv_divisor(const T* x, double lambda, double floor, T* divisor) override {
    tv_divisor_kernel<T><<<blocks(count_), kThreads, 0, s_>>>(x, g_, static_cast<T>(lambda), static_cast<T>(floor),
                                                              divisor);
    FOVEAL_CUDA_CHECK(cudaGetLastError());
  }

  void extrapolate(const T* x, const T* x_prev, double alpha, T* y) override {
    elementwise<0>(x, x_prev, static_cast<T>(alpha), y);
  }
  void subtract(const T* a, const T* b, T* out) override { elementwise<1>(a, b, T(0), out); }
  double dot(const T* a, const T* b) override { return reduce(a, b); }
  double sum(const T* a) override { return reduce(a, nullptr); }
  void copy(const T* src, T* dst) override {
    FOVEAL_CUDA_CHECK(cudaMemcpyAsync(dst, src, static_cast<std::size_t>(count_) * sizeof(T),
                                      cudaMemcpyDeviceToDevice, s_));
  }
  void init_from_image(T* dst) override { elementwise<2>(image_, nullptr, T(0), dst); }
  void fill(T* dst, double value) override { elementwise<3>(nullptr, nullptr, static_cast<T>(value), dst); }

  std::vector<double> psf_correlation(const T* ratio, const T* x) override {
    fill_pad(x);
    psf_corr_kernel<T><<<static_cast<unsigned>(taps_total_), kThreads, 0, s_>>>(ratio, pad_->get(), g_,
                                                                                corr_->get());
    FOVEAL_CUDA_CHECK(cudaGetLastError());
    std::vector<double> corr(static_cast<std::size_t>(taps_total_));
    FOVEAL_CUDA_CHECK(cudaMemcpyAsync(corr.data(), corr_->get(), corr.size() * sizeof(double),
                                      cudaMemcpyDeviceToHost, s_));
    FOVEAL_CUDA_CHECK(cudaStreamSynchronize(s_));
    return corr;
  }

  void finish(const T* x, bool clip) override {
    if (clip) {
      elementwise<4>(x, nullptr, T(0), out_);
    } else {
      FOVEAL_CUDA_CHECK(cudaMemcpyAsync(out_, x, static_cast<std::size_t>(count_) * sizeof(T),
                                        cudaMemcpyDeviceToDevice, s_));
    }
  }

  std::vector<double> to_host(const T* p, std::int64_t count) override {
    std::vector<T> h(static_cast<std::size_t>(count));
    FOVEAL_CUDA_CHECK(cudaMemcpyAsync(h.data(), p, h.size() * sizeof(T), cudaMemcpyDeviceToHost, s_));
    FOVEAL_CUDA_CHECK(cudaStreamSynchronize(s_));
    return std::vector<double>(h.begin(), h.end());
  }

  void from_host(const std::vector<double>& v, T* p) override {
    const std::vector<T> h(v.begin(), v.end());
    FOVEAL_CUDA_CHECK(cudaMemcpyAsync(p, h.data(), h.size() * sizeof(T), cudaMemcpyHostToDevice, s_));
    FOVEAL_CUDA_CHECK(cudaStreamSynchronize(s_));  // h is local
  }

 private:
  unsigned blocks(std::int64_t n) const { return blocks_for(n, kThreads); }

  template <int Op>
  void elementwise(const T* a, const T* b, T alpha, T* y) {
    elementwise_kernel<T, Op><<<blocks(count_), kThreads, 0, s_>>>(a, b, alpha, count_, y);
    FOVEAL_CUDA_CHECK(cudaGetLastError());
  }

  void fill_pad(const T* v) {
    pad_fill_kernel<T><<<blocks(padded_), kThreads, 0, s_>>>(v, pad_->get(), g_, mode_);
    FOVEAL_CUDA_CHECK(cudaGetLastError());
  }

  double reduce(const T* a, const T* b) {
    const unsigned nb = blocks_for(count_, kThreads, kReduceBlocks);
    dot_kernel<T><<<nb, kThreads, 0, s_>>>(a, b, count_, partial_->get());
    FOVEAL_CUDA_CHECK(cudaGetLastError());
    std::vector<double> part(nb);
    FOVEAL_CUDA_CHECK(
        cudaMemcpyAsync(part.data(), partial_->get(), nb * sizeof(double), cudaMemcpyDeviceToHost, s_));
    FOVEAL_CUDA_CHECK(cudaStreamSynchronize(s_));
    double s = 0;
    for (double v : part) s += v;
    return s;
  }

  DeviceGuard guard_;
  cudaStream_t s_;
  const T* image_;
  T* out_;
  VGeo g_;
  std::int64_t count_ = 0, padded_ = 0, taps_total_ = 0;
  int taps_[2] = {0, 0};
  int mode_ = 0;
  bool filter_ = false;
  T fe_ = T(0);
  std::unique_ptr<Workspace<T>> pad_;
  std::unique_ptr<Workspace<double>> partial_, corr_;
  std::unique_ptr<Workspace<std::int64_t>> off_;
  std::unique_ptr<Workspace<T>> w_;
  std::vector<std::unique_ptr<Workspace<T>>> bufs_;
};

#undef FOVEAL_GRID_LOOP

}  // namespace

std::unique_ptr<::foveal::detail::RlKernels<float>> rl_kernels_f32(const float* image, float* out,
                                                                    const ::foveal::detail::RlVariantArgs& args,
                                                                    const ExecContext& ctx) {
  return std::make_unique<CudaRlKernels<float>>(image, out, args, ctx, args.device);
}

std::unique_ptr<::foveal::detail::RlKernels<double>> rl_kernels_f64(const double* image, double* out,
                                                                     const ::foveal::detail::RlVariantArgs& args,
                                                                     const ExecContext& ctx) {
  return std::make_unique<CudaRlKernels<double>>(image, out, args, ctx, args.device);
}

}  // namespace foveal::cuda
