// SPDX-License-Identifier: Apache-2.0
// Kernel entry points of the image quality metrics. Users call foveal.metrics, which applies
// scikit-image's argument and dtype rules.
#include <pybind11/pybind11.h>

#include "foveal/ops/ssim.hpp"
#include "interop.hpp"

namespace py = pybind11;

void bind_metrics(py::module_& m) {
  m.def(
      "structural_similarity",
      [](py::handle im1, py::handle im2, py::handle full, py::handle grad, std::int64_t win_size,
         bool gaussian_weights, double sigma, double truncate, double data_range, double k1, double k2,
         bool use_sample_covariance) {
        const auto a = foveal::interop::borrow(im1, "im1", false);
        const auto b = foveal::interop::borrow(im2, "im2", false);
        foveal::interop::Borrowed f, g;
        if (!full.is_none()) f = foveal::interop::borrow(full, "full", true);
        if (!grad.is_none()) g = foveal::interop::borrow(grad, "grad", true);
        foveal::SsimOptions o;
        o.win_size = win_size;
        o.gaussian_weights = gaussian_weights;
        o.sigma = sigma;
        o.truncate = truncate;
        o.data_range = data_range;
        o.k1 = k1;
        o.k2 = k2;
        o.use_sample_covariance = use_sample_covariance;
        py::gil_scoped_release nogil;
        return foveal::structural_similarity(a.view, b.view, f.view, g.view, o);
      },
      py::arg("im1"), py::arg("im2"), py::arg("full"), py::arg("grad"), py::arg("win_size"),
      py::arg("gaussian_weights"), py::arg("sigma"), py::arg("truncate"), py::arg("data_range"), py::arg("k1"),
      py::arg("k2"), py::arg("use_sample_covariance"),
      "Kernel entry point: mean SSIM of two same-dtype images; writes the SSIM image into `full` and the "
      "gradient into `grad` unless None. Use foveal.metrics.structural_similarity.");
}
