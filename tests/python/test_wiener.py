# SPDX-License-Identifier: Apache-2.0
"""foveal.restoration.wiener / unsupervised_wiener against scikit-image (the oracle): camera crops
and random inputs, 1-D to 3-D (wiener), is_real both ways, psf / reg as impulse responses and as
transfer functions in skimage's uft layouts, skimage's dtype rules, seeded Gibbs sampling (same
draws: same output and chains), errors."""
from __future__ import annotations

import numpy as np
import pytest

from foveal import FovealTypeError, FovealValueError
from foveal.restoration import unsupervised_wiener, wiener

skimage = pytest.importorskip("skimage")
from scipy.signal import convolve  # noqa: E402
from skimage import data  # noqa: E402
from skimage.restoration import uft  # noqa: E402
from skimage.restoration import unsupervised_wiener as sk_unsup  # noqa: E402
from skimage.restoration import wiener as sk_wiener  # noqa: E402

# float64: both run the same formulas on different FFTs (rounding only). float32: single-precision
# transforms of different algorithms differ by a few ulps, amplified by the deconvolution.
TOL = {np.float64: 1e-10, np.float32: 2e-5, np.uint8: 1e-10, np.float16: 2e-5}


def _camera(dtype=np.float64, noise=0.01, seed=0):
    cam = skimage.img_as_float(data.camera())[100:228, 150:290]
    psf = np.ones((5, 5)) / 25
    b = convolve(cam, psf, mode="same")
    b = b + noise * np.random.default_rng(seed).standard_normal(b.shape)
    return b.astype(dtype), psf


def _close(a, b, tol):
    assert a.dtype == b.dtype and a.shape == b.shape
    scale = max(np.abs(b).max(), 1.0)
    err = np.abs(a - b).max() / scale
    assert err < tol, err


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("is_real", [True, False])
@pytest.mark.parametrize("clip", [True, False])
def test_wiener_camera(dtype, is_real, clip):
    y, psf = _camera(dtype)
    for balance in (0.001, 0.1, 5):
        _close(wiener(y, psf, balance, is_real=is_real, clip=clip),
               sk_wiener(y, psf, balance, is_real=is_real, clip=clip), TOL[dtype])


@pytest.mark.parametrize("shape,kshape", [((64,), (7,)), ((31, 40), (4, 6)), ((17, 13), (17, 13)),
                                          ((10, 12, 14), (3, 4, 5)), ((9, 8, 7), (1, 1, 7)), ((3, 6), (1, 3))])
@pytest.mark.parametrize("is_real", [True, False])
def test_wiener_random_nd(shape, kshape, is_real):
    rng = np.random.default_rng(len(shape) * 10 + kshape[-1])
    y = rng.random(shape)
    psf = rng.random(kshape)
    _close(wiener(y, psf, 0.05, is_real=is_real, clip=False), sk_wiener(y, psf, 0.05, is_real=is_real, clip=False),
           1e-10)


@pytest.mark.parametrize("dtype", [np.uint8, np.float16, np.int32, np.bool_])
def test_wiener_dtype_rules(dtype):
    y, psf = _camera()
    x = (np.clip(y, 0, 1) * 200).astype(dtype) if dtype != np.bool_ else y > 0.5
    a = wiener(x, psf, 0.1, clip=False)
    b = sk_wiener(x, psf, 0.1, clip=False)
    assert a.dtype == b.dtype == (np.float32 if dtype == np.float16 else np.float64)
    _close(a, b, 2e-5 if dtype == np.float16 else 1e-10)  # integers: no rescaling, as skimage


