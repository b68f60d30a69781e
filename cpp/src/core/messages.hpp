// SPDX-License-Identifier: Apache-2.0
// Message formatting shared by the front ends and the CUDA backend (host code, testable without
// a GPU).
#pragma once
#include <cstdint>
#include <string>

namespace foveal::detail {

/// "3.1 GB", "512 B": decimal units, one decimal place above bytes.
std::string format_bytes(double bytes);

/// The file name without its directories, so that messages do not carry the build machine's paths.
const char* source_basename(const char* path);

/// "CUDA error <name> (<description>) in <what> at <file base name>:<line>".
std::string cuda_error_message(const char* name, const char* description, const char* what, const char* file,
                               int line);

}  // namespace foveal::detail
