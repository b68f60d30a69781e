"""roi_align_cuda.cu, roi_pool_cuda.cu and roi_align_rotated_cuda.cu (emulated whole, see ops_roi.cpp)
against foveal.ops' CPU ops and torchvision's CPU roi_align / MultiScaleRoIAlign.

Forward RoIAlign sums a bin's samples in torchvision's order (see the .cu header), so it must equal
torchvision's CPU result bit for bit (float32 / float64; the 16-bit types are computed in float32
and rounded once, so they equal torchvision's float32 result on the widened map, rounded). foveal's
CPU roi_align sums separably (roi_align_cpu.cpp), so it is compared within a bound: both are
convex combinations of map values averaged over G samples, each within (G + 4) u max|x| of the
exact value (recursive summation, u the unit roundoff), hence |cuda - cpu| <= 2 (G + 4) u max|x|.
RoIPool's forward picks values (exact in every dtype) and the argmax, bit for bit. Backward passes
add with atomics in thread order (the emulator shuffles the CUDA threads): on dyadic inputs every
sum is exact, so those must be equal bit for bit; on random inputs a pixel's n terms summed in two
orders differ by at most 2 (n - 1) u S, S the sum of the terms' magnitudes (the backward of
|grad_output|, weights being non-negative), plus one rounding of the 16-bit result."""
import os
import time

import numpy as np
import torch
import torchvision

import foveal.ops as fops
from emu import bf16, bf16_to_float, call, check, report

torch.set_num_threads(1)
T0 = [time.time()]


def tick(what):
    now = time.time()
    print(f"  {what}: {now - T0[0]:.1f} s", flush=True)
    T0[0] = now


rng = np.random.default_rng(7)
DTYPES = ("float32", "float64", "float16", "bfloat16")
U = {"float32": 2.0**-24, "float64": 2.0**-53, "float16": 2.0**-24, "bfloat16": 2.0**-24}  # math type's u


def storage(a, dt):
    """(argument for call, the values it holds as float64)."""
    if dt == "bfloat16":
        b = bf16(a)
        return b, bf16_to_float(b.bits).astype(np.float64)
    v = np.asarray(a).astype(dt)
    return v, v.astype(np.float64)


def rounded(ref32, dt):
    """The device's one rounding of a float32 (or float64) result into dt, as float64."""
    if dt == "bfloat16":
        return bf16_to_float(bf16(np.asarray(ref32, np.float32)).bits).astype(np.float64)
    with np.errstate(over="ignore"):  # -FLT_MAX (a bin of only NaN / -inf) is -inf in float16
        return np.asarray(ref32).astype(dt).astype(np.float64)


def math_np(dt):
    return np.float64 if dt == "float64" else np.float32


def rois_dtype(dt):
    return np.float64 if dt == "float64" else np.float32


def random_boxes(k, n, h, w, scale, frac_out=0.3):
    """(K, 5) RoIs in image coordinates: many inside, some across or beyond the map, tiny, empty
    (x1 == x2) and inverted ones."""
    H, W = h / scale, w / scale
    x1 = rng.uniform(-0.3 * W, 1.1 * W, k)
    y1 = rng.uniform(-0.3 * H, 1.1 * H, k)
    bw = rng.uniform(0.0, 0.8 * W, k) * (rng.random(k) > 0.1)
    bh = rng.uniform(0.0, 0.8 * H, k) * (rng.random(k) > 0.1)
    r = np.stack([rng.integers(0, n, k), x1, y1, x1 + bw, y1 + bh], 1)
    inv = rng.random(k) < 0.05
    r[inv, 3], r[inv, 1] = r[inv, 1], r[inv, 3]
    far = rng.random(k) < frac_out * 0.3
    r[far, 1:] += 3 * max(H, W)
    return r


