// SPDX-License-Identifier: Apache-2.0
// CUDA helpers shared by the kernels: error checks, device guard, stream-ordered workspace.
#pragma once
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "foveal/core/dtype.hpp"
#include "foveal/core/error.hpp"
#include "foveal/core/exec_context.hpp"

namespace foveal::cuda {

[[noreturn]] void throw_cuda_error(cudaError_t err, const char* what, const char* file, int line);

// Messages name the file without its directories (no build-machine paths): __FILE_NAME__ where the
// compiler has it keeps the path out of the binary too; throw_cuda_error strips it otherwise.
#ifdef __FILE_NAME__
#define FOVEAL_SOURCE_FILE __FILE_NAME__
#else
#define FOVEAL_SOURCE_FILE __FILE__
#endif
#define FOVEAL_CUDA_CHECK(expr)                                                        \
  do {                                                                                 \
    const cudaError_t foveal_err_ = (expr);                                            \
    if (foveal_err_ != cudaSuccess)                                                    \
      ::foveal::cuda::throw_cuda_error(foveal_err_, #expr, FOVEAL_SOURCE_FILE, __LINE__); \
  } while (0)

inline cudaStream_t stream_of(const ExecContext& ctx) { return reinterpret_cast<cudaStream_t>(ctx.stream); }

/// Makes `device` current for the scope.
class DeviceGuard {
 public:
  explicit DeviceGuard(int device) {
    FOVEAL_CUDA_CHECK(cudaGetDevice(&prev_));
    if (prev_ != device) FOVEAL_CUDA_CHECK(cudaSetDevice(device));
  }
  ~DeviceGuard() {
    int cur = prev_;
    if (cudaGetDevice(&cur) == cudaSuccess && cur != prev_) cudaSetDevice(prev_);
  }
  DeviceGuard(const DeviceGuard&) = delete;
  DeviceGuard& operator=(const DeviceGuard&) = delete;

 private:
  int prev_ = 0;
};

/// Makes the current device's default memory pool keep up to 1 GiB of freed memory (a caching
/// allocator) instead of returning it to the driver at every synchronisation; once per device.
void keep_pool_memory();

/// Temporary device memory, allocated and freed in stream order from the device's cached pool.
template <typename T>
class Workspace {
 public:
  Workspace(std::size_t count, cudaStream_t stream) : stream_(stream) {
    if (count == 0) return;
    keep_pool_memory();
    FOVEAL_CUDA_CHECK(cudaMallocAsync(reinterpret_cast<void**>(&ptr_), count * sizeof(T), stream));
  }
  ~Workspace() {
    if (ptr_) cudaFreeAsync(ptr_, stream_);
  }
  Workspace(const Workspace&) = delete;
  Workspace& operator=(const Workspace&) = delete;
  T* get() const { return ptr_; }

 private:
  T* ptr_ = nullptr;
  cudaStream_t stream_;
};

inline unsigned blocks_for(std::int64_t n, int block, std::int64_t cap = 65535 * 32) {
  std::int64_t b = (n + block - 1) / block;
  if (b < 1) b = 1;
  return static_cast<unsigned>(b < cap ? b : cap);
}

/// Storage type on the device for a host element type, and the type the math runs in.
template <typename S> struct DeviceElem { using type = S; using acc = S; };
template <> struct DeviceElem<foveal::half> { using type = __half; using acc = float; };

// Storage -> arithmetic type and back: float16 / bfloat16 compute in float.
__device__ __forceinline__ float to_acc(__half v) { return __half2float(v); }
__device__ __forceinline__ float to_acc(__nv_bfloat16 v) { return __bfloat162float(v); }
__device__ __forceinline__ float to_acc(float v) { return v; }
__device__ __forceinline__ double to_acc(double v) { return v; }
template <typename S> struct FromAcc {
  template <typename A> __device__ __forceinline__ static S from(A v) { return static_cast<S>(v); }
};
template <> struct FromAcc<__half> {
  __device__ __forceinline__ static __half from(float v) { return __float2half_rn(v); }
};
template <> struct FromAcc<__nv_bfloat16> {
  __device__ __forceinline__ static __nv_bfloat16 from(float v) { return __float2bfloat16_rn(v); }
};
template <typename S, typename A> __device__ __forceinline__ S from_acc(A v) { return FromAcc<S>::from(v); }

}  // namespace foveal::cuda
