// CUDA on the CPU, for the emulators of this folder (see run.sh). The CUDA threads of a block are
// user-space fibers on one OS thread (ucontext), walking the grid's blocks together; __syncthreads,
// __syncwarp and warp shuffles are barriers at which a fiber waits until its block or warp has
// arrived (threads that wait at different barriers abort with a message, where a GPU would hang).
// With EMU_OS_THREADS (run.sh sets it for ThreadSanitizer, whose race detection needs real
// threads) each CUDA thread is an OS thread instead and the barriers are std::barrier.
// __shared__ is static storage and dynamic shared memory one buffer (smem), both reused block
// after block; atomics take a lock. nvcuda::wmma (below) is emulated with a full copy of each
// 16 x 16 tile per thread.
#pragma once
#include <algorithm>
#include <barrier>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <thread>
#include <type_traits>
#include <vector>
#ifndef EMU_OS_THREADS
#include <sys/mman.h>
#include <ucontext.h>
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#define EMU_FIBER_ASAN 1
#endif
#endif

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __restrict__
#define __shared__ static
#define __align__(n) __attribute__((aligned(n)))

struct float4 {
  float x, y, z, w;
};
struct double2 {
  double x, y;
};

struct D3 {
  unsigned x = 0, y = 0, z = 0;
};
inline thread_local D3 threadIdx, blockIdx;
inline D3 blockDim, gridDim;

namespace emu {
#ifdef EMU_OS_THREADS
using Barrier = std::barrier<>;
#else
// ---- fibers: every CUDA thread of a block on this OS thread ------------------------------------
// On x86-64 a switch saves the callee-saved registers and swaps stack pointers (emu_fiber_switch,
// below): no system call, and no AddressSanitizer interceptor (its swapcontext one clears the
// shadow of the whole target stack at every switch). Elsewhere, ucontext.
#if defined(__x86_64__)
struct Context {
  void* sp = nullptr;
};
extern "C" void emu_fiber_switch(void** save_sp, void* sp);
asm(R"(
  .text
  .weak emu_fiber_switch
  .type emu_fiber_switch, @function
emu_fiber_switch:
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
  .size emu_fiber_switch, .-emu_fiber_switch
)");
inline void switch_context(Context& from, Context& to) { emu_fiber_switch(&from.sp, to.sp); }
// A fresh context that starts in entry() on [stack, stack + size): the six registers
// emu_fiber_switch pops, then entry's address for its ret, then a fake return address, so that
// entry starts with the stack aligned as after a call.
inline void make_context(Context& c, char* stack, std::size_t size, void (*entry)()) {
  auto* top = reinterpret_cast<void**>((reinterpret_cast<std::uintptr_t>(stack + size)) & ~std::uintptr_t(15));
  *--top = nullptr;
  *--top = reinterpret_cast<void*>(entry);
  for (int r = 0; r < 6; ++r) *--top = nullptr;
  c.sp = top;
}
#else
struct Context {
  ucontext_t uc;
};
inline void switch_context(Context& from, Context& to) { swapcontext(&from.uc, &to.uc); }
inline void make_context(Context& c, char* stack, std::size_t size, void (*entry)()) {
  getcontext(&c.uc);
  c.uc.uc_stack.ss_sp = stack;
  c.uc.uc_stack.ss_size = size;
  c.uc.uc_link = nullptr;
  makecontext(&c.uc, entry, 0);
}
#endif

struct Fiber {
  Context ctx;
  char* stack = nullptr;
  unsigned index = 0;   // linear thread index
  D3 tid;               // threadIdx of this CUDA thread
  unsigned parity = 0;  // and its shuffle_parity
  bool waiting = false, done = false;
};
inline constexpr std::size_t kFiberStack = std::size_t(1) << 20;  // virtual; pages are touched on use
inline thread_local Fiber* current_fiber = nullptr;
inline thread_local Context scheduler_ctx;
inline thread_local const void* scheduler_stack = nullptr;  // AddressSanitizer's view of the caller
inline thread_local std::size_t scheduler_stack_size = 0;

// From the running fiber back to the scheduler, until the fiber is resumed.
inline void suspend() {
  Fiber* f = current_fiber;
#ifdef EMU_FIBER_ASAN
  void* fake = nullptr;
  __sanitizer_start_switch_fiber(&fake, scheduler_stack, scheduler_stack_size);
  switch_context(f->ctx, scheduler_ctx);
  __sanitizer_finish_switch_fiber(fake, &scheduler_stack, &scheduler_stack_size);
#else
  switch_context(f->ctx, scheduler_ctx);
#endif
}

/// A barrier of `expected` fibers: the last to arrive releases the others and goes on.
class Barrier {
 public:
  explicit Barrier(std::ptrdiff_t expected) : expected_(expected) {}
  void arrive_and_wait() {
    if (++arrived_ == expected_) {
      arrived_ = 0;
      for (Fiber* w : waiting_) w->waiting = false;
      waiting_.clear();
      return;
    }
    current_fiber->waiting = true;
    waiting_.push_back(current_fiber);
    suspend();
  }

