"""foveal.nn.conv_transpose2d against torch.nn.functional.conv_transpose2d and the float64
scatter-add oracle (tests/reference/conv_ref.py), the adjoint identity with conv2d, the seed
worked examples T1-T4 (/work/shared/spec/seed-detection.md 2.3) and bad input."""

import numpy as np
import pytest

import foveal
import foveal.nn as fnn
from reference.conv_ref import conv_transpose2d_ref
from reference.tensor_core_ref import check_tensor_core, tensor_core_inputs

torch = pytest.importorskip("torch")
F = torch.nn.functional

TOL = {np.float32: dict(rtol=2e-5, atol=2e-4), np.float64: dict(rtol=1e-12, atol=1e-11)}

# (N, C_in, H, W, C_out/groups, (kH, kW), stride, padding, output_padding, dilation, groups)
CASES = [
    (2, 6, 7, 5, 4, (2, 2), 2, 0, 0, 1, 1),  # stride == kernel: the direct-write path
    (1, 5, 3, 4, 3, (3, 2), (3, 2), 0, 0, 1, 1),  # stride == kernel, non-square
    (2, 4, 6, 7, 3, (4, 4), 2, 1, 0, 1, 1),  # the k4s2 upsampler
    (1, 3, 5, 5, 2, (3, 3), 1, 0, 0, 1, 1),  # stride 1 (full correlation)
    (1, 3, 5, 6, 2, (3, 3), 1, 1, 0, 1, 1),  # stride 1 "same"
    (2, 4, 5, 3, 3, (3, 3), 2, 1, 1, 1, 1),  # output_padding
    (1, 4, 4, 5, 2, (3, 3), (3, 2), (2, 0), (2, 1), 1, 1),  # asymmetric stride, padding, output_padding
    (1, 3, 5, 4, 2, (3, 2), 1, 0, 0, 2, 1),  # dilation
    (1, 2, 4, 4, 3, (2, 3), 1, (1, 2), (1, 0), (2, 3), 1),  # output_padding < dilation with stride 1
    (2, 6, 5, 5, 2, (3, 3), 2, 1, 1, 1, 3),  # groups
    (1, 4, 3, 3, 1, (3, 3), 2, 0, 0, 1, 4),  # depthwise
    (1, 3, 1, 1, 5, (1, 1), 1, 0, 0, 1, 1),  # 1x1 input and kernel
    (3, 2, 9, 1, 2, (2, 1), (2, 1), 0, 0, 1, 1),  # one column
    (1, 2, 3, 3, 2, (5, 5), 1, 3, 0, 1, 1),  # padding larger than the input's reach on the border
    # Sub-pixel phases (dilation 1). Wide ones (>= 32 outputs per phase row: every SIMD level's
    # panel) read B in place from the padded input copy; narrow ones and > 128 output channels
    # per group go through the packed implicit-im2col GEMM.
    (2, 6, 5, 33, 5, (4, 4), 2, 1, 0, 1, 1),  # k4s2, wide: in place, C_out not a multiple of the tile
    (1, 4, 4, 40, 3, (3, 3), 2, 1, 1, 1, 1),  # odd kernel: phases with 1 and 2 taps, output_padding
    (1, 3, 3, 40, 2, (5, 5), 3, 2, 2, 1, 1),  # stride 3: nine phases of 1-2 taps, output_padding 2
    (1, 3, 4, 40, 3, (1, 1), 2, 0, 1, 1, 1),  # kernel < stride, wide: phases with no tap (bias only)
    (1, 3, 4, 5, 3, (1, 1), 2, 0, 1, 1, 1),  # the same, narrow (packed path)
    (1, 70, 4, 40, 3, (4, 4), 2, 1, 0, 1, 1),  # in place with K = 280 taps x channels
    (1, 70, 4, 5, 3, (4, 4), 2, 1, 0, 1, 1),  # packed with K > 256: two K blocks into a strided C
    (2, 8, 5, 6, 130, (2, 2), 2, 0, 0, 1, 1),  # Mask R-CNN-like, > 128 outputs: packed
    (1, 4, 3, 3, 150, (3, 3), 2, 1, 1, 1, 1),  # > 144 outputs: A in several blocks, strided C
    (2, 4, 3, 36, 2, (4, 4), (2, 1), (1, 2), (1, 0), 1, 2),  # groups, wide, asymmetric stride and padding
    # Stride 2 along W, wide: the two column phases computed together and stored interleaved when
    # they have equal counts and taps (the third case: k3s2 with an odd output width, so not).
    (2, 6, 4, 36, 3, (4, 4), 2, 1, 0, 1, 2),  # k4s2 with groups
    (1, 5, 3, 70, 11, (4, 4), (1, 2), (0, 1), 0, 1, 1),  # stride 1 along H: one row phase, 2 column phases
    (1, 3, 4, 40, 2, (3, 3), 2, 1, 0, 1, 1),  # output width odd: phase counts 40 and 39
]


