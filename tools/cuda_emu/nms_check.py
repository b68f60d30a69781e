"""Greedy bitmask NMS on CUDA (nms_cuda.cu / nms_rotated_cuda.cu / nms_common.cuh, run by nms_emu,
see run.sh) against foveal.ops' CPU nms, nms_rotated and batched_nms_rotated: the same kept
indices in the same order, for sizes around the 64-box tile, clusters, tied and NaN scores,
non-finite and degenerate boxes, thresholds below 0, inside [0, 1) and from 1 up."""
import subprocess
import sys

import numpy as np

import foveal.ops as ops

rng = np.random.default_rng(11)
bad = 0


def boxes_axis(n, dtype):
    c = rng.uniform(0, 120, ((n + 7) // 8, 2)).repeat(8, 0)[:n] + rng.normal(0, 3, (n, 2))
    wh = rng.uniform(2, 40, (n, 2))
    b = np.concatenate([c - wh / 2, c + wh / 2], 1).astype(dtype)
    if n > 5:
        b[3] = [5, 5, 5, 5]  # zero area
        b[4, 0] = np.nan
    return b


def boxes_rot(n, dtype):
    c = rng.uniform(0, 120, ((n + 7) // 8, 2)).repeat(8, 0)[:n] + rng.normal(0, 3, (n, 2))
    b = np.concatenate([c, rng.uniform(2, 40, (n, 2)), rng.uniform(-90, 90, (n, 1))], 1).astype(dtype)
    if n > 5:
        b[3, 2] = 0  # invalid (w = 0)
        b[4, 4] = np.inf
    return b


def scores_for(n, dtype):
    s = np.round(rng.random(n), 1).astype(dtype)  # many ties
    if n > 7:
        s[7] = np.nan
    return s


for kind in ("axis", "rotated"):
    for dtype, name in ((np.float32, "float"), (np.float64, "double")):
        for n in (1, 2, 63, 64, 65, 130, 257):
            for thr in (0.5, 0.0, -0.2, 1.0, 0.3):
                for classes in ((0, 3) if kind == "rotated" else (0,)):
                    b = boxes_axis(n, dtype) if kind == "axis" else boxes_rot(n, dtype)
                    s = scores_for(n, dtype)
                    b.tofile("boxes.bin")
                    s.tofile("scores.bin")
                    idx = rng.integers(0, classes, n).astype(np.int64) if classes else None
                    if idx is not None:
                        idx.tofile("idxs.bin")
                    subprocess.run(["./nms_emu", kind, name, str(n), repr(thr), "1" if classes else "0"], check=True)
                    got = np.fromfile("keep.bin", np.int64)
                    if kind == "axis":
                        want = ops.nms(b, s, thr)
                    elif classes:
                        want = ops.batched_nms_rotated(b, s, idx, thr)
                    else:
                        want = ops.nms_rotated(b, s, thr)
                    if not np.array_equal(got, want):
                        bad += 1
                        print(f"MISMATCH nms {kind} {name} n={n} thr={thr} classes={classes}: {got[:10]} vs {want[:10]}")
print("nms: " + ("OK" if bad == 0 else f"{bad} mismatches"))
sys.exit(1 if bad else 0)
