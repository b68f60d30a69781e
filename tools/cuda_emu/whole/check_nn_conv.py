"""conv2d_cuda.cu (emulated whole, see ops_nn.cpp): conv2d (depthwise kernel and implicit GEMM),
conv_transpose2d, linear and matmul against foveal's CPU ops in float64.

Paths: "f32" (SIMT, exact float32 fma), "tf32" (float32 with allow_tf32), "f64" (SIMT), "f16" and
"bf16" (tensor cores). The CPU takes float32 / float64 only, so every path is compared with the
CPU's float64 result on the same (rounded) inputs, within a rounding-error bound:

    |got - want| <= 1.1 ((K + 3) u S + t S) + (8 u + u_out) (|want| + e) + a_out

S = sum |w| |x| over the K taps + |bias| + |residual| (the CPU op on absolute values), u the unit
roundoff of the sums (float, or double for f64: each fma / add rounds once, K + 2 roundings), t
the TF32 input rounding (two inputs of relative error 2^-11: 2^-10) for tf32, 1.1 the largest slope
of the activations (silu's), 8 u for the activation's own float math, u_out the output's rounding
(float16 2^-11, bfloat16 2^-8) and a_out float16's subnormal spacing. An index or tap error moves
a value by O(|w| |x|), far beyond this.

EMU_SMS (fake_cuda's multiprocessor count) reaches the host's tile choices (pick_tile) and split-K
(plan_splits) with small problems; the default is an H200's 132."""
import os

import numpy as np

from foveal import _core
from emu import bf16, bf16_to_float, call, check, report

rng = np.random.default_rng(5)
ACTS = {"none": 0, "relu": 1, "leaky": 2, "silu": 3, "sigmoid": 4}
U_ACC = {"f32": 2.0 ** -24, "tf32": 2.0 ** -24, "f64": 2.0 ** -53, "f16": 2.0 ** -24, "bf16": 2.0 ** -24}
U_OUT = {"f32": 2.0 ** -24, "tf32": 2.0 ** -24, "f64": 2.0 ** -53, "f16": 2.0 ** -11, "bf16": 2.0 ** -8}
OUT_DT = {"f32": "float32", "tf32": "float32", "f64": "float64", "f16": "float16", "bf16": "bfloat16"}


def rounded(a, path):
    """(tensor to pass, its float64 values) for data `a` in path's storage dtype."""
    if a is None:
        return None, None
    if path == "f16":
        t = a.astype(np.float16)
        return t, t.astype(np.float64)
    if path == "bf16":
        t = bf16(a)
        return t, bf16_to_float(t.bits).astype(np.float64)
    t = a.astype(np.float64 if path == "f64" else np.float32)
    return t, t.astype(np.float64)


def sms(n):
    if n is None:
        os.environ.pop("EMU_SMS", None)
    else:
        os.environ["EMU_SMS"] = str(n)


def compare(got, want, S, K, path, what):
    got = got.astype(np.float64)
    e = 1.1 * ((K + 3) * U_ACC[path] * S + (2.0 ** -10 * S if path == "tf32" else 0))
    tol = e + (8 * U_ACC[path] + U_OUT[path]) * (np.abs(want) + e) + (2.0 ** -24 if path == "f16" else 0)
    nan = np.isnan(want)
    ok = np.array_equal(np.isnan(got), nan) and bool(np.all(np.abs(got - want)[~nan] <= tol[~nan]))
    if not ok:
        bad = np.abs(got - want) > tol
        i = np.unravel_index(np.argmax(np.where(nan, 0, np.abs(got - want) - tol)), want.shape)
        print("   worst", i, "got", got[i], "want", want[i], "tol", tol[i], "bad", int(bad.sum()), "of", bad.size)
    check(ok, what)


