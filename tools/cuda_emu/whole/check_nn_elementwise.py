"""elementwise_cuda.cu (emulated whole, see ops_nn.cpp) against foveal.nn's CPU ops: batch_norm,
fold_batch_norm, relu, sigmoid, softmax along every dim, add (same shapes: neither backend
broadcasts), in float32, float64, float16 and bfloat16.

relu and add are compared bit for bit (float16 / bfloat16 with the CPU's float32 result on the same
rounded inputs, rounded once: the kernel adds in float too). The others run exp, sqrt and
multiply-adds whose rounding differs between the CPU, the emulator (host libm, no contraction)
and the device (CUDA's expf, fma contraction), so they are compared with the CPU's float64 result on
the same rounded inputs within a stated relative bound (u: float's or double's unit roundoff; u_out
float16's 2^-11 or bfloat16's 2^-8 for the output's rounding):
  batch_norm / fold: 8 u (|x s| + |mean s| + |bias|), s = weight / sqrt(var + eps) (a few roundings each);
  sigmoid: 8 u |y| (exp within 2 ulp, then an add and a division);
  softmax: u (|x - max| + L + 8) |y| (x - max rounds, exp's relative error grows with its argument,
  the sum of L terms, the scale);
and everywhere a few subnormal spacings of the output (ABS) where the results underflow."""
import numpy as np

import foveal.nn as fnn
from emu import bf16, bf16_to_float, call, check, report

rng = np.random.default_rng(13)
DT = {"float32": np.float32, "float64": np.float64, "float16": np.float16, "bfloat16": None}
U = {"float32": 2.0 ** -24, "float64": 2.0 ** -53, "float16": 2.0 ** -24, "bfloat16": 2.0 ** -24}
U_OUT = {"float32": 0, "float64": 0, "float16": 2.0 ** -11, "bfloat16": 2.0 ** -8}
# below the normal range relative bounds fail (exp underflows gradually): a few of the output's
# subnormal spacings (float 2^-149, double 2^-1074, float16 2^-24, bfloat16 2^-133)
ABS = {"float32": 2.0 ** -147, "float64": 2.0 ** -1072, "float16": 2.0 ** -24, "bfloat16": 2.0 ** -132}


def data(x, dt):
    """(tensor to pass, its values as float32 (float64 for float64))."""
    if x is None:
        return None, None
    if dt == "bfloat16":
        t = bf16(x)
        return t, bf16_to_float(t.bits)
    t = np.asarray(x).astype(DT[dt])
    return t, t.astype(np.float64 if dt == "float64" else np.float32)


def as_out(want, dt):
    if dt == "bfloat16":
        return bf16_to_float(bf16(want).bits)
    return want.astype(DT[dt])


def within(got, want, tol, dt):
    g = got.astype(np.float64)
    tol = tol + U_OUT[dt] * np.abs(want) + ABS[dt]
    nan = np.isnan(want)
    with np.errstate(invalid="ignore"):
        close = (np.abs(g - want) <= tol) | (g == want)  # g == want: infinities
    return g.shape == want.shape and np.array_equal(np.isnan(g), nan) and bool(np.all(close[~nan]))


def args_of(**kv):
    """Drops the absent optional tensors (None), as the front ends pass empty views."""
    return {k: v for k, v in kv.items() if v is not None}


def batch_norm(dt, shape, w=True, b=True, eps=1e-5):
    C = shape[1]
    x, m = rng.normal(0, 2, shape), rng.normal(0, 1, C)
    v, ww, bb = rng.uniform(0.1, 3, C), rng.normal(0, 1, C) if w else None, rng.normal(0, 1, C) if b else None
    (xt, xf), (mt, mf), (vt, vf), (wt, wf), (bt, bf) = (data(a, dt) for a in (x, m, v, ww, bb))
    f = [a.astype(np.float64) if a is not None else None for a in (xf, mf, vf, wf, bf)]
    want = fnn.batch_norm(*f, eps=eps)
    got = call("batch_norm", outputs={"out": (shape, dt)},
               **args_of(input=xt, running_mean=mt, running_var=vt, weight=wt, bias=bt, eps=eps))["out"]
    s = (f[3] if w else 1) / np.sqrt(f[2] + eps)
    ch = (slice(None),) + (None,) * (len(shape) - 2)
    mag = np.abs(f[0]) * np.abs(s)[ch] + np.abs(f[1] * s)[ch] + (np.abs(f[4]) if b else np.zeros(C))[ch]
    check(within(got, want, 8 * U[dt] * mag, dt), "batch_norm", dt, shape, w, b, eps)