def grid_of(r, scale, ph, pw, ratio, aligned):
    """Samples per bin of every RoI, as math::roi_align_bins (in float64: a bound, not a check)."""
    if ratio > 0:
        return np.full(len(r), ratio * ratio, np.float64)
    off = 0.5 if aligned else 0.0
    rw = (r[:, 3] - r[:, 1]) * scale
    rh = (r[:, 4] - r[:, 2]) * scale
    if not aligned:
        rw, rh = np.maximum(rw, 1), np.maximum(rh, 1)
    del off
    return np.maximum(np.ceil(rh / ph), 0) * np.maximum(np.ceil(rw / pw), 0)


def tv_align(xv, r, ph, pw, scale, ratio, aligned, dt):
    t = torch.float64 if dt == "float64" else torch.float32
    return torchvision.ops.roi_align(torch.tensor(xv, dtype=t), torch.tensor(r, dtype=t), (ph, pw), scale, ratio,
                                     aligned).numpy().astype(np.float64)


def cuda_align(x, r, ph, pw, scale, ratio, aligned, dt):
    n, c = x.shape[:2]
    xa, xv = storage(x, dt)
    got = call("roi_align", input=xa, rois=r.astype(rois_dtype(dt)), spatial_scale=scale, sampling_ratio=ratio,
               aligned=int(aligned), outputs={"out": ((len(r), c, ph, pw), dt)})
    return got["out"].astype(np.float64), xv, got["_launches"]


def align_case(what, x, r, ph, pw, scale, ratio, aligned, dts=DTYPES, bad=None):
    """roi_align on the emulated device against torchvision (bit for bit) and foveal's CPU op (the
    bound above). `bad`: rows whose batch index is invalid (the device gives zeros, the CPU refuses)."""
    ok_rows = np.ones(len(r), bool) if bad is None else ~bad
    for dt in dts:
        got, xv, _ = cuda_align(x, r, ph, pw, scale, ratio, aligned, dt)
        rd = r.astype(rois_dtype(dt)).astype(np.float64)
        want = np.zeros_like(got)
        # torchvision cannot take an aligned RoI of negative extent with an adaptive grid (its grid
        # is negative); foveal gives it no samples (zeros), and the CPU comparison below covers it
        tv_rows = ok_rows & ~(aligned & (ratio <= 0) & ((rd[:, 3] < rd[:, 1]) | (rd[:, 4] < rd[:, 2])))
        if tv_rows.any():
            tv = tv_align(xv, rd[tv_rows], ph, pw, scale, ratio, aligned, dt)
            want[tv_rows] = rounded(tv, dt) if dt in ("float16", "bfloat16") else tv
        check(np.array_equal(got, want), "roi_align vs torchvision", what, dt, ratio, aligned,
              np.abs(got - want).max() if got.size else 0)
        if dt in ("float32", "float64") and ok_rows.any():
            cpu = fops.roi_align(xv.astype(dt), rd[ok_rows].astype(dt), (ph, pw), scale, ratio, aligned)
            g = grid_of(rd[ok_rows], scale, ph, pw, ratio, aligned)
            tol = 2 * (g.max() + 4) * U[dt] * max(np.abs(xv).max(), 1e-300)
            check(np.abs(got[ok_rows] - cpu).max() <= tol, "roi_align vs CPU", what, dt, ratio, aligned)
        if bad is not None:
            check(np.all(got[bad] == 0) and not np.signbit(got[bad]).any(), "roi_align bad rows", what, dt)


# ---- roi_align forward --------------------------------------------------------------------------
N, C, H, W = 2, 2, 13, 17
x = rng.normal(0, 2, (N, C, H, W))
for scale, k in ((0.5, 16), (1.0, 40)):  # K = 40: two RoI chunks per channel (cap (K + 31) / 32)
    r = random_boxes(k, N, H, W, scale)
    for ratio in (-1, 0, 2):
        for aligned in (False, True):
            align_case(f"random scale {scale}", x, r, 4, 3, scale, ratio, aligned,
                       dts=("float32", "float64") if ratio == 0 else ("float32", DTYPES[2 + aligned]))
tick("roi_align random")

# Lane layouts of align_roi: per_pass / span / groups / y_shared for (PH, PW, grid) combinations,
# bins wider than a warp's columns, and the fallback (grid wider than 32 or taller than 64).
xs = rng.normal(0, 1, (1, 1, 136, 140))


