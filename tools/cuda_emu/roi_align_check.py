"""roi_align_cuda.cu's forward kernels (run by roi_align_emu, see run.sh) against torchvision's
CPU RoIAlign, bit for bit (the CUDA kernel sums each bin in torchvision's order, without FMA
contraction), and against foveal's CPU path to rounding: the warp path (sample columns on lanes,
2+ bin rows per pass, y taps by shuffle or computed, column passes, pooled widths above 32) and
the lane-per-bin fallback (grids wider than 32 samples), aligned and not, fixed and adaptive
grids, RoIs partly and wholly off the map, empty and inverted RoIs, bad batch indices (zeros),
batch > 0, float32 / float64 / float16 / bfloat16, and multi_scale_roi_align's level lookup."""
import subprocess, sys
import numpy as np
import torch
import torchvision.ops as tvo
from foveal.ops import multi_scale_roi_align, roi_align

torch.set_num_threads(1)
rng = np.random.default_rng(0)
bad = 0
TOL = {"f32": 2e-5, "f64": 1e-12, "f16": 1e-2, "bf16": 6e-2}
NP = {"f32": np.float32, "f64": np.float64, "f16": np.float32, "bf16": np.float32}
TORCH16 = {"f16": torch.float16, "bf16": torch.bfloat16}


def make_rois(n, k, h, w, scale, lo, hi):
    """k RoIs in image coordinates (map / scale), sizes lo..hi map pixels, some off the map."""
    bw, bh = rng.uniform(lo, hi, k) / scale, rng.uniform(lo, hi, k) / scale
    x1 = rng.uniform(-0.3 * w, 1.1 * w, k) / scale
    y1 = rng.uniform(-0.3 * h, 1.1 * h, k) / scale
    r = np.stack([rng.integers(0, n, k), x1, y1, x1 + bw, y1 + bh], 1)
    r[0, 1:] = [x1[0], y1[0], x1[0], y1[0] + bh[0]]  # empty width
    r[1, 1:] = [x1[1], y1[1], x1[1] - 3 / scale, y1[1] - 2 / scale]  # inverted
    r[2, 1:] = [-9 / scale, -9 / scale, -4 / scale, -3 / scale]  # wholly off the map
    r[3, 1:] = [0.5, 0.25, w / scale - 0.75, h / scale + 1]  # whole map, edges clamped
    r[4, 0] = n - 1
    return r


def quantize(x, t):
    return torch.from_numpy(x).to(TORCH16[t]).float().numpy() if t in TORCH16 else x


def compare(name, got, want, fov, zero_rows, t):
    global bad
    keep = np.setdiff1d(np.arange(got.shape[0]), zero_rows)
    exact = np.array_equal(got[keep], want[keep])
    near = np.allclose(got[keep], fov[keep], rtol=TOL[t], atol=TOL[t])
    zeros = np.all(got[zero_rows] == 0)
    ok = exact and near and zeros
    bad += not ok
    print(name, "equal" if exact else f"DIFF (max {np.max(np.abs(got[keep] - want[keep])):.3g})",
          "" if near else "FAR FROM FOVEAL CPU", "" if zeros else "BAD ROWS NOT ZERO")


def single(t, n, c, h, w, k, ph, pw, scale, sr, aligned, chunks, lo, hi):
    x = rng.standard_normal((n, c, h, w)).astype(NP[t])
    rois = make_rois(n, k, h, w, scale, lo, hi).astype(NP[t])
    zero_rows = [5, 6, 7]
    rois[5, 0], rois[6, 0], rois[7, 0] = n + 3, -1, 0.5  # bad batch indices
    x.tofile("x.bin"); rois.tofile("r.bin")
    subprocess.run(["./roi_align_emu", t, "0", str(n), str(c), "1", str(h), str(w), repr(scale), str(k), str(ph),
                    str(pw), str(sr), str(int(aligned)), str(chunks)], check=True)
    got = np.fromfile("out.bin", NP[t]).reshape(k, c, ph, pw)
    xq = quantize(x, t)
    good = np.setdiff1d(np.arange(k), zero_rows)
    want = np.zeros_like(got)
    want[good] = tvo.roi_align(torch.from_numpy(xq), torch.from_numpy(rois[good]), (ph, pw), scale, sr,
                               aligned).numpy()
    fov = np.zeros_like(got)
    fov[good] = roi_align(xq, rois[good], (ph, pw), scale, sr, aligned)
    if t in TORCH16:
        want = quantize(want, t)
    compare(f"roi_align {t} {(n, c, h, w)} k={k} {ph}x{pw} scale={scale} sr={sr} aligned={aligned} "
            f"chunks={chunks}", got, want, fov, zero_rows, t)


