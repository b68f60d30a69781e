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


// ---- Split-Bregman ----
// Gauss-Seidel with skimage's exact dependencies, as on the CPU (tv_cpu.cpp): per image row, the
// d and b updates and the recurrence's terms run across the block's threads, then the row's
// recurrence u(c) = a u(c - 1) + g(c) runs as one segment per thread, each after the first
// starting 24 elements early from 0. Rows and sweeps stay sequential, so one block owns a group of
// planes that share a stopping rule (all planes when joint, else one) and runs every sweep of it.

struct BregmanDev {
  std::int64_t R, C;
  const void* f;
  void* state;  // per plane: u (R + 2) x (C + 2), dx, dy, bx, by (R x C), uo, g (C)
};

template <typename T>
__device__ __forceinline__ T* plane_state(const BregmanDev& b, std::int64_t p) {
  const std::int64_t CP = b.C + 2, per = (b.R + 2) * CP + 4 * b.R * b.C + 2 * b.C;
  return static_cast<T*>(b.state) + p * per;
}

// u = the image inside skimage's border (top: row 1, left: column 1, bottom: row R-1, right:
// column C-1); d = b = 0.
template <typename T>
__global__ void bregman_init_kernel(BregmanDev b, std::int64_t planes) {
  const std::int64_t R = b.R, C = b.C, CP = C + 2, UN = (R + 2) * CP;
  const std::int64_t per = UN + 4 * R * C + 2 * C;
  const std::int64_t n = planes * per;
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    const std::int64_t p = i / per, k = i % per;
    const T* f = static_cast<const T*>(b.f) + p * R * C;
    T v = T(0);
    if (k < UN) {
      const std::int64_t y = k / CP, x = k % CP;
      const bool row_in = y >= 1 && y <= R, col_in = x >= 1 && x <= C;
      if (row_in && col_in) v = f[(y - 1) * C + (x - 1)];
      else if (y == 0 && col_in) v = f[C + (x - 1)];
      else if (y == R + 1 && col_in) v = f[(R - 1) * C + (x - 1)];
      else if (x == 0 && row_in) v = f[(y - 1) * C + 1];
      else if (x == C + 1 && row_in) v = f[(y - 1) * C + C - 1];
    }
    static_cast<T*>(b.state)[i] = v;
  }
}

template <typename T>
__global__ void bregman_kernel(BregmanDev b, std::int64_t planes_per_group, double weight, double eps,
                               std::int64_t max_num_iter, bool iso, long long* iters) {
  __shared__ double warp_sums[kThreads / 32];
  __shared__ int stop;
  const std::int64_t R = b.R, C = b.C, CP = C + 2, N = R * C;
  const T w = static_cast<T>(weight), lam = T(2) * w, norm = w + T(4) * lam, inv = T(1) / norm;
  const T a = lam * inv, eps_t = static_cast<T>(eps);
  const std::int64_t p0 = static_cast<std::int64_t>(blockIdx.x) * planes_per_group;
  constexpr std::int64_t warm = 24;
  const std::int64_t seg = (C + kThreads - 1) / kThreads > 32 ? (C + kThreads - 1) / kThreads : 32;
  std::int64_t it = 0;
  while (it < max_num_iter) {
    double e = 0;
    for (std::int64_t p = p0; p < p0 + planes_per_group; ++p) {
      T* u = plane_state<T>(b, p);
      T* dx = u + (R + 2) * CP;
      T* dy = dx + N;
      T* bx = dy + N;
      T* by = bx + N;
      T* uo = by + N;
      T* g = uo + C;
      const T* fp = static_cast<const T*>(b.f) + p * N;
      for (std::int64_t r = 0; r < R; ++r) {
        const T* uc = u + (r + 1) * CP + 1;
        const T* ud = uc + CP;
        const T* uu = uc - CP;
        const std::int64_t o = r * C;
        for (std::int64_t c = threadIdx.x; c < C; c += kThreads) {
          const T u0 = uc[c], ux = uc[c + 1] - u0, uy = ud[c] - u0, bxo = bx[o + c], byo = by[o + c];
          uo[c] = u0;
          g[c] = (bxo - dx[o + c]) + (byo - dy[o + c]);
          T dxn, dyn;
          if (iso) {
            math::tv_bregman_shrink_iso(ux + bxo, uy + byo, lam, &dxn, &dyn);
          } else {
            dxn = math::tv_bregman_shrink_aniso(ux + bxo, lam);
            dyn = math::tv_bregman_shrink_aniso(uy + byo, lam);
          }
          dx[o + c] = dxn;
          dy[o + c] = dyn;
          bx[o + c] = bxo + (ux - dxn);
          by[o + c] = byo + (uy - dyn);
        }
        __syncthreads();
        for (std::int64_t c = threadIdx.x; c < C; c += kThreads) {
          const T left = c ? dx[o + c - 1] - bx[o + c - 1] : T(0);
          const T up = r ? dy[o - C + c] - by[o - C + c] : T(0);
          g[c] = (lam * (((ud[c] + uu[c]) + uc[c + 1]) + ((left + up) + g[c])) + w * fp[o + c]) * inv;
        }
        __syncthreads();
        T* x = u + (r + 1) * CP + 1;
        const std::int64_t s0 = static_cast<std::int64_t>(threadIdx.x) * seg;
        if (s0 < C) {
          const std::int64_t s1 = s0 + seg < C ? s0 + seg : C;
          std::int64_t c = s0 > warm ? s0 - warm : 0;
          T v = c == 0 ? x[-1] : T(0);
          for (; c < s0; ++c) v = a * v + g[c];
          for (; c < s1; ++c) {
            v = a * v + g[c];
            x[c] = v;
          }
        }
        __syncthreads();
        for (std::int64_t c = threadIdx.x; c < C; c += kThreads) {
          const double d = static_cast<double>(x[c]) - static_cast<double>(uo[c]);
          e += d * d;
        }
        __syncthreads();
      }
    }
    ++it;
    for (int off = 16; off > 0; off >>= 1) e += __shfl_down_sync(0xffffffffu, e, off);
    const int lane = threadIdx.x & 31, wp = threadIdx.x >> 5;
    if (lane == 0) warp_sums[wp] = e;
    __syncthreads();
    if (threadIdx.x == 0) {
      double sum = 0;
      for (int k = 0; k < kThreads / 32; ++k) sum += warp_sums[k];
      // skimage keeps rmse in the image dtype: sqrt(sum / count), compared with eps in that dtype.
      const T q = static_cast<T>(sum) / static_cast<T>(planes_per_group * N);
      const T rmse = static_cast<T>(sqrt(static_cast<double>(q)));
      stop = !(rmse > eps_t);
    }
    __syncthreads();
    if (stop) break;
  }
  if (threadIdx.x == 0) iters[blockIdx.x] = it;
}