def roi_wh(w, h, x0=3.25, y0=2.5):
    return np.array([[0, x0, y0, x0 + w, y0 + h]])


for what, r, ph, pw, ratio in (
        ("gw 1 pw 40 (32 bins a pass, two passes)", roi_wh(38, 5), 3, 40, -1),
        ("gw 5: 6 bins a pass, 2 passes, 1 row group, rows not shared", roi_wh(34, 34), 7, 7, -1),
        ("gw 3 gh 3: 3 bins a pass, 3 row groups (7 rows: a partial group)", roi_wh(9, 20), 7, 3, -1),
        ("gw 2 gh 2: 16 bins, 2 groups, rows shared", roi_wh(11, 11), 7, 7, 2),
        ("gw 32 exactly, gh 64 exactly (warp path limits)", roi_wh(32, 64, 1, 1), 1, 1, -1),
        ("gw 33 (fallback)", roi_wh(66, 8), 2, 2, -1),
        ("gh 65 (fallback)", roi_wh(4, 130, 1, 1), 2, 2, -1),
        ("ratio 70 (fallback, sample range narrowed), across the edge", np.array([[0, -30, -9, 150, 45]]), 3, 2, 70),
        ("one bin", roi_wh(9, 7), 1, 1, -1),
        ("ph * gh = 32 exactly (y taps shared at the limit), 8 row groups", roi_wh(4, 16), 16, 2, 2),
        ("33 bins of 1 sample in a row: a pass of 32 and one of 1", roi_wh(33, 2), 1, 33, 1)):
    for i, aligned in enumerate((False, True)):
        align_case(what, xs, r.astype(np.float64), ph, pw, 1.0, ratio, aligned,
                   dts=(DTYPES[(i + len(what)) % 4],) if "exactly" in what else ("float32", DTYPES[1 + i + len(what) % 2]))
tick("roi_align lane layouts")

# RoI chunks and warps: K = 100 on 2 channels: 4 chunks of 25 RoIs (more than 24 or 16 warps: a warp
# takes two); K = 1; and with a 1-SM device (EMU_SMS) the by-size branch: 600 RoIs on 4
# channels, 2 chunks of 300 (a warp takes up to 13).
r100 = random_boxes(100, N, H, W, 1.0)
align_case("K 100", x[:, :1], r100, 2, 2, 1.0, -1, False, dts=("float32", "float64"))
align_case("K 1", x, r100[:1], 5, 4, 1.0, 0, True)
os.environ["EMU_SMS"] = "1"
align_case("K 600 on 1 SM (by-size chunks)", rng.normal(0, 1, (2, 2, 9, 9)), random_boxes(600, 2, 9, 9, 1.0),
           1, 1, 1.0, 1, False, dts=("float32", "float64"))
os.environ["EMU_SMS"] = "7"
align_case("K 70 on 7 SMs", x, random_boxes(70, N, H, W, 1.0), 2, 3, 1.0, -1, True, dts=("float32", "bfloat16"))
del os.environ["EMU_SMS"]
tick("roi_align chunks")

# Batch indices the device refuses quietly (the CPU front end rejects them): zeros.
rb = random_boxes(12, N, H, W, 1.0)
rb[[1, 4, 7, 9, 11], 0] = [-1, N, 0.5, np.nan, 1e9]
bad = np.zeros(12, bool)
bad[[1, 4, 7, 9, 11]] = True
align_case("bad batch indices", x, rb, 3, 3, 1.0, 2, False, bad=bad)

