// SPDX-License-Identifier: Apache-2.0
// Chambolle TV iteration on CUDA: per iteration, pass 1 (u = image - div p, sum d^2), pass 2
// (grad u, |grad u|, p update, sum |grad u|) and a one-thread step that applies skimage's stop rule
// on the device. A finished image turns every later kernel into a no-op, so the host enqueues
// iterations without waiting and looks at the flag only every kPollEvery iterations.
#include <cstdint>
#include <vector>

#include "common.cuh"
#include "foveal/math/tv.hpp"
#include "ops/backend.hpp"

namespace foveal::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int kPollEvery = 32;

struct Grid {
  int ndim;
  std::int64_t dims[8];
  std::int64_t strides[8];  // elements between neighbours along each axis
  std::int64_t size;
};

struct State {
  double d2, tv;          // this iteration's sums, reset by the stop step
  double e_init, e_prev;  // energies of iteration 0 and of the previous one
  long long iters;        // iterations run, once done
  int done;
};

__device__ __forceinline__ double block_sum(double v) {
  __shared__ double warp_sums[kThreads / 32];
  for (int o = 16; o > 0; o >>= 1) v += __shfl_down_sync(0xffffffffu, v, o);
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  if (lane == 0) warp_sums[warp] = v;
  __syncthreads();
  v = 0;
  if (warp == 0) {
    v = lane < kThreads / 32 ? warp_sums[lane] : 0.0;
    for (int o = 16; o > 0; o >>= 1) v += __shfl_down_sync(0xffffffffu, v, o);
  }
  return v;  // meaningful in thread 0
}

template <typename I>
__device__ __forceinline__ I coord(I idx, const Grid& g, int a) {
  return (idx / static_cast<I>(g.strides[a])) % static_cast<I>(g.dims[a]);
}

// u = image + d, d = -div p in skimage's order: -(p_0 + ... + p_{D-1}), then the shifted terms.
template <typename T, typename I>
__global__ void pass1_kernel(const T* __restrict__ image, T* __restrict__ out, const T* __restrict__ p, Grid g,
                             State* st) {
  if (st->done) return;
  const I n = static_cast<I>(g.size);
  double e = 0;
  for (I i = static_cast<I>(blockIdx.x) * kThreads + threadIdx.x; i < n; i += static_cast<I>(gridDim.x) * kThreads) {
    T s = p[i];
    for (int a = 1; a < g.ndim; ++a) s += p[a * n + i];
    T d = -s;
    for (int a = 0; a < g.ndim; ++a)
      if (coord(i, g, a) > 0) d += p[a * n + i - static_cast<I>(g.strides[a])];
    e += static_cast<double>(d) * static_cast<double>(d);
    out[i] = image[i] + d;
  }
  e = block_sum(e);
  if (threadIdx.x == 0) atomicAdd(&st->d2, e);
}

// Gradient of u (0 past the last element of each axis), its norm, the p update.
template <typename T, typename I>
__global__ void pass2_kernel(const T* __restrict__ u, T* __restrict__ p, Grid g, T tau, T tow, State* st) {
  if (st->done) return;
  const I n = static_cast<I>(g.size);
  double e = 0;
  for (I i = static_cast<I>(blockIdx.x) * kThreads + threadIdx.x; i < n; i += static_cast<I>(gridDim.x) * kThreads) {
    T grad[8];
    T s = T(0);
    const T ui = u[i];
    for (int a = 0; a < g.ndim; ++a) {
      grad[a] = coord(i, g, a) + 1 < static_cast<I>(g.dims[a]) ? u[i + static_cast<I>(g.strides[a])] - ui : T(0);
      s += grad[a] * grad[a];
    }
    const T norm = sqrt(s);
    e += static_cast<double>(norm);
    const T scale = math::tv_scale(norm, tow);
    for (int a = 0; a < g.ndim; ++a) p[a * n + i] = math::tv_dual_update(p[a * n + i], grad[a], tau, scale);
  }
  e = block_sum(e);
  if (threadIdx.x == 0) atomicAdd(&st->tv, e);
}