def fold(dt, wshape, cb=True, eps=1e-5):
    C = wshape[0]
    w, c, m = rng.normal(0, 1, wshape), rng.normal(0, 1, C) if cb else None, rng.normal(0, 1, C)
    v, g, h = rng.uniform(0.1, 3, C), rng.normal(0, 1, C), rng.normal(0, 1, C)
    ts = [data(a, dt) for a in (w, c, m, v, g, h)]
    f = [t[1].astype(np.float64) if t[1] is not None else None for t in ts]
    ww, wb = fnn.fold_batch_norm(*f, eps=eps)
    got = call("fold_batch_norm", outputs={"out_weight": (wshape, dt), "out_bias": ((C,), dt)},
               **args_of(conv_weight=ts[0][0], conv_bias=ts[1][0], running_mean=ts[2][0], running_var=ts[3][0],
                         bn_weight=ts[4][0], bn_bias=ts[5][0], eps=eps))
    s = np.abs(f[4]) / np.sqrt(f[3] + eps)
    ch = (slice(None),) + (None,) * (len(wshape) - 1)
    check(within(got["out_weight"], ww, 8 * U[dt] * np.abs(f[0]) * s[ch], dt), "fold weight", dt, wshape, cb)
    mag = ((np.abs(f[1]) if cb else 0) + np.abs(f[2])) * s + np.abs(f[5])
    check(within(got["out_bias"], wb, 8 * U[dt] * mag, dt), "fold bias", dt, wshape, cb)


def special(x):
    if x.size > 10:
        x.flat[rng.integers(0, x.size, 3)] = np.nan
        x.flat[rng.integers(0, x.size, 2)] = np.inf
        x.flat[rng.integers(0, x.size, 2)] = -np.inf
    return x


def unary(dt, shape, op, launches=1):
    x = special(rng.normal(0, 6, shape))
    xt, xf = data(x, dt)
    f = fnn.relu if op == 0 else fnn.sigmoid
    got = call("unary", input=xt, which=op, outputs={"out": (shape, dt)})
    if op == 0:
        check(np.array_equal(got["out"], as_out(f(xf), dt), equal_nan=True), "relu", dt, shape)
    else:
        want = f(xf.astype(np.float64))
        check(within(got["out"], want, 8 * U[dt] * np.abs(want), dt), "sigmoid", dt, shape)
    check(got["_launches"] == launches, "launches", dt, shape, op)


def softmax(dt, shape, dim, scale=4.0, nan_line=False):
    x = rng.normal(0, scale, shape)
    if nan_line:
        x.flat[0] = np.nan
        x.flat[x.size - 1] = np.inf
    xt, xf = data(x, dt)
    x64 = xf.astype(np.float64)
    want = fnn.softmax(x64, dim)
    got = call("softmax", input=xt, dim=dim, outputs={"out": (shape, dt)})["out"]
    with np.errstate(invalid="ignore"):
        arg = np.abs(x64 - np.nanmax(np.where(np.isnan(x64), -np.inf, x64), axis=dim, keepdims=True))
    arg = np.where(np.isfinite(arg), arg, 0)
    check(within(got, want, U[dt] * (arg + shape[dim] + 8) * np.abs(want), dt), "softmax", dt, shape, dim)


def add(dt, shape):
    a, b = special(rng.normal(0, 3, shape)), rng.normal(0, 3, shape)
    (at, af), (bt, bf_) = data(a, dt), data(b, dt)
    want = as_out(fnn.add(af, bf_), dt)
    got = call("add", a=at, b=bt, outputs={"out": (shape, dt)})["out"]
    check(np.array_equal(got, want, equal_nan=True), "add", dt, shape)


for dt in DT:
    batch_norm(dt, (2, 5, 7, 9))
    batch_norm(dt, (3, 4), w=False)
    batch_norm(dt, (2, 3, 300), b=False, eps=0.0)
    batch_norm(dt, (1, 6, 2, 3, 4), w=False, b=False, eps=0.5)
    fold(dt, (8, 3, 3, 3))
    fold(dt, (5, 7), cb=False)
    fold(dt, (300,), eps=0.1)
    for op in (0, 1):
        unary(dt, (3, 5, 40), op)
        unary(dt, (70000,), op)
        unary(dt, (1,), op)
    for d in range(4):
        softmax(dt, (3, 4, 5, 6), d)
    softmax(dt, (4, 70), 1, scale=30.0)
    softmax(dt, (513,), 0)
    softmax(dt, (2, 1, 3), 1)
    softmax(dt, (3, 9, 2), 1, nan_line=True)
    add(dt, (4, 5, 6))
    add(dt, (70001,))
# more than 65535 blocks of 256: the grid-stride loop of the element kernels
unary("bfloat16", (65535 * 256 + 300,), 0)
report("nn_elementwise")
