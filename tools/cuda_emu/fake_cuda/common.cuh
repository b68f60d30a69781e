// cuda/common.cuh for the emulators of host code (rl_fft_emu.cpp, postprocess_emu.cpp, whole/; see run.sh):
// the same error macro, Workspace as host memory that starts as emu::workspace_fill bytes (all-ones
// by default: NaN for float and double, -1 for integers; like cudaMallocAsync's memory, nothing may
// be read before it is written), stream_of, DeviceGuard (device 0 only), the storage conversions of
// emu_types.hpp and the shipped blocks_for (cut from cuda/common.cuh).
#pragma once
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "emu_types.hpp"
#include "foveal/core/dtype.hpp"
#include "foveal/core/error.hpp"
#include "foveal/core/exec_context.hpp"

namespace emu {
inline unsigned char workspace_fill = 0xff;
}  // namespace emu

namespace foveal::cuda {

#ifdef FOVEAL_EMU_WHOLE
// whole/: defined by cuda/device_cuda.cu where an adapter emulates it, else by ops_emu.cpp's weak
// stand-ins.
[[noreturn]] void throw_cuda_error(cudaError_t err, const char* what, const char* file, int line);
void keep_pool_memory();
#else
[[noreturn]] inline void throw_cuda_error(cudaError_t err, const char* what, const char*, int line) {
  throw DeviceError(detail::concat("CUDA error ", static_cast<int>(err), " in ", what, " (line ", line, ")"));
}
/// The device's memory pool: host memory here, nothing to keep.
inline void keep_pool_memory() {}
#endif
#define FOVEAL_CUDA_CHECK(expr)                                                        \
  do {                                                                                 \
    const cudaError_t foveal_err_ = (expr);                                            \
    if (foveal_err_ != cudaSuccess) ::foveal::cuda::throw_cuda_error(foveal_err_, #expr, __FILE__, __LINE__); \
  } while (0)

// CUDA's global device min / max / isfinite, as the kernels call them unqualified.
using std::isfinite;
using std::max;
using std::min;

inline cudaStream_t stream_of(const ExecContext& ctx) { return reinterpret_cast<cudaStream_t>(ctx.stream); }

class DeviceGuard {
 public:
  explicit DeviceGuard(int device) { FOVEAL_CUDA_CHECK(cudaSetDevice(device)); }
};

template <typename T>
class Workspace {
 public:
  Workspace(std::size_t count, cudaStream_t stream) : stream_(stream) {
    emu::on_stream(stream);
    if (count == 0) return;
    keep_pool_memory();
    ptr_ = static_cast<T*>(std::malloc(count * sizeof(T)));
    std::memset(static_cast<void*>(ptr_), emu::workspace_fill, count * sizeof(T));
  }
  ~Workspace() { std::free(ptr_); }
  Workspace(const Workspace&) = delete;
  Workspace& operator=(const Workspace&) = delete;
  T* get() const { return ptr_; }

 private:
  T* ptr_ = nullptr;
  cudaStream_t stream_;
};

#include "blocks_for.inc"


/// Storage type on the device for a host element type, and the type the math runs in (as common.cuh).
template <typename S> struct DeviceElem { using type = S; using acc = S; };
template <> struct DeviceElem<foveal::half> { using type = __half; using acc = float; };

}  // namespace foveal::cuda
