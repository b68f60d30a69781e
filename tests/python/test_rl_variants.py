# SPDX-License-Identifier: Apache-2.0
"""Richardson-Lucy variants beside the scikit-image-compatible richardson_lucy: Biggs-Andrews
acceleration, TV regularisation (Dey et al.), blind RL. Each against its float64 NumPy reference
(tests/reference/rl_ref.py), then the claims on synthetic blur of bundled images (fixed seeds,
thresholds measured with margins), properties and errors."""
from __future__ import annotations

import numpy as np
import pytest

import foveal
from foveal.restoration import blind_richardson_lucy, gaussian_psf, motion_psf, richardson_lucy
from reference import rl_ref

skimage = pytest.importorskip("skimage")
from skimage import color, data  # noqa: E402
from skimage.metrics import peak_signal_noise_ratio  # noqa: E402


def _psnr(truth, x):
    return peak_signal_noise_ratio(truth, np.clip(x, 0, 1), data_range=1)


def _camera():
    return skimage.img_as_float(data.camera())[::4, ::4]  # 128 x 128, keeps the fine detail


def _astronaut():
    return color.rgb2gray(data.astronaut())[::4, ::4]


def _rel_err(k, k_true):
    return float(np.linalg.norm(k - k_true) / np.linalg.norm(k_true))


# -- against the float64 references ----------------------------------------------------------------

CASES = [((24, 30), (5, 5)), ((40,), (7,)), ((8, 10, 12), (3, 5, 3)), ((20, 22), (4, 6))]
VARIANTS = [("biggs", 0.0), (None, 0.02), ("biggs", 0.01)]


@pytest.mark.parametrize("shape,pshape", CASES, ids=lambda v: "x".join(map(str, v)))
@pytest.mark.parametrize("mode", ["constant", "reflect", "wrap"])
@pytest.mark.parametrize("acceleration,regularization", VARIANTS)
def test_variant_matches_reference_float64(shape, pshape, mode, acceleration, regularization):
    rng = np.random.default_rng(3)
    img, psf = rng.random(shape), rng.random(pshape)
    lam = min(regularization, 0.9 / (2 * len(shape)))
    got = richardson_lucy(img, psf, 12, clip=False, mode=mode, acceleration=acceleration, regularization=lam)
    ref = rl_ref.richardson_lucy_variant(img, psf, 12, clip=False, mode=mode, acceleration=acceleration,
                                         regularization=lam)
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, ref, rtol=1e-10, atol=1e-12 * np.abs(ref).max())


@pytest.mark.parametrize("acceleration,regularization", VARIANTS)
def test_variant_methods_agree(acceleration, regularization):
    # A rank-1 psf runs separably under 'auto' (and 'separable'), the direct sum under 'direct'.
    rng = np.random.default_rng(16)
    img, psf = rng.random((6, 21, 19)), gaussian_psf((3, 7, 5), 1.2)
    out = {m: richardson_lucy(img, psf, 10, clip=False, mode="reflect", acceleration=acceleration,
                              regularization=regularization, method=m) for m in ("auto", "direct", "separable")}
    ref = rl_ref.richardson_lucy_variant(img, psf, 10, clip=False, mode="reflect", acceleration=acceleration,
                                         regularization=regularization)
    for m, got in out.items():
        np.testing.assert_allclose(got, ref, rtol=1e-10, atol=1e-13, err_msg=m)
    assert not np.array_equal(out["auto"], out["direct"])  # different paths, equal up to rounding


@pytest.mark.parametrize("acceleration,regularization", VARIANTS)
def test_variant_float32(acceleration, regularization):
    rng = np.random.default_rng(4)
    img, psf = rng.random((33, 29)), gaussian_psf((7, 5), 1.3)
    got = richardson_lucy(img.astype(np.float32), psf.astype(np.float32), 15, acceleration=acceleration,
                          regularization=regularization)
    ref = rl_ref.richardson_lucy_variant(img, psf, 15, acceleration=acceleration, regularization=regularization)
    assert got.dtype == np.float32
    # grad / |grad|_eps changes by ~ulp / eps where |grad| ~ eps = 1e-3: float32 TV is looser
    tol = 1e-5 if regularization == 0 else 3e-3
    np.testing.assert_allclose(got, ref, rtol=tol, atol=tol)


