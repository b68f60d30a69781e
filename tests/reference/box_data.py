"""Deterministic input generators for the box IoU / NMS tests.

Every generator takes a ``numpy.random.Generator`` and returns float64 arrays;
tests cast them to the dtype under test (the oracles then work on the cast
values, so rounding on the cast is part of the input, not an error).
"""

from __future__ import annotations

import numpy as np

# Sizes that hit SIMD main loops (multiples of 4/8/16 lanes) and their tails.
SIMD_SIZES = (0, 1, 3, 7, 8, 15, 16, 17, 33, 100, 257)

THRESHOLDS = (0.0, 1e-6, 0.1, 0.3, 0.5, 0.7, 0.99, 1.0)


def xywh_to_xyxy(x, y, w, h) -> np.ndarray:
    return np.stack([x, y, x + w, y + h], axis=1).astype(np.float64)


def random_boxes(rng, n, field=100.0, min_size=1.0, max_size=30.0) -> np.ndarray:
    """n valid boxes with top-left corner uniform in [0, field)^2."""
    x = rng.uniform(0.0, field, n)
    y = rng.uniform(0.0, field, n)
    w = rng.uniform(min_size, max_size, n)
    h = rng.uniform(min_size, max_size, n)
    return xywh_to_xyxy(x, y, w, h)


def random_scores(rng, n) -> np.ndarray:
    return rng.uniform(0.0, 1.0, n)


def multiscale_boxes(rng, n) -> np.ndarray:
    """Sizes log-uniform in [1e-3, 1e4]; half the centres spread over a
    1e4 x 1e4 field, half packed around a few points (so that boxes of very
    different sizes overlap)."""
    size_w = 10.0 ** rng.uniform(-3, 4, n)
    aspect = 10.0 ** rng.uniform(-1, 1, n)
    size_h = np.clip(size_w * aspect, 1e-3, 1e4)
    centres = rng.uniform(0.0, 1e4, (n, 2))
    hubs = rng.uniform(0.0, 1e4, (5, 2))
    packed = rng.random(n) < 0.5
    centres[packed] = hubs[rng.integers(0, 5, packed.sum())] + rng.normal(
        0.0, 1.0, (packed.sum(), 2)
    ) * size_w[packed, None]
    x1 = centres[:, 0] - size_w / 2
    y1 = centres[:, 1] - size_h / 2
    return xywh_to_xyxy(x1, y1, size_w, size_h)


def clustered_boxes(rng, n_objects, copies, field=2000.0):
    """``copies`` jittered detections of each of ``n_objects`` objects, like
    the raw output of a detector; scores higher near the true box."""
    w = rng.uniform(8.0, 300.0, n_objects)
    h = w * 10.0 ** rng.uniform(-0.5, 0.5, n_objects)
    x = rng.uniform(0.0, field, n_objects)
    y = rng.uniform(0.0, field, n_objects)
    obj = np.repeat(np.arange(n_objects), copies)
    jit = rng.normal(0.0, 0.08, (obj.size, 4))
    x1 = x[obj] + jit[:, 0] * w[obj]
    y1 = y[obj] + jit[:, 1] * h[obj]
    ww = w[obj] * np.exp(jit[:, 2])
    hh = h[obj] * np.exp(jit[:, 3])
    boxes = xywh_to_xyxy(x1, y1, ww, hh)
    perm = rng.permutation(obj.size)
    scores = np.clip(1.0 - np.abs(jit).sum(axis=1) + rng.normal(0, 0.05, obj.size), 0, 1)
    return boxes[perm], scores[perm]


def chain_boxes(n, step) -> np.ndarray:
    """n unit-height boxes of width 1, each shifted right by ``step``: greedy
    NMS must keep every k-th, which a non-greedy (transitive) one gets wrong."""
    x = np.arange(n, dtype=np.float64) * step
    return xywh_to_xyxy(x, np.zeros(n), np.ones(n), np.ones(n))


