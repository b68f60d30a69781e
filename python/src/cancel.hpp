// SPDX-License-Identifier: Apache-2.0
// Interruptible kernel calls: long CPU kernels run with the GIL released and can be stopped with
// Ctrl-C. Python runs signal handlers on the main thread only, so on the main thread a large
// call runs the kernel on a helper thread while the caller waits with the GIL released, waking
// every 20 ms to take the GIL and run PyErr_CheckSignals(); on a pending KeyboardInterrupt (or any
// handler's exception) it sets ExecContext::cancel, waits for the kernel to stop (it polls the
// flag between row blocks and throws foveal::Cancelled), and raises the handler's exception. The
// output array is never returned then, so its partial contents are never seen.
//
// Elsewhere (a worker thread of a batch) the kernel runs inline; a CancelFlag passed by the caller
// (foveal._core.CancelFlag, set by the batch runner when its own wait is interrupted) stops it.
//
// Usage in a binding:  foveal::interop::run_cancellable(flag, work, ctx, [&](const ExecContext& c) {...});
#pragma once
#include <pybind11/pybind11.h>

#include <atomic>
#include <chrono>
#include <exception>
#include <future>
#include <thread>

#include "foveal/core/error.hpp"
#include "foveal/core/exec_context.hpp"

namespace foveal::interop {

/// A cancellation flag shared with Python (foveal._core.CancelFlag). `threads` > 0 also caps the
/// CPU threads of the calls that carry it (a batch of N images on W workers gives each call
/// cores / W threads, so that the images do not oversubscribe the cores).
struct CancelFlag {
  std::atomic<bool> flag{false};
  int threads = 0;
};

/// True on the interpreter's main thread (where signal handlers run). Call with the GIL held.
bool on_main_thread();

/// Work estimate (element-operations) above which a main-thread call is made interruptible.
constexpr double kInterruptibleWork = 2e7;

/// Runs fn(ctx') with the GIL released; ctx' carries a cancellation flag (the caller's `flag` if
/// given). `work` is the size estimate of a CPU call (pass 0 for CUDA arrays: a CUDA call returns
/// at once, and the helper thread would not have the caller's current device). Called with the
/// GIL held. Throws py::error_already_set when a signal handler raised.
template <typename F>
void run_cancellable(CancelFlag* flag, double work, ExecContext ctx, F&& fn) {
  namespace py = pybind11;
  CancelFlag local;
  CancelFlag* f = flag != nullptr ? flag : &local;
  ctx.cancel = &f->flag;
  if (flag != nullptr && flag->threads > 0) ctx.num_threads = flag->threads;
  if (!(work >= kInterruptibleWork && on_main_thread())) {
    py::gil_scoped_release nogil;
    fn(static_cast<const ExecContext&>(ctx));
    return;
  }
  std::packaged_task<void()> task([&] { fn(static_cast<const ExecContext&>(ctx)); });
  std::future<void> done = task.get_future();
  std::thread worker(std::move(task));
  bool interrupted = false;
  {
    py::gil_scoped_release nogil;
    while (done.wait_for(std::chrono::milliseconds(20)) != std::future_status::ready) {
      py::gil_scoped_acquire gil;
      if (PyErr_CheckSignals() != 0) {
        interrupted = true;
        f->flag.store(true, std::memory_order_relaxed);
        break;
      }
    }
    done.wait();
  }
  worker.join();
  if (interrupted) {
    try {
      done.get();
    } catch (const foveal::Cancelled&) {
    } catch (...) {  // the kernel failed on its own before it saw the flag: the signal wins
    }
    throw py::error_already_set();
  }
  done.get();  // rethrows the kernel's own error
}

}  // namespace foveal::interop
