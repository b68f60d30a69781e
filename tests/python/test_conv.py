"""foveal.nn.conv2d against torch.nn.functional.conv2d and the float64 oracle
(tests/reference/conv_ref.py), the seed worked examples, and bad input."""

import warnings

import numpy as np
import pytest
from hypothesis import given, strategies as st

import foveal
import foveal.nn as fnn
from reference.conv_ref import conv2d_ref, same_padding
from reference.tensor_core_ref import check_tensor_core, tensor_core_bound, tensor_core_inputs

torch = pytest.importorskip("torch")
F = torch.nn.functional

TOL = {np.float32: dict(rtol=2e-5, atol=2e-4), np.float64: dict(rtol=1e-12, atol=1e-11)}
TORCH_ACT = {
    None: lambda v, s: v,
    "relu": lambda v, s: F.relu(v),
    "leaky_relu": lambda v, s: F.leaky_relu(v, s),
    "silu": lambda v, s: F.silu(v),
    "sigmoid": lambda v, s: torch.sigmoid(v),
}


def _torch_conv(x, w, b=None, residual=None, activation=None, slope=0.01, **kw):
    t = lambda a: None if a is None else torch.from_numpy(np.ascontiguousarray(a))  # noqa: E731
    with warnings.catch_warnings():  # torch warns that 'same' with an even kernel pads a copy
        warnings.simplefilter("ignore", UserWarning)
        y = F.conv2d(t(x), t(w), t(b), **kw)
    if residual is not None:
        y = y + t(residual)
    return TORCH_ACT[activation](y, slope).numpy()


def _pad4(padding, w, dilation):
    d = (dilation, dilation) if isinstance(dilation, int) else dilation
    if padding == "valid":
        return (0, 0, 0, 0)
    if padding == "same":
        return (*same_padding(w.shape[2], d[0]), *same_padding(w.shape[3], d[1]))
    p = (padding, padding) if isinstance(padding, int) else padding
    return (p[0], p[0], p[1], p[1])


