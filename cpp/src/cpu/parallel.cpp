// SPDX-License-Identifier: Apache-2.0
// The CPU thread pool behind parallel_for (see parallel.hpp for what it promises).
//
// One job at a time runs on the pool. Its chunks are claimed through one 64-bit word,
// `state` = epoch (32 bits) | chunk count (16) | next chunk (16), with compare-and-swap: a thread
// that wins a claim knows the job's fields (written before the epoch was published) stay valid
// until it reports the chunk done, because the submitter waits for every chunk. A late worker
// holding an old epoch can never claim a chunk of a newer job by mistake.
#include "cpu/parallel.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <string>
#include <system_error>
#include <thread>
#include <utility>

#include "core/warnings.hpp"
#include "foveal/config.hpp"

#if defined(__unix__) || defined(__APPLE__)
#include <pthread.h>
#define FOVEAL_HAVE_ATFORK 1
#endif
#if defined(__linux__)
#include <sched.h>
#endif

namespace foveal::cpu {
namespace {

constexpr int kMaxThreads = 1024;
// Chunks per thread: a few, so that a thread the OS delays (a busy machine) is covered by the
// others instead of holding up the whole call. Chunk indices are 16 bits in `state`.
constexpr std::int64_t kChunksPerThread = 4;

#if FOVEAL_WITH_THREADS
// Waiting threads spin (pause) up to kSpin, then poll, yielding the CPU between polls, up to their
// limit, then block. Workers wait like this after a job so that back-to-back calls (a Python loop
// over small inputs) find them awake; yielding too early loses the CPU for a whole time slice on a
// busy machine, hence a spin phase about as long as libgomp's. The submitter waits the same way
// for the last chunks.
constexpr auto kSpin = std::chrono::microseconds(1000);
constexpr auto kWorkerPoll = std::chrono::microseconds(2000);
constexpr auto kCallerPoll = std::chrono::microseconds(5000);

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ __volatile__("yield");
#endif
}

constexpr std::uint64_t pack(std::uint32_t epoch, std::uint32_t parts, std::uint32_t next) {
  return (std::uint64_t(epoch) << 32) | (std::uint64_t(parts) << 16) | next;
}
constexpr std::uint32_t epoch_of(std::uint64_t s) { return std::uint32_t(s >> 32); }
constexpr std::uint32_t parts_of(std::uint64_t s) { return std::uint32_t(s >> 16) & 0xffffu; }
constexpr std::uint32_t next_of(std::uint64_t s) { return std::uint32_t(s) & 0xffffu; }

/// Polls pred() until it holds (true) or `limit` has passed (false): spinning for the first kSpin,
/// yielding the CPU between polls after that.
template <typename Pred>
bool poll_until(Pred pred, std::chrono::microseconds limit) {
  const auto t0 = std::chrono::steady_clock::now();
  for (;;) {
    for (int k = 0; k < 64; ++k) {
      if (pred()) return true;
      cpu_relax();
    }
    const auto waited = std::chrono::steady_clock::now() - t0;
    if (waited > limit) return pred();
    if (waited > kSpin) std::this_thread::yield();
  }
}

// Separate cache lines for what the spinning workers read (state), what every chunk writes
// (remaining) and the rest, so that spinning does not slow down the submitter's writes.
struct Pool {
  alignas(64) std::atomic<std::uint64_t> state{0};
  alignas(64) std::atomic<int> remaining{0};
  alignas(64) std::atomic<bool> busy{false};  // held by the thread whose job is on the pool
  int workers = 0;                            // changed only by the holder of `busy`
  std::atomic<int> threads{0};                // threads the current job wants (a hint to workers)

  // The current job; written by the holder of `busy` before it publishes the epoch.
  std::int64_t begin = 0, end = 0;
  detail::ChunkFn fn = nullptr;
  void* ctx = nullptr;
  std::mutex err_mu;
  std::exception_ptr err;

  // Workers sleep here between jobs.
  std::mutex wake_mu;
  std::condition_variable wake_cv;
  std::atomic<int> sleepers{0};
  // The submitter sleeps here for the last chunks.
  std::mutex done_mu;
  std::condition_variable done_cv;
  std::atomic<bool> waiting{false};

  /// Claims and runs chunks of the job in `s` until none is left.
  void work(std::uint64_t s) {
    for (;;) {
      if (next_of(s) >= parts_of(s)) return;
      if (!state.compare_exchange_weak(s, s + 1, std::memory_order_acq_rel, std::memory_order_acquire)) continue;
      run_chunk(next_of(s), parts_of(s));
      s = state.load(std::memory_order_acquire);
    }
  }

