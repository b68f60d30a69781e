"""foveal.nn.linear against torch.nn.functional.linear and the float64 oracle, and the CPU GEMM
(foveal._core.gemm) against NumPy on every micro-kernel tail shape at every SIMD level."""

import itertools

import numpy as np
import pytest

import foveal
import foveal.nn as fnn
from reference.conv_ref import linear_ref
from reference.tensor_core_ref import check_tensor_core, tensor_core_inputs

torch = pytest.importorskip("torch")
F = torch.nn.functional

# Micro-kernel tiles are at most 8 rows x 32 columns (float32, AVX-512), blocks 144 rows,
# 256 (float32) / 128 (float64) deep and 512 columns: sizes below, at and above each.
M_SIZES = [1, 4, 7, 8, 9, 145]
N_SIZES = [1, 8, 15, 16, 17, 33, 513]
K_SIZES = [1, 129, 257]


def _gemm(a, b):
    out = np.empty((a.shape[0], b.shape[1]), a.dtype)
    foveal._core.gemm(a, b, out)
    return out


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gemm_tails_every_simd_level(simd_level, dtype):
    rng = np.random.default_rng(0)
    tol = dict(rtol=1e-5, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)
    for m, n, k in itertools.product(M_SIZES, N_SIZES, K_SIZES):
        if m * n * k > 2_000_000 and (m, n) != (145, 513):
            continue
        a = rng.standard_normal((m, k)).astype(dtype)
        b = rng.standard_normal((k, n)).astype(dtype)
        want = a.astype(np.float64) @ b.astype(np.float64)
        got = _gemm(a, b)
        np.testing.assert_allclose(got, want, rtol=tol["rtol"], atol=tol["atol"] * np.sqrt(k),
                                   err_msg=f"{simd_level} M={m} N={n} K={k}")


def test_gemm_bad_input():
    a = np.zeros((3, 4), np.float32)
    with pytest.raises(foveal.FovealValueError, match=r"gemm: b must have shape \(K, N\)"):
        foveal._core.gemm(a, np.zeros((5, 2), np.float32), np.zeros((3, 2), np.float32))
    with pytest.raises(foveal.FovealValueError, match="gemm: out must have shape"):
        foveal._core.gemm(a, np.zeros((4, 2), np.float32), np.zeros((3, 3), np.float32))
    with pytest.raises(foveal.FovealTypeError, match="b has dtype float64"):
        foveal._core.gemm(a, np.zeros((4, 2)), np.zeros((3, 2), np.float32))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("lead", [(), (1,), (7,), (2, 3), (300,)])
@pytest.mark.parametrize("with_bias", [False, True])
def test_linear_matches_torch(dtype, lead, with_bias):
    rng = np.random.default_rng(len(lead) * 10 + with_bias)
    x = rng.standard_normal((*lead, 37)).astype(dtype)
    w = rng.standard_normal((45, 37)).astype(dtype)
    b = rng.standard_normal(45).astype(dtype) if with_bias else None
    y = fnn.linear(x, w, b)
    t = lambda a: None if a is None else torch.from_numpy(a)  # noqa: E731
    want = F.linear(t(x), t(w), t(b)).numpy()
    assert y.shape == want.shape and y.dtype == dtype
    tol = dict(rtol=2e-5, atol=2e-5) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(y, want, **tol)
    np.testing.assert_allclose(y, linear_ref(x, w, b), **tol)


@pytest.mark.parametrize("activation", ["relu", "leaky_relu", ("leaky_relu", 0.3), "silu", "sigmoid"])
def test_linear_activation_every_simd_level(simd_level, activation):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((33, 300)).astype(np.float32)
    w = rng.standard_normal((70, 300)).astype(np.float32) * 0.1
    b = rng.standard_normal(70).astype(np.float32)
    name, slope = activation if isinstance(activation, tuple) else (activation, 0.01)
    y = fnn.linear(x, w, b, activation=activation)
    np.testing.assert_allclose(y, linear_ref(x, w, b, name, slope), rtol=1e-5, atol=1e-5)


def test_linear_large_parallel_blocks():
    """More rows than columns (row blocks per thread) and the reverse (column blocks)."""
    rng = np.random.default_rng(9)
    for m, n in [(700, 90), (40, 1100)]:
        x = rng.standard_normal((m, 260)).astype(np.float32)
        w = rng.standard_normal((n, 260)).astype(np.float32)
        b = rng.standard_normal(n).astype(np.float32)
        np.testing.assert_allclose(fnn.linear(x, w, b, activation="relu"), linear_ref(x, w, b, "relu"),
                                   rtol=1e-5, atol=1e-4)


def test_linear_empty_inner_dimension_gives_bias():
    b = np.array([1.0, -2.0, 3.0], np.float32)
    y = fnn.linear(np.zeros((4, 0), np.float32), np.zeros((3, 0), np.float32), b, activation="relu")
    np.testing.assert_array_equal(y, np.tile([1.0, 0.0, 3.0], (4, 1)).astype(np.float32))


def test_linear_non_contiguous_torch():
    rng = np.random.default_rng(4)
    xt = torch.from_numpy(rng.standard_normal((20, 30)).astype(np.float32)).t()  # (30, 20), strided
    wt = torch.from_numpy(rng.standard_normal((20, 11)).astype(np.float32)).t()  # (11, 20)
    y = fnn.linear(xt, wt)
    assert isinstance(y, torch.Tensor)
    torch.testing.assert_close(y, F.linear(xt, wt), rtol=2e-5, atol=2e-5)


