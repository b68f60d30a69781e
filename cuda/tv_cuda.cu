// SPDX-License-Identifier: Apache-2.0
// Chambolle TV iteration on CUDA: one fused pass per iteration reads p, forms u = image - div p at
// each point and at its forward neighbours, writes u (the output, should this be the last
// iteration), the updated p into the other buffer, and per-block partial sums of d^2 and |grad u|;
// a one-block step sums the partials in a fixed order and applies skimage's stop rule on the
// device. A finished image turns every later kernel into a no-op, so the host enqueues iterations
// without waiting and looks at the flag only every kPollEvery iterations.
#include <cstdint>
#include <vector>

#include "common.cuh"
#include "foveal/math/tv.hpp"
#include "ops/backend.hpp"

namespace foveal::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int kPollEvery = 32;
constexpr int kMaxBlocks = 4096;

struct Grid {
  int ndim;
  std::int64_t dims[8];
  std::int64_t strides[8];  // elements between neighbours along each axis
  std::int64_t size;
};

struct State {
  double e_init, e_prev;  // energies of iteration 0 and of the previous one
  long long iters;        // iterations run, once done
  int done;
};

__device__ __forceinline__ double block_sum(double v) {
  __shared__ double warp_sums[kThreads / 32];
  for (int o = 16; o > 0; o >>= 1) v += __shfl_down_sync(0xffffffffu, v, o);
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  __syncthreads();  // warp_sums may still be read by an earlier call
  if (lane == 0) warp_sums[warp] = v;
  __syncthreads();
  v = 0;
  if (warp == 0) {
    v = lane < kThreads / 32 ? warp_sums[lane] : 0.0;
    for (int o = 16; o > 0; o >>= 1) v += __shfl_down_sync(0xffffffffu, v, o);
  }
  return v;  // meaningful in thread 0
}

// d = -div p at j in skimage's order: -(p_0 + ... + p_{D-1}), then the shifted terms; `first`
// has bit a set where j is at coordinate 0 along axis a. D > 0: the dimension count at compile
// time (loops unrolled, arrays in registers); 0: g.ndim.
template <typename T, typename I, int D>
__device__ __forceinline__ T neg_div(const T* __restrict__ p, I n, I j, const Grid& g, unsigned first) {
  const int nd = D > 0 ? D : g.ndim;
  T s = p[j];
#pragma unroll
  for (int a = 1; a < (D > 0 ? D : 8); ++a)
    if (a < nd) s += p[a * n + j];
  T d = -s;
#pragma unroll
  for (int a = 0; a < (D > 0 ? D : 8); ++a)
    if (a < nd && !(first >> a & 1u)) d += p[a * n + j - static_cast<I>(g.strides[a])];
  return d;
}

// One iteration: u = image + d at i (written to out) and at i's forward neighbours, grad u,
// |grad u|, p_next = update(p); block partial sums of d^2 and |grad u|. With `last`, only u.
template <typename T, typename I, int D>
__global__ void iter_kernel(const T* __restrict__ image, T* __restrict__ out, const T* __restrict__ p,
                            T* __restrict__ p_next, Grid g, T tau, T tow, bool last, double* __restrict__ partial,
                            const State* st) {
  if (st->done) return;
  constexpr int kMax = D > 0 ? D : 8;  // every loop below runs kMax unrolled trips, a < nd of them live
  const int nd = D > 0 ? D : g.ndim;
  const I n = static_cast<I>(g.size);
  double e_d2 = 0, e_tv = 0;
  for (I i = static_cast<I>(blockIdx.x) * kThreads + threadIdx.x; i < n; i += static_cast<I>(gridDim.x) * kThreads) {
    unsigned first = 0, lastc = 0;
#pragma unroll
    for (int a = 0; a < kMax; ++a) {
      if (a >= nd) break;
      const I x = (i / static_cast<I>(g.strides[a])) % static_cast<I>(g.dims[a]);
      first |= (x == 0 ? 1u : 0u) << a;
      lastc |= (x + 1 == static_cast<I>(g.dims[a]) ? 1u : 0u) << a;
    }
    const T d = neg_div<T, I, D>(p, n, i, g, first);
    const T ui = image[i] + d;
    out[i] = ui;
    e_d2 += static_cast<double>(d) * static_cast<double>(d);
    if (last) continue;
    T grad[kMax];
    T s = T(0);
#pragma unroll
    for (int a = 0; a < kMax; ++a) {
      grad[a] = T(0);
      if (a >= nd) continue;
      if (!(lastc >> a & 1u)) {
        const I j = i + static_cast<I>(g.strides[a]);
        grad[a] = (image[j] + neg_div<T, I, D>(p, n, j, g, first & ~(1u << a))) - ui;
      }
      s += grad[a] * grad[a];
    }
    const T norm = sqrt(s);
    e_tv += static_cast<double>(norm);
    const T scale = math::tv_scale(norm, tow);
#pragma unroll
    for (int a = 0; a < kMax; ++a)
      if (a < nd) p_next[a * n + i] = math::tv_dual_update(p[a * n + i], grad[a], tau, scale);
  }
  e_d2 = block_sum(e_d2);
  e_tv = block_sum(e_tv);
  if (threadIdx.x == 0) {
    partial[2 * blockIdx.x] = e_d2;
    partial[2 * blockIdx.x + 1] = e_tv;
  }
}

