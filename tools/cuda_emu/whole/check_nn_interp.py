"""interpolate_cuda.cu (emulated whole, see ops_nn.cpp) against foveal.nn.interpolate on the CPU.

Nearest: the general kernel (sizes, scale factors, identity) and the 2x copy kernels (16-byte
vectors when the width is a multiple of 16 bytes, else scalar), bit for bit: nearest copies
input elements. Bilinear, align_corners True / False, by size or scale factor, up and down: the
CPU blends the rows first, the kernel the columns first, so the results differ by rounding: within
6 u max|x| for a blend of four values with weights in [0, 1] summing to 1 (three products and
three sums in the weight computation's type, u its unit roundoff), plus float16 / bfloat16's
output rounding. float16 / bfloat16 are compared with the CPU's float32 result on the same rounded
inputs. A tap or weight error moves a value by O(max|x|)."""
import numpy as np

import foveal.nn as fnn
from emu import bf16, bf16_to_float, call, check, report

rng = np.random.default_rng(9)
DT = {"float32": np.float32, "float64": np.float64, "float16": np.float16, "bfloat16": None}


def data(shape, dt):
    x = rng.normal(0, 3, shape)
    if dt == "bfloat16":
        t = bf16(x)
        return t, bf16_to_float(t.bits)
    t = x.astype(DT[dt])
    return t, t.astype(np.float64 if dt == "float64" else np.float32)


def interp(dt, shape, size=None, scale=None, mode="nearest", ac=None, recompute=None, launches=1):
    xt, xf = data(shape, dt)
    want = fnn.interpolate(xf, size=size, scale_factor=scale, mode=mode, align_corners=ac,
                           recompute_scale_factor=recompute)
    sc = (0.0, 0.0)
    if scale is not None and not recompute:
        sc = tuple(scale) if isinstance(scale, tuple) else (scale, scale)
    got = call("interpolate", input=xt, mode=0 if mode == "nearest" else 1, align_corners=int(bool(ac)), scale=sc,
               outputs={"out": (want.shape, dt)})
    what = ("interpolate", dt, shape, size, scale, mode, ac, recompute)
    g = got["out"].astype(np.float64)
    w = want.astype(np.float64)
    if mode == "nearest":
        ok = g.shape == w.shape and np.array_equal(g, w)
    else:
        u = 2.0 ** -53 if dt == "float64" else 2.0 ** -24
        u_out = {"float16": 2.0 ** -11, "bfloat16": 2.0 ** -8}.get(dt, 0)
        tol = 6 * u * np.abs(xf).max() * (1 + u_out) + u_out * np.abs(w) + (2.0 ** -24 if dt == "float16" else 0)
        ok = g.shape == w.shape and bool(np.all(np.abs(g - w) <= tol))
    check(ok, *what)
    check(got["_launches"] == launches, "launches", *what)


for dt in DT:
    # nearest 2x: vector copy (width a multiple of 16 bytes), scalar copy (not)
    interp(dt, (2, 3, 5, 16), scale=2)
    interp(dt, (1, 2, 7, 24), size=(14, 48))
    interp(dt, (2, 3, 5, 9), scale=2)
    interp(dt, (1, 1, 3, 1), size=(6, 2))
    # nearest, general: by size, by scale (the scale's own reciprocal), identity, 2x on one axis only
    interp(dt, (2, 2, 9, 13), size=(20, 7))
    interp(dt, (1, 3, 10, 11), scale=1.7)
    interp(dt, (1, 3, 10, 11), scale=(0.55, 2.4), recompute=True)
    interp(dt, (1, 2, 6, 70), size=(6, 70))
    interp(dt, (1, 2, 6, 7), size=(12, 9))
    # bilinear
    for ac in (False, True):
        interp(dt, (2, 2, 9, 13), size=(20, 7), mode="bilinear", ac=ac)
        interp(dt, (1, 3, 10, 11), scale=1.7, mode="bilinear", ac=ac)
        interp(dt, (1, 2, 6, 40), size=(6, 80), mode="bilinear", ac=ac)  # 2x by bilinear: the general kernel
        interp(dt, (1, 1, 1, 5), size=(3, 1), mode="bilinear", ac=ac)  # one input row, one output column
    interp(dt, (1, 2, 12, 12), scale=(0.4, 0.75), mode="bilinear")
    interp(dt, (1, 2, 12, 12), scale=(0.4, 0.75), mode="bilinear", recompute=True)
# more than 65535 planes and 65535 x 8 output rows: the grid-stride loops of the general kernel
interp("float32", (1, 65540, 1, 2), size=(1, 3))
interp("float16", (1, 1, 300000, 1), size=(524300, 1), mode="bilinear")
report("nn_interp")