@pytest.mark.parametrize(
    ("x", "w", "b", "exc", "match"),
    [
        ((4, 5), (3, 6), None, foveal.FovealValueError, "weight must have in_features = 5"),
        ((4, 5), (3, 5), (4,), foveal.FovealValueError, r"bias must have shape \(3,\)"),
        ((4, 5), (3, 5, 1), None, foveal.FovealValueError, "weight must have shape"),
        ((), (3, 5), None, foveal.FovealValueError, "input must have shape"),
    ],
)
def test_linear_bad_input(x, w, b, exc, match):
    z = lambda s: None if s is None else np.zeros(s, np.float32)  # noqa: E731
    with pytest.raises(exc, match=match):
        fnn.linear(z(x), z(w), z(b))


def test_linear_dtype_mismatch():
    with pytest.raises(foveal.FovealTypeError, match="weight has dtype float64"):
        fnn.linear(np.zeros((2, 3), np.float32), np.zeros((4, 3)))


# CUDA GEMM tile classes (cuda/conv2d_cuda.cu pick_tile, plan_splits on a 132-SM H200): 128 x 128,
# 64 x 128, 64 x 64 with ragged edges and K < 8, split-K (one tile, K = 8192: 16 slices);
# fc6_boxhead's shape (4 slices in float32); K = 0 below.
LINEAR_CUDA_CASES = [(2000, 2100, 40), (9000, 60, 33), (130, 70, 200), (7, 3, 5), (64, 100, 8192), (1000, 1024, 12544)]


@pytest.mark.needs_cuda
@pytest.mark.parametrize("dtype", ["float32", "float64", "float16", "bfloat16"])
@pytest.mark.parametrize("mnk", LINEAR_CUDA_CASES, ids=lambda c: "x".join(map(str, c)))
def test_linear_and_gemm_cuda_tiles(mnk, dtype):
    m, n, k = mnk
    dt = getattr(torch, dtype)
    gen = torch.Generator().manual_seed(7)
    x = torch.randn((m, k), generator=gen).to("cuda", dt)
    w = (torch.randn((n, k), generator=gen) / np.sqrt(k)).to("cuda", dt)
    b = torch.randn(n, generator=gen).to("cuda", dt)
    tol = {"float32": 1e-4, "float64": 1e-10, "float16": 2e-2, "bfloat16": 1e-1}[dtype]
    y = fnn.linear(x, w, b, activation="silu")
    torch.testing.assert_close(y.double(), F.silu(F.linear(x.double(), w.double(), b.double())), rtol=tol, atol=tol * 10)
    if dtype in ("float32", "float64"):
        torch.testing.assert_close(fnn.linear(x.cpu(), w.cpu(), b.cpu()), fnn.linear(x, w, b).cpu(), rtol=tol, atol=tol)
        out = torch.empty((m, n), dtype=dt, device="cuda")
        foveal._core.gemm(x, w.t().contiguous(), out)  # B (K, N) row-major
        torch.testing.assert_close(out.double(), x.double() @ w.double().t(), rtol=tol, atol=tol * 10)


@pytest.mark.needs_cuda
def test_linear_cuda_empty_inner_dimension_gives_bias():
    b = torch.tensor([1.0, -2.0, 3.0], device="cuda")
    y = fnn.linear(torch.zeros((4, 0), device="cuda"), torch.zeros((3, 0), device="cuda"), b, activation="relu")
    torch.testing.assert_close(y.cpu(), torch.tensor([[1.0, 0.0, 3.0]] * 4), rtol=0, atol=0)


# The tensor-core GEMM (float16 / bfloat16; float32 with allow_tf32): 128 x 128, 64 x 128 and 64 x 64
# tiles with rows, columns and K off the 16 x 16 fragments, K < 16, K = 1, split-K (K = 8192).
TC_LINEAR_CASES = [(2000, 2100, 40), (9000, 60, 33), (130, 70, 200), (7, 3, 5), (33, 17, 1), (64, 100, 8192)]


@pytest.mark.needs_cuda
@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "tf32"])
@pytest.mark.parametrize("mnk", TC_LINEAR_CASES, ids=lambda c: "x".join(map(str, c)))
def test_linear_and_gemm_cuda_tensor_cores(mnk, dtype):
    """linear (ReLU epilogue) and, for 16-bit data, gemm on tensor cores against foveal's CPU path in
    float64 on the values multiplied."""
    m, n, k = mnk
    gen = torch.Generator().manual_seed(12)
    (x, xv), (w, wv), (b, bv) = tensor_core_inputs([((m, k), 1), ((n, k), np.sqrt(k)), ((n,), 1)], dtype, gen)
    y = fnn.linear(x, w, b, activation="relu", allow_tf32=dtype == "tf32")
    assert y.dtype == x.dtype and y.is_cuda
    want = np.asarray(fnn.linear(xv, wv, bv, activation="relu"))
    scale = np.asarray(fnn.linear(np.abs(xv), np.abs(wv), np.abs(bv)))
    exact = None
    if dtype == "tf32":
        exact = np.asarray(fnn.linear(x.cpu().double().numpy(), w.cpu().double().numpy(), bv, activation="relu"))
    check_tensor_core(y, want, scale, k, dtype, exact)
    if dtype != "tf32":  # gemm has no allow_tf32: float32 stays exact
        out = torch.empty((m, n), dtype=x.dtype, device="cuda")
        foveal._core.gemm(x, w.t().contiguous(), out)
        want = _gemm(xv, np.ascontiguousarray(wv.T))
        check_tensor_core(out, want, _gemm(np.abs(xv), np.ascontiguousarray(np.abs(wv).T)), k, dtype)