  void run_chunk(std::uint32_t part, std::uint32_t parts) {
    const std::int64_t n = end - begin, q = n / parts, r = n % parts;
    const std::int64_t lo = begin + q * part + std::min<std::int64_t>(part, r);
    const std::int64_t hi = lo + q + (std::int64_t(part) < r ? 1 : 0);
    try {
      fn(ctx, lo, hi);
    } catch (...) {
      std::lock_guard<std::mutex> lock(err_mu);
      if (!err) err = std::current_exception();
    }
    if (remaining.fetch_sub(1) == 1 && waiting.load()) {  // seq_cst: pairs with the submitter's wait
      std::lock_guard<std::mutex> lock(done_mu);
      done_cv.notify_one();
    }
  }
};

thread_local bool t_in_worker = false;
std::atomic<Pool*> g_pool{nullptr};

void worker_main(Pool* p, int index, std::uint32_t seen) {
  t_in_worker = true;
  for (;;) {
    std::uint64_t s = 0;
    const auto fresh = [&] {
      s = p->state.load(std::memory_order_acquire);
      return epoch_of(s) != seen;
    };
    if (!poll_until(fresh, kWorkerPoll)) {
      std::unique_lock<std::mutex> lock(p->wake_mu);
      // seq_cst increment and load, paired with the submitter's store of `state` and load of
      // `sleepers`: either it sees us asleep and notifies, or we see its job.
      p->sleepers.fetch_add(1);
      while (epoch_of(s = p->state.load()) == seen) p->wake_cv.wait(lock);
      p->sleepers.fetch_sub(1);
    }
    seen = epoch_of(s);
    // Worker w serves jobs of more than w + 1 threads.
    if (p->threads.load(std::memory_order_relaxed) > index + 1) p->work(s);
  }
}

Pool* pool() {
  Pool* p = g_pool.load(std::memory_order_acquire);
  if (p) return p;
  auto* fresh = new Pool;  // no threads yet, so a losing copy is simply deleted
  if (g_pool.compare_exchange_strong(p, fresh, std::memory_order_acq_rel)) return fresh;
  delete fresh;
  return p;
}

#if FOVEAL_HAVE_ATFORK
// In a forked child the parent's workers do not exist and its mutexes may be held by threads that
// are gone: abandon that pool without touching it (a small leak) and let the child build its own.
void on_fork_child() {
  g_pool.store(nullptr, std::memory_order_relaxed);
  t_in_worker = false;
}
[[maybe_unused]] const bool g_atfork_registered = pthread_atfork(nullptr, nullptr, &on_fork_child) == 0;
#endif
#endif  // FOVEAL_WITH_THREADS

int parse_positive(const char* text) {
  if (!text) return 0;
  char* endp = nullptr;
  const long v = std::strtol(text, &endp, 10);
  if (endp == text || v < 1 || v > kMaxThreads) return 0;
  while (*endp == ' ') ++endp;
  return (*endp == '\0' || *endp == ',') ? int(v) : 0;  // OMP_NUM_THREADS may list nested levels
}

int available_cpus() {
#if defined(__linux__)
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    const int n = CPU_COUNT(&set);
    if (n > 0) return n;
  }
#endif
  const unsigned n = std::thread::hardware_concurrency();
  return n > 0 ? int(n) : 1;
}

int compute_default_threads() {
  for (const char* name : {"FOVEAL_NUM_THREADS", "OMP_NUM_THREADS"}) {
    const char* env = std::getenv(name);
    if (!env || !*env) continue;
    if (const int v = parse_positive(env)) return v;
    foveal::detail::record_config_warning(std::string(name) + "='" + env +
                                          "' is not a thread count (an integer from 1 to " +
                                          std::to_string(kMaxThreads) + "); ignored");
  }
  return std::min(available_cpus(), kMaxThreads);
}

}  // namespace

int default_threads() {
  static const int n = compute_default_threads();
  return n;
}

int max_threads(int requested) {
#if FOVEAL_WITH_THREADS
  return requested > 0 ? std::min(requested, kMaxThreads) : default_threads();
#else
  (void)requested;
  return 1;
#endif
}

void detail::run_parallel(std::int64_t begin, std::int64_t end, int nt, ChunkFn fn, void* ctx) {
#if !FOVEAL_WITH_THREADS
  (void)nt;
  fn(ctx, begin, end);
#else
  nt = int(std::min<std::int64_t>({std::int64_t(nt), std::int64_t(kMaxThreads), end - begin}));
  Pool* p = nt > 1 && !t_in_worker ? pool() : nullptr;
  bool expected = false;
  // Nested, or the pool is busy with another thread's job: run here rather than wait.
  if (!p || !p->busy.compare_exchange_strong(expected, true, std::memory_order_acquire)) {
    fn(ctx, begin, end);
    return;
  }
  struct Release {
    Pool* p;
    ~Release() { p->busy.store(false, std::memory_order_release); }
  } release{p};

  const std::uint32_t epoch = epoch_of(p->state.load(std::memory_order_relaxed));
  while (p->workers < nt - 1) {
    try {
      std::thread(worker_main, p, p->workers, epoch).detach();
    } catch (const std::system_error&) {  // no more threads: use those we have
      nt = p->workers + 1;
      break;
    }
    ++p->workers;
  }
  if (nt < 2) {
    fn(ctx, begin, end);
    return;
  }

  p->begin = begin;
  p->end = end;
  p->fn = fn;
  p->ctx = ctx;
  p->err = nullptr;
  const auto parts =
      static_cast<std::uint32_t>(std::min<std::int64_t>({end - begin, nt * kChunksPerThread, 0xffff}));
  p->remaining.store(int(parts), std::memory_order_relaxed);
  p->threads.store(nt, std::memory_order_relaxed);
  const std::uint64_t s = pack(epoch + 1, parts, 0);
  p->state.store(s);  // seq_cst, paired with the workers' sleepers increment + load
  if (p->sleepers.load() > 0) {
    std::lock_guard<std::mutex> lock(p->wake_mu);
    p->wake_cv.notify_all();
  }
  p->work(s);

  const auto done = [p] { return p->remaining.load() == 0; };
  if (!poll_until(done, kCallerPoll)) {
    std::unique_lock<std::mutex> lock(p->done_mu);
    p->waiting.store(true);
    while (!done()) p->done_cv.wait(lock);
    p->waiting.store(false);
  }
  if (p->err) std::rethrow_exception(std::exchange(p->err, nullptr));
#endif
}

}  // namespace foveal::cpu
