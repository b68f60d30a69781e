# SPDX-License-Identifier: Apache-2.0
# Per-target flags: warnings, and floating-point rules that keep CPU and CUDA bit-identical.
function(foveal_set_flags target)
  if(CMAKE_CXX_COMPILER_ID MATCHES "GNU|Clang")
    # NB: -ffp-contract=off so that a*b+c is never fused; CUDA uses --fmad=false for the same
    # reason. IoU comparisons must round identically on every backend.
    target_compile_options(${target} PRIVATE
      $<$<COMPILE_LANGUAGE:CXX>:-Wall -Wextra -Wno-unknown-pragmas -ffp-contract=off -fno-math-errno -fopenmp-simd>)
    if(FOVEAL_NATIVE)
      target_compile_options(${target} PRIVATE $<$<COMPILE_LANGUAGE:CXX>:-march=native>)
    endif()
  elseif(MSVC)
    target_compile_options(${target} PRIVATE $<$<COMPILE_LANGUAGE:CXX>:/W3 /fp:precise>)
  endif()
  if(FOVEAL_WITH_CUDA)
    target_compile_options(${target} PRIVATE
      $<$<COMPILE_LANGUAGE:CUDA>:--fmad=false --expt-relaxed-constexpr -Xcompiler=-ffp-contract=off>)
  endif()
endfunction()
