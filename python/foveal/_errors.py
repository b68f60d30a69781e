# SPDX-License-Identifier: Apache-2.0
"""foveal's exception classes.

torchvision and torch raise ``RuntimeError`` for bad shapes, dtypes and devices; Python code
expects ``ValueError`` / ``TypeError``. foveal's errors are both, so that ``except RuntimeError``
written for torchvision and ``except ValueError`` written for numpy each catch them.

The native core's translator (``python/src/module.cpp``) raises these same classes. This module
imports nothing from foveal, so the extension can import it while the package initialises.
"""
from __future__ import annotations

__all__ = [
    "FovealError",
    "FovealValueError",
    "FovealTypeError",
    "FovealMemoryError",
    "FovealNotCompiledError",
    "FovealNotImplementedError",
]


class FovealError(RuntimeError):
    """Base of every error foveal raises itself (device errors are raised as this class)."""


class FovealValueError(FovealError, ValueError):
    """A bad argument value or shape: a ``ValueError`` and a ``RuntimeError``."""


class FovealTypeError(FovealError, TypeError):
    """A bad argument type or dtype: a ``TypeError`` and a ``RuntimeError``."""


class FovealMemoryError(FovealError, MemoryError):
    """An allocation failed: a ``MemoryError`` and a ``RuntimeError`` (as torch's OOM is)."""


class FovealNotCompiledError(FovealError, NotImplementedError):
    """The backend an argument needs (CUDA) is not compiled into this build."""


class FovealNotImplementedError(FovealValueError, NotImplementedError):
    """An input the reference library supports but foveal does not (yet): a ``ValueError`` (as
    foveal raised before) and a ``NotImplementedError`` (as scikit-image raises for dimensions it
    does not support)."""
