"""Fork safety and concurrency of the CPU thread pool.

Regression: with the OpenMP runtime (libgomp), once the parent had run a kernel on threads, the
same kernel in a forked child waited forever (multiprocessing with fork, DataLoader workers,
pre-fork servers). The fork scenarios run in a fresh interpreter so that a hang is ended by a
timeout and nothing this pytest process has loaded (torch, jax threads) takes part.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading

import numpy as np
import pytest

import foveal
from foveal.synthetic import clustered_box_pair, clustered_boxes
from reference.box_ref import iou_one_to_many

TESTS_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Shared by the scripts: every op, at sizes that use several threads (box_iou parallelises from
# 2^15 output elements), on inputs that depend on a seed.
_WORK = """
import numpy as np
import foveal
from foveal.synthetic import clustered_box_pair, clustered_boxes

def work(seed):
    a, b = clustered_box_pair(600, seed=seed)
    boxes, scores = clustered_boxes(20000, seed=seed)
    return (
        foveal.ops.box_iou(a, b),
        foveal.ops.box_iou(a.astype(np.float64), b),
        foveal.ops.nms(boxes, scores, 0.5),
        foveal.ops.nms(boxes.astype(np.float64), scores, 0.7),
    )

def same(x, y):
    return len(x) == len(y) and all(np.array_equal(p, q) for p, q in zip(x, y))
"""


def _run_script(tmp_path, body: str, timeout: float = 240.0) -> str:
    # A file, not -c: forkserver children import the main module to find `work`.
    script = tmp_path / "scenario.py"
    script.write_text(_WORK + textwrap.dedent(body))
    env = dict(os.environ)
    env["FOVEAL_NUM_THREADS"] = "4"  # several threads even on a small machine
    try:
        proc = subprocess.run(
            [sys.executable, str(script)],
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=TESTS_DIR,
            env=env,
        )
    except subprocess.TimeoutExpired as exc:  # pragma: no cover - the regression
        pytest.fail(f"the fork scenario hung (killed after {timeout} s): {exc.stdout!r} {exc.stderr!r}")
    assert proc.returncode == 0, (
        f"rc={proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    )
    return proc.stdout


def test_build_uses_threads():
    # The scenarios below prove something only when kernels really run on several threads.
    info = foveal.build_info()
    assert info["threads"] is True
    assert info["openmp"] is False  # libgomp is gone: it is what hung after fork
    assert info["num_threads"] >= 1
    assert info["omp_max_threads"] == info["num_threads"]


@pytest.mark.parametrize("method", ["fork", "forkserver"])
def test_multiprocessing_children_after_parent_used_threads(method, tmp_path):
    import multiprocessing as mp

    if method not in mp.get_all_start_methods():
        pytest.skip(f"start method {method!r} is not available on this platform")
    out = _run_script(
        tmp_path,
        f"""
        import multiprocessing as mp, sys
        if __name__ == "__main__":
            assert foveal.build_info()["omp_max_threads"] > 1  # kernels use several threads
            seeds = [0, 1, 2, 3]
            parent = [work(s) for s in seeds]  # the parent's pool has run all of these
            ctx = mp.get_context({method!r})
            pool = ctx.Pool(2)
            try:
                children = pool.map_async(work, seeds).get(timeout=60)
            except mp.TimeoutError:
                pool.terminate()
                print("HANG: children did not return within 60 s")
                sys.exit(3)
            pool.close()
            pool.join()
            bad = [s for s, p, c in zip(seeds, parent, children) if not same(p, c)]
            assert not bad, f"children disagree with the parent for seeds {{bad}}"
            assert same(work(0), parent[0])  # and the parent's pool still works
            print("OK", len(children))
        """
    )
    assert out.strip().endswith("OK 4")


def test_raw_fork_child_and_grandchild(tmp_path):
    out = _run_script(
        tmp_path,
        """
        import os, signal, sys
        parent = work(5)

        def child(depth):
            signal.alarm(60)  # a hang ends the child (status != 0) instead of the test
            ok = same(work(5), parent)
            if ok and depth < 2:
                pid = os.fork()
                if pid == 0:
                    child(depth + 1)
                _, st = os.waitpid(pid, 0)
                ok = os.waitstatus_to_exitcode(st) == 0
            os._exit(0 if ok else 1)

        pid = os.fork()
        if pid == 0:
            child(1)
        _, st = os.waitpid(pid, 0)
        code = os.waitstatus_to_exitcode(st)
        assert code == 0, f"forked child exited with {code}"
        assert same(work(5), parent)
        print("OK")
        """
    )
    assert out.strip().endswith("OK")


def test_fork_while_another_thread_is_running_kernels(tmp_path):
    # The pool may be mid-job (its locks held) at the moment of fork: the child must still work.
    out = _run_script(
        tmp_path,
        """
        import os, signal, threading
        parent = work(7)
        stop = threading.Event()

        def spin():
            a, b = clustered_box_pair(1500, seed=9)
            while not stop.is_set():
                foveal.ops.box_iou(a, b)

        t = threading.Thread(target=spin)
        t.start()
        codes = []
        for _ in range(10):
            pid = os.fork()
            if pid == 0:
                signal.alarm(60)
                os._exit(0 if same(work(7), parent) else 1)
            codes.append(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
        stop.set()
        t.join()
        assert codes == [0] * 10, codes
        print("OK")
        """
    )
    assert out.strip().endswith("OK")


def test_python_threads_calling_box_iou_at_once():
    # Each thread has its own inputs, so a mix-up between concurrent calls shows as a wrong result.
    seeds = list(range(6))
    inputs = [clustered_box_pair(700, seed=s) for s in seeds]
    expected = [foveal.ops.box_iou(a, b) for a, b in inputs]
    for (a, b), e in zip(inputs, expected):  # the sequential results against the float64 oracle
        for i in (0, 333, 699):
            np.testing.assert_allclose(e[i], iou_one_to_many(a[i], b), rtol=1e-6, atol=1e-7)

    errors: list[str] = []
    barrier = threading.Barrier(len(seeds))

    def run(k):
        a, b = inputs[k]
        barrier.wait()
        for _ in range(15):
            got = foveal.ops.box_iou(a, b)
            if not np.array_equal(got, expected[k]):
                errors.append(f"thread {k}: wrong result")
                return

    threads = [threading.Thread(target=run, args=(k,)) for k in range(len(seeds))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a thread did not finish (deadlock?)"
    assert not errors, errors


def test_python_threads_calling_nms_at_once():
    seeds = list(range(4))
    inputs = [clustered_boxes(20000, seed=s) for s in seeds]
    expected = [foveal.ops.nms(b, s, 0.5) for b, s in inputs]
    errors: list[str] = []

    def run(k):
        for _ in range(5):
            if not np.array_equal(foveal.ops.nms(*inputs[k], 0.5), expected[k]):
                errors.append(f"thread {k}: wrong keep")
                return

    threads = [threading.Thread(target=run, args=(k,)) for k in seeds]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads)
    assert not errors, errors
