# SPDX-License-Identifier: Apache-2.0
"""foveal: native-accelerated computer-vision kernels for detection and restoration.

Functions accept numpy arrays and CUDA arrays from cupy, torch or jax, and return the same kind
of array on the same device. See ``foveal.ops`` for the detection operations.
"""
from __future__ import annotations

import os as _os
import warnings as _warnings

from . import nn, ops, restoration
from . import metrics
from ._errors import FovealError, FovealMemoryError, FovealNotCompiledError, FovealTypeError, FovealValueError
from ._errors import FovealNotImplementedError
from ._core import __version__
from ._core import build_info as _build_info
from ._core import config_warnings as _config_warnings
from ._core import cuda_available as _cuda_available

__all__ = [
    "FovealError",
    "FovealMemoryError",
    "FovealNotCompiledError",
    "FovealNotImplementedError",
    "FovealTypeError",
    "FovealValueError",
    "__version__",
    "build_info",
    "cuda_available",
    "get_cmake_dir",
    "metrics",
    "nn",
    "ops",
    "restoration",
]


def cuda_available() -> bool:
    """Return True when this build has CUDA kernels and a CUDA device is usable."""
    return bool(_cuda_available())


def build_info() -> dict:
    """Describe this build and what it selected on this machine.

    Returns
    -------
    dict
        ``version``, ``compiler``, ``cxx_standard``, ``threads`` (CPU kernels run on
        foveal's thread pool), ``num_threads`` (threads a CPU kernel uses: ``FOVEAL_NUM_THREADS``,
        else ``OMP_NUM_THREADS``, else the CPUs this process may use), ``openmp`` (the OpenMP
        runtime is used: always False, threads come from the pool), ``omp_max_threads`` (equal
        to ``num_threads``, kept for compatibility),
        ``simd_compiled`` (SIMD paths in the binary), ``simd_supported`` (those this CPU runs),
        ``simd_selected`` (the one in use), ``cuda_compiled``, ``cuda_version``, ``cuda_archs``
        and ``cuda_device_count``.
    """
    return dict(_build_info())


def get_cmake_dir() -> str:
    """Return the folder holding ``fovealConfig.cmake`` inside the installed package.

    Point a C++ build at it with ``-Dfoveal_DIR=$(python -c "import foveal;
    print(foveal.get_cmake_dir())")`` and use ``find_package(foveal)`` and the target
    ``foveal::foveal``.
    """
    path = _os.path.join(_os.path.dirname(_os.path.abspath(__file__)), "lib", "cmake", "foveal")
    if not _os.path.isfile(_os.path.join(path, "fovealConfig.cmake")):
        raise FileNotFoundError(
            f"the foveal C++ SDK is not installed next to this package (looked in {path}); "
            "install foveal with pip (not an in-place build) to get it"
        )
    return path


# Problems in foveal's environment variables (e.g. FOVEAL_SIMD=avx3) are found by the core and
# reported once per process, here, rather than silently ignored.
def _warn_config() -> None:
    for msg in _config_warnings():
        _warnings.warn(f"foveal: {msg}", RuntimeWarning, stacklevel=3)


_warn_config()
