// SPDX-License-Identifier: Apache-2.0
// cuFFT, loaded at run time (dlopen): the library imports and runs without it, and only the FFT
// path of richardson_lucy on CUDA needs it. The few types and entry points used are declared here
// as cufft.h defines them (no cuFFT headers are needed to build).
#pragma once
#include <cuda_runtime.h>

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

namespace foveal::cuda::cufft {

/// Whether cuFFT could be loaded; if not and `why` is given, the reason.
bool available(std::string* why = nullptr);

/// The pair of plans of one padded shape: forward real-to-complex, inverse complex-to-real.
/// Unit axes are dropped (the row-major layout is unchanged); the spectrum is the R2C layout of
/// the remaining axes, `complex_size` complex elements.
struct Plans {
  int forward = -1, inverse = -1;
  std::int64_t complex_size = 0;
  bool dbl = false;
  /// Held by every call on these plans: cuFFT allows one host thread per plan at a time, and
  /// threads on one stream (batch workers) share the cached plans. Calls only enqueue.
  mutable std::mutex busy;
};

/// The cached plans of `dims` (3 axes) for float or double on the current device and stream `s`
/// (one plan's work area must not serve two streams at once). The plans live while the cache or a
/// caller holds them. Throws DeviceError when cuFFT is missing or fails.
std::shared_ptr<const Plans> plans_for(const std::int64_t dims[3], bool dbl, cudaStream_t s);

/// Unnormalised transforms (forward sign -1, inverse +1) on stream-ordered device buffers.
void forward(const Plans& p, void* real_in, void* complex_out);
void inverse(const Plans& p, void* complex_in, void* real_out);

}  // namespace foveal::cuda::cufft
