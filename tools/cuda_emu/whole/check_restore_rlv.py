"""rl_variants_cuda.cu (emulated whole, see ops_restore_rlv.cpp: the shipped loops of ops/rl_variants.cpp over
the CUDA primitives) against foveal's CPU richardson_lucy_variant / blind_richardson_lucy (same entry points,
_core.*, same arguments)."""
import numpy as np

from foveal import _core
from emu import call, check, report

rng = np.random.default_rng(9)
DIRECT = 1


def gauss(k, s):
    t = np.arange(k) - (k - 1) / 2
    return np.exp(-t * t / (2 * s * s))


# The CUDA primitives convolve directly, summing taps in the CPU's direct order; reductions (dot, sum,
# the psf correlation) add per-block double partials in another order than the CPU's. The CPU is
# asked for method 'direct' so that the convolutions are the same sums. Bound: 5e-5 (float32) /
# 1e-11 (float64) of the result scale: rounding, grown by the iterations and by the acceleration's
# extrapolation x + alpha (x - x_prev), which multiplies a difference by up to 1 + 2 alpha per step
# (float32 Biggs + TV + filter reaches 1.5e-5 here).
def var_case(shape, psf, n, clip, fe, mode, acc, lam, dt, what):
    x = rng.uniform(0, 1, shape).astype(dt)
    p = np.ascontiguousarray(psf, dtype=dt)
    want = np.empty_like(x)
    _core.richardson_lucy_variant(x, p, want, n, clip, fe, mode, acc, lam, DIRECT)
    got = call("richardson_lucy_variant", image=x, psf=p, num_iter=n, clip=int(clip), filter_epsilon=fe, mode=mode,
               acceleration=acc, regularization=lam, method=0, outputs={"out": (shape, x.dtype.name)})["out"]
    err = float(np.max(np.abs(got.astype(np.float64) - want))) / max(1.0, float(np.max(np.abs(want))))
    tol = 5e-5 if dt == np.float32 else 1e-11
    check(err <= tol, "variant", what, shape, dt.__name__, "mode", mode, "acc", acc, "lam", lam, "err", err)


def blind_case(shape, psf, n, pi, ii, clip, fe, mode, acc, dt, what):
    x = rng.uniform(0, 1, shape).astype(dt)
    p = np.ascontiguousarray(psf, dtype=dt)
    want, wpsf = np.empty_like(x), np.empty_like(p)
    _core.blind_richardson_lucy(x, p, want, wpsf, n, pi, ii, clip, fe, mode, acc)
    r = call("blind_richardson_lucy", image=x, psf=p, num_iter=n, psf_iter=pi, image_iter=ii, clip=int(clip),
             filter_epsilon=fe, mode=mode, acceleration=acc,
             outputs={"out": (shape, x.dtype.name), "psf_out": (p.shape, x.dtype.name)})
    tol = 1e-4 if dt == np.float32 else 1e-10
    err = float(np.max(np.abs(r["out"].astype(np.float64) - want))) / max(1.0, float(np.max(np.abs(want))))
    perr = float(np.max(np.abs(r["psf_out"].astype(np.float64) - wpsf))) / float(np.max(np.abs(wpsf)))
    check(err <= tol and perr <= tol, "blind", what, shape, dt.__name__, "mode", mode, "acc", acc, "err", err, perr)


for dt in (np.float32, np.float64):
    g = np.multiply.outer(gauss(5, 1.0), gauss(3, 0.8))
    g[0, 0] = 0  # a zero tap, skipped in one pass only (the flipped one keeps its position)
    for mode in (0, 1, 2):
        var_case((21, 19), g, 5, True, 0.0, mode, 1, 0.0, dt, "biggs")      # 2 + 3 accelerated steps
        var_case((21, 19), g, 4, False, 0.0, mode, 0, 0.05, dt, "tv")
        var_case((21, 19), g, 5, True, 0.3, mode, 1, 0.05, dt, "biggs tv filter")
        blind_case((14, 15), np.ones((3, 3)), 2, 2, 2, True, 0.0, mode, 0, dt, "blind")
        blind_case((14, 15), np.ones((3, 3)), 2, 3, 2, True, 0.0, mode, 1, dt, "blind biggs")
    # more than one reduction block (256 threads) and the grid-stride loops; 1-D and 3-D
    var_case((600,), gauss(7, 1.5), 4, True, 0.0, 1, 1, 0.1, dt, "1d long")
    var_case((4, 7, 9), np.multiply.outer(np.multiply.outer(gauss(3, 1), gauss(1, 1)), gauss(3, 1)), 4, True, 0.0,
             2, 1, 0.02, dt, "3d")
    blind_case((3, 6, 7), np.ones((1, 3, 3)), 1, 2, 2, False, 0.0, 1, 1, dt, "blind 3d")
    blind_case((300,), gauss(5, 1), 2, 2, 1, True, 0.2, 0, 0, dt, "blind 1d filter")
    blind_case((8, 9), np.zeros((3, 3)) + np.eye(3), 1, 1, 1, True, 0.0, 0, 0, dt, "blind eye")
# an all-zero image: the estimate's sum is 0, so blind RL keeps the initial psf (normalised)
for dt in (np.float32, np.float64):
    z = np.zeros((7, 8), dt)
    p0 = np.arange(1, 10, dtype=dt).reshape(3, 3)
    want, wpsf = np.empty_like(z), np.empty_like(p0)
    _core.blind_richardson_lucy(z, p0, want, wpsf, 2, 2, 1, True, 0.0, 1, 1)
    r = call("blind_richardson_lucy", image=z, psf=p0, num_iter=2, psf_iter=2, image_iter=1, clip=1, filter_epsilon=0.0,
             mode=1, acceleration=1, outputs={"out": (z.shape, z.dtype.name), "psf_out": (p0.shape, z.dtype.name)})
    check(np.array_equal(r["out"], want) and np.allclose(r["psf_out"], wpsf, rtol=1e-6, atol=0), "blind zero image",
          dt.__name__)
report("restore_rlv")