// The same iteration for a 2-D image, one 32 x 8 tile per block: p (with a one-pixel halo) and u
// (with the row below and the column right) in shared memory, no index division. Same operations
// in the same order as iter_kernel.
constexpr int kTX = 32, kTY = kThreads / kTX;

template <typename T>
__global__ void iter2d_kernel(const T* __restrict__ image, T* __restrict__ out, const T* __restrict__ p,
                              T* __restrict__ p_next, int H, int W, T tau, T tow, bool last,
                              double* __restrict__ partial, const State* st) {
  if (st->done) return;
  __shared__ T P0[kTY + 2][kTX + 2], P1[kTY + 2][kTX + 2], U[kTY + 1][kTX + 1];
  const int x0 = blockIdx.x * kTX, y0 = blockIdx.y * kTY, tid = threadIdx.x;
  const std::int64_t n = static_cast<std::int64_t>(H) * W;
  for (int k = tid; k < (kTY + 2) * (kTX + 2); k += kThreads) {
    const int ly = k / (kTX + 2), lx = k % (kTX + 2), yy = y0 - 1 + ly, xx = x0 - 1 + lx;
    const bool in = yy >= 0 && yy < H && xx >= 0 && xx < W;
    const std::int64_t j = static_cast<std::int64_t>(yy) * W + xx;
    P0[ly][lx] = in ? p[j] : T(0);
    P1[ly][lx] = in ? p[n + j] : T(0);
  }
  __syncthreads();
  // d = -div p at (yy, xx), from shared memory coordinates (sy, sx) = (yy - y0 + 1, xx - x0 + 1).
  auto neg_div2 = [&](int yy, int xx, int sy, int sx) {
    T s = P0[sy][sx];
    s += P1[sy][sx];
    T d = -s;
    if (yy > 0) d += P0[sy - 1][sx];
    if (xx > 0) d += P1[sy][sx - 1];
    return d;
  };
  for (int k = tid; k < (kTY + 1) * (kTX + 1); k += kThreads) {
    const int ly = k / (kTX + 1), lx = k % (kTX + 1), yy = y0 + ly, xx = x0 + lx;
    U[ly][lx] = yy < H && xx < W ? image[static_cast<std::int64_t>(yy) * W + xx] + neg_div2(yy, xx, ly + 1, lx + 1)
                                 : T(0);
  }
  __syncthreads();
  double e_d2 = 0, e_tv = 0;
  const int tx = tid % kTX, ty = tid / kTX, y = y0 + ty, x = x0 + tx;
  if (y < H && x < W) {
    const std::int64_t j = static_cast<std::int64_t>(y) * W + x;
    const T d = neg_div2(y, x, ty + 1, tx + 1);
    const T ui = image[j] + d;
    out[j] = ui;
    e_d2 = static_cast<double>(d) * static_cast<double>(d);
    if (!last) {
      const T g0 = y + 1 < H ? U[ty + 1][tx] - ui : T(0);
      const T g1 = x + 1 < W ? U[ty][tx + 1] - ui : T(0);
      T s = T(0);
      s += g0 * g0;
      s += g1 * g1;
      const T norm = sqrt(s);
      e_tv = static_cast<double>(norm);
      const T scale = math::tv_scale(norm, tow);
      p_next[j] = math::tv_dual_update(P0[ty + 1][tx + 1], g0, tau, scale);
      p_next[n + j] = math::tv_dual_update(P1[ty + 1][tx + 1], g1, tau, scale);
    }
  }
  e_d2 = block_sum(e_d2);
  e_tv = block_sum(e_tv);
  if (tid == 0) {
    const unsigned b = blockIdx.y * gridDim.x + blockIdx.x;
    partial[2 * b] = e_d2;
    partial[2 * b + 1] = e_tv;
  }
}