def conv(path, N, C_in, H, W, C_out, k, stride=(1, 1), pad=(0, 0, 0, 0), dil=(1, 1), groups=1, bias=False,
         res=False, act="none", slope=0.01, batched=True, sm=None, nan=False, launches=None):
    """conv2d on random data: (N, C_in, H, W) input, (C_out, C_in / groups, kh, kw) weight."""
    kh, kw = k
    x = rng.uniform(-1, 1, (N, C_in, H, W) if batched else (C_in, H, W))
    if nan:
        x.flat[rng.integers(0, x.size, 3)] = np.nan
    w = rng.uniform(-1, 1, (C_out, C_in // groups, kh, kw))
    oh, ow = _core.conv2d_output_size(H, W, kh, kw, stride, pad, dil, groups)
    oshape = (N, C_out, oh, ow) if batched else (C_out, oh, ow)
    b = rng.uniform(-1, 1, C_out) if bias else None
    r = rng.uniform(-1, 1, oshape) if res else None
    (xt, x64), (wt, w64), (bt, b64), (rt, r64) = (rounded(a, path) for a in (x, w, b, r))
    want, S = np.empty(oshape), np.empty(oshape)
    _core.conv2d(x64, w64, b64, r64, want, stride, pad, dil, groups, ACTS[act], slope)
    _core.conv2d(np.abs(np.nan_to_num(x64)), np.abs(w64), None, None, S, stride, pad, dil, groups, 0, 0.0)
    S += (np.abs(b64)[:, None, None] if bias else 0) + (np.abs(r64) if res else 0)
    got = run_conv("conv2d", oshape, path, bt if bias else None, rt if res else None, sm, input=xt, weight=wt,
                   stride=stride, padding=pad, dilation=dil, groups=groups, act=ACTS[act], slope=slope,
                   tf32=int(path == "tf32"))
    what = ("conv2d", path, x.shape, w.shape, stride, pad, dil, groups, bias, res, act, sm)
    compare(got["out"], want, S, (C_in // groups) * kh * kw, path, what)
    if launches is not None:
        check(got["_launches"] == launches, "launches", got["_launches"], "want", launches, *what)



def run_conv(op, oshape, path, bias, residual, sm, **args):
    """One emulated conv2d / conv_transpose2d call, on `sm` multiprocessors (None: the default)."""
    if bias is not None:
        args["bias"] = bias
    if residual is not None:
        args["residual"] = residual
    sms(sm)
    try:
        return call(op, outputs={"out": (oshape, OUT_DT[path])}, **args)
    finally:
        sms(None)

def conv_t(path, N, C_in, H, W, C_out, k, stride=(1, 1), pad=(0, 0), opad=(0, 0), dil=(1, 1), groups=1,
           bias=False, res=False, act="none", slope=0.01, sm=None):
    """conv_transpose2d: (C_in, C_out / groups, kh, kw) weight."""
    kh, kw = k
    x = rng.uniform(-1, 1, (N, C_in, H, W))
    w = rng.uniform(-1, 1, (C_in, C_out // groups, kh, kw))
    oh, ow = _core.conv_transpose2d_output_size(H, W, kh, kw, stride, pad, opad, dil, groups)
    oshape = (N, C_out, oh, ow)
    b = rng.uniform(-1, 1, C_out) if bias else None
    r = rng.uniform(-1, 1, oshape) if res else None
    (xt, x64), (wt, w64), (bt, b64), (rt, r64) = (rounded(a, path) for a in (x, w, b, r))
    want, S = np.empty(oshape), np.empty(oshape)
    _core.conv_transpose2d(x64, w64, b64, r64, want, stride, pad, opad, dil, groups, ACTS[act], slope)
    _core.conv_transpose2d(np.abs(x64), np.abs(w64), None, None, S, stride, pad, opad, dil, groups, 0, 0.0)
    S += (np.abs(b64)[:, None, None] if bias else 0) + (np.abs(r64) if res else 0)
    got = run_conv("conv_transpose2d", oshape, path, bt if bias else None, rt if res else None, sm, input=xt,
                   weight=wt, stride=stride, padding=pad, output_padding=opad, dilation=dil, groups=groups,
                   act=ACTS[act], slope=slope, tf32=int(path == "tf32"))
    # each output sums at most ceil(k / stride) taps per axis and channel
    K = (C_in // groups) * -(-kh // stride[0]) * -(-kw // stride[1])
    compare(got["out"], want, S, K, path, ("conv_transpose2d", path, x.shape, w.shape, stride, pad, opad, dil,
                                           groups, bias, res, act, sm))


def linear(path, lead, K, N, bias=False, act="none", slope=0.01, sm=None, launches=None):
    x = rng.uniform(-1, 1, (*lead, K))
    w = rng.uniform(-1, 1, (N, K))
    b = rng.uniform(-1, 1, N) if bias else None
    (xt, x64), (wt, w64), (bt, b64) = (rounded(a, path) for a in (x, w, b))
    want, S = np.empty((*lead, N)), np.empty((*lead, N))
    _core.linear(x64, w64, b64, want, ACTS[act], slope)
    _core.linear(np.abs(x64), np.abs(w64), None, S, 0, 0.0)
    S += np.abs(b64) if bias else 0
    args = dict(input=xt, weight=wt, act=ACTS[act], slope=slope, tf32=int(path == "tf32"))
    if bias:
        args["bias"] = bt
    sms(sm)
    got = call("linear", outputs={"out": ((*lead, N), OUT_DT[path])}, **args)
    sms(None)
    what = ("linear", path, lead, K, N, bias, act, sm)
    compare(got["out"], want, S, K, path, what)
    if launches is not None:
        check(got["_launches"] == launches, "launches", got["_launches"], "want", launches, *what)


def matmul(path, M, K, N, sm=None, launches=None):
    a, b = rng.uniform(-1, 1, (M, K)), rng.uniform(-1, 1, (K, N))
    (at, a64), (bt, b64) = rounded(a, path), rounded(b, path)
    want, S = np.empty((M, N)), np.empty((M, N))
    _core.gemm(a64, b64, want)
    _core.gemm(np.abs(a64), np.abs(b64), S)
    sms(sm)
    got = call("matmul", a=at, b=bt, outputs={"out": ((M, N), OUT_DT[path])})
    sms(None)
    what = ("matmul", path, M, K, N, sm)
    compare(got["out"], want, S, K, path, what)
    if launches is not None:
        check(got["_launches"] == launches, "launches", got["_launches"], "want", launches, *what)


PATHS = ("f32", "tf32", "f64", "f16", "bf16")

# ---- depthwise conv2d (one input channel per group): the K = 3, 5, 7 kernels and the generic one,
# channel multipliers, strides, dilation, asymmetric padding, several column tiles (OW > 64) and
# row tiles (th = 2048 / tw), every epilogue.
for path in PATHS:
    conv(path, 2, 6, 13, 11, 6, (3, 3), pad=(1, 1, 1, 1), groups=6, bias=True, act="relu", launches=1)
    conv(path, 1, 4, 9, 12, 8, (5, 5), stride=(2, 1), pad=(2, 1, 0, 2), groups=4, res=True, act="leaky", slope=0.2)
    conv(path, 1, 3, 15, 14, 3, (7, 7), stride=(2, 2), pad=(3, 3, 3, 3), groups=3, bias=True, res=True, act="silu")
    conv(path, 2, 2, 7, 9, 4, (3, 2), dil=(2, 3), pad=(0, 2, 1, 1), groups=2, bias=True, act="sigmoid", batched=False)
conv("f32", 1, 2, 140, 150, 2, (3, 3), pad=(1, 1, 1, 1), groups=2, bias=True, launches=1)  # 3 x 3 tiles of the plane
conv("f64", 1, 2, 70, 130, 2, (1, 1), groups=2, res=True)  # generic K, 1 x 1
# the smem halving loop (rows of a tile shrink until the input tile fits 48 KB) and the fallback to
# the GEMM when even one row does not fit (a stride-200 row of 64 outputs spans 12601 inputs)
conv("f64", 1, 2, 300, 70, 2, (7, 7), stride=(4, 1), dil=(3, 1), groups=2, bias=True)
conv("f32", 1, 2, 2, 12801, 2, (1, 1), stride=(1, 200), groups=2, bias=True, act="relu")
conv("f16", 1, 2, 2, 12801, 4, (1, 1), stride=(1, 200), groups=2, res=True)
conv("f32", 1, 3, 9, 9, 3, (3, 3), groups=3, nan=True, bias=True)
for path in PATHS:  # one input channel, groups 1: the depthwise kernel with every output channel in one group
    conv(path, 2, 1, 10, 12, 5, (3, 3), pad=(1, 1, 1, 1), bias=True, act="leaky", slope=0.2, launches=1)
conv("f16", 1, 4, 9, 9, 6, (3, 3), nan=True, res=True)  # NaN through the tensor cores

# ---- conv2d as implicit GEMM: 1 x 1, 3 x 3, 7 x 7 stride 2, grouped, dilated, asymmetric padding,
# unbatched; M and N off the tile sizes; every path and epilogue.
for path in PATHS:
    conv(path, 2, 8, 9, 10, 20, (3, 3), pad=(1, 1, 1, 1), bias=True, act="relu", launches=1)
    conv(path, 1, 6, 12, 13, 10, (1, 1), res=True, act="leaky", slope=0.1)
    conv(path, 1, 3, 21, 19, 16, (7, 7), stride=(2, 2), pad=(3, 3, 3, 3), bias=True, res=True, act="silu")
    conv(path, 2, 8, 11, 9, 12, (3, 3), dil=(2, 1), pad=(2, 0, 1, 2), groups=4, act="sigmoid")
    conv(path, 1, 4, 8, 8, 6, (2, 3), stride=(1, 2), groups=2, bias=True, batched=False)
# the tiles: 128 x 128 and 64 x 128 (TF32 and tensor-core gathers: 64 x 128 for either) on a small
# multiprocessor count, 64 x 64 on an H200 for small problems
for path in PATHS:
    conv(path, 1, 5, 16, 16, 128, (3, 3), pad=(1, 1, 1, 1), bias=True, sm=1, act="relu")  # M 128, N 256: 128 x 128
    conv(path, 1, 4, 8, 16, 64, (3, 3), pad=(1, 1, 1, 1), res=True, sm=1)  # M 64, N 128: 64 x 128
conv("f32", 1, 4, 9, 9, 40, (1, 1), sm=1)  # 64 x 128 (M 40, N 81)
conv("f32", 1, 4, 40, 40, 70, (1, 1), sm=2, nan=True, bias=True)  # 128 x 128
# split-K: few tiles and K >= 1024 (C_in 128, 3 x 3: K 1152, two slices on an H200, then the reduction)
for path in PATHS:
    conv(path, 1, 128, 5, 6, 9, (3, 3), pad=(1, 1, 1, 1), bias=True, res=True, act="silu", launches=2)
conv("f32", 1, 256, 4, 4, 4, (2, 2), groups=2, bias=True, act="relu", launches=1)  # grouped, K 512: no split
conv("f32", 1, 512, 3, 3, 4, (2, 2), groups=2, bias=True, act="relu", launches=2)  # grouped, K 1024: split
conv("f64", 1, 1100, 2, 2, 3, (1, 1), bias=True, sm=8, launches=2)  # K 1100 on 8 SMs: slices of 552 (f64: 8-deep)

# ---- conv_transpose2d: one GEMM per output phase (stride_h stride_w phases); phases with no taps
# (kernel below the stride), strides 1, 2, 3, dilation sharing a factor with the stride, output
# padding, groups, padding, every path and epilogue
for path in PATHS:
    conv_t(path, 2, 6, 5, 7, 8, (3, 3), stride=(2, 2), pad=(1, 1), opad=(1, 0), bias=True, act="relu")
    conv_t(path, 1, 4, 6, 5, 6, (4, 3), stride=(3, 2), pad=(1, 2), groups=2, res=True, act="leaky", slope=0.3)
    conv_t(path, 1, 3, 4, 4, 5, (1, 1), stride=(2, 3), opad=(1, 2), bias=True, res=True, act="sigmoid")
    conv_t(path, 1, 4, 5, 6, 4, (3, 3), stride=(2, 2), dil=(2, 3), pad=(2, 1), opad=(1, 1), bias=True, act="silu")
    conv_t(path, 2, 5, 6, 6, 7, (3, 3), pad=(1, 1), res=True)  # stride 1: one phase
for path in PATHS:
    conv_t(path, 1, 3, 8, 16, 128, (2, 2), stride=(2, 2), bias=True, sm=1)  # 128-row tile (64 x 128 on tensor cores)
    conv_t(path, 1, 3, 8, 8, 140, (2, 2), stride=(2, 2), res=True, sm=1)  # M 140, 64 columns a phase: 64 x 64
conv_t("f32", 1, 3, 8, 16, 64, (2, 2), stride=(2, 2), res=True, sm=1)  # 64 x 128
conv_t("f32", 1, 160, 3, 3, 3, (3, 3), stride=(2, 2), bias=True)  # deep K: no split-K here

# ---- linear (x (..., K) @ weight (N, K)^T + bias) and matmul
for path in PATHS:
    linear(path, (3, 7), 20, 11, bias=True, act="relu", launches=1)
    linear(path, (5,), 33, 70, act="silu")
    linear(path, (128,), 16, 140, bias=True, sm=1)  # 128 x 128
    linear(path, (130,), 16, 140, act="relu", sm=1)  # M 130: 64 x 128
    linear(path, (2, 3), 1100, 5, bias=True, act="leaky", slope=0.05, launches=2)  # split-K
    matmul(path, 9, 13, 17, launches=1)
    matmul(path, 70, 24, 150, sm=1)
    matmul(path, 4, 1030, 6, launches=2)  # split-K: K 1030, slices of 520 (f16: 16-deep)
linear("f32", (1,), 8, 1, act="sigmoid")
for path in PATHS:
    linear(path, (), 40, 9, bias=True)  # a 1-D input: one row
matmul("f32", 1, 1, 1)


# ---- the host's refusals (sizes beyond the kernel's 32-bit ranges): a clear error, no launch
def refused(op, outputs, **args):
    try:
        call(op, outputs=outputs, **args)
    except RuntimeError as e:
        return "2^30" in str(e)
    return False


x = rng.uniform(-1, 1, (1, 2, 3, 3)).astype(np.float32)
check(refused("conv2d", {"out": ((1, 2, 1, 1), "float32")}, input=x, weight=np.ones((2, 2, 1, 1), np.float32),
              stride=(1 << 30, 1), padding=(0, 0, 0, 0), dilation=(1, 1), groups=1, act=0, slope=0.0, tf32=0),
      "conv2d stride 2^30 refused")
report("nn_conv")
