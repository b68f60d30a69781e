"""Summarise a pytest-benchmark JSON written by the foveal benchmark suite.

Prints, per workload and device, the median time of each implementation and
the ratio ``anchor / foveal`` (above 1: foveal is faster), then a detail table
(median, min, rounds, throughput), and writes a compact summary JSON beside the
input (``<name>.summary.json``) unless told otherwise.

Usage::

    python bench/report.py bench/results/cpu-2026-01-01.json
    python bench/report.py RESULT.json --summary OUT.summary.json
    python bench/report.py RESULT.json --no-summary
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

#: Order of implementations in the tables; foveal is the denominator.
IMPL_ORDER = ("foveal", "torchvision", "torch", "opencv", "skimage", "kornia", "cucim")
#: Order of workloads (BENCHMARKS.md); unknown ones follow, sorted.
WORKLOAD_ORDER = (
    "nms_1k", "nms_10k", "nms_100k", "nms_100_torch", "batched_nms_10k_80cls", "box_iou_4k",
    "generalized_box_iou_4k", "roi_align_fpn", "roi_pool_fpn", "maxpool_resnet", "avgpool_2x2",
    "tv_chambolle", "tv_bregman", "tv_chambolle_3d",
)
DEVICE_ORDER = ("cpu", "cuda")


def _key(seq, value):
    return (seq.index(value), "") if value in seq else (len(seq), str(value))


def load_rows(data):
    """One dict per benchmark row, from the pytest-benchmark JSON ``data``."""
    rows = []
    for b in data.get("benchmarks", []):
        info = b.get("extra_info", {})
        stats = b.get("stats", {})
        workload = info.get("workload") or b.get("group") or b.get("name")
        median = stats.get("median")
        rows.append(
            {
                "workload": workload,
                "implementation": info.get("implementation", b.get("name")),
                "device": info.get("device", "cpu"),
                "median_ms": median * 1e3 if median is not None else None,
                "min_ms": stats["min"] * 1e3 if "min" in stats else None,
                "rounds": stats.get("rounds"),
                "throughput": (
                    info["items_per_call"] / median
                    if median and info.get("items_per_call")
                    else info.get("throughput")
                ),
                "throughput_unit": info.get("throughput_unit"),
                "threads": info.get("threads"),
                "check": info.get("check"),
            }
        )
    rows.sort(
        key=lambda r: (
            _key(WORKLOAD_ORDER, r["workload"]),
            _key(DEVICE_ORDER, r["device"]),
            _key(IMPL_ORDER, r["implementation"]),
        )
    )
    return rows


def ratios(rows):
    """``anchor median / foveal median`` for every anchor row with a foveal peer."""
    foveal = {(r["workload"], r["device"]): r for r in rows if r["implementation"] == "foveal"}
    out = []
    for r in rows:
        if r["implementation"] == "foveal":
            continue
        f = foveal.get((r["workload"], r["device"]))
        if f is None or not f["median_ms"] or r["median_ms"] is None:
            continue
        out.append(
            {
                "workload": r["workload"],
                "device": r["device"],
                "anchor": r["implementation"],
                "anchor_median_ms": r["median_ms"],
                "foveal_median_ms": f["median_ms"],
                "ratio": r["median_ms"] / f["median_ms"],
            }
        )
    return out


def base_ratios(rows):
    """foveal on a scene with an outlier against the same scene without it: for every workload
    ``W`` with a ``W_base`` peer, ``median(W) / median(W_base)`` (the goal is <= 2)."""
    foveal = {(r["workload"], r["device"]): r for r in rows if r["implementation"] == "foveal"}
    out = []
    for (w, dev), r in foveal.items():
        b = foveal.get((w + "_base", dev))
        if b and b["median_ms"] and r["median_ms"] is not None:
            out.append({"workload": w, "device": dev, "median_ms": r["median_ms"],
                        "base_median_ms": b["median_ms"], "ratio": r["median_ms"] / b["median_ms"]})
    return out


def _fmt_ms(x):
    if x is None:
        return "-"
    if x >= 100:
        return f"{x:.1f}"
    if x >= 1:
        return f"{x:.2f}"
    return f"{x:.4f}" if x < 0.1 else f"{x:.3f}"


def _fmt_rate(x, unit):
    if not x:
        return "-"
    exp = int(math.floor(math.log10(x) / 3)) if x > 0 else 0
    exp = max(0, min(exp, 4))
    prefix = ["", "k", "M", "G", "T"][exp]
    return f"{x / 10 ** (3 * exp):.3g}{prefix} {unit or ''}".rstrip()


def _table(header, body):
    widths = [max(len(str(c)) for c in col) for col in zip(header, *body)]
    line = "  ".join("-" * w for w in widths)
    fmt = lambda cells: "  ".join(str(c).rjust(w) if i else str(c).ljust(w) for i, (c, w) in enumerate(zip(cells, widths)))  # noqa: E731
    return "\n".join([fmt(header), line, *(fmt(r) for r in body)])


def render(rows, rat):
    """The two tables, as text."""
    impls = sorted({r["implementation"] for r in rows}, key=lambda i: _key(IMPL_ORDER, i))
    anchors = [i for i in impls if i != "foveal"]
    by = {(r["workload"], r["device"], r["implementation"]): r for r in rows}
    ratio_by = {(x["workload"], x["device"], x["anchor"]): x["ratio"] for x in rat}
    groups = []
    for r in rows:
        g = (r["workload"], r["device"])
        if g not in groups:
            groups.append(g)

    header = ["workload", "device"] + [f"{i} ms" for i in impls] + [f"{a}/foveal" for a in anchors]
    body = []
    for w, d in groups:
        cells = [w, d]
        for i in impls:
            r = by.get((w, d, i))
            cells.append(_fmt_ms(r["median_ms"]) if r else "-")
        for a in anchors:
            x = ratio_by.get((w, d, a))
            cells.append(f"{x:.2f}x" if x is not None else "-")
        body.append(cells)
    main = _table(header, body)

    header2 = ["workload", "device", "implementation", "median ms", "min ms", "rounds", "threads", "throughput"]
    body2 = [
        [
            r["workload"],
            r["device"],
            r["implementation"],
            _fmt_ms(r["median_ms"]),
            _fmt_ms(r["min_ms"]),
            r["rounds"] if r["rounds"] is not None else "-",
            r["threads"] if r["threads"] is not None else "-",
            _fmt_rate(r["throughput"], r["throughput_unit"]),
        ]
        for r in rows
    ]
    detail = _table(header2, body2)
    return (
        "Median ms per implementation; ratio = anchor median / foveal median (>1: foveal faster)\n\n"
        + main
        + "\n\n"
        + detail
    )


def summary(data, rows, rat, source):
    """The compact summary document."""
    mi = data.get("machine_info", {})
    gpu = mi.get("gpu") or {}
    bi = mi.get("foveal_build_info") or {}
    return {
        "source": str(source),
        "datetime": data.get("datetime"),
        "command": data.get("command"),
        "git_commit": (data.get("foveal_bench") or {}).get("git_commit"),
        "machine": {
            "node": mi.get("node"),
            "cpu": mi.get("cpu_model") or (mi.get("cpu") or {}).get("brand_raw"),
            "cpu_count": (mi.get("cpu") or {}).get("count"),
            "gpu": gpu.get("name") if gpu.get("available") else None,
        },
        "versions": mi.get("versions"),
        "threads": mi.get("threads"),
        "foveal_build": {k: bi.get(k) for k in ("version", "simd_selected", "openmp", "omp_max_threads", "cuda_compiled", "cuda_archs") if k in bi},
        "results": [{k: v for k, v in r.items() if k != "check"} for r in rows],
        "ratios": rat,
        "outlier_vs_base": base_ratios(rows),
    }


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("json", type=Path, help="pytest-benchmark JSON written with --benchmark-json")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--summary", type=Path, help="where to write the summary (default: <json stem>.summary.json beside it)")
    g.add_argument("--no-summary", action="store_true", help="print only")
    args = p.parse_args(argv)

    data = json.loads(args.json.read_text())
    rows = load_rows(data)
    if not rows:
        print(f"{args.json}: no benchmark rows", file=sys.stderr)
        return 1
    rat = ratios(rows)
    mi = data.get("machine_info", {})
    gpu = (mi.get("gpu") or {}).get("name")
    print(f"{args.json}  ({data.get('datetime')})")
    print(f"cpu: {mi.get('cpu_model')}  x{(mi.get('cpu') or {}).get('count')}" + (f"   gpu: {gpu}" if gpu else ""))
    print(f"threads: {mi.get('threads')}")
    print(f"command: {data.get('command')}\n")
    print(render(rows, rat))
    for b in base_ratios(rows):
        print(f"{b['workload']} ({b['device']}): {b['median_ms']:.3f} ms vs {b['base_median_ms']:.3f} ms "
              f"without the outlier: x{b['ratio']:.2f}")
    if not args.no_summary:
        out = args.summary or args.json.with_name(args.json.stem + ".summary.json")
        out.write_text(json.dumps(summary(data, rows, rat, args.json.name), indent=1) + "\n")
        print(f"\nsummary written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
