// SPDX-License-Identifier: Apache-2.0
#pragma once
#include <atomic>
#include <cstdint>

#include "foveal/core/error.hpp"

namespace foveal {

/// Where and how an op runs, beyond its arrays.
struct ExecContext {
  /// CUDA stream (a cudaStream_t cast to an integer); 0 is the legacy default stream.
  std::uintptr_t stream = 0;
  /// CPU threads; 0 uses the default (FOVEAL_NUM_THREADS, else OMP_NUM_THREADS, else the CPUs
  /// this process may run on).
  int num_threads = 0;
  /// Cooperative cancellation: long CPU kernels poll this flag between row blocks (iterative
  /// ones between iterations) and, once it reads true, stop and throw foveal::Cancelled; the
  /// outputs are then unspecified. Null: not cancellable.
  const std::atomic<bool>* cancel = nullptr;

  bool cancelled() const { return cancel != nullptr && cancel->load(std::memory_order_relaxed); }
  /// Throws foveal::Cancelled when the flag is set (call it where stopping leaves no state behind).
  void throw_if_cancelled(const char* op) const {
    if (cancelled()) throw Cancelled(detail::concat(op, ": cancelled"));
  }

  static ExecContext on_stream(std::uintptr_t s) {
    ExecContext c;
    c.stream = s;
    return c;
  }
};

}  // namespace foveal
