"""foveal.build_info(), cuda_available(), get_cmake_dir() and the SIMD hooks."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

import foveal
import foveal._core

EXPECTED_KEYS = {
    "version",
    "compiler",
    "cxx_standard",
    "threads",
    "num_threads",
    "openmp",
    "omp_max_threads",
    "simd_compiled",
    "simd_selected",
    "cuda_compiled",
    "cuda_version",
    "cuda_archs",
    "cuda_device_count",
}


def test_version_is_str():
    assert isinstance(foveal.__version__, str) and foveal.__version__
    assert foveal.build_info()["version"] == foveal.__version__


def test_cuda_available_is_bool():
    assert type(foveal.cuda_available()) is bool


def test_build_info_keys_and_types():
    info = foveal.build_info()
    assert isinstance(info, dict)
    assert EXPECTED_KEYS <= set(info), EXPECTED_KEYS - set(info)
    assert isinstance(info["version"], str)
    assert isinstance(info["compiler"], str) and info["compiler"]
    assert isinstance(info["cxx_standard"], (int, str))
    assert type(info["threads"]) is bool
    assert type(info["num_threads"]) is int and info["num_threads"] >= 1
    assert type(info["openmp"]) is bool
    assert type(info["omp_max_threads"]) is int and info["omp_max_threads"] == info["num_threads"]
    assert isinstance(info["simd_compiled"], list) and info["simd_compiled"]
    assert all(isinstance(x, str) for x in info["simd_compiled"])
    assert "baseline" in info["simd_compiled"]
    assert isinstance(info["simd_selected"], str)
    assert info["simd_selected"] in info["simd_compiled"]
    assert type(info["cuda_compiled"]) is bool
    assert type(info["cuda_device_count"]) is int and info["cuda_device_count"] >= 0


def test_cuda_fields_consistent():
    info = foveal.build_info()
    if info["cuda_compiled"]:
        assert isinstance(info["cuda_version"], str) and info["cuda_version"]
        assert isinstance(info["cuda_archs"], str) and info["cuda_archs"]
    else:
        assert info["cuda_version"] is None
        assert info["cuda_archs"] is None
        assert info["cuda_device_count"] == 0
        assert foveal.cuda_available() is False
    assert foveal.cuda_available() == (info["cuda_compiled"] and info["cuda_device_count"] > 0)


def test_simd_levels_are_compiled_and_include_baseline():
    levels = foveal._core.simd_levels()
    assert isinstance(levels, list) and levels
    assert "baseline" in levels
    assert set(levels) <= set(foveal.build_info()["simd_compiled"])
    assert foveal.build_info()["simd_selected"] in levels


def test_set_simd_level_round_trip():
    levels = foveal._core.simd_levels()
    start = foveal.build_info()["simd_selected"]
    previous = start
    try:
        for level in levels + [start]:
            got = foveal._core.set_simd_level(level)
            assert got == previous
            assert foveal.build_info()["simd_selected"] == level
            previous = level
    finally:
        foveal._core.set_simd_level(start)
    assert foveal.build_info()["simd_selected"] == start


@pytest.mark.parametrize("name", ["bogus", "", "AVX2 ", "sse9"])
def test_set_simd_level_unknown_name(name):
    before = foveal.build_info()["simd_selected"]
    with pytest.raises(ValueError):
        foveal._core.set_simd_level(name)
    assert foveal.build_info()["simd_selected"] == before


def test_set_simd_level_compiled_but_unsupported():
    unsupported = set(foveal.build_info()["simd_compiled"]) - set(foveal._core.simd_levels())
    if not unsupported:
        pytest.skip("every compiled SIMD level is supported by this CPU")
    before = foveal.build_info()["simd_selected"]
    for name in sorted(unsupported):
        with pytest.raises(ValueError):
            foveal._core.set_simd_level(name)
    assert foveal.build_info()["simd_selected"] == before


def test_get_cmake_dir():
    d = foveal.get_cmake_dir()
    assert isinstance(d, str)
    assert os.path.isdir(d)
    assert os.path.isfile(os.path.join(d, "fovealConfig.cmake"))
    pkg = os.path.dirname(os.path.abspath(foveal.__file__))
    assert os.path.commonpath([pkg, os.path.abspath(d)]) == pkg  # inside the package


def _run(code: str, **env: str) -> subprocess.CompletedProcess:
    ours = ("FOVEAL_SIMD", "FOVEAL_NUM_THREADS", "OMP_NUM_THREADS")
    full = {k: v for k, v in os.environ.items() if k not in ours}
    full.update(env)
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=full, timeout=120
    )


_IMPORT_UNDER_PYTEST_WARNS = """
import json, warnings, pytest
with pytest.warns(RuntimeWarning) as rec:
    import foveal
msgs = [str(w.message) for w in rec]
print(json.dumps(msgs))
print(foveal.build_info()["simd_selected"], foveal.build_info()["num_threads"])
"""


def test_unknown_foveal_simd_warns_once_at_import_naming_the_levels():
    proc = _run(_IMPORT_UNDER_PYTEST_WARNS, FOVEAL_SIMD="avx3")
    assert proc.returncode == 0, proc.stderr
    msgs_line, state = proc.stdout.strip().splitlines()[-2:]
    msgs = json.loads(msgs_line)
    assert len(msgs) == 1, msgs
    assert "FOVEAL_SIMD='avx3'" in msgs[0]
    assert "'baseline', 'avx2' or 'avx512'" in msgs[0]
    # The unknown value is ignored: the best level stays selected.
    assert state.split()[0] == foveal._core.simd_levels()[-1]


def test_bad_thread_count_warns_and_falls_back():
    proc = _run(_IMPORT_UNDER_PYTEST_WARNS, FOVEAL_NUM_THREADS="many", OMP_NUM_THREADS="3")
    assert proc.returncode == 0, proc.stderr
    msgs_line, state = proc.stdout.strip().splitlines()[-2:]
    msgs = json.loads(msgs_line)
    assert len(msgs) == 1 and "FOVEAL_NUM_THREADS='many'" in msgs[0], msgs
    assert state.split()[1] == "3"  # OMP_NUM_THREADS is the fallback


@pytest.mark.parametrize(
    "env, threads",
    [({"FOVEAL_NUM_THREADS": "3"}, "3"), ({"FOVEAL_NUM_THREADS": "2", "OMP_NUM_THREADS": "5"}, "2"),
     ({"OMP_NUM_THREADS": "4,2"}, "4")],
)
def test_thread_count_from_environment(env, threads):
    code = (
        "import warnings; warnings.simplefilter('error'); import foveal; "
        "print(foveal.build_info()['num_threads'])"
    )
    proc = _run(code, **env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == threads


def test_valid_settings_do_not_warn():
    code = (
        "import warnings; warnings.simplefilter('error'); import foveal; "
        "print(foveal._core.config_warnings())"
    )
    proc = _run(code, FOVEAL_SIMD="baseline", FOVEAL_NUM_THREADS="2")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"
