"""Inputs and output helpers shared by check_detect_nms.py and check_detect_big.py."""
import numpy as np

rng = np.random.default_rng(31)
F16, F32, F64 = np.float16, np.float32, np.float64
PAD = np.frombuffer(b"\x5a" * 8, np.int64)[0]


def cluster_boxes(n, dt, spread=120.0, edge=True):
    """Boxes in overlapping clusters (so that boxes of later tiles get suppressed), with edge cases."""
    centres = rng.uniform(0, spread, (max(1, n // 6), 2))
    c = centres[rng.integers(0, len(centres), n)] + rng.normal(0, 3, (n, 2))
    wh = rng.uniform(4, 30, (n, 2))
    b = np.concatenate([c - wh / 2, c + wh / 2], 1)
    if edge and n >= 12:
        b[2] = b[1]  # a duplicate
        b[4, 2] = b[4, 0]  # zero width
        b[6, 2:] = b[6, :2] - 2  # inverted
        b[8, 1] = np.nan
        b[10, 0] = -np.inf
    return b.astype(dt)


def cluster_scores(n, dt, ties=False, special=True):
    s = rng.uniform(0, 1, n)
    if ties:
        s = np.round(s * 4) / 4  # five values: many ties, ordered by index
    if special and n >= 12:
        s[3] = np.nan
        s[5] = np.inf
        s[7] = -np.inf
        s[9], s[11] = 0.0, -0.0
    return s.astype(dt)


def kept(res, n):
    cnt = int(res["count"][0])
    keep = res["keep"]
    ok = 0 <= cnt <= n and bool(np.all(keep[cnt:] == PAD))
    return keep[:cnt], ok


def as_cpu(x):
    return x.astype(F32) if x.dtype == F16 else x
