"""Runs the numpydoc examples of a foveal module or package (every submodule of a package)."""
from __future__ import annotations

import doctest
import importlib
import pkgutil


def run(module) -> doctest.TestResults:
    """doctest.testmod over ``module`` and, for a package, each of its submodules."""
    mods = [module]
    if hasattr(module, "__path__"):
        mods += [importlib.import_module(f"{module.__name__}.{m.name}") for m in pkgutil.iter_modules(module.__path__)]
    failed = attempted = 0
    for m in mods:
        r = doctest.testmod(m)
        failed += r.failed
        attempted += r.attempted
    return doctest.TestResults(failed, attempted)
