"""Generic machinery of the foveal benchmark suite.

A workload is a *declaration* in its own ``bench/bench_<area>.py``; this file knows no op.

    from _harness import Impl, Workload, allclose, cases, run_case

    def _inputs():                       # deterministic numpy inputs (BENCHMARKS.md)
        rng = np.random.default_rng(0)
        return (rng.standard_normal((8, 64, 112, 112), dtype=np.float32),)

    WORKLOADS = [
        Workload(
            name="maxpool_resnet",
            definition="x (8,64,112,112) N(0,1) float32, kernel 3, stride 2, pad 1",
            inputs=_inputs,
            impls=[
                Impl("foveal", lambda x: fnn.max_pool2d(x, 3, 2, 1)),              # numpy on the CPU,
                                                                                   # torch on CUDA
                Impl("torch", lambda x: F.max_pool2d(x, 3, 2, 1), lib="torch", devices=("cpu", "cuda")),
            ],
            reference="torch",           # foveal's answer must match this one before it is timed
            check=allclose(rtol=1e-6, atol=0),
            items=8 * 64 * 56 * 56, unit="outputs/s",
        ),
    ]

    @pytest.mark.parametrize(("workload", "impl", "device"), cases(WORKLOADS))
    def bench_nn(benchmark, workload, impl, device):
        run_case(benchmark, workload, impl, device)

The harness converts the numpy inputs to each implementation's library and device outside the
timed region, synchronises CUDA around each timed call, checks foveal against the reference
(never times a fast wrong answer), records agreement of the other anchors, and writes the
machine, versions and thread counts into the JSON (conftest.py).
"""

from __future__ import annotations

import functools
import importlib
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pytest

# -- optional libraries --------------------------------------------------------


def _try_import(name):
    try:
        return importlib.import_module(name), None
    except Exception as exc:  # ImportError, or a broken extension
        return None, f"{type(exc).__name__}: {exc}"


