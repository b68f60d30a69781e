// SPDX-License-Identifier: Apache-2.0
#include "cufft_api.hpp"

#include <dlfcn.h>

#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <tuple>
#include <vector>

#include "common.cuh"
#include "foveal/core/error.hpp"

namespace foveal::cuda::cufft {
namespace {

// From cufft.h: cufftHandle is an int, cufftResult an int enum (0 = success), and these types.
using Handle = int;
constexpr int kR2C = 0x2a, kC2R = 0x2c, kD2Z = 0x6a, kZ2D = 0x6c;
using PlanManyFn = int (*)(Handle*, int, int*, int*, int, int, int*, int, int, int, int);
using ExecFn = int (*)(Handle, void*, void*);
using SetStreamFn = int (*)(Handle, cudaStream_t);
using DestroyFn = int (*)(Handle);

struct Api {
  PlanManyFn plan_many = nullptr;
  ExecFn r2c = nullptr, c2r = nullptr, d2z = nullptr, z2d = nullptr;
  SetStreamFn set_stream = nullptr;
  DestroyFn destroy = nullptr;
  std::string error;  // empty once loaded
};

// cuFFT's soname follows its own major version: cuFFT 12 ships with CUDA 13, cuFFT 11 with CUDA 12.
// Their wheels: nvidia-cufft 12.x (nvidia/cu13/lib), nvidia-cufft-cu12 11.x (nvidia/cufft/lib).
#if CUDART_VERSION >= 13000
constexpr const char* kSoname = "libcufft.so.12";
constexpr const char* kWheel = "nvidia-cufft";
#else
constexpr const char* kSoname = "libcufft.so.11";
constexpr const char* kWheel = "nvidia-cufft-cu12";
#endif

const Api& api() {
  static const Api a = [] {
    Api r;
    std::vector<std::string> names;
    if (const char* env = std::getenv("FOVEAL_CUFFT_LIBRARY"); env && *env) names.emplace_back(env);
    names.emplace_back(kSoname);  // also finds a copy already loaded (torch, cupy, Python's preload)
    for (const char* var : {"CUDA_HOME", "CUDA_PATH"})
      if (const char* root = std::getenv(var); root && *root) names.push_back(std::string(root) + "/lib64/" + kSoname);
    names.push_back(std::string("/usr/local/cuda/lib64/") + kSoname);
    void* lib = nullptr;
    std::string tried;
    for (const auto& n : names) {
      lib = dlopen(n.c_str(), RTLD_NOW | RTLD_LOCAL);
      if (lib) break;
      tried += (tried.empty() ? "" : ", ") + n;
    }
    if (!lib) {
      r.error = std::string("cuFFT (") + kSoname + ") could not be loaded (tried " + tried +
                "); install it (pip install " + kWheel +
                ") or set FOVEAL_CUFFT_LIBRARY to its path";
      return r;
    }
    auto sym = [&](const char* name) {
      void* p = dlsym(lib, name);
      if (!p && r.error.empty()) r.error = std::string("cuFFT library lacks ") + name;
      return p;
    };
    r.plan_many = reinterpret_cast<PlanManyFn>(sym("cufftPlanMany"));
    r.r2c = reinterpret_cast<ExecFn>(sym("cufftExecR2C"));
    r.c2r = reinterpret_cast<ExecFn>(sym("cufftExecC2R"));
    r.d2z = reinterpret_cast<ExecFn>(sym("cufftExecD2Z"));
    r.z2d = reinterpret_cast<ExecFn>(sym("cufftExecZ2D"));
    r.set_stream = reinterpret_cast<SetStreamFn>(sym("cufftSetStream"));
    r.destroy = reinterpret_cast<DestroyFn>(sym("cufftDestroy"));
    return r;
  }();
  return a;
}

void check(int result, const char* what) {
  if (result != 0)
    throw DeviceError(detail::concat("richardson_lucy: cuFFT ", what, " failed with cufftResult ", result));
}

using Key = std::tuple<int, cudaStream_t, bool, std::int64_t, std::int64_t, std::int64_t>;
constexpr std::size_t kMaxCached = 8;

}  // namespace

bool available(std::string* why) {
  const Api& a = api();
  if (!a.error.empty() && why) *why = a.error;
  return a.error.empty();
}

std::shared_ptr<const Plans> plans_for(const std::int64_t dims[3], bool dbl, cudaStream_t s) {
  const Api& a = api();
  if (!a.error.empty()) throw DeviceError("richardson_lucy: method 'fft' on CUDA needs " + a.error);
  int dev = 0;
  FOVEAL_CUDA_CHECK(cudaGetDevice(&dev));
  static std::mutex mu;
  // Never destroyed: at exit the CUDA runtime inside libcufft may be torn down before this
  // library's statics, and cufftDestroy then would call into it (the driver frees the plans).
  static auto& cache = *new std::map<Key, std::shared_ptr<const Plans>>;
  std::lock_guard<std::mutex> lock(mu);
  const Key key{dev, s, dbl, dims[0], dims[1], dims[2]};
  auto it = cache.find(key);
  if (it == cache.end()) {
    // Evicted plans die with their last holder; cufftDestroy frees device memory, which waits for
    // the work already queued.
    if (cache.size() >= kMaxCached) cache.clear();
    int n[3], rank = 0;
    for (int d = 0; d < 3; ++d)
      if (dims[d] > 1) {
        FOVEAL_CHECK_VALUE(dims[d] <= (1LL << 30), "richardson_lucy: fft length ", dims[d], " is too large for cuFFT");
        n[rank++] = static_cast<int>(dims[d]);
      }
    if (rank == 0) n[rank++] = 1;
    auto p = std::shared_ptr<Plans>(new Plans, [](Plans* q) {
      if (q->forward >= 0) api().destroy(q->forward);
      if (q->inverse >= 0) api().destroy(q->inverse);
      delete q;
    });
    p->dbl = dbl;
    p->complex_size = n[rank - 1] / 2 + 1;
    for (int d = 0; d < rank - 1; ++d) p->complex_size *= n[d];
    Handle h = -1;
    check(a.plan_many(&h, rank, n, nullptr, 1, 0, nullptr, 1, 0, dbl ? kD2Z : kR2C, 1), "plan (forward)");
    p->forward = h;
    h = -1;
    check(a.plan_many(&h, rank, n, nullptr, 1, 0, nullptr, 1, 0, dbl ? kZ2D : kC2R, 1), "plan (inverse)");
    p->inverse = h;
    it = cache.emplace(key, std::move(p)).first;
  }
  std::lock_guard<std::mutex> busy(it->second->busy);
  check(a.set_stream(it->second->forward, s), "set stream");
  check(a.set_stream(it->second->inverse, s), "set stream");
  return it->second;
}

void forward(const Plans& p, void* real_in, void* complex_out) {
  const Api& a = api();
  std::lock_guard<std::mutex> busy(p.busy);
  check((p.dbl ? a.d2z : a.r2c)(p.forward, real_in, complex_out), "forward transform");
}

void inverse(const Plans& p, void* complex_in, void* real_out) {
  const Api& a = api();
  std::lock_guard<std::mutex> busy(p.busy);
  check((p.dbl ? a.z2d : a.c2r)(p.inverse, complex_in, real_out), "inverse transform");
}

}  // namespace foveal::cuda::cufft
