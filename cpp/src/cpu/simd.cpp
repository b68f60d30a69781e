// SPDX-License-Identifier: Apache-2.0
#include "cpu/simd.hpp"

#include <atomic>
#include <cstdlib>

#include "core/warnings.hpp"
#include "foveal/core/error.hpp"

namespace foveal::cpu {
namespace {

SimdLevel detect() {
#if FOVEAL_X86_DISPATCH
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
      __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq"))
    return SimdLevel::Avx512;
  if (__builtin_cpu_supports("avx2")) return SimdLevel::Avx2;
#endif
  return SimdLevel::Baseline;
}

SimdLevel best() {
  static const SimdLevel b = detect();
  return b;
}

bool parse(const std::string& s, SimdLevel* out) {
  if (s == "baseline") *out = SimdLevel::Baseline;
  else if (s == "avx2") *out = SimdLevel::Avx2;
  else if (s == "avx512") *out = SimdLevel::Avx512;
  else return false;
  return true;
}

int initial() {
  SimdLevel l = best();
  const char* env = std::getenv("FOVEAL_SIMD");
  if (env && *env) {  // a cap, e.g. to test the baseline path
    SimdLevel cap;
    if (!parse(env, &cap))
      foveal::detail::record_config_warning(foveal::detail::concat("FOVEAL_SIMD='", env,
                                                   "' is not a SIMD level (expected 'baseline', 'avx2' or "
                                                   "'avx512'); ignored, using '", simd_name(l), "'"));
    else if (cap < l)
      l = cap;
  }
  return static_cast<int>(l);
}

std::atomic<int>& current() {
  static std::atomic<int> level{initial()};
  return level;
}

}  // namespace

SimdLevel simd_level() { return static_cast<SimdLevel>(current().load(std::memory_order_relaxed)); }

const char* simd_name(SimdLevel level) {
  switch (level) {
    case SimdLevel::Avx512: return "avx512";
    case SimdLevel::Avx2: return "avx2";
    default: return "baseline";
  }
}

std::vector<std::string> simd_compiled() {
#if FOVEAL_X86_DISPATCH
  return {"baseline", "avx2", "avx512"};
#else
  return {"baseline"};
#endif
}

std::vector<std::string> simd_supported() {
  std::vector<std::string> out;
  for (int l = 0; l <= static_cast<int>(best()); ++l) out.push_back(simd_name(static_cast<SimdLevel>(l)));
  return out;
}

std::string set_simd_level(const std::string& name) {
  SimdLevel l;
  FOVEAL_CHECK_VALUE(parse(name, &l), "set_simd_level: level must be one of 'baseline', 'avx2', 'avx512', got '",
                     name, "'");
  FOVEAL_CHECK_VALUE(l <= best(), "set_simd_level: '", name, "' is not supported by this CPU (best is '",
                     simd_name(best()), "')");
  return simd_name(static_cast<SimdLevel>(current().exchange(static_cast<int>(l))));
}

}  // namespace foveal::cpu
