"""roi_pool_cuda.cu's forward kernel (run by roi_pool_emu, see run.sh) against foveal's CPU
roi_pool: values and argmax equal, with ties, NaN, -FLT_MAX, wide RoIs and a bad batch index."""
import subprocess, sys
import numpy as np
from foveal.ops import roi_pool
rng = np.random.default_rng(0)
bad = 0
cases = [(2, 3, 20, 30, 40, 7, 7, 0.5), (1, 2, 64, 200, 70, 7, 7, 1.0), (2, 2, 33, 300, 35, 3, 5, 0.25),
         (1, 1, 10, 10, 33, 2, 2, 1.0), (1, 2, 50, 160, 20, 7, 40, 1.0)]
for (N, C, H, W, K, ph, pw, sc) in cases:
    for mode in ("rand", "ties"):
        x = rng.standard_normal((N, C, H, W)).astype(np.float32)
        if mode == "ties":
            x = np.round(x).astype(np.float32)  # many equal maxima
            x[..., ::7, ::5] = -np.finfo(np.float32).max
            x[..., 3, 3] = np.nan
        w = rng.uniform(1, W / sc, K); h = rng.uniform(1, H / sc, K)
        x1 = rng.uniform(-5, W / sc - w + 5, K); y1 = rng.uniform(-5, H / sc - h + 5, K)
        b = rng.integers(0, N, K).astype(np.float32)
        rois = np.stack([b, x1, y1, x1 + w, y1 + h], 1).astype(np.float32)
        rois[0] = [N + 3, 1, 1, 5, 5]  # bad batch index -> zeros
        x.tofile("x.bin"); rois.tofile("r.bin")
        chunks, warps = (max(1, K // 12), 2) if mode == "rand" else (1, 16)  # runs of RoIs; the shipped 16 warps
        subprocess.run(["./roi_pool_emu"] + [str(v) for v in (N, C, H, W, K, ph, pw, sc, 0, chunks, warps)],
                       check=True)
        got = np.fromfile("out.bin", np.float32).reshape(K, C, ph, pw)
        am = np.fromfile("am.bin", np.int64).reshape(K, C, ph, pw)
        want, wam = roi_pool(x, rois[1:], (ph, pw), sc, return_argmax=True)
        g2, a2 = got[1:], am[1:]
        eq = np.array_equal(g2, want, equal_nan=True) and np.array_equal(a2, np.asarray(wam))
        z = np.all(got[0] == 0) and np.all(am[0] == -1)
        print((N, C, H, W, K, ph, pw, sc), mode, "equal" if eq else "DIFF", "bad-roi zeros" if z else "BAD ROW WRONG")
        bad += (not eq) + (not z)
print("mismatches", bad)
sys.exit(1 if bad else 0)
