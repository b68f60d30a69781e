"""conv2d_cuda.cu's GEMM (run by gemm_emu, see run.sh) against foveal's CPU conv2d, conv_transpose2d,
linear and gemm: every tile variant, split-K, sizes off the tiles, K < 8 and K = 0, groups, stride / dilation /
padding (uneven 'same' too), conv_transpose2d phases without taps, every epilogue, float64, and a
grid smaller than the tile count (the kernel's grid-stride loop). Then the tensor-core inner product
(float16, bfloat16, TF32) on the same kinds of cases."""
import subprocess, sys
import numpy as np
import foveal
import foveal.nn as fnn

rng = np.random.default_rng(0)
ACT = {None: (0, 0.0), "relu": (1, 0.0), ("leaky_relu", 0.3): (2, 0.3), "silu": (3, 0.0), "sigmoid": (4, 0.0)}
bad = 0
runs = 0


def emu(args):
    subprocess.run(["./gemm_emu"] + [str(a) for a in args], check=True)


def compare(name, got, want, k, dt):
    global bad, runs
    runs += 1
    tol = dict(rtol=1e-12, atol=1e-12 * max(1.0, np.sqrt(k))) if dt == np.float64 else dict(rtol=2e-5, atol=2e-5 * max(1.0, np.sqrt(k)))
    ok = got.shape == want.shape and not np.isnan(got).any() and np.allclose(got, want, **tol)
    err = np.max(np.abs(got - want)) if got.shape == want.shape and got.size else 0.0
    print(name, "equal" if ok else "MISMATCH", f"max|diff| {err:.3g}")
    bad += not ok


