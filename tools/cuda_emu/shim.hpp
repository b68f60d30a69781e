// CUDA on the CPU, for the emulators of this folder (see run.sh): one OS thread per CUDA thread
// of a block, the threads walking the grid's blocks together; __syncthreads and __syncwarp are
// real barriers; warp shuffles go through a per-warp exchange; __shared__ is static storage and
// dynamic shared memory one buffer (g_smem), both reused block after block; atomics take a lock.
// nvcuda::wmma (below) is emulated with a full copy of each 16 x 16 tile per thread.
#pragma once
#include <algorithm>
#include <barrier>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <thread>
#include <type_traits>
#include <vector>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __restrict__
#define __shared__ static
#define __align__(n) __attribute__((aligned(n)))

struct float4 {
  float x, y, z, w;
};
struct double2 {
  double x, y;
};

struct D3 {
  unsigned x = 0, y = 0, z = 0;
};
inline thread_local D3 threadIdx, blockIdx;
inline D3 blockDim, gridDim;

namespace emu {
inline std::barrier<>* block_bar;
struct Warp {
  std::unique_ptr<std::barrier<>> bar;
  double slots[32];
};
inline std::vector<Warp> warps;
inline std::vector<double> smem;
inline std::mutex atomic_lock;

inline unsigned linear_thread() { return threadIdx.x + threadIdx.y * blockDim.x; }

template <typename T>
T shuffle(T v, int src, bool valid) {
  const unsigned t = linear_thread();
  Warp& w = warps[t / 32];
  w.slots[t % 32] = static_cast<double>(v);
  w.bar->arrive_and_wait();
  const T r = valid ? static_cast<T>(w.slots[src]) : v;
  w.bar->arrive_and_wait();
  return r;
}

// Runs f() as a (gx, gy, gz) grid of (bx, by) blocks with `smem_bytes` of dynamic shared memory.
template <typename F>
void launch_grid(unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, std::size_t smem_bytes, F f) {
  gridDim = {gx, gy, gz};
  blockDim = {bx, by, 1};
  const unsigned n = bx * by;
  smem.assign(smem_bytes / sizeof(double) + 16, std::nan(""));
  std::barrier<> bar(n), end(n);
  block_bar = &bar;
  warps.clear();
  warps.resize((n + 31) / 32);
  for (auto& w : warps) w.bar = std::make_unique<std::barrier<>>(32);
  std::vector<std::thread> th;
  for (unsigned t = 0; t < n; ++t)
    th.emplace_back([=, &end] {
      threadIdx = {t % bx, t / bx, 0};
      for (unsigned k = 0; k < gz; ++k)
        for (unsigned j = 0; j < gy; ++j)
          for (unsigned i = 0; i < gx; ++i) {
            blockIdx = {i, j, k};
            f();
            end.arrive_and_wait();
            if (t == 0) std::fill(smem.begin(), smem.end(), std::nan(""));  // nothing carries over
            end.arrive_and_wait();
          }
    });
  for (auto& t : th) t.join();
}

template <typename F>
void launch(unsigned gx, unsigned gy, unsigned bx, unsigned by, std::size_t smem_bytes, F f) {
  launch_grid(gx, gy, 1, bx, by, smem_bytes, f);
}
}  // namespace emu

#define __syncthreads() emu::block_bar->arrive_and_wait()
inline void __syncwarp(unsigned = 0xffffffffu) { emu::warps[emu::linear_thread() / 32].bar->arrive_and_wait(); }
template <typename T>
T __shfl_up_sync(unsigned, T v, int d) {
  const int lane = static_cast<int>(emu::linear_thread() % 32);
  return emu::shuffle(v, lane - d, lane - d >= 0);
}
template <typename T>
T __shfl_down_sync(unsigned, T v, int d) {
  const int lane = static_cast<int>(emu::linear_thread() % 32);
  return emu::shuffle(v, lane + d, lane + d < 32);
}
template <typename T>
T __shfl_sync(unsigned, T v, int src) {  // src in [0, 32): callers pass lane indices
  return emu::shuffle(v, src & 31, true);
}
template <typename T>
T atomicAdd(T* p, T v) {
  std::lock_guard<std::mutex> l(emu::atomic_lock);
  const T o = *p;
  *p += v;
  return o;
}
inline int atomicMax(int* p, int v) {
  std::lock_guard<std::mutex> l(emu::atomic_lock);
  const int o = *p;
  *p = std::max(o, v);
  return o;
}