// skimage's rule: stop at the first iteration it >= 1 with |E_{it-1} - E_it| < eps E_0.
// One block: sums the partials of `blocks` blocks in a fixed order (the result is reproducible).
__global__ void stop_kernel(State* st, const double* __restrict__ partial, unsigned blocks, double weight,
                            double eps, double size, long long it) {
  if (st->done) return;
  double d2 = 0, tv = 0;
  for (unsigned b = threadIdx.x; b < blocks; b += kThreads) {
    d2 += partial[2 * b];
    tv += partial[2 * b + 1];
  }
  d2 = block_sum(d2);
  tv = block_sum(tv);
  if (threadIdx.x != 0) return;
  const double energy = (d2 + weight * tv) / size;
  if (it == 0) {
    st->e_init = st->e_prev = energy;
  } else if (fabs(st->e_prev - energy) < eps * st->e_init) {
    st->done = 1;
    st->iters = it + 1;
  } else {
    st->e_prev = energy;
  }
}

// The generic iteration with the dimension count fixed at compile time where it is common.
template <typename T, typename I>
void launch_iter(unsigned blocks, cudaStream_t s, const T* image, T* out, const T* p, T* p_next, const Grid& g, T tau,
                 T tow, bool last, double* partial, const State* st) {
  switch (g.ndim) {
    case 1: iter_kernel<T, I, 1><<<blocks, kThreads, 0, s>>>(image, out, p, p_next, g, tau, tow, last, partial, st); break;
    case 2: iter_kernel<T, I, 2><<<blocks, kThreads, 0, s>>>(image, out, p, p_next, g, tau, tow, last, partial, st); break;
    case 3: iter_kernel<T, I, 3><<<blocks, kThreads, 0, s>>>(image, out, p, p_next, g, tau, tow, last, partial, st); break;
    default: iter_kernel<T, I, 0><<<blocks, kThreads, 0, s>>>(image, out, p, p_next, g, tau, tow, last, partial, st);
  }
}

inline bool is_tiled2d(const Grid& g) {
  return g.ndim == 2 && g.dims[0] <= std::int64_t(65535) * kTY && g.dims[1] < (std::int64_t(1) << 30);
}

inline std::int64_t partial_blocks(const Grid& g) {
  if (!is_tiled2d(g)) return kMaxBlocks;
  return ((g.dims[1] + kTX - 1) / kTX) * ((g.dims[0] + kTY - 1) / kTY);
}

