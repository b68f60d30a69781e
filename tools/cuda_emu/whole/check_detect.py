"""box_iou_cuda.cu, box_iou_variants_cuda.cu, box_iou_rotated_cuda.cu and anchors_cuda.cu (emulated
whole, see ops_detect.cpp) against foveal.ops' CPU ops.

Every comparison is bit for bit: the kernels and the CPU share the math headers, and both run it in
the same type (float16 in float32, rounded once). float16 is CUDA-only, so its reference is the
CPU's float32 op on the float16 inputs, rounded to float16. What the emulator cannot see: nvcc's
own contraction of a * b + c into FMA (the CPU build may or may not fuse the same products), so on
the device the non-16-bit results may differ in the last bit; these checks find logic errors."""
import numpy as np

import foveal.ops as fops
from foveal.ops._anchors import _cells, _level_groups
from emu import call, check, report

rng = np.random.default_rng(23)
F16, F32, F64 = np.float16, np.float32, np.float64


def boxes(shape, dt, degenerate=True):
    xy = rng.uniform(-20, 200, shape + (2,))
    wh = rng.uniform(0.5, 90, shape + (2,))
    b = np.concatenate([xy, xy + wh], -1)
    if degenerate and b.reshape(-1, 4).shape[0] >= 8:
        f = b.reshape(-1, 4)
        f[1, 2] = f[1, 0]  # zero width
        f[3, 2:] = f[3, :2] - 1  # inverted
        f[5] = f[4]  # a duplicate
        f[6, 0] = np.nan
        f[7, 3] = np.inf
    return b.astype(dt)


def same(got, want):
    return got.shape == want.shape and got.dtype == want.dtype and np.array_equal(got, want, equal_nan=True)


def ref(fn, b1, b2, dt, *extra):
    if dt == F16:  # CUDA-only: the CPU in float32 on the same values, rounded once
        return fn(b1.astype(F32), b2.astype(F32), *extra).astype(F16)
    return fn(b1, b2, *extra)


# ---- box_iou: columns in 128-thread blocks (m crosses 128, 256), rows in 16-row blocks (n crosses
# 16), the row loop past the 65535-block y grid (n > 65535 * 16) and the batch loop past the
# 65535-block z grid (more than 65535 batches).
VARIANTS = ((0, lambda a, b: fops.generalized_box_iou(a, b)), (1, lambda a, b, e=1e-7: fops.distance_box_iou(a, b, e)),
            (2, lambda a, b, e=1e-7: fops.complete_box_iou(a, b, e)))
for dt in (F32, F64, F16):
    for lead, n, m in (((), 1, 1), ((), 17, 129), ((), 40, 300), ((3,), 33, 130), ((2, 3), 16, 5), ((2,), 0, 7)):
        b1, b2 = boxes(lead + (n,), dt), boxes(lead + (m,), dt)
        want = ref(fops.box_iou, b1, b2, dt)
        got = call("box_iou", boxes1=b1, boxes2=b2, outputs={"out": (lead + (n, m), np.dtype(dt).name)})["out"]
        check(n == 0 or same(got, want), "box_iou", dt.__name__, lead, n, m)
        for kind, fn in VARIANTS:
            for eps in ((0.0,) if kind == 0 else (1e-7, 0.5)):
                extra = () if kind == 0 else (eps,)
                want = ref(fn, b1, b2, dt, *extra)
                got = call("box_iou_variant", kind=kind, boxes1=b1, boxes2=b2, eps=eps,
                           outputs={"out": (lead + (n, m), np.dtype(dt).name)})["out"]
                check(n == 0 or same(got, want), "box_iou_variant", kind, eps, dt.__name__, lead, n, m)
# past the grid caps: y (rows) and z (batches)
b1, b2 = boxes((65535 * 16 + 21,), F32, False), boxes((1,), F32, False)
got = call("box_iou", boxes1=b1, boxes2=b2, outputs={"out": ((b1.shape[0], 1), "float32")})["out"]
check(same(got, fops.box_iou(b1, b2)), "box_iou rows past the y grid")
got = call("box_iou_variant", kind=2, boxes1=b1, boxes2=b2, eps=1e-7,
           outputs={"out": ((b1.shape[0], 1), "float32")})["out"]
check(same(got, fops.complete_box_iou(b1, b2)), "complete_box_iou rows past the y grid")
b1, b2 = boxes((65535 + 9, 1), F64, False), boxes((65535 + 9, 2), F64, False)
got = call("box_iou", boxes1=b1, boxes2=b2, outputs={"out": ((b1.shape[0], 1, 2), "float64")})["out"]
check(same(got, fops.box_iou(b1, b2)), "box_iou batches past the z grid")
got = call("box_iou_variant", kind=1, boxes1=b1, boxes2=b2, eps=1e-7,
           outputs={"out": ((b1.shape[0], 1, 2), "float64")})["out"]
check(same(got, fops.distance_box_iou(b1, b2)), "distance_box_iou batches past the z grid")


