// SPDX-License-Identifier: Apache-2.0
// Run by ctest with FOVEAL_SIMD and FOVEAL_NUM_THREADS set to bad values (see CMakeLists.txt):
// each is reported once by config_warnings(), naming the valid values, and the defaults stay.
#include <string>

#include "check.hpp"
#include "foveal/build_info.hpp"

int main() {
  const auto w = foveal::config_warnings();
  const auto again = foveal::config_warnings();
  EXPECT(w.size() == 2 && again == w, "expected 2 warnings, once each, got %zu then %zu", w.size(), again.size());
  bool simd = false, threads = false;
  for (const std::string& m : w) {
    simd |= m.find("FOVEAL_SIMD='avx3'") != std::string::npos && m.find("'baseline', 'avx2' or 'avx512'") != std::string::npos;
    threads |= m.find("FOVEAL_NUM_THREADS='lots'") != std::string::npos;
  }
  EXPECT(simd, "FOVEAL_SIMD warning missing or without the valid values");
  EXPECT(threads, "FOVEAL_NUM_THREADS warning missing");
  const foveal::BuildInfo b = foveal::build_info();
  EXPECT(b.num_threads == (b.threads ? 3 : 1), "OMP_NUM_THREADS=3 is the fallback, got %d", b.num_threads);
  EXPECT(b.simd_selected == b.simd_supported.back(), "an unknown FOVEAL_SIMD leaves the best level");
  if (failures) std::fprintf(stderr, "%d failure(s)\n", failures);
  return failures ? 1 : 0;
}