template <typename T, typename I>
std::int64_t run_one(const T* image, T* out, T* p, State* st, double* partial, const Grid& g, double weight,
                     double eps, std::int64_t max_num_iter, cudaStream_t s) {
  const double tau_d = math::tv_tau(g.ndim);
  const T tau = static_cast<T>(tau_d), tow = static_cast<T>(tau_d / weight);
  // 2-D images (rows and columns within a launch's grid) take the tiled kernel.
  const bool tiled = is_tiled2d(g);
  const dim3 tiles(tiled ? static_cast<unsigned>((g.dims[1] + kTX - 1) / kTX) : 1u,
                   tiled ? static_cast<unsigned>((g.dims[0] + kTY - 1) / kTY) : 1u);
  const unsigned blocks = tiled ? tiles.x * tiles.y : blocks_for(g.size, kThreads, kMaxBlocks);
  const std::int64_t np = g.ndim * g.size;
  FOVEAL_CUDA_CHECK(cudaMemsetAsync(p, 0, sizeof(T) * np, s));
  FOVEAL_CUDA_CHECK(cudaMemsetAsync(st, 0, sizeof(State), s));
  int done = 0;
  for (std::int64_t it = 0; it < max_num_iter; ++it) {
    T* cur = p + (it & 1) * np;
    T* next = p + ((it + 1) & 1) * np;
    const bool last = it + 1 == max_num_iter;  // the final p update cannot change the result
    if (tiled)
      iter2d_kernel<T><<<tiles, kThreads, 0, s>>>(image, out, cur, next, static_cast<int>(g.dims[0]),
                                                  static_cast<int>(g.dims[1]), tau, tow, last, partial, st);
    else
      launch_iter<T, I>(blocks, s, image, out, cur, next, g, tau, tow, last, partial, st);
    if (last) break;
    stop_kernel<<<1, kThreads, 0, s>>>(st, partial, blocks, weight, eps, static_cast<double>(g.size), it);
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
  Workspace<T> p(static_cast<std::size_t>(2 * g.ndim * g.size), s);  // two buffers
  Workspace<State> st(1, s);
  Workspace<double> partial(static_cast<std::size_t>(2 * partial_blocks(g)), s);
  std::vector<std::int64_t> iters(static_cast<std::size_t>(batch));
  const bool small = g.ndim * g.size < (std::int64_t(1) << 31);  // 32-bit index math
  for (std::int64_t b = 0; b < batch; ++b) {
    const T* im = image.data_as<T>() + b * g.size;
    T* o = out.data_as<T>() + b * g.size;
    iters[b] = small ? run_one<T, std::int32_t>(im, o, p.get(), st.get(), partial.get(), g, weight, eps, max_num_iter, s)
                     : run_one<T, std::int64_t>(im, o, p.get(), st.get(), partial.get(), g, weight, eps, max_num_iter,
                                                s);
  }
  return iters;
}


// ---- Split-Bregman ----
// One Gauss-Seidel sweep in skimage's order (as tv_cpu.cpp). The d and b updates at (r, c) read
// only the state from before the sweep, so one kernel ("terms") does them for every pixel at once.
// What stays sequential is u_new(r, c) = a u_new(r, c - 1) + g(r, c), where g holds u_new(r - 1, c)
// and terms from before the sweep: a two-dimensional recurrence with a = lam / norm = 2/9, in which
// a value d steps away (Manhattan) carries a weight of at most (2a)^d = (4/9)^d. So the "sweep"
// kernel cuts the image into tiles that each start kWarm rows above and columns left of their own
// output, from the state before the sweep, and run their recurrence as a wavefront: a warp's lane
// owns kCols adjacent columns and handles row (step - lane), taking the value left of its first
// column from the lane before through a shuffle. What the warm start loses is
// (4/9)^kWarm |u_new - u_old|: below the dtype's rounding. u is double-buffered (the sweep reads
// the old u of neighbouring tiles while they write theirs); a finished plane group skips later
// sweeps, so its newest u is the buffer of its sweep count's parity.

struct BregmanDev {
  std::int64_t P, R, C;
  const void* f;
  void* u[2];     // per plane (R + 2) x (C + 2), skimage's border included
  void* terms;    // per plane dx, dy, bx, by, g0 (each R x C)
  double* partial;  // per tile: sum (u_new - u_old)^2 of the current sweep
  std::int64_t tiles_per_plane;
  int* stop;      // per group
  long long* iters;  // per group: sweeps run
  std::int64_t planes_per_group;
};

template <typename T>
struct BregmanTile {  // tile geometry of the sweep kernel
  static constexpr int kCols = 4;                             // columns per lane
  static constexpr int kWarm = sizeof(T) == 4 ? 32 : 48;      // (4/9)^32 ~ 6e-12, (4/9)^48 ~ 1e-17
  static constexpr int kWidth = 32 * kCols;                   // columns a warp covers
  static constexpr int kOutCols = kWidth - kWarm;             // columns a tile writes
  static constexpr int kOutRows = 32;                         // rows a tile writes
};

// u = the image inside skimage's border (top: row 1, left: column 1, bottom: row R-1, right:
// column C-1), in both buffers; d = b = 0.
template <typename T>
__global__ void bregman_init_kernel(BregmanDev b) {
  const std::int64_t R = b.R, C = b.C, CP = C + 2, UN = (R + 2) * CP, N = R * C;
  const std::int64_t n = b.P * UN;
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    const std::int64_t p = i / UN, k = i % UN, y = k / CP, x = k % CP;
    const T* f = static_cast<const T*>(b.f) + p * N;
    const bool row_in = y >= 1 && y <= R, col_in = x >= 1 && x <= C;
    T v = T(0);
    if (row_in && col_in) v = f[(y - 1) * C + (x - 1)];
    else if (y == 0 && col_in) v = f[C + (x - 1)];
    else if (y == R + 1 && col_in) v = f[(R - 1) * C + (x - 1)];
    else if (x == 0 && row_in) v = f[(y - 1) * C + 1];
    else if (x == C + 1 && row_in) v = f[(y - 1) * C + C - 1];
    static_cast<T*>(b.u[0])[i] = v;
    static_cast<T*>(b.u[1])[i] = v;
  }
  const std::int64_t nt = b.P * 5 * N;
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < nt;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x)
    static_cast<T*>(b.terms)[i] = T(0);
}