def test_variant_filter_epsilon_and_clip():
    rng = np.random.default_rng(5)
    img, psf = rng.random((20, 20)) * 3, rng.random((3, 3))
    for acc, lam in VARIANTS:
        got = richardson_lucy(img, psf, 6, clip=True, filter_epsilon=0.8, acceleration=acc, regularization=lam)
        ref = rl_ref.richardson_lucy_variant(img, psf, 6, True, 0.8, acceleration=acc, regularization=lam)
        np.testing.assert_allclose(got, ref, rtol=1e-10, atol=1e-12)
        assert got.max() <= 1.0


@pytest.mark.parametrize("acceleration", [None, "biggs"])
@pytest.mark.parametrize("mode", ["constant", "wrap"])
def test_blind_matches_reference(acceleration, mode):
    rng = np.random.default_rng(6)
    img = rng.random((26, 31))
    psf0 = rng.random((5, 3)) + 0.1
    x, k = blind_richardson_lucy(img, psf0, 4, 3, image_iter=3, clip=False, mode=mode, acceleration=acceleration)
    xr, kr = rl_ref.blind_richardson_lucy(img, psf0, 4, 3, 3, clip=False, mode=mode, acceleration=acceleration)
    np.testing.assert_allclose(x, xr, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(k, kr, rtol=1e-10, atol=1e-14)
    x3, k3 = blind_richardson_lucy(rng.random((6, 9, 8)), (3, 3, 3), 3, 2, mode=mode, acceleration=acceleration)
    assert x3.shape == (6, 9, 8) and k3.shape == (3, 3, 3)


def test_blind_float32_and_reflect():
    rng = np.random.default_rng(7)
    img = rng.random((30, 30))
    x, k = blind_richardson_lucy(img.astype(np.float32), (5, 5), 5, 5, mode="reflect")
    xr, kr = rl_ref.blind_richardson_lucy(img, np.ones((5, 5)), 5, 5, mode="reflect")
    assert x.dtype == np.float32 and k.dtype == np.float32
    np.testing.assert_allclose(x, xr, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(k, kr, rtol=1e-4, atol=1e-6)


def test_reference_psf_correlation_is_the_gradient():
    # The oracle of the psf update: d/dk sum(r * conv(x, k)) = corr(r, x), by finite differences.
    rng = np.random.default_rng(8)
    x, r, k = rng.random((12, 14)), rng.random((12, 14)), rng.random((5, 3))
    for mode in ("constant", "reflect", "wrap"):
        corr = rl_ref.psf_correlation(r, x, k.shape, mode)
        for j in [(0, 0), (2, 1), (4, 2), (1, 2)]:
            e = np.zeros_like(k)
            e[j] = 1.0
            fd = np.sum(r * rl_ref.conv_same(x, e, mode))  # linear in k: exact
            assert abs(fd - corr[j]) < 1e-12 * max(1.0, abs(fd))


def test_reference_tv_divergence_is_negative_adjoint():
    # <grad x, u> = -<x, div u>: the divisor's divergence is the adjoint of its gradient.
    rng = np.random.default_rng(9)
    x = rng.random((9, 11))
    lam = 0.1
    div = (1 - rl_ref.tv_divisor(x, lam, eps=1e6)) / lam  # huge eps: u = grad x / eps, div linear
    g = [np.zeros_like(x), np.zeros_like(x)]
    g[0][:-1] = np.diff(x, axis=0)
    g[1][:, :-1] = np.diff(x, axis=1)
    assert abs(np.sum(g[0] ** 2 + g[1] ** 2) / 1e6 + np.sum(x * div)) < 1e-12


# -- claims on bundled images ----------------------------------------------------------------------


@pytest.mark.parametrize("psf_name,first", [("gauss", 17), ("motion", 17)])
def test_acceleration_reaches_plain50_in_at_most_25(psf_name, first):
    # Noise-free periodic blur of camera (128 x 128); mode 'wrap' is the exact model. Plain RL
    # after 50 iterations; the accelerated one reaches that PSNR after 17 iterations (measured,
    # both psfs), asserted with margin at 25.
    cam = _camera()
    psf = gaussian_psf((13, 13), 2.0) if psf_name == "gauss" else motion_psf(15)
    b = rl_ref.conv_same(cam, psf, "wrap")
    target = _psnr(cam, richardson_lucy(b, psf, 50, clip=False, mode="wrap"))
    fast = [_psnr(cam, richardson_lucy(b, psf, n, clip=False, mode="wrap", acceleration="biggs"))
            for n in (first - 1, first, 25)]
    assert fast[2] >= target
    assert fast[1] >= target > fast[0]  # the measured count, exactly
    assert target > _psnr(cam, b) + 0.5


def test_tv_regularization_beats_plain_on_noise():
    # Poisson noise (300 counts at 1.0) on a Gaussian blur of camera: 50 plain iterations amplify
    # the noise (20.7 dB, TV 1751); lambda = 0.01 gives 22.9 dB and TV 761 (measured).
    cam = _camera()
    psf = gaussian_psf((9, 9), 1.5)
    b = np.random.default_rng(0).poisson(rl_ref.conv_same(cam, psf, "wrap") * 300) / 300
    plain = richardson_lucy(b, psf, 50, clip=False, mode="wrap")
    tv = richardson_lucy(b, psf, 50, clip=False, mode="wrap", regularization=0.01)
    assert _psnr(cam, tv) > _psnr(cam, plain) + 1.5
    assert rl_ref.total_variation(tv) < 0.6 * rl_ref.total_variation(plain)
    both = richardson_lucy(b, psf, 30, clip=False, mode="wrap", regularization=0.01, acceleration="biggs")
    assert _psnr(cam, both) > _psnr(cam, plain) + 1.0


@pytest.mark.parametrize(
    "image,psf_name,init,noise,max_err,min_gain",
    [
        # measured: err 0.231, PSNR +0.69 dB over the blurred input
        ("camera", "gauss", "flat", None, 0.30, 0.3),
        # measured: err 0.121, +1.62 dB
        ("camera", "gauss", "gauss", None, 0.18, 1.0),
        # measured: err 0.466, +1.84 dB
        ("camera", "motion", "flat", None, 0.55, 1.2),
        # measured: err 0.098, +2.67 dB / err 0.288, +3.37 dB
        ("astronaut", "gauss", "flat", None, 0.15, 2.0),
        ("astronaut", "motion", "flat", None, 0.38, 2.5),
        # Poisson noise, 3000 counts at 1.0; measured: err 0.370, +0.33 dB / err 0.547, +0.51 dB
        ("camera", "gauss", "flat", 3000, 0.45, 0.15),
        ("camera", "motion", "flat", 3000, 0.62, 0.25),
    ],
)
def test_blind_recovers_psf(image, psf_name, init, noise, max_err, min_gain):
    truth = _camera() if image == "camera" else _astronaut()
    k_true = gaussian_psf((9, 9), 1.5) if psf_name == "gauss" else motion_psf(9)
    b = rl_ref.conv_same(truth, k_true, "wrap")
    if noise:
        b = np.random.default_rng(0).poisson(b * noise) / noise
    start = (9, 9) if init == "flat" else gaussian_psf((9, 9), 2.5)
    x, k = blind_richardson_lucy(b, start, mode="wrap")  # defaults: 50 outer x 20 psf iterations
    k0 = np.full((9, 9), 1 / 81) if init == "flat" else start
    assert abs(k.sum() - 1) < 1e-12 and k.min() >= 0
    err = _rel_err(k, k_true)
    assert err < max_err and err < 0.8 * _rel_err(k0, k_true)
    assert _psnr(truth, x) > _psnr(truth, b) + min_gain


# -- properties ------------------------------------------------------------------------------------


@pytest.mark.parametrize("acceleration", [None, "biggs"])
def test_delta_psf_leaves_image_unchanged(acceleration):
    img = np.random.default_rng(10).random((17, 23)) + 0.05
    delta = np.zeros((3, 5))
    delta[1, 2] = 1.0
    for dt, tol in ((np.float64, 1e-10), (np.float32, 1e-5)):
        out = richardson_lucy(img.astype(dt), delta.astype(dt), 20, clip=False, acceleration=acceleration,
                              method="direct")
        np.testing.assert_allclose(out, img, rtol=tol)


@pytest.mark.parametrize("mode", ["constant", "wrap"])
def test_flux_and_non_negativity(mode):
    # Each RL correction maps any positive point to total flux sum(image) (odd psf of sum 1, the
    # adjoint convolution): the accelerated iterate and blind RL's image keep it; TV does not.
    rng = np.random.default_rng(11)
    img = rng.random((30, 34))
    psf = gaussian_psf((7, 7), 1.5)
    acc = richardson_lucy(img, psf, 25, clip=False, mode=mode, acceleration="biggs")
    assert acc.min() >= 0
    assert abs(acc.sum() - img.sum()) < 1e-8 * img.sum()
    x, k = blind_richardson_lucy(img, (5, 5), 5, 5, clip=False, mode=mode)
    assert x.min() >= 0 and k.min() >= 0
    assert abs(x.sum() - img.sum()) < 1e-8 * img.sum()
    tv = richardson_lucy(img, psf, 25, clip=False, mode=mode, regularization=0.05)
    assert tv.min() >= 0


def test_regularization_zero_is_plain_rl_exactly():
    rng = np.random.default_rng(12)
    img, psf = rng.random((40, 37)).astype(np.float32), gaussian_psf((9, 9), 2.0, np.float32)
    plain = richardson_lucy(img, psf, 20)
    for kwargs in ({"regularization": 0.0}, {"regularization": 0}, {"acceleration": None, "regularization": 0.0}):
        assert np.array_equal(richardson_lucy(img, psf, 20, **kwargs), plain)
    # and a positive lambda does change it
    assert not np.array_equal(richardson_lucy(img, psf, 20, regularization=1e-3), plain)


def test_inputs_not_modified_and_library():
    rng = np.random.default_rng(13)
    img = rng.random((20, 20))
    psf0 = gaussian_psf((5, 5), 1.0)
    img_c, psf_c = img.copy(), psf0.copy()
    x, k = blind_richardson_lucy(img, psf0, 3, 3)
    richardson_lucy(img, psf0, 3, acceleration="biggs", regularization=0.01)
    assert np.array_equal(img, img_c) and np.array_equal(psf0, psf_c)
    assert k is not psf0
    xi, ki = blind_richardson_lucy((img * 100).astype(np.int32), 5, 2, 2)
    assert xi.dtype == np.float64 and ki.shape == (5, 5)
    torch = pytest.importorskip("torch")
    xt, kt = blind_richardson_lucy(torch.from_numpy(img), torch.from_numpy(psf0), 3, 3)
    assert isinstance(xt, torch.Tensor) and isinstance(kt, torch.Tensor)
    np.testing.assert_allclose(xt.numpy(), x, rtol=1e-12)
    np.testing.assert_allclose(kt.numpy(), k, rtol=1e-12)


# -- errors ----------------------------------------------------------------------------------------

IMG = np.random.default_rng(14).random((16, 16))
PSF = gaussian_psf((5, 5), 1.0)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"regularization": -0.01}, "regularization must be a finite number >= 0"),
        ({"regularization": float("nan")}, "regularization must not be NaN"),
        ({"regularization": float("inf")}, "regularization must be a finite number"),
        ({"regularization": 0.25}, r"regularization must be < 1 / \(2 ndim\) = 0.25"),
        ({"acceleration": "fast"}, "acceleration must be None or 'biggs'"),
        ({"acceleration": "biggs", "num_iter": 0}, "num_iter must be >= 1"),
        ({"regularization": 0.01, "method": "separable", "psf": np.eye(5)}, "needs a rank-1 psf"),
        ({"acceleration": "biggs", "method": "fft2"}, "method must be one of"),
        ({"acceleration": "biggs", "filter_epsilon": float("inf")}, "filter_epsilon must be"),
    ],
)
def test_variant_errors(kwargs, match):
    psf = kwargs.pop("psf", PSF)
    with pytest.raises(foveal.FovealValueError, match=match):
        richardson_lucy(IMG, psf, **kwargs)


