"""rl_cuda.cu with cufft_api.cu (emulated whole, see ops_restore_rl.cpp; the FFT path on the stand-in cuFFT,
../cufft_fake.cpp) against foveal's CPU richardson_lucy (the same kernel entry point, _core.richardson_lucy,
same arguments, so the same plan: method, FFT lengths)."""
import os

import numpy as np

from foveal import _core
from emu import call, check, report

os.environ["FOVEAL_CUFFT_LIBRARY"] = os.path.abspath("libcufft_fake.so")  # built by run.sh beside ops_emu
rng = np.random.default_rng(8)
DIRECT, SEP, FFT = 1, 2, 3


def gauss(k, s):
    t = np.arange(k) - (k - 1) / 2
    return np.exp(-t * t / (2 * s * s))


def outer(*v):
    p = v[0]
    for w in v[1:]:
        p = np.multiply.outer(p, w)
    return p


# Direct and separable: the CPU's loops and tap order, but float32 sums may contract differently
# (FMA) and the separable passes' order of the axes is the CPU's only up to rounding: bound
# 1e-6 (float32) / 1e-13 (float64) of the result scale per iteration. FFT: another transform
# (the stand-in cuFFT against the CPU's own), 1e-5 / 1e-12 per iteration.
def rl_case(shape, psf, n, clip, fe, mode, method, dt, want_method, what, loose=1):
    x = rng.uniform(0, 1, shape).astype(dt)
    p = np.ascontiguousarray(psf, dtype=dt)
    want = np.empty_like(x)
    wm = _core.richardson_lucy(x, p, want, n, clip, fe, mode, method)
    r = call("richardson_lucy", image=x, psf=p, num_iter=n, clip=int(clip), filter_epsilon=fe, mode=mode,
             method=method, outputs={"out": (shape, x.dtype.name), "used": ((1,), "int64")})
    got, gm = r["out"], int(r["used"][0])
    scale = max(1.0, float(np.max(np.abs(want))))
    per = {np.float32: 1e-6, np.float64: 1e-13}[dt] * (10 if gm == FFT else 1)
    err = float(np.max(np.abs(got.astype(np.float64) - want))) / scale
    check(gm == wm == want_method and err <= per * n * 4 * loose, "rl", what, shape, psf.shape, dt.__name__, "mode", mode,
          "method", method, "used", gm, wm, "err", err)