def conv(n, c, h, w, o, k, s, p, d, g, act=None, bias=True, res=False, tile=2, grid=1 << 20, dt=np.float32, splits=1):
    s = (s, s) if isinstance(s, int) else s
    d = (d, d) if isinstance(d, int) else d
    if p == "same":
        pt, pl = (d[0] * (k[0] - 1)) // 2, (d[1] * (k[1] - 1)) // 2
    else:
        pt, pl = (p, p) if isinstance(p, int) else p
    x = rng.standard_normal((n, c, h, w)).astype(dt)
    wt = rng.standard_normal((o, c // g, *k)).astype(dt)
    b = rng.standard_normal(o).astype(dt) if bias else None
    plain = fnn.conv2d(x, wt, b, s, p, d, g)
    r = rng.standard_normal(plain.shape).astype(dt) if res else None
    want = np.asarray(fnn.conv2d(x, wt, b, s, p, d, g, activation=act, residual=r))
    oh, ow = want.shape[2:]
    x.tofile("x.bin"); wt.tofile("w.bin")
    if bias: b.tofile("bias.bin")
    if res: r.tofile("res.bin")
    a, sl = ACT[act]
    emu(["conv", "f64" if dt == np.float64 else "f32", tile, grid, n, c, h, w, o, k[0], k[1], oh, ow, g, s[0], s[1], pt, pl,
         d[0], d[1], int(bias), int(res), a, sl, splits])
    got = np.fromfile("out.bin", dt).reshape(want.shape)
    compare(f"conv splits={splits} x{(n, c, h, w)} w{wt.shape} s{s} p{p} d{d} g{g} {act} bias={bias} res={res} tile={tile} grid={grid} {np.dtype(dt).name}",
            got, want, c // g * k[0] * k[1], dt)


def conv_t(n, c, h, w, o, k, s, p, op, d, g, act=None, bias=True, res=False, tile=2, grid=1 << 20, dt=np.float32):
    pair = lambda v: (v, v) if isinstance(v, int) else v  # noqa: E731
    s, p, op, d = pair(s), pair(p), pair(op), pair(d)
    x = rng.standard_normal((n, c, h, w)).astype(dt)
    wt = rng.standard_normal((c, o // g, *k)).astype(dt)
    b = rng.standard_normal(o).astype(dt) if bias else None
    plain = fnn.conv_transpose2d(x, wt, b, s, p, op, g, d)
    r = rng.standard_normal(plain.shape).astype(dt) if res else None
    want = np.asarray(fnn.conv_transpose2d(x, wt, b, s, p, op, g, d, activation=act, residual=r))
    oh, ow = want.shape[2:]
    x.tofile("x.bin"); wt.tofile("w.bin")
    if bias: b.tofile("bias.bin")
    if res: r.tofile("res.bin")
    a, sl = ACT[act]
    emu(["convT", "f64" if dt == np.float64 else "f32", tile, grid, n, c, h, w, o, k[0], k[1], oh, ow, g, s[0], s[1], p[0], p[1],
         d[0], d[1], int(bias), int(res), a, sl])
    got = np.fromfile("out.bin", dt).reshape(want.shape)
    compare(f"convT x{(n, c, h, w)} w{wt.shape} s{s} p{p} op{op} d{d} g{g} {act} bias={bias} res={res} tile={tile} grid={grid} {np.dtype(dt).name}",
            got, want, c // g * k[0] * k[1], dt)


def linear(m, n, k, act=None, bias=True, tile=2, grid=1 << 20, dt=np.float32, splits=1):
    x = rng.standard_normal((m, k)).astype(dt)
    wt = rng.standard_normal((n, k)).astype(dt)
    b = rng.standard_normal(n).astype(dt) if bias else None
    want = np.asarray(fnn.linear(x, wt, b, activation=act))
    x.tofile("x.bin"); wt.tofile("w.bin")
    if bias: b.tofile("bias.bin")
    a, sl = ACT[act]
    emu(["linear", "f64" if dt == np.float64 else "f32", tile, grid, m, n, k, int(bias), a, sl, splits])
    compare(f"linear splits={splits}  ({m}, {k}) x ({n}, {k}) {act} bias={bias} tile={tile} grid={grid} {np.dtype(dt).name}",
            np.fromfile("out.bin", dt).reshape(m, n), want, k, dt)


def matmul(m, n, k, tile=2, grid=1 << 20, dt=np.float32, splits=1):
    a = rng.standard_normal((m, k)).astype(dt)
    b = rng.standard_normal((k, n)).astype(dt)
    want = np.zeros((m, n), dt)
    foveal._core.gemm(a, b, want)
    a.tofile("x.bin"); b.tofile("w.bin")
    emu(["matmul", "f64" if dt == np.float64 else "f32", tile, grid, m, n, k, splits])
    compare(f"matmul splits={splits}  ({m}, {k}) x ({k}, {n}) tile={tile} grid={grid} {np.dtype(dt).name}",
            np.fromfile("out.bin", dt).reshape(m, n), want, k, dt)


# conv2d: the benchmark classes shrunk (1x1, 3x3, 7x7 stem), every tile, M > 128, K < 8, groups.
conv(2, 8, 9, 11, 6, (1, 1), 1, 0, 1, 1, act="relu", res=True, tile=2)
conv(3, 4, 13, 10, 5, (3, 3), 1, 1, 1, 1, act="silu", tile=1)  # columns across images in a tile
conv(1, 3, 23, 19, 8, (7, 7), 2, 3, 1, 1, bias=False, tile=0, grid=3)
conv(2, 6, 12, 9, 4, (2, 4), (2, 1), (1, 2), (1, 2), 2, act=("leaky_relu", 0.3), res=True, tile=2)
conv(2, 4, 10, 8, 6, (3, 2), 1, "same", (2, 3), 1, act="sigmoid", tile=1)
conv(1, 6, 9, 9, 3, (4, 4), 1, "same", 1, 3, tile=0)
conv(1, 5, 6, 7, 130, (3, 3), 1, 1, 1, 1, res=True, tile=0)  # two row tiles, the second of 2 rows
conv(2, 40, 5, 6, 9, (3, 3), 1, 1, 1, 1, tile=1)  # K = 360: 45 steps
conv(2, 1, 5, 6, 3, (2, 2), 1, 0, 1, 1, tile=2)  # K = 4 < 8
conv(2, 1, 7, 6, 70, (1, 1), 2, 1, 1, 1, tile=0)  # K = 1, strided 1x1 with padding
conv(2, 6, 8, 7, 9, (3, 3), 2, 1, 2, 3, act=("leaky_relu", 0.3), res=True, tile=2, dt=np.float64)
conv(1, 3, 11, 9, 4, (5, 3), (1, 2), (2, 0), 1, 1, act="silu", tile=2, grid=2, dt=np.float64)
# conv_transpose2d: the mask head's k2 s2 (no overlap), k4 s2 p1, output padding, dilation sharing
# a factor with the stride (phases without taps: bias only), stride 3, asymmetric, groups, k < s.
conv_t(2, 6, 5, 4, 7, (2, 2), 2, 0, 0, 1, 1, act="relu", tile=0)
conv_t(2, 6, 5, 4, 7, (2, 2), 2, 0, 0, 1, 1, res=True, tile=2, grid=5)
conv_t(2, 4, 6, 5, 3, (4, 4), 2, 1, 0, 1, 1, tile=1)
conv_t(1, 3, 5, 5, 2, (3, 3), 2, 1, 1, 1, 1, act="silu", res=True, tile=2)
conv_t(1, 3, 4, 5, 4, (3, 3), 2, 0, 1, 2, 1, act="relu", tile=2)
conv_t(2, 4, 4, 3, 4, (3, 3), 3, 2, 1, 2, 2, act=("leaky_relu", 0.3), tile=2)
conv_t(1, 5, 6, 6, 3, (3, 3), 1, 1, 0, 1, 1, tile=1)
conv_t(2, 4, 5, 6, 6, (3, 2), (2, 3), (1, 0), (1, 2), (1, 2), 2, act="sigmoid", res=True, tile=2)
conv_t(1, 3, 4, 4, 2, (1, 1), 2, 0, 1, 1, 1, tile=2)  # k < s: 3 of 4 phases have no taps
conv_t(1, 20, 3, 3, 140, (2, 2), 2, 0, 0, 1, 1, tile=0)  # M = 140: two row tiles
conv_t(2, 4, 6, 5, 3, (4, 4), 2, 1, 0, 1, 1, res=True, act="relu", tile=2, dt=np.float64)
conv_t(1, 4, 3, 4, 4, (3, 3), 3, 2, 1, 2, 2, tile=2, dt=np.float64)
# linear and matmul: tails, K < 8, K = 0 (bias only), grid-stride, float64.
linear(37, 45, 13, act="relu", tile=2)
linear(130, 70, 200, act="silu", tile=0, grid=2)
linear(20, 129, 5, bias=False, tile=1)
linear(6, 9, 0, tile=2)
linear(20, 9, 17, act=("leaky_relu", 0.3), tile=2, dt=np.float64)
matmul(33, 70, 19, tile=1)
matmul(5, 3, 1, tile=0)
matmul(140, 130, 9, tile=0, grid=3)
matmul(17, 21, 23, tile=2, dt=np.float64)
# Split-K (slices of K that start mid-channel, then splitk_reduce_kernel with the epilogue).
linear(70, 50, 300, act="relu", tile=0, splits=3)
linear(20, 9, 17, act="silu", tile=2, dt=np.float64, splits=2)
conv(2, 40, 5, 6, 9, (3, 3), 1, 1, 1, 1, act="silu", res=True, tile=0, grid=2, splits=4)
conv(2, 6, 8, 7, 9, (3, 3), 2, 1, 2, 3, act=("leaky_relu", 0.3), res=True, tile=2, dt=np.float64, splits=2)
matmul(33, 70, 40, tile=1, splits=5)
# ---- Tensor cores (the wmma emulation of shim.hpp): float16 / bfloat16 (m16n16k16) and TF32 (m16n16k8).
# The oracle is foveal's CPU path in float64 on the values the kernel multiplies (the 16-bit inputs
# exactly; for TF32 the inputs rounded as cvt.rna.tf32, bias and residual as they are), within a
# bound, per element, of float summation ((K + 4 + splits) u times the sum of |terms|, the activation
# at most 1.1-Lipschitz) plus the rounding of the output dtype.
U_OUT = {"f16": 2.0**-11, "bf16": 2.0**-8, "tf32": 2.0**-24}


def tf32_round(a):
    u = np.asarray(a, np.float32).view(np.uint32).astype(np.uint64)
    return (((u + 0x1000) & ~np.uint64(0x1FFF)) & 0xFFFFFFFF).astype(np.uint32).view(np.float32)


def bf16_bits(a):
    u = np.asarray(a, np.float32).view(np.uint32).astype(np.uint64)
    return ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)


def bf16_value(bits):
    return (bits.astype(np.uint32) << 16).view(np.float32)


def tc_input(shape, mode, multiplied=True):
    """A random input: (what the emulator reads, the float64 values the kernel uses)."""
    a = rng.standard_normal(shape).astype(np.float32)
    if mode == "f16":
        s = a.astype(np.float16)
        return s, s.astype(np.float64)
    if mode == "bf16":
        s = bf16_bits(a)
        return s, bf16_value(s).astype(np.float64)
    return a, (tf32_round(a) if multiplied else a).astype(np.float64)


def tc_output(mode, shape):
    if mode == "f16":
        return np.fromfile("out.bin", np.float16).astype(np.float64).reshape(shape)
    if mode == "bf16":
        return bf16_value(np.fromfile("out.bin", np.uint16)).astype(np.float64).reshape(shape)
    return np.fromfile("out.bin", np.float32).astype(np.float64).reshape(shape)


def compare_tc(name, got, want, scale, terms, mode):
    global bad, runs
    runs += 1
    tol = 1.1 * (terms + 4) * 2.0**-24 * scale + (U_OUT[mode] + 2.0**-21) * np.abs(want) + 1e-7
    ok = got.shape == want.shape and not np.isnan(got).any() and bool(np.all(np.abs(got - want) <= tol))
    worst = np.max(np.abs(got - want) / tol) if got.shape == want.shape and got.size else 0.0
    print(name, "equal" if ok else "MISMATCH", f"max|diff|/bound {worst:.3g}")
    bad += not ok


def conv_tc(mode, n, c, h, w, o, k, s, p, d, g, act=None, bias=True, res=False, tile=2, grid=1 << 20, splits=1,
            transposed=False, op=0):
    pair = lambda v: (v, v) if isinstance(v, int) else v  # noqa: E731
    s, d, op = pair(s), pair(d), pair(op)
    pt, pl = pair(p)
    xs, x = tc_input((n, c, h, w), mode)
    ws, wt = tc_input((c, o // g, *k) if transposed else (o, c // g, *k), mode)
    bs, b = tc_input((o,), mode, False) if bias else (None, None)
    f = (lambda *a, **kw: fnn.conv_transpose2d(*a[:4], pair(p), op, g, d, **kw)) if transposed else \
        (lambda *a, **kw: fnn.conv2d(*a[:4], pair(p), d, g, **kw))  # noqa: E731
    shape = np.asarray(f(x, wt, None, s)).shape
    rs, r = tc_input(shape, mode, False) if res else (None, None)
    want = np.asarray(f(x, wt, b, s, activation=act, residual=r))
    scale = np.asarray(f(np.abs(x), np.abs(wt), None if b is None else np.abs(b), s,
                         residual=None if r is None else np.abs(r)))
    xs.tofile("x.bin"); ws.tofile("w.bin")
    if bias: bs.tofile("bias.bin")
    if res: rs.tofile("res.bin")
    a, sl = ACT[act]
    emu(["convT" if transposed else "conv", mode, tile, grid, n, c, h, w, o, k[0], k[1], *shape[2:], g, s[0], s[1], pt, pl,
         d[0], d[1], int(bias), int(res), a, sl] + ([] if transposed else [splits]))
    compare_tc(f"{'convT' if transposed else 'conv'} {mode} splits={splits} x{(n, c, h, w)} w{wt.shape} s{s} p{p} op{op} d{d} "
               f"g{g} {act} bias={bias} res={res} tile={tile} grid={grid}",
               tc_output(mode, shape), want, scale, c // g * k[0] * k[1] + splits, mode)


def linear_tc(mode, m, n, k, act=None, bias=True, tile=2, grid=1 << 20, splits=1, matmul=False):
    xs, x = tc_input((m, k), mode)
    ws, wt = tc_input((k, n) if matmul else (n, k), mode)
    bs, b = tc_input((n,), mode, False) if bias and not matmul else (None, None)
    if matmul:
        want, scale = np.zeros((m, n)), np.zeros((m, n))
        foveal._core.gemm(x, wt, want)
        foveal._core.gemm(np.abs(x), np.abs(wt), scale)
    else:
        want = np.asarray(fnn.linear(x, wt, b, activation=act))
        scale = np.asarray(fnn.linear(np.abs(x), np.abs(wt), None if b is None else np.abs(b)))
    xs.tofile("x.bin"); ws.tofile("w.bin")
    if bs is not None: bs.tofile("bias.bin")
    a, sl = ACT[act]
    emu((["matmul", mode, tile, grid, m, n, k] if matmul else ["linear", mode, tile, grid, m, n, k, int(bias), a, sl]) + [splits])
    what = "matmul" if matmul else f"linear {act} bias={bias}"
    compare_tc(f"{what} {mode} splits={splits} ({m}, {k}) x {wt.shape} tile={tile} grid={grid}", tc_output(mode, (m, n)),
               want, scale, k + splits, mode)


for mode in ("f16", "bf16", "tf32"):
    full = mode == "f16"  # float16 takes every case; bfloat16 and TF32 the kernels' own variants
    # conv2d: 1x1 with residual, 3x3 across images, strided 7x7 with a short grid, every geometry
    # knob with groups, M > 64 rows (two row tiles), K < 16, K = 1, K off the slice (K = 45, 360).
    conv_tc(mode, 2, 8, 9, 11, 6, (1, 1), 1, 0, 1, 1, act="relu", res=True, tile=2)
    conv_tc(mode, 3, 4, 13, 10, 5, (3, 3), 1, 1, 1, 1, act="silu", tile=1)
    conv_tc(mode, 2, 6, 12, 9, 4, (2, 4), (2, 1), (1, 2), (1, 2), 2, act=("leaky_relu", 0.3), res=True, tile=2)
    conv_tc(mode, 1, 5, 6, 7, 130, (3, 3), 1, 1, 1, 1, res=True, act="sigmoid", tile=0 if mode != "tf32" else 1)
    if full:
        conv_tc(mode, 1, 3, 23, 19, 8, (7, 7), 2, 3, 1, 1, bias=False, tile=0, grid=3)
        conv_tc(mode, 2, 1, 5, 6, 3, (2, 2), 1, 0, 1, 1, tile=2)
        conv_tc(mode, 2, 1, 7, 6, 70, (1, 1), 2, 1, 1, 1, tile=1)
        conv_tc(mode, 1, 6, 9, 9, 3, (4, 4), 1, (1, 2), 1, 3, tile=0)
    # conv_transpose2d phases: k4 s2 p1, stride 3 with dilation and groups (phases without taps),
    # k < s, M = 140 rows, output padding.
    conv_tc(mode, 2, 4, 6, 5, 3, (4, 4), 2, 1, 1, 1, tile=1, transposed=True, res=True, act="relu")
    conv_tc(mode, 2, 4, 4, 3, 4, (3, 3), 3, 2, 2, 2, act=("leaky_relu", 0.3), tile=2, transposed=True, op=1)
    if full:
        conv_tc(mode, 1, 3, 4, 4, 2, (1, 1), 2, 0, 1, 1, tile=2, transposed=True, op=1)
        conv_tc(mode, 1, 20, 3, 3, 140, (2, 2), 2, 0, 1, 1, tile=1, transposed=True, grid=3)
        conv_tc(mode, 2, 4, 5, 6, 6, (3, 2), (2, 3), (1, 0), (1, 2), 2, act="sigmoid", res=True, tile=2, transposed=True,
                op=(1, 2))
    # linear / matmul: tails, a short grid, no bias, K = 0, a 128 x 128 tile; split-K (slices of 16).
    linear_tc(mode, 37, 45, 13, act="relu", tile=2)
    linear_tc(mode, 130, 70, 40, act="silu", tile=0, grid=2)
    linear_tc(mode, 70, 50, 300, act="relu", tile=0, splits=3)
    linear_tc(mode, 33, 70, 19, tile=1, matmul=True)
    conv_tc(mode, 2, 40, 5, 6, 9, (3, 3), 1, 1, 1, 1, act="silu", res=True, tile=0, grid=2, splits=4)
    if full:
        linear_tc(mode, 20, 129, 5, bias=False, tile=1)
        linear_tc(mode, 6, 9, 0, tile=2)
        linear_tc(mode, 140, 130, 9, tile=0, grid=3, matmul=True)
        linear_tc(mode, 33, 70, 40, tile=1, splits=5, matmul=True)
# The tile choice on a 132-SM H200 for the benchmark shapes (M, columns, phases x groups): 0 is
# 128 x 128, 1 64 x 128, 2 64 x 64 (cuda/conv2d_cuda.cu pick_tile).
PICKS = {"conv3x3_64": (64, 8 * 56 * 56, 1, 1), "conv1x1_256_64": (64, 8 * 56 * 56, 1, 1),
         "conv7x7_stem": (64, 8 * 112 * 112, 1, 1), "convT_mask": (256, 100 * 14 * 14, 4, 0),
         "convT_k4s2": (32, 8 * 64 * 64, 4, 1), "fc6_boxhead": (1000, 1024, 1, 1), "small": (20, 300, 1, 2)}
for name, (m, n, z, want) in PICKS.items():
    got = int(subprocess.run(["./gemm_emu", "pick", str(m), str(n), str(z), "132"], check=True, capture_output=True,
                             text=True).stdout)
    runs += 1
    bad += got != want
    print("pick_tile", name, got, "equal" if got == want else f"MISMATCH (want {want})")
# Split-K's slice count (plan_splits, float32 tiles): fc6 has 64 tiles of 128 x 128 for 132 SMs.
PLANS = {"fc6_boxhead": ((1000, 1024, 1, 12544), 4), "conv3x3_64": ((64, 8 * 56 * 56, 1, 576), 1),
         "shallow": ((1000, 1024, 1, 1000), 1), "deep_small": ((100, 300, 2, 4096), 8)}
for name, ((m, n, z, k), want) in PLANS.items():
    got = int(subprocess.run(["./gemm_emu", "plan", str(m), str(n), str(z), str(k), "132", "128", "128"], check=True,
                             capture_output=True, text=True).stdout)
    runs += 1
    bad += got != want
    print("plan_splits", name, got, "equal" if got == want else f"MISMATCH (want {want})")
print(f"gemm: {runs} runs, mismatches {bad}")
sys.exit(1 if bad else 0)
