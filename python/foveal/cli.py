"""Command-line interface: ``foveal demo`` and ``foveal info``.

Examples
--------
Run the NMS demo on a clustered synthetic scene and save a figure::

    foveal demo --n 2000 --seed 0 --iou-threshold 0.5 --out foveal_demo.png

Print how this build of foveal was compiled, or its version::

    foveal info
    foveal info --json
    foveal --version

Both also run as ``python -m foveal.cli ...``.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time

__all__ = ["main", "build_parser", "run_demo", "run_info"]


# -- argument types -------------------------------------------------------------


def _nonnegative_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {value}")
    return value


def _unit_float(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not 0.0 <= value <= 1.0:  # also rejects NaN
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1], got {text}")
    return value


def _seed(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if not 0 <= value < 2**63:
        raise argparse.ArgumentTypeError(f"expected an integer in [0, 2**63), got {value}")
    return value


def _figure_path(text):
    """An output path matplotlib can write, whose folder exists: checked before any work."""
    import os

    if not text or text.endswith(os.sep) or os.path.isdir(text):
        raise argparse.ArgumentTypeError(f"expected an image file name such as foveal_demo.png, got {text!r}")
    ext = os.path.splitext(text)[1].lower().lstrip(".")
    formats = _figure_formats()
    if ext not in formats:
        raise argparse.ArgumentTypeError(
            f"cannot save a figure as {text!r}: the extension must be one of {', '.join('.' + f for f in formats)}"
        )
    folder = os.path.dirname(os.path.abspath(text))
    if not os.path.isdir(folder):
        raise argparse.ArgumentTypeError(f"cannot write {text!r}: folder {folder} does not exist")
    if not os.access(folder, os.W_OK):
        raise argparse.ArgumentTypeError(f"cannot write {text!r}: folder {folder} is not writable")
    return text


def _figure_formats():
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    return sorted(FigureCanvasAgg.get_supported_filetypes())


def build_parser():
    """The ``foveal`` argument parser.

    Returns
    -------
    argparse.ArgumentParser
        Parser with the subcommands ``demo`` and ``info``.
    """
    parser = argparse.ArgumentParser(
        prog="foveal",
        description="foveal: C++/CUDA kernels for object detection and image restoration.",
    )
    parser.add_argument("--version", action="version", version=f"foveal {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    demo = sub.add_parser(
        "demo",
        help="run NMS on a synthetic clustered scene and save a figure",
        description=(
            "Generate a clustered scene (foveal.synthetic.clustered_boxes), run "
            "foveal.ops.nms and foveal.ops.box_iou on it, print a summary and save a "
            "figure of kept (solid) and suppressed (faint) boxes with a histogram of "
            "each box's largest IoU with a kept box."
        ),
    )
    demo.add_argument("--n", type=_nonnegative_int, default=2000, help="number of boxes (default 2000)")
    demo.add_argument("--seed", type=_seed, default=0, help="generator seed, >= 0 (default 0)")
    demo.add_argument(
        "--iou-threshold",
        type=_unit_float,
        default=0.5,
        help="NMS suppresses a box whose IoU with a kept box exceeds this (default 0.5)",
    )
    demo.add_argument(
        "--out",
        type=_figure_path,
        default="foveal_demo.png",
        help="output image; its extension picks the format (default foveal_demo.png)",
    )
    demo.add_argument("--quiet", action="store_true", help="no progress bar")
    demo.set_defaults(func=run_demo)

    info = sub.add_parser("info", help="print how this foveal was built", description="Print foveal.build_info().")
    info.add_argument("--json", action="store_true", help="print the raw dictionary as JSON")
    info.set_defaults(func=run_info)
    return parser


# -- foveal info ------------------------------------------------------------------


def _version():
    try:
        from importlib.metadata import version

        return version("foveal")
    except Exception:  # noqa: BLE001 - not installed as a distribution (a source tree)
        return "unknown"


def info_fields():
    """Every field ``foveal info`` shows: :func:`foveal.build_info` plus where the package lives,
    whether CUDA is usable, the CMake package folder, and the numpy and Python versions."""
    import foveal

    info = dict(foveal.build_info())
    extra = {"cuda_available": foveal.cuda_available(), "package": foveal.__file__}
    try:
        extra["cmake_dir"] = foveal.get_cmake_dir()
    except Exception as exc:  # the package works without its CMake files
        extra["cmake_dir"] = f"unavailable ({exc})"
    import numpy

    extra["numpy"] = numpy.__version__
    extra["python"] = sys.version.split()[0]
    for k, v in extra.items():
        info.setdefault(k, v)
    return info


def _format_value(value):
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value) if value else "-"
    return str(value)


def run_info(args):
    """Print :func:`foveal.build_info` as an aligned table (or JSON).

    Parameters
    ----------
    args : argparse.Namespace
        Parsed arguments; ``args.json`` selects JSON output.

    Returns
    -------
    int
        Exit status, 0.
    """
    info = info_fields()
    if args.json:
        print(json.dumps(info, indent=2, sort_keys=True, default=str))
        return 0
    rows = [(k, _format_value(v)) for k, v in info.items()]
    width = max(len(k) for k, _ in rows)
    print(f"foveal {info.get('version', '?')}")
    for key, value in rows:
        print(f"  {key.ljust(width)}  {value}")
    return 0


# -- foveal demo ------------------------------------------------------------------


def _max_iou_to_kept(ops, boxes, keep, chunk_elems=1 << 24):
    """Largest IoU of each box with a kept box other than itself.

    Computed with ``foveal.ops.box_iou(boxes, boxes[keep])`` in row blocks, so
    memory stays bounded for large scenes.
    """
    import numpy as np

    n, k = len(boxes), len(keep)
    out = np.full(n, -np.inf)
    if n == 0 or k == 0:
        return out
    kept_boxes = boxes[keep]
    col_of = np.full(n, -1, dtype=np.int64)
    col_of[keep] = np.arange(k)
    rows_per_chunk = max(1, chunk_elems // k)
    for start in range(0, n, rows_per_chunk):
        stop = min(n, start + rows_per_chunk)
        iou = np.array(ops.box_iou(boxes[start:stop], kept_boxes), dtype=np.float64)
        own = col_of[start:stop]
        rows = np.nonzero(own >= 0)[0]
        iou[rows, own[rows]] = -np.inf  # a kept box vs itself
        out[start:stop] = iou.max(axis=1)
    return out


_KEPT_COLOR = "#35b779"  # viridis(0.7), the colour of a typical kept box


def _rect_paths(boxes):
    import numpy as np

    x1, y1, x2, y2 = (boxes[:, i] for i in range(4))
    xs = np.stack([x1, x2, x2, x1, x1], axis=1)
    ys = np.stack([y1, y1, y2, y2, y1], axis=1)
    return np.stack([xs, ys], axis=2)


def _plot(path, boxes, scores, keep, max_iou, threshold, title):
    import numpy as np
    from matplotlib.collections import LineCollection
    from matplotlib.figure import Figure  # Agg canvas, no display, no pyplot state

    suppressed = np.ones(len(boxes), dtype=bool)
    suppressed[keep] = False

    fig = Figure(figsize=(13, 6.2), layout="constrained")
    ax, hx = fig.subplots(1, 2, width_ratios=[1.15, 1])

    ax.add_collection(
        LineCollection(_rect_paths(boxes[suppressed]), colors="0.35", linewidths=0.4, alpha=0.12)
    )
    if len(keep):
        kept = LineCollection(_rect_paths(boxes[keep]), cmap="viridis", linewidths=1.3, alpha=0.95)
        kept.set_array(scores[keep])
        kept.set_clim(0.0, 1.0)
        ax.add_collection(kept)
        fig.colorbar(kept, ax=ax, shrink=0.8, label="score of kept box")
    if len(boxes):
        lo = np.minimum(boxes[:, :2].min(axis=0), 0.0)
        hi = np.maximum(boxes[:, 2:].max(axis=0), 1024.0)
    else:
        lo, hi = np.zeros(2), np.full(2, 1024.0)
    ax.set_xlim(lo[0], hi[0])
    ax.set_ylim(hi[1], lo[1])  # image coordinates: y down
    ax.set_aspect("equal")
    ax.set_xlabel("x (px)")
    ax.set_ylabel("y (px)")
    ax.set_title(title, fontsize=10)
    ax.plot([], [], color="0.35", alpha=0.5, lw=1, label=f"suppressed ({int(suppressed.sum())})")
    ax.plot([], [], color=_KEPT_COLOR, lw=1.5, label=f"kept ({len(keep)})")
    ax.legend(loc="upper right", fontsize=8, framealpha=0.85)

    bins = np.linspace(0.0, 1.0, 51)
    finite = np.isfinite(max_iou)
    hx.hist(
        [max_iou[finite & suppressed], max_iou[finite & ~suppressed]],
        bins=bins,
        stacked=True,
        color=["0.6", _KEPT_COLOR],
        label=["suppressed boxes", "kept boxes (vs other kept)"],
    )
    hx.axvline(threshold, color="tab:red", ls="--", lw=1.2, label=f"IoU threshold {threshold:g}")
    if finite.any():
        hx.set_yscale("log")
    hx.set_xlim(0, 1)
    hx.set_xlabel("largest IoU with a kept box (other than itself)")
    hx.set_ylabel("boxes")
    hx.set_title("Every suppressed box lies right of the threshold; every kept one left", fontsize=10)
    hx.legend(fontsize=8)
    fig.savefig(path, dpi=110)


def run_demo(args):
    """Run NMS and box_iou on a synthetic scene; print a summary; save a figure.

    Parameters
    ----------
    args : argparse.Namespace
        Parsed arguments: ``n``, ``seed``, ``iou_threshold``, ``out``, ``quiet``.

    Returns
    -------
    int
        Exit status: 0, or 1 when the result breaks the NMS invariant (a kept
        pair above the threshold, or a suppressed box with no kept box above it).
    """
    import numpy as np
    from tqdm import tqdm

    import foveal
    from foveal import ops, synthetic

    timings = {}
    steps = ["generate scene", "nms", "box_iou vs kept", "plot"]
    with tqdm(total=len(steps), disable=True if args.quiet else None, unit="step", file=sys.stderr, leave=False) as bar:

        def advance(name, fn):
            bar.set_description(name)
            t0 = time.perf_counter()
            out = fn()
            timings[name] = time.perf_counter() - t0
            bar.update(1)
            return out

        boxes, scores = advance("generate scene", lambda: synthetic.clustered_boxes(args.n, seed=args.seed))
        keep = advance("nms", lambda: np.asarray(ops.nms(boxes, scores, args.iou_threshold), dtype=np.int64))
        max_iou = advance("box_iou vs kept", lambda: _max_iou_to_kept(ops, boxes, keep))

        n, k = len(boxes), len(keep)
        kept_max = float(max_iou[keep].max()) if k > 1 else float("nan")
        suppressed = np.ones(n, dtype=bool)
        suppressed[keep] = False
        supp_min = float(max_iou[suppressed].min()) if (n - k) else float("nan")
        title = (
            f"foveal.ops.nms: {n} boxes ({math.ceil(n / 50)} objects x 50, seed {args.seed}) "
            f"-> {k} kept, IoU threshold {args.iou_threshold:g}"
        )
        advance("plot", lambda: _plot(args.out, boxes, scores, keep, max_iou, args.iou_threshold, title))

    ms = {name: 1e3 * t for name, t in timings.items()}
    print(f"foveal {foveal.__version__} demo (seed {args.seed}, IoU threshold {args.iou_threshold:g})")
    print(f"  boxes        {n}")
    print(f"  kept         {k}")
    print(f"  suppressed   {n - k}")
    print(f"  max IoU among kept boxes        {kept_max:.6f}" if k > 1 else "  max IoU among kept boxes        -")
    if n - k:
        print(f"  min over suppressed boxes of their max IoU with a kept box  {supp_min:.6f}")
    print(
        "  timing       "
        + ", ".join(f"{name} {ms[name]:.2f} ms" for name in steps)
        + " (single call each, including first-call overhead)"
    )
    print(f"  figure       {args.out}")

    ok = True
    if k > 1 and kept_max > args.iou_threshold:
        print(f"error: two kept boxes overlap with IoU {kept_max} > {args.iou_threshold}", file=sys.stderr)
        ok = False
    if n - k and not supp_min > args.iou_threshold:
        print(
            f"error: a suppressed box has IoU {supp_min} <= {args.iou_threshold} with every kept box",
            file=sys.stderr,
        )
        ok = False
    return 0 if ok else 1


# -- entry point --------------------------------------------------------------------


def main(argv=None):
    """Entry point of the ``foveal`` command.

    Parameters
    ----------
    argv : list of str, optional
        Arguments without the program name; default ``sys.argv[1:]``.

    Returns
    -------
    int
        Exit status.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except MemoryError as exc:  # e.g. a --n past this machine: a message, not a traceback
        print(f"foveal {args.command}: out of memory ({exc})", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