 private:
  std::ptrdiff_t expected_, arrived_ = 0;
  std::vector<Fiber*> waiting_;
};
#endif

inline Barrier* block_bar;
struct Warp {
  std::unique_ptr<Barrier> bar;
  double slots[2][32];  // shuffles alternate between the two (see shuffle)
};
inline thread_local unsigned shuffle_parity = 0;  // per CUDA thread (a fiber keeps its own)
inline std::vector<Warp> warps;
inline std::vector<double> smem;
inline std::mutex atomic_lock;

inline unsigned linear_thread() { return threadIdx.x + threadIdx.y * blockDim.x; }

// One barrier a shuffle: consecutive shuffles use alternate slot rows, and a lane can only write
// a row again after the next shuffle's barrier, which every lane reaches after reading this one.
template <typename T>
T shuffle(T v, int src, bool valid) {
  const unsigned t = linear_thread();
  Warp& w = warps[t / 32];
  double* slots = w.slots[shuffle_parity];
  shuffle_parity ^= 1u;
  slots[t % 32] = static_cast<double>(v);
  w.bar->arrive_and_wait();
  return valid ? static_cast<T>(slots[src]) : v;
}

#ifndef EMU_OS_THREADS
// From the scheduler into fiber f, until f waits or ends.
inline void resume(Fiber& f) {
  current_fiber = &f;
  threadIdx = f.tid;
  shuffle_parity = f.parity;
#ifdef EMU_FIBER_ASAN
  void* fake = nullptr;
  __sanitizer_start_switch_fiber(&fake, f.stack, kFiberStack);
  switch_context(scheduler_ctx, f.ctx);
  __sanitizer_finish_switch_fiber(fake, nullptr, nullptr);
#else
  switch_context(scheduler_ctx, f.ctx);
#endif
  f.tid = threadIdx;  // as the fiber left them
  f.parity = shuffle_parity;
  current_fiber = nullptr;
}

// Fiber stacks, kept from launch to launch. Every frame of an ended fiber returned (and cleared
// its redzones) except fiber_start's own, at the top: that part is unpoisoned for the next one.
inline char* fiber_stack(std::size_t i) {
  static thread_local std::vector<char*> stacks;
  while (stacks.size() <= i) {
    void* p = mmap(nullptr, kFiberStack, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) {
      std::fprintf(stderr, "emu: cannot map a fiber stack\n");
      std::abort();
    }
    stacks.push_back(static_cast<char*>(p));
  }
#ifdef EMU_FIBER_ASAN
  __asan_unpoison_memory_region(stacks[i] + kFiberStack - 16384, 16384);
#endif
  return stacks[i];
}

inline thread_local void (*fiber_body)(unsigned) = nullptr;  // the launch's per-thread loop
[[noreturn]] inline void fiber_start() {
#ifdef EMU_FIBER_ASAN
  __sanitizer_finish_switch_fiber(nullptr, &scheduler_stack, &scheduler_stack_size);
#endif
  fiber_body(current_fiber->index);
  current_fiber->done = true;
#ifdef EMU_FIBER_ASAN
  __sanitizer_start_switch_fiber(nullptr, scheduler_stack, scheduler_stack_size);  // this fiber ends
#endif
  switch_context(current_fiber->ctx, scheduler_ctx);
  std::abort();  // never resumed
}

// Runs body(t) for t in [0, n) as fibers until all end.
template <typename B>
void run_fibers(unsigned n, B& body) {
  static thread_local B* the_body;
  the_body = &body;
  fiber_body = [](unsigned t) { (*the_body)(t); };
  std::vector<Fiber> fibers(n);
  for (unsigned t = 0; t < n; ++t) {
    Fiber& f = fibers[t];
    f.index = t;
    f.stack = fiber_stack(t);
    make_context(f.ctx, f.stack, kFiberStack, &fiber_start);
  }
  for (unsigned left = n; left;) {
    bool ran = false;
    for (Fiber& f : fibers)
      if (!f.done && !f.waiting) {
        resume(f);
        ran = true;
        if (f.done) --left;
      }
    if (!ran && left) {
      std::fprintf(stderr, "emu: %u CUDA threads wait at barriers that the others never reach\n", left);
      std::abort();
    }
  }
}
#endif

// Runs f() as a (gx, gy, gz) grid of (bx, by) blocks with `smem_bytes` of dynamic shared memory
// (`slack` doubles more; the whole-file emulators give none: AddressSanitizer sees a read past it).
template <typename F>
void launch_grid(unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, std::size_t smem_bytes, F f,
                 std::size_t slack = 16) {
  gridDim = {gx, gy, gz};
  blockDim = {bx, by, 1};
  const unsigned n = bx * by;
  // a fresh buffer of exactly this size (assign would keep a larger launch's capacity)
  smem = std::vector<double>((smem_bytes + sizeof(double) - 1) / sizeof(double) + slack, std::nan(""));
  Barrier bar(n), end(n);
  block_bar = &bar;
  warps.clear();
  warps.resize((n + 31) / 32);
  for (std::size_t w = 0; w < warps.size(); ++w)
    warps[w].bar = std::make_unique<Barrier>(std::min<std::ptrdiff_t>(32, std::ptrdiff_t(n) - std::ptrdiff_t(32 * w)));
  auto body = [&](unsigned t) {
    threadIdx = {t % bx, t / bx, 0};
    for (unsigned k = 0; k < gz; ++k)
      for (unsigned j = 0; j < gy; ++j)
        for (unsigned i = 0; i < gx; ++i) {
          blockIdx = {i, j, k};
          f();
          end.arrive_and_wait();
          if (t == 0) std::fill(smem.begin(), smem.end(), std::nan(""));  // nothing carries over
          end.arrive_and_wait();
        }
  };
#ifdef EMU_OS_THREADS
  std::vector<std::thread> th;
  for (unsigned t = 0; t < n; ++t) th.emplace_back([&body, t] { body(t); });
  for (auto& t : th) t.join();
#else
  run_fibers(n, body);
#endif
}

template <typename F>
void launch(unsigned gx, unsigned gy, unsigned bx, unsigned by, std::size_t smem_bytes, F f) {
  launch_grid(gx, gy, 1, bx, by, smem_bytes, f);
}
}  // namespace emu

