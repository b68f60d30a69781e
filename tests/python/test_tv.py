# SPDX-License-Identifier: Apache-2.0
"""foveal.restoration.denoise_tv_chambolle against scikit-image (the oracle) and a float64 NumPy
reference (tests/reference/tv_ref.py): outputs, iteration counts, dtype rules, properties, errors."""
from __future__ import annotations

import numpy as np
import pytest

import foveal
from foveal.restoration import denoise_tv_chambolle
from foveal.restoration._tv import _tv_chambolle
from reference import tv_ref

skimage = pytest.importorskip("skimage")
from skimage import data  # noqa: E402
from skimage.restoration import denoise_tv_chambolle as sk_tv  # noqa: E402

TOL = 1e-4


def _noisy(img, sigma, dtype, seed=0):
    x = skimage.img_as_float(img)
    x = x + np.random.default_rng(seed).normal(0, sigma, x.shape)
    return x.astype(dtype)


def _count(x, weight=0.1, eps=2e-4, max_num_iter=200, channel_axis=None):
    return _tv_chambolle(x, weight, eps, max_num_iter, channel_axis)[1]


# -- against skimage -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "image",
    [
        pytest.param(lambda: data.camera(), id="camera-uint8"),
        pytest.param(lambda: _noisy(data.camera(), 0.1, np.float32), id="camera-noisy-f32"),
        pytest.param(lambda: _noisy(data.coins(), 0.05, np.float64), id="coins-noisy-f64"),
        pytest.param(lambda: np.random.default_rng(1).random((37, 53)).astype(np.float32), id="rand2d-f32"),
        pytest.param(lambda: np.random.default_rng(2).random((17, 23, 29)), id="rand3d-f64"),
        pytest.param(lambda: np.random.default_rng(3).random((9, 11, 7)).astype(np.float32), id="rand3d-f32"),
        pytest.param(lambda: np.random.default_rng(4).random(200), id="rand1d-f64"),
        pytest.param(lambda: np.random.default_rng(5).random((6, 5, 4, 7)), id="rand4d-f64"),
    ],
)
@pytest.mark.parametrize("weight,eps,max_num_iter", [(0.1, 2e-4, 200), (0.3, 1e-5, 60), (0.05, 0.0, 7)])
def test_matches_skimage(image, weight, eps, max_num_iter):
    x = image()
    want = sk_tv(x, weight=weight, eps=eps, max_num_iter=max_num_iter)
    got = denoise_tv_chambolle(x, weight=weight, eps=eps, max_num_iter=max_num_iter)
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=0, atol=TOL)


@pytest.mark.parametrize("channel_axis", [-1, 0, 2])
@pytest.mark.parametrize("dtype", [np.uint8, np.float32, np.float64])
def test_channels_match_skimage(channel_axis, dtype):
    x = data.astronaut()[::4, ::4]  # (128, 128, 3) uint8
    if dtype != np.uint8:
        x = _noisy(x, 0.1, dtype)
    x = np.moveaxis(x, -1, channel_axis)
    want = sk_tv(x, weight=0.15, channel_axis=channel_axis)
    got = denoise_tv_chambolle(x, weight=0.15, channel_axis=channel_axis)
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=0, atol=TOL)
    # each channel is its own problem, with its own stopping rule
    counts = _count(x, 0.15, channel_axis=channel_axis)
    for c in range(3):
        xc = np.take(x, c, axis=channel_axis)
        assert counts[c] == _count(xc, 0.15)[0]
        np.testing.assert_allclose(np.take(got, c, axis=channel_axis), sk_tv(xc, weight=0.15), rtol=0, atol=TOL)


def test_channels_volume():
    x = np.random.default_rng(6).random((8, 9, 10, 2)).astype(np.float32)
    want = sk_tv(x, weight=0.2, channel_axis=3)
    np.testing.assert_allclose(denoise_tv_chambolle(x, weight=0.2, channel_axis=3), want, rtol=0, atol=TOL)


