"""nms_cuda.cu (nms, batched_nms), nms_rotated_cuda.cu (plain and batched) and soft_nms_cuda.cu
(emulated whole, see ops_detect.cpp) against foveal.ops' CPU ops: the kept indices, in order, and
soft-NMS's kept scores, bit for bit (the pair rules and decays come from the same math headers and
run in the same type; float16, CUDA-only, against the CPU's float32 op on the float16 values). The
gaussian decay calls exp: host exp here and on the CPU, the device's exp on a GPU, which may
differ in the last bit and so, rarely, flip a tie. Nothing past the kept count may be written."""
import numpy as np

import foveal.ops as fops
from detect_inputs import F16, F32, F64, as_cpu, cluster_boxes, cluster_scores, kept, rng
from emu import call, check, report


# ---- nms: ranking (radix sort of the score keys), 64-box tiles of the pair mask, the greedy pass in
# one block of 256 threads.
for dt in (F32, F64, F16):
    for n in (1, 2, 13, 63, 64, 65, 130, 700):
        for thr, ties in ((0.5, n % 2 == 0), (0.0, True), (-0.25, False), (1.0, False), (0.3, n % 2 == 1)):
            b, s = cluster_boxes(n, dt), cluster_scores(n, dt, ties)
            want = fops.nms(as_cpu(b), as_cpu(s), thr)
            r = call("nms", boxes=b, scores=s, iou_threshold=thr,
                     outputs={"keep": ((n,), "int64"), "count": ((1,), "int64")})
            got, ok = kept(r, n)
            check(ok and np.array_equal(got, want), "nms", dt.__name__, n, thr, ties)
# (n > 257 * 64, the fold's stride: check_detect_big.py)


# ---- batched_nms: ranks sorted by class (int32 / int64 idxs, negative and extreme classes), one
# segment per class (DeviceSelect over a counting iterator), masks within segments and one
# 128-thread block per segment (its fold strides by 128 words: a class of > 129 * 64 boxes).
def classes(n, kind, idt):
    if kind == "few":
        c = rng.integers(-2, 3, n)
    elif kind == "one":
        c = np.full(n, 7)
    elif kind == "distinct":
        c = rng.permutation(n) - n // 2
    else:  # extremes of the type
        info = np.iinfo(idt)
        c = rng.choice(np.array([info.min, info.min + 1, -1, 0, 1, info.max - 1, info.max], dtype=np.int64), n)
    return c.astype(idt)


for dt in (F32, F64, F16):
    for idt in (np.int64, np.int32):
        for n, kind in ((1, "few"), (40, "few"), (65, "one"), (200, "few"), (150, "distinct"), (300, "extreme"),
                        (900, "few")):
            for thr in ((0.5, -0.1) if n < 100 else (0.5,)) + ((1.0,) if n == 40 else ()):
                b, s, c = cluster_boxes(n, dt), cluster_scores(n, dt, ties=n % 2 == 0), classes(n, kind, idt)
                want = fops.batched_nms(as_cpu(b), as_cpu(s), c, thr)
                r = call("batched_nms", boxes=b, scores=s, idxs=c, iou_threshold=thr,
                         outputs={"keep": ((n,), "int64"), "count": ((1,), "int64")})
                got, ok = kept(r, n)
                check(ok and np.array_equal(got, want), "batched_nms", dt.__name__, idt.__name__, n, kind, thr)
n = 130 * 64 + 300
b, s = cluster_boxes(n, F32, spread=1500.0), cluster_scores(n, F32)
c = np.where(np.arange(n) % 40 == 0, 3, 5).astype(np.int64)
r = call("batched_nms", boxes=b, scores=s, idxs=c, iou_threshold=0.45,
         outputs={"keep": ((n,), "int64"), "count": ((1,), "int64")})
got, ok = kept(r, n)
check(ok and np.array_equal(got, fops.batched_nms(b, s, c, 0.45)), "batched_nms class past 129 tiles", n)


