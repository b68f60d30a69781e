# SPDX-License-Identifier: Apache-2.0
"""The ``foveal`` command: --version, argument errors before any work, info --json."""
import json
import subprocess
import sys

import pytest

import foveal
from foveal import cli


def run(*args, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "foveal.cli", *args], capture_output=True, text=True, timeout=120, cwd=cwd
    )


def test_version():
    r = run("--version")
    assert r.returncode == 0
    assert r.stdout.strip() == f"foveal {foveal.__version__}"


@pytest.mark.parametrize("seed", ["-1", "abc", str(2**63)])
def test_bad_seed_is_a_usage_error_not_a_traceback(seed):
    r = run("demo", "--seed", seed, "--quiet")
    assert r.returncode == 2
    assert "argument --seed" in r.stderr and "Traceback" not in r.stderr


def test_a_scene_past_the_memory_is_a_message_not_a_traceback(tmp_path):
    # 10**13 boxes: no machine can allocate the scene (petabytes): numpy refuses at once
    r = run("demo", "--n", str(10**13), "--quiet", cwd=tmp_path)
    assert r.returncode == 1
    assert "foveal demo: out of memory" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.parametrize(
    "out, why",
    [
        ("missing_folder/x.png", "does not exist"),
        ("x.txt", "extension must be one of"),
        ("", "expected an image file name"),
        (".", "expected an image file name"),
        ("sub/", "expected an image file name"),
    ],
)
def test_bad_out_fails_before_the_work(tmp_path, out, why):
    (tmp_path / "sub").mkdir()
    # n = 10**7 would take many seconds: a fast exit proves the check comes first
    r = run("demo", "--n", "10000000", "--out", out, "--quiet", cwd=tmp_path)
    assert r.returncode == 2, r.stderr
    assert "argument --out" in r.stderr and why in r.stderr
    assert "Traceback" not in r.stderr
    assert list(tmp_path.iterdir()) == [tmp_path / "sub"]


def test_info_json_carries_every_field_info_prints():
    text = run("info")
    js = run("info", "--json")
    assert text.returncode == 0 and js.returncode == 0
    data = json.loads(js.stdout)
    shown = [line.split()[0] for line in text.stdout.splitlines()[1:] if line.strip()]
    assert shown, text.stdout
    assert set(shown) == set(data), set(shown) ^ set(data)
    for key in ("cuda_available", "package", "cmake_dir", "numpy", "python", "version", "simd_selected"):
        assert key in data


def test_demo_writes_the_figure(tmp_path):
    out = tmp_path / "demo.png"
    assert cli.main(["demo", "--n", "300", "--seed", "3", "--out", str(out), "--quiet"]) == 0
    assert out.stat().st_size > 10_000
