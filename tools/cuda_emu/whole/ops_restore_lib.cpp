// The library code the restoration adapters' front ends call, compiled in as shipped:
// cpu::fft::good_size (rl_plan's FFT lengths; fft_cpu.cpp needs the thread pool and the SIMD level) and the
// warnings (the message helpers, core/messages.cpp, come with ops_emu.cpp).
#include "core/warnings.cpp"
#include "cpu/fft_cpu.cpp"
#include "cpu/parallel.cpp"
#include "cpu/simd.cpp"
