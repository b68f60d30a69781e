"""nlm_cuda.cu (emulated whole, see ops_restore.cpp) against foveal's CPU denoise_nl_means, fast_nl_means and
fast_nl_means_colored (the same kernel entry points, _core.*, same arguments)."""
import numpy as np

from foveal import _core
from emu import call, check, report

rng = np.random.default_rng(12)


# skimage-style NLM. The tiled grey 2-D fast kernel sums the box separably with sliding sums in the
# image's precision (the CPU's grey path uses running sums too, in another order); the generic kernel
# sums in double in the CPU's order, channel sums included (a float32 sum over more than 4 channels was
# 1 ulp off): bit for bit. Tiled bound: 2e-5 (float32) / 1e-12 (float64) of the range.
def nlm_case(shape, s, d, h, sigma, fast, dt, what, kernel="nlm_kernel"):
    x = rng.uniform(0, 1, shape).astype(dt)
    want = np.empty_like(x)
    _core.denoise_nl_means(x, want, s, d, h, sigma, fast)
    r = call("denoise_nl_means", image=x, patch_size=s, patch_distance=d, h=h, sigma=sigma, fast_mode=int(fast),
             outputs={"out": (shape, x.dtype.name)})
    err = float(np.max(np.abs(r["out"].astype(np.float64) - want)))
    tol = 0.0 if kernel == "nlm_kernel" else 2e-5 if dt == np.float32 else 1e-12
    check(err <= tol and r["_kernels"] == {kernel: 1}, "nl_means", what, shape, s, d, dt.__name__, fast, "err", err,
          r["_kernels"])


for dt in (np.float32, np.float64):
    # grey 2-D fast: the tiled kernel, row blocks of 8 (partial tiles on both edges)
    nlm_case((45, 70, 1), 5, 2, 0.2, 0.0, True, dt, "tiled R8", "nlm_gray2d_tiled")
    nlm_case((9, 33, 1), 3, 3, 0.1, 0.05, True, dt, "tiled R8 sigma", "nlm_gray2d_tiled")
    nlm_case((9, 7, 1), 7, 1, 0.3, 0.0, True, dt, "tiled, image as small as the patch", "nlm_gray2d_tiled")
    nlm_case((3, 3, 1), 3, 5, 0.2, 0.0, True, dt, "tiled, search window past the image", "nlm_gray2d_tiled")
    nlm_case((3, 40, 1), 3, 0, 0.2, 0.0, True, dt, "tiled, distance 0", "nlm_gray2d_tiled")
    # grey fast with patch_size 1 (not tiled: the generic kernel), colour fast, 3-D fast
    nlm_case((12, 13, 1), 1, 2, 0.1, 0.0, True, dt, "generic s1")
    nlm_case((12, 13, 3), 3, 2, 0.2, 0.02, True, dt, "generic colour")
    nlm_case((5, 6, 7, 1), 3, 1, 0.2, 0.0, True, dt, "generic 3d")
    # classic (Gaussian patch kernel, row cutoff): 2-D, 3-D, more than 4 channels (summed in a double
    # workspace)
    nlm_case((12, 13, 1), 5, 2, 0.1, 0.0, False, dt, "classic")
    nlm_case((12, 13, 2), 3, 3, 0.05, 0.01, False, dt, "classic cutoff")
    nlm_case((5, 6, 7, 2), 3, 1, 0.2, 0.0, False, dt, "classic 3d")
    nlm_case((8, 9, 6), 3, 1, 0.3, 0.0, False, dt, "classic 6 channels")
    nlm_case((7, 10, 5), 3, 2, 0.3, 0.0, True, dt, "generic fast 5 channels")
# tiled with more than 48 KB of shared memory (cudaFuncSetAttribute): float64, patch 7, distance 15
nlm_case((40, 40, 1), 7, 15, 0.2, 0.0, True, np.float64, "tiled opt-in smem", "nlm_gray2d_tiled")
# row blocks of 16: at least 2 x 132 tiles of 32 x 64 pixels
nlm_case((64 * 12, 32 * 22 + 5, 1), 3, 1, 0.2, 0.0, True, np.float32, "tiled R16", "nlm_gray2d_tiled")


# OpenCV-style: integer distances and weights, the same integers as the CPU's: bit for bit.
def cv_case(shape, h, t, s, dt, what, kernel="cv_nlm_tiled"):
    x = rng.integers(0, 256 if dt == np.uint8 else 4000, shape).astype(dt)
    want = np.empty_like(x)
    _core.fast_nl_means(x, want, h, t, s)
    r = call("fast_nl_means", image=x, h=h, template_window_size=t, search_window_size=s,
             outputs={"out": (shape, x.dtype.name)})
    check(np.array_equal(r["out"], want) and r["_kernels"] == {kernel: 1}, "fast_nl_means", what, shape, h, t, s,
          dt.__name__, r["_kernels"],
          "diff", int(np.max(np.abs(r["out"].astype(np.int64) - want))))


for dt, hs in ((np.uint8, (10.0, 40.0)), (np.uint16, (300.0, 3000.0))):
    for c in (1, 2, 3, 4):
        shape = (21, 40) if c == 1 else (21, 40, c)
        cv_case(shape, hs[0], 3, 5, dt, "tiled")
    # a wide h: the table's nonzero prefix past 8192 entries, the direct kernel
    cv_case((17, 35, 3), hs[1], 5, 7, dt, "untiled (long table)", "cv_nlm_kernel")
    cv_case((10, 9), hs[0], 7, 3, dt, "template larger than the image")
cv_case((12, 14), 4000.0, 3, 3, np.uint16, "tiled, long table of one channel")
cv_case((1, 1), 15.0, 3, 3, np.uint8, "1x1")
cv_case((1, 5), 15.0, 7, 9, np.uint8, "one row, windows past the image")
cv_case((12, 14, 2), 200.0, 3, 3, np.uint8, "untiled u8 2ch", "cv_nlm_kernel")
cv_case((64 * 12, 32 * 22 + 3), 10.0, 3, 3, np.uint8, "tiled R16")


def col_case(shape, h, hc, t, s, what):
    x = rng.integers(0, 256, shape).astype(np.uint8)
    want = np.empty_like(x)
    _core.fast_nl_means_colored(x, want, h, hc, t, s)
    r = call("fast_nl_means_colored", image=x, h=h, h_color=hc, template_window_size=t, search_window_size=s,
             outputs={"out": (shape, "uint8")})
    check(np.array_equal(r["out"], want), "fast_nl_means_colored", what, shape,
          "diff", int(np.max(np.abs(r["out"].astype(np.int64) - want))))


col_case((19, 37, 3), 10.0, 10.0, 3, 5, "colour")
col_case((9, 11, 3), 3.0, 30.0, 5, 3, "colour h_color")
report("restore_nlm")
