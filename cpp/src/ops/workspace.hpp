// SPDX-License-Identifier: Apache-2.0
// Host allocation failures inside a backend leave as MemoryError naming the op and the size, not
// as a bare std::bad_alloc. The front ends wrap their dispatch in this, once per op.
#pragma once
#include <cstdint>
#include <new>
#include <utility>

#include "core/messages.hpp"
#include "foveal/core/error.hpp"

namespace foveal::detail {

/// Runs f(); a std::bad_alloc becomes MemoryError
/// "<op>: cannot allocate <bytes> of workspace for <count> <items>". `bytes` is the op's estimate
/// of its workspace (the allocation that failed may be any part of it).
template <typename F>
auto with_workspace(const char* op, double bytes, std::int64_t count, const char* items, F&& f) -> decltype(f()) {
  try {
    return std::forward<F>(f)();
  } catch (const std::bad_alloc&) {
    throw MemoryError(concat(op, ": cannot allocate ", format_bytes(bytes), " of workspace for ", count, " ", items));
  }
}

}  // namespace foveal::detail
