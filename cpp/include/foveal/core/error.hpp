// SPDX-License-Identifier: Apache-2.0
// One exception hierarchy; the Python module maps it to ValueError / TypeError / RuntimeError /
// MemoryError / NotImplementedError.
#pragma once
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

namespace foveal {

/// Base of every error foveal throws. Catch this to catch them all.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};
/// A bad argument value or shape (Python: ValueError).
class ValueError : public Error {
 public:
  using Error::Error;
};
/// A bad dtype (Python: TypeError).
class TypeError : public Error {
 public:
  using Error::Error;
};
/// Arrays on the wrong or mixed devices, or a CUDA runtime failure (Python: RuntimeError).
class DeviceError : public Error {
 public:
  using Error::Error;
};
/// A device allocation failed (Python: MemoryError).
class MemoryError : public Error {
 public:
  using Error::Error;
};
/// The backend needed was not compiled into this build (Python: NotImplementedError).
class NotCompiledError : public Error {
 public:
  using Error::Error;
};

/// A kernel stopped because ExecContext::cancel was set (the Python bindings turn it into the
/// KeyboardInterrupt that set it).
class Cancelled : public Error {
 public:
  using Error::Error;
};

namespace detail {
template <typename... Parts>
std::string concat(Parts&&... parts) {
  std::ostringstream os;
  (os << ... << std::forward<Parts>(parts));
  return os.str();
}
}  // namespace detail
}  // namespace foveal

/// Throw `kind` with the streamed message parts when `cond` is false.
#define FOVEAL_CHECK(kind, cond, ...)                                 \
  do {                                                                \
    if (!(cond)) throw ::foveal::kind(::foveal::detail::concat(__VA_ARGS__)); \
  } while (0)
#define FOVEAL_CHECK_VALUE(cond, ...) FOVEAL_CHECK(ValueError, cond, __VA_ARGS__)
#define FOVEAL_CHECK_TYPE(cond, ...) FOVEAL_CHECK(TypeError, cond, __VA_ARGS__)
#define FOVEAL_CHECK_DEVICE(cond, ...) FOVEAL_CHECK(DeviceError, cond, __VA_ARGS__)