# An empty map (H or W = 0; the front end passes it on when the output is not empty): every sample
# is off the map, so the output is 0. RoIs near the origin put samples in [-1, 0], which
# bilinear_axis clamps onto pixel -1 of a zero-row map.
for shape in ((1, 2, 0, 5), (1, 2, 5, 0)):
    re = np.array([[0, -0.5, -0.5, 0.2, 0.2], [0, -0.9, -0.2, 0.0, 0.1]])
    for dt in DTYPES:
        for aligned in (False, True):
            try:
                got, _, _ = cuda_align(np.zeros(shape), re, 2, 2, 1.0, -1, aligned, dt)
                check(np.all(got == 0), "roi_align empty map", shape, dt, aligned)
            except RuntimeError as e:  # a crash or an AddressSanitizer report
                check(False, "roi_align empty map", shape, dt, aligned, str(e)[-300:])

# ---- multi_scale_roi_align ------------------------------------------------------------------------


def cuda_msra(maps, r, img_h, ph, pw, ratio, cs, cl, aligned, dt):
    args, vals = {}, []
    for i, m in enumerate(maps):
        a, v = storage(m, dt)
        args[f"f{i}"] = a
        vals.append(v)
    got = call("multi_scale_roi_align", **args, levels=len(maps), image_height=img_h,
               rois=r.astype(rois_dtype(dt)), sampling_ratio=ratio, canonical_scale=cs, canonical_level=cl,
               aligned=int(aligned), outputs={"out": ((len(r), maps[0].shape[1], ph, pw), dt)})
    return got["out"].astype(np.float64), vals


def tv_msra(vals, r, img, ph, pw, ratio, cs, cl, dt):
    t = torch.float64 if dt == "float64" else torch.float32
    names = [f"p{i}" for i in range(len(vals))]
    m = torchvision.ops.MultiScaleRoIAlign(names, (ph, pw), ratio, canonical_scale=cs, canonical_level=cl)
    feats = {k: torch.tensor(v, dtype=t) for k, v in zip(names, vals)}
    n = vals[0].shape[0]
    boxes = [torch.tensor(r[r[:, 0] == b, 1:], dtype=t) for b in range(n)]
    return m(feats, boxes, [img] * n).numpy().astype(np.float64)


def msra_case(what, maps, r, img, ph, pw, ratio, cs=224, cl=4, aligned=False, dts=DTYPES):
    r = r[np.argsort(r[:, 0], kind="stable")]  # torchvision returns RoIs image by image
    for dt in dts:
        got, vals = cuda_msra(maps, r, img[0], ph, pw, ratio, cs, cl, aligned, dt)
        rd = r.astype(rois_dtype(dt)).astype(np.float64)
        if not aligned:  # torchvision's MultiScaleRoIAlign has no `aligned`
            want = tv_msra(vals, rd, img, ph, pw, ratio, cs, cl, dt)
            want = rounded(want, dt) if dt in ("float16", "bfloat16") else want
            check(np.array_equal(got, want), "msra vs torchvision", what, dt, ratio,
                  np.abs(got - want).max())
        if dt in ("float32", "float64"):
            cpu = fops.multi_scale_roi_align([v.astype(dt) for v in vals], rd.astype(dt), [img], (ph, pw), ratio,
                                             cs, cl, aligned=aligned)
            g = max(grid_of(rd, s, ph, pw, ratio, aligned).max() for s in (1.0, 0.5, 0.25, 0.125, 1 / 16))
            tol = 2 * (g + 4) * U[dt] * max(max(np.abs(v).max() for v in vals), 1e-300)
            check(np.abs(got - cpu).max() <= tol, "msra vs CPU", what, dt, ratio, aligned)


def pyramid_boxes(k, n, img):
    """RoIs of every size: sqrt(area) from 2 to 2 * img, so every level and both clamps are hit."""
    s = np.exp(rng.uniform(np.log(2), np.log(2.5 * img), k))
    asp = np.exp(rng.uniform(-0.7, 0.7, k))
    bw, bh = s * asp, s / asp
    x1 = rng.uniform(-0.1 * img, np.maximum(img - bw / 2, 0))
    y1 = rng.uniform(-0.1 * img, np.maximum(img - bh / 2, 0))
    return np.stack([rng.integers(0, n, k), x1, y1, x1 + bw, y1 + bh], 1)