def _torch(x, w, b=None, **kw):
    t = lambda a: None if a is None else torch.from_numpy(np.ascontiguousarray(a))  # noqa: E731
    return F.conv_transpose2d(t(x), t(w), t(b), **kw).numpy()


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", CASES)
def test_matches_torch_and_oracle(case, dtype):
    n, c, h, wd, og, k, s, p, op, d, g = case
    rng = np.random.default_rng(hash(case) % 2**32)
    x = rng.standard_normal((n, c, h, wd)).astype(dtype)
    w = rng.standard_normal((c, og, *k)).astype(dtype)
    b = rng.standard_normal(og * g).astype(dtype)
    got = fnn.conv_transpose2d(x, w, b, stride=s, padding=p, output_padding=op, groups=g, dilation=d)
    want = _torch(x, w, b, stride=s, padding=p, output_padding=op, groups=g, dilation=d)
    assert got.shape == want.shape and got.dtype == dtype
    np.testing.assert_allclose(got, want, **TOL[dtype])
    ref = conv_transpose2d_ref(x, w, b, _pair(s), _pair(p), _pair(op), _pair(d), g)
    np.testing.assert_allclose(got, ref, **TOL[dtype])


@pytest.mark.parametrize("activation", [None, "relu", ("leaky_relu", 0.2), "silu", "sigmoid"])
@pytest.mark.parametrize("geometry", [dict(stride=2), dict(stride=2, padding=1)])
def test_fused_epilogue(activation, geometry):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 5, 6, 7))
    k = 2 if geometry.get("padding", 0) == 0 else 4
    w = rng.standard_normal((5, 3, k, k))
    b = rng.standard_normal(3)
    shape = fnn.conv_transpose2d(x, w, **geometry).shape
    r = rng.standard_normal(shape)
    name, slope = (activation if isinstance(activation, tuple) else (activation, 0.01))
    got = fnn.conv_transpose2d(x, w, b, **geometry, residual=r, activation=activation)
    s, p = _pair(geometry["stride"]), _pair(geometry.get("padding", 0))
    want = conv_transpose2d_ref(x, w, b, s, p, residual=r, activation=name, slope=slope)
    np.testing.assert_allclose(got, want, **TOL[np.float64])


@pytest.mark.parametrize("activation", [None, ("leaky_relu", 0.2), "sigmoid"])
@pytest.mark.parametrize("case", [CASES[14], CASES[17], CASES[18], CASES[21], CASES[22], CASES[24], CASES[25]])
def test_sub_pixel_epilogue_every_simd_level(simd_level, case, activation):
    """Bias, residual and activation fused into the strided store of every path, at each SIMD
    level (each has its own panel width, so the in-place / packed choice differs)."""
    n, c, h, wd, og, k, s, p, op, d, g = case
    rng = np.random.default_rng(9)
    x = rng.standard_normal((n, c, h, wd)).astype(np.float32)
    w = rng.standard_normal((c, og, *k)).astype(np.float32)
    b = rng.standard_normal(og * g).astype(np.float32)
    shape = _torch(x, w, stride=s, padding=p, output_padding=op, groups=g, dilation=d).shape
    r = rng.standard_normal(shape).astype(np.float32)
    name, slope = (activation if isinstance(activation, tuple) else (activation, 0.01))
    got = fnn.conv_transpose2d(x, w, b, stride=s, padding=p, output_padding=op, groups=g, dilation=d,
                               residual=r, activation=activation)
    want = conv_transpose2d_ref(x.astype(np.float64), w.astype(np.float64), b.astype(np.float64), _pair(s), _pair(p),
                                _pair(op), _pair(d), g, residual=r.astype(np.float64), activation=name, slope=slope)
    np.testing.assert_allclose(got, want, **TOL[np.float32])


