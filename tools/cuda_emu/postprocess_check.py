"""Runs postprocess_emu (cuda/postprocess_cuda.cu emulated whole, see run.sh) on RPN, box head and
RetinaNet scenes and compares with foveal's CPU path: counts, labels, boxes and scores bit for
bit in float32 (the same math headers, no contraction on either side), except the box head's
scores with many classes: the CPU's softmax sums a row as an `omp simd` reduction (lanes, then
across them) and its AVX2 / AVX-512 variants contract exp into FMAs, while the kernel sums
serially without FMA, so probabilities differ by a few ulp there (up to 16 allowed; boxes,
labels, counts and the order still exact on these scenes), and in float16 / bfloat16 the CPU's float32 result on
the rounded inputs, rounded to the storage type. Scenes: several images, levels longer and
shorter than the top-k and empty, both branches of segmented_sort (a level just over 1 << 15
keys: one device-wide sort per segment; otherwise one segmented sort), equal and saturated
scores, NaN scores, score_thresh removing everything in an image, min_size, limits reached or
not, proposal counts absent, on the host and on the device.

    python postprocess_check.py   (in the folder holding postprocess_emu)"""
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch

from foveal.ops import box_head_postprocess, retinanet_postprocess, rpn_postprocess

EMPTY = {"head_thresh_all", "head_one_class", "rpn_no_candidates", "retina_limit_0"}  # nothing to keep
TD = {"f16": torch.float16, "bf16": torch.bfloat16}
W = (1.0, 1.0, 1.0, 1.0)


def storage(a, dt):
    """float32 array -> (bytes in the storage type, the stored values as float32)."""
    a = np.ascontiguousarray(a, dtype=np.float32)
    if dt == "f32":
        return a.tobytes(), a
    t = torch.from_numpy(a).to(TD[dt])
    return t.view(torch.int16).numpy().tobytes(), t.float().numpy()


def from_storage(raw, dt, shape):
    if dt == "f32":
        return np.frombuffer(raw, np.float32).reshape(shape)
    t = torch.from_numpy(np.frombuffer(raw, np.int16).copy()).view(TD[dt])
    return t.float().numpy().reshape(shape)


def rounded(a, dt):
    return a if dt == "f32" else torch.from_numpy(np.ascontiguousarray(a)).to(TD[dt]).float().numpy()


def boxes_of(rng, n, lo=0.0, hi=300.0, smin=6.0, smax=90.0):
    c = rng.uniform(lo, hi, (n, 2))
    s = rng.uniform(smin, smax, (n, 2))
    return np.concatenate([c - s / 2, c + s / 2], axis=1).astype(np.float32)


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x.astype(np.float64)))


def rpn_scene(rng, nb, levels, ties=True, nan=True, low_image=None):
    na = sum(levels)
    anchors = boxes_of(rng, na)
    obj = rng.standard_normal((nb, na)).astype(np.float32)
    if ties and na:
        obj[:, ::5] = 0.75  # equal logits
        obj[:, 3::11] = rng.choice([25.0, 31.0, 40.0], (nb, len(range(3, na, 11))))  # sigmoid saturates to 1
    if nan and na:
        obj[:, 1::13] = np.nan
        obj[:, 6::29] = np.inf  # score 1
        obj[:, 8::31] = -np.inf  # score 0: passes score_thresh 0
    if low_image is not None:
        obj[low_image] -= 12.0
    deltas = (rng.standard_normal((nb, na, 4)) * 0.2).astype(np.float32)
    deltas[:, ::17, 2:] = 3.0  # large boxes: clipped
    deltas[:, 2::19, 2:] = -6.0  # tiny boxes: removed by min_size
    return anchors, obj, deltas


def retina_scene(rng, nb, levels, nc, shift=-2.5, ties=True, nan=True, low_image=None):
    na = sum(levels)
    anchors = boxes_of(rng, na)
    logits = (rng.standard_normal((nb, na, nc)) + shift).astype(np.float32)
    if ties and na:
        logits[:, ::4, 0] = 0.5
        logits[:, 1::9, nc - 1] = rng.choice([20.0, 30.0], (nb, len(range(1, na, 9))))  # saturated: score 1
    if nan and na:
        logits[:, 2::15, :] = np.nan
        logits[:, 4::23, 0] = np.inf
        logits[:, 5::27, :] = -np.inf
    if low_image is not None:
        logits[low_image] = -30.0
    reg = (rng.standard_normal((nb, na, 4)) * 0.2).astype(np.float32)
    return anchors, logits, reg


