// SPDX-License-Identifier: Apache-2.0
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "foveal/build_info.hpp"
#include "foveal/core/error.hpp"

namespace py = pybind11;

void bind_detection(py::module_& m);
void bind_roi(py::module_& m);
void bind_restoration(py::module_& m);
void bind_nlm(py::module_& m);
void bind_nn(py::module_& m);
void bind_anchors(py::module_& m);
void bind_rotated(py::module_& m);
void bind_metrics(py::module_& m);
void bind_fft(py::module_& m);

PYBIND11_MODULE(_core, m) {
  m.doc() = "foveal native core (C++/CUDA kernels). The public API is in foveal.*";
  m.attr("__version__") = FOVEAL_VERSION_INFO;

  // The classes live in foveal/_errors.py (each also a RuntimeError, as torch's errors are).
  // Leaked on purpose: the translator may run during interpreter shutdown.
  const py::module_ errors = py::module_::import("foveal._errors");
  static PyObject* value_error = py::object(errors.attr("FovealValueError")).release().ptr();
  static PyObject* type_error = py::object(errors.attr("FovealTypeError")).release().ptr();
  static PyObject* memory_error = py::object(errors.attr("FovealMemoryError")).release().ptr();
  static PyObject* not_compiled = py::object(errors.attr("FovealNotCompiledError")).release().ptr();
  static PyObject* base_error = py::object(errors.attr("FovealError")).release().ptr();
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const foveal::ValueError& e) {
      PyErr_SetString(value_error, e.what());
    } catch (const foveal::TypeError& e) {
      PyErr_SetString(type_error, e.what());
    } catch (const foveal::MemoryError& e) {
      PyErr_SetString(memory_error, e.what());
    } catch (const foveal::NotCompiledError& e) {
      PyErr_SetString(not_compiled, e.what());
    } catch (const foveal::Error& e) {  // DeviceError and any other
      PyErr_SetString(base_error, e.what());
    }
  });

  m.def("cuda_available", &foveal::cuda_available, "True when CUDA is compiled in and a GPU is usable.");
  m.def(
      "build_info",
      [] {
        const foveal::BuildInfo b = foveal::build_info();
        py::dict d;
        d["version"] = b.version;
        d["compiler"] = b.compiler;
        d["cxx_standard"] = b.cxx_standard;
        d["threads"] = b.threads;
        d["num_threads"] = b.num_threads;
        d["openmp"] = b.openmp;
        d["omp_max_threads"] = b.omp_max_threads;
        d["simd_compiled"] = b.simd_compiled;
        d["simd_supported"] = b.simd_supported;
        d["simd_selected"] = b.simd_selected;
        d["cuda_compiled"] = b.cuda_compiled;
        d["cuda_version"] = b.cuda_compiled ? py::object(py::str(b.cuda_version)) : py::object(py::none());
        d["cuda_archs"] = b.cuda_compiled ? py::object(py::str(b.cuda_archs)) : py::object(py::none());
        d["cuda_device_count"] = b.cuda_device_count;
        return d;
      },
      "What this build contains and what it selected on this machine.");
  m.def("config_warnings", &foveal::config_warnings,
        "Problems found in foveal's environment variables, each once (foveal warns at import).");
  m.def("simd_levels", [] { return foveal::build_info().simd_supported; },
        "SIMD paths compiled in and supported by this CPU, lowest first.");
  m.def("set_simd_level", &foveal::set_simd_level, py::arg("level"),
        "Select the CPU SIMD path ('baseline', 'avx2', 'avx512'); returns the previous one.");

  bind_detection(m);
  bind_roi(m);
  bind_restoration(m);
  bind_nlm(m);
  bind_nn(m);
  bind_anchors(m);
  bind_rotated(m);
  bind_metrics(m);
  bind_fft(m);
}