@pytest.mark.parametrize("shape", [(64, 64), (12, 14, 16)])
def test_iteration_count_is_skimages(shape):
    """The stop happens at skimage's iteration: the result equals skimage's with exactly that many
    iterations and no stop rule, and differs from one iteration fewer."""
    x = np.random.default_rng(7).random(shape)
    for weight, eps in [(0.1, 2e-4), (0.2, 1e-3), (0.3, 1e-5)]:
        (k,) = _count(x, weight, eps)
        assert 1 < k < 200
        got = denoise_tv_chambolle(x, weight=weight, eps=eps)
        np.testing.assert_allclose(got, sk_tv(x, weight=weight, eps=eps), rtol=0, atol=TOL)
        np.testing.assert_allclose(got, sk_tv(x, weight=weight, eps=0, max_num_iter=k), rtol=0, atol=1e-12)
        assert np.abs(got - sk_tv(x, weight=weight, eps=0, max_num_iter=k - 1)).max() > 1e-9
        # and the float64 reference's own stop rule agrees
        u, k_ref, _ = tv_ref.tv_chambolle(x, weight, eps)
        assert k == k_ref
        np.testing.assert_allclose(got, u, rtol=0, atol=1e-10)


def test_exact_iteration_counts_with_eps_zero():
    x = _noisy(data.camera()[::4, ::4], 0.08, np.float32)
    for n in (1, 2, 3, 10, 100):
        assert _count(x, 0.1, 0.0, n) == [n]
        np.testing.assert_allclose(
            denoise_tv_chambolle(x, eps=0, max_num_iter=n), sk_tv(x, eps=0, max_num_iter=n), rtol=0, atol=TOL
        )


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_temporal_blocks(dtype):
    """Tall enough for the CPU's temporal blocking (several slabs, blocks of up to 16 iterations):
    every iteration count up to 40 with eps=0, and stops inside and at the end of blocks."""
    x = np.random.default_rng(9).random((300, 160)).astype(dtype)
    for n in range(1, 41):
        got = denoise_tv_chambolle(x, weight=0.1, eps=0, max_num_iter=n)
        np.testing.assert_allclose(got, sk_tv(x, weight=0.1, eps=0, max_num_iter=n), rtol=0, atol=1e-6)
    counts = set()
    for eps in (3e-2, 1e-2, 5e-3, 3e-3, 2e-3, 1e-3, 5e-4, 2e-4):
        (k,) = _count(x, 0.1, eps)
        counts.add(k)
        got = denoise_tv_chambolle(x, weight=0.1, eps=eps)
        np.testing.assert_allclose(got, sk_tv(x, weight=0.1, eps=eps), rtol=0, atol=TOL)
        np.testing.assert_allclose(got, sk_tv(x, weight=0.1, eps=0, max_num_iter=k), rtol=0, atol=1e-6)
        if dtype == np.float64:
            u, k_ref, _ = tv_ref.tv_chambolle(x, 0.1, eps)
            assert k == k_ref
    assert len(counts) >= 5


def test_matches_float64_reference():
    x = np.random.default_rng(8).random((11, 13, 5))
    for n in (1, 2, 5, 20):
        u, k, _ = tv_ref.tv_chambolle(x, 0.2, 0.0, n)
        assert k == n
        np.testing.assert_allclose(denoise_tv_chambolle(x, weight=0.2, eps=0, max_num_iter=n), u, rtol=0, atol=1e-12)


# -- properties ------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(48, 40), (10, 12, 14)])
def test_energy_does_not_increase(shape):
    f = np.random.default_rng(9).random(shape)
    energies = [
        tv_ref.rof_energy(denoise_tv_chambolle(f, weight=0.15, eps=0, max_num_iter=n), f, 0.15) for n in range(1, 40)
    ]
    assert energies[-1] < 0.9 * energies[0]
    assert all(b <= a * (1 + 1e-12) for a, b in zip(energies, energies[1:]))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_constant_image_unchanged(dtype):
    x = np.full((20, 30), 0.37, dtype=dtype)
    out = denoise_tv_chambolle(x, weight=0.5)
    assert out.dtype == dtype
    np.testing.assert_array_equal(out, x)
    v = np.full((5, 6, 7), -2.5, dtype=dtype)
    np.testing.assert_array_equal(denoise_tv_chambolle(v, eps=0, max_num_iter=30), v)


def test_one_iteration_returns_the_image():
    x = np.random.default_rng(10).random((15, 16)).astype(np.float32)
    np.testing.assert_array_equal(denoise_tv_chambolle(x, max_num_iter=1), x)


