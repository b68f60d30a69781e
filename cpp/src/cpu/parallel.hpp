// SPDX-License-Identifier: Apache-2.0
// The only place CPU kernels meet OpenMP.
#pragma once
#include <cstdint>

#include "foveal/config.hpp"
#if FOVEAL_WITH_OPENMP
#include <omp.h>
#endif

namespace foveal::cpu {

inline int max_threads(int requested) {
#if FOVEAL_WITH_OPENMP
  return requested > 0 ? requested : omp_get_max_threads();
#else
  (void)requested;
  return 1;
#endif
}

/// Calls f(i) for i in [begin, end), split statically over threads when there are at least
/// `min_parallel` iterations.
template <typename F>
void parallel_for(std::int64_t begin, std::int64_t end, int num_threads, std::int64_t min_parallel, F&& f) {
#if FOVEAL_WITH_OPENMP
  const int nt = max_threads(num_threads);
  if (nt > 1 && end - begin >= min_parallel) {
#pragma omp parallel for schedule(static) num_threads(nt)
    for (std::int64_t i = begin; i < end; ++i) f(i);
    return;
  }
#else
  (void)num_threads;
  (void)min_parallel;
#endif
  for (std::int64_t i = begin; i < end; ++i) f(i);
}

/// As parallel_for, but iterations are handed out one at a time (schedule(dynamic)): for
/// iterations of uneven cost, and so that a thread preempted on a busy machine does not hold the
/// others up at the barrier.
template <typename F>
void parallel_for_dynamic(std::int64_t begin, std::int64_t end, int num_threads, std::int64_t min_parallel, F&& f) {
#if FOVEAL_WITH_OPENMP
  const int nt = max_threads(num_threads);
  if (nt > 1 && end - begin >= min_parallel) {
#pragma omp parallel for schedule(dynamic, 1) num_threads(nt)
    for (std::int64_t i = begin; i < end; ++i) f(i);
    return;
  }
#else
  (void)num_threads;
  (void)min_parallel;
#endif
  for (std::int64_t i = begin; i < end; ++i) f(i);
}
/// While alive, lets the OpenMP runtime size teams by the machine's load (omp_set_dynamic), unless
/// the caller asked for a thread count. For ops that run hundreds of short parallel loops in a row:
/// on an oversubscribed machine a descheduled team member stalls every loop's barrier.
class DynamicTeams {
 public:
  explicit DynamicTeams(int requested) {
#if FOVEAL_WITH_OPENMP
    if (requested > 0) return;
    prev_ = omp_get_dynamic();
    omp_set_dynamic(1);
#else
    (void)requested;
#endif
  }
  ~DynamicTeams() {
#if FOVEAL_WITH_OPENMP
    if (prev_ >= 0) omp_set_dynamic(prev_);
#endif
  }
  DynamicTeams(const DynamicTeams&) = delete;
  DynamicTeams& operator=(const DynamicTeams&) = delete;

 private:
  int prev_ = -1;
};

}  // namespace foveal::cpu
