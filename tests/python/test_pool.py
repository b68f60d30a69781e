"""foveal.nn pooling against torch.nn.functional (the peer), the float64 NumPy oracles in
tests/reference/pool_ref.py, and the seed worked examples (P1-P4, Keras output shapes)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import foveal
from foveal import _core
from foveal.nn import adaptive_avg_pool2d, adaptive_max_pool2d, avg_pool2d, max_pool2d
from reference.pool_ref import (
    adaptive_avg_pool2d_ref,
    adaptive_max_pool2d_ref,
    avg_pool2d_ref,
    max_pool2d_ref,
    out_size,
)

DTYPES = [np.float32, np.float64]
SEED_P12 = [[3, 1, 3, 5], [6, 0, 7, 9], [3, 2, 1, 4], [0, 2, 4, 3]]
SEED_P34 = [[3, 2, 0, 0], [0, 7, 1, 3], [5, 2, 3, 0], [0, 9, 2, 3]]


def avg_tol(dtype):
    return dict(rtol=1e-5, atol=1e-5) if np.dtype(dtype) == np.float32 else dict(rtol=1e-12, atol=1e-12)


# ------------------------------------------------------------------ seed oracles


@pytest.mark.parametrize("dtype", DTYPES)
def test_seed_P1_P3_max(dtype):
    x = np.array([SEED_P12, SEED_P34], dtype)[:, None]  # (2, 1, 4, 4)
    out = max_pool2d(x, 2, 2)
    assert out.dtype == dtype and out.shape == (2, 1, 2, 2)
    np.testing.assert_array_equal(out[0, 0], [[6, 9], [3, 4]])  # P1
    assert out[1, 0, 0, 0] == 7  # P3 as documented
    np.testing.assert_array_equal(out[1, 0], [[7, 3], [9, 3]])  # P3, derived full output


@pytest.mark.parametrize("dtype", DTYPES)
def test_seed_P2_P4_avg(dtype):
    x = np.array([SEED_P12, SEED_P34], dtype)[:, None]
    out = avg_pool2d(x, (2, 2), (2, 2))
    np.testing.assert_array_equal(out[0, 0], [[2.5, 6], [1.75, 3]])  # P2 (exact in binary)
    assert out[1, 0, 0, 0] == 3  # P4 as documented
    np.testing.assert_array_equal(out[1, 0], [[3, 1], [4, 2]])  # P4, derived


@pytest.mark.parametrize(
    ("n", "k", "s", "p", "ceil", "expected"),
    [
        (26, 2, 2, 0, False, 13),  # Fashion-MNIST CNN MaxPool 26 -> 13
        (11, 2, 2, 0, False, 5),  # 11 -> 5 (floor)
        (142, 3, 2, 1, False, 71),  # DeepFace M2 MaxPool(3, s2, same) 142 -> 71 ...
        (142, 3, 2, 0, True, 71),  # ... also reached by ceil_mode
        (142, 3, 2, 0, False, 70),  # floor without padding
        (28, 2, 2, 0, False, 14),  # LeNet 28 -> 14
        (10, 2, 2, 0, False, 5),  # LeNet 10 -> 5
        (112, 3, 2, 1, False, 56),  # ResNet stem
        (5, 2, 2, 1, True, 3),  # ceil: the 4th window would start in the right padding: dropped
        (6, 3, 2, 1, True, 4),  # ceil: last window starts in the input, runs past the padding
    ],
)
def test_output_size_oracles(n, k, s, p, ceil, expected):
    assert _core.pool2d_output_size("max_pool2d", n, n, (k, k), (s, s), (p, p), (1, 1), ceil) == (expected,) * 2
    assert out_size(n, k, s, p, 1, ceil) == expected
    x = np.zeros((1, 1, n, n), np.float32)
    assert max_pool2d(x, k, s, p, ceil_mode=ceil).shape == (1, 1, expected, expected)
    assert avg_pool2d(x, k, s, p, ceil_mode=ceil).shape == (1, 1, expected, expected)
    assert F.max_pool2d(torch.zeros(1, 1, n, n), k, s, p, ceil_mode=ceil).shape[-1] == expected


# ------------------------------------------------------- random configurations vs torch


def _configs(seed, count, dilation=True):
    """Valid pooling configurations covering every class: kernel 1..5 (square or not), stride
    1..4 (smaller, equal, larger than the kernel), padding 0..k//2, dilation 1..3, ceil_mode."""
    rng = np.random.default_rng(seed)
    out = []
    while len(out) < count:
        k = tuple(int(v) for v in rng.integers(1, 6, 2))
        s = tuple(int(v) for v in rng.integers(1, 5, 2))
        p = tuple(int(rng.integers(0, kk // 2 + 1)) for kk in k)
        d = tuple(int(v) for v in rng.integers(1, 4, 2)) if dilation else (1, 1)
        ceil = bool(rng.integers(0, 2))
        hw = tuple(int(v) for v in rng.integers(1, 40, 2))
        if any(out_size(hw[i], k[i], s[i], p[i], d[i], ceil) < 1 for i in range(2)):
            continue
        n = int(rng.choice([1, 2, 3]))
        c = int(rng.integers(1, 5))
        out.append((n, c, hw, k, s, p, d, ceil))
    return out


def _input(shape, dtype, seed, nan=0.0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape).astype(dtype)
    if nan:
        x[rng.random(shape) < nan] = np.nan
    return x


MAX_CONFIGS = _configs(1, 60)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("cfg", MAX_CONFIGS, ids=[str(i) for i in range(len(MAX_CONFIGS))])
def test_max_pool2d_vs_torch_and_ref(cfg, dtype):
    n, c, hw, k, s, p, d, ceil = cfg
    x = _input((n, c, *hw), dtype, seed=hash(cfg) % 2**32)
    xt = torch.from_numpy(x)
    want, want_idx = F.max_pool2d(xt, k, s, p, d, ceil_mode=ceil, return_indices=True)
    got = max_pool2d(x, k, s, p, d, ceil_mode=ceil)
    got2, idx = max_pool2d(x, k, s, p, d, ceil_mode=ceil, return_indices=True)
    assert got.dtype == dtype and idx.dtype == np.int64
    np.testing.assert_array_equal(got, want.numpy())
    np.testing.assert_array_equal(got2, want.numpy())
    np.testing.assert_array_equal(idx, want_idx.numpy())
    ref, ref_idx = max_pool2d_ref(x.reshape(-1, *hw), k, s, p, d, ceil)
    np.testing.assert_array_equal(got.reshape(ref.shape), ref.astype(dtype))
    valid = ref_idx >= 0
    np.testing.assert_array_equal(idx.reshape(ref.shape)[valid], ref_idx[valid])


AVG_CONFIGS = _configs(2, 60, dilation=False)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("cfg", AVG_CONFIGS, ids=[str(i) for i in range(len(AVG_CONFIGS))])
def test_avg_pool2d_vs_torch_and_ref(cfg, dtype):
    n, c, hw, k, s, p, _, ceil = cfg
    x = _input((n, c, *hw), dtype, seed=hash(cfg) % 2**32)
    xt = torch.from_numpy(x)
    for include in (True, False):
        for div in (None, 3, -2):
            got = avg_pool2d(x, k, s, p, ceil, include, div)
            want = F.avg_pool2d(xt, k, s, p, ceil, include, div).numpy()
            assert got.dtype == dtype and got.shape == want.shape
            np.testing.assert_allclose(got, want, **avg_tol(dtype))
            ref = avg_pool2d_ref(x.reshape(-1, *hw), k, s, p, ceil, include, div)
            np.testing.assert_allclose(got.reshape(ref.shape), ref, **avg_tol(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    ("hw", "out"),
    [((7, 7), (1, 1)), ((7, 5), (3, 2)), ((10, 13), (4, 5)), ((5, 5), (7, 3)), ((6, 9), (None, 3)), ((1, 1), 2)],
)
def test_adaptive_vs_torch_and_ref(hw, out, dtype):
    x = _input((2, 3, *hw), dtype, seed=7)
    xt = torch.from_numpy(x)
    want, want_idx = F.adaptive_max_pool2d(xt, out, return_indices=True)
    got, idx = adaptive_max_pool2d(x, out, return_indices=True)
    np.testing.assert_array_equal(got, want.numpy())
    np.testing.assert_array_equal(idx, want_idx.numpy())
    np.testing.assert_array_equal(adaptive_max_pool2d(x, out), want.numpy())
    size = want.shape[-2:]
    ref, ref_idx = adaptive_max_pool2d_ref(x.reshape(-1, *hw), size)
    np.testing.assert_array_equal(got.reshape(ref.shape), ref.astype(dtype))
    np.testing.assert_array_equal(idx.reshape(ref.shape), ref_idx)
    got = adaptive_avg_pool2d(x, out)
    np.testing.assert_allclose(got, F.adaptive_avg_pool2d(xt, out).numpy(), **avg_tol(dtype))
    ref = adaptive_avg_pool2d_ref(x.reshape(-1, *hw), size)
    np.testing.assert_allclose(got.reshape(ref.shape), ref, **avg_tol(dtype))


def test_adaptive_zero_output_size_is_empty_like_torch():
    x = np.ones((1, 2, 4, 4), np.float32)
    assert adaptive_avg_pool2d(x, 0).shape == F.adaptive_avg_pool2d(torch.from_numpy(x), 0).shape
    assert adaptive_max_pool2d(x, (0, 2)).shape == (1, 2, 0, 2)


# -------------------------------------------------------------- edge cases, layouts, NaN


@pytest.mark.parametrize(
    ("h", "k", "s", "p"),
    [(5, 2, 2, 1), (6, 3, 2, 1), (7, 3, 3, 1), (8, 4, 3, 2), (9, 5, 4, 2), (4, 3, 2, 0), (3, 3, 2, 1)],
)
def test_ceil_mode_edges(h, k, s, p):
    """Last windows that start in the input and run past the right padding, and windows the
    ceil rule drops because they would start in the padding; avg divisors at those windows."""
    x = _input((2, 3, h, h + 1), np.float64, seed=h * 100 + k)
    xt = torch.from_numpy(x)
    got, idx = max_pool2d(x, k, s, p, ceil_mode=True, return_indices=True)
    want, want_idx = F.max_pool2d(xt, k, s, p, ceil_mode=True, return_indices=True)
    np.testing.assert_array_equal(got, want.numpy())
    np.testing.assert_array_equal(idx, want_idx.numpy())
    np.testing.assert_array_equal(max_pool2d(x, k, s, p, ceil_mode=True), want.numpy())
    for include in (True, False):
        got = avg_pool2d(x, k, s, p, ceil_mode=True, count_include_pad=include)
        want = F.avg_pool2d(xt, k, s, p, ceil_mode=True, count_include_pad=include).numpy()
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_window_wholly_in_padding_gives_minus_inf_like_torch():
    # kernel 2, dilation 3, padding 1 on width 2: the taps at -1 and 2 both miss the input
    x = _input((1, 2, 3, 2), np.float32, seed=3)
    got, idx = max_pool2d(x, (1, 2), 1, (0, 1), (1, 3), return_indices=True)
    want, want_idx = F.max_pool2d(torch.from_numpy(x), (1, 2), 1, (0, 1), (1, 3), return_indices=True)
    assert np.isneginf(got).all()
    np.testing.assert_array_equal(got, want.numpy())
    np.testing.assert_array_equal(idx, want_idx.numpy())
    np.testing.assert_array_equal(max_pool2d(x, (1, 2), 1, (0, 1), (1, 3)), want.numpy())


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("cfg", [((3, 3), (2, 2), (1, 1), (1, 1)), ((2, 2), (2, 2), (0, 0), (1, 1)),
                                 ((3, 2), (1, 3), (1, 0), (2, 1)), ((4, 4), (3, 3), (2, 2), (1, 1))])
def test_nan_propagates_like_torch(cfg, dtype):
    k, s, p, d = cfg
    x = _input((2, 3, 17, 19), dtype, seed=11, nan=0.08)
    x[0, 0, :3, :3] = np.nan  # several NaNs in one window: torch's index is the last one
    xt = torch.from_numpy(x)
    got, idx = max_pool2d(x, k, s, p, d, return_indices=True)
    want, want_idx = F.max_pool2d(xt, k, s, p, d, return_indices=True)
    assert np.isnan(got).any() and not np.isnan(got).all()
    np.testing.assert_array_equal(got, want.numpy())  # NaN == NaN here
    np.testing.assert_array_equal(idx, want_idx.numpy())
    np.testing.assert_array_equal(max_pool2d(x, k, s, p, d), want.numpy())
    np.testing.assert_allclose(avg_pool2d(x, k, s, p), F.avg_pool2d(xt, k, s, p).numpy(), **avg_tol(dtype))
    got, idx = adaptive_max_pool2d(x, (5, 4), return_indices=True)
    want, want_idx = F.adaptive_max_pool2d(xt, (5, 4), return_indices=True)
    np.testing.assert_array_equal(got, want.numpy())
    np.testing.assert_array_equal(idx, want_idx.numpy())


def test_ties_pick_first_maximum_like_torch():
    x = np.zeros((1, 1, 6, 6), np.float32)
    x[0, 0, ::2, 1::2] = 1.0  # several equal maxima per window
    got, idx = max_pool2d(x, 3, 1, 1, return_indices=True)
    want, want_idx = F.max_pool2d(torch.from_numpy(x), 3, 1, 1, return_indices=True)
    np.testing.assert_array_equal(idx, want_idx.numpy())
    got, idx = adaptive_max_pool2d(x, 2, return_indices=True)
    np.testing.assert_array_equal(idx, F.adaptive_max_pool2d(torch.from_numpy(x), 2, return_indices=True)[1].numpy())


def test_infinities():
    x = _input((1, 2, 8, 8), np.float32, seed=5)
    x[0, 0] = -np.inf
    x[0, 1, 2, 3] = np.inf
    xt = torch.from_numpy(x)
    got, idx = max_pool2d(x, 3, 2, 1, return_indices=True)
    want, want_idx = F.max_pool2d(xt, 3, 2, 1, return_indices=True)
    np.testing.assert_array_equal(got, want.numpy())
    np.testing.assert_array_equal(idx, want_idx.numpy())
    np.testing.assert_array_equal(max_pool2d(x, 3, 2, 1), want.numpy())


def test_unbatched_and_empty_batch():
    x = _input((3, 11, 9), np.float32, seed=2)
    xt = torch.from_numpy(x)
    np.testing.assert_array_equal(max_pool2d(x, 3, 2, 1), F.max_pool2d(xt, 3, 2, 1).numpy())
    got, idx = max_pool2d(x, 2, return_indices=True)
    np.testing.assert_array_equal(idx, F.max_pool2d(xt, 2, return_indices=True)[1].numpy())
    np.testing.assert_allclose(avg_pool2d(x, 3, 2, 1), F.avg_pool2d(xt, 3, 2, 1).numpy(), rtol=1e-6, atol=1e-6)
    assert adaptive_avg_pool2d(x, 2).shape == (3, 2, 2)
    assert adaptive_max_pool2d(x, (2, None)).shape == (3, 2, 9)
    e = np.zeros((0, 3, 8, 8), np.float32)
    assert max_pool2d(e, 2).shape == (0, 3, 4, 4)
    assert max_pool2d(e, 2, return_indices=True)[1].shape == (0, 3, 4, 4)
    assert avg_pool2d(e, 2).shape == (0, 3, 4, 4)
    assert adaptive_max_pool2d(e, 3).shape == (0, 3, 3, 3)


@pytest.mark.parametrize("dtype", DTYPES)
def test_non_contiguous_inputs(dtype):
    base = _input((2, 5, 23, 31), dtype, seed=9)
    views = [base[:, :, ::2, 1::3], base.transpose(0, 1, 3, 2), base[:, 1:4]]
    for v in views:
        before = v.copy()
        vt = torch.from_numpy(np.ascontiguousarray(v))
        np.testing.assert_array_equal(max_pool2d(v, 3, 2, 1), F.max_pool2d(vt, 3, 2, 1).numpy())
        np.testing.assert_allclose(avg_pool2d(v, 2), F.avg_pool2d(vt, 2).numpy(), **avg_tol(dtype))
        np.testing.assert_array_equal(v, before)  # inputs are never written
    t = torch.from_numpy(base).contiguous(memory_format=torch.channels_last)
    got = max_pool2d(t, 3, 2, 1)
    assert isinstance(got, torch.Tensor)
    torch.testing.assert_close(got, F.max_pool2d(t, 3, 2, 1), rtol=0, atol=0)


def test_torch_in_torch_out():
    x = torch.randn(2, 3, 10, 10, generator=torch.Generator().manual_seed(0))
    out, idx = max_pool2d(x, 2, return_indices=True)
    assert isinstance(out, torch.Tensor) and out.dtype == torch.float32 and idx.dtype == torch.int64
    want, want_idx = F.max_pool2d(x, 2, return_indices=True)
    assert torch.equal(out, want) and torch.equal(idx, want_idx)
    a = adaptive_avg_pool2d(x.double(), (3, 3))
    assert a.dtype == torch.float64
    torch.testing.assert_close(a, F.adaptive_avg_pool2d(x.double(), (3, 3)))


def test_large_planes_parallel(simd_level):
    """Enough planes and columns for the parallel split, SIMD main loops and tails."""
    x = _input((3, 37, 45, 67), np.float32, seed=21, nan=0.001)
    xt = torch.from_numpy(x)
    for k, s, p in [(3, 2, 1), (2, 2, 0), (3, 1, 1), (5, 3, 2), (4, 4, 1)]:
        np.testing.assert_array_equal(max_pool2d(x, k, s, p), F.max_pool2d(xt, k, s, p).numpy())
        np.testing.assert_allclose(avg_pool2d(x, k, s, p), F.avg_pool2d(xt, k, s, p).numpy(), rtol=1e-5, atol=1e-6)
        got, idx = max_pool2d(x, k, s, p, return_indices=True)
        np.testing.assert_array_equal(idx, F.max_pool2d(xt, k, s, p, return_indices=True)[1].numpy())


# ------------------------------------------------------------------------ bad input


BAD = [
    (lambda x: max_pool2d(x, 2, padding=2), r"max_pool2d: padding must be at most half of kernel_size \(1, 1\), got \(2, 2\)"),
    (lambda x: avg_pool2d(x, 3, padding=(0, 2)), r"avg_pool2d: padding must be at most half of kernel_size"),
    (lambda x: max_pool2d(x, 9), r"max_pool2d: kernel_size \(9, 9\) with dilation \(1, 1\) does not fit the input \(8, 8\)"),
    (lambda x: max_pool2d(x, 3, dilation=4), r"max_pool2d: kernel_size \(3, 3\) with dilation \(4, 4\) does not fit"),
    (lambda x: avg_pool2d(x, (2, 9)), r"avg_pool2d: kernel_size \(2, 9\) .* output size would be \(4, 0\)"),
    (lambda x: max_pool2d(x, 2, stride=0), r"max_pool2d: stride must be positive .*got \(0, 0\)"),
    (lambda x: avg_pool2d(x, 2, stride=(1, -1)), r"avg_pool2d: stride must be positive .*got \(1, -1\)"),
    (lambda x: max_pool2d(x, 0), r"max_pool2d: kernel_size must be positive"),
    (lambda x: max_pool2d(x, 2, padding=-1), r"max_pool2d: padding must be non-negative"),
    (lambda x: max_pool2d(x, 2, dilation=0), r"max_pool2d: dilation must be positive"),
    (lambda x: max_pool2d(x[0, 0], 2), r"max_pool2d: input must have shape \(N, C, H, W\) or \(C, H, W\).*got \(8, 8\)"),
    (lambda x: avg_pool2d(x[None], 2), r"avg_pool2d: input must have shape .*got \(1, 1, 2, 8, 8\)"),
    (lambda x: max_pool2d(x[:, :, :0], 2), r"max_pool2d: input must have shape .*positive, got \(1, 2, 0, 8\)"),
    (lambda x: adaptive_max_pool2d(x[0, 0], 2), r"adaptive_max_pool2d: input must have shape"),
    (lambda x: adaptive_avg_pool2d(x, -1), r"adaptive_avg_pool2d: output_size must be non-negative, got \(-1, -1\)"),
    (lambda x: avg_pool2d(x, 2, divisor_override=0), r"avg_pool2d: divisor_override must be non-zero"),
    (lambda x: max_pool2d(x, 2**70), r"max_pool2d: kernel_size must be at most 2147483647 in magnitude"),
    (lambda x: max_pool2d(x, 2, stride=2**40), r"max_pool2d: stride must be at most 2147483647"),
    (lambda x: adaptive_avg_pool2d(x, 2**64), r"adaptive_avg_pool2d: output_size must be at most 2147483647"),
]


@pytest.mark.parametrize(("fn", "msg"), BAD, ids=[str(i) for i in range(len(BAD))])
def test_bad_values(fn, msg):
    x = np.zeros((1, 2, 8, 8), np.float32)
    with pytest.raises(foveal.FovealValueError, match=msg):
        fn(x)
    with pytest.raises(RuntimeError):  # also catchable as torch's errors are
        fn(x)


BAD_TYPES = [
    (lambda x: max_pool2d(x.astype(np.float16), 2), r"max_pool2d: input must be float32, float64 on the CPU.*got float16"),
    (lambda x: avg_pool2d(x.astype(np.int32), 2), r"avg_pool2d: input must be float32, float64 .*got int32"),
    (lambda x: max_pool2d(x, 2.0), r"max_pool2d: kernel_size must be an int or a pair of those, got 2.0"),
    (lambda x: max_pool2d(x, (2, 2, 2)), r"max_pool2d: kernel_size must be an int or a pair"),
    (lambda x: avg_pool2d(x, 2, stride="2"), r"avg_pool2d: stride must be an int"),
    (lambda x: max_pool2d(x, True), r"max_pool2d: kernel_size must be an int"),
    (lambda x: avg_pool2d(x, 2, divisor_override=1.5), r"avg_pool2d: divisor_override must be an int or None"),
    (lambda x: adaptive_max_pool2d(x, "a"), r"adaptive_max_pool2d: output_size must be an int, None or a pair"),
    (lambda x: max_pool2d(x.tolist(), 2), r"max_pool2d: input must be an array"),
]


@pytest.mark.parametrize(("fn", "msg"), BAD_TYPES, ids=[str(i) for i in range(len(BAD_TYPES))])
def test_bad_types(fn, msg):
    with pytest.raises(foveal.FovealTypeError, match=msg):
        fn(np.zeros((1, 2, 8, 8), np.float32))


def test_core_refuses_wrong_out():
    x = np.zeros((1, 2, 8, 8), np.float32)
    with pytest.raises(foveal.FovealValueError, match=r"max_pool2d: out must have shape \(1, 2, 4, 4\), got \(1, 2, 4, 3\)"):
        _core.max_pool2d(x, np.empty((1, 2, 4, 3), np.float32), None, (2, 2), (2, 2), (0, 0), (1, 1), False)
    with pytest.raises(foveal.FovealTypeError, match=r"max_pool2d: indices must be int64, got int32"):
        _core.max_pool2d(x, np.empty((1, 2, 4, 4), np.float32), np.empty((1, 2, 4, 4), np.int32),
                         (2, 2), (2, 2), (0, 0), (1, 1), False)
    with pytest.raises(foveal.FovealTypeError, match=r"avg_pool2d: out has dtype float64 but input has dtype float32"):
        _core.avg_pool2d(x, np.empty((1, 2, 4, 4), np.float64), (2, 2), (2, 2), (0, 0), False, True, 0)


# ------------------------------------------------------------------- other libraries, CUDA


def test_jax_cpu_in_jax_out():
    jnp = pytest.importorskip("jax.numpy")
    x = _input((2, 3, 9, 10), np.float32, seed=4)
    got = max_pool2d(jnp.asarray(x), 3, 2, 1)
    assert not isinstance(got, np.ndarray) and got.shape == (2, 3, 5, 5)
    np.testing.assert_array_equal(np.asarray(got), F.max_pool2d(torch.from_numpy(x), 3, 2, 1).numpy())


CUDA_DTYPES = [torch.float16, torch.bfloat16, torch.float32, torch.float64]


@pytest.mark.needs_cuda
@pytest.mark.parametrize("dtype", CUDA_DTYPES)
@pytest.mark.parametrize("cfg", MAX_CONFIGS[:12], ids=[str(i) for i in range(12)])
def test_cuda_matches_torch_cuda(cfg, dtype):
    n, c, hw, k, s, p, d, ceil = cfg
    x = torch.from_numpy(_input((n, c, *hw), np.float32, seed=1, nan=0.02)).to("cuda", dtype)
    got, idx = max_pool2d(x, k, s, p, d, ceil_mode=ceil, return_indices=True)
    want, want_idx = F.max_pool2d(x, k, s, p, d, ceil_mode=ceil, return_indices=True)
    assert got.device == x.device and got.dtype == dtype
    torch.testing.assert_close(got, want, rtol=0, atol=0, equal_nan=True)
    torch.testing.assert_close(idx, want_idx, rtol=0, atol=0)
    # the CPU kernels on the same values (float32 / float64): same maxima and indices
    if dtype in (torch.float32, torch.float64):
        cpu, cpu_idx = max_pool2d(x.cpu(), k, s, p, d, ceil_mode=ceil, return_indices=True)
        torch.testing.assert_close(got.cpu(), cpu, rtol=0, atol=0, equal_nan=True)
        torch.testing.assert_close(idx.cpu(), cpu_idx, rtol=0, atol=0)
    tol = dict(rtol=1e-2, atol=1e-2) if dtype in (torch.float16, torch.bfloat16) else {}
    got = avg_pool2d(x, k, s, p, ceil_mode=ceil, count_include_pad=False)
    torch.testing.assert_close(got, F.avg_pool2d(x, k, s, p, ceil_mode=ceil, count_include_pad=False),
                               equal_nan=True, **tol)
    got, idx = adaptive_max_pool2d(x, (3, 2), return_indices=True)
    want, want_idx = F.adaptive_max_pool2d(x, (3, 2), return_indices=True)
    torch.testing.assert_close(got, want, rtol=0, atol=0, equal_nan=True)
    torch.testing.assert_close(idx, want_idx, rtol=0, atol=0)
    torch.testing.assert_close(adaptive_avg_pool2d(x, (3, 2)), F.adaptive_avg_pool2d(x, (3, 2)),
                               equal_nan=True, **tol)


def test_docstring_examples():
    import doctest

    import foveal.nn

    result = doctest.testmod(foveal.nn)
    assert result.attempted >= 4 and result.failed == 0


# Shapes for the CUDA grid (32 output columns x 8 output rows per block, planes on grid z, rows
# and planes grid-strided past 65535): ragged column / row blocks, the ResNet stem, batch 1, more
# planes than grid z holds, more row blocks than grid y holds.
CUDA_GRID_CASES = [
    ((2, 3, 112, 111), 3, 2, 1, 1, False),  # ResNet stem, odd width: ragged last column block
    ((1, 5, 70, 67), 2, 2, 0, 1, True),
    ((1, 4, 33, 65), (3, 2), (1, 3), (1, 0), (2, 1), True),
    ((1, 70000, 2, 3), 2, 1, 0, 1, False),  # planes > 65535: grid z strides
    ((1, 1, 1048590, 3), (2, 3), (2, 1), (0, 1), 1, False),  # 524295 output rows: grid y strides
    # the specialised 2x2 and 3x3 windows: dilation, padding, ceil_mode windows past the edge
    ((2, 3, 20, 23), 3, 2, 1, 2, True),
    ((1, 2, 9, 10), 2, 1, 1, 1, True),
    ((1, 2, 7, 7), 3, 3, 1, 1, True),
    ((3, 2, 5, 6), 3, 1, 1, 1, False),
]


@pytest.mark.needs_cuda
@pytest.mark.parametrize("dtype", CUDA_DTYPES)
@pytest.mark.parametrize("case", CUDA_GRID_CASES, ids=[str(i) for i in range(len(CUDA_GRID_CASES))])
def test_cuda_grid_edges_match_torch_cuda(case, dtype):
    shape, k, s, p, d, ceil = case
    x = torch.from_numpy(_input(shape, np.float32, seed=2, nan=0.01)).to("cuda", dtype)
    for with_idx in (False, True):  # both max kernels: with and without the index bookkeeping
        got = max_pool2d(x, k, s, p, d, ceil_mode=ceil, return_indices=with_idx)
        want = F.max_pool2d(x, k, s, p, d, ceil_mode=ceil, return_indices=with_idx)
        torch.testing.assert_close(got, want, rtol=0, atol=0, equal_nan=True)
    tol = dict(rtol=1e-2, atol=1e-2) if dtype in (torch.float16, torch.bfloat16) else {}
    for cip, div in ((True, None), (False, None), (True, 3)):
        got = avg_pool2d(x, k, s, p, ceil_mode=ceil, count_include_pad=cip, divisor_override=div)
        want = F.avg_pool2d(x, k, s, p, ceil_mode=ceil, count_include_pad=cip, divisor_override=div)
        torch.testing.assert_close(got, want, equal_nan=True, **tol)
    if shape[-2] < 1000:  # adaptive: torch's CUDA kernel is slow on the tall case
        out = (max(1, shape[-2] // 3), max(1, shape[-1] // 2))
        got, idx = adaptive_max_pool2d(x, out, return_indices=True)
        want, want_idx = F.adaptive_max_pool2d(x, out, return_indices=True)
        torch.testing.assert_close(got, want, rtol=0, atol=0, equal_nan=True)
        torch.testing.assert_close(idx, want_idx, rtol=0, atol=0)
        torch.testing.assert_close(adaptive_avg_pool2d(x, out), F.adaptive_avg_pool2d(x, out), equal_nan=True, **tol)


@pytest.mark.needs_cuda
@pytest.mark.parametrize("dtype", CUDA_DTYPES)
@pytest.mark.parametrize("k", [2, 3, (3, 2)])
def test_cuda_max_pool_ties_and_infinities_match_torch_cuda(k, dtype):
    # ties: the first maximum in row-major order; all -inf windows: the first tap inside the input
    x = torch.zeros((2, 3, 11, 9), dtype=dtype, device="cuda")
    x[0] = -torch.inf
    x[1, :, ::2, 1::3] = 1.0
    for s, p, d, ceil in ((1, 1, 1, False), (2, 1, 1, True), (2, 1, 2, True), (3, 0, 1, True)):
        got, idx = max_pool2d(x, k, s, p, d, ceil_mode=ceil, return_indices=True)
        want, want_idx = F.max_pool2d(x, k, s, p, d, ceil_mode=ceil, return_indices=True)
        torch.testing.assert_close(got, want, rtol=0, atol=0)
        torch.testing.assert_close(idx, want_idx, rtol=0, atol=0)