def test_more_weight_smooths_more():
    x = _noisy(data.camera()[::4, ::4], 0.1, np.float64)
    outs = [denoise_tv_chambolle(x, weight=w) for w in (0.05, 0.1, 0.3)]
    dist = [np.abs(u - x).sum() for u in outs]
    tvs = [tv_ref.total_variation(u) for u in outs]
    assert dist[0] < dist[1] < dist[2]  # further from the input
    assert tvs[0] > tvs[1] > tvs[2]  # less total variation


def test_input_not_modified_and_noncontiguous():
    x = np.random.default_rng(11).random((30, 40)).astype(np.float32)
    keep = x.copy()
    view = x[::2, ::-1]
    out = denoise_tv_chambolle(view)
    np.testing.assert_array_equal(x, keep)
    np.testing.assert_allclose(out, sk_tv(np.ascontiguousarray(view)), rtol=0, atol=TOL)


# -- dtype rules -----------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", ["uint8", "uint16", "int8", "int16", "int32", "bool", "float16", "float32", "float64"])
def test_dtype_rules_match_skimage(dtype):
    rng = np.random.default_rng(12)
    if dtype == "bool":
        x = rng.random((20, 24)) > 0.5
    elif dtype.startswith(("int", "uint")):
        info = np.iinfo(dtype)
        x = rng.integers(info.min, info.max, (20, 24), dtype=dtype, endpoint=True)
        x[0, 0] = info.min  # signed: maps below -1, clipped to -1
    else:
        x = rng.random((20, 24)).astype(dtype)
    want = sk_tv(x)
    got = denoise_tv_chambolle(x)
    assert got.dtype == want.dtype
    np.testing.assert_allclose(got, want, rtol=0, atol=TOL)


def test_restoration_policy_registered():
    from foveal import _arrays

    assert _arrays.POLICIES["restoration"] is foveal.restoration._common.restoration_policy


def test_torch_cpu():
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(13).random((25, 26)).astype(np.float32)
    got = denoise_tv_chambolle(torch.from_numpy(x), weight=0.2)
    assert isinstance(got, torch.Tensor) and got.dtype == torch.float32
    np.testing.assert_allclose(got.numpy(), sk_tv(x, weight=0.2), rtol=0, atol=TOL)
    xc = np.random.default_rng(14).random((3, 20, 21))
    got = denoise_tv_chambolle(torch.from_numpy(xc), channel_axis=0)
    np.testing.assert_allclose(got.numpy(), sk_tv(xc, channel_axis=0), rtol=0, atol=TOL)


def test_torch_int16_rescale():
    torch = pytest.importorskip("torch")
    x = np.array([[-32768, -100, 0], [5, 32767, 7]], dtype=np.int16)
    got = denoise_tv_chambolle(torch.from_numpy(x), weight=0.05)
    assert got.dtype == torch.float64
    np.testing.assert_allclose(got.numpy(), sk_tv(x, weight=0.05), rtol=0, atol=TOL)


def test_jax_cpu():
    jax = pytest.importorskip("jax")
    x = np.random.default_rng(15).random((3, 18, 19)).astype(np.float32)
    got = denoise_tv_chambolle(jax.numpy.asarray(x), weight=0.2, channel_axis=0)
    assert isinstance(got, jax.Array)
    np.testing.assert_allclose(np.asarray(got), sk_tv(x, weight=0.2, channel_axis=0), rtol=0, atol=TOL)


def test_empty_image():
    out = denoise_tv_chambolle(np.zeros((0, 5), np.float32))
    assert out.shape == (0, 5) and out.dtype == np.float32


# -- errors ----------------------------------------------------------------------------------------

X = np.zeros((8, 8), np.float32)