@pytest.mark.parametrize("case", CASES)
def test_adjoint_of_conv2d(case):
    """<conv2d(x, w), y> = <x, conv_transpose2d(y, w)> for conv2d's matching geometry (conv2d's
    output cropped to y's size: with output_padding below the dilation at stride 1 it is larger)."""
    n, c, h, wd, og, k, s, p, op, d, g = case
    rng = np.random.default_rng(7)
    y = rng.standard_normal((n, c, h, wd))  # conv_transpose2d's input, conv2d's output
    w = rng.standard_normal((c, og, *k))  # conv2d weight (C_out=c, C_in/g=og)
    z = fnn.conv_transpose2d(y, w, stride=s, padding=p, output_padding=op, groups=g, dilation=d)
    x = rng.standard_normal(z.shape)
    cx = fnn.conv2d(x, w, stride=s, padding=p, dilation=d, groups=g)[:, :, :h, :wd]
    assert cx.shape == y.shape
    lhs, rhs = float(np.vdot(cx, y)), float(np.vdot(x, z))
    assert lhs == pytest.approx(rhs, rel=1e-11, abs=1e-10)


def test_seed_T1_one_dimensional():
    a, b_, xx, yy, zz = 2.0, 3.0, 5.0, 7.0, 11.0
    got = fnn.conv_transpose2d(np.array([[[a, b_]]]), np.array([[[[xx, yy, zz]]]]), stride=(1, 2))
    np.testing.assert_array_equal(got, [[[a * xx, a * yy, a * zz + b_ * xx, b_ * yy, b_ * zz]]])


def test_seed_T2_stride1():
    v = np.array([[[0.0, 1.0], [2.0, 3.0]]], dtype=np.float32)
    got = fnn.conv_transpose2d(v, v[None])
    np.testing.assert_array_equal(got, [[[0, 0, 1], [0, 4, 6], [4, 12, 9]]])


def test_seed_T3_stride2():
    v = np.array([[[0.0, 1.0], [2.0, 3.0]]])
    got = fnn.conv_transpose2d(v, v[None], stride=2)
    np.testing.assert_array_equal(got, [[[0, 0, 0, 1], [0, 0, 2, 3], [0, 2, 0, 3], [4, 6, 6, 9]]])


def test_seed_T4_partial_products():
    """Each input pixel alone contributes input[y, x] * k at offset (y, x); their sum is T2."""
    v = np.array([[0.0, 1.0], [2.0, 3.0]])
    parts = {(0, 0): [[0, 0], [0, 0]], (0, 1): [[0, 1], [2, 3]], (1, 0): [[0, 2], [4, 6]], (1, 1): [[0, 3], [6, 9]]}
    total = np.zeros((3, 3))
    for (i, j), part in parts.items():
        one = np.zeros((1, 2, 2))
        one[0, i, j] = v[i, j]
        got = fnn.conv_transpose2d(one, v[None, None])
        want = np.zeros((1, 3, 3))
        want[0, i:i + 2, j:j + 2] = part
        np.testing.assert_array_equal(got, want)
        total += got[0]
    np.testing.assert_array_equal(total, [[0, 0, 1], [0, 4, 6], [4, 12, 9]])


def test_unbatched_and_inputs_untouched():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, 4, 5)).astype(np.float32)
    w = rng.standard_normal((3, 2, 2, 2)).astype(np.float32)
    x0, w0 = x.copy(), w.copy()
    got = fnn.conv_transpose2d(x, w, stride=2)
    np.testing.assert_allclose(got, _torch(x[None], w, stride=2)[0], **TOL[np.float32])
    np.testing.assert_array_equal(x, x0)
    np.testing.assert_array_equal(w, w0)


