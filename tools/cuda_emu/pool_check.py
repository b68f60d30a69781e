"""pool_cuda.cu's max / average pooling kernels (run by pool_emu, see run.sh) against foveal.nn's
CPU pooling: max values and indices equal, averages to float32 rounding, for the specialised 2x2 / 3x3 windows (strides, padding,
dilation, ceil_mode, ties, NaN, all -inf windows) and the general loop."""
import subprocess
import sys

import numpy as np

import foveal.nn as fnn

rng = np.random.default_rng(3)
bad = 0
cases = [  # (N, C, H, W), kernel, stride, padding, dilation, ceil_mode
    ((2, 3, 17, 40), 3, 2, 1, 1, False), ((1, 2, 9, 9), 3, 2, 1, 1, True), ((1, 1, 33, 70), 2, 2, 0, 1, False),
    ((2, 2, 13, 31), 2, 1, 1, 1, True), ((1, 2, 15, 15), 3, 1, 1, 2, False), ((1, 1, 8, 65), 5, 3, 2, 1, True),
    ((1, 1, 1, 1), 2, 2, 1, 1, False), ((1, 4, 20, 9), 3, 3, 0, 1, True)]
for shape, k, s, pad, dil, ceil in cases:
    for mode in ("rand", "ties"):
        x = rng.standard_normal(shape).astype(np.float32)
        if mode == "ties":
            x = np.round(x).astype(np.float32)
            x[..., ::5, ::3] = -np.inf
            x[..., 2 % shape[2], 1 % shape[3]] = np.nan
        want, widx = fnn.max_pool2d(x, k, s, pad, dil, ceil_mode=ceil, return_indices=True)
        planes, (H, W), (OH, OW) = shape[0] * shape[1], shape[2:], want.shape[2:]
        x.tofile("in.bin")
        args = [planes, H, W, OH, OW, k, k, s, s, pad, pad, dil, dil]
        subprocess.run(["./pool_emu", "max"] + [str(a) for a in args], check=True)
        got = np.fromfile("out.bin", np.float32).reshape(want.shape)
        idx = np.fromfile("idx.bin", np.int64).reshape(want.shape)
        if not (np.array_equal(got, want, equal_nan=True) and np.array_equal(idx, widx)):
            print("MISMATCH max", shape, k, s, pad, dil, ceil, mode, flush=True)
            bad += 1
        if dil == 1:
            for cip, div in ((True, 0), (False, 0), (True, 3)):
                want = fnn.avg_pool2d(x, k, s, pad, ceil_mode=ceil, count_include_pad=cip, divisor_override=div or None)
                OH, OW = want.shape[2:]
                args = [planes, H, W, OH, OW, k, k, s, s, pad, pad, 1, 1, int(cip), div]
                subprocess.run(["./pool_emu", "avg"] + [str(a) for a in args], check=True)
                got = np.fromfile("out.bin", np.float32).reshape(want.shape)
                # the CPU sums a window in another order (vectorised): equal to float32 rounding
                if not np.allclose(got, want, rtol=1e-6, atol=1e-6, equal_nan=True):
                    print("MISMATCH avg", shape, k, s, pad, ceil, cip, div, mode, np.abs(got - want).max(), flush=True)
                    bad += 1
print("pool: mismatches", bad)
sys.exit(1 if bad else 0)
