// SPDX-License-Identifier: Apache-2.0
// Kernel entry point of non-local means. Users call foveal.restoration.denoise_nl_means, which
// moves the channels last, allocates the output and applies scikit-image's dtype rules.
#include <pybind11/pybind11.h>

#include <cmath>

#include "cancel.hpp"
#include "foveal/ops/nlm.hpp"
#include "interop.hpp"

namespace py = pybind11;

namespace foveal::interop {
namespace {
unsigned long main_ident = 0;  // NOLINT: set once at import
}
bool on_main_thread() { return PyThread_get_thread_ident() == main_ident; }
}  // namespace foveal::interop

void bind_nlm(py::module_& m) {
  using foveal::interop::CancelFlag;
  foveal::interop::main_ident = py::module_::import("threading").attr("main_thread")().attr("ident").cast<unsigned long>();
  py::class_<CancelFlag>(m, "CancelFlag",
                         "A cancellation flag for the cancellable kernel entry points (cancel=...): once set, "
                         "a running kernel stops at its next poll and raises.")
      .def(py::init<>())
      .def("set", [](CancelFlag& f) { f.flag.store(true); })
      .def("is_set", [](const CancelFlag& f) { return f.flag.load(); })
      .def_readwrite("threads", &CancelFlag::threads,
                     "CPU threads of each call carrying this flag (0: the default).");
  m.def(
      "denoise_nl_means",
      [](py::handle image, py::handle out, std::int64_t patch_size, std::int64_t patch_distance, double h,
         double sigma, bool fast_mode, std::uintptr_t stream, CancelFlag* cancel) {
        const auto im = foveal::interop::borrow(image, "image", false, stream);
        const auto o = foveal::interop::borrow(out, "out", true, stream);
        const int spatial = std::max(im.view.ndim() - 1, 1);
        const double work = static_cast<double>(im.view.numel()) * std::pow(2.0 * patch_distance + 1, spatial) *
                            (fast_mode ? 4.0 : std::pow(double(patch_size), spatial));
        foveal::interop::run_cancellable(cancel, im.view.device().type == foveal::DeviceType::CPU ? work : 0.0, foveal::ExecContext::on_stream(stream),
                                         [&](const foveal::ExecContext& ctx) {
                                           foveal::denoise_nl_means(im.view, o.view, patch_size, patch_distance, h,
                                                                    sigma, fast_mode, ctx);
                                         });
      },
      py::arg("image"), py::arg("out"), py::arg("patch_size"), py::arg("patch_distance"), py::arg("h"),
      py::arg("sigma"), py::arg("fast_mode"), py::kw_only(), py::arg("stream") = 0, py::arg("cancel") = nullptr,
      "Kernel entry point: writes the non-local means of `image` (spatial..., channels) into `out`. "
      "Use foveal.restoration.denoise_nl_means.");
  m.def(
      "fast_nl_means",
      [](py::handle image, py::handle out, double h, std::int64_t template_window_size, std::int64_t search_window_size,
         std::uintptr_t stream, CancelFlag* cancel) {
        const auto im = foveal::interop::borrow(image, "image", false, stream);
        const auto o = foveal::interop::borrow(out, "out", true, stream);
        const double work = static_cast<double>(im.view.numel()) * double(search_window_size) * search_window_size * 2.0;
        foveal::interop::run_cancellable(cancel, im.view.device().type == foveal::DeviceType::CPU ? work : 0.0, foveal::ExecContext::on_stream(stream),
                                         [&](const foveal::ExecContext& ctx) {
                                           foveal::fast_nl_means(im.view, o.view, h, template_window_size,
                                                                 search_window_size, ctx);
                                         });
      },
      py::arg("image"), py::arg("out"), py::arg("h"), py::arg("template_window_size"), py::arg("search_window_size"),
      py::kw_only(), py::arg("stream") = 0, py::arg("cancel") = nullptr,
      "Kernel entry point: OpenCV's fastNlMeansDenoising of a (rows, cols[, C]) uint8 (L2) or uint16 (L1) image "
      "into `out`. Use foveal.restoration.fast_nl_means.");
  m.def(
      "fast_nl_means_colored",
      [](py::handle image, py::handle out, double h, double h_color, std::int64_t template_window_size,
         std::int64_t search_window_size, std::uintptr_t stream, CancelFlag* cancel) {
        const auto im = foveal::interop::borrow(image, "image", false, stream);
        const auto o = foveal::interop::borrow(out, "out", true, stream);
        const double work = static_cast<double>(im.view.numel()) * double(search_window_size) * search_window_size * 2.0;
        foveal::interop::run_cancellable(cancel, im.view.device().type == foveal::DeviceType::CPU ? work : 0.0, foveal::ExecContext::on_stream(stream),
                                         [&](const foveal::ExecContext& ctx) {
                                           foveal::fast_nl_means_colored(im.view, o.view, h, h_color,
                                                                         template_window_size, search_window_size, ctx);
                                         });
      },
      py::arg("image"), py::arg("out"), py::arg("h"), py::arg("h_color"), py::arg("template_window_size"),
      py::arg("search_window_size"), py::kw_only(), py::arg("stream") = 0, py::arg("cancel") = nullptr,
      "Kernel entry point: OpenCV's fastNlMeansDenoisingColored of a (rows, cols, 3) uint8 BGR image into `out`. "
      "Use foveal.restoration.fast_nl_means.");
}
