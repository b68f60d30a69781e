// SPDX-License-Identifier: Apache-2.0
#include "core/warnings.hpp"

#include <algorithm>
#include <mutex>
#include <vector>

#include "cpu/parallel.hpp"
#include "cpu/simd.hpp"
#include "foveal/build_info.hpp"

namespace foveal {
namespace {
std::mutex& mu() {
  static std::mutex m;
  return m;
}
std::vector<std::string>& list() {
  static std::vector<std::string> v;
  return v;
}
}  // namespace

void detail::record_config_warning(std::string message) {
  std::lock_guard<std::mutex> lock(mu());
  auto& v = list();
  if (std::find(v.begin(), v.end(), message) == v.end()) v.push_back(std::move(message));
}

std::vector<std::string> config_warnings() {
  // The settings are read lazily; read them now so that their problems are on the list.
  (void)cpu::simd_level();
  (void)cpu::default_threads();
  std::lock_guard<std::mutex> lock(mu());
  return list();
}

}  // namespace foveal
