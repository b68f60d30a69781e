// SPDX-License-Identifier: Apache-2.0
#pragma once
#include <cstdint>

namespace foveal {

/// Where and how an op runs, beyond its arrays.
struct ExecContext {
  /// CUDA stream (a cudaStream_t cast to an integer); 0 is the legacy default stream.
  std::uintptr_t stream = 0;
  /// CPU threads; 0 uses the OpenMP default.
  int num_threads = 0;

  static ExecContext on_stream(std::uintptr_t s) {
    ExecContext c;
    c.stream = s;
    return c;
  }
};

}  // namespace foveal
