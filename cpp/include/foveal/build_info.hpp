// SPDX-License-Identifier: Apache-2.0
#pragma once
#include <string>
#include <vector>

namespace foveal {

/// What this build contains and what it selected on this machine.
struct BuildInfo {
  std::string version;
  std::string compiler;
  int cxx_standard = 0;
  bool threads = false;                    ///< CPU kernels run on foveal's thread pool
  int num_threads = 1;                     ///< threads a CPU kernel uses by default
  bool openmp = false;                     ///< the OpenMP runtime is used: never now (pool + omp simd)
  int omp_max_threads = 1;                 ///< kept for compatibility: equals num_threads
  std::vector<std::string> simd_compiled;  ///< SIMD paths in the binary
  std::vector<std::string> simd_supported; ///< of those, the ones this CPU can run
  std::string simd_selected;               ///< the path the CPU kernels use now
  bool cuda_compiled = false;
  std::string cuda_version;                ///< runtime version the build used, "" without CUDA
  std::string cuda_archs;                  ///< CMAKE_CUDA_ARCHITECTURES, "" without CUDA
  int cuda_device_count = 0;               ///< 0 without CUDA, driver or GPU
};

BuildInfo build_info();

/// Problems found in foveal's environment variables (e.g. an unknown FOVEAL_SIMD value), each once,
/// in the order found; empty when there are none. The Python package turns them into warnings.
std::vector<std::string> config_warnings();

/// True when CUDA was compiled in and a usable device is present.
bool cuda_available();

/// CUDA ordinal of the device that owns `ptr` (a device or managed pointer); -1 for host memory.
/// Throws NotCompiledError in a build without CUDA.
int cuda_device_of(const void* ptr);

/// Select the CPU SIMD path ("baseline", "avx2", "avx512"); returns the previous one.
/// Throws ValueError for a path that is unknown, not compiled, or unsupported by this CPU.
std::string set_simd_level(const std::string& level);

}  // namespace foveal