// nvcuda::wmma on the CPU: every thread of the warp holds the whole matrix of a fragment (the real
// layout is opaque, so a kernel that keeps to the API cannot tell). Loads check wmma's rules (a
// 256-bit aligned pointer, ldm a multiple of 16 bytes); mma_sync sums the exact products in float,
// in k order; store_matrix_sync writes only the calling lane's share of the elements, so that a
// lane reading another lane's elements without __syncwarp reads stale data, as on the GPU.
namespace nvcuda::wmma {
struct matrix_a;
struct matrix_b;
struct accumulator;
struct row_major;
struct col_major;
namespace precision {
struct tf32;
}
enum layout_t { mem_row_major, mem_col_major };

/// cvt.rna.tf32.f32: 10 mantissa bits, to nearest, ties away from zero (low 13 bits zero).
inline float __float_to_tf32(float v) {
  if (!std::isfinite(v)) return v;
  std::uint32_t u;
  std::memcpy(&u, &v, 4);
  u = (u + 0x1000u) & ~0x1fffu;
  std::memcpy(&v, &u, 4);
  return v;
}

template <typename Use, int M, int N, int K, typename T, typename Layout = void>
struct fragment {
  using storage_element_type = std::conditional_t<std::is_same_v<T, precision::tf32>, float, T>;
  static constexpr int rows = std::is_same_v<Use, matrix_b> ? K : M;
  static constexpr int cols = std::is_same_v<Use, matrix_a> ? K : N;
  enum { num_elements = rows * cols };
  storage_element_type x[num_elements];  // row-major (rows x cols)
};

template <typename T>
float emu_float(const T& v) {
  if constexpr (std::is_class_v<T>) return to_acc(v);  // bfloat16 (found by ADL)
  else return static_cast<float>(v);
}

inline void check_ptr(const void* p, unsigned ldm, std::size_t elem) {
  if (reinterpret_cast<std::uintptr_t>(p) % 32 != 0 || (ldm * elem) % 16 != 0) {
    std::fprintf(stderr, "wmma: pointer not 256-bit aligned or ldm not a multiple of 16 bytes\n");
    std::abort();
  }
}

template <typename Use, int M, int N, int K, typename T, typename L, typename P>
void load_matrix_sync(fragment<Use, M, N, K, T, L>& f, const P* p, unsigned ldm) {
  using F = fragment<Use, M, N, K, T, L>;
  static_assert(std::is_same_v<typename F::storage_element_type, P>, "wmma: pointer type differs from the fragment's");
  check_ptr(p, ldm, sizeof(P));
  constexpr bool col = std::is_same_v<L, col_major>;
  for (int r = 0; r < F::rows; ++r)
    for (int c = 0; c < F::cols; ++c) f.x[r * F::cols + c] = col ? p[r + std::size_t(c) * ldm] : p[std::size_t(r) * ldm + c];
}

template <typename Use, int M, int N, int K, typename T, typename L>
void fill_fragment(fragment<Use, M, N, K, T, L>& f, const typename fragment<Use, M, N, K, T, L>::storage_element_type& v) {
  for (auto& e : f.x) e = v;
}

template <int M, int N, int K, typename T, typename LA, typename LB>
void mma_sync(fragment<accumulator, M, N, K, float>& d, const fragment<matrix_a, M, N, K, T, LA>& a,
              const fragment<matrix_b, M, N, K, T, LB>& b, const fragment<accumulator, M, N, K, float>& c) {
  float out[M * N];
  for (int r = 0; r < M; ++r)
    for (int n = 0; n < N; ++n) {
      float s = c.x[r * N + n];
      for (int k = 0; k < K; ++k) s += emu_float(a.x[r * K + k]) * emu_float(b.x[k * N + n]);
      out[r * N + n] = s;
    }
  std::memcpy(d.x, out, sizeof out);
}

template <int M, int N, int K>
void store_matrix_sync(float* p, const fragment<accumulator, M, N, K, float>& f, unsigned ldm, layout_t layout) {
  check_ptr(p, ldm, sizeof(float));
  const unsigned lane = emu::linear_thread() % 32;
  for (unsigned e = lane; e < unsigned(M * N); e += 32) {
    const unsigned r = e / N, c = e % N;
    p[layout == mem_row_major ? r * ldm + c : r + c * ldm] = f.x[e];
  }
}
}  // namespace nvcuda::wmma
