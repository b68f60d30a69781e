// SPDX-License-Identifier: Apache-2.0
// The CPU thread pool: every index once, nested and concurrent calls (no deadlock), exceptions
// carried to the caller, and fork: a child of a parent that used the pool gets a pool of its own.
#include <atomic>
#include <cstdint>
#include <stdexcept>
#include <thread>
#include <vector>

#include "check.hpp"
#include "cpu/parallel.hpp"
#include "foveal/config.hpp"

#if defined(__unix__) || defined(__APPLE__)
#include <csignal>
#include <sys/wait.h>
#include <unistd.h>
#endif

namespace cpu = foveal::cpu;

namespace {

// Sums f over [0, n) with 4 threads and checks every index ran exactly once.
bool covers_once(std::int64_t n, int nt) {
  std::vector<std::atomic<int>> hits(static_cast<std::size_t>(n));
  cpu::parallel_for(0, n, nt, 1, [&](std::int64_t i) { hits[static_cast<std::size_t>(i)].fetch_add(1); });
  for (auto& h : hits)
    if (h.load() != 1) return false;
  return true;
}

void test_coverage() {
  for (std::int64_t n : {0, 1, 2, 3, 7, 64, 1000, 100003})
    for (int nt : {1, 2, 3, 4, 9}) EXPECT(covers_once(n, nt), "n=%lld nt=%d", static_cast<long long>(n), nt);
  // Many small jobs in a row (the hand-over between jobs).
  bool ok = true;
  for (int rep = 0; rep < 2000 && ok; ++rep) ok = covers_once(17, 4);
  EXPECT(ok, "back-to-back jobs");
#if FOVEAL_WITH_THREADS
  EXPECT(cpu::max_threads(3) == 3, "an explicit thread count is used as given");
  EXPECT(cpu::max_threads(0) >= 1 && cpu::max_threads(0) == cpu::default_threads(), "default");
#else
  EXPECT(cpu::max_threads(3) == 1 && cpu::max_threads(0) == 1, "a build without threads runs on one");
#endif
}

void test_nested() {
  std::atomic<std::int64_t> sum{0};
  cpu::parallel_for(0, 8, 4, 1, [&](std::int64_t i) {
    cpu::parallel_for(0, 100, 4, 1, [&](std::int64_t j) { sum.fetch_add(i * 100 + j); });
  });
  EXPECT(sum.load() == 799 * 800 / 2, "nested sum %lld", static_cast<long long>(sum.load()));
}

void test_concurrent_callers() {
  std::vector<std::thread> threads;
  std::atomic<int> bad{0};
  for (int t = 0; t < 6; ++t)
    threads.emplace_back([&] {
      for (int rep = 0; rep < 300; ++rep)
        if (!covers_once(1000, 4)) bad.fetch_add(1);
    });
  for (auto& th : threads) th.join();
  EXPECT(bad.load() == 0, "%d wrong results from concurrent callers", bad.load());
}

void test_exception() {
  bool caught = false;
  try {
    cpu::parallel_for(0, 1000, 4, 1, [](std::int64_t i) {
      if (i == 999) throw std::runtime_error("chunk failed");
    });
  } catch (const std::runtime_error& e) {
    caught = std::string(e.what()) == "chunk failed";
  }
  EXPECT(caught, "an exception in a chunk reaches the caller");
  EXPECT(covers_once(1000, 4), "the pool works after an exception");
}

void test_fork() {
#if defined(__unix__) || defined(__APPLE__)
  EXPECT(covers_once(100000, 4), "parent");  // the parent's pool exists and has run
  for (int generation = 0; generation < 2; ++generation) {
    const pid_t pid = fork();
    if (pid == 0) {
      alarm(20);  // a hang in the child ends as a failure, not a stuck test
      bool ok = covers_once(100000, 4) && covers_once(1000, 3);
      if (ok && generation == 1) {  // and a grandchild
        const pid_t g = fork();
        if (g == 0) {
          alarm(20);
          _exit(covers_once(100000, 4) ? 0 : 3);
        }
        int st = 0;
        waitpid(g, &st, 0);
        ok = WIFEXITED(st) && WEXITSTATUS(st) == 0;
      }
      _exit(ok ? 0 : 2);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    EXPECT(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child %d: status %d", generation, status);
  }
  EXPECT(covers_once(100000, 4), "parent after fork");
#endif
}

}  // namespace

int main() {
  test_coverage();
  test_nested();
  test_concurrent_callers();
  test_exception();
  test_fork();
  if (failures) std::fprintf(stderr, "%d failure(s)\n", failures);
  return failures ? 1 : 0;
}