@pytest.mark.parametrize("is_real", [True, False])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_wiener_transfer_function_layouts(is_real, dtype):
    y, psf = _camera(dtype)
    tf = uft.ir2tf(psf, y.shape, is_real=is_real)
    assert tf.shape == ((128, 71) if is_real else (128, 140))
    _close(wiener(y, tf, 0.1, is_real=is_real), sk_wiener(y, tf, 0.1, is_real=is_real), TOL[dtype])
    # the transfer function of the psf gives what the psf gives
    _close(wiener(y, tf, 0.1, is_real=is_real), wiener(y, psf, 0.1, is_real=is_real), TOL[dtype])
    # reg as an impulse response and as a transfer function (complex), a real array of the
    # transfer function's shape taken as a transfer function (skimage's rule)
    reg_ir = np.array([[0, -1, 0], [-1, 4, -1], [0, -1, 0]], dtype=float)
    reg_tf, _ = uft.laplacian(2, y.shape, is_real=is_real)
    for reg in (reg_ir, reg_tf, np.full((3, 3), 1.0)):
        _close(wiener(y, psf, 0.1, reg=reg, is_real=is_real), sk_wiener(y, psf, 0.1, reg=reg, is_real=is_real),
               TOL[dtype])
    real_tf = np.abs(tf)
    _close(wiener(y, real_tf, 0.1, is_real=is_real), sk_wiener(y, real_tf, 0.1, is_real=is_real), TOL[dtype])


def test_wiener_default_laplacian_on_short_axes():
    # skimage's Laplacian does not fit a length-1 axis; foveal's wraps it: along axis 0 the three
    # taps (-1, 2, -1) of a 2-D Laplacian collapse to 0, leaving the 1-D Laplacian along axis 1
    y = np.random.default_rng(4).random((1, 6))
    psf = np.array([[0.25, 0.5, 0.25]])
    _close(wiener(y, psf, 0.1), wiener(y, psf, 0.1, reg=np.array([[-1.0, 2.0, -1.0]])), 1e-14)


def test_wiener_restores_and_keeps_inputs():
    cam = skimage.img_as_float(data.camera())[100:228, 150:278]
    psf = np.ones((5, 5)) / 25
    tf = uft.ir2tf(psf, cam.shape)
    y = np.fft.irfft2(np.fft.rfft2(cam) * tf, cam.shape)  # exact circular blur, no noise
    y_copy, psf_copy = y.copy(), psf.copy()
    out = wiener(y, psf, 1e-6, clip=False)
    assert np.abs(out - cam).mean() < 0.2 * np.abs(y - cam).mean()
    assert np.array_equal(y, y_copy) and np.array_equal(psf, psf_copy)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("is_real", [True, False])
@pytest.mark.parametrize("seed", [0, 7])
def test_unsupervised_wiener_seeded_matches_skimage(dtype, is_real, seed):
    y, psf = _camera(dtype, seed=seed)
    a, ca = unsupervised_wiener(y, psf, is_real=is_real, rng=seed)
    b, cb = sk_unsup(y, psf, is_real=is_real, rng=seed)
    tol = 1e-6 if dtype == np.float64 else 2e-5
    _close(a, b, tol)
    assert sorted(ca) == sorted(cb) == ["noise", "prior"]
    for key in ca:
        assert len(ca[key]) == len(cb[key]) > 2
        assert ca[key][0] == cb[key][0] == 1
        assert np.allclose(ca[key], cb[key], rtol=1e-9 if dtype == np.float64 else 1e-5, atol=0)


def test_unsupervised_wiener_generator_params_callback():
    y, psf = _camera(noise=0.02, seed=3)
    seen_a, seen_b = [], []
    ga, gb = np.random.default_rng(11), np.random.default_rng(11)
    pa = {"threshold": 1e-3, "burnin": 5, "min_num_iter": 8, "max_num_iter": 40, "callback": seen_a.append}
    pb = dict(pa, callback=seen_b.append)
    a, ca = unsupervised_wiener(y, psf, user_params=pa, clip=False, rng=ga)
    b, cb = sk_unsup(y, psf, user_params=pb, clip=False, rng=gb)
    _close(a, b, 1e-6)
    assert len(seen_a) == len(seen_b) == len(ca["noise"]) - 1
    assert np.allclose(seen_a[-1], seen_b[-1], rtol=0, atol=1e-9)
    # both consumed the generator identically
    assert ga.standard_normal() == gb.standard_normal()
    # with a psf transfer function and a reg impulse response
    tf = uft.ir2tf(psf, y.shape)
    reg = np.array([[0, -1, 0], [-1, 4, -1], [0, -1, 0]], dtype=float)
    a, _ = unsupervised_wiener(y, tf, reg=reg, rng=5)
    b, _ = sk_unsup(y, tf, reg=reg, rng=5)
    _close(a, b, 1e-6)