def head_scene(rng, nb, np_, nc, ties=True):
    props = np.stack([boxes_of(rng, np_) for _ in range(nb)])
    logits = (rng.standard_normal((nb, np_, nc)) * 2.0).astype(np.float32)
    if ties:
        logits[:, 1::6] = logits[:, :1]  # equal rows: equal scores in every class
        logits[:, 2::11, nc // 2] = np.nan  # a NaN or +inf logit makes the row NaN: nothing kept
        logits[:, 3::11, nc - 1] = np.inf
        logits[:, 4::11, 1:] = -np.inf  # only the background: probabilities 0
    reg = (rng.standard_normal((nb, np_, 4 * nc)) * 0.5).astype(np.float32)
    reg[:, ::13, 2::4] = -40.0  # tiny boxes
    return props, logits, reg


def away_from(x, prob, thresh, fill):
    """Entries whose probability is within 1e-3 of thresh set to fill (the storage types round
    the score before comparing, the CPU path does not)."""
    x[np.abs(prob - thresh) < 1e-3] = fill


def write_case(d, params, arrays):
    d.mkdir(parents=True, exist_ok=True)
    lines = []
    for k, v in params.items():
        v = v if isinstance(v, (list, tuple)) else [v]
        lines.append(" ".join([k] + [repr(float(x)) for x in v]))
    (d / "params").write_text("\n".join(lines) + "\n")
    for k, raw in arrays.items():
        (d / f"{k}.bin").write_bytes(raw)


def run_emu(op, dt, d):
    r = subprocess.run(["./postprocess_emu", op, dt, str(d)], capture_output=True, text=True, timeout=600)
    if r.returncode != 0:
        raise RuntimeError(f"postprocess_emu {op} {dt} failed ({r.returncode}):\n{r.stdout}\n{r.stderr[-3000:]}")
    line = r.stdout.strip().splitlines()[-1].split()
    return dict(zip(line[::2], map(int, line[1::2])))


def compare(name, dt, d, want, shape_cap, softmax_tol=False):
    boxes_w, scores_w = want[0], want[1]
    labels_w = want[2] if len(want) == 4 else None
    counts_w = want[-1]
    nb, cap = scores_w.shape
    boxes = from_storage((d / "out_boxes.bin").read_bytes(), dt, (nb, cap, 4))
    scores = from_storage((d / "out_scores.bin").read_bytes(), dt, (nb, cap))
    labels = np.frombuffer((d / "out_labels.bin").read_bytes(), np.int64).reshape(nb, cap)
    counts = np.frombuffer((d / "out_counts.bin").read_bytes(), np.int64)
    bad = []
    if not np.array_equal(counts, counts_w):
        bad.append(f"counts {counts.tolist()} != {counts_w.tolist()}")
    if labels_w is not None and not np.array_equal(labels, labels_w):
        bad.append(f"labels differ at {np.argwhere(labels != labels_w)[:5].tolist()}")
    if labels_w is None and (labels != -7).any():
        bad.append("labels written for rpn")
    bw, sw = rounded(boxes_w, dt), rounded(scores_w, dt)
    if not np.array_equal(boxes.view(np.uint32), bw.view(np.uint32)):
        bad.append(f"boxes differ at {np.argwhere((boxes != bw).any(axis=2))[:5].tolist()}")
    if softmax_tol:  # see the module docstring: a few ulp
        ulp = np.abs(scores.view(np.int32).astype(np.int64) - sw.view(np.int32).astype(np.int64))
        if ulp.max() > 16:
            bad.append(f"scores differ by {ulp.max()} ulp")
    elif not np.array_equal(scores.view(np.uint32), sw.view(np.uint32)):
        bad.append(f"scores differ at {np.argwhere(scores != sw)[:5].tolist()}")
    return bad


def main():
    work = Path("pp_cases")
    rng = np.random.default_rng(5)
    cases = []  # (name, op, dtype, params, arrays, want, softmax_tol, stage-1 branch)

    def rpn(name, dt, nb, levels, sizes, branch, low_image=None, **kw):
        anchors, obj, deltas = rpn_scene(rng, nb, levels, low_image=low_image)
        raw = {}
        raw["anchors"], anchors = storage(anchors, dt)
        raw["x"], obj = storage(obj, dt)
        raw["reg"], deltas = storage(deltas, dt)
        if dt != "f32" and kw.get("score_thresh", 0.0) > 0:
            away_from(obj, sigmoid(obj), kw["score_thresh"], 0.0 if kw["score_thresh"] > 0.6 else 9.0)
            raw["x"], obj = storage(obj, dt)
        sizes = np.array(sizes, np.float64)
        raw["sizes"] = sizes.tobytes()
        want = rpn_postprocess(anchors, obj, deltas, sizes, levels, **kw)
        p = dict(nb=nb, na=sum(levels), cap=want[0].shape[1], levels=list(levels), weights=W,
                 clip=float(np.log(1000.0 / 16)), pre_nms_top_n=1000, post_nms_top_n=1000, nms_thresh=0.7,
                 min_size=1e-3, score_thresh=0.0)
        p.update(kw)
        cases.append((name, "rpn", dt, p, raw, want, False, branch))

    def retina(name, dt, nb, levels, nc, sizes, branch, low_image=None, **kw):
        anchors, logits, reg = retina_scene(rng, nb, levels, nc, low_image=low_image)
        thr = kw.get("score_thresh", 0.05)
        raw = {}
        raw["anchors"], anchors = storage(anchors, dt)
        raw["reg"], reg = storage(reg, dt)
        if dt != "f32":
            logits = rounded(logits, dt)
            away_from(logits, sigmoid(logits), thr, -20.0)
        raw["x"], logits = storage(logits, dt)
        sizes = np.array(sizes, np.float64)
        raw["sizes"] = sizes.tobytes()
        want = retinanet_postprocess(anchors, logits, reg, sizes, levels, **kw)
        p = dict(nb=nb, na=sum(levels), nc=nc, cap=want[0].shape[1], levels=list(levels), weights=W,
                 clip=float(np.log(1000.0 / 16)), topk_candidates=1000, detections_per_img=300, nms_thresh=0.5,
                 score_thresh=0.05)
        p.update(kw)
        cases.append((name, "retina", dt, p, raw, want, False, branch))

    def head(name, dt, nb, np_, nc, sizes, pcounts, pcmode, **kw):
        props, logits, reg = head_scene(rng, nb, np_, nc)
        thr = kw.get("score_thresh", 0.05)
        raw = {}
        raw["anchors"], props = storage(props, dt)
        raw["reg"], reg = storage(reg, dt)
        logits = rounded(logits, dt)
        if dt != "f32":
            prob = torch.softmax(torch.from_numpy(logits).double(), dim=2).numpy()[..., 1:]
            logits[(np.abs(prob - thr) < 1e-3).any(axis=2)] = 0.0  # uniform rows (1 / nc far from thr)
        raw["x"], logits = storage(logits, dt)
        sizes = np.array(sizes, np.float64)
        raw["sizes"] = sizes.tobytes()
        pc = None if pcounts is None else np.array(pcounts, np.int64)
        if pc is not None:
            raw["pcounts"] = pc.tobytes()
        want = box_head_postprocess(props, logits, reg, sizes, proposal_counts=pc, **kw)
        p = dict(nb=nb, np=np_, nc=nc, cap=want[0].shape[1], pcounts=pcmode, weights=(10.0, 10.0, 5.0, 5.0),
                 clip=float(np.log(1000.0 / 16)), detections_per_img=100, nms_thresh=0.5, min_size=1e-2,
                 score_thresh=0.05)
        p.update(kw)
        cases.append((name, "head", dt, p, raw, want, nc > 8, "segmented" if nc > 1 else "none"))

    S3 = [(300, 400), (250, 333), (0, 0)]
    # RPN: levels longer / shorter than pre_nms_top_n, an empty level; image 2 clipped to nothing.
    rpn("rpn_levels", "f32", 3, [600, 150, 37, 0, 9], S3, "segmented", pre_nms_top_n=100, post_nms_top_n=120)
    rpn("rpn_thresh_minsize", "f32", 3, [600, 150, 37, 0, 9], [(300, 400), (250, 333), (200, 180)], "segmented",
        low_image=1, pre_nms_top_n=200, post_nms_top_n=1000, nms_thresh=0.5, min_size=20.0, score_thresh=0.6)
    rpn("rpn_tiny", "f32", 2, [5, 0], [(300, 400), (100, 90)], "segmented", pre_nms_top_n=1000, post_nms_top_n=3)
    rpn("rpn_long_level", "f32", 2, [(1 << 15) + 37, 700, 0, 5], [(300, 400), (260, 280)], "device",
        pre_nms_top_n=2000, post_nms_top_n=300)
    for dt in ("f16", "bf16"):
        rpn(f"rpn_levels_{dt}", dt, 3, [600, 150, 37, 0, 9], S3, "segmented", pre_nms_top_n=100, post_nms_top_n=120)
        rpn(f"rpn_thresh_{dt}", dt, 2, [400, 60], [(300, 400), (250, 333)], "segmented", low_image=1,
            pre_nms_top_n=100, post_nms_top_n=90, score_thresh=0.3)
    # RetinaNet: several classes, top-k per level, an image where nothing passes score_thresh.
    retina("retina_levels", "f32", 3, [400, 100, 20, 0], 5, S3, "segmented", low_image=1, topk_candidates=150,
           detections_per_img=100)
    retina("retina_limit", "f32", 2, [300, 90, 7], 3, [(300, 400), (250, 333)], "segmented", topk_candidates=1000,
           detections_per_img=20, nms_thresh=0.4)
    retina("retina_no_thresh", "f32", 2, [120, 30], 1, [(300, 400), (250, 333)], "segmented", score_thresh=0.0,
           detections_per_img=1000)
    retina("retina_long_level", "f32", 1, [4100, 300, 0], 8, [(300, 400)], "device", topk_candidates=1000,
           detections_per_img=300)
    for dt in ("f16", "bf16"):
        retina(f"retina_levels_{dt}", dt, 3, [400, 100, 20, 0], 5, S3, "segmented", low_image=1,
               topk_candidates=150, detections_per_img=100)
    # Box head: many classes; proposal counts on the host, on the device, none.
    head("head_91_classes", "f32", 3, 300, 91, S3, [300, 211, 0], 1)
    head("head_device_counts", "f32", 2, 50, 5, [(300, 400), (250, 333)], [50, 17], 2, detections_per_img=7,
         nms_thresh=0.3, min_size=5.0)
    head("head_no_counts", "f32", 2, 64, 5, [(300, 400), (250, 333)], None, 0, score_thresh=0.5,
         detections_per_img=1000)
    head("head_one_class", "f32", 2, 30, 1, [(300, 400), (250, 333)], None, 0)  # no candidate slot at all
    rpn("rpn_no_candidates", "f32", 2, [50, 9], [(300, 400), (250, 333)], "none", pre_nms_top_n=0)
    retina("retina_limit_0", "f32", 2, [50, 9], 3, [(300, 400), (250, 333)], "segmented", detections_per_img=0)
    head("head_negative_thresh", "f32", 2, 24, 3, [(300, 400), (250, 333)], [24, 20], 1, score_thresh=-1.0,
         detections_per_img=1000)  # probabilities 0 kept too
    rpn("rpn_nms_0", "f32", 2, [300, 40], [(300, 400), (250, 333)], "segmented", nms_thresh=0.0,
        post_nms_top_n=1000)
    rpn("rpn_nms_1", "f32", 2, [300, 40], [(300, 400), (250, 333)], "segmented", nms_thresh=1.0, post_nms_top_n=250)
    # 13 images x 5 levels = 65 segments, one level over 1 << 15: the segmented branch with long segments.
    rpn("rpn_many_long_segments", "f32", 13, [(1 << 15) + 3, 400, 0, 90, 5], [(300, 400), (250, 333)] * 6 + [(0, 0)],
        "segmented", pre_nms_top_n=500, post_nms_top_n=200)
    head("head_thresh_all", "f32", 2, 40, 4, [(300, 400), (250, 333)], [40, 40], 1, score_thresh=0.999)
    for dt in ("f16", "bf16"):
        head(f"head_{dt}", dt, 2, 60, 5, [(300, 400), (250, 333)], [60, 41], 2, detections_per_img=30)

    only = set(sys.argv[1:])
    bad_total, branches = 0, {"device": 0, "segmented": 0, "none": 0}
    for name, op, dt, p, raw, want, tol, branch in cases:
        if only and name not in only:
            continue
        d = work / name
        write_case(d, p, raw)
        c = run_emu(op, dt, d)
        bad = compare(name, dt, d, want, p["cap"], softmax_tol=tol)
        sorts = 1 if op == "head" else 2  # stage 1 (rpn, retina) and stage 3
        if branch == "none":  # no candidate slots: no sort runs
            ok_branch = c["device_sorts"] == 0 and c["segmented_sorts"] == 0
        elif branch == "device":
            ok_branch = c["device_sorts"] >= 1 and c["segmented_sorts"] == 1
        else:
            ok_branch = c["device_sorts"] == 0 and c["segmented_sorts"] == sorts
        if not ok_branch:
            bad.append(f"sort branch: {c}")
        if c["wrong_stream"] or not c["repeat_same"]:
            bad.append(f"counters {c}")
        if int(np.asarray(want[-1]).sum()) == 0 and name not in EMPTY:
            bad.append("nothing detected: a weak scene")
        branches[branch] += 1
        kept = np.asarray(want[-1]).tolist()
        print(f"{'MISMATCH ' if bad else ''}{name} ({op}, {dt}): kept {kept}, {c}" + "".join(f"\n  {b}" for b in bad))
        bad_total += len(bad) > 0
    print(f"postprocess: {len(cases) if not only else len(only)} scenes ({branches['device']} device-wide sorts), "
          f"mismatches {bad_total}")
    return 1 if bad_total else 0


if __name__ == "__main__":
    sys.exit(main())
