// SPDX-License-Identifier: Apache-2.0
// The few assertion macros the C++ tests share (no test framework dependency).
#pragma once
#include <cstdio>
#include <string>

inline int failures = 0;

#define EXPECT(cond, ...)                                                    \
  do {                                                                       \
    if (!(cond)) {                                                           \
      ++failures;                                                            \
      std::fprintf(stderr, "%s:%d: FAILED %s: ", __FILE__, __LINE__, #cond); \
      std::fprintf(stderr, __VA_ARGS__);                                     \
      std::fprintf(stderr, "\n");                                            \
    }                                                                        \
  } while (0)

/// Runs `stmt`, expecting it to throw `Kind` whose message contains `needle`.
#define EXPECT_THROWS(Kind, needle, stmt)                                                          \
  do {                                                                                             \
    try {                                                                                          \
      stmt;                                                                                        \
      ++failures;                                                                                  \
      std::fprintf(stderr, "%s:%d: FAILED: %s did not throw %s\n", __FILE__, __LINE__, #stmt, #Kind); \
    } catch (const Kind& e) {                                                                      \
      if (std::string(e.what()).find(needle) == std::string::npos) {                               \
        ++failures;                                                                                \
        std::fprintf(stderr, "%s:%d: FAILED: %s threw '%s', expected it to mention '%s'\n", __FILE__, \
                     __LINE__, #stmt, e.what(), needle);                                           \
      }                                                                                            \
    } catch (const std::exception& e) {                                                            \
      ++failures;                                                                                  \
      std::fprintf(stderr, "%s:%d: FAILED: %s threw the wrong type: %s\n", __FILE__, __LINE__, #stmt, \
                   e.what());                                                                      \
    }                                                                                              \
  } while (0)
