// The storage conversions of cuda/common.cuh for the emulators (see run.sh): float / double as
// they are, float16 as _Float16 and bfloat16 as its bits (round to nearest even), all computed in
// float (double for double). And roi_common.cuh's element helpers, cut from the shipped header.
#pragma once
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "shim.hpp"

namespace foveal::cuda {
struct Bf16 {
  std::uint16_t bits;
};
inline float to_acc(float v) { return v; }
inline double to_acc(double v) { return v; }
inline float to_acc(_Float16 v) { return static_cast<float>(v); }
inline float to_acc(Bf16 v) {
  const std::uint32_t u = std::uint32_t(v.bits) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
template <typename S, typename A>
S from_acc(A v) {
  if constexpr (std::is_same_v<S, Bf16>) {
    std::uint32_t u;
    const float f = static_cast<float>(v);
    std::memcpy(&u, &f, 4);
    u += 0x7fffu + ((u >> 16) & 1u);  // round to nearest even (finite values)
    return Bf16{static_cast<std::uint16_t>(u >> 16)};
  } else {
    return static_cast<S>(v);
  }
}
#ifdef FOVEAL_EMU_ROI
namespace roi {
#include "kernels_roi_common.inc"
}  // namespace roi
#endif
}  // namespace foveal::cuda
// The CUDA names of the 16-bit types, for kernel code that names them.
using __half = _Float16;
using __nv_bfloat16 = foveal::cuda::Bf16;

// cuda_fp16.h / cuda_bf16.h conversions the kernels name (round to nearest even, from double
// directly: no double rounding through float).
inline float __half2float(__half v) { return static_cast<float>(v); }
inline __half __double2half(double v) { return static_cast<__half>(v); }
inline float __bfloat162float(__nv_bfloat16 v) { return foveal::cuda::to_acc(v); }
inline __nv_bfloat16 __double2bfloat16(double v) {
  float f = static_cast<float>(v);  // then round to odd, so that the second rounding is exact
  if (std::isfinite(f) && static_cast<double>(f) != v) {
    if (std::fabs(static_cast<double>(f)) > std::fabs(v)) f = std::nextafter(f, 0.0f);
    std::uint32_t u;
    std::memcpy(&u, &f, 4);
    u |= 1u;
    std::memcpy(&f, &u, 4);
  }
  return foveal::cuda::from_acc<__nv_bfloat16>(f);
}