img = (64, 60)
pyr = [rng.normal(0, 1, (2, 1, 64 >> l, 60 >> l)) for l in range(2, 6)]  # strides 4 .. 32: levels 2 .. 5
rp = pyramid_boxes(40, 2, 64)  # 2 RoI chunks of 20 on 16 warps: some warps take two
for ratio, dts in ((-1, ("float32", "float64")), (0, ("float32", "float16")), (2, ("float32", "bfloat16"))):
    msra_case("4 levels", pyr, rp, img, 3, 4, ratio, cs=16, cl=3, dts=dts)
msra_case("4 levels aligned", pyr, rp, img, 3, 3, 2, cs=16, cl=3, aligned=True, dts=("float32",))
msra_case("1 level", pyr[:1], rp[:12], img, 2, 2, -1, cs=16, cl=3, dts=("float64",))
# a pyramid skipping a level (strides 4 and 16: k in [2, 4], index 2 past the list) and RoIs of
# negative area (x2 < x1, y2 >= y1: sqrt NaN): pooled from no level, zeros
rz = rp[:20].copy()
rz[::5, 3] = rz[::5, 1] - 3
msra_case("skipped level, negative areas", [pyr[0], pyr[2]], rz, img, 2, 3, 2, cs=16, cl=3,
          dts=("float32", "bfloat16"))
tick("multi_scale_roi_align")

# ---- roi_align backward -----------------------------------------------------------------------------


def cuda_align_back(g, r, shape, scale, ratio, aligned, dt):
    ga, gv = storage(g, dt)
    got = call("roi_align_backward", grad_output=ga, rois=r.astype(rois_dtype(dt)), spatial_scale=scale,
               sampling_ratio=ratio, aligned=int(aligned), outputs={"grad_input": (shape, dt)})
    return got["grad_input"].astype(np.float64), gv


def align_back_case(what, g, r, shape, scale, ratio, aligned, exact, dts=DTYPES, bad=None):
    ok = np.ones(len(r), bool) if bad is None else ~bad
    for dt in dts:
        got, gv = cuda_align_back(g, r, shape, scale, ratio, aligned, dt)
        rd = r.astype(rois_dtype(dt)).astype(np.float64)
        md = "float64" if dt == "float64" else "float32"
        cpu = fops.roi_align_backward(gv[ok].astype(md), rd[ok].astype(md), shape, g.shape[2:], scale, ratio, aligned)
        want = rounded(cpu, dt)
        if exact:
            check(np.array_equal(got, want), "roi_align_backward exact", what, dt, ratio, aligned)
        else:
            s = fops.roi_align_backward(np.abs(gv[ok]), rd[ok], shape, g.shape[2:], scale, ratio, aligned)
            n = ok.sum() * g.shape[2] * g.shape[3] * grid_of(rd[ok], scale, *g.shape[2:], ratio, aligned).max() * 4
            tol = 2 * n * U[dt] * s + (np.abs(want) * 2.0**-7 if dt == "bfloat16" else
                                       np.abs(want) * 2.0**-10 if dt == "float16" else 0)
            check(np.all(np.abs(got - want) <= tol), "roi_align_backward", what, dt, ratio, aligned,
                  np.abs(got - want).max())


shape = (N, C, H, W)
for ratio in (-1, 0, 2):
    for aligned in (False, True):
        r = random_boxes(20, N, H, W, 0.5)
        align_back_case("random", rng.normal(0, 1, (20, C, 4, 3)), r, shape, 0.5, ratio, aligned, False)