def test_variant_errors_shapes_and_values():
    with pytest.raises(foveal.FovealValueError, match="psf must be non-empty and no larger than image"):
        richardson_lucy(IMG, np.ones((17, 3)), acceleration="biggs")
    with pytest.raises(foveal.FovealValueError, match="image must hold finite values"):
        richardson_lucy(np.where(IMG > 0.5, np.nan, IMG), PSF, regularization=0.01)
    with pytest.raises(foveal.FovealValueError, match="psf must hold finite values"):
        richardson_lucy(IMG, np.full((3, 3), np.nan), acceleration="biggs")
    with pytest.raises(foveal.FovealValueError, match="psf must have a sum > 0"):
        richardson_lucy(IMG, np.zeros((3, 3)), acceleration="biggs")
    with pytest.raises(foveal.FovealValueError, match=r"regularization must be < 1 / \(2 ndim\)"):
        richardson_lucy(np.ones((4, 4, 4)), np.ones((3, 3, 3)), regularization=0.2)  # 3-D bound 1/6
    with pytest.raises(foveal.FovealTypeError, match="regularization must be a real number"):
        richardson_lucy(IMG, PSF, regularization="0.1")


@pytest.mark.parametrize(
    "args,kwargs,match",
    [
        (((4, 4),), {}, "psf must have an odd size along every axis"),
        ((np.ones((5, 4)),), {}, "psf must have an odd size along every axis"),
        (((17, 3),), {}, "psf must be non-empty and no larger than image"),
        (((5, 5),), {"num_iter": 0}, "num_iter must be >= 1"),
        (((5, 5),), {"psf_iter": 0}, "psf_iter must be >= 1"),
        (((5, 5),), {"image_iter": 0}, "image_iter must be >= 1"),
        (((5, 5),), {"acceleration": "x"}, "acceleration must be None or 'biggs'"),
        (((5, 5),), {"mode": "edge"}, "mode must be one of"),
        ((-np.ones((3, 3)),), {}, "psf must hold finite values >= 0"),
        ((np.full((3, 3), np.nan),), {}, "psf must hold finite values >= 0"),
        ((np.zeros((3, 3)),), {}, "psf must have a sum > 0"),
        ((np.ones(3),), {}, "psf must have as many dimensions as image"),
        (((0, 3),), {}, "psf shape must be positive sizes"),
    ],
)
def test_blind_errors(args, kwargs, match):
    with pytest.raises(foveal.FovealValueError, match=match):
        blind_richardson_lucy(IMG, *args, **kwargs)


