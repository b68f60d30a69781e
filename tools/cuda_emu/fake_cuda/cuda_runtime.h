// The few CUDA runtime entry points that cuda/rl_cuda.cu's FFT path and cuda/cufft_api.cu use,
// on the CPU (rl_fft_emu.cpp; see run.sh): device memory is host memory, every call is
// synchronous, kernel launches run through shim.hpp. Launches check what the CUDA runtime
// refuses (grid and block limits) and that the work goes to the caller's stream.
#pragma once
#include <cstddef>
#include <cstdio>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "shim.hpp"

#define CUDART_VERSION 13000

struct CUstream_st;
using cudaStream_t = CUstream_st*;
enum cudaError_t {
  cudaSuccess = 0,
  cudaErrorInvalidValue = 1,
  cudaErrorMemoryAllocation = 2,
  cudaErrorInvalidConfiguration = 9,
  cudaErrorNoDevice = 100
};
enum cudaDeviceAttr { cudaDevAttrMultiProcessorCount = 16, cudaDevAttrMaxSharedMemoryPerBlockOptin = 97 };
enum cudaFuncAttribute { cudaFuncAttributeMaxDynamicSharedMemorySize = 8, cudaFuncAttributePreferredSharedMemoryCarveout = 9 };
enum cudaSharedCarveout { cudaSharedmemCarveoutDefault = -1, cudaSharedmemCarveoutMaxShared = 100, cudaSharedmemCarveoutMaxL1 = 0 };
enum cudaMemcpyKind {
  cudaMemcpyHostToHost = 0,
  cudaMemcpyHostToDevice = 1,
  cudaMemcpyDeviceToHost = 2,
  cudaMemcpyDeviceToDevice = 3,
  cudaMemcpyDefault = 4
};

struct dim3 {
  unsigned x, y, z;
  constexpr dim3(unsigned a = 1, unsigned b = 1, unsigned c = 1) : x(a), y(b), z(c) {}
};

struct alignas(16) uint4 {
  unsigned x, y, z, w;
};

