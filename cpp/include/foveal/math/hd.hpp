// SPDX-License-Identifier: Apache-2.0
// Host+device qualifiers for the math headers: one definition serves the CPU and CUDA code.
#pragma once
#if defined(__CUDACC__)
#define FOVEAL_HD __host__ __device__
#define FOVEAL_HD_INLINE __host__ __device__ __forceinline__
#elif defined(__GNUC__)
// NB: always_inline so that a formula compiled inside an AVX2/AVX-512 target function never
// leaves an ISA-specific out-of-line copy for the baseline code to link against.
#define FOVEAL_HD
#define FOVEAL_HD_INLINE inline __attribute__((always_inline))
#else
#define FOVEAL_HD
#define FOVEAL_HD_INLINE inline
#endif
