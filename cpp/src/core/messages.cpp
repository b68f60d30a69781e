// SPDX-License-Identifier: Apache-2.0
#include "core/messages.hpp"

#include <cstdio>

#include "foveal/core/error.hpp"

namespace foveal::detail {

std::string format_bytes(double bytes) {
  static const char* const units[] = {"B", "KB", "MB", "GB", "TB", "PB", "EB"};
  int u = 0;
  while (bytes >= 1000.0 && u < 6) bytes /= 1000.0, ++u;
  char buf[32];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.1f %s", bytes, units[u]);
  return buf;
}

const char* source_basename(const char* path) {
  if (!path) return "";
  const char* base = path;
  for (const char* p = path; *p; ++p)
    if (*p == '/' || *p == '\\') base = p + 1;
  return base;
}

std::string cuda_error_message(const char* name, const char* description, const char* what, const char* file,
                               int line) {
  return concat("CUDA error ", name, " (", description, ") in ", what, " at ", source_basename(file), ":", line);
}

}  // namespace foveal::detail