def test_torch_input_gives_torch_output():
    x = torch.randn(1, 3, 4, 4)
    w = torch.randn(3, 2, 2, 2)
    got = fnn.conv_transpose2d(x, w, stride=2)
    assert isinstance(got, torch.Tensor)
    torch.testing.assert_close(got, F.conv_transpose2d(x, w, stride=2), rtol=2e-5, atol=2e-4)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(output_padding=2, stride=2), "output_padding must be smaller than stride or dilation"),
        (dict(stride=0), "stride must be positive"),
        (dict(padding=-1), "padding must be non-negative"),
        (dict(dilation=0), "dilation must be positive"),
        (dict(groups=0), "groups must be positive"),
        (dict(groups=2), r"groups \(2\) must divide input's channels"),
        (dict(padding=5), "padding .* crops the whole output"),
        (dict(stride=1.5), "stride must be an int"),
        (dict(activation="tanh"), "activation must be"),
    ],
)
def test_bad_parameters(kwargs, match):
    x = np.zeros((1, 3, 2, 2), np.float32)
    w = np.zeros((3, 2, 2, 2), np.float32)
    with pytest.raises((foveal.FovealValueError, foveal.FovealTypeError), match=f"conv_transpose2d: {match}"):
        fnn.conv_transpose2d(x, w, **kwargs)


def test_bad_arrays():
    x = np.zeros((1, 3, 4, 4), np.float32)
    w = np.zeros((3, 2, 2, 2), np.float32)
    with pytest.raises(foveal.FovealValueError, match="conv_transpose2d: weight must have C_in = 3"):
        fnn.conv_transpose2d(x, np.zeros((2, 3, 2, 2), np.float32))
    with pytest.raises(foveal.FovealValueError, match="conv_transpose2d: weight must have shape"):
        fnn.conv_transpose2d(x, np.zeros((3, 2, 2), np.float32))
    with pytest.raises(foveal.FovealValueError, match="conv_transpose2d: input must have shape"):
        fnn.conv_transpose2d(np.zeros((4, 4), np.float32), w)
    with pytest.raises(foveal.FovealValueError, match=r"conv_transpose2d: bias must have shape \(2,\)"):
        fnn.conv_transpose2d(x, w, np.zeros(3, np.float32))
    with pytest.raises(foveal.FovealValueError, match="conv_transpose2d: residual must have the output's shape"):
        fnn.conv_transpose2d(x, w, residual=np.zeros((1, 2, 4, 4), np.float32))
    with pytest.raises(foveal.FovealTypeError, match="conv_transpose2d: .*dtype|conv_transpose2d: weight"):
        fnn.conv_transpose2d(x, w.astype(np.float64))


# CUDA: every phase class above, the tile classes of the GEMM (see test_conv.py) and the benchmark
# shapes (convT_mask reduced to 20 RoIs; convT_k4s2 whole).
CUDA_CASES = CASES + [
    (20, 256, 14, 14, 256, (2, 2), 2, 0, 0, 1, 1),  # convT_mask, 20 RoIs: 128 x 128 tiles
    (8, 64, 64, 64, 32, (4, 4), 2, 1, 0, 1, 1),  # convT_k4s2: 64 x 128
    (2, 6, 9, 7, 70, (3, 3), 3, 1, 2, 2, 2),  # stride 3, dilation 2, output_padding, groups: 64 x 64
]