def _import_synthetic():
    """``foveal.synthetic``, from the installed package or from the source tree."""
    mod, err = _try_import("foveal.synthetic")
    if mod is not None:
        return mod
    # Fallback: the pure-Python file of the checkout, so anchors can be timed without foveal.
    import importlib.util

    path = Path(__file__).resolve().parent.parent / "python" / "foveal" / "synthetic.py"
    spec = importlib.util.spec_from_file_location("_foveal_synthetic_src", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


synthetic = _import_synthetic()
foveal, FOVEAL_ERROR = _try_import("foveal")
torch, TORCH_ERROR = _try_import("torch")
torchvision, TORCHVISION_ERROR = _try_import("torchvision")
if torchvision is not None:
    _, TORCHVISION_ERROR = _try_import("torchvision.ops")
    if TORCHVISION_ERROR:
        torchvision = None
if torch is not None:
    # fp32 anchors are fp32 (issue 7: "fp32 without TF32"); torch turns TF32 on for cuDNN by default.
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
cv2, CV2_ERROR = _try_import("cv2")
skimage, SKIMAGE_ERROR = _try_import("skimage")
# GPU anchors (BENCHMARKS.md's H100 column): cuCIM on cupy arrays, kornia on torch tensors.
cupy, CUPY_ERROR = _try_import("cupy")
cucim, CUCIM_ERROR = _try_import("cucim.skimage.restoration")
kornia, KORNIA_ERROR = _try_import("kornia")

#: Which module each implementation name needs (and whose version is recorded).
NEEDS = {
    "foveal": ("foveal",),
    "torch": ("torch",),
    "torchvision": ("torch", "torchvision"),
    "opencv": ("cv2",),
    "skimage": ("skimage",),
    "cucim": ("cupy", "cucim"),
    "kornia": ("torch", "kornia"),
}
_MODULES = {
    "foveal": (foveal, FOVEAL_ERROR),
    "torch": (torch, TORCH_ERROR),
    "torchvision": (torchvision, TORCHVISION_ERROR),
    "cv2": (cv2, CV2_ERROR),
    "skimage": (skimage, SKIMAGE_ERROR),
    "cupy": (cupy, CUPY_ERROR),
    "cucim": (cucim, CUCIM_ERROR),
    "kornia": (kornia, KORNIA_ERROR),
}


# -- declarations --------------------------------------------------------------


@dataclass(frozen=True)
class Impl:
    """One implementation of a workload.

    ``fn(*inputs)`` runs it once on inputs already converted to ``lib`` on the device. ``lib`` is
    'numpy' (CPU only), 'torch' (CPU or CUDA), 'cupy' (CUDA only) or 'auto' (numpy on the CPU, torch on CUDA: how
    foveal is called). ``prepare(*numpy_inputs)``, when given, turns the workload's numpy inputs
    into this implementation's own (e.g. OpenCV's (x, y, w, h) boxes), before the conversion.
    """

    name: str
    fn: Callable
    lib: str = "auto"
    devices: tuple = ("cpu", "cuda")
    prepare: Callable | None = None
    needs: tuple | None = None  # module names; default NEEDS[name]

    def id(self, device):
        return f"{self.name}-{device}"

    def status(self, device):
        """``(available, reason)`` on ``device``."""
        for mod in self.needs or NEEDS.get(self.name, ()):
            m, err = _MODULES.get(mod, (None, f"unknown module {mod}"))
            if m is None:
                return False, f"{mod} not importable ({err})"
        if device == "cuda":
            return foveal_cuda_status() if self.name == "foveal" else cuda_status()
        return True, ""


@dataclass(frozen=True)
class Workload:
    """One row of BENCHMARKS.md: inputs, implementations, the reference and the check."""

    name: str
    definition: str
    inputs: Callable[[], tuple]  # deterministic numpy inputs; called once per session
    impls: tuple | list
    reference: str | None = None  # name of the impl foveal must agree with
    check: Callable | None = None  # check(got, want, workload) -> note; fails the case itself
    items: int = 1  # work items per call, for the throughput
    unit: str = "items/s"
    extra: dict = field(default_factory=dict)  # recorded parameters

    @property
    def anchors(self):
        return tuple(i.name for i in self.impls if i.name != "foveal")


_REGISTRY: dict[str, Workload] = {}


def cases(workloads):
    """``pytest.param(workload_name, impl, device)`` for every declared implementation and device."""
    out = []
    for w in workloads:
        _REGISTRY[w.name] = w
        for impl in w.impls:
            for dev in impl.devices:
                out.append(pytest.param(w.name, impl, dev, id=f"{w.name}-{impl.id(dev)}"))
    return out


def registered():
    """Every workload declared so far (the JSON records their definitions)."""
    return dict(_REGISTRY)


# -- checks ----------------------------------------------------------------------


def to_numpy(x):
    if isinstance(x, (tuple, list)):
        return type(x)(to_numpy(v) for v in x)
    if torch is not None and isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    if cupy is not None and isinstance(x, cupy.ndarray):
        return cupy.asnumpy(x)
    return np.asarray(x)


def allclose(rtol=1e-5, atol=1e-6):
    """Same shape and dtype, values within ``rtol`` / ``atol`` (NaN equal to NaN)."""

    def check(got, want, workload):
        got, want = np.asarray(got), np.asarray(want)
        if got.shape != want.shape:
            return False, f"shape {got.shape}, reference {want.shape}"
        if got.dtype != want.dtype:
            return False, f"dtype {got.dtype}, reference {want.dtype}"
        if not np.allclose(got, want, rtol=rtol, atol=atol, equal_nan=True):
            err = np.abs(got.astype(np.float64) - want.astype(np.float64))
            i = np.unravel_index(int(np.nanargmax(err)), err.shape)
            return False, f"max |diff| {err[i]!r} at {i} ({got[i]!r} vs {want[i]!r})"
        diff = float(np.nanmax(np.abs(got.astype(np.float64) - want))) if got.size else 0.0
        return True, f"allclose (rtol {rtol}, atol {atol}; max |diff| {diff:.3g})"

    return check


def exact():
    """Identical arrays (e.g. NMS keep lists, in order)."""

    def check(got, want, workload):
        got, want = np.asarray(got).reshape(-1), np.asarray(want).reshape(-1)
        if got.shape == want.shape and np.array_equal(got.astype(np.int64), want.astype(np.int64)):
            return True, f"identical ({want.size} elements)"
        m = min(got.size, want.size)
        diff = np.nonzero(got[:m] != want[:m])[0]
        pos = int(diff[0]) if diff.size else m
        return False, f"{got.size} vs {want.size} elements, first difference at position {pos}"

    return check


@functools.lru_cache(maxsize=None)
def inputs_of(name):
    return tuple(_REGISTRY[name].inputs())


def _convert(impl, arrays, device):
    if impl.prepare is not None:
        arrays = impl.prepare(*arrays)
    lib = impl.lib
    if lib == "auto":
        lib = "torch" if device == "cuda" else "numpy"
    if lib == "numpy":
        return tuple(arrays)
    if lib == "torch":
        return tuple(
            torch.from_numpy(np.ascontiguousarray(a)).to(device) if isinstance(a, np.ndarray) else a for a in arrays
        )
    if lib == "cupy":
        return tuple(cupy.asarray(np.ascontiguousarray(a)) if isinstance(a, np.ndarray) else a for a in arrays)
    raise AssertionError(f"unknown lib {lib!r}")


def make_fn(workload, impl, device):
    """``fn()`` running the implementation once (inputs converted outside the timed region);
    on CUDA it synchronises before and after, so one timed call is one complete op."""
    args = _convert(impl, inputs_of(workload.name), device)
    op = functools.partial(impl.fn, *args)
    if device != "cuda":
        return op

    def fn():
        torch.cuda.synchronize()
        out = op()
        torch.cuda.synchronize()
        return out

    return fn


@functools.lru_cache(maxsize=None)
def reference_result(name, device):
    """The reference implementation's answer on ``device``, as numpy: ``(result, why_missing)``."""
    w = _REGISTRY[name]
    ref = next((i for i in w.impls if i.name == w.reference), None)
    if ref is None:
        return None, "no reference declared"
    dev = device if device in ref.devices else "cpu"
    ok, why = ref.status(dev)
    if not ok:
        return None, why
    return to_numpy(make_fn(w, ref, dev)()), ""


def _check(w, impl, device, result):
    if w.check is None or w.reference is None:
        return "unchecked (no check declared)"
    if impl.name == w.reference:
        return "reference"
    want, why = reference_result(w.name, device)
    if want is None:
        if impl.name == "foveal":
            pytest.skip(f"cannot verify {impl.id(device)} on {w.name}: no reference ({why})")
        return f"unchecked ({why})"
    ok, note = w.check(to_numpy(result), want, w)
    if not ok and impl.name == "foveal":
        pytest.fail(f"{impl.id(device)} disagrees with {w.reference} on {w.name}; not timing it: {note}")
    return f"{'agrees' if ok else 'DIFFERS'} with {w.reference}: {note}"


# -- devices, threads, versions ------------------------------------------------


def cuda_status():
    """``(available, reason)`` for the CUDA side of the suite."""
    if torch is None:
        return False, f"torch not importable ({TORCH_ERROR})"
    if not torch.cuda.is_available():
        return False, "torch.cuda.is_available() is False"
    return True, ""


def foveal_cuda_status():
    if foveal is None:
        return False, f"foveal not importable ({FOVEAL_ERROR})"
    ok, why = cuda_status()
    if not ok:
        return ok, why
    if not foveal.cuda_available():
        return False, "foveal.cuda_available() is False"
    return True, ""


def thread_info():
    info = {"cpu_count": os.cpu_count()}
    try:
        info["affinity"] = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        pass
    if torch is not None:
        info["torch_num_threads"] = torch.get_num_threads()
        info["torch_num_interop_threads"] = torch.get_num_interop_threads()
    if foveal is not None:
        try:
            b = foveal.build_info()
            info["foveal_threads"] = b.get("num_threads", b.get("omp_max_threads"))
        except Exception as exc:  # pragma: no cover - diagnostic only
            info["foveal_threads"] = f"error: {exc}"
    if cv2 is not None:
        info["cv2_num_threads"] = cv2.getNumThreads()
    for var in ("OMP_NUM_THREADS", "FOVEAL_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        if var in os.environ:
            info[var] = os.environ[var]
    return info


_THREAD_KEY = {"foveal": "foveal_threads", "torch": "torch_num_threads", "torchvision": "torch_num_threads",
               "opencv": "cv2_num_threads"}


def versions():
    out = {"python": sys.version.split()[0], "numpy": np.__version__}
    for name, (mod, err) in _MODULES.items():
        out[name] = getattr(mod, "__version__", "unknown") if mod is not None else f"unavailable ({err})"
    if torch is not None:
        out["torch_cuda"] = torch.version.cuda
    try:
        import pytest_benchmark

        out["pytest_benchmark"] = pytest_benchmark.__version__
    except Exception:
        pass
    return out


def foveal_build_info():
    if foveal is None:
        return None
    try:
        return foveal.build_info()
    except Exception as exc:  # pragma: no cover - diagnostic only
        return {"error": f"{type(exc).__name__}: {exc}"}


def gpu_info():
    ok, why = cuda_status()
    if not ok:
        return {"available": False, "reason": why}
    props = torch.cuda.get_device_properties(0)
    return {
        "available": True,
        "name": props.name,
        "count": torch.cuda.device_count(),
        "capability": f"{props.major}.{props.minor}",
        "multiprocessors": props.multi_processor_count,
        "memory_gib": round(props.total_memory / 2**30, 1),
        "foveal_cuda_available": bool(foveal is not None and foveal.cuda_available()),
    }


# -- the one benchmark body ----------------------------------------------------


def run_case(benchmark, workload, impl, device):
    """Check (foveal against the reference), then time ``impl`` on ``workload`` and ``device``."""
    w = _REGISTRY[workload]
    ok, why = impl.status(device)
    if not ok:
        pytest.skip(f"{impl.id(device)} unavailable: {why}")
    fn = make_fn(w, impl, device)
    first = fn()  # also a first warm-up call
    note = _check(w, impl, device, first)
    del first

    threads = thread_info()
    benchmark.group = workload
    benchmark.extra_info.update(
        {
            "workload": workload,
            "implementation": impl.name,
            "device": device,
            "items_per_call": w.items,
            "throughput_unit": w.unit,
            "check": note,
            "threads": threads.get(_THREAD_KEY.get(impl.name, ""), None) if device == "cpu" else None,
            **w.extra,
        }
    )
    benchmark(fn)
    stats = getattr(benchmark, "stats", None)
    if stats is not None:
        s = stats.stats
        benchmark.extra_info["median_ms"] = s.median * 1e3
        benchmark.extra_info["min_ms"] = s.min * 1e3
        benchmark.extra_info["throughput"] = w.items / s.median if s.median > 0 else None