template <typename T>
__global__ void bregman_out_kernel(BregmanDev b, std::int64_t planes, T* out) {
  const std::int64_t R = b.R, C = b.C, CP = C + 2, n = planes * R * C;
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    const std::int64_t p = i / (R * C), k = i % (R * C), y = k / C, x = k % C;
    out[i] = plane_state<T>(b, p)[(y + 1) * CP + x + 1];
  }
}

template <typename T>
std::vector<std::int64_t> bregman_launch(ConstTensorView image, TensorView out, double weight, double eps,
                                         std::int64_t max_num_iter, bool iso, bool joint, cudaStream_t s) {
  const std::int64_t P = image.size(0), R = image.size(1), C = image.size(2);
  const std::int64_t per = (R + 2) * (C + 2) + 4 * R * C + 2 * C;
  Workspace<T> state(static_cast<std::size_t>(P * per), s);
  const std::int64_t groups = joint ? 1 : P, per_group = joint ? P : 1;
  Workspace<long long> iters(static_cast<std::size_t>(groups), s);
  const BregmanDev b{R, C, image.data_as<T>(), state.get()};
  bregman_init_kernel<T><<<blocks_for(P * per, kThreads), kThreads, 0, s>>>(b, P);
  bregman_kernel<T><<<static_cast<unsigned>(groups), kThreads, 0, s>>>(b, per_group, weight, eps, max_num_iter, iso,
                                                                       iters.get());
  bregman_out_kernel<T><<<blocks_for(P * R * C, kThreads), kThreads, 0, s>>>(b, P, out.data_as<T>());
  FOVEAL_CUDA_CHECK(cudaGetLastError());
  std::vector<long long> host(static_cast<std::size_t>(groups));
  FOVEAL_CUDA_CHECK(
      cudaMemcpyAsync(host.data(), iters.get(), sizeof(long long) * groups, cudaMemcpyDeviceToHost, s));
  FOVEAL_CUDA_CHECK(cudaStreamSynchronize(s));
  std::vector<std::int64_t> result(static_cast<std::size_t>(P));
  for (std::int64_t p = 0; p < P; ++p) result[p] = host[joint ? 0 : p];
  return result;
}

}  // namespace

std::vector<std::int64_t> denoise_tv_chambolle(ConstTensorView image, TensorView out, double weight, double eps,
                                               std::int64_t max_num_iter, int batch_dims, const ExecContext& ctx) {
  DeviceGuard guard(image.device().index);
  const cudaStream_t s = stream_of(ctx);
  if (image.dtype() == DType::Float32) return launch<float>(image, out, weight, eps, max_num_iter, batch_dims, s);
  return launch<double>(image, out, weight, eps, max_num_iter, batch_dims, s);
}

std::vector<std::int64_t> denoise_tv_bregman(ConstTensorView image, TensorView out, double weight, double eps,
                                             std::int64_t max_num_iter, bool isotropic, bool joint,
                                             const ExecContext& ctx) {
  DeviceGuard guard(image.device().index);
  const cudaStream_t s = stream_of(ctx);
  if (image.dtype() == DType::Float32)
    return bregman_launch<float>(image, out, weight, eps, max_num_iter, isotropic, joint, s);
  return bregman_launch<double>(image, out, weight, eps, max_num_iter, isotropic, joint, s);
}

}  // namespace foveal::cuda