// New d and b at every pixel from the state before the sweep; g0 = (b - d)_x + (b - d)_y before.
template <typename T>
__global__ void bregman_terms_kernel(BregmanDev b, int cur, T lam, bool iso) {
  const std::int64_t R = b.R, C = b.C, CP = C + 2, N = R * C, n = b.P * N;
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    const std::int64_t p = i / N, k = i % N, r = k / C, c = k % C;
    if (b.stop[p / b.planes_per_group]) continue;
    const T* uc = static_cast<const T*>(cur ? b.u[1] : b.u[0]) + p * (R + 2) * CP + (r + 1) * CP + 1 + c;
    T* t = static_cast<T*>(b.terms) + p * 5 * N + k;
    T *dx = t, *dy = t + N, *bx = t + 2 * N, *by = t + 3 * N, *g0 = t + 4 * N;
    const T u0 = uc[0], ux = uc[1] - u0, uy = uc[CP] - u0, bxo = *bx, byo = *by;
    *g0 = (bxo - *dx) + (byo - *dy);
    T dxn, dyn;
    if (iso) {
      math::tv_bregman_shrink_iso(ux + bxo, uy + byo, lam, &dxn, &dyn);
    } else {
      dxn = math::tv_bregman_shrink_aniso(ux + bxo, lam);
      dyn = math::tv_bregman_shrink_aniso(uy + byo, lam);
    }
    *dx = dxn;
    *dy = dyn;
    *bx = bxo + (ux - dxn);
    *by = byo + (uy - dyn);
  }
}

// What a lane reads for its kCols columns of one row, all before the sweep's writes: loaded one
// step ahead of its use, so the loads' latency overlaps the step before.
template <typename T, int K>
struct BregmanRow {
  T below[K], right[K], old[K], lr[K], g[K], f[K];  // u(r+1, c), u(r, c+1), u(r, c) before; left+up; g0; f
  T x_left;                                          // lane 0: the value left of the tile
};

