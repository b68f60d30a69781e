// SPDX-License-Identifier: Apache-2.0
#include "foveal/core/error.hpp"

#include "ops/backend.hpp"

namespace foveal::detail {

void throw_not_compiled(const char* op) {
  throw NotCompiledError(concat(op, ": got CUDA arrays, but this build of foveal has no CUDA support "
                                    "(rebuild with a CUDA toolkit and FOVEAL_CUDA=ON)"));
}

}  // namespace foveal::detail

#if !FOVEAL_WITH_CUDA
#include "foveal/build_info.hpp"
int foveal::cuda_device_of(const void*) { detail::throw_not_compiled("cuda_device_of"); }
#endif
