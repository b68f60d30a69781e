// SPDX-License-Identifier: Apache-2.0
#include "foveal/build_info.hpp"

#include "cpu/parallel.hpp"
#include "cpu/simd.hpp"
#include "foveal/config.hpp"
#include "ops/backend.hpp"

namespace foveal {

BuildInfo build_info() {
  BuildInfo b;
  b.version = FOVEAL_VERSION_STRING;
  b.compiler = FOVEAL_CXX_COMPILER;
  b.cxx_standard = static_cast<int>(__cplusplus / 100 - 2000);
  b.threads = FOVEAL_WITH_THREADS;
  b.num_threads = cpu::max_threads(0);
  b.openmp = false;
  b.omp_max_threads = b.num_threads;
  b.simd_compiled = cpu::simd_compiled();
  b.simd_supported = cpu::simd_supported();
  b.simd_selected = cpu::simd_name(cpu::simd_level());
  b.cuda_compiled = FOVEAL_WITH_CUDA;
#if FOVEAL_WITH_CUDA
  const int v = cuda::runtime_version();
  b.cuda_version = std::to_string(v / 1000) + "." + std::to_string((v % 1000) / 10);
  b.cuda_archs = FOVEAL_CUDA_ARCHS;
  b.cuda_device_count = cuda::device_count();
#endif
  return b;
}

bool cuda_available() {
#if FOVEAL_WITH_CUDA
  return cuda::device_count() > 0;
#else
  return false;
#endif
}

std::string set_simd_level(const std::string& level) { return cpu::set_simd_level(level); }

}  // namespace foveal
