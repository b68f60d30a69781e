"""pytest-benchmark hooks: put the machine, the versions and the command in the JSON."""

from __future__ import annotations

import datetime
import os
import platform
import shlex
import subprocess
import sys
from pathlib import Path

import _harness as h

_REPO = Path(__file__).resolve().parent.parent


def _command(config):
    """The command line as typed, as near as it can be reconstructed."""
    args = list(config.invocation_params.args)
    argv0 = sys.argv[0] if sys.argv else ""
    if argv0.endswith(os.path.join("pytest", "__main__.py")) or argv0 == "-m":
        head = [Path(sys.executable).name, "-m", "pytest"]
    else:
        head = [Path(argv0).name or "pytest"]
    return shlex.join(head + [str(a) for a in args])


def _git(*args):
    try:
        out = subprocess.run(
            ["git", *args], cwd=_REPO, capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def _cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def pytest_benchmark_update_machine_info(config, machine_info):
    machine_info["cpu_model"] = _cpu_model()
    machine_info["threads"] = h.thread_info()
    machine_info["gpu"] = h.gpu_info()
    machine_info["versions"] = h.versions()
    machine_info["foveal_build_info"] = h.foveal_build_info()


def pytest_benchmark_update_json(config, benchmarks, output_json):
    output_json["command"] = _command(config)
    output_json["argv"] = list(sys.argv)
    output_json["cwd"] = os.getcwd()
    output_json["foveal_bench"] = {
        "schema": 1,
        "written": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "git_commit": _git("rev-parse", "HEAD"),
        "git_dirty": bool(_git("status", "--porcelain", "--untracked-files=no")),
        "workloads": {name: w.definition for name, w in h.registered().items()},
        "anchors": {name: list(w.anchors) for name, w in h.registered().items()},
        "parameters": {name: w.extra for name, w in h.registered().items() if w.extra},
        "environment": {
            k: v
            for k, v in os.environ.items()
            if k.startswith(("OMP_", "FOVEAL_", "CUDA_VISIBLE", "MKL_", "KMP_"))
        },
    }