def test_torch_cpu_inputs_are_read():
    torch = pytest.importorskip("torch")
    y, psf = _camera()
    out = wiener(torch.from_numpy(y), torch.from_numpy(psf), 0.1)
    assert isinstance(out, np.ndarray)
    _close(out, sk_wiener(y, psf, 0.1), 1e-10)


def test_errors():
    y, psf = _camera()
    with pytest.raises(FovealTypeError, match="wiener: image must have a real numeric dtype"):
        wiener(y.astype(complex), psf, 0.1)
    with pytest.raises(FovealValueError, match="image must hold finite values"):
        wiener(np.full((8, 8), np.nan), psf, 0.1)
    with pytest.raises(FovealValueError, match="psf as an impulse response must have the image's 2 dimensions"):
        wiener(y, np.ones((3, 3, 3)), 0.1)
    with pytest.raises(FovealValueError, match="psf as an impulse response"):
        wiener(y[:4, :4], np.ones((5, 5)), 0.1)
    with pytest.raises(FovealValueError, match="reg as a transfer function"):
        wiener(y, psf, 0.1, reg=np.ones((4, 4), dtype=complex))
    with pytest.raises(FovealValueError, match="balance must be finite"):
        wiener(y, psf, float("nan"))
    with pytest.raises(FovealTypeError, match="balance must be a real number"):
        wiener(y, psf, "0.1")
    with pytest.raises(FovealValueError, match="psf must hold finite values"):
        wiener(y, np.full((3, 3), np.inf), 0.1)
    with pytest.raises(FovealValueError, match="unsupervised_wiener: image must have 2 dimensions"):
        unsupervised_wiener(np.ones((4, 5, 6)), np.ones((3, 3, 3)))
    with pytest.raises(FovealValueError, match="user_params has unknown keys"):
        unsupervised_wiener(y, psf, user_params={"max_iter": 3})
    with pytest.raises(FovealValueError, match="max_num_iter"):
        unsupervised_wiener(y, psf, user_params={"max_num_iter": 10})
    with pytest.raises(FovealTypeError, match=r"callback'\] must be callable"):
        unsupervised_wiener(y, psf, user_params={"callback": 3})


def test_a_filter_that_divides_by_zero_is_refused():
    # found by tools/fuzz_contract.py: an all-zero psf (e.g. a float psf cast to int), or a zero-sum
    # psf with the default Laplacian reg, made NaN pixels without an error (skimage: NaN and warnings)
    y, psf = _camera()
    for bad in (np.zeros((5, 5)), np.array([[1.0, -1.0]])):
        with pytest.raises(FovealValueError, match="psf and reg are both zero at some frequency"):
            wiener(y, bad, 0.1)
        with pytest.raises(FovealValueError, match="psf and reg are both zero at some frequency"):
            unsupervised_wiener(y, bad)
    with pytest.raises(FovealValueError, match=r"\|H\|\^2 \+ balance \|reg\|\^2 is 0"):
        wiener(y, psf, -1.0, reg=psf)  # |H|^2 - |H|^2
    out = wiener(y, psf, 0.0)  # balance 0 is fine where H has no zeros
    assert np.isfinite(out).all()


def test_extreme_but_finite_parameters():
    # found by tools/fuzz_contract.py: balance 1e300 on a float32 image was inf * 0 = NaN where the
    # Laplacian is 0; a psf of 1e30 overflowed |H|^2 in float32 (NaN / divide warnings)
    y, psf = _camera()
    out = wiener(y.astype(np.float32), psf.astype(np.float32), 1e300)  # only the mean (reg's zero) passes
    np.testing.assert_allclose(out, np.full_like(out, y.mean()), rtol=1e-5)
    with pytest.raises(FovealValueError, match="transfer functions squared fit float32"):
        wiener(y.astype(np.float32), psf * 1e30, 0.1)
    with pytest.raises(FovealValueError, match="transfer functions squared fit float32"):
        unsupervised_wiener(y.astype(np.float32), psf * 1e30)