# (N, C_in, H, W, C_out, (kH, kW), stride, padding, dilation, groups): every class of geometry.
CASES = [
    (2, 8, 9, 11, 6, (1, 1), 1, 0, 1, 1),  # 1x1 stride 1: the input read in place
    (1, 5, 7, 6, 4, (1, 1), 2, 0, 1, 1),  # 1x1 strided
    (2, 3, 5, 7, 4, (1, 1), 1, 1, 1, 1),  # 1x1 padded
    (3, 4, 13, 10, 5, (3, 3), 1, 1, 1, 1),  # 3x3 pad 1, batch 3
    (1, 3, 23, 19, 8, (7, 7), 2, 3, 1, 1),  # stem-like
    (2, 6, 12, 9, 4, (2, 4), (2, 1), (1, 2), (1, 2), 2),  # even kernel, mixed stride / dilation, groups
    (2, 4, 10, 8, 6, (3, 2), 1, "same", (2, 3), 1),  # 'same' with an even kernel and dilation
    (1, 6, 9, 9, 3, (4, 4), 1, "same", 1, 3),  # 'same', even kernel, groups 3
    (2, 3, 8, 7, 2, (3, 3), 1, "valid", 1, 1),
    (2, 6, 11, 13, 6, (3, 3), 1, 1, 1, 6),  # depthwise 3x3
    (1, 5, 12, 10, 5, (3, 3), 2, 1, 1, 5),  # depthwise strided
    (2, 4, 14, 9, 4, (5, 5), 1, (2, 4), (2, 1), 4),  # depthwise 5x5 dilated, uneven padding
    (1, 3, 9, 8, 3, (3, 3), (1, 2), 1, 2, 3),  # depthwise 3x3, stride 2 along W, dilation 2
    (2, 4, 8, 9, 8, (3, 3), 1, 1, 1, 4),  # depth multiplier 2 (GEMM per group)
    (1, 32, 26, 25, 150, (3, 3), 1, 1, 1, 1),  # K > KC, M > MC, N > NC: several blocks each way
    (3, 40, 9, 9, 20, (1, 1), 1, 0, 1, 2),  # grouped 1x1
    (2, 2, 3, 3, 3, (3, 3), 3, 2, 1, 1),  # stride larger than the input
    # 1x1 with B read in place: the first row block of each panel packs it for the others, C_out
    # past several row blocks and not a multiple of any level's, a last panel packed normally.
    (2, 40, 10, 11, 20, (1, 1), 1, 0, 1, 1),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", CASES, ids=lambda c: "x".join(map(str, c[:5])) + f"-k{c[5]}-s{c[6]}-p{c[7]}-d{c[8]}-g{c[9]}")
def test_conv2d_matches_torch(case, dtype):
    n, c, h, w_, o, k, s, p, d, g = case
    rng = np.random.default_rng(hash(case) % 2**32)
    x = rng.standard_normal((n, c, h, w_)).astype(dtype)
    w = rng.standard_normal((o, c // g, *k)).astype(dtype)
    b = rng.standard_normal(o).astype(dtype)
    x0 = x.copy()
    y = fnn.conv2d(x, w, b, stride=s, padding=p, dilation=d, groups=g)
    want = _torch_conv(x, w, b, stride=s, padding=p, dilation=d, groups=g)
    assert y.dtype == dtype and y.shape == want.shape
    np.testing.assert_allclose(y, want, **TOL[dtype])
    np.testing.assert_array_equal(x, x0)  # input untouched
    if dtype == np.float64:  # and the independent oracle
        st = (s, s) if isinstance(s, int) else s
        dl = (d, d) if isinstance(d, int) else d
        np.testing.assert_allclose(y, conv2d_ref(x, w, b, st, _pad4(p, w, d), dl, g), rtol=1e-12, atol=1e-11)


@pytest.mark.parametrize("activation", [None, "relu", "leaky_relu", ("leaky_relu", 0.2), "silu", "sigmoid"])
@pytest.mark.parametrize("path", ["gemm", "1x1", "depthwise"])
@pytest.mark.parametrize("with_residual", [False, True])
@pytest.mark.parametrize("with_bias", [False, True])
def test_conv2d_epilogue(activation, path, with_residual, with_bias):
    rng = np.random.default_rng(7)
    geo = {"gemm": (5, 7, (3, 3), 1, 1), "1x1": (5, 7, (1, 1), 0, 1), "depthwise": (6, 6, (3, 3), 1, 6)}[path]
    c, o, k, p, g = geo
    x = rng.standard_normal((2, c, 9, 10)).astype(np.float32)
    w = rng.standard_normal((o, c // g, *k)).astype(np.float32)
    b = rng.standard_normal(o).astype(np.float32) if with_bias else None
    r = rng.standard_normal((2, o, 9, 10)).astype(np.float32) if with_residual else None
    r0 = None if r is None else r.copy()
    name, slope = (activation if isinstance(activation, tuple) else (activation, 0.01))
    y = fnn.conv2d(x, w, b, padding=p, groups=g, activation=activation, residual=r)
    want = _torch_conv(x, w, b, residual=r, activation=name, slope=slope, padding=p, groups=g)
    np.testing.assert_allclose(y, want, rtol=2e-5, atol=2e-5)
    if r is not None:
        np.testing.assert_array_equal(r, r0)


@pytest.mark.parametrize("case", [CASES[0], CASES[4], CASES[5], CASES[9], CASES[14], CASES[-1]])
def test_conv2d_every_simd_level(simd_level, case):
    n, c, h, w_, o, k, s, p, d, g = case
    rng = np.random.default_rng(3)
    for dtype in (np.float32, np.float64):
        x = rng.standard_normal((n, c, h, w_)).astype(dtype)
        w = rng.standard_normal((o, c // g, *k)).astype(dtype)
        y = fnn.conv2d(x, w, None, s, p, d, g, activation="relu")
        want = _torch_conv(x, w, activation="relu", stride=s, padding=p, dilation=d, groups=g)
        np.testing.assert_allclose(y, want, **TOL[dtype])


def test_conv2d_unbatched_and_empty_batch():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((4, 10, 11)).astype(np.float32)
    w = rng.standard_normal((6, 4, 3, 3)).astype(np.float32)
    y = fnn.conv2d(x, w, padding=1)
    assert y.shape == (6, 10, 11)
    np.testing.assert_allclose(y, _torch_conv(x, w, padding=1), rtol=2e-5, atol=2e-4)
    e = fnn.conv2d(np.zeros((0, 4, 10, 11), np.float32), w, padding=1)
    assert e.shape == (0, 6, 10, 11)


def test_conv2d_non_contiguous_and_torch_inputs():
    rng = np.random.default_rng(2)
    base = rng.standard_normal((2, 5, 12, 14)).astype(np.float32)
    x = base[:, :, ::2, 1::2]  # strided view
    wbase = rng.standard_normal((3, 3, 4, 6)).astype(np.float32)
    w = wbase.transpose(1, 0, 2, 3)[:, :, :, :3]  # (3, 3, 4, 3) non-contiguous
    w = np.concatenate([w, w[:, :2]], axis=1)[:, :5]  # (3, 5, 4, 3)
    y = fnn.conv2d(x, w, padding=(1, 2))
    np.testing.assert_allclose(y, _torch_conv(x, w, padding=(1, 2)), rtol=2e-5, atol=2e-4)
    xt = torch.from_numpy(base).permute(0, 1, 3, 2)  # torch, non-contiguous
    wt = torch.from_numpy(rng.standard_normal((4, 5, 3, 3)).astype(np.float32))
    yt = fnn.conv2d(xt, wt, stride=2)
    assert isinstance(yt, torch.Tensor)
    torch.testing.assert_close(yt, F.conv2d(xt, wt, stride=2), rtol=2e-5, atol=2e-4)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_seed_c1_cross_correlation(dtype):
    """Seed oracle C1 (spec/seed-detection.md): 5x5 input, 3x3 kernel, un-flipped."""
    x = np.array([[3, 3, 2, 1, 0], [0, 0, 1, 3, 1], [3, 1, 2, 2, 3], [2, 0, 0, 2, 2], [2, 0, 0, 0, 1]], dtype)
    k = np.array([[0, 1, 2], [2, 2, 0], [0, 1, 2]], dtype)
    y = fnn.conv2d(x[None, None], k[None, None])
    np.testing.assert_array_equal(y[0, 0], np.array([[12, 12, 17], [10, 17, 19], [9, 6, 14]], dtype))
    flipped = fnn.conv2d(x[None, None], k[::-1, ::-1].copy()[None, None])
    np.testing.assert_array_equal(flipped[0, 0], np.array([[18, 20, 19], [10, 9, 17], [11, 8, 14]], dtype))


def test_seed_c2_padded_sums():
    """Seed oracle C2: the three stated sums of a 2x2 kernel over a zero-padded 3x3 input."""
    x = np.arange(9, dtype=np.float32).reshape(1, 1, 3, 3)
    k = np.array([[[[0, 1], [2, 3]]]], np.float32)
    y = fnn.conv2d(x, k, padding=1)[0, 0]
    assert (y[0, 0], y[1, 0], y[2, 1]) == (0, 9, 37)


def _good():
    rng = np.random.default_rng(0)
    return rng.standard_normal((2, 4, 8, 8)).astype(np.float32), rng.standard_normal((6, 4, 3, 3)).astype(np.float32)


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        (dict(weight=np.zeros((6, 3, 3, 3), np.float32)), foveal.FovealValueError, "weight must have C_in / groups = 4"),
        (dict(groups=3), foveal.FovealValueError, r"groups \(3\) must divide input's channels"),
        (dict(weight=np.zeros((6, 2, 3, 3), np.float32), groups=4), foveal.FovealValueError, "groups .* must divide weight's output"),
        (dict(weight=np.zeros((6, 4, 9, 9), np.float32)), foveal.FovealValueError, "larger than the padded input"),
        (dict(weight=np.zeros((6, 4, 3, 3), np.float32), dilation=5), foveal.FovealValueError, "larger than the padded input"),
        (dict(bias=np.zeros(5, np.float32)), foveal.FovealValueError, r"bias must have shape \(6,\)"),
        (dict(residual=np.zeros((2, 6, 8, 7), np.float32)), foveal.FovealValueError, "residual must have the output's shape"),
        (dict(stride=0), foveal.FovealValueError, "stride must be positive"),
        (dict(padding=-1), foveal.FovealValueError, "padding must be non-negative"),
        (dict(padding="full"), foveal.FovealValueError, "padding must be an int"),
        (dict(padding="same", stride=2), foveal.FovealValueError, "padding='same' needs stride 1"),
        (dict(groups=0), foveal.FovealValueError, "groups must be positive"),
        (dict(groups=1.5), foveal.FovealTypeError, "groups must be an int"),
        (dict(activation="gelu"), foveal.FovealValueError, "activation must be None"),
        (dict(activation=("relu", 0.1)), foveal.FovealValueError, "activation must be None"),
        (dict(weight=np.zeros((6, 4, 3), np.float32)), foveal.FovealValueError, "weight must have shape"),
        (dict(input=np.zeros((4, 8), np.float32)), foveal.FovealValueError, "input must have shape"),
        (dict(weight=np.zeros((6, 4, 3, 3), np.float64)), foveal.FovealTypeError, "weight has dtype float64"),
        (dict(input=np.zeros((2, 4, 8, 8), np.int32)), foveal.FovealTypeError, "input must be float32"),
    ],
)
def test_conv2d_bad_input(kwargs, exc, match):
    x, w = _good()
    args = dict(input=x, weight=w)
    args.update(kwargs)
    with pytest.raises(exc, match=match):
        fnn.conv2d(**args)


@pytest.mark.needs_cuda
# torch's own reference warns for padding='same' with an even kernel (its zero-padded copy).
@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel:UserWarning")
@pytest.mark.parametrize("dtype", ["float32", "float64", "float16", "bfloat16"])
@pytest.mark.parametrize("case", [CASES[0], CASES[4], CASES[5], CASES[6], CASES[9], CASES[14]])
def test_conv2d_cuda_matches_torch(case, dtype):
    n, c, h, w_, o, k, s, p, d, g = case
    dt = getattr(torch, dtype)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn((n, c, h, w_), generator=gen).to("cuda", dt)
    w = torch.randn((o, c // g, *k), generator=gen).to("cuda", dt)
    b = torch.randn(o, generator=gen).to("cuda", dt)
    r = torch.randn_like(F.conv2d(x.float(), w.float(), None, s, p, d, g)).to(dt)
    y = fnn.conv2d(x, w, b, s, p, d, g, activation="silu", residual=r)
    want = F.silu(F.conv2d(x.double(), w.double(), b.double(), s, p, d, g) + r.double())
    tol = {"float32": 1e-4, "float64": 1e-10, "float16": 2e-2, "bfloat16": 1e-1}[dtype]
    assert y.dtype == dt and y.is_cuda
    torch.testing.assert_close(y.double(), want, rtol=tol, atol=tol * 10)


def _check_cuda_conv(case, dtype, seed, unit_weights):
    """conv2d on CUDA against torch in float64 (plain and with the fused leaky-ReLU + residual
    epilogue), and against foveal's CPU kernels on the same values (another summation order)."""
    n, c, h, w_, o, k, s, p, d, g = case
    dt = getattr(torch, dtype)
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn((n, c, h, w_), generator=gen).to("cuda", dt)
    w = torch.randn((o, c // g, *k), generator=gen)
    w = (w / np.sqrt(c // g * k[0] * k[1]) if unit_weights else w).to("cuda", dt)
    b = torch.randn(o, generator=gen).to("cuda", dt)
    want = F.conv2d(x.double(), w.double(), b.double(), s, p, d, g)
    r = torch.randn(want.shape, generator=gen).to("cuda", dt)
    tol = {"float32": 1e-4, "float64": 1e-10, "float16": 2e-2, "bfloat16": 1e-1}[dtype]
    y = fnn.conv2d(x, w, b, s, p, d, g)
    assert y.dtype == dt and y.is_cuda and y.shape == want.shape
    torch.testing.assert_close(y.double(), want, rtol=tol, atol=tol * 10)
    y = fnn.conv2d(x, w, None, s, p, d, g, activation=("leaky_relu", 0.2), residual=r)
    torch.testing.assert_close(y.double(), F.leaky_relu(F.conv2d(x.double(), w.double(), None, s, p, d, g) + r.double(), 0.2),
                               rtol=tol, atol=tol * 10)
    if dtype in ("float32", "float64"):
        torch.testing.assert_close(fnn.conv2d(x.cpu(), w.cpu(), b.cpu(), s, p, d, g).double(),
                                   fnn.conv2d(x, w, b, s, p, d, g).cpu().double(), rtol=tol,
                                   atol=tol if unit_weights else tol * 10)


# The CUDA GEMM's tile classes (cuda/conv2d_cuda.cu pick_tile on a 132-SM H200): 128 x 128, 64 x 128
# (M <= 64, many columns), 64 x 64 (few tiles) and split-K (few tiles, deep K); images fold into the
# columns, so tiles straddle images. Plus the benchmark shapes themselves.
GEMM_CUDA_CASES = [
    (8, 32, 48, 48, 200, (3, 3), 1, 1, 1, 1),  # 128 x 128, M = 200: a partial second row tile
    (8, 16, 66, 66, 40, (3, 3), 1, 1, 1, 1),  # 64 x 128
    (3, 12, 17, 13, 70, (3, 3), 2, 1, 1, 1),  # 64 x 64, strided, tiles across images
    (2, 12, 20, 21, 96, (5, 3), (2, 1), (2, 0), (1, 2), 3),  # groups, every geometry knob
    (2, 5, 9, 7, 3, (1, 1), 1, 0, 1, 1),  # K = 5 < 8 deep
    (1, 300, 10, 11, 7, (3, 3), 1, 1, 1, 1),  # K = 2700: 338 steps
    (2, 512, 7, 7, 256, (3, 3), 1, 1, 1, 1),  # 2 tiles, K = 4608: split-K (9 slices) and the reduction
]
BENCH_CONV_CASES = [
    (8, 64, 56, 56, 64, (3, 3), 1, 1, 1, 1),  # conv3x3_64
    (8, 256, 56, 56, 64, (1, 1), 1, 0, 1, 1),  # conv1x1_256_64
    (8, 3, 224, 224, 64, (7, 7), 2, 3, 1, 1),  # conv7x7_stem
]


@pytest.mark.needs_cuda
@pytest.mark.parametrize("dtype", ["float32", "float64", "float16", "bfloat16"])
@pytest.mark.parametrize("case", GEMM_CUDA_CASES + BENCH_CONV_CASES,
                         ids=lambda c: "x".join(map(str, c[:5])) + f"-k{c[5]}-s{c[6]}-p{c[7]}-d{c[8]}-g{c[9]}")
def test_conv2d_cuda_gemm_tiles_match_torch_and_cpu(case, dtype):
    _check_cuda_conv(case, dtype, seed=5, unit_weights=True)


@pytest.mark.needs_cuda
@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_linear_cuda_matches_torch(dtype):
    dt = getattr(torch, dtype)
    gen = torch.Generator().manual_seed(1)
    x = torch.randn((3, 70, 130), generator=gen).to("cuda", dt)
    w = (torch.randn((90, 130), generator=gen) * 0.1).to("cuda", dt)
    b = torch.randn(90, generator=gen).to("cuda", dt)
    y = fnn.linear(x, w, b, activation="relu")
    want = F.relu(F.linear(x.double(), w.double(), b.double()))
    tol = 1e-4 if dtype == "float32" else 2e-2
    torch.testing.assert_close(y.double(), want, rtol=tol, atol=tol * 10)


@st.composite
def _geometry(draw):
    g = draw(st.sampled_from([1, 1, 2, 3]))
    depthwise = draw(st.booleans())
    cin = g * draw(st.integers(1, 3))
    if depthwise:
        g = cin
    cout = g * draw(st.integers(1, 3))
    kh, kw = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    s = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    d = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    if draw(st.booleans()) and s == (1, 1):
        p = "same"
    else:
        p = (draw(st.integers(0, 3)), draw(st.integers(0, 3)))
    h = draw(st.integers(max(1, d[0] * (kh - 1) + 1 - (0 if p == "same" else 2 * p[0])), 17))
    w = draw(st.integers(max(1, d[1] * (kw - 1) + 1 - (0 if p == "same" else 2 * p[1])), 17))
    n = draw(st.sampled_from([1, 2, 3]))
    act = draw(st.sampled_from([None, "relu", ("leaky_relu", 0.3), "silu", "sigmoid"]))
    return n, cin, h, w, cout, (kh, kw), s, p, d, g, act, draw(st.booleans())


@given(_geometry(), st.sampled_from([np.float32, np.float64]))
def test_conv2d_random_shapes_match_torch(geo, dtype):
    n, c, h, w_, o, k, s, p, d, g, act, res = geo
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, c, h, w_)).astype(dtype)
    w = rng.standard_normal((o, c // g, *k)).astype(dtype)
    b = rng.standard_normal(o).astype(dtype)
    want0 = _torch_conv(x, w, b, stride=s, padding=p, dilation=d, groups=g)
    r = rng.standard_normal(want0.shape).astype(dtype) if res else None
    name, slope = act if isinstance(act, tuple) else (act, 0.01)
    y = fnn.conv2d(x, w, b, s, p, d, g, activation=act, residual=r)
    want = _torch_conv(x, w, b, residual=r, activation=name, slope=slope, stride=s, padding=p, dilation=d, groups=g)
    np.testing.assert_allclose(y, want, **TOL[dtype])


# Winograd F(2, 3): float32, 3x3, stride 1, dilation 1, groups 1, C_in and C_out >= 16.
# (N, C_in, H, W, C_out, padding): odd sizes (a last tile half outside), batch 1 and > 1, C_out
# not a multiple of the micro-kernel's rows, enough tiles to span several tile blocks (a block
# boundary falls inside a tile row), asymmetric and 'same' / 'valid' padding, padding past the
# 4x4 window's reach, a 1x1 input.
WINOGRAD = [
    (2, 16, 40, 41, 24, 1),
    (1, 17, 9, 8, 33, 1),
    (3, 32, 7, 13, 16, (0, 2)),
    (1, 16, 5, 5, 20, 2),
    (2, 24, 12, 11, 40, "valid"),
    (1, 20, 6, 9, 16, "same"),
    (1, 16, 1, 1, 16, 1),
    (1, 64, 30, 30, 64, 1),
]


def _winograd_case(case, rng):
    n, c, h, w_, o, p = case
    x = (rng.standard_normal((n, c, h, w_)) + 1.5).astype(np.float32)  # a mean: cancellation in the sums
    w = rng.standard_normal((o, c, 3, 3)).astype(np.float32)
    return x, w, p


@pytest.mark.parametrize("case", WINOGRAD, ids=lambda c: "x".join(map(str, c[:5])) + f"-p{c[5]}")
def test_conv2d_winograd_error_bound(case):
    """The Winograd path against the float64 oracle, elementwise: |error| <= 8 eps (|w| * |x|)
    (the direct sum's error is of that order; measured below 1 eps (|w| * |x|)). A wrong transform
    or a misplaced tile is off by O(|w| * |x|)."""
    rng = np.random.default_rng(hash(case) % 2**32)
    x, w, p = _winograd_case(case, rng)
    b = rng.standard_normal(w.shape[0]).astype(np.float32)
    y = fnn.conv2d(x, w, b, padding=p)
    pad = _pad4(p, w, 1)
    x64, w64 = x.astype(np.float64), w.astype(np.float64)
    ref = conv2d_ref(x64, w64, b.astype(np.float64), (1, 1), pad)
    mag = conv2d_ref(np.abs(x64), np.abs(w64), np.abs(b.astype(np.float64)), (1, 1), pad)
    assert y.shape == ref.shape and y.dtype == np.float32
    err = np.abs(y - ref)
    assert np.all(err <= 8 * np.finfo(np.float32).eps * mag + 1e-30), float((err / mag).max())
    np.testing.assert_allclose(y, _torch_conv(x, w, b, padding=p), rtol=2e-5, atol=2e-4)


@pytest.mark.parametrize("activation", [None, "relu", ("leaky_relu", 0.2), "silu", "sigmoid"])
@pytest.mark.parametrize("with_residual", [False, True])
@pytest.mark.parametrize("with_bias", [False, True])
def test_conv2d_winograd_epilogue(activation, with_residual, with_bias):
    rng = np.random.default_rng(11)
    x = rng.standard_normal((2, 16, 11, 9)).astype(np.float32)
    w = rng.standard_normal((20, 16, 3, 3)).astype(np.float32)
    b = rng.standard_normal(20).astype(np.float32) if with_bias else None
    r = rng.standard_normal((2, 20, 11, 9)).astype(np.float32) if with_residual else None
    r0 = None if r is None else r.copy()
    name, slope = (activation if isinstance(activation, tuple) else (activation, 0.01))
    y = fnn.conv2d(x, w, b, padding=1, activation=activation, residual=r)
    want = _torch_conv(x, w, b, residual=r, activation=name, slope=slope, padding=1)
    np.testing.assert_allclose(y, want, rtol=2e-5, atol=1e-4)
    if r is not None:
        np.testing.assert_array_equal(r, r0)


@pytest.mark.parametrize("case", [WINOGRAD[0], WINOGRAD[2], WINOGRAD[6]])
def test_conv2d_winograd_every_simd_level(simd_level, case):
    """Each level has its own micro-kernel width (tile lanes per panel) and transform code."""
    rng = np.random.default_rng(5)
    x, w, p = _winograd_case(case, rng)
    b = rng.standard_normal(w.shape[0]).astype(np.float32)
    y = fnn.conv2d(x, w, b, padding=p, activation="relu")
    np.testing.assert_allclose(y, _torch_conv(x, w, b, activation="relu", padding=p), rtol=2e-5, atol=2e-4)


# Depthwise 3x3 stride 1 (float32 at AVX-512: 16-column vectors with masked edge taps, 4 output
# rows per block): widths around the vector width, padding 0..3 (3: edge lanes with no tap
# inside), inputs of 1..2 rows, heights not a multiple of 4.
DW3 = [(1, 16, 1), (7, 17, 1), (6, 40, 0), (9, 33, 2), (2, 70, 1), (1, 3, 3), (13, 1, 1), (5, 64, 0), (3, 20, 3)]


@pytest.mark.parametrize("case", DW3, ids=lambda c: "h{}w{}p{}".format(*c))
def test_depthwise3x3_edges_every_simd_level(simd_level, case):
    h, w_, p = case
    rng = np.random.default_rng(11)
    x = rng.standard_normal((2, 3, h, w_)).astype(np.float32)
    w = rng.standard_normal((3, 1, 3, 3)).astype(np.float32)
    b = rng.standard_normal(3).astype(np.float32)
    r = rng.standard_normal((2, 3, h + 2 * p - 2, w_ + 2 * p - 2)).astype(np.float32)
    y = fnn.conv2d(x, w, b, padding=p, groups=3, activation="relu", residual=r)
    want = _torch_conv(x, w, b, residual=r, activation="relu", padding=p, groups=3)
    np.testing.assert_allclose(y, want, **TOL[np.float32])
    x64 = x.astype(np.float64)
    np.testing.assert_allclose(y, np.maximum(conv2d_ref(x64, w.astype(np.float64), b.astype(np.float64), (1, 1),
                                                        (p, p, p, p), (1, 1), 3) + r, 0), rtol=2e-5, atol=2e-4)


def test_depthwise3x3_streamed_output():
    """Input and output past 16 MiB: the output is written with streaming stores (AVX-512)."""
    rng = np.random.default_rng(12)
    x = rng.standard_normal((2, 64, 130, 130)).astype(np.float32)
    w = rng.standard_normal((64, 1, 3, 3)).astype(np.float32)
    b = rng.standard_normal(64).astype(np.float32)
    y = fnn.conv2d(x, w, b, padding=1, groups=64, activation="silu")
    np.testing.assert_allclose(y, _torch_conv(x, w, b, activation="silu", padding=1, groups=64), **TOL[np.float32])


@pytest.mark.parametrize("op", ["conv2d", "conv_transpose2d", "linear"])
def test_allow_tf32_flag(op):
    """allow_tf32 has no effect on the CPU (float32 always): bit-identical results either way."""
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 16, 9, 8)).astype(np.float32)
    if op == "conv2d":
        w = rng.standard_normal((16, 16, 3, 3)).astype(np.float32)
        f = lambda **kw: fnn.conv2d(x, w, padding=1, **kw)  # noqa: E731
    elif op == "conv_transpose2d":
        w = rng.standard_normal((16, 4, 4, 4)).astype(np.float32)
        f = lambda **kw: fnn.conv_transpose2d(x, w, stride=2, padding=1, **kw)  # noqa: E731
    else:
        w = rng.standard_normal((5, 8)).astype(np.float32)
        f = lambda **kw: fnn.linear(x, w, **kw)  # noqa: E731
    np.testing.assert_array_equal(f(allow_tf32=True), f(allow_tf32=False))
    np.testing.assert_array_equal(f(allow_tf32=np.bool_(True)), f())
    with pytest.raises(foveal.FovealTypeError, match=f"{op}: allow_tf32 must be a bool, got 1"):
        f(allow_tf32=1)


# Depthwise shapes for the CUDA depthwise kernel (tiles of at most 64 columns and ~2048 outputs,
# a zero-padded input tile in shared memory): several tiles each way with ragged edges, odd sizes,
# every specialised kernel size (3, 5, 7) and the generic one, strides, dilations, uneven
# 'same' padding, a depth multiplier, batch 1, many planes, and a dilation whose input tile does
# not fit in shared memory (the GEMM fallback).
DW_CUDA_CASES = [
    CASES[9], CASES[10], CASES[11], CASES[12], CASES[13],
    (1, 3, 150, 131, 3, (3, 3), 1, 1, 1, 3),  # 3 x 3 tiles, ragged last row and column of tiles
    (2, 4, 67, 200, 4, (3, 3), 2, 1, 1, 4),  # stride 2, 2 column tiles of the strided output
    (1, 6, 31, 33, 6, (7, 7), 1, 3, 1, 6),  # ConvNeXt-like 7x7
    (1, 2, 40, 45, 2, (5, 5), (2, 1), 2, 1, 2),
    (1, 5, 17, 19, 5, (1, 1), 1, 0, 1, 5),  # 1x1: the generic (runtime kernel size) path
    (1, 3, 21, 18, 6, (4, 3), 1, "same", (2, 1), 3),  # even kernel, uneven 'same' padding, multiplier 2
    (3, 96, 7, 7, 96, (3, 3), 1, 1, 1, 96),  # small planes, many of them
    (1, 1, 1, 1, 1, (3, 3), 1, 1, 1, 1),  # 1x1 image, all taps but one in the padding
    (1, 2, 230, 230, 2, (3, 3), 1, 100, 100, 2),  # tile too big for shared memory: GEMM
]


@pytest.mark.needs_cuda
@pytest.mark.parametrize("dtype", ["float32", "float64", "float16", "bfloat16"])
@pytest.mark.parametrize("case", DW_CUDA_CASES, ids=lambda c: "x".join(map(str, c[:5])) + f"-k{c[5]}-s{c[6]}-p{c[7]}-d{c[8]}-g{c[9]}")
def test_depthwise_conv2d_cuda_matches_torch(case, dtype):
    _check_cuda_conv(case, dtype, seed=3, unit_weights=False)


@pytest.mark.needs_cuda
def test_depthwise_conv2d_cuda_benchmark_shape_and_3d_input():
    gen = torch.Generator().manual_seed(4)
    x = torch.randn((8, 128, 56, 56), generator=gen).cuda()
    w = torch.randn((128, 1, 3, 3), generator=gen).cuda()
    y = fnn.conv2d(x, w, None, 1, 1, 1, 128)
    torch.testing.assert_close(y.double(), F.conv2d(x.double(), w.double(), None, 1, 1, 1, 128), rtol=1e-5, atol=1e-5)
    y3 = fnn.conv2d(x[3], w, None, 1, 1, 1, 128)  # (C, H, W): one image
    torch.testing.assert_close(y3, y[3], rtol=0, atol=0)


# Shapes for the tensor-core GEMM (float16 / bfloat16, float32 with allow_tf32): rows, columns and
# K off the 16 x 16 fragments and the tiles, each tile class, groups and every geometry knob, K < 16,
# and split-K.
TC_CONV_CASES = [
    (3, 12, 17, 13, 70, (3, 3), 2, 1, 1, 1),  # 64 x 64, K = 108, tiles across images
    (4, 32, 30, 30, 200, (3, 3), 1, 1, 1, 1),  # 128 x 128 (64 x 128 in TF32), M = 200
    (8, 16, 33, 31, 40, (3, 3), 1, 1, 1, 1),  # 64 x 128
    (2, 12, 20, 21, 96, (5, 3), (2, 1), (2, 0), (1, 2), 3),  # groups, stride, dilation, padding
    (2, 5, 9, 7, 3, (1, 1), 1, 0, 1, 1),  # K = 5
    (1, 3, 31, 29, 24, (7, 7), 2, 3, 1, 1),  # stem-like, K = 147
    (2, 4, 10, 8, 6, (3, 2), 1, "same", (2, 3), 1),  # uneven 'same'
    (2, 512, 7, 7, 256, (3, 3), 1, 1, 1, 1),  # 2 tiles, K = 4608: split-K
]


@pytest.mark.needs_cuda
@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "tf32"])
@pytest.mark.parametrize("case", TC_CONV_CASES,
                         ids=lambda c: "x".join(map(str, c[:5])) + f"-k{c[5]}-s{c[6]}-p{c[7]}-d{c[8]}-g{c[9]}")
def test_conv2d_cuda_tensor_cores(case, dtype):
    """float16 / bfloat16 (tensor cores always) and float32 with allow_tf32=True against foveal's
    CPU conv2d in float64 on the values multiplied, with the fused SiLU + residual epilogue."""
    n, c, h, w_, o, k, s, p, d, g = case
    gen = torch.Generator().manual_seed(11)
    oh_ow = fnn.conv2d(np.zeros((1, c, h, w_)), np.zeros((o, c // g, *k)), None, s, p, d, g).shape[2:]
    (x, xv), (w, wv), (b, bv), (r, rv) = tensor_core_inputs(
        [((n, c, h, w_), 1), ((o, c // g, *k), np.sqrt(c // g * k[0] * k[1])), ((o,), 1), ((n, o, *oh_ow), 1)], dtype, gen)
    y = fnn.conv2d(x, w, b, s, p, d, g, activation="silu", residual=r, allow_tf32=dtype == "tf32")
    assert y.dtype == x.dtype and y.is_cuda
    want = np.asarray(fnn.conv2d(xv, wv, bv, s, p, d, g, activation="silu", residual=rv))
    scale = np.asarray(fnn.conv2d(np.abs(xv), np.abs(wv), np.abs(bv), s, p, d, g, residual=np.abs(rv)))
    exact = None
    if dtype == "tf32":
        exact = np.asarray(fnn.conv2d(x.cpu().double().numpy(), w.cpu().double().numpy(), bv, s, p, d, g, activation="silu",
                                      residual=rv))
    check_tensor_core(y, want, scale, c // g * k[0] * k[1], dtype, exact)
    if dtype == "tf32":  # the default stays exact float32 (SIMT)
        y32 = fnn.conv2d(x, w, b, s, p, d, g, activation="silu", residual=r).double().cpu().numpy()
        assert (np.abs(y32 - exact) <= tensor_core_bound(exact, scale, c // g * k[0] * k[1], "float32")).all()
        assert np.abs(y32 - exact).max() < np.abs(y32 - want).max()