// One warp per tile (see above); blockDim.x = 32 * warps.
template <typename T>
__global__ void bregman_sweep_kernel(BregmanDev b, int cur, T w, T lam, T inv, T a, std::int64_t tile_rows,
                                     std::int64_t tile_cols) {
  using G = BregmanTile<T>;
  constexpr int K = G::kCols;
  const int lane = threadIdx.x & 31;
  const std::int64_t tile = static_cast<std::int64_t>(blockIdx.x) * (blockDim.x >> 5) + (threadIdx.x >> 5);
  if (tile >= b.P * tile_rows * tile_cols) return;  // whole warps only
  const std::int64_t p = tile / (tile_rows * tile_cols), tr = tile / tile_cols % tile_rows, tc = tile % tile_cols;
  if (b.stop[p / b.planes_per_group]) return;
  const std::int64_t R = b.R, C = b.C, CP = C + 2, N = R * C;
  const std::int64_t r0 = tr * G::kOutRows, r1 = r0 + G::kOutRows < R ? r0 + G::kOutRows : R;
  const std::int64_t c0 = tc * G::kOutCols, c1 = c0 + G::kOutCols < C ? c0 + G::kOutCols : C;
  const std::int64_t rs = r0 > G::kWarm ? r0 - G::kWarm : 0, cs = c0 > G::kWarm ? c0 - G::kWarm : 0;
  // (selects, not b.u[cur]: a run-time index would copy the parameter struct to local memory)
  const T* __restrict__ uo = static_cast<const T*>(cur ? b.u[1] : b.u[0]) + p * (R + 2) * CP;  // before
  T* __restrict__ un = static_cast<T*>(cur ? b.u[0] : b.u[1]) + p * (R + 2) * CP;              // after
  const T* __restrict__ t = static_cast<const T*>(b.terms) + p * 5 * N;
  const T *__restrict__ dx = t, *__restrict__ dy = t + N, *__restrict__ bx = t + 2 * N, *__restrict__ by = t + 3 * N,
          *__restrict__ g0 = t + 4 * N;
  const T* __restrict__ f = static_cast<const T*>(b.f) + p * N;
  const std::int64_t cl = cs + lane * K;  // this lane's first column
  auto load = [&](std::int64_t r, BregmanRow<T, K>& q) {
    const T* ur = uo + (r + 1) * CP + 1;  // old u of row r (column -1 is the border)
    q.x_left = ur[cs - 1];                // warm start, or the fixed border at column 0
#pragma unroll
    for (int k = 0; k < K; ++k) {
      const std::int64_t c = cl + k, o = r * C + c;
      const bool in = c < C;
      q.below[k] = in ? ur[c + CP] : T(0);
      q.right[k] = in ? ur[c + 1] : T(0);
      q.old[k] = in ? ur[c] : T(0);
      const T left = in && c ? dx[o - 1] - bx[o - 1] : T(0);
      const T up = in && r ? dy[o - C] - by[o - C] : T(0);
      q.lr[k] = left + up;
      q.g[k] = in ? g0[o] : T(0);
      q.f[k] = in ? f[o] : T(0);
    }
  };
  // u_new of the row above, per column: the old u at the warm start (skimage's fixed border at
  // the top of the image).
  T above[K];
#pragma unroll
  for (int k = 0; k < K; ++k) above[k] = cl + k < C ? uo[rs * CP + cl + k + 1] : T(0);
  BregmanRow<T, K> q;
  const std::int64_t rows = r1 - rs;
  if (lane == 0) load(rs, q);
  T carry = T(0);
  double err = 0;
  for (std::int64_t step = 0; step < rows + 31; ++step) {
    T v = __shfl_up_sync(0xffffffffu, carry, 1);
    const std::int64_t i = step - lane;
    if (i >= 0 && i < rows) {
      const std::int64_t r = rs + i;
      if (lane == 0) v = q.x_left;
      T outv[K];
#pragma unroll
      for (int k = 0; k < K; ++k) {
        const T g = (lam * (((q.below[k] + above[k]) + q.right[k]) + (q.lr[k] + q.g[k])) + w * q.f[k]) * inv;
        if (cl + k < C) {
          v = a * v + g;
          above[k] = v;
        }
        outv[k] = v;
      }
      carry = v;
      if (r >= r0) {
#pragma unroll
        for (int k = 0; k < K; ++k) {
          const std::int64_t c = cl + k;
          if (c >= c0 && c < c1) {
            un[(r + 1) * CP + c + 1] = outv[k];
            const double d = static_cast<double>(outv[k]) - static_cast<double>(q.old[k]);
            err += d * d;
          }
        }
      }
    }
    if (i + 1 >= 0 && i + 1 < rows) load(rs + i + 1, q);  // the next step's row
  }
  for (int o = 16; o > 0; o >>= 1) err += __shfl_down_sync(0xffffffffu, err, o);
  if (lane == 0) b.partial[tile] = err;  // summed in a fixed order by the stop step: reproducible
}

// After a sweep, one block per group: sum the group's tile partials in a fixed order (the same
// iteration count on every run), count the sweep and apply skimage's stop rule (rmse kept in the
// image dtype: sqrt(sum / count), compared with eps in that dtype).
template <typename T>
__global__ void bregman_stop_kernel(BregmanDev b, double eps) {
  const std::int64_t gi = blockIdx.x;
  if (b.stop[gi]) return;  // uniform over the block
  const std::int64_t n = b.planes_per_group * b.tiles_per_plane, first = gi * n;
  double sum = 0;
  for (std::int64_t t = threadIdx.x; t < n; t += blockDim.x) sum += b.partial[first + t];
  sum = block_sum(sum);
  if (threadIdx.x == 0) {
    ++b.iters[gi];
    const T q = static_cast<T>(sum) / static_cast<T>(b.planes_per_group * b.R * b.C);
    const T rmse = static_cast<T>(sqrt(static_cast<double>(q)));
    if (!(rmse > static_cast<T>(eps))) b.stop[gi] = 1;
  }
}