# Dyadic: corners on quarter pixels, bins of 2 pixels, 2 x 2 samples (count 4), integer gradients:
# every weight and term is a multiple of 1/64, so any order of atomics sums exactly.
k = 30
x0 = rng.integers(-8, 4 * W, k) / 4
y0 = rng.integers(-8, 4 * H, k) / 4
rq = np.stack([rng.integers(0, N, k), x0, y0, x0 + 4, y0 + 6], 1)
gq = rng.integers(-8, 9, (k, C, 3, 2)).astype(np.float64)
align_back_case("dyadic, overlapping", gq, rq, shape, 1.0, 2, False, True)
align_back_case("dyadic, aligned", gq, rq + [0, 0.5, 0.5, 0.5, 0.5], shape, 1.0, 2, True, True)
bad = np.zeros(k, bool)
bad[[0, 3, 17]] = True
rqb = rq.copy()
rqb[[0, 3, 17], 0] = [-1, N, 1.5]
align_back_case("dyadic, bad batch indices", gq, rqb, shape, 1.0, 2, False, True, bad=bad)
# grad_output of more than one block of 256 threads (2 x 3 x 7 x 7 x 30 = 8820 elements)
align_back_case("8820 elements", rng.normal(0, 1, (30, C, 7, 7)), random_boxes(30, N, H, W, 1.0), shape, 1.0, -1,
                False, False, dts=("float32", "float16"))

tick("roi_align_backward")

# ---- roi_pool forward / backward --------------------------------------------------------------------


def cuda_pool(x, r, ph, pw, scale, seed, dt, argmax=True):
    xa, xv = storage(x, dt)
    outs = {"out": ((len(r), x.shape[1], ph, pw), dt)}
    if argmax:
        outs["argmax"] = ((len(r), x.shape[1], ph, pw), "int64")
    got = call("roi_pool", input=xa, rois=r.astype(rois_dtype(dt)), spatial_scale=scale, seed=int(seed),
               outputs=outs)
    return got["out"].astype(np.float64), got.get("argmax"), xv


def pool_case(what, x, r, ph, pw, scale, seed, dts=DTYPES, bad=None):
    ok = np.ones(len(r), bool) if bad is None else ~bad
    for dt in dts:
        md = "float64" if dt == "float64" else "float32"
        for with_argmax in (True, False) if dt == "float32" else (True,):  # without: a null argmax
            got, am, xv = cuda_pool(x, r, ph, pw, scale, seed, dt, with_argmax)
            rd = r.astype(rois_dtype(dt)).astype(np.float64)
            want, wam = np.zeros_like(got), np.full(got.shape, -1, np.int64)
            if ok.any():
                w, a = fops.roi_pool(xv.astype(md), rd[ok].astype(md), (ph, pw), scale,
                                     bins="seed" if seed else "torchvision", return_argmax=True)
                want[ok], wam[ok] = rounded(w, dt), a
            check(np.array_equal(got, want, equal_nan=True), "roi_pool", what, dt, seed, with_argmax)
            if with_argmax:
                check(np.array_equal(am, wam), "roi_pool argmax", what, dt, seed)


def pool_map(shape, kind):
    if kind == "ties":  # few distinct values: the first maximum in row-major order must win
        return rng.integers(0, 3, shape).astype(np.float64)
    v = rng.normal(0, 1, shape)
    if kind == "specials":  # NaN never wins; a bin of only -inf / NaN holds -FLT_MAX (argmax -1)
        v[rng.random(shape) < 0.1] = np.nan
        v[rng.random(shape) < 0.1] = -np.inf
        v[..., 2:6, 3:9] = -np.inf
        v[..., 3:5, 4:7] = np.nan
    return v


xp = {kind: pool_map((2, 3, 24, 150), kind) for kind in ("normal", "ties", "specials")}
for kind in ("normal", "ties", "specials"):
    for seed in (False, True):
        r = random_boxes(24, 2, 24, 150, 1.0)
        # 1 to 4 staged slots of 32 columns, then wider than 128 columns: the scanning fallback
        r[:8, 1] = np.clip(r[:8, 1], 0, 10)
        r[:8, 3] = r[:8, 1] + np.array([1, 31, 40, 70, 100, 127, 128, 140])
        pool_case(f"{kind}", xp[kind], r, 5, 3, 1.0, seed, dts=DTYPES if kind != "ties" else ("float32", "bfloat16"))
# Tall bins (rows in fours and a remainder), one bin row (a pass of 1 row), scale 0.5, K 100 in
# chunks, bad batch indices.
pool_case("tall bins", xp["normal"], np.array([[0, 2, 0, 40, 23], [1, 0, 1, 127, 22], [1, 5, 3, 9, 17]]), 2, 3, 1.0,
          False)