namespace emu {
inline cudaStream_t stream = nullptr;       // the stream the emulated call was given
inline cudaError_t last_error = cudaSuccess;
inline long launches = 0, wrong_stream = 0;  // work queued on any other stream counts here
// The emulated device (an H200): shared memory a block may opt in to, multiprocessors.
inline constexpr int kOptinSmem = 232448, kSms = 132;
// The largest dynamic shared memory any kernel opted in to (cudaFuncSetAttribute). The launches do
// not name their kernel, so a launch over 48 KB only checks that some kernel opted in that far.
inline std::size_t smem_opt_in = 48 * 1024;

inline void on_stream(cudaStream_t s) {
  if (s != stream) ++wrong_stream;
}

// kernel<<<grid, block, smem, s>>>(args) becomes launch_cuda(grid, block, smem, s, [&] { kernel(args); }).
// The RL kernels have no barriers, shuffles or shared memory, so the CUDA threads run one after
// another on this OS thread, in a shuffled order (a kernel whose result depends on the order of
// its threads, a race, shows up as a mismatch); a __syncthreads would crash (no block barrier).
template <typename F>
void launch_serial(dim3 g, dim3 b, F f) {
  gridDim = {g.x, g.y, g.z};
  blockDim = {b.x, b.y, 1};
  block_bar = nullptr;
  warps.clear();
  std::vector<std::uint64_t> order(std::size_t(g.x) * g.y * g.z * b.x * b.y);
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::uint64_t r = 0x9e3779b97f4a7c15ull + order.size();
  for (std::size_t i = order.size(); i > 1; --i) {  // Fisher-Yates with an xorshift
    r ^= r << 13, r ^= r >> 7, r ^= r << 17;
    std::swap(order[i - 1], order[r % i]);
  }
  const std::uint64_t nt = std::uint64_t(b.x) * b.y;
  for (const std::uint64_t i : order) {
    const std::uint64_t t = i % nt, blk = i / nt;
    threadIdx = {unsigned(t % b.x), unsigned(t / b.x), 0};
    blockIdx = {unsigned(blk % g.x), unsigned(blk / g.x % g.y), unsigned(blk / g.x / g.y)};
    f();
  }
}

template <typename F>
void launch_cuda(dim3 g, dim3 b, std::size_t smem, cudaStream_t s, F f) {
  on_stream(s);
  ++launches;
  const bool ok = g.x >= 1 && g.y >= 1 && g.z >= 1 && g.x <= 2147483647u && g.y <= 65535 && g.z <= 65535 &&
                  b.x >= 1 && b.y >= 1 && b.z == 1 && b.x * b.y <= 1024 && smem <= 48 * 1024;
  if (!ok) {
    std::fprintf(stderr, "emu: invalid launch grid (%u, %u, %u) block (%u, %u, %u)\n", g.x, g.y, g.z, b.x, b.y, b.z);
    last_error = cudaErrorInvalidConfiguration;
    return;
  }
  launch_serial(g, b, f);
}

inline bool launch_ok(dim3 g, dim3 b, std::size_t smem) {
  const bool ok = g.x >= 1 && g.y >= 1 && g.z >= 1 && g.x <= 2147483647u && g.y <= 65535 && g.z <= 65535 &&
                  b.x >= 1 && b.y >= 1 && b.z == 1 && b.x * b.y <= 1024 && smem <= smem_opt_in;
  if (!ok) {
    std::fprintf(stderr, "emu: invalid launch grid (%u, %u, %u) block (%u, %u, %u)\n", g.x, g.y, g.z, b.x, b.y, b.z);
    last_error = cudaErrorInvalidConfiguration;
  }
  return ok;
}

// For kernels with barriers or shared memory: each CUDA thread of a block a fiber (an OS thread
// under ThreadSanitizer; shim.hpp's launch_grid: __syncthreads, blocks one after another).
template <typename F>
void launch_cuda_threads(dim3 g, dim3 b, std::size_t smem, cudaStream_t s, F f) {
  on_stream(s);
  ++launches;
  if (launch_ok(g, b, smem)) launch_grid(g.x, g.y, g.z, b.x, b.y, smem, f, 0);
}

// Launches per kernel name (whole/extract.py's launches go through Kernel{"name"}), so that a check
// can tell which path of the host code ran.
inline std::map<std::string, long> kernel_launches;
struct Kernel {
  const char* name;
  template <typename F>
  void cuda(dim3 g, dim3 b, std::size_t smem, cudaStream_t s, F f) const {
    ++kernel_launches[name];
    launch_cuda(g, b, smem, s, f);
  }
  template <typename F>
  void cuda_threads(dim3 g, dim3 b, std::size_t smem, cudaStream_t s, F f) const {
    ++kernel_launches[name];
    launch_cuda_threads(g, b, smem, s, f);
  }
};
}  // namespace emu

inline cudaError_t cudaGetDevice(int* d) {
  *d = 0;
  return cudaSuccess;
}
inline cudaError_t cudaSetDevice(int d) { return d == 0 ? cudaSuccess : cudaErrorInvalidValue; }
inline cudaError_t cudaGetLastError() {
  const cudaError_t e = emu::last_error;
  emu::last_error = cudaSuccess;
  return e;
}
inline cudaError_t cudaMemcpyAsync(void* dst, const void* src, std::size_t n, cudaMemcpyKind, cudaStream_t s) {
  emu::on_stream(s);
  std::memcpy(dst, src, n);
  return cudaSuccess;
}
inline cudaError_t cudaMemsetAsync(void* dst, int v, std::size_t n, cudaStream_t s) {
  emu::on_stream(s);
  std::memset(dst, v, n);
  return cudaSuccess;
}