def near_threshold_boxes(rng, thr, n_pairs=150):
    """Pairs of boxes whose IoU lies within a few ulps of ``thr``: shifted
    squares ((s - d) / (s + d) = thr), nested boxes (area ratio = thr) and,
    for thr = 0, boxes touching, overlapping or separated by one ulp."""
    boxes = []
    for k in range(n_pairs):
        ox = 400.0 * (k % 12)
        oy = 400.0 * (k // 12)
        s = rng.uniform(1.0, 100.0)
        kind = k % 3
        eps = (k % 7 - 3) * 1e-7  # relative perturbation, -3e-7 .. 3e-7
        if thr == 0.0:
            gap = [0.0, np.spacing(s), -np.spacing(s), 1e-7 * s, -1e-7 * s][k % 5]
            a = [ox, oy, ox + s, oy + s]
            b = [ox + s + gap, oy, ox + 2 * s + gap, oy + s]
        elif thr >= 1.0:
            a = [ox, oy, ox + s, oy + s]
            b = [ox, oy, ox + s * (1 + abs(eps)), oy + s] if kind else list(a)
        elif kind == 0:  # horizontal shift
            d = s * (1 - thr) / (1 + thr) * (1 + eps)
            a = [ox, oy, ox + s, oy + s]
            b = [ox + d, oy, ox + s + d, oy + s]
        elif kind == 1:  # nested: inner box with area ratio thr
            r = thr * (1 + eps)
            a = [ox, oy, ox + s, oy + s]
            b = [ox, oy, ox + s * r, oy + s]
        else:  # diagonal shift, IoU = (s-d)^2 / (2 s^2 - (s-d)^2)
            q = np.sqrt(2 * thr / (1 + thr))  # (s - d) / s
            d = s * (1 - q) * (1 + eps)
            a = [ox, oy, ox + s, oy + s]
            b = [ox + d, oy + d, ox + s + d, oy + s + d]
        boxes += [a, b]
    boxes = np.asarray(boxes, dtype=np.float64)
    perm = rng.permutation(len(boxes))
    return boxes[perm], rng.uniform(0.0, 1.0, len(boxes))


def _degenerate(rng, n):
    """Valid boxes mixed with zero-width, zero-height, point, inverted and
    'inside-out' boxes placed on top of the valid ones."""
    b = random_boxes(rng, n, field=60.0, min_size=2.0, max_size=30.0)
    kind = rng.integers(0, 6, n)
    zw = kind == 1
    b[zw, 2] = b[zw, 0]
    zh = kind == 2
    b[zh, 3] = b[zh, 1]
    pt = kind == 3
    b[pt, 2:] = b[pt, :2]
    inv = kind == 4  # inverted in x
    b[inv] = b[inv][:, [2, 1, 0, 3]]
    inv2 = kind == 5  # inverted in both: positive "area"
    b[inv2] = b[inv2][:, [2, 3, 0, 1]]
    return b


def _nonfinite(rng, n):
    b = random_boxes(rng, n, field=60.0, min_size=2.0, max_size=30.0)
    specials = np.array([np.nan, np.inf, -np.inf])
    for i in np.nonzero(rng.random(n) < 0.3)[0]:
        which = rng.random(4) < 0.4
        if not which.any():
            which[rng.integers(0, 4)] = True
        b[i, which] = specials[rng.integers(0, 3, which.sum())]
    extra = np.array(
        [
            [-np.inf, -np.inf, np.inf, np.inf],
            [0.0, 0.0, np.inf, np.inf],
            [-np.inf, 0.0, 50.0, 50.0],
            [np.nan, np.nan, np.nan, np.nan],
            [0.0, 0.0, np.inf, 10.0],
            [np.inf, np.inf, np.inf, np.inf],
        ]
    )
    b = np.concatenate([b, extra, extra])
    return b[rng.permutation(len(b))]


def scenario(name, rng, thr=0.5):
    """(boxes, scores, torchvision_comparable) for the named adversarial case."""
    if name == "random":
        b = random_boxes(rng, 400, field=200.0, min_size=5.0, max_size=60.0)
        return b, random_scores(rng, len(b)), True
    if name == "multiscale":
        b = multiscale_boxes(rng, 600)
        return b, random_scores(rng, len(b)), True
    if name == "huge_offset":
        b = random_boxes(rng, 300, field=150.0, min_size=1.0, max_size=50.0)
        b[:150] += 1e6
        b[150:] -= 1e6
        return b, random_scores(rng, len(b)), True
    if name == "huge_coords":
        b = random_boxes(rng, 200, field=1.0, min_size=0.05, max_size=0.5) * 1e30
        b[:40] *= 1e8  # 1e38 scale: finite in float32, areas overflow
        b[40:60] *= -1.0
        b[40:60] = b[40:60][:, [2, 3, 0, 1]]
        return b, random_scores(rng, len(b)), True
    if name == "identical":
        b = np.tile([[10.0, 20.0, 30.5, 41.25]], (300, 1))
        return b, random_scores(rng, len(b)), True
    if name == "identical_tied":
        b = np.tile([[10.0, 20.0, 30.5, 41.25]], (300, 1))
        return b, np.full(len(b), 0.5), True
    if name == "tied_scores":
        b = random_boxes(rng, 500, field=150.0, min_size=5.0, max_size=50.0)
        s = rng.choice(np.array([-0.0, 0.0, 0.25, 0.5, 1.0, -1.0]), len(b))
        return b, s, True
    if name == "degenerate":
        b = _degenerate(rng, 400)
        return b, random_scores(rng, len(b)), True
    if name == "nonfinite_coords":
        b = _nonfinite(rng, 300)
        return b, random_scores(rng, len(b)), True
    if name == "nonfinite_scores":
        b = random_boxes(rng, 400, field=100.0, min_size=5.0, max_size=50.0)
        s = random_scores(rng, len(b))
        s[rng.random(len(b)) < 0.15] = np.nan
        s[rng.random(len(b)) < 0.1] = np.inf
        s[rng.random(len(b)) < 0.1] = -np.inf
        s[rng.random(len(b)) < 0.05] = 0.5  # ties among finite scores too
        return b, s, False  # torchvision ranks NaN first; foveal ranks it last
    if name == "clustered":
        b, s = clustered_boxes(rng, 60, 50)
        return b, s, True
    if name == "chain":
        b = chain_boxes(400, 0.05)
        s = np.linspace(1.0, 0.0, len(b))
        return b, s, True
    if name == "big_and_small":
        big = xywh_to_xyxy(
            rng.uniform(0, 10, 3), rng.uniform(0, 10, 3), np.full(3, 1e4), np.full(3, 1e4)
        )
        sz = 10.0 ** rng.uniform(-3, 3.5, 400)
        small = xywh_to_xyxy(rng.uniform(0, 9e3, 400), rng.uniform(0, 9e3, 400), sz, sz)
        b = np.concatenate([small, big])
        s = np.concatenate([rng.uniform(0, 0.9, 400), [0.95, 0.97, 0.99]])
        return b, s, True
    if name == "near_threshold":
        b, s = near_threshold_boxes(rng, thr)
        return b, s, True
    raise KeyError(name)


SCENARIOS = (
    "random",
    "multiscale",
    "huge_offset",
    "huge_coords",
    "identical",
    "identical_tied",
    "tied_scores",
    "degenerate",
    "nonfinite_coords",
    "nonfinite_scores",
    "clustered",
    "chain",
    "big_and_small",
    "near_threshold",
)


def subnormal_area_boxes(rng, n, dtype):
    """Boxes of ``dtype`` whose areas are a few multiples of the smallest
    subnormal: width and height are normal numbers but width * height rounds
    coarsely, so the IEEE IoU can differ a lot from the exact one. The first
    two boxes are a constructed pair: each area rounds to 1 unit, the
    intersection (0.51 unit) rounds up to 1 unit, so IoU = 1 / (1 + 1 - 1) = 1,
    although geometrically the boxes overlap on only 34% of their width."""
    dtype = np.dtype(dtype)
    e = int(np.log2(np.finfo(dtype).smallest_subnormal))  # -149 or -1074
    h = 2.0 ** (e // 2)
    w = 1.49 * 2.0 ** (e - e // 2)
    d = 0.66 * w
    pair = np.array([[0.0, 0.0, w, h], [d, 0.0, d + w, h]])
    u = 2.0 ** (e / 2)
    xy = rng.uniform(0.0, 10.0, (n, 2))
    wh = rng.uniform(0.5, 3.0, (n, 2))
    rand = np.concatenate([xy, xy + wh], axis=1) * u
    rand[:, 1::2] += 20 * u  # away from the pair
    return np.concatenate([pair, rand]).astype(dtype)


def extreme_coordinate_boxes(dtype):
    """Valid boxes (finite, positive width and height, finite area) at the
    ends of the range of ``dtype``, next to ordinary ones; includes boxes whose
    centre (x1 + x2) / 2 overflows if computed as x1 + x2 first."""
    dtype = np.dtype(dtype)
    m = np.finfo(dtype).max
    lo = np.nextafter(m, dtype.type(0))
    lo2 = np.nextafter(lo, dtype.type(0))
    half = dtype.type(m / 2)
    half2 = np.nextafter(half, dtype.type(m))
    rows = [
        [lo, 0, m, 1],  # 0: at +max, width one ulp
        [-m, 0, -lo, 1],  # 1: at -max
        [0, 0, 1, 1],  # 2
        [0, 0, 1, 1],  # 3: duplicate of 2 -> suppressed by 2
        [lo, 0, m, 1],  # 4: duplicate of 0 -> suppressed by 0
        [lo2, 0, lo, 1],  # 5: next to 0, touching
        [half, -5, half2, 5],  # 6: at max / 2
        [half, -5, half2, 4],  # 7: IoU 0.9 with 6
        [-half2, 0, -half, 1],  # 8
        [0, lo, 1, m],  # 9: at +max in y
        [0, lo, 1, m],  # 10: duplicate of 9
    ]
    return np.array(rows, dtype=dtype)