pool_case("one bin row", xp["normal"], random_boxes(10, 2, 24, 150, 1.0), 1, 4, 1.0, False, dts=("float32",))
pool_case("scale 0.5, K 100", xp["normal"][:, :2], random_boxes(100, 2, 24, 150, 0.5), 3, 3, 0.5, False,
          dts=("float32", "float64"))
rb = random_boxes(10, 2, 24, 150, 1.0)
rb[[2, 5], 0] = [-1, 2]
bad = np.zeros(10, bool)
bad[[2, 5]] = True
pool_case("bad batch indices", xp["normal"], rb, 2, 2, 1.0, False, bad=bad)


def pool_back_case(what, g, r, am, shape, exact, dts=DTYPES):
    keep = (am >= 0) & (am < shape[2] * shape[3])  # the CPU front end refuses the others
    for dt in dts:
        ga, gv = storage(g, dt)
        got = call("roi_pool_backward", grad_output=ga, rois=r.astype(rois_dtype(dt)), argmax=am,
                   outputs={"grad_input": (shape, dt)})["grad_input"].astype(np.float64)
        md = "float64" if dt == "float64" else "float32"
        want = rounded(fops.roi_pool_backward(gv.astype(md), r.astype(md), np.where(keep, am, -1), shape), dt)
        if exact:
            check(np.array_equal(got, want), "roi_pool_backward exact", what, dt)
        else:
            s = fops.roi_pool_backward(np.abs(gv), r, np.where(keep, am, -1), shape)
            tol = 2 * am.size * U[dt] * s + np.abs(want) * (2.0**-7 if dt == "bfloat16" else
                                                            2.0**-10 if dt == "float16" else 0)
            check(np.all(np.abs(got - want) <= tol), "roi_pool_backward", what, dt)


rpool = random_boxes(40, 2, 24, 150, 1.0)
_, amp = fops.roi_pool(xp["ties"], rpool, (3, 3), 1.0, return_argmax=True)
am_bad = amp.copy()
am_bad.reshape(-1)[::13] = 24 * 150  # out of the plane: skipped on the device
am_bad.reshape(-1)[5::17] = -7
pool_back_case("integer gradients (exact)", rng.integers(-8, 9, amp.shape).astype(np.float64), rpool, am_bad,
               (2, 3, 24, 150), True)
pool_back_case("random gradients", rng.normal(0, 1, amp.shape), rpool, amp, (2, 3, 24, 150), False)

tick("roi_pool")

# ---- roi_align_rotated forward / backward ----------------------------------------------------------


def rotated_boxes(k, n, h, w, scale):
    H, W = h / scale, w / scale
    r = np.stack([rng.integers(0, n, k), rng.uniform(-0.2 * W, 1.2 * W, k), rng.uniform(-0.2 * H, 1.2 * H, k),
                  rng.uniform(0, 0.7 * W, k), rng.uniform(0, 0.7 * H, k),
                  rng.choice([0, 90, -90, 180, 30, -45, 123.4, 720], k)], 1)
    r[::9, 3:5] = 0  # empty
    return r


def rotated_case(what, x, r, ph, pw, scale, ratio, aligned, bad=None):
    ok = np.ones(len(r), bool) if bad is None else ~bad
    for dt in ("float32", "float64"):
        got = call("roi_align_rotated", input=x.astype(dt), rois=r.astype(dt), spatial_scale=scale,
                   sampling_ratio=ratio, aligned=int(aligned),
                   outputs={"out": ((len(r), x.shape[1], ph, pw), dt)})["out"].astype(np.float64)
        want = np.zeros_like(got)
        if ok.any():
            want[ok] = fops.roi_align_rotated(x.astype(dt), r[ok].astype(dt), (ph, pw), scale, ratio, aligned)
        # the CPU multiplies by 1 / count, the device divides: equal when count is a power of two
        tol = 0 if ratio in (1, 2) else 4 * U[dt] * np.abs(want)
        check(np.all(np.abs(got - want) <= tol), "roi_align_rotated", what, dt, ratio, aligned)


