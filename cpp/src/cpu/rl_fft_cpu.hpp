// SPDX-License-Identifier: Apache-2.0
// Richardson-Lucy's FFT path (cpu/rl_fft_cpu.cpp), entered from the CPU backend once rl_plan chose it.
#pragma once
#include "foveal/ops/rl.hpp"
#include "ops/rl_plan.hpp"

namespace foveal::cpu {

/// Runs plan.args.num_iter iterations on the C-contiguous image (shape plan.n) into out.
template <typename T>
RlMethod rl_fft(const T* image, const ::foveal::detail::RlPlan& plan, T* out, const ExecContext& ctx);

}  // namespace foveal::cpu