@pytest.mark.needs_cuda
@pytest.mark.parametrize("dtype", ["float32", "float64", "float16", "bfloat16"])
@pytest.mark.parametrize("case", CUDA_CASES, ids=lambda c: "x".join(map(str, c[:5])) + "-" + "-".join(map(str, c[5:])))
def test_cuda_matches_torch_and_cpu(case, dtype):
    n, c, h, w_, o, k, s, p, op, d, g = case
    dt = getattr(torch, dtype)
    gen = torch.Generator().manual_seed(6)
    x = torch.randn((n, c, h, w_), generator=gen).to("cuda", dt)
    w = (torch.randn((c, o, *k), generator=gen) / np.sqrt(c // g)).to("cuda", dt)
    b = torch.randn(o * g, generator=gen).to("cuda", dt)
    kw = dict(stride=s, padding=p, output_padding=op, groups=g, dilation=d)
    want = F.conv_transpose2d(x.double(), w.double(), b.double(), **kw)
    r = torch.randn(want.shape, generator=gen).to("cuda", dt)
    tol = {"float32": 1e-4, "float64": 1e-10, "float16": 2e-2, "bfloat16": 1e-1}[dtype]
    y = fnn.conv_transpose2d(x, w, b, s, p, op, g, d)
    assert y.dtype == dt and y.is_cuda and y.shape == want.shape
    torch.testing.assert_close(y.double(), want, rtol=tol, atol=tol * 10)
    y = fnn.conv_transpose2d(x, w, None, s, p, op, g, d, activation="silu", residual=r)
    torch.testing.assert_close(y.double(), F.silu(F.conv_transpose2d(x.double(), w.double(), None, **kw) + r.double()),
                               rtol=tol, atol=tol * 10)
    if dtype in ("float32", "float64"):
        torch.testing.assert_close(fnn.conv_transpose2d(x.cpu(), w.cpu(), b.cpu(), s, p, op, g, d),
                                   fnn.conv_transpose2d(x, w, b, s, p, op, g, d).cpu(), rtol=tol, atol=tol)


# The tensor-core GEMM per output phase (float16 / bfloat16; float32 with allow_tf32; tiles of at
# most 64 rows there): phases of k4 s2, stride 3 with dilation, output padding and groups (phases
# without taps), k < s, the mask head's k2 s2 with M = 256, rows / columns / K off the fragments.
TC_TRANSPOSE_CASES = [
    (2, 4, 5, 3, 3, (3, 3), 2, 1, 1, 1, 1),
    (8, 64, 16, 16, 32, (4, 4), 2, 1, 0, 1, 1),
    (2, 6, 9, 7, 70, (3, 3), 3, 1, 2, 2, 2),
    (1, 3, 4, 4, 2, (1, 1), 2, 0, 1, 1, 1),
    (6, 256, 14, 14, 256, (2, 2), 2, 0, 0, 1, 1),
    (1, 4, 4, 5, 2, (3, 3), (3, 2), (2, 0), (2, 1), 1, 1),
]


@pytest.mark.needs_cuda
@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "tf32"])
@pytest.mark.parametrize("case", TC_TRANSPOSE_CASES,
                         ids=lambda c: "x".join(map(str, c[:5])) + "-" + "-".join(map(str, c[5:])))
def test_cuda_tensor_cores(case, dtype):
    """float16 / bfloat16 and float32 with allow_tf32=True against foveal's CPU path in float64 on the
    values multiplied, with the fused SiLU + residual epilogue."""
    n, c, h, w_, o, k, s, p, op, d, g = case
    gen = torch.Generator().manual_seed(13)
    shape = fnn.conv_transpose2d(np.zeros((n, c, h, w_)), np.zeros((c, o, *k)), None, s, p, op, g, d).shape
    (x, xv), (w, wv), (b, bv), (r, rv) = tensor_core_inputs(
        [((n, c, h, w_), 1), ((c, o, *k), np.sqrt(c // g)), ((o * g,), 1), (shape, 1)], dtype, gen)
    y = fnn.conv_transpose2d(x, w, b, s, p, op, g, d, activation="silu", residual=r, allow_tf32=dtype == "tf32")
    assert y.dtype == x.dtype and y.is_cuda
    want = np.asarray(fnn.conv_transpose2d(xv, wv, bv, s, p, op, g, d, activation="silu", residual=rv))
    scale = np.asarray(fnn.conv_transpose2d(np.abs(xv), np.abs(wv), np.abs(bv), s, p, op, g, d, residual=np.abs(rv)))
    exact = None
    if dtype == "tf32":
        exact = np.asarray(fnn.conv_transpose2d(x.cpu().double().numpy(), w.cpu().double().numpy(), bv, s, p, op, g, d,
                                                activation="silu", residual=rv))
    check_tensor_core(y, want, scale, c // g * k[0] * k[1], dtype, exact)