# ---- nms_rotated (idxs null) and batched (idxs given): the three pair rules (thr < 0: any finite
# pair; [0, 1): IoU; >= 1: none), invalid and non-finite boxes, float32 / float64.
def rboxes(n, dt):
    c = rng.uniform(0, 80, (max(1, n // 5), 2))[rng.integers(0, max(1, n // 5), n)] + rng.normal(0, 2, (n, 2))
    b = np.concatenate([c, rng.uniform(3, 25, (n, 2)), rng.uniform(-180, 180, (n, 1))], 1)
    if n >= 12:
        b[2] = b[1]
        b[4, 2] = 0.0
        b[6, 3] = -3.0
        b[8, 0] = np.nan
        b[10, 4] = np.inf
    return b.astype(dt)


for dt in (F32, F64):
    for n in (1, 12, 64, 65, 200):
        for thr in (-0.5, 0.0, 0.3, 0.7, 1.0, 1.5):
            b, s = rboxes(n, dt), cluster_scores(n, dt, ties=n == 64)
            want = fops.nms_rotated(b, s, thr)
            r = call("nms_rotated", boxes=b, scores=s, iou_threshold=thr,
                     outputs={"keep": ((n,), "int64"), "count": ((1,), "int64")})
            got, ok = kept(r, n)
            check(ok and np.array_equal(got, want), "nms_rotated", dt.__name__, n, thr)
            c = classes(n, "few" if n < 100 else "extreme", np.int64)
            want = fops.batched_nms_rotated(b, s, c, thr)
            r = call("nms_rotated", boxes=b, scores=s, idxs=c, iou_threshold=thr,
                     outputs={"keep": ((n,), "int64"), "count": ((1,), "int64")})
            got, ok = kept(r, n)
            check(ok and np.array_equal(got, want), "batched_nms_rotated", dt.__name__, n, thr)


# ---- the host's size limit: the pair mask's grid has at most 65535 column tiles (n <= 65535 * 64);
# one box more is refused before anything is allocated or launched.
def refused(op, n, width, dt, **extra):
    try:
        call(op, boxes=np.zeros((n, width), dt), scores=np.zeros(n, dt), iou_threshold=0.5, **extra,
             outputs={"keep": ((n,), "int64"), "count": ((1,), "int64")})
    except RuntimeError as e:
        return str(e)
    return ""


n = 65535 * 64 + 1
check(f"ERROR nms: at most 4194240 boxes are supported on CUDA, got {n}" in refused("nms", n, 4, F16), "nms limit")
check(f"ERROR nms_rotated: at most 4194240 boxes are supported on CUDA, got {n}" in refused("nms_rotated", n, 5, F32),
      "nms_rotated limit")


# ---- soft_nms: one block of 1024 threads (n > 1024 crosses its strided loops), both decays, with and
# without classes, score thresholds that stop early or keep everything, ties and NaN scores.
def soft_case(dt, n, method, thr, sigma, sthr, with_idxs, ties):
    b, s = cluster_boxes(n, dt), cluster_scores(n, dt, ties)
    idxs = classes(n, "few", np.int64) if with_idxs else None
    wk, ws = fops.soft_nms(as_cpu(b), as_cpu(s), thr, sigma, sthr, method, idxs)
    args = dict(boxes=b, scores=s, iou_threshold=thr, sigma=sigma, score_threshold=sthr,
                method=1 if method == "gaussian" else 0)
    if with_idxs:
        args["idxs"] = idxs
    r = call("soft_nms", **args, outputs={"keep": ((n,), "int64"), "kept_scores": ((n,), np.dtype(dt).name),
                                          "count": ((1,), "int64")})
    got, ok = kept(r, n)
    cnt = len(got)
    ks = r["kept_scores"]
    pad_ok = np.all(ks[cnt:].view(np.uint8) == 0x5a)
    check(ok and pad_ok and np.array_equal(got, wk) and np.array_equal(ks[:cnt], ws.astype(dt), equal_nan=True),
          "soft_nms", dt.__name__, n, method, thr, sigma, sthr, with_idxs, ties)


# Soft-NMS's cost here is its selections (a dozen barriers of 1024 CUDA threads each), so the score
# thresholds keep them few.
for dt in (F32, F64, F16):
    for method, with_idxs in (("gaussian", False), ("linear", True)) + ((("gaussian", True), ("linear", False))
                                                                         if dt == F32 else ()):
        soft_case(dt, 14, method, 0.3, 0.5, 0.001 if dt == F32 else 0.4, with_idxs, ties=with_idxs)
soft_case(F64, 1, "gaussian", 0.3, 0.5, 0.001, False, False)
soft_case(F16, 10, "linear", -1.0, 0.5, -1.0, False, False)  # everything decays, nothing dropped
soft_case(F32, 40, "gaussian", 0.3, 0.05, 0.6, True, True)
for dt in (F32, F64):  # past the 1024 threads, a dozen kept
    soft_case(dt, 1100, "gaussian" if dt == F32 else "linear", 0.2, 0.5, 0.99, dt == F32, dt == F64)
report("detect_nms")
