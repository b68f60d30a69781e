# SPDX-License-Identifier: Apache-2.0
"""foveal.metrics.structural_similarity against scikit-image (the oracle) and the float64 NumPy
reference (tests/reference/ssim_ref.py): uniform and Gaussian windows, nD, channels, gradient and
full outputs, dtype rules, skimage's errors and warnings."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import foveal
from foveal.metrics import ssim, structural_similarity
from reference import ssim_ref

skimage = pytest.importorskip("skimage")
from skimage import data  # noqa: E402
from skimage.metrics import structural_similarity as sk_ssim  # noqa: E402

TOL = 1e-7


def _pair(shape, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    x = rng.random(shape)
    y = np.clip(x + rng.normal(0, 0.2, shape), 0, 1)
    return x.astype(dtype), y.astype(dtype)


def _close(got, want, tol=TOL):
    if isinstance(want, tuple):
        assert isinstance(got, tuple) and len(got) == len(want)
        for g, w in zip(got, want):
            _close(g, w, tol)
        return
    g, w = np.asarray(got), np.asarray(want)
    assert g.shape == w.shape and g.dtype == w.dtype, (g.shape, w.shape, g.dtype, w.dtype)
    np.testing.assert_allclose(g, w, rtol=0, atol=tol)


@pytest.mark.parametrize("shape", [(7, 7), (20, 33), (64, 48), (9,), (40,), (8, 9, 10)])
@pytest.mark.parametrize("gaussian", [False, True])
def test_matches_reference(shape, gaussian):
    win = 3 if gaussian and min(shape) < 11 else None  # the Gaussian still spans 11: reflect twice
    x, y = _pair(shape, seed=len(shape))
    want = ssim_ref.ssim(x, y, data_range=1.0, win_size=win, gaussian=gaussian, gradient=True)
    m, g, s = structural_similarity(x, y, data_range=1.0, win_size=win, gaussian_weights=gaussian, gradient=True,
                                    full=True)
    assert abs(m - want[0]) < TOL
    np.testing.assert_allclose(s, want[1], rtol=0, atol=TOL)
    np.testing.assert_allclose(g, want[2], rtol=0, atol=1e-10)


@pytest.mark.parametrize(
    "kw",
    [
        {},
        {"win_size": 3},
        {"win_size": 15},
        {"gaussian_weights": True},
        {"gaussian_weights": True, "sigma": 0.6},
        {"gaussian_weights": True, "sigma": 2.5, "win_size": 5},
        {"gaussian_weights": True, "sigma": 0.0, "use_sample_covariance": False},
        {"gaussian_weights": True, "sigma": 0.0, "win_size": 5},
        {"use_sample_covariance": False, "K1": 0.02, "K2": 0.05},
        {"gradient": True, "full": True},
        {"gradient": True, "gaussian_weights": True},
        {"full": True, "win_size": 1, "use_sample_covariance": False},
    ],
)
def test_matches_skimage_random(kw):
    x, y = _pair((67, 130), seed=3)
    _close(structural_similarity(x, y, data_range=1.0, **kw), sk_ssim(x, y, data_range=1.0, **kw))


@pytest.mark.parametrize("name", ["camera", "moon", "coins", "brick"])
def test_matches_skimage_bundled_uint8(name):
    """uint8 images: data_range from the dtype (255), computed unscaled in float64."""
    x = getattr(data, name)()
    y = np.clip(x.astype(np.int16) + np.random.default_rng(1).integers(-30, 31, x.shape), 0, 255).astype(np.uint8)
    _close(structural_similarity(x, y, full=True), sk_ssim(x, y, full=True))
    _close(ssim(x, y, gaussian_weights=True, gradient=True), sk_ssim(x, y, gaussian_weights=True, gradient=True))


@pytest.mark.parametrize("channel_axis", [-1, 0, 2])
def test_channels(channel_axis):
    x = data.astronaut()[::3, ::3]  # (171, 171, 3)
    x = np.moveaxis(x, -1, channel_axis)
    y = np.ascontiguousarray(x[::-1])
    kw = {"channel_axis": channel_axis, "gradient": True, "full": True}
    _close(structural_similarity(x, y, **kw), sk_ssim(x, y, **kw))
    xf, yf = x.astype(np.float64) / 255, y.astype(np.float64) / 255
    _close(structural_similarity(xf, yf, data_range=1, channel_axis=channel_axis),
           sk_ssim(xf, yf, data_range=1, channel_axis=channel_axis))


def test_3d_volume():
    x, y = _pair((24, 30, 19), seed=5)
    kw = {"data_range": 1.0, "gradient": True, "full": True, "gaussian_weights": True}
    _close(structural_similarity(x, y, **kw), sk_ssim(x, y, **kw))


def test_wide_planes_take_the_whole_image_path():
    """A plane of axis 0 too large for the slab buffers (> 128 MB with halos) runs on whole-image maps."""
    x, y = _pair((9, 110_000), seed=9)
    kw = {"data_range": 1.0, "gradient": True, "full": True}
    _close(structural_similarity(x, y, **kw), sk_ssim(x, y, **kw))


def test_float32_and_float16():
    """skimage computes float32 images in float32; foveal in float64: close, same dtypes."""
    x, y = _pair((50, 61), seed=7, dtype=np.float32)
    _close(structural_similarity(x, y, data_range=1.0, full=True), sk_ssim(x, y, data_range=1.0, full=True), 2e-5)
    h, k = x.astype(np.float16), y.astype(np.float16)
    _close(structural_similarity(h, k, data_range=1.0, full=True), sk_ssim(h, k, data_range=1.0, full=True), 2e-5)
    # im2's dtype follows im1's float type
    _close(structural_similarity(x.astype(np.float64), y, data_range=1.0), sk_ssim(x.astype(np.float64), y, data_range=1.0))


def test_identical_and_inverted():
    x, _ = _pair((30, 30))
    assert structural_similarity(x, x, data_range=1.0) == 1.0
    assert structural_similarity(x, 1 - x, data_range=1.0) < 0


def test_integer_dtypes_and_warnings():
    x = (data.camera()[:64, :64].astype(np.uint16) * 200)
    y = x[::-1].copy()
    with pytest.warns(UserWarning, match="data_range = 65535"):
        got = structural_similarity(x, y)
    with pytest.warns(UserWarning, match="data_range = 65535"):
        want = sk_ssim(x, y)
    _close(got, want)
    a = data.camera()[:32, :32]
    with pytest.warns(UserWarning, match="mismatched dtypes"):
        got = structural_similarity(a, a.astype(np.int16))
    with pytest.warns(UserWarning, match="mismatched dtypes"):
        want = sk_ssim(a, a.astype(np.int16))
    _close(got, want)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        structural_similarity(a, a)  # uint8: no warning


def test_does_not_write_inputs():
    x, y = _pair((20, 20))
    x0, y0 = x.copy(), y.copy()
    structural_similarity(x, y, data_range=1.0, gradient=True, full=True)
    assert np.array_equal(x, x0) and np.array_equal(y, y0)


def test_non_contiguous_inputs():
    x, y = _pair((40, 60))
    xs, ys = x[::2, ::-3], y[::2, ::-3]
    _close(structural_similarity(xs, ys, data_range=1.0), sk_ssim(xs, ys, data_range=1.0))


@pytest.mark.parametrize(
    "args, kw, match",
    [
        ((np.zeros((10, 10)), np.zeros((10, 11))), {"data_range": 1}, "same shape"),
        ((np.zeros((6, 10)), np.zeros((6, 10))), {"data_range": 1}, "win_size exceeds image extent"),
        ((np.zeros((10, 10)), np.zeros((10, 10))), {"data_range": 1, "win_size": 4}, "Window size must be odd"),
        ((np.zeros((10, 10)), np.zeros((10, 10))), {}, "must specify the data_range"),
        ((np.zeros((10, 10), np.uint8), np.zeros((10, 10), np.float32)), {}, "must specify the data_range"),
        ((np.zeros((10, 10)), np.zeros((10, 10))), {"data_range": 1, "K1": -0.1}, "K1 must be positive"),
        ((np.zeros((10, 10)), np.zeros((10, 10))), {"data_range": 1, "K2": -0.1}, "K2 must be positive"),
        ((np.zeros((10, 10)), np.zeros((10, 10))), {"data_range": 1, "sigma": -1.0}, "sigma must be positive"),
        ((np.zeros((12, 12)), np.zeros((12, 12))), {"data_range": 1, "gaussian_weights": True, "sigma": 2.0},
         "win_size exceeds"),
        ((np.zeros((10, 10, 3)), np.zeros((10, 10, 3))), {"data_range": 1, "channel_axis": 3}, "channel_axis"),
        ((np.zeros((6, 6, 3)), np.zeros((6, 6, 3))), {"data_range": 1, "channel_axis": -1}, "win_size exceeds"),
    ],
)
def test_errors_like_skimage(args, kw, match):
    with pytest.raises(ValueError, match=match):
        structural_similarity(*args, **kw)
    if match != "same shape":
        with pytest.raises((ValueError, IndexError)):  # IndexError: skimage's for a bad channel_axis
            sk_ssim(*args, **kw)


def test_one_element_window_with_sample_covariance():
    """NP = 1 makes the sample covariance's NP / (NP - 1) a division by zero (skimage raises
    ZeroDivisionError); foveal says why."""
    x = np.zeros((10, 10))
    with pytest.raises(ZeroDivisionError):
        sk_ssim(x, x, data_range=1, win_size=1)
    with pytest.raises(foveal.FovealValueError, match="use_sample_covariance"):
        structural_similarity(x, x, data_range=1, win_size=1)
    with pytest.raises(foveal.FovealValueError, match="use_sample_covariance"):
        structural_similarity(x, x, data_range=1, gaussian_weights=True, sigma=0.1)  # win_size 1


def test_type_errors():
    x = np.zeros((10, 10))
    with pytest.raises(foveal.FovealTypeError, match="im1 must be an array"):
        structural_similarity([[0.0] * 10] * 10, x, data_range=1)
    with pytest.raises(foveal.FovealTypeError, match="unexpected keyword"):
        structural_similarity(x, x, data_range=1, multichannel=True)
    with pytest.raises(foveal.FovealTypeError, match="win_size"):
        structural_similarity(x, x, data_range=1, win_size=7.0)
    with pytest.raises(foveal.FovealTypeError, match="data_range"):
        structural_similarity(x, x, data_range="1")
    with pytest.raises(foveal.FovealTypeError, match="complex|real numeric"):
        structural_similarity(x.astype(complex), x.astype(complex), data_range=1)


def test_core_validates():
    from foveal import _core

    x = np.zeros((8, 8))
    args = (7, False, 1.5, 3.5, 1.0, 0.01, 0.03, True)
    with pytest.raises(foveal.FovealTypeError, match="structural_similarity: im2 has dtype float32"):
        _core.structural_similarity(x, x.astype(np.float32), None, None, *args)
    with pytest.raises(foveal.FovealValueError, match="win_size must be an odd number"):
        _core.structural_similarity(x, x, None, None, 4, *args[1:])
    with pytest.raises(foveal.FovealValueError, match="full must have shape"):
        _core.structural_similarity(x, x, np.zeros((8, 7)), None, *args)
    with pytest.raises(foveal.FovealValueError, match="C-contiguous"):
        _core.structural_similarity(x, x, None, np.zeros((8, 16))[:, ::2], *args)