#define __syncthreads() emu::block_bar->arrive_and_wait()
inline void __syncwarp(unsigned = 0xffffffffu) { emu::warps[emu::linear_thread() / 32].bar->arrive_and_wait(); }
template <typename T>
T __shfl_up_sync(unsigned, T v, int d) {
  const int lane = static_cast<int>(emu::linear_thread() % 32);
  return emu::shuffle(v, lane - d, lane - d >= 0);
}
template <typename T>
T __shfl_down_sync(unsigned, T v, int d) {
  const int lane = static_cast<int>(emu::linear_thread() % 32);
  return emu::shuffle(v, lane + d, lane + d < 32);
}
template <typename T>
T __shfl_sync(unsigned, T v, int src) {  // src in [0, 32): callers pass lane indices
  return emu::shuffle(v, src & 31, true);
}
template <typename T>
T atomicAdd(T* p, T v) {
  std::lock_guard<std::mutex> l(emu::atomic_lock);
  const T o = *p;
  *p += v;
  return o;
}
inline int atomicMax(int* p, int v) {
  std::lock_guard<std::mutex> l(emu::atomic_lock);
  const int o = *p;
  *p = std::max(o, v);
  return o;
}

// nvcuda::wmma on the CPU: every thread of the warp holds the whole matrix of a fragment (the real
// layout is opaque, so a kernel that keeps to the API cannot tell). Loads check wmma's rules (a
// 256-bit aligned pointer, ldm a multiple of 16 bytes); mma_sync sums the exact products in float,
// in k order; store_matrix_sync writes only the calling lane's share of the elements, so that a
// lane reading another lane's elements without __syncwarp reads stale data, as on the GPU.
namespace nvcuda::wmma {
struct matrix_a;
struct matrix_b;
struct accumulator;
struct row_major;
struct col_major;
namespace precision {
struct tf32;
}
enum layout_t { mem_row_major, mem_col_major };

/// cvt.rna.tf32.f32: 10 mantissa bits, to nearest, ties away from zero (low 13 bits zero).
inline float __float_to_tf32(float v) {
  if (!std::isfinite(v)) return v;
  std::uint32_t u;
  std::memcpy(&u, &v, 4);
  u = (u + 0x1000u) & ~0x1fffu;
  std::memcpy(&v, &u, 4);
  return v;
}

template <typename Use, int M, int N, int K, typename T, typename Layout = void>
struct fragment {
  using storage_element_type = std::conditional_t<std::is_same_v<T, precision::tf32>, float, T>;
  static constexpr int rows = std::is_same_v<Use, matrix_b> ? K : M;
  static constexpr int cols = std::is_same_v<Use, matrix_a> ? K : N;
  enum { num_elements = rows * cols };
  storage_element_type x[num_elements];  // row-major (rows x cols)
};

template <typename T>
float emu_float(const T& v) {
  if constexpr (std::is_class_v<T>) return to_acc(v);  // bfloat16 (found by ADL)
  else return static_cast<float>(v);
}

inline void check_ptr(const void* p, unsigned ldm, std::size_t elem) {
  if (reinterpret_cast<std::uintptr_t>(p) % 32 != 0 || (ldm * elem) % 16 != 0) {
    std::fprintf(stderr, "wmma: pointer not 256-bit aligned or ldm not a multiple of 16 bytes\n");
    std::abort();
  }
}

template <typename Use, int M, int N, int K, typename T, typename L, typename P>
void load_matrix_sync(fragment<Use, M, N, K, T, L>& f, const P* p, unsigned ldm) {
  using F = fragment<Use, M, N, K, T, L>;
  static_assert(std::is_same_v<typename F::storage_element_type, P>, "wmma: pointer type differs from the fragment's");
  check_ptr(p, ldm, sizeof(P));
  constexpr bool col = std::is_same_v<L, col_major>;
  for (int r = 0; r < F::rows; ++r)
    for (int c = 0; c < F::cols; ++c) f.x[r * F::cols + c] = col ? p[r + std::size_t(c) * ldm] : p[std::size_t(r) * ldm + c];
}

template <typename Use, int M, int N, int K, typename T, typename L>
void fill_fragment(fragment<Use, M, N, K, T, L>& f, const typename fragment<Use, M, N, K, T, L>::storage_element_type& v) {
  for (auto& e : f.x) e = v;
}

template <int M, int N, int K, typename T, typename LA, typename LB>
void mma_sync(fragment<accumulator, M, N, K, float>& d, const fragment<matrix_a, M, N, K, T, LA>& a,
              const fragment<matrix_b, M, N, K, T, LB>& b, const fragment<accumulator, M, N, K, float>& c) {
  float out[M * N];
  for (int r = 0; r < M; ++r)
    for (int n = 0; n < N; ++n) {
      float s = c.x[r * N + n];
      for (int k = 0; k < K; ++k) s += emu_float(a.x[r * K + k]) * emu_float(b.x[k * N + n]);
      out[r * N + n] = s;
    }
  std::memcpy(d.x, out, sizeof out);
}

template <int M, int N, int K>
void store_matrix_sync(float* p, const fragment<accumulator, M, N, K, float>& f, unsigned ldm, layout_t layout) {
  check_ptr(p, ldm, sizeof(float));
  const unsigned lane = emu::linear_thread() % 32;
  for (unsigned e = lane; e < unsigned(M * N); e += 32) {
    const unsigned r = e / N, c = e % N;
    p[layout == mem_row_major ? r * ldm + c : r + c * ldm] = f.x[e];
  }
}
}  // namespace nvcuda::wmma