for dt in (np.float32, np.float64):
    g5 = outer(gauss(5, 1.0), gauss(5, 1.5))
    g5z = g5.copy()
    g5z[0, 0] = 0  # a zero tap (skipped), and no longer rank 1
    for mode in (0, 1, 2):
        # 2-D, every method forced; launch3's block shapes for narrow (< 32) and wide (> 256) rows
        rl_case((19, 23), g5, 4, True, 0.0, mode, DIRECT, dt, DIRECT, "2d direct")
        rl_case((19, 23), g5, 4, False, 0.0, mode, SEP, dt, SEP, "2d separable")
        rl_case((19, 23), g5, 4, True, 0.0, mode, FFT, dt, FFT, "2d fft")
        rl_case((3, 300), outer(gauss(3, 1), gauss(4, 1)), 3, True, 0.0, mode, SEP, dt, SEP, "2d wide, even psf")
        rl_case((3, 300), outer(gauss(3, 1), gauss(4, 1)), 3, True, 0.0, mode, FFT, dt, FFT, "2d wide fft even")
        # 1-D and 3-D
        rl_case((70,), gauss(6, 1.2), 3, True, 0.0, mode, DIRECT, dt, DIRECT, "1d")
        rl_case((70,), gauss(7, 1.2), 3, True, 0.0, mode, FFT, dt, FFT, "1d fft")
        rl_case((5, 6, 9), outer(gauss(3, 1), gauss(2, 1), gauss(3, 1)), 3, True, 0.0, mode, SEP, dt, SEP, "3d sep")
        rl_case((5, 6, 9), outer(gauss(3, 1), gauss(3, 1), gauss(3, 1)), 3, True, 0.0, mode, DIRECT, dt, DIRECT,
                "3d direct")
        rl_case((5, 6, 9), outer(gauss(3, 1), gauss(2, 1), gauss(5, 1)), 2, True, 0.0, mode, FFT, dt, FFT, "3d fft")
    # the psf as large as the image (even and odd, every axis): pads of k - 1, FFT lengths from n + k - 1
    for mode in (0, 1, 2):
        for method in (DIRECT, FFT):
            rl_case((4, 6), rng.uniform(0.1, 1, (4, 6)), 3, False, 0.0, mode, method, dt, method, "psf = image")
            rl_case((2, 3, 5), rng.uniform(0.1, 1, (2, 3, 5)), 2, False, 0.0, mode, method, dt, method, "3d psf = image")
    # filter_epsilon (the ratio's filter), clip off
    rl_case((19, 23), g5z, 4, False, 0.5, 1, DIRECT, dt, DIRECT, "filter direct")
    rl_case((19, 23), g5, 4, False, 0.5, 0, SEP, dt, SEP, "filter sep")
    rl_case((19, 23), g5, 4, False, 0.5, 2, FFT, dt, FFT, "filter fft")
    # method selection by 'auto': non-rank-1 small psf -> direct; rank 1 -> separable; a wide psf on a
    # large image -> fft (only with cuFFT loaded)
    rl_case((19, 23), g5z, 3, True, 0.0, 0, 0, dt, DIRECT, "auto direct")
    rl_case((19, 23), g5, 3, True, 0.0, 0, 0, dt, SEP, "auto separable")
    big = rng.uniform(0, 1, (15, 15))
    rl_case((48, 64), big, 2, True, 0.0, 1, 0, dt, FFT, "auto fft")
    rl_case((1, 1), np.ones((1, 1)), 2, True, 0.0, 0, 0, dt, DIRECT, "1x1")
    # negative taps and a zero column (rank 1): auto weighs 5 separable taps against 6 direct ones; forced
    # separable drops the zero factor. Negative taps make conv(x, psf) small where the ratio divides by
    # it (ill-conditioned), so the bound is 10x the others'.
    sp = outer(np.array([-0.03, 1.0, -0.02]), np.array([0.2, 1.0, 0.0]))
    rl_case((12, 13), sp, 3, True, 0.0, 1, 0, dt, DIRECT, "signed auto", 10)
    rl_case((12, 13), sp, 3, True, 0.0, 1, SEP, dt, SEP, "signed sep", 10)
    try:  # a separable request for a psf that is not rank 1: the front end's error, before any work
        call("richardson_lucy", image=np.ones((8, 8), dt), psf=g5z.astype(dt), num_iter=1, clip=1, filter_epsilon=0.0,
             mode=0, method=SEP, outputs={"out": ((8, 8), np.dtype(dt).name), "used": ((1,), "int64")})
        check(False, "separable non-rank-1 psf accepted")
    except RuntimeError as e:
        check("rank-1" in str(e), "separable error", str(e)[:200])
# Without cuFFT (cufft_api.cu finds no library) 'auto' weighs the direct and separable paths only; the
# CPU backend always has its FFT, so the reference is the CPU forced to the method the device picked.
os.environ["FOVEAL_CUFFT_LIBRARY"] = "/nonexistent/libcufft.so"
for dt in (np.float32, np.float64):
    x = rng.uniform(0, 1, (48, 64)).astype(dt)
    for psf, want_method in ((rng.uniform(0, 1, (15, 15)), DIRECT), (outer(gauss(15, 3), gauss(15, 2)), SEP)):
        p = psf.astype(dt)
        want = np.empty_like(x)
        _core.richardson_lucy(x, p, want, 2, True, 0.0, 1, want_method)
        r = call("richardson_lucy", image=x, psf=p, num_iter=2, clip=1, filter_epsilon=0.0, mode=1, method=0,
                 outputs={"out": (x.shape, x.dtype.name), "used": ((1,), "int64")})
        err = float(np.max(np.abs(r["out"].astype(np.float64) - want)))
        check(int(r["used"][0]) == want_method and err <= (1e-5 if dt == np.float32 else 1e-12), "rl no cufft",
              dt.__name__, int(r["used"][0]), want_method, err)
report("restore_rl")
