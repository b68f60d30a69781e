// SPDX-License-Identifier: Apache-2.0
// Runtime SIMD dispatch: hot loops are compiled once per ISA through target attributes (the body
// is an always-inline template, so each variant is vectorised for its ISA and nothing ISA-specific
// is emitted out of line), and the variant is chosen at run time from the CPU's features.
#pragma once
#include <string>
#include <vector>

namespace foveal::cpu {

enum class SimdLevel : int { Baseline = 0, Avx2 = 1, Avx512 = 2 };

#if (defined(__GNUC__) || defined(__clang__)) && (defined(__x86_64__) || defined(__i386__))
#define FOVEAL_X86_DISPATCH 1
#define FOVEAL_TARGET_AVX2 __attribute__((target("avx2")))
#define FOVEAL_TARGET_AVX512 __attribute__((target("avx512f,avx512vl,avx512bw,avx512dq,avx2,prefer-vector-width=512")))
#else
#define FOVEAL_X86_DISPATCH 0
#endif

#if defined(__GNUC__) || defined(__clang__)
#define FOVEAL_ALWAYS_INLINE inline __attribute__((always_inline))
#else
#define FOVEAL_ALWAYS_INLINE inline
#endif

/// The level the kernels use now (the best this CPU supports unless set or capped by the
/// FOVEAL_SIMD environment variable).
SimdLevel simd_level();
const char* simd_name(SimdLevel level);
std::vector<std::string> simd_compiled();
std::vector<std::string> simd_supported();
/// Returns the previous level's name; throws ValueError for an unknown/unsupported level.
std::string set_simd_level(const std::string& name);

}  // namespace foveal::cpu

// Defines `name` as a function pointer picker for kernel template `body<T>`: the baseline variant
// plus AVX2 / AVX-512 variants where compiled. `sig` is the parameter list, `args` the names.
#if FOVEAL_X86_DISPATCH
#define FOVEAL_SIMD_VARIANTS(name, body, sig, args)                                         \
  template <typename T> void name##_baseline sig { body<T> args; }                          \
  template <typename T> FOVEAL_TARGET_AVX2 void name##_avx2 sig { body<T> args; }           \
  template <typename T> FOVEAL_TARGET_AVX512 void name##_avx512 sig { body<T> args; }       \
  template <typename T> auto name() {                                                        \
    switch (::foveal::cpu::simd_level()) {                                                   \
      case ::foveal::cpu::SimdLevel::Avx512: return &name##_avx512<T>;                       \
      case ::foveal::cpu::SimdLevel::Avx2: return &name##_avx2<T>;                           \
      default: return &name##_baseline<T>;                                                   \
    }                                                                                        \
  }
#else
#define FOVEAL_SIMD_VARIANTS(name, body, sig, args)                \
  template <typename T> void name##_baseline sig { body<T> args; } \
  template <typename T> auto name() { return &name##_baseline<T>; }
#endif
