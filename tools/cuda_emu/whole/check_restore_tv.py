"""tv_cuda.cu (emulated whole, see ops_restore.cpp) against foveal's CPU denoise_tv_chambolle / denoise_tv_bregman
(the same kernel entry points, _core.*, with the same arguments)."""
import numpy as np

from foveal import _core
from emu import call, check, report

rng = np.random.default_rng(5)


def cpu_tv(x, w, eps, n, bd):
    out = np.empty_like(x)
    return out, np.array(_core.denoise_tv_chambolle(x, out, w, eps, n, bd))


def emu_tv(x, w, eps, n, bd):
    nb = x.shape[0] if bd else 1
    r = call("denoise_tv_chambolle", image=x, weight=w, eps=eps, max_num_iter=n, batch_dims=bd,
             outputs={"out": (x.shape, x.dtype.name), "iters": ((nb,), "int64")})
    return r["out"], r["iters"], r["_kernels"]


# Chambolle. The per-element math is the CPU's (math/tv.hpp, same operation order); the energy of the
# stop rule is summed in another order (block partials in double), so an iteration count may differ
# only where |E_prev - E| sits within rounding of eps E_0: not on these inputs. Results: a few ulps
# of the dtype per iteration at most (float: FMA contraction differs between the two builds).
def tv_case(shape, bd, w, eps, n, dt, what):
    x = rng.normal(0.5, 0.3, shape).astype(dt)
    want, wi = cpu_tv(x, w, eps, n, bd)
    got, gi, k = emu_tv(x, w, eps, n, bd)
    tol = (2e-5 if dt == np.float32 else 1e-12) * max(1, n / 20)
    err = float(np.max(np.abs(got.astype(np.float64) - want))) if x.size else 0.0
    check(np.array_equal(gi, wi) and err <= tol, "chambolle", what, shape, bd, dt.__name__, n, eps,
          "iters", gi.tolist(), wi.tolist(), "err", err)
    return wi, k


def ran(r, *names):
    return all(r.get(k, 0) > 0 for k in names)


# Iterations run until a poll (every 32) sees the stop flag: counts of 1..31 stop before the first poll,
# 33..63 after one poll went on. Sizes stay small: every iteration is two launches of 256 CUDA threads,
# so the runs past a poll are float32's only (float64 takes the same host code, stopping before it).
for dt in (np.float32, np.float64):
    long = dt == np.float32
    # 2-D tiled (32 x 8 tiles, partial on both edges): stop rule after a poll (float32: 38), max_num_iter
    # hit (eps 0), one iteration only (the `last` launch without a stop step)
    it, k = tv_case((9, 40), 0, 0.1, 5e-5 if long else 3e-4, 70, dt, "2d tiled")
    check((32 < it[0] < 64 if long else 1 < it[0] < 32) and ran(k, "iter2d_kernel", "stop_kernel")
          and "iter_kernel" not in k, "2d path", it, k)
    tv_case((9, 33), 0, 0.1, 0.0, 5, dt, "2d max_num_iter")
    tv_case((8, 32), 0, 0.1, 2e-4, 1, dt, "2d one iteration")
    tv_case((1, 5), 0, 0.1, 2e-4, 20, dt, "2d one row")
    tv_case((12, 1), 0, 0.1, 2e-4, 20, dt, "2d one column")
    # batch (channel_axis): one stop rule per image (38 and 30), the workspace reused
    it, _ = tv_case((2, 9, 20), 1, 0.1, 5e-5 if long else 3e-4, 50, dt, "2d batch")
    check(it[0] != it[1], "batch stops not distinct", it)
    # N-D: 1-D (grid-stride past one 256-thread block), 3-D (iter_kernel<3>), 4-D and 6-D (the generic
    # kernel, D = 0), a 3-D batch
    it, k = tv_case((300,), 0, 0.1, 1e-5 if long else 1e-4, 60, dt, "1d")
    check((32 < it[0] < 60 if long else 1 < it[0] < 32) and ran(k, "iter_kernel"), "1d path", it, k)
    tv_case((3, 4, 5), 0, 0.1, 3e-4, 40, dt, "3d")
    tv_case((2, 3, 4, 5), 1, 0.1, 3e-4, 40, dt, "3d batch")
    tv_case((2, 3, 4, 5), 0, 0.1, 3e-4, 40, dt, "4d")
    tv_case((2, 1, 2, 3, 2, 3), 0, 0.1, 0.0, 4, dt, "6d max_num_iter")


# Split Bregman: the sweep's tiles start kWarm rows / columns early from the state before the sweep
# (see tv_cuda.cu), an approximation below the dtype's rounding; a different operation order from the
# CPU's Gauss-Seidel loop. Bound: 1e-4 (float32) / 1e-10 (float64) of the image range, and the same
# sweep counts where the stop rule's rmse is not within that of eps.
def breg_case(shape, w, eps, n, iso, joint, dt, what):
    x = rng.normal(0.5, 0.3, shape).astype(dt)
    want = np.empty_like(x)
    wi = np.array(_core.denoise_tv_bregman(x, want, w, eps, n, iso, joint))
    r = call("denoise_tv_bregman", image=x, weight=w, eps=eps, max_num_iter=n, isotropic=int(iso), joint=int(joint),
             outputs={"out": (shape, x.dtype.name), "iters": ((shape[0],), "int64")})
    err = float(np.max(np.abs(r["out"].astype(np.float64) - want)))
    tol = 1e-4 if dt == np.float32 else 1e-10
    check(np.array_equal(r["iters"], wi) and err <= tol, "bregman", what, shape, dt.__name__, iso, joint,
          "iters", r["iters"].tolist(), wi.tolist(), "err", err)
    return wi


for dt in (np.float32, np.float64):
    for iso in (True, False):
        # 2 x 2 tiles (32 rows, 96 / 80 columns per tile; partial at the far edges): each plane its own
        # stop (before the first poll), then one joint stop (float32 isotropic: after a poll); eps 0 (no
        # poll) hitting max_num_iter
        it = breg_case((2, 40, 130), 5.0, 1e-3, 40, iso, False, dt, "planes")
        check(1 < min(it) and max(it) < 32, "bregman early stop", it)
        long = dt == np.float32 and iso
        it = breg_case((2, 40, 130), 5.0, 1.5e-4 if long else 1e-3, 50, iso, True, dt, "joint")
        check((32 < it[0] < 50 if long else it[0] < 32) and it[0] == it[1], "bregman joint stop", it)
        breg_case((1, 40, 5), 0.5, 0.0, 6, iso, False, dt, "eps 0")
        breg_case((2, 2, 2), 1.0, 1e-3, 10, iso, False, dt, "2x2")
    breg_case((2, 9, 130), 3.0, 1e-3, 0, True, False, dt, "no sweep")  # the image itself
report("restore_tv")
