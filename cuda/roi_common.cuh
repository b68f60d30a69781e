// SPDX-License-Identifier: Apache-2.0
// Element access shared by the RoI kernels: storage types (float16 and bfloat16 computed in
// float32), and the gradient accumulators (atomics on float/double; 16-bit gradients are summed
// in a float32 workspace and converted once, so no precision is lost to 16-bit atomics).
#pragma once
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>
#include <type_traits>

#include "common.cuh"

namespace foveal::cuda::roi {

template <typename S>
__device__ __forceinline__ auto load(const S* p) { return to_acc(*p); }
template <typename S, typename A>
__device__ __forceinline__ void store(S* p, A v) { *p = from_acc<S>(v); }

/// Gradient accumulator type of storage type S: float for the 16-bit types, S otherwise.
template <typename S> struct Grad { using type = S; };
template <> struct Grad<__half> { using type = float; };
template <> struct Grad<__nv_bfloat16> { using type = float; };

template <typename S>
__global__ void convert_kernel(const float* __restrict__ src, S* __restrict__ dst, std::int64_t n) {
  for (std::int64_t i = std::int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += std::int64_t(gridDim.x) * blockDim.x)
    store(dst + i, src[i]);
}

/// Zeroed gradient buffer of `n` elements for `grad_input` of storage type S: `grad_input`
/// itself, or a float32 workspace for 16-bit types (finish() converts it into `grad_input`).
template <typename S>
class GradBuffer {
 public:
  using G = typename Grad<S>::type;
  GradBuffer(S* grad_input, std::int64_t n, cudaStream_t st)
      : dst_(grad_input), n_(n), st_(st), ws_(kHalf ? static_cast<std::size_t>(n) : 0, st) {
    FOVEAL_CUDA_CHECK(cudaMemsetAsync(get(), 0, sizeof(G) * static_cast<std::size_t>(n), st));
  }
  G* get() const {
    if constexpr (kHalf) return ws_.get();
    else return dst_;
  }
  void finish() {
    if constexpr (kHalf) {
      convert_kernel<S><<<blocks_for(n_, 256), 256, 0, st_>>>(ws_.get(), dst_, n_);
      FOVEAL_CUDA_CHECK(cudaGetLastError());
    }
  }

 private:
  static constexpr bool kHalf = !std::is_same_v<G, S>;
  S* dst_;
  std::int64_t n_;
  cudaStream_t st_;
  Workspace<float> ws_;
};

/// RoI chunks per channel of the forward kernels whose blocks take one channel plane and a run of
/// RoIs: at most `max_per_block` RoIs per block (long runs on one plane reuse its pixels from L1),
/// but at least two blocks per SM in all where the RoIs allow (>= 32 each).
inline std::int64_t forward_chunks(std::int64_t num_rois, std::int64_t channels, std::int64_t max_per_block) {
  int dev = 0, sms = 132;
  FOVEAL_CUDA_CHECK(cudaGetDevice(&dev));
  FOVEAL_CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev));
  const std::int64_t by_size = (num_rois + max_per_block - 1) / max_per_block;
  const std::int64_t by_sms = (2 * std::int64_t(sms) + channels - 1) / channels;
  const std::int64_t cap = (num_rois + 31) / 32;
  const std::int64_t want = by_sms < cap ? by_sms : cap;
  return by_size > want ? by_size : (want > 0 ? want : 1);
}

/// Batch index of a RoI row, or -1 when it is not an integer in [0, n): CUDA kernels do not
/// validate RoI values on the host, so a bad row yields zeros instead of an out-of-bounds read.
template <typename A>
__device__ __forceinline__ std::int64_t batch_index(A b, std::int64_t n) {
  if (!(b >= A(0) && b < A(n))) return -1;
  const auto i = static_cast<std::int64_t>(b);
  return static_cast<A>(i) == b ? i : -1;
}

}  // namespace foveal::cuda::roi