@pytest.mark.parametrize(
    "kwargs,err,match",
    [
        (dict(weight=-0.1), foveal.FovealValueError, "weight must be a finite number > 0, got -0.1"),
        (dict(weight=0), foveal.FovealValueError, "weight must be"),
        (dict(weight=float("nan")), foveal.FovealValueError, "weight must not be NaN, got nan"),
        (dict(weight=float("inf")), foveal.FovealValueError, "weight must be a finite"),
        (dict(weight="a"), foveal.FovealTypeError, "weight must be a real number"),
        (dict(eps=-1e-3), foveal.FovealValueError, "eps must be a finite number >= 0"),
        (dict(eps=float("nan")), foveal.FovealValueError, "eps must not be NaN, got nan"),
        (dict(max_num_iter=0), foveal.FovealValueError, "max_num_iter must be >= 1, got 0"),
        (dict(max_num_iter=-5), foveal.FovealValueError, "max_num_iter must be >= 1"),
        (dict(max_num_iter=2.5), foveal.FovealTypeError, "max_num_iter must be an integer"),
        (dict(max_num_iter=True), foveal.FovealTypeError, "max_num_iter must be an integer"),
        (dict(channel_axis=2), foveal.FovealValueError, "channel_axis must be None or an axis.*got 2"),
        (dict(channel_axis=-3), foveal.FovealValueError, "channel_axis"),
        (dict(channel_axis=1.0), foveal.FovealTypeError, "channel_axis must be None or an integer"),
    ],
)
def test_bad_arguments(kwargs, err, match):
    with pytest.raises(err, match="denoise_tv_chambolle: " + match):
        denoise_tv_chambolle(X, **kwargs)


def test_bad_images():
    op = "denoise_tv_chambolle: "
    bad = X.copy()
    bad[3, 3] = np.nan
    with pytest.raises(foveal.FovealValueError, match=op + "image must hold finite values"):
        denoise_tv_chambolle(bad)
    bad[3, 3] = np.inf
    with pytest.raises(foveal.FovealValueError, match=op + "image must hold finite values"):
        denoise_tv_chambolle(bad)
    with pytest.raises(foveal.FovealTypeError, match=op + "image must be an array"):
        denoise_tv_chambolle([[1.0, 2.0]])
    with pytest.raises(foveal.FovealTypeError, match=op + "image must have a real numeric dtype, got complex64"):
        denoise_tv_chambolle(X.astype(np.complex64))
    with pytest.raises(foveal.FovealValueError, match=op + "image must have at least 1 dimension"):
        denoise_tv_chambolle(np.array(1.0, np.float32))
    with pytest.raises(foveal.FovealValueError, match="channel_axis"):
        denoise_tv_chambolle(np.zeros(5), channel_axis=0)
    with pytest.raises(foveal.FovealValueError, match=op + "image must have 1 to 7 spatial dimensions"):
        denoise_tv_chambolle(np.zeros((2,) * 8, np.float32))


def test_docstring_examples():
    from reference import doctests

    result = doctests.run(foveal.restoration)
    assert result.attempted > 0 and result.failed == 0


@pytest.mark.parametrize("shape", [(1, 50), (50, 1), (7, 1, 9), (1,), (1, 1), (3,), (2,) * 7])
@pytest.mark.parametrize("weight", [1e-6, 0.1, 1e6])
def test_degenerate_shapes_and_extreme_weights(shape, weight):
    x = np.random.default_rng(16).random(shape)
    np.testing.assert_allclose(denoise_tv_chambolle(x, weight=weight), sk_tv(x, weight=weight), rtol=0, atol=1e-10)


def test_longdouble_is_computed_in_float64_as_skimage():
    # skimage's _supported_float_type maps longdouble to float64 (found by skimage's own tests)
    import skimage.restoration

    rng = np.random.default_rng(3)
    img = rng.random((24, 20)).astype(np.longdouble)
    got = foveal.restoration.denoise_tv_chambolle(img, weight=0.1)
    want = skimage.restoration.denoise_tv_chambolle(img, weight=0.1)
    assert got.dtype == want.dtype == np.float64
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-10)


@pytest.mark.parametrize(
    "shape, dtype",
    [((64, 96), np.float32), ((67, 45), np.float32), ((40, 3, 50), np.float32), ((20, 24, 33), np.float32),
     ((300,), np.float32), ((5, 6, 7, 8), np.float32), ((40, 50), np.float64)],
)
@pytest.mark.parametrize("eps", [0.0, 2e-4])
def test_bit_exact_with_skimage(shape, dtype, eps):
    """The wavefront blocks and masked row ends keep skimage's operation order exactly."""
    x = np.random.default_rng(sum(shape)).random(shape).astype(dtype)
    np.testing.assert_array_equal(
        denoise_tv_chambolle(x, weight=0.1, eps=eps, max_num_iter=60), sk_tv(x, weight=0.1, eps=eps, max_num_iter=60)
    )
