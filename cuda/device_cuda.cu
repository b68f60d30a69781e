// SPDX-License-Identifier: Apache-2.0
#include <atomic>
#include <string>

#include "common.cuh"
#include "core/messages.hpp"
#include "foveal/build_info.hpp"
#include "ops/backend.hpp"

namespace foveal::cuda {

void throw_cuda_error(cudaError_t err, const char* what, const char* file, int line) {
  cudaGetLastError();  // clear a sticky-free error so the next call starts clean
  const std::string msg = detail::cuda_error_message(cudaGetErrorName(err), cudaGetErrorString(err), what, file, line);
  if (err == cudaErrorMemoryAllocation) throw MemoryError(msg);
  throw DeviceError(msg);
}

void keep_pool_memory() {
  // A freed workspace otherwise goes back to the driver at the next synchronisation, and the next
  // call pays cudaMalloc again (tens to hundreds of microseconds for a few megabytes). The pool
  // keeps at most 1 GiB between calls, so other allocators (torch's) are not starved.
  constexpr int kMaxDevices = 64;
  static std::atomic<bool> done[kMaxDevices];
  int dev = 0;
  FOVEAL_CUDA_CHECK(cudaGetDevice(&dev));
  if (dev < 0 || dev >= kMaxDevices || done[dev].load(std::memory_order_acquire)) return;
  // An optimisation only: where the pool cannot be tuned, allocations go on as before.
  cudaMemPool_t pool;
  std::uint64_t keep = std::uint64_t(1) << 30;
  if (cudaDeviceGetDefaultMemPool(&pool, dev) != cudaSuccess ||
      cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &keep) != cudaSuccess)
    cudaGetLastError();  // clear it
  done[dev].store(true, std::memory_order_release);
}

int device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();  // no driver or no GPU: not an error for the caller
    return 0;
  }
  return n;
}

int runtime_version() {
  int v = 0;
  cudaRuntimeGetVersion(&v);
  return v;
}

}  // namespace foveal::cuda

int foveal::cuda_device_of(const void* ptr) {
  cudaPointerAttributes attr{};
  FOVEAL_CUDA_CHECK(cudaPointerGetAttributes(&attr, ptr));
  if (attr.type == cudaMemoryTypeDevice || attr.type == cudaMemoryTypeManaged) return attr.device;
  return -1;
}
