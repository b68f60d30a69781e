"""Where a workload's GPU time goes: each bench workload (foveal and its anchors, CUDA) run under
torch.profiler (CUPTI sees every kernel in the process, foveal's included), then per call: the
wall time, the summed kernel and copy time, the GPU-busy time (union of their intervals), the
launch count and the top kernels. Wall minus busy is host time the GPU waited through: launch
overhead, Python, synchronisation.

    python bench/gpu_profile.py -k "postprocess|pool" [--json out.json] [--calls 20]

Workloads come from the bench files' declarations (bench/_harness.py), so new rows need no
edit here. On a machine without CUDA, ``--device cpu`` exercises the same plumbing (no kernels).
"""
from __future__ import annotations

import argparse
import functools
import glob
import importlib
import json
import re
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import _harness as H  # noqa: E402


def _load_workloads():
    for path in sorted(glob.glob(str(HERE / "bench_*.py"))):
        importlib.import_module(Path(path).stem)  # registers its workloads (cases() at import)
    return H.registered()


def _device_events(prof):
    """(name, start_us, end_us) of every kernel / copy / memset the profiler saw on the device."""
    import torch

    out = []
    for e in prof.events():
        dev = getattr(e, "device_type", None)
        if dev != torch.autograd.DeviceType.CUDA:
            continue
        tr = e.time_range
        out.append((e.name, float(tr.start), float(tr.end)))
    return out


def _busy(intervals):
    total, end = 0.0, float("-inf")
    for s, e in sorted((s, e) for _, s, e in intervals):
        if e <= end:
            continue
        total += e - max(s, end)
        end = e
    return total


def profile_one(op, device, calls, sync):
    import torch
    from torch.profiler import ProfilerActivity, profile

    for _ in range(3):
        op()
    sync()
    walls = []
    for _ in range(calls):
        t0 = time.perf_counter()
        op()
        sync()
        walls.append((time.perf_counter() - t0) * 1e3)
    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device == "cuda" else [])
    with profile(activities=acts) as prof:
        for _ in range(calls):
            op()
            sync()
    ev = _device_events(prof)
    per = {}
    for name, s, e in ev:
        c, t = per.get(name, (0, 0.0))
        per[name] = (c + 1, t + (e - s))
    top = sorted(per.items(), key=lambda kv: -kv[1][1])[:8]
    return {
        "wall_ms": statistics.median(walls),
        "device_sum_ms": sum(e - s for _, s, e in ev) / 1e3 / calls,
        "device_busy_ms": _busy(ev) / 1e3 / calls,
        "launches": len(ev) / calls,
        "top": [{"name": n[:120], "per_call": c / calls, "us_per_call": t / calls} for n, (c, t) in top],
    }


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-k", default="", help="regex on workload names")
    ap.add_argument("--device", default="cuda", choices=("cuda", "cpu"))
    ap.add_argument("--calls", type=int, default=20)
    ap.add_argument("--json", default="")
    args = ap.parse_args(argv)
    import torch

    if args.device == "cuda" and not torch.cuda.is_available():
        print("no CUDA device")
        return 1
    sync = torch.cuda.synchronize if args.device == "cuda" else (lambda: None)
    results = {}
    for name, w in _load_workloads().items():
        if args.k and not re.search(args.k, name):
            continue
        for impl in w.impls:
            if args.device not in impl.devices:
                continue
            ok, why = impl.status(args.device)
            if not ok:
                print(f"{name:28s} {impl.name:12s} skipped: {why}")
                continue
            try:
                conv = H._convert(impl, H.inputs_of(name), args.device)
                r = profile_one(functools.partial(impl.fn, *conv), args.device, args.calls, sync)
            except Exception as exc:  # one broken row must not lose the others
                print(f"{name:28s} {impl.name:12s} FAILED: {type(exc).__name__}: {exc}")
                continue
            results.setdefault(name, {})[impl.name] = r
            print(f"{name:28s} {impl.name:12s} wall {r['wall_ms']:8.3f} ms  busy {r['device_busy_ms']:8.3f} ms  "
                  f"sum {r['device_sum_ms']:8.3f} ms  launches {r['launches']:6.1f}")
            for t in r["top"][:5]:
                print(f"{'':42s}{t['us_per_call']:9.1f} us  x{t['per_call']:<5.1f} {t['name'][:90]}")
    if args.json:
        Path(args.json).write_text(json.dumps({"device": args.device, "calls": args.calls,
                                               "gpu": H.gpu_info() if args.device == "cuda" else None,
                                               "versions": H.versions(), "results": results}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
