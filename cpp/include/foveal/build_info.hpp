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
  bool openmp = false;
  int omp_max_threads = 1;
  std::vector<std::string> simd_compiled;  ///< SIMD paths in the binary
  std::vector<std::string> simd_supported; ///< of those, the ones this CPU can run
  std::string simd_selected;               ///< the path the CPU kernels use now
  bool cuda_compiled = false;
  std::string cuda_version;                ///< runtime version the build used, "" without CUDA
  std::string cuda_archs;                  ///< CMAKE_CUDA_ARCHITECTURES, "" without CUDA
  int cuda_device_count = 0;               ///< 0 without CUDA, driver or GPU
};

BuildInfo build_info();

/// True when CUDA was compiled in and a usable device is present.
bool cuda_available();

/// CUDA ordinal of the device that owns `ptr` (a device or managed pointer); -1 for host memory.
/// Throws NotCompiledError in a build without CUDA.
int cuda_device_of(const void* ptr);

/// Select the CPU SIMD path ("baseline", "avx2", "avx512"); returns the previous one.
/// Throws ValueError for a path that is unknown, not compiled, or unsupported by this CPU.
std::string set_simd_level(const std::string& level);

}  // namespace foveal
