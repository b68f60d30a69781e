"""bilateral_cuda.cu (emulated whole, see ops_restore_bil.cpp: the shipped front ends build the plan) against
foveal's CPU denoise_bilateral / bilateral_filter (the same kernel entry points, _core.*, same arguments)."""
import numpy as np

from foveal import _core
from emu import call, check, report

rng = np.random.default_rng(14)
TOL = {np.float32: 2e-6, np.float64: 1e-13}


def compare(got, want, dt, *what):
    if dt == np.uint8:  # rounded from float: a sum a rounding off may land on the other side of .5
        d = np.abs(got.astype(np.int64) - want.astype(np.int64))
        check(int(d.max()) <= 1 and np.mean(d) < 1e-3, *what, "diff", int(d.max()), float(np.mean(d)))
    else:
        err = float(np.max(np.abs(got.astype(np.float64) - want)))
        check(err <= TOL[dt], *what, "err", err)


def used(r, kernel):
    return any(k.startswith(kernel) for k in r["_kernels"])


def sk_case(shape, ws, sc, ss, bins, border, cval, dt, kernel, what):
    x = rng.uniform(0, 1, shape).astype(dt)
    lo, hi = float(x.min()), float(x.max())
    want = np.empty_like(x)
    _core.denoise_bilateral(x, want, ws, sc, ss, bins, border, cval, lo, hi)
    r = call("denoise_bilateral", image=x, win_size=ws, sigma_color=sc, sigma_spatial=ss, bins=bins, border=border,
             cval=cval, raw_min=lo, raw_max=hi, outputs={"out": (shape, x.dtype.name)})
    compare(r["out"], want, dt, "denoise_bilateral", what, shape, ws, bins, border, dt.__name__)
    check(used(r, kernel), "path", what, kernel, r["_kernels"])


def cv_case(shape, d, sc, ss, border, exact, dt, kernel, what):
    x = (rng.integers(0, 256, shape) if dt == np.uint8 else rng.uniform(0, 1, shape)).astype(dt)
    lo, hi = float(x.min()), float(x.max())
    want = np.empty_like(x)
    _core.bilateral_filter(x, want, d, sc, ss, lo, hi, border, exact)
    r = call("bilateral_filter", image=x, d=d, sigma_color=sc, sigma_space=ss, value_min=lo, value_max=hi,
             border=border, exact=int(exact), outputs={"out": (shape, x.dtype.name)})
    compare(r["out"], want, dt, "bilateral_filter", what, shape, d, border, exact, dt.__name__)
    check(used(r, kernel), "path", what, kernel, r["_kernels"])


for dt in (np.float32, np.float64):
    tiled = "bilateral_tiled" if dt == np.float32 else "bilateral_kernel"
    for border in range(5):  # constant, edge, symmetric, reflect, wrap
        sk_case((37, 45, 1), 5, 0.1, 1.5, 0, border, 0.25, dt, tiled, "exact grey")
        sk_case((20, 33, 3), 3, 0.2, 1.0, 1000, border, 0.5, dt, tiled, "binned colour")
    sk_case((15, 16, 2), 5, 0.1, 1.5, 0, 1, 0.0, dt, "bilateral_kernel", "exact 2 channels")
    sk_case((9, 10, 6), 3, 0.3, 1.0, 0, 2, 0.0, dt, "bilateral_kernel", "exact 6 channels (past the registers)")
    sk_case((9, 10, 5), 5, 0.3, 1.0, 200, 4, 0.0, dt, "bilateral_kernel", "binned 5 channels")
    sk_case((30, 30, 1), 19, 0.1, 3.0, 0, 3, 0.0, dt, "bilateral_kernel", "exact 361 taps (> 320)")
    sk_case((6, 7, 1), 8, 0.1, 3.0, 50, 0, 0.3, dt, tiled, "binned even window")

    # images smaller than the window along one or both axes: every border rule wraps / reflects repeatedly
    for border in range(5):
        sk_case((1, 1, 1), 7, 0.2, 2.0, 0, border, 0.3, dt, tiled, "1x1")
        sk_case((1, 40, 3), 9, 0.2, 2.0, 100, border, 0.3, dt, tiled, "one row")
        sk_case((40, 2, 1), 5, 0.2, 2.0, 0, border, 0.3, dt, tiled, "two columns")

for border in range(5):
    cv_case((1, 1, 3), 9, 30.0, 3.0, border, False, np.uint8, "bilateral_tiled", "u8 1x1")
    cv_case((2, 30, 1), 7, 0.3, 3.0, border, False, np.float32, "bilateral_kernel", "float two rows")
    cv_case((37, 45, 3), 5, 30.0, 2.0, border, False, np.uint8, "bilateral_tiled", "u8 lut colour")
    cv_case((21, 40, 1), 0, 0.2, 1.2, border, False, np.float32, "bilateral_kernel", "float interp")
cv_case((21, 40, 1), 7, 25.0, 3.0, 1, False, np.uint8, "bilateral_tiled", "u8 lut grey")
cv_case((21, 40, 3), 5, 0.3, 2.0, 2, False, np.float32, "bilateral_kernel", "float interp colour")
cv_case((21, 40, 3), 5, 0.3, 2.0, 3, True, np.float32, "bilateral_tiled", "float exact colour (l1)")
cv_case((21, 40, 1), 5, 30.0, 2.0, 4, True, np.uint8, "bilateral_tiled", "u8 exact grey")
cv_case((30, 33, 1), 23, 30.0, 6.0, 1, False, np.uint8, "bilateral_kernel", "u8 disk of 413 taps (> 320)")
cv_case((9, 11, 3), 5, 1e-7, 2.0, 1, False, np.uint8, "bilateral_tiled", "u8 identity plan")
cv_case((9, 11, 3), 5, 1e-7, 2.0, 1, False, np.float32, "bilateral_tiled", "float identity plan (no taps)")
report("restore_bil")