// The device the host code plans for: an H200's 132 multiprocessors, or EMU_SMS (to reach the
// tile and split-K choices, and the RoI grids sized from the SM count, with small problems), and
// its 227 KB of opt-in shared memory per block.
inline cudaError_t cudaDeviceGetAttribute(int* v, cudaDeviceAttr a, int device) {
  if (device != 0) return cudaErrorInvalidValue;
  if (a == cudaDevAttrMultiProcessorCount) {
    const char* e = std::getenv("EMU_SMS");
    *v = e ? std::atoi(e) : emu::kSms;
  } else if (a == cudaDevAttrMaxSharedMemoryPerBlockOptin) {
    *v = emu::kOptinSmem;
  } else {
    return cudaErrorInvalidValue;
  }
  return cudaSuccess;
}
// __ldg: a read-only load; a vector load needs its natural alignment (the GPU faults otherwise).
template <typename T>
T __ldg(const T* p) {
  if (reinterpret_cast<std::uintptr_t>(p) % alignof(T) != 0) {
    std::fprintf(stderr, "emu: __ldg of a misaligned %zu-byte vector\n", sizeof(T));
    std::abort();
  }
  return *p;
}
// Work is synchronous here: a synchronisation only checks the stream.
inline cudaError_t cudaStreamSynchronize(cudaStream_t s) {
  emu::on_stream(s);
  return cudaSuccess;
}
// A carveout is a percentage (or -1); dynamic shared memory past 48 KB needs this opt-in.
template <typename K>
cudaError_t cudaFuncSetAttribute(K*, cudaFuncAttribute a, int v) {
  if (a == cudaFuncAttributePreferredSharedMemoryCarveout) return v >= -1 && v <= 100 ? cudaSuccess : cudaErrorInvalidValue;
  if (a != cudaFuncAttributeMaxDynamicSharedMemorySize || v < 0 || v > emu::kOptinSmem) return cudaErrorInvalidValue;
  if (static_cast<std::size_t>(v) > emu::smem_opt_in) emu::smem_opt_in = static_cast<std::size_t>(v);
  return cudaSuccess;
}
// cuda/device_cuda.cu's calls: one device (0), runtime 13.0, a default memory pool whose release
// threshold can be set, pointer attributes of memory labelled as device memory.
inline cudaError_t cudaGetDeviceCount(int* n) {
  *n = 1;
  return cudaSuccess;
}
inline cudaError_t cudaRuntimeGetVersion(int* v) {
  *v = CUDART_VERSION;
  return cudaSuccess;
}
inline const char* cudaGetErrorName(cudaError_t e) {
  switch (e) {
    case cudaSuccess: return "cudaSuccess";
    case cudaErrorInvalidValue: return "cudaErrorInvalidValue";
    case cudaErrorMemoryAllocation: return "cudaErrorMemoryAllocation";
    case cudaErrorInvalidConfiguration: return "cudaErrorInvalidConfiguration";
    case cudaErrorNoDevice: return "cudaErrorNoDevice";
  }
  return "cudaErrorUnknown";
}
inline const char* cudaGetErrorString(cudaError_t e) {
  switch (e) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorInvalidConfiguration: return "invalid configuration argument";
    case cudaErrorNoDevice: return "no CUDA-capable device is detected";
  }
  return "unknown error";
}
struct CUmemPoolHandle_st {
  std::uint64_t release_threshold = 0;
};
using cudaMemPool_t = CUmemPoolHandle_st*;
enum cudaMemPoolAttr { cudaMemPoolAttrReleaseThreshold = 4 };
namespace emu {
inline CUmemPoolHandle_st default_pool;
}  // namespace emu
inline cudaError_t cudaDeviceGetDefaultMemPool(cudaMemPool_t* pool, int device) {
  if (device != 0) return emu::last_error = cudaErrorInvalidValue;
  *pool = &emu::default_pool;
  return cudaSuccess;
}
inline cudaError_t cudaMemPoolSetAttribute(cudaMemPool_t pool, cudaMemPoolAttr attr, void* value) {
  if (pool != &emu::default_pool || attr != cudaMemPoolAttrReleaseThreshold || !value)
    return emu::last_error = cudaErrorInvalidValue;
  pool->release_threshold = *static_cast<std::uint64_t*>(value);
  return cudaSuccess;
}
enum cudaMemoryType { cudaMemoryTypeUnregistered = 0, cudaMemoryTypeHost = 1, cudaMemoryTypeDevice = 2,
                      cudaMemoryTypeManaged = 3 };
struct cudaPointerAttributes {
  cudaMemoryType type;
  int device;
  void* devicePointer;
  void* hostPointer;
};
namespace emu {
inline const void* device_base = nullptr;  // a range the adapter labels as device memory
inline std::size_t device_bytes = 0;
}  // namespace emu
inline cudaError_t cudaPointerGetAttributes(cudaPointerAttributes* a, const void* p) {
  const auto u = reinterpret_cast<std::uintptr_t>(p), b = reinterpret_cast<std::uintptr_t>(emu::device_base);
  const bool dev = emu::device_base && u >= b && u < b + emu::device_bytes;
  *a = {dev ? cudaMemoryTypeDevice : cudaMemoryTypeUnregistered, dev ? 0 : -2, dev ? const_cast<void*>(p) : nullptr,
        dev ? nullptr : const_cast<void*>(p)};
  return cudaSuccess;
}
