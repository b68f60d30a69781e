// SPDX-License-Identifier: Apache-2.0
// The one place that knows the buffer protocol, __cuda_array_interface__ and DLPack.
#pragma once
#include <pybind11/pybind11.h>

#include <cstdint>
#include <memory>

#include "foveal/core/tensor_view.hpp"

namespace foveal::interop {

/// A TensorView borrowed from a Python array, plus whatever keeps the memory alive.
/// Destroy it with the GIL held.
struct Borrowed {
  TensorView view;
  std::shared_ptr<void> owner;
};

/// Borrows `obj` (an argument named `name`) as a view, zero-copy. Order of protocols: the
/// buffer protocol (numpy, jax on the CPU), __cuda_array_interface__ (cupy, torch, numba), then
/// __dlpack__ (torch on the CPU, jax on CUDA, ...). `writable` requires a writable buffer.
/// `stream` is the consumer's stream, handed to __dlpack__ so that the producer orders its work
/// before ours.
Borrowed borrow(pybind11::handle obj, const char* name, bool writable, std::uintptr_t stream = 0);

}  // namespace foveal::interop
