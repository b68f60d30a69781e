// SPDX-License-Identifier: Apache-2.0
// The only place CPU kernels meet threads: a small pool of our own (parallel.cpp) instead of the
// OpenMP runtime, because libgomp's pool does not survive fork() (a child that reaches a parallel
// region waits forever on the parent's threads). OpenMP stays for `#pragma omp simd` only.
//
// - Fork: a pthread_atfork child handler abandons the parent's pool; the child builds a fresh
//   one on first use and keeps full parallelism.
// - Nesting / concurrency: a parallel_for called from inside a worker, or while another thread
//   holds the pool, runs inline on the calling thread (never waits on the pool).
// - Latency: workers spin briefly after a job before they block.
// - Thread count: ExecContext::num_threads when > 0, else FOVEAL_NUM_THREADS, else
//   OMP_NUM_THREADS, else the CPUs this process may run on.
#pragma once
#include <cstdint>
#include <type_traits>
#include <utility>

namespace foveal::cpu {

/// Threads a parallel_for uses for `requested` (ExecContext::num_threads; <= 0: the default).
int max_threads(int requested);

/// The default thread count (environment or CPU affinity), read once per process.
int default_threads();

namespace detail {
using ChunkFn = void (*)(void* ctx, std::int64_t lo, std::int64_t hi);
/// Splits [begin, end) into chunks and runs them on up to `nt` threads (the calling one included).
/// Rethrows the first exception a chunk threw, after every chunk has finished.
void run_parallel(std::int64_t begin, std::int64_t end, int nt, ChunkFn fn, void* ctx);
}  // namespace detail

/// Calls f(i) for i in [begin, end), split into contiguous chunks (a few per thread) run on the
/// pool's threads and the caller's when there are at least `min_parallel` iterations. Which
/// thread runs which index is unspecified; f must not depend on it.
template <typename F>
void parallel_for(std::int64_t begin, std::int64_t end, int num_threads, std::int64_t min_parallel, F&& f) {
  const int nt = max_threads(num_threads);
  if (nt > 1 && end - begin >= min_parallel && end - begin > 1) {
    using Fn = std::remove_reference_t<F>;
    detail::run_parallel(begin, end, nt,
                         [](void* ctx, std::int64_t lo, std::int64_t hi) {
                           Fn& fn = *static_cast<Fn*>(ctx);
                           for (std::int64_t i = lo; i < hi; ++i) fn(i);
                         },
                         const_cast<void*>(static_cast<const void*>(&f)));
    return;
  }
  for (std::int64_t i = begin; i < end; ++i) f(i);
}

/// Same as parallel_for: the pool already hands chunks out dynamically (a few per thread), so
/// iterations of uneven cost, or a thread preempted on a busy machine, do not hold the others up.
template <typename F>
void parallel_for_dynamic(std::int64_t begin, std::int64_t end, int num_threads, std::int64_t min_parallel, F&& f) {
  parallel_for(begin, end, num_threads, min_parallel, std::forward<F>(f));
}

}  // namespace foveal::cpu
