// CPU emulation of cuda/rl_cuda.cu's FFT path (see run.sh): the shipped kernels and host function
// rl_fft (cut and launch-rewritten by extract_rl_fft.py), the shipped cuda/cufft_api.cu, and through
// its dlopen (FOVEAL_CUFFT_LIBRARY) a stand-in cuFFT (cufft_fake.cpp) with cuFFT's conventions.
//
//   rl_fft_emu f32|f64 n0 n1 n2 k0 k1 k2 P0 P1 P2 mode num_iter clip filter_epsilon
//     in.bin (image, the dtype) and psf.bin (float64) -> out.bin; runs twice (the second time on
//     the cached plans) and prints the counters the check needs.
//   rl_fft_emu missing: cuFFT cannot be loaded -> available() is false with a reason, and
//     plans_for throws DeviceError.
//   rl_fft_emu threads: 4 host threads transform one shape on one stream at once (as batch
//     workers do) -> whether any two calls on one cuFFT plan overlapped (cuFFT forbids it).
#include <dlfcn.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "common.cuh"
#include "cufft_api.hpp"
#include "foveal/math/rl.hpp"
#include "ops/rl_plan.hpp"

namespace foveal::cuda {
namespace {
#include "kernels_rl_fft.inc"
}  // namespace
}  // namespace foveal::cuda

template <typename T>
std::vector<T> rd(const char* p, std::size_t n) {
  std::vector<T> v(n);
  FILE* f = std::fopen(p, "rb");
  if (!f || std::fread(v.data(), sizeof(T), n, f) != n) std::abort();
  std::fclose(f);
  return v;
}

template <typename T>
int run(char** argv) {
  foveal::detail::RlPlan plan;
  for (int a = 0; a < 3; ++a) {
    plan.n[a] = std::atoll(argv[2 + a]);
    plan.k[a] = std::atoll(argv[5 + a]);
    plan.fft_n[a] = std::atoll(argv[8 + a]);
  }
  plan.method = foveal::RlMethod::Fft;
  plan.args.mode = static_cast<foveal::RlBoundary>(std::atoi(argv[11]));
  plan.args.num_iter = std::atoll(argv[12]);
  plan.args.clip = std::atoi(argv[13]) != 0;
  plan.args.filter_epsilon = std::atof(argv[14]);
  plan.args.method = foveal::RlMethod::Fft;
  const std::size_t n = plan.n[0] * plan.n[1] * plan.n[2];
  plan.psf = rd<double>("psf.bin", plan.k[0] * plan.k[1] * plan.k[2]);
  const std::vector<T> image = rd<T>("in.bin", n);
  const auto s = reinterpret_cast<cudaStream_t>(std::uintptr_t{0x5eed0});
  emu::stream = s;
  std::vector<T> out(n, T(NAN)), again(n, T(NAN));
  foveal::cuda::rl_fft<T>(image.data(), plan, out.data(), s);
  foveal::cuda::rl_fft<T>(image.data(), plan, again.data(), s);  // the cached plans
  FILE* f = std::fopen("out.bin", "wb");
  std::fwrite(out.data(), sizeof(T), n, f);
  std::fclose(f);
  bool same = true;
  for (std::size_t i = 0; i < n; ++i) same = same && std::memcmp(&out[i], &again[i], sizeof(T)) == 0;
  void* lib = dlopen(std::getenv("FOVEAL_CUFFT_LIBRARY"), RTLD_NOW | RTLD_NOLOAD);
  auto stats = lib ? reinterpret_cast<void (*)(void*, long*)>(dlsym(lib, "fake_cufft_stats")) : nullptr;
  if (!stats) {
    std::printf("fake cuFFT not loaded\n");
    return 1;
  }
  long st[5];
  stats(s, st);
  std::printf("launches %ld wrong_stream %ld plans %ld destroyed %ld execs %ld on_stream %ld repeat_same %d\n",
              emu::launches, emu::wrong_stream, st[0], st[1], st[2], st[3], same ? 1 : 0);
  return 0;
}

int missing() {
  std::string why;
  const bool ok = foveal::cuda::cufft::available(&why);
  std::printf("available %d why: %s\n", ok ? 1 : 0, why.c_str());
  const std::int64_t dims[3] = {1, 8, 8};
  try {
    foveal::cuda::cufft::plans_for(dims, false, nullptr);
    std::printf("plans_for did not throw\n");
  } catch (const foveal::DeviceError& e) {
    std::printf("plans_for: DeviceError: %s\n", e.what());
  }
  return 0;
}

int threads() {
  const auto s = reinterpret_cast<cudaStream_t>(std::uintptr_t{0x5eed0});
  const std::int64_t dims[3] = {1, 16, 18};
  std::vector<std::thread> th;
  for (int t = 0; t < 4; ++t)
    th.emplace_back([&, t] {
      std::vector<double> x(16 * 18, 0.25 * t), spec(2 * 16 * 10);
      for (int i = 0; i < 25; ++i) {
        const auto p = foveal::cuda::cufft::plans_for(dims, true, s);
        foveal::cuda::cufft::forward(*p, x.data(), spec.data());
        foveal::cuda::cufft::inverse(*p, spec.data(), x.data());
        for (double& v : x) v /= 16 * 18;
      }
    });
  for (auto& t : th) t.join();
  void* lib = dlopen(std::getenv("FOVEAL_CUFFT_LIBRARY"), RTLD_NOW | RTLD_NOLOAD);
  auto stats = lib ? reinterpret_cast<void (*)(void*, long*)>(dlsym(lib, "fake_cufft_stats")) : nullptr;
  if (!stats) return 1;
  long st[5];
  stats(s, st);
  std::printf("threads plans %ld execs %ld overlaps %ld\n", st[0], st[2], st[4]);
  return 0;
}

int main(int argc, char** argv) {
  const std::string what = argc > 1 ? argv[1] : "";
  if (what == "missing") return missing();
  if (what == "threads") return threads();
  if (argc != 15) {
    std::fprintf(stderr, "usage: see rl_fft_emu.cpp\n");
    return 2;
  }
  try {
    return what == "f64" ? run<double>(argv) : run<float>(argv);
  } catch (const std::exception& e) {
    std::printf("ERROR %s\n", e.what());
    return 1;
  }
}