def rotated_back_case(what, g, r, shape, scale, ratio, aligned, exact):
    for dt in ("float32", "float64"):
        got = call("roi_align_rotated_backward", grad_output=g.astype(dt), rois=r.astype(dt), spatial_scale=scale,
                   sampling_ratio=ratio, aligned=int(aligned),
                   outputs={"grad_input": (shape, dt)})["grad_input"].astype(np.float64)
        want = fops.roi_align_rotated_backward(g.astype(dt), r.astype(dt), shape, scale, ratio, aligned)
        if exact:
            check(np.array_equal(got, want), "roi_align_rotated_backward exact", what, dt)
        else:
            s = fops.roi_align_rotated_backward(np.abs(g), r, shape, scale, ratio, aligned)
            n = len(r) * g.shape[2] * g.shape[3] * 4 * (ratio * ratio if ratio > 0 else 64)
            # + the CPU's g * (1 / count) against the device's g / count: one more rounding a term
            tol = (2 * n + 2) * U[dt] * s
            check(np.all(np.abs(got - want) <= tol), "roi_align_rotated_backward", what, dt)


xr = rng.normal(0, 1, (2, 3, 12, 15))
for ratio in (-1, 0, 2):
    for aligned in (False, True):
        rr = rotated_boxes(25, 2, 12, 15, 0.5)
        rotated_case("random", xr, rr, 3, 4, 0.5, ratio, aligned)
        rotated_back_case("random", rng.normal(0, 1, (25, 3, 3, 4)), rr, (2, 3, 12, 15), 0.5, ratio, aligned,
                          False)
# RoIs of 70+ samples per bin axis: the narrowed rows / columns (math/rotated.hpp), and huge ones
rh = np.array([[0, 8.13, 6.07, 150.0, 140.0, 0.0], [1, -60.0, 10.0, 150.0, 146.0, 30.0],
               [0, 9.13, 80.37, 141.0, 150.0, 90.0], [1, 70.0, -50.0, 160.0, 150.0, -135.0],
               [0, 5, 5, 1e30, 4, 30], [1, 5, 5, 3e37, 3e37, 45], [0, -1e30, 7, 1e30, 1e30, 0]])
rotated_case("large and huge", xr, rh, 2, 2, 1.0, -1, True)
rotated_back_case("large and huge", rng.normal(0, 1, (7, 3, 2, 2)), rh, (2, 3, 12, 15), 1.0, -1, True, False)
rb = rotated_boxes(8, 2, 12, 15, 1.0)
rb[[1, 6], 0] = [-1, 3]
bad = np.zeros(8, bool)
bad[[1, 6]] = True
rotated_case("bad batch indices", xr, rb, 2, 2, 1.0, 2, True, bad=bad)
got = call("roi_align_rotated", input=np.zeros((1, 2, 0, 4)), rois=np.array([[0, 0.1, -0.2, 2, 2, 30.0]]),
           spatial_scale=1.0, sampling_ratio=-1, aligned=1, outputs={"out": ((1, 2, 2, 2), "float64")})["out"]
check(np.all(got == 0), "roi_align_rotated empty map")
# Dyadic: centres on quarter pixels, 4 x 4 RoIs at right angles, 2 x 2 bins of 2 x 2 samples,
# integer gradients: exact in any order. 9600 outputs: more than one block.
k = 200
rq = np.stack([rng.integers(0, 2, k), rng.integers(0, 60, k) / 4, rng.integers(0, 48, k) / 4, np.full(k, 4.0),
               np.full(k, 4.0), rng.choice([0, 90, 180, -90], k)], 1)
rotated_back_case("dyadic", rng.integers(-8, 9, (k, 3, 4, 4)).astype(np.float64), rq, (2, 3, 12, 15), 1.0, 2, True,
                  True)
rotated_case("dyadic", xr, rq, 4, 4, 1.0, 2, True)

tick("roi_align_rotated")
report("roi")