def test_blind_errors_image():
    with pytest.raises(foveal.FovealValueError, match="image must hold finite values"):
        blind_richardson_lucy(np.where(IMG > 0.5, np.inf, IMG), (3, 3))
    with pytest.raises(foveal.FovealTypeError, match="psf_iter must be an integer"):
        blind_richardson_lucy(IMG, (3, 3), psf_iter=2.5)


# -- CUDA (skipped without a GPU; these kernels have not run in development) ----------------------


@pytest.mark.needs_cuda
@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-10), (np.float32, 3e-3)])
def test_cuda_matches_cpu(dtype, tol):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(15)
    img, psf = rng.random((37, 41)).astype(dtype), gaussian_psf((7, 5), 1.3, dtype)
    for mode in ("constant", "reflect", "wrap"):
        for acc, lam in VARIANTS + [(None, 0.0)]:
            cpu = richardson_lucy(img, psf, 12, clip=False, mode=mode, acceleration=acc, regularization=lam)
            gpu = richardson_lucy(torch.from_numpy(img).cuda(), torch.from_numpy(psf).cuda(), 12, clip=False,
                                  mode=mode, acceleration=acc, regularization=lam)
            np.testing.assert_allclose(gpu.cpu().numpy(), cpu, rtol=tol, atol=tol)
        x, k = blind_richardson_lucy(img, (5, 5), 4, 3, image_iter=2, mode=mode, acceleration="biggs")
        xg, kg = blind_richardson_lucy(torch.from_numpy(img).cuda(), (5, 5), 4, 3, image_iter=2, mode=mode,
                                       acceleration="biggs")
        assert xg.is_cuda and kg.is_cuda
        np.testing.assert_allclose(xg.cpu().numpy(), x, rtol=tol, atol=tol)
        np.testing.assert_allclose(kg.cpu().numpy(), k, rtol=tol, atol=tol)
        x3, k3 = blind_richardson_lucy(img[:8, :9, None].repeat(6, 2), (3, 3, 3), 3, 2, mode=mode)
        xg3, kg3 = blind_richardson_lucy(torch.from_numpy(img[:8, :9, None].repeat(6, 2)).cuda(), (3, 3, 3), 3, 2,
                                         mode=mode)
        np.testing.assert_allclose(kg3.cpu().numpy(), k3, rtol=tol, atol=tol)
