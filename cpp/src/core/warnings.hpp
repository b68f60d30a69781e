// SPDX-License-Identifier: Apache-2.0
// Problems found in the configuration (environment variables) are recorded here, once each, and
// surfaced by foveal::config_warnings() (Python: a RuntimeWarning at import) instead of being
// silently ignored or printed from inside the library.
#pragma once
#include <string>

namespace foveal::detail {
void record_config_warning(std::string message);
}  // namespace foveal::detail
