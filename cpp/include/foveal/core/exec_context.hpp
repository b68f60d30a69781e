// SPDX-License-Identifier: Apache-2.0
#pragma once
#include <cstdint>

namespace foveal {

/// Where and how an op runs, beyond its arrays.
struct ExecContext {
  /// CUDA stream (a cudaStream_t cast to an integer); 0 is the legacy default stream.
  std::uintptr_t stream = 0;
  /// CPU threads; 0 uses the default (FOVEAL_NUM_THREADS, else OMP_NUM_THREADS, else the CPUs
  /// this process may run on).
  int num_threads = 0;

  static ExecContext on_stream(std::uintptr_t s) {
    ExecContext c;
    c.stream = s;
    return c;
  }
};

}  // namespace foveal
