// CUDA on the CPU, for the emulators of this folder (see run.sh): one OS thread per CUDA thread
// of a block, the threads walking the grid's blocks together; __syncthreads and __syncwarp are
// real barriers; warp shuffles go through a per-warp exchange; __shared__ is static storage and
// dynamic shared memory one buffer (g_smem), both reused block after block; atomics take a lock.
#pragma once
#include <algorithm>
#include <barrier>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
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