// skimage's rule: stop at the first iteration it >= 1 with |E_{it-1} - E_it| < eps E_0.
__global__ void stop_kernel(State* st, double weight, double eps, double size, long long it) {
  if (st->done) return;
  const double energy = (st->d2 + weight * st->tv) / size;
  st->d2 = st->tv = 0;
  if (it == 0) {
    st->e_init = st->e_prev = energy;
  } else if (fabs(st->e_prev - energy) < eps * st->e_init) {
    st->done = 1;
    st->iters = it + 1;
  } else {
    st->e_prev = energy;
  }
}

template <typename T, typename I>
std::int64_t run_one(const T* image, T* out, T* p, State* st, const Grid& g, double weight, double eps,
                     std::int64_t max_num_iter, cudaStream_t s) {
  const double tau_d = math::tv_tau(g.ndim);
  const T tau = static_cast<T>(tau_d), tow = static_cast<T>(tau_d / weight);
  const unsigned blocks = blocks_for(g.size, kThreads, 4096);
  FOVEAL_CUDA_CHECK(cudaMemsetAsync(p, 0, sizeof(T) * g.ndim * g.size, s));
  FOVEAL_CUDA_CHECK(cudaMemsetAsync(st, 0, sizeof(State), s));
  int done = 0;
  for (std::int64_t it = 0; it < max_num_iter; ++it) {
    pass1_kernel<T, I><<<blocks, kThreads, 0, s>>>(image, out, p, g, st);
    if (it + 1 == max_num_iter) break;  // the final p update cannot change the result
    pass2_kernel<T, I><<<blocks, kThreads, 0, s>>>(out, p, g, tau, tow, st);
    stop_kernel<<<1, 1, 0, s>>>(st, weight, eps, static_cast<double>(g.size), it);
    if ((it + 1) % kPollEvery == 0) {
      FOVEAL_CUDA_CHECK(cudaMemcpyAsync(&done, &st->done, sizeof(int), cudaMemcpyDeviceToHost, s));
      FOVEAL_CUDA_CHECK(cudaStreamSynchronize(s));
      if (done) break;
    }
  }
  FOVEAL_CUDA_CHECK(cudaGetLastError());
  State host{};
  FOVEAL_CUDA_CHECK(cudaMemcpyAsync(&host, st, sizeof(State), cudaMemcpyDeviceToHost, s));
  FOVEAL_CUDA_CHECK(cudaStreamSynchronize(s));
  return host.done ? host.iters : max_num_iter;
}

template <typename T>
std::vector<std::int64_t> launch(ConstTensorView image, TensorView out, double weight, double eps,
                                 std::int64_t max_num_iter, int batch_dims, cudaStream_t s) {
  Grid g{};
  g.ndim = image.ndim() - batch_dims;
  g.size = 1;
  for (int a = g.ndim - 1; a >= 0; --a) {
    g.dims[a] = image.size(a + batch_dims);
    g.strides[a] = g.size;
    g.size *= g.dims[a];
  }
  const std::int64_t batch = batch_dims ? image.size(0) : 1;
  Workspace<T> p(static_cast<std::size_t>(g.ndim * g.size), s);
  Workspace<State> st(1, s);
  std::vector<std::int64_t> iters(static_cast<std::size_t>(batch));
  const bool small = g.ndim * g.size < (std::int64_t(1) << 31);  // 32-bit index math
  for (std::int64_t b = 0; b < batch; ++b) {
    const T* im = image.data_as<T>() + b * g.size;
    T* o = out.data_as<T>() + b * g.size;
    iters[b] = small ? run_one<T, std::int32_t>(im, o, p.get(), st.get(), g, weight, eps, max_num_iter, s)
                     : run_one<T, std::int64_t>(im, o, p.get(), st.get(), g, weight, eps, max_num_iter, s);
  }
  return iters;
}

}  // namespace

std::vector<std::int64_t> denoise_tv_chambolle(ConstTensorView image, TensorView out, double weight, double eps,
                                               std::int64_t max_num_iter, int batch_dims, const ExecContext& ctx) {
  DeviceGuard guard(image.device().index);
  const cudaStream_t s = stream_of(ctx);
  if (image.dtype() == DType::Float32) return launch<float>(image, out, weight, eps, max_num_iter, batch_dims, s);
  return launch<double>(image, out, weight, eps, max_num_iter, batch_dims, s);
}

}  // namespace foveal::cuda
