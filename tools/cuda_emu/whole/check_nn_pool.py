"""pool_cuda.cu (emulated whole, see ops_nn.cpp) against foveal.nn's CPU pooling, bit for bit.

max_pool2d (the 3 x 3, 2 x 2 and any-size kernels, with and without indices), avg_pool2d (the same
three kernels; count_include_pad, divisor_override, ceil_mode), adaptive max (with and without
indices) and adaptive avg, in float32, float64, float16 and bfloat16; NaN, -inf and ties (the
index rule: the first maximum, a NaN's last position). The CPU takes float32 / float64: float16 and
bfloat16 are compared with the CPU's float32 result on the same rounded inputs, rounded once to
the output dtype. That is exact: the kernel computes in float too, a max is exact and adaptive
average pooling sums in the CPU's order (row-major from 0), so the float results agree bit for bit
before the rounding. avg_pool2d sums in another order than the CPU (see avg_pool): within a bound.
Large outputs cross the grid's 65535 caps on rows (y) and planes (z), which the kernels stride."""
import numpy as np

import foveal.nn as fnn
from emu import bf16, bf16_to_float, call, check, report

rng = np.random.default_rng(7)
DT = {"float32": np.float32, "float64": np.float64, "float16": np.float16, "bfloat16": None}


def data(shape, dt, special=True, ties=False):
    """(tensor to pass, the CPU's float input holding the same values)."""
    x = rng.integers(-4, 5, shape).astype(np.float64) if ties else rng.normal(0, 2, shape)
    if special and x.size > 8:
        x.flat[rng.integers(0, x.size, max(1, x.size // 40))] = np.nan
        x.flat[rng.integers(0, x.size, max(1, x.size // 40))] = -np.inf
        x.flat[rng.integers(0, x.size, max(1, x.size // 80))] = np.inf
    if dt == "bfloat16":
        t = bf16(x)
        return t, bf16_to_float(t.bits)
    t = x.astype(DT[dt])
    return t, t.astype(np.float64 if dt == "float64" else np.float32)


def as_out(want, dt):
    """The CPU's result as the device's output dtype holds it (one rounding of the float result)."""
    if dt == "bfloat16":
        return bf16_to_float(bf16(want).bits)
    return want.astype(DT[dt])


def same(got, want):
    return got.shape == want.shape and np.array_equal(got, want, equal_nan=True)


def max_pool(dt, shape, k, s=None, p=0, d=1, ceil=False, idx=True, ties=False, special=True, launches=1):
    xt, xf = data(shape, dt, special, ties)
    k2, s2, p2, d2 = (v if isinstance(v, tuple) else (v, v) for v in (k, s if s is not None else k, p, d))
    want, wi = fnn.max_pool2d(xf, k2, s2, p2, d2, ceil_mode=ceil, return_indices=True)
    outs = {"out": (want.shape, dt)}
    if idx:
        outs["indices"] = (want.shape, "int64")
    got = call("max_pool2d", input=xt, kernel=k2, stride=s2, padding=p2, dilation=d2, ceil_mode=int(ceil),
               outputs=outs)
    what = ("max_pool2d", dt, shape, k2, s2, p2, d2, ceil, idx)
    check(same(got["out"], as_out(want, dt)), *what)
    if idx:
        check(np.array_equal(got["indices"], wi), "indices", *what)
    check(got["_launches"] == launches, "launches", *what)


def avg_pool(dt, shape, k, s=None, p=0, ceil=False, cip=True, div=None):
    xt, xf = data(shape, dt, special=False)
    k2, s2, p2 = (v if isinstance(v, tuple) else (v, v) for v in (k, s if s is not None else k, p))
    x64 = xf.astype(np.float64)
    want = fnn.avg_pool2d(x64, k2, s2, p2, ceil_mode=ceil, count_include_pad=cip, divisor_override=div)
    A = fnn.avg_pool2d(np.abs(x64), k2, s2, p2, ceil_mode=ceil, count_include_pad=cip, divisor_override=div)
    got = call("avg_pool2d", input=xt, kernel=k2, stride=s2, padding=p2, ceil_mode=int(ceil),
               count_include_pad=int(cip), divisor_override=div or 0, outputs={"out": (want.shape, dt)})
    # The CPU sums each window column by column, the kernel row-major: each rounds kh kw - 1 adds and
    # the division (unit roundoff u of the float / double math), then float16 / bfloat16 round once.
    u = 2.0 ** -53 if dt == "float64" else 2.0 ** -24
    u_out = {"float16": 2.0 ** -11, "bfloat16": 2.0 ** -8}.get(dt, 0)
    tol = (k2[0] * k2[1] + 1) * u * A * (1 + u_out) + u_out * np.abs(want) + (2.0 ** -24 if dt == "float16" else 0)
    got64 = got["out"].astype(np.float64)
    check(got64.shape == want.shape and bool(np.all(np.abs(got64 - want) <= tol)), "avg_pool2d", dt, shape, k2, s2,
          p2, ceil, cip, div)


def adaptive(dt, shape, osize, kind, idx=True):
    special = kind == "max"
    xt, xf = data(shape, dt, special, ties=special)
    if kind == "max":
        want, wi = fnn.adaptive_max_pool2d(xf, osize, return_indices=True)
        outs = {"out": (want.shape, dt)}
        if idx:
            outs["indices"] = (want.shape, "int64")
        got = call("adaptive_max_pool2d", input=xt, outputs=outs)
        if idx:
            check(np.array_equal(got["indices"], wi), "adaptive max indices", dt, shape, osize)
    else:
        want = fnn.adaptive_avg_pool2d(xf, osize)
        got = call("adaptive_avg_pool2d", input=xt, outputs={"out": (want.shape, dt)})
    check(same(got["out"], as_out(want, dt)), "adaptive", kind, dt, shape, osize, idx)


for dt in DT:
    # max: 3 x 3 and 2 x 2 (all taps loaded first) and any size (the runtime loop)
    max_pool(dt, (2, 3, 17, 19), 3, 2, 1)
    max_pool(dt, (2, 3, 17, 19), 3, 2, 1, idx=False)
    max_pool(dt, (1, 2, 12, 15), 2, ties=True)
    max_pool(dt, (1, 2, 12, 15), 2, idx=False, ties=True)
    max_pool(dt, (3, 13, 11), (3, 2), (2, 1), (1, 1), ceil=True, ties=True)
    max_pool(dt, (1, 2, 14, 16), 5, 3, 2, 2)
    max_pool(dt, (1, 2, 14, 16), 5, 3, 2, 2, idx=False)
    max_pool(dt, (1, 2, 10, 9), 3, 1, 1, (2, 3), ties=True)  # dilated 3 x 3: the unrolled taps skip
    max_pool(dt, (2, 1, 9, 7), 2, 2, 1, 3, ceil=True)  # dilated 2 x 2, windows partly outside
    max_pool(dt, (1, 1, 2, 2), 2, 1, 1, 3, special=False)  # windows wholly in the padding: -inf
    max_pool(dt, (1, 1, 2, 2), 2, 1, 1, 3, idx=False, special=False)
    # average: count_include_pad, divisor_override, ceil_mode windows clipped at the right
    avg_pool(dt, (2, 3, 17, 19), 3, 2, 1)
    avg_pool(dt, (2, 3, 17, 19), 3, 2, 1, cip=False)
    avg_pool(dt, (1, 2, 12, 15), 2, ceil=True, cip=False)
    avg_pool(dt, (1, 2, 12, 15), 2, 1, 1, div=3)
    avg_pool(dt, (3, 14, 11), (4, 3), (3, 2), (2, 1), ceil=True)
    avg_pool(dt, (3, 14, 11), (4, 3), (3, 2), (2, 1), ceil=True, cip=False, div=7)
    avg_pool(dt, (1, 1, 40, 70), 5, 1, 2)  # several blocks in x and y
    # adaptive: shrinking, growing (overlapping windows), one output
    for osize in ((5, 7), (1, 1), (13, 20), (9, 3)):
        adaptive(dt, (2, 3, 9, 11), osize, "max")
        adaptive(dt, (2, 3, 9, 11), osize, "avg")
    adaptive(dt, (3, 9, 11), (4, 4), "max", idx=False)
    adaptive(dt, (3, 9, 11), (4, 4), "avg")

# more than 65535 planes (the z grid-strides) and more than 65535 x 8 output rows (the y too)
max_pool("float32", (65540, 1, 2, 2), 2, special=False)
adaptive("float16", (1, 65539, 1, 1), (1, 1), "avg")
max_pool("bfloat16", (1, 1, 524300, 1), (3, 1), 1, (1, 0))
avg_pool("float64", (1, 1, 1048620, 1), (2, 1), 2, 0)
report("nn_pool")