def multi(t, sr, aligned, chunks):
    n, c, k, img = 2, 2, 30, (64, 96)
    shapes = [(16, 24), (8, 12), (4, 6)]
    feats = [rng.standard_normal((n, c, a, b)).astype(NP[t]) for a, b in shapes]
    boxes = []
    for b in range(n):
        size = rng.uniform(2, 200, (k // n, 2))
        x1, y1 = rng.uniform(-10, 90, k // n), rng.uniform(-10, 60, k // n)
        boxes.append(np.stack([x1, y1, x1 + size[:, 0], y1 + size[:, 1]], 1).astype(NP[t]))
    boxes[0][0] = [5, 5, 5, 30]  # empty: area 0, lowest level
    rois = np.concatenate([np.concatenate([np.full((len(bx), 1), b, NP[t]), bx], 1) for b, bx in enumerate(boxes)])
    zero_rows = [1, 2]
    rois[1, 1:] = [10, 10, 5, 30]  # negative area: no level
    rois[2, 0] = n  # bad batch index
    np.concatenate([f.ravel() for f in feats]).tofile("x.bin"); rois.tofile("r.bin")
    args = [t, "1", str(n), str(c), str(len(shapes))]
    for (a, b), s in zip(shapes, (0.25, 0.125, 0.0625)):
        args += [str(a), str(b), repr(s)]
    args += [str(k), "3", "4", str(sr), str(int(aligned)), str(chunks), "2", "4"]
    subprocess.run(["./roi_align_emu"] + args, check=True)
    got = np.fromfile("out.bin", NP[t]).reshape(k, c, 3, 4)
    fq = [quantize(f, t) for f in feats]
    keep = np.setdiff1d(np.arange(k), zero_rows)
    per_image = [rois[keep][rois[keep, 0] == b, 1:] for b in range(n)]
    pooler = tvo.MultiScaleRoIAlign(["p2", "p3", "p4"], (3, 4), sr)
    want = np.zeros_like(got)
    want[keep] = pooler({f"p{i + 2}": torch.from_numpy(f) for i, f in enumerate(fq)},
                        [torch.from_numpy(p) for p in per_image], [img] * n).numpy()
    fov = np.zeros_like(got)
    fov[keep] = multi_scale_roi_align(fq, per_image, [img] * n, (3, 4), sr)
    if t in TORCH16:
        want = quantize(want, t)
    compare(f"multi_scale_roi_align {t} sr={sr} chunks={chunks}", got, want, fov, zero_rows, t)


# warp path, 7x7 bins of 2x2 samples: 14 lanes a group, 2 bin rows a pass, y taps by shuffle
single("f32", 2, 2, 13, 19, 18, 7, 7, 0.5, 2, True, 3, 1, 12)
# adaptive grids 1..~20 wide: varying lanes per bin, column passes, and the lane-per-bin fallback
# for grids wider than 32 (pooled width 1, RoIs up to 60 pixels wide)
single("f32", 2, 2, 9, 70, 20, 2, 1, 1.0, 0, False, 2, 0.5, 60)
single("f32", 1, 2, 12, 17, 16, 3, 5, 1.0, -1, True, 1, 0.5, 14)
# 7 bin rows of 5 sample rows (35 > 32: y taps computed per lane), 8 bins of 5 columns (2 passes)
single("f64", 2, 2, 11, 15, 18, 7, 8, 1.0, 5, False, 2, 1, 16)
# pooled width 40 > 32 lanes: 2 column passes of one sample column per bin
single("f32", 1, 2, 6, 50, 12, 1, 40, 1.0, 1, True, 1, 2, 50)
single("f64", 2, 2, 13, 19, 20, 4, 9, 0.5, 3, True, 2, 1, 12)
single("f16", 2, 2, 13, 19, 16, 7, 7, 0.5, 2, True, 2, 1, 12)
single("bf16", 2, 2, 13, 19, 16, 7, 7, 0.5, 2, False, 2, 1, 12)
multi("f32", 2, False, 2)
multi("f64", 0, False, 3)
multi("f16", 2, False, 1)
print("roi_align: mismatches", bad)
sys.exit(1 if bad else 0)
