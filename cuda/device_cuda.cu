// SPDX-License-Identifier: Apache-2.0
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
