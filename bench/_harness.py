"""Shared machinery of the foveal benchmark suite.

Workloads follow ``shared/BENCHMARKS.md`` exactly (shapes, seeds, parameters);
inputs come from :mod:`foveal.synthetic`, the single definition of the box
generator. Each workload is timed side by side for every implementation that
is available on this machine, and foveal's answer is checked against the
anchor's before it is timed, so that a fast wrong answer is never recorded.
"""

from __future__ import annotations

import functools
import importlib
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

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
    # Fallback: load the pure-Python file from the checkout, so that the anchors
    # can be timed even where foveal is not built.
    import importlib.util

    path = Path(__file__).resolve().parent.parent / "python" / "foveal" / "synthetic.py"
    spec = importlib.util.spec_from_file_location("_foveal_synthetic_src", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


synthetic = _import_synthetic()
foveal, FOVEAL_ERROR = _try_import("foveal")
if foveal is not None:
    fops, FOVEAL_ERROR = _try_import("foveal.ops")
    if fops is None:
        foveal = None
else:
    fops = None
torch, TORCH_ERROR = _try_import("torch")
torchvision, TORCHVISION_ERROR = _try_import("torchvision")
if torchvision is not None:
    tv_ops, TORCHVISION_ERROR = _try_import("torchvision.ops")
    if tv_ops is None:
        torchvision = None
else:
    tv_ops = None
cv2, CV2_ERROR = _try_import("cv2")

IOU_THRESHOLD = 0.5
SEED = 0


# -- workloads -----------------------------------------------------------------


@dataclass(frozen=True)
class Workload:
    """One row of BENCHMARKS.md."""

    name: str
    op: str  # "nms" or "box_iou"
    n: int  # boxes (nms) or boxes per set (box_iou)
    definition: str
    anchors: tuple = field(default=())

    @property
    def items(self):
        """Work items per call, for the throughput."""
        return self.n if self.op == "nms" else self.n * self.n

    @property
    def throughput_unit(self):
        return "boxes/s" if self.op == "nms" else "IoU pairs/s"


_NMS_DEF = (
    "{n} boxes from the clustered generator (foveal.synthetic.clustered_boxes, seed 0), "
    "scores uniform(0,1) float32, IoU threshold 0.5"
)
WORKLOADS = {
    w.name: w
    for w in [
        Workload("nms_1k", "nms", 1_000, _NMS_DEF.format(n=1000), ("torchvision", "opencv")),
        Workload("nms_10k", "nms", 10_000, _NMS_DEF.format(n=10000), ("torchvision", "opencv")),
        Workload("nms_100k", "nms", 100_000, _NMS_DEF.format(n=100000), ("torchvision", "opencv")),
        Workload(
            "box_iou_4k",
            "box_iou",
            4096,
            "two sets of 4096 boxes from the generator (foveal.synthetic.clustered_box_pair, "
            "seed 0, drawn one after the other), 4096x4096 float32 output",
            ("torchvision",),
        ),
    ]
}
NMS_WORKLOADS = [w for w in WORKLOADS if WORKLOADS[w].op == "nms"]
IOU_WORKLOADS = [w for w in WORKLOADS if WORKLOADS[w].op == "box_iou"]


@functools.lru_cache(maxsize=None)
def host_inputs(name):
    """Deterministic numpy inputs of a workload (float32, C-contiguous)."""
    w = WORKLOADS[name]
    if w.op == "nms":
        return synthetic.clustered_boxes(w.n, seed=SEED)
    return synthetic.clustered_box_pair(w.n, seed=SEED)


# -- devices -------------------------------------------------------------------


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


def synchronize(device):
    if device == "cuda":
        torch.cuda.synchronize()


def to_numpy(x):
    if torch is not None and isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    return np.asarray(x)


# -- implementations ------------------------------------------------------------


@dataclass(frozen=True)
class Impl:
    """An implementation of the benchmarked ops on one device."""

    name: str  # "foveal", "torchvision", "opencv"
    device: str  # "cpu", "cuda"
    ops: tuple  # which ops it implements

    @property
    def id(self):
        return f"{self.name}-{self.device}"

    def status(self):
        """``(available, reason)``."""
        if self.name == "foveal":
            if self.device == "cuda":
                return foveal_cuda_status()
            return (foveal is not None), f"foveal not importable ({FOVEAL_ERROR})"
        if self.name == "torchvision":
            if torchvision is None or torch is None:
                return False, f"torchvision not importable ({TORCHVISION_ERROR or TORCH_ERROR})"
            if self.device == "cuda":
                return cuda_status()
            return True, ""
        if self.name == "opencv":
            return (cv2 is not None), f"cv2 not importable ({CV2_ERROR})"
        raise AssertionError(self.name)

    def prepare(self, workload):
        """Convert the inputs (outside any timed region) and return ``fn()``.

        ``fn`` runs the op once; on CUDA it synchronises before and after, so
        that a timed call is exactly one complete op.
        """
        w = WORKLOADS[workload]
        inputs = host_inputs(workload)
        dev = self.device
        if self.name in ("foveal", "torchvision") and (dev == "cuda" or self.name == "torchvision"):
            args = [torch.from_numpy(np.ascontiguousarray(a)).to(dev) for a in inputs]
        else:
            args = list(inputs)

        if w.op == "nms":
            boxes, scores = args
            if self.name == "foveal":
                op = functools.partial(fops.nms, boxes, scores, IOU_THRESHOLD)
            elif self.name == "torchvision":
                op = functools.partial(tv_ops.nms, boxes, scores, IOU_THRESHOLD)
            else:  # opencv: (x, y, w, h) boxes; score_threshold must be >= 0
                b64 = boxes.astype(np.float64)
                xywh = np.ascontiguousarray(np.concatenate([b64[:, :2], b64[:, 2:] - b64[:, :2]], axis=1))
                op = functools.partial(cv2.dnn.NMSBoxes, xywh, np.ascontiguousarray(scores), 0.0, IOU_THRESHOLD)
        else:
            b1, b2 = args
            if self.name == "foveal":
                op = functools.partial(fops.box_iou, b1, b2)
            elif self.name == "torchvision":
                op = functools.partial(tv_ops.box_iou, b1, b2)
            else:
                raise AssertionError("opencv has no box_iou")

        if dev == "cuda":

            def fn():
                torch.cuda.synchronize()
                out = op()
                torch.cuda.synchronize()
                return out

            return fn
        return op


IMPLEMENTATIONS = [
    Impl("foveal", "cpu", ("nms", "box_iou")),
    Impl("torchvision", "cpu", ("nms", "box_iou")),
    Impl("opencv", "cpu", ("nms",)),
    Impl("foveal", "cuda", ("nms", "box_iou")),
    Impl("torchvision", "cuda", ("nms", "box_iou")),
]


def impls_for(op):
    return [i for i in IMPLEMENTATIONS if op in i.ops]


def cases(op):
    """``pytest.param(workload, impl)`` for every workload of ``op``."""
    names = NMS_WORKLOADS if op == "nms" else IOU_WORKLOADS
    return [pytest.param(w, i, id=f"{w}-{i.id}") for w in names for i in impls_for(op)]


# -- correctness gate ----------------------------------------------------------


@functools.lru_cache(maxsize=None)
def anchor_result(workload, device):
    """torchvision's answer on ``device``, as numpy (the reference to match)."""
    impl = Impl("torchvision", device, ("nms", "box_iou"))
    ok, why = impl.status()
    if not ok:
        return None, why
    return to_numpy(impl.prepare(workload)()), ""


def _iou64(box, others):
    box = box.astype(np.float64)
    others = others.astype(np.float64)
    lt = np.maximum(box[:2], others[:, :2])
    rb = np.minimum(box[2:], others[:, 2:])
    wh = np.clip(rb - lt, 0, None)
    inter = wh[:, 0] * wh[:, 1]
    a = (box[2] - box[0]) * (box[3] - box[1])
    b = (others[:, 2] - others[:, 0]) * (others[:, 3] - others[:, 1])
    return inter / (a + b - inter)


def explain_nms_mismatch(workload, got, want):
    """A human-readable account of where two NMS keep lists part."""
    boxes, scores = host_inputs(workload)
    got = np.asarray(got, dtype=np.int64)
    want = np.asarray(want, dtype=np.int64)
    lines = [f"foveal kept {got.size}, torchvision kept {want.size}"]
    m = min(got.size, want.size)
    diff = np.nonzero(got[:m] != want[:m])[0]
    pos = int(diff[0]) if diff.size else m
    lines.append(f"first difference at position {pos}")
    for label, seq in (("foveal", got), ("torchvision", want)):
        if pos < seq.size:
            i = int(seq[pos])
            prev = seq[:pos]
            iou = _iou64(boxes[i], boxes[prev]) if prev.size else np.zeros(0)
            mx = float(iou.max()) if iou.size else float("nan")
            lines.append(
                f"  {label} keeps box {i} (score {scores[i]!r}) there; float64 max IoU "
                f"with the earlier kept boxes = {mx!r}"
            )
    only_got = np.setdiff1d(got, want)
    only_want = np.setdiff1d(want, got)
    lines.append(f"kept only by foveal: {only_got[:10].tolist()}{' ...' if only_got.size > 10 else ''}")
    lines.append(f"kept only by torchvision: {only_want[:10].tolist()}{' ...' if only_want.size > 10 else ''}")
    return "\n".join(lines)


def check_against_anchor(workload, impl, result):
    """Fail the test unless ``result`` (foveal's) matches torchvision's answer.

    NMS: the same keep list, in the same order. box_iou: same shape and dtype,
    values allclose (rtol 1e-5, atol 1e-6). Returns a note for extra_info.
    """
    want, why = anchor_result(workload, impl.device)
    if want is None:
        pytest.skip(f"cannot verify {impl.id} on {workload}: no anchor ({why})")
    got = to_numpy(result)
    w = WORKLOADS[workload]
    if w.op == "nms":
        if got.ndim != 1 or not np.array_equal(got.astype(np.int64), want.astype(np.int64)):
            pytest.fail(
                f"{impl.id} disagrees with torchvision on {workload}; not timing it.\n"
                + explain_nms_mismatch(workload, got.reshape(-1), want)
            )
        return f"keep list identical to torchvision-{impl.device} ({want.size} kept)"
    if got.shape != want.shape or got.dtype != want.dtype:
        pytest.fail(f"{impl.id} box_iou: shape/dtype {got.shape} {got.dtype}, torchvision gives {want.shape} {want.dtype}")
    if not np.allclose(got, want, rtol=1e-5, atol=1e-6):
        err = np.abs(got.astype(np.float64) - want)
        i = np.unravel_index(int(np.nanargmax(err)), err.shape)
        pytest.fail(f"{impl.id} box_iou differs from torchvision: max |diff| {err[i]!r} at {i} ({got[i]!r} vs {want[i]!r})")
    return f"allclose to torchvision-{impl.device} (max |diff| {float(np.abs(got.astype(np.float64) - want).max()):.3g})"


def agreement_note(workload, impl, result):
    """For an anchor that is not the reference: does it agree with torchvision?"""
    if impl.name == "torchvision":
        return "reference"
    want, why = anchor_result(workload, impl.device)
    if want is None:
        return f"unchecked ({why})"
    got = to_numpy(result).reshape(-1).astype(np.int64)
    if np.array_equal(got, want.astype(np.int64)):
        return f"keep list identical to torchvision-{impl.device}"
    sym = np.setxor1d(got, want).size
    return f"differs from torchvision-{impl.device}: kept {got.size} vs {want.size}, {sym} indices in one list only"


# -- threads and versions ------------------------------------------------------


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
            info["foveal_omp_max_threads"] = foveal.build_info().get("omp_max_threads")
        except Exception as exc:  # pragma: no cover - diagnostic only
            info["foveal_omp_max_threads"] = f"error: {exc}"
    if cv2 is not None:
        info["cv2_num_threads"] = cv2.getNumThreads()
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        if var in os.environ:
            info[var] = os.environ[var]
    return info


def versions():
    out = {"python": sys.version.split()[0], "numpy": np.__version__}
    for name, mod, err in (
        ("torch", torch, TORCH_ERROR),
        ("torchvision", torchvision, TORCHVISION_ERROR),
        ("cv2", cv2, CV2_ERROR),
        ("foveal", foveal, FOVEAL_ERROR),
    ):
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


def run_case(benchmark, workload, impl):
    """Verify (foveal), then time ``impl`` on ``workload`` with pytest-benchmark."""
    ok, why = impl.status()
    if not ok:
        pytest.skip(f"{impl.id} unavailable: {why}")
    w = WORKLOADS[workload]
    fn = impl.prepare(workload)
    first = fn()  # also a first warm-up call
    if impl.name == "foveal":
        note = check_against_anchor(workload, impl, first)
    elif w.op == "nms":
        note = agreement_note(workload, impl, first)
    else:
        note = "reference"
    del first

    threads = thread_info()
    benchmark.group = workload
    benchmark.extra_info.update(
        {
            "workload": workload,
            "implementation": impl.name,
            "device": impl.device,
            "n": w.n,
            "items_per_call": w.items,
            "throughput_unit": w.throughput_unit,
            "check": note,
            "threads": (
                threads.get("foveal_omp_max_threads")
                if impl.name == "foveal"
                else threads.get("torch_num_threads")
                if impl.name == "torchvision"
                else threads.get("cv2_num_threads")
            ),
        }
    )
    benchmark(fn)
    stats = getattr(benchmark, "stats", None)
    if stats is not None:
        s = stats.stats
        benchmark.extra_info["median_ms"] = s.median * 1e3
        benchmark.extra_info["min_ms"] = s.min * 1e3
        benchmark.extra_info["throughput"] = w.items / s.median if s.median > 0 else None
