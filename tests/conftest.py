"""Shared pytest configuration for the foveal test-suite.

* puts ``tests/`` on ``sys.path`` so that ``from reference.box_ref import ...``
  works from every test directory;
* registers the markers used by the suite (``--strict-markers``);
* ``needs_cuda``: tests marked with it are skipped, with the reason, when
  ``foveal.cuda_available()`` is False;
* ``simd_level`` fixture: a test that requests it runs once per SIMD level in
  ``foveal._core.simd_levels()``, with that level selected; the previous level
  is restored afterwards;
* hypothesis profiles: ``foveal-ci`` (fast, deterministic; the default) and
  ``foveal-dev`` (500 random examples per test); pick one with
  ``FOVEAL_HYPOTHESIS_PROFILE=foveal-dev`` (or pytest's ``--hypothesis-profile``).
"""

from __future__ import annotations

import os
import sys

import pytest

TESTS_DIR = os.path.dirname(os.path.abspath(__file__))
if TESTS_DIR not in sys.path:
    sys.path.insert(0, TESTS_DIR)

try:  # hypothesis is a test dependency; only profiles are configured here
    from hypothesis import settings as _hyp_settings

    _hyp_settings.register_profile(
        "foveal-ci", max_examples=60, deadline=None, database=None, derandomize=True
    )
    _hyp_settings.register_profile("foveal-dev", max_examples=500, deadline=None)
    _hyp_settings.load_profile(os.environ.get("FOVEAL_HYPOTHESIS_PROFILE", "foveal-ci"))
except ImportError:  # pragma: no cover - the property tests then fail to import
    pass


NO_CUDA_REASON = (
    "foveal.cuda_available() is False (foveal built without CUDA, or no CUDA device)"
)


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "needs_cuda: needs a CUDA build of foveal and a visible CUDA device; "
        "skipped when foveal.cuda_available() is False",
    )
    config.addinivalue_line(
        "markers", "simd: runs once per SIMD level in foveal._core.simd_levels()"
    )


def _cuda_available() -> bool:
    import foveal

    return bool(foveal.cuda_available())


def pytest_collection_modifyitems(config, items):
    for it in items:
        if "simd_level" in getattr(it, "fixturenames", ()):
            it.add_marker(pytest.mark.simd)
    cuda_items = [it for it in items if it.get_closest_marker("needs_cuda")]
    if not cuda_items:
        return
    if _cuda_available():
        return
    skip = pytest.mark.skip(reason=NO_CUDA_REASON)
    for it in cuda_items:
        it.add_marker(skip)


def _simd_levels():
    import foveal._core

    levels = list(foveal._core.simd_levels())
    assert levels, "foveal._core.simd_levels() returned no level"
    return levels


def pytest_generate_tests(metafunc):
    if "simd_level" in metafunc.fixturenames:
        metafunc.parametrize("simd_level", _simd_levels(), indirect=True)


@pytest.fixture
def simd_level(request):
    """Select one SIMD level for the duration of the test, then restore."""
    import foveal._core

    level = request.param
    previous = foveal._core.set_simd_level(level)
    try:
        yield level
    finally:
        foveal._core.set_simd_level(previous)


@pytest.fixture
def needs_cuda():
    """Fixture form of the ``needs_cuda`` marker (for parametrized helpers)."""
    if not _cuda_available():
        pytest.skip(NO_CUDA_REASON)