# ---- box_iou_rotated: one thread per pair, 256-thread blocks; float32 / float64 only.
def rboxes(n, dt):
    b = np.stack([rng.uniform(0, 60, n), rng.uniform(0, 60, n), rng.uniform(1, 30, n), rng.uniform(1, 30, n),
                  rng.uniform(-180, 180, n)], 1)
    if n >= 8:
        b[1, 2] = 0  # zero width
        b[2] = b[0]  # identical
        b[3, 4] = b[0, 4] + 90
        b[3, :2], b[3, 2:4] = b[0, :2], b[0, 3:1:-1]  # the same box turned by 90 degrees
        b[5, 0] = np.nan
        b[6, 4] = np.inf
        b[7, 3] = -4
    return b.astype(dt)


for dt in (F32, F64):
    for n, m in ((1, 1), (9, 30), (23, 45)):
        b1, b2 = rboxes(n, dt), rboxes(m, dt)
        got = call("box_iou_rotated", boxes1=b1, boxes2=b2, outputs={"out": ((n, m), np.dtype(dt).name)})["out"]
        # The documented rule, which math/rotated.hpp implements: a box with a non-finite value has
        # IoU NaN with every box. The CPU's bounding-box shortcut (box_iou_rotated_cpu.cpp) writes 0
        # instead where the other axis alone shows the boxes apart (NaN or inf cx, say): a CPU bug,
        # reported, so the reference takes the documented NaN for those pairs.
        want = fops.box_iou_rotated(b1, b2)
        bad1, bad2 = ~np.isfinite(b1).all(1), ~np.isfinite(b2).all(1)
        want[bad1[:, None] | bad2[None, :]] = np.nan
        check(same(got, want), "box_iou_rotated", dt.__name__, n, m)


# ---- anchor_grid: one launch per level (empty levels skipped; the cell and output offsets walk the
# levels), 256-thread blocks over rows * cols * cells, both styles, and shifts past float's 2^24 and
# float16's 2048 (the shift is an int32 converted to the storage type first, as torch adds them).
def anchors_ref(feature_sizes, strides, sizes, ratios, style, dt):
    if dt != F16:
        return fops.anchor_grid(feature_sizes, strides, sizes, ratios, style=style, dtype=np.dtype(dt).name)
    s, r = _level_groups("t", sizes, ratios)
    cells, counts = _cells(1 if style == "matterport" else 0, s, r)
    cells = cells.astype(F32).astype(F16).astype(F32)
    out, c0 = [], 0
    np.seterr(over="ignore")  # float16 shifts past 65504 are inf, on the device too
    for (fh, fw), (sy, sx), a in zip(feature_sizes, strides, counts):
        i, j = np.meshgrid(np.arange(fh), np.arange(fw), indexing="ij")
        shy = (i * sy).astype(np.int32).astype(F32).astype(F16).astype(F32).reshape(-1, 1, 1)
        shx = (j * sx).astype(np.int32).astype(F32).astype(F16).astype(F32).reshape(-1, 1, 1)
        u, v = (shy, shx) if style == "matterport" else (shx, shy)
        sh = np.concatenate([u, v, u, v], -1)
        out.append((sh + cells[c0:c0 + a][None]).reshape(-1, 4).astype(F16))
        c0 += a
    return np.concatenate(out, 0)


ANCHOR_CASES = (
    ([(5, 7)], [(16, 16)], ((32, 64),), ((0.5, 1.0, 2.0),)),
    ([(3, 4), (0, 5), (11, 13), (1, 1)], [(8, 8), (16, 16), (4, 3), (64, 64)],
     ((16,), (32,), (48, 64), (128,)), ((0.5, 1.0, 2.0), (1.0,), (0.5, 2.0), (1.0, 3.0))),
    ([(20, 20)], [(4, 4)], ((8, 16),), ((0.25, 0.5, 1.0, 2.0),)),  # 2400 anchors: several blocks
    ([(2, 3), (3, 2)], [(3000, 16777221), (1, 2049)], ((10,), (20,)), ((1.0,), (1.0, 2.0))),  # big shifts
)
for dt in (F32, F64, F16):
    for style in ("torchvision", "matterport"):
        for feature_sizes, strides, sizes, ratios in ANCHOR_CASES:
            want = anchors_ref(feature_sizes, strides, sizes, ratios, style, dt)
            s, r = _level_groups("t", sizes, ratios)
            cells, counts = _cells(1 if style == "matterport" else 0, s, r)
            cells = cells.astype(F32 if dt == F16 else dt).astype(dt)
            levels = [x for (fh, fw), (sy, sx), a in zip(feature_sizes, strides, counts) for x in (fh, fw, sy, sx, a)]
            got = call("anchor_grid", cells=cells, levels=levels, style=int(style == "matterport"),
                       outputs={"out": (want.shape, np.dtype(dt).name)})["out"]
            check(same(got, want), "anchor_grid", dt.__name__, style, feature_sizes, strides)
report("detect")