template <typename T>
__global__ void bregman_out_kernel(BregmanDev b, T* out) {
  const std::int64_t R = b.R, C = b.C, CP = C + 2, n = b.P * R * C;
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    const std::int64_t p = i / (R * C), k = i % (R * C), y = k / C, x = k % C;
    const int buf = static_cast<int>(b.iters[p / b.planes_per_group] & 1);
    out[i] = static_cast<const T*>(buf ? b.u[1] : b.u[0])[p * (R + 2) * CP + (y + 1) * CP + x + 1];
  }
}

template <typename T>
std::vector<std::int64_t> bregman_launch(ConstTensorView image, TensorView out, double weight, double eps,
                                         std::int64_t max_num_iter, bool iso, bool joint, cudaStream_t s) {
  using G = BregmanTile<T>;
  const std::int64_t P = image.size(0), R = image.size(1), C = image.size(2), N = R * C;
  const std::int64_t UN = (R + 2) * (C + 2);
  const std::int64_t groups = joint ? 1 : P, per_group = joint ? P : 1;
  Workspace<T> state(static_cast<std::size_t>(P * (2 * UN + 5 * N)), s);
  const T w = static_cast<T>(weight), lam = T(2) * w, inv = T(1) / (w + T(4) * lam), a = lam * inv;
  const std::int64_t tile_rows = (R + G::kOutRows - 1) / G::kOutRows, tile_cols = (C + G::kOutCols - 1) / G::kOutCols;
  constexpr int kWarps = 4;
  const std::int64_t tiles = P * tile_rows * tile_cols;
  Workspace<double> partial(static_cast<std::size_t>(tiles), s);
  Workspace<long long> iters(static_cast<std::size_t>(groups), s);
  Workspace<int> stop(static_cast<std::size_t>(groups), s);
  BregmanDev b{P, R, C, image.data_as<T>(), {state.get(), state.get() + P * UN}, state.get() + 2 * P * UN,
               partial.get(), tile_rows * tile_cols, stop.get(), iters.get(), per_group};
  FOVEAL_CUDA_CHECK(cudaMemsetAsync(iters.get(), 0, sizeof(long long) * groups, s));
  FOVEAL_CUDA_CHECK(cudaMemsetAsync(stop.get(), 0, sizeof(int) * groups, s));
  bregman_init_kernel<T><<<blocks_for(P * UN, kThreads, 4096), kThreads, 0, s>>>(b);
  const unsigned sweep_blocks = static_cast<unsigned>((tiles + kWarps - 1) / kWarps);
  const unsigned term_blocks = blocks_for(P * N, kThreads, 8192);
  std::vector<int> host_stop(static_cast<std::size_t>(groups));
  for (std::int64_t it = 0; it < max_num_iter; ++it) {
    const int cur = static_cast<int>(it & 1);
    bregman_terms_kernel<T><<<term_blocks, kThreads, 0, s>>>(b, cur, lam, iso);
    bregman_sweep_kernel<T><<<sweep_blocks, 32 * kWarps, 0, s>>>(b, cur, w, lam, inv, a, tile_rows, tile_cols);
    bregman_stop_kernel<T><<<static_cast<unsigned>(groups), kThreads, 0, s>>>(b, eps);
    if (eps > 0 && (it + 1) % kPollEvery == 0 && it + 1 < max_num_iter) {
      FOVEAL_CUDA_CHECK(cudaMemcpyAsync(host_stop.data(), stop.get(), sizeof(int) * groups, cudaMemcpyDeviceToHost, s));
      FOVEAL_CUDA_CHECK(cudaStreamSynchronize(s));
      bool all = true;
      for (int v : host_stop) all = all && v;
      if (all) break;
    }
  }
  bregman_out_kernel<T><<<blocks_for(P * N, kThreads, 8192), kThreads, 0, s>>>(b, out.data_as<T>());
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
