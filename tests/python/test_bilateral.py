# SPDX-License-Identifier: Apache-2.0
"""foveal.restoration.denoise_bilateral / bilateral_filter against scikit-image and OpenCV (the
oracles), a float64 NumPy reference of the definition (tests/reference/bilateral_ref.py) and
scipy's Gaussian correlation; properties and errors."""
from __future__ import annotations

import numpy as np
import pytest

import foveal
from foveal.restoration import bilateral_filter, denoise_bilateral
from reference import bilateral_ref as ref

skimage = pytest.importorskip("skimage")
cv2 = pytest.importorskip("cv2")
from scipy import ndimage  # noqa: E402
from skimage import data  # noqa: E402
from skimage.restoration import denoise_bilateral as sk_bilateral  # noqa: E402

MODES = ["constant", "edge", "symmetric", "reflect", "wrap"]
CV_BORDERS = {
    "reflect_101": cv2.BORDER_REFLECT_101,
    "reflect": cv2.BORDER_REFLECT,
    "replicate": cv2.BORDER_REPLICATE,
    "constant": cv2.BORDER_CONSTANT,
    "wrap": cv2.BORDER_WRAP,
}


def _rand(shape, seed, offset=0.0, dtype=np.float64):
    return (np.random.default_rng(seed).random(shape) + offset).astype(dtype)


def _noisy(img, sigma, dtype, seed=0):
    x = skimage.img_as_float(img)
    return np.clip(x + np.random.default_rng(seed).normal(0, sigma, x.shape), 0, 1).astype(dtype)


# -- scikit-image ----------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("win_size", [None, 1, 4, 5, 7])
@pytest.mark.parametrize(
    "shape,channel_axis", [((20, 23), None), ((15, 17, 3), -1), ((15, 17, 4), 2), ((3, 15, 17), 0)]
)
def test_matches_skimage_float64(shape, channel_axis, win_size, mode, simd_level):
    # negative values exercise skimage's shift (range table over max - min, border cval + min)
    x = _rand(shape, 1, offset=-0.3)
    kw = dict(win_size=win_size, sigma_color=0.2, sigma_spatial=1.5, mode=mode, cval=0.1, channel_axis=channel_axis)
    want = sk_bilateral(x, **kw)
    got = denoise_bilateral(x, **kw)
    assert got.dtype == want.dtype == np.float64 and got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)


@pytest.mark.parametrize("channel_axis", [None, -1])
def test_matches_skimage_float32(channel_axis, simd_level):
    shape = (37, 70) if channel_axis is None else (30, 41, 3)
    x = _rand(shape, 14, dtype=np.float32)
    kw = dict(win_size=7, sigma_color=0.1, sigma_spatial=2, mode="symmetric", channel_axis=channel_axis)
    np.testing.assert_allclose(denoise_bilateral(x, **kw), sk_bilateral(x, **kw), rtol=0, atol=1e-4)


@pytest.mark.parametrize("mode", MODES)
def test_matches_skimage_window_larger_than_image(mode):
    x = _rand((3, 4), 2)
    kw = dict(win_size=11, sigma_color=0.3, sigma_spatial=3, mode=mode)
    np.testing.assert_allclose(denoise_bilateral(x, **kw), sk_bilateral(x, **kw), rtol=0, atol=1e-12)


@pytest.mark.parametrize(
    "image,kw,atol",
    [
        pytest.param(lambda: data.camera(), {}, 1e-12, id="camera-u8-defaults"),
        pytest.param(lambda: data.camera(), dict(sigma_color=0.1, sigma_spatial=2), 1e-12, id="camera-u8"),
        pytest.param(lambda: data.astronaut(), dict(sigma_color=0.1, channel_axis=-1), 1e-12, id="astronaut-u8"),
        pytest.param(
            lambda: _noisy(data.camera(), 0.05, np.float32),
            dict(win_size=9, sigma_color=0.1, sigma_spatial=3),
            1e-4,
            id="camera-noisy-f32",
        ),
        pytest.param(
            lambda: _noisy(data.astronaut()[::2, ::2], 0.05, np.float32),
            dict(sigma_color=0.08, channel_axis=-1, mode="reflect"),
            1e-4,
            id="astronaut-noisy-f32",
        ),
        pytest.param(lambda: _noisy(data.coins(), 0.05, np.float32), {}, 1e-4, id="coins-f32-defaults"),
        pytest.param(
            lambda: np.random.default_rng(3).integers(-3000, 3000, (40, 50)).astype(np.int16),
            dict(sigma_color=0.05, mode="edge"),
            1e-9,  # skimage filters x - min(raw) = x + ~3000: its float64 rounding is ~1e-12
            id="int16-signed",
        ),
        pytest.param(lambda: np.random.default_rng(4).random((30, 31)) > 0.5, dict(sigma_color=0.5), 1e-12, id="bool"),
        pytest.param(lambda: _rand((40, 41), 5), dict(bins=7), 1e-12, id="few-bins"),
    ],
)
def test_matches_skimage_images(image, kw, atol):
    x = image()
    want = sk_bilateral(x, **kw)
    got = denoise_bilateral(x, **kw)
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=0, atol=atol)


# -- OpenCV ------------------------------------------------------------------------------------------


def _astro(channels, dtype):
    x = data.astronaut()[100:228, 150:300]
    if channels == 1:
        x = np.ascontiguousarray(x[..., 1])
    return (x / 255.0).astype(np.float32) if dtype == np.float32 else x


@pytest.mark.parametrize("border", list(CV_BORDERS))
@pytest.mark.parametrize("d,sigma_space", [(9, 3.0), (5, 2.0), (0, 3.0), (-1, 1.2), (15, 75.0)])
@pytest.mark.parametrize("channels", [1, 3])
def test_matches_opencv_float32(channels, d, sigma_space, border, simd_level):
    x = _astro(channels, np.float32)
    want = cv2.bilateralFilter(x, d, 0.1, sigma_space, borderType=CV_BORDERS[border])
    got = bilateral_filter(x, d, 0.1, sigma_space, border)
    assert got.dtype == np.float32 and got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-5)


@pytest.mark.parametrize("border", list(CV_BORDERS))
@pytest.mark.parametrize("d,sigma_space", [(9, 3.0), (7, 10.0), (0, 3.0), (15, 75.0), (5, 2.0), (3, 1.0)])
@pytest.mark.parametrize("channels", [1, 3])
def test_matches_opencv_uint8(channels, d, sigma_space, border, simd_level):
    x = _astro(channels, np.uint8)
    want = cv2.bilateralFilter(x, d, 40.0, sigma_space, borderType=CV_BORDERS[border]).astype(np.int64)
    got = bilateral_filter(x, d, 40.0, sigma_space, border)
    assert got.dtype == np.uint8 and got.shape == want.shape
    diff = got.astype(np.int64) - want
    assert np.abs(diff).max() <= 1
    radius = max(d // 2 if d > 0 else int(np.rint(1.5 * sigma_space)), 1)
    if channels == 1 and radius <= 2:
        # cv2 5.0's special path for 5- and 13-tap gray windows truncates where cvRound rounds:
        # foveal rounds, so it is never below cv2's value.
        assert diff.min() >= 0
    else:  # equal but for rare float-rounding ties (cv2 fuses multiply-adds)
        assert np.count_nonzero(diff) <= max(2, diff.size // 10000)


@pytest.mark.parametrize("sc,ss", [(75.0, 75.0), (20.0, 5.0)])
def test_matches_opencv_uint8_bundled(sc, ss):
    x = data.astronaut()
    want = cv2.bilateralFilter(x, 9, sc, ss)
    got = bilateral_filter(x, 9, sc, ss)
    diff = got.astype(np.int64) - want
    assert np.abs(diff).max() <= 1 and np.count_nonzero(diff) <= diff.size // 10000
    g = data.camera()
    diff = bilateral_filter(g, 9, sc, ss).astype(np.int64) - cv2.bilateralFilter(g, 9, sc, ss)
    assert np.abs(diff).max() <= 1 and np.count_nonzero(diff) <= diff.size // 10000


@pytest.mark.parametrize("channels", [1, 3])
def test_opencv_exact_mode_close_to_table(channels):
    x = _astro(channels, np.float32)
    want = cv2.bilateralFilter(x, 9, 0.1, 3)
    np.testing.assert_allclose(bilateral_filter(x, 9, 0.1, 3, exact=True), want, rtol=0, atol=1e-5)


def test_opencv_copy_cases():
    x = _astro(3, np.uint8)
    np.testing.assert_array_equal(bilateral_filter(x, 9, 1e-7, 3), cv2.bilateralFilter(x, 9, 1e-7, 3))
    np.testing.assert_array_equal(bilateral_filter(x, 9, 30, 1e-7), x)
    f = np.full((10, 12), 0.25, np.float32)
    f[3, 4] += 1e-8  # max - min < FLT_EPSILON: copied
    np.testing.assert_array_equal(bilateral_filter(f, 5, 0.1, 2), cv2.bilateralFilter(f, 5, 0.1, 2))


# -- exact mode against the float64 definition -------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dtype,atol", [(np.float64, 1e-12), (np.float32, 1e-5)])
@pytest.mark.parametrize("shape,channel_axis", [((31, 45), None), ((30, 40, 3), -1), ((20, 22, 5), -1)])
def test_exact_matches_reference(shape, channel_axis, dtype, atol, mode, simd_level):
    x = _rand(shape, 6, offset=-0.2, dtype=dtype)
    kw = dict(win_size=7, sigma_color=0.3, sigma_spatial=2.0, mode=mode, cval=0.4, channel_axis=channel_axis)
    want = ref.denoise_bilateral(x, exact=True, **kw)
    if shape[-1] > 4 and channel_axis is not None:  # skimage warns about > 4 channels, and filters them
        with pytest.warns(UserWarning, match="holds 5 channels; denoise_bilateral is meant for 2D grayscale and color"):
            got = denoise_bilateral(x, bins=None, **kw)
    else:
        got = denoise_bilateral(x, bins=None, **kw)
    assert got.dtype == dtype
    np.testing.assert_allclose(got, want, rtol=0, atol=atol)


@pytest.mark.parametrize("border", list(CV_BORDERS))
@pytest.mark.parametrize("channels", [1, 3])
def test_opencv_exact_matches_reference(channels, border, simd_level):
    x = _astro(channels, np.float32)
    want = ref.bilateral_filter(x, 9, 0.1, 3.0, border)
    np.testing.assert_allclose(bilateral_filter(x, 9, 0.1, 3.0, border, exact=True), want, rtol=0, atol=1e-5)
    u = _astro(channels, np.uint8)
    want8 = np.rint(ref.bilateral_filter(u, 7, 30.0, 2.0, border))
    diff = bilateral_filter(u, 7, 30.0, 2.0, border, exact=True).astype(np.int64) - want8
    assert np.abs(diff).max() <= 1 and np.count_nonzero(diff) <= 2  # only at rounding ties


def test_exact_camera_reference():
    x = _noisy(data.camera()[:128, :160], 0.05, np.float32)
    want = ref.denoise_bilateral(x, win_size=9, sigma_color=0.1, sigma_spatial=3, exact=True)
    got = denoise_bilateral(x, win_size=9, sigma_color=0.1, sigma_spatial=3, bins=None)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-5)


# -- properties ----------------------------------------------------------------------------------------

SCIPY_MODES = {"constant": "constant", "edge": "nearest", "symmetric": "reflect", "reflect": "mirror", "wrap": "wrap"}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_huge_sigma_color_is_gaussian_blur(mode, dtype):
    x = _rand((33, 41), 7, dtype=dtype)
    k = np.array([[np.exp(-(i * i + j * j) / (2 * 1.5**2)) for j in range(-3, 4)] for i in range(-3, 4)])
    want = ndimage.correlate(x.astype(np.float64), k / k.sum(), mode=SCIPY_MODES[mode], cval=0.5)
    got = denoise_bilateral(x, win_size=7, sigma_color=1e6, sigma_spatial=1.5, bins=None, mode=mode, cval=0.5)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12 if dtype == np.float64 else 1e-6)


def test_huge_sigma_color_opencv_exact_is_disk_gaussian():
    x = _rand((30, 37), 8, dtype=np.float32)
    r = 4
    k = np.array([[np.exp(-(i * i + j * j) / 18.0) if i * i + j * j <= r * r else 0.0 for j in range(-r, r + 1)]
                  for i in range(-r, r + 1)])
    want = ndimage.correlate(x.astype(np.float64), k / k.sum(), mode="mirror")
    np.testing.assert_allclose(bilateral_filter(x, 9, 1e6, 3.0, exact=True), want, rtol=0, atol=1e-6)


@pytest.mark.parametrize("bins", [10000, None])
@pytest.mark.parametrize("mode", MODES)
def test_constant_image_unchanged(mode, bins):
    x = np.full((12, 15), 0.7)
    np.testing.assert_array_equal(denoise_bilateral(x, sigma_color=0.1, mode=mode, bins=bins), x)
    c = np.full((10, 11, 3), 90, np.uint8)
    np.testing.assert_array_equal(bilateral_filter(c, 9, 30, 3), c)
    f = np.full((10, 11), 0.3, np.float32)
    np.testing.assert_array_equal(bilateral_filter(f, 9, 0.1, 3, exact=True), f)


@pytest.mark.parametrize("bins", [10000, None])
@pytest.mark.parametrize("mode", ["edge", "symmetric", "reflect", "wrap"])
def test_output_within_input_range(mode, bins):
    x = _rand((40, 30, 3), 9, offset=-0.5)
    out = denoise_bilateral(x, sigma_color=0.3, sigma_spatial=2, mode=mode, bins=bins, channel_axis=-1)
    assert out.min() >= x.min() - 1e-12 and out.max() <= x.max() + 1e-12
    f = x.astype(np.float32)
    for exact in (False, True):
        o = bilateral_filter(f, 7, 0.2, 2.0, exact=exact)
        assert o.min() >= f.min() - 1e-6 and o.max() <= f.max() + 1e-6


def test_smooths_noise_keeps_edges():
    img = np.zeros((32, 32))
    img[:, 16:] = 1.0
    noisy = img + np.random.default_rng(10).normal(0, 0.05, img.shape)
    out = denoise_bilateral(noisy, sigma_color=0.15, sigma_spatial=2, bins=None, mode="edge")
    assert np.abs(out - img).std() < 0.5 * np.abs(noisy - img).std()
    assert out[:, 17:].min() > 0.8 and out[:, :15].max() < 0.2


def test_inputs_not_modified_and_torch():
    x = _noisy(data.camera()[:64, :64], 0.05, np.float32)
    before = x.copy()
    denoise_bilateral(x, sigma_color=0.1)
    bilateral_filter(x, 5, 0.1, 2)
    np.testing.assert_array_equal(x, before)
    torch = pytest.importorskip("torch")
    t = torch.from_numpy(x.copy())
    got = denoise_bilateral(t, sigma_color=0.1)
    assert isinstance(got, torch.Tensor)
    np.testing.assert_allclose(got.numpy(), denoise_bilateral(x, sigma_color=0.1), rtol=0, atol=0)
    got = bilateral_filter(t, 5, 0.1, 2)
    np.testing.assert_array_equal(got.numpy(), bilateral_filter(x, 5, 0.1, 2))


def test_float16_computes_in_float32():
    x = _rand((20, 21), 11, dtype=np.float16)
    got = denoise_bilateral(x, sigma_color=0.2)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, sk_bilateral(x.astype(np.float32), sigma_color=0.2), rtol=0, atol=1e-4)


# -- CUDA ------------------------------------------------------------------------------------------------


@pytest.mark.needs_cuda
@pytest.mark.parametrize("channels", [1, 3])
def test_cuda_matches_cpu(channels):
    torch = pytest.importorskip("torch")
    f = _astro(channels, np.float32)
    u = _astro(channels, np.uint8)
    g = _rand(f.shape, 15, offset=-0.2)
    ca = None if channels == 1 else -1
    cases = [
        (lambda a: bilateral_filter(a, 9, 0.1, 3.0), f, 1e-5),
        (lambda a: bilateral_filter(a, 9, 0.1, 3.0, "wrap", exact=True), f, 1e-5),
        (lambda a: bilateral_filter(a, 7, 40.0, 3.0, "reflect"), u, 1),
        (lambda a: denoise_bilateral(a, sigma_color=0.1, mode="symmetric", channel_axis=ca), f, 1e-4),
        (lambda a: denoise_bilateral(a, sigma_color=0.2, cval=0.3, channel_axis=ca), g, 1e-12),
        (lambda a: denoise_bilateral(a, win_size=5, sigma_color=0.2, bins=None, mode="edge", channel_axis=ca), g,
         1e-12),
    ]
    for fn, x, atol in cases:
        want = fn(x)
        got = fn(torch.from_numpy(x).cuda())
        assert got.is_cuda
        np.testing.assert_allclose(got.cpu().numpy().astype(np.float64), want.astype(np.float64), rtol=0, atol=atol)


@pytest.mark.needs_cuda
@pytest.mark.parametrize("shape", [(1, 1), (5, 70), (45, 33), (97, 131)])
@pytest.mark.parametrize("channels", [1, 3])
def test_cuda_tiled_matches_cpu_odd_shapes(shape, channels):
    # sizes off the 32 x 32 tile, every border, both dtypes, the three range rules of the tiled
    # kernel (exact, skimage's bins, OpenCV's uint8 table) and windows past its tap limit (the
    # per-pixel kernel)
    torch = pytest.importorskip("torch")
    full = shape + (channels,) if channels == 3 else shape
    f = _rand(full, 21, dtype=np.float32)
    u = (np.random.default_rng(22).random(full) * 255).round().astype(np.uint8)
    ca = None if channels == 1 else -1
    cases = [(lambda a, b=b: bilateral_filter(a, 9, 0.1, 3.0, b, exact=True), f, 1e-5) for b in CV_BORDERS]
    cases += [(lambda a, b=b: bilateral_filter(a, 9, 75.0, 75.0, b), u, 1) for b in CV_BORDERS]
    cases += [
        (lambda a: bilateral_filter(a, 41, 0.1, 7.0, exact=True), f, 1e-5),
        (lambda a: bilateral_filter(a, 41, 40.0, 7.0), u, 1),
        (lambda a: denoise_bilateral(a, win_size=7, sigma_color=0.1, mode="wrap", channel_axis=ca), f, 1e-4),
        (lambda a: denoise_bilateral(a, sigma_color=0.2, cval=0.3, channel_axis=ca), f, 1e-4),
    ]
    for fn, x, atol in cases:
        want = fn(x)
        got = fn(torch.from_numpy(x).cuda())
        assert got.is_cuda and got.shape == want.shape
        np.testing.assert_allclose(got.cpu().numpy().astype(np.float64), want.astype(np.float64), rtol=0, atol=atol)


# -- errors ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kw,exc,match",
    [
        (dict(sigma_color=-0.1), foveal.FovealValueError, "sigma_color"),
        (dict(sigma_color=float("nan")), foveal.FovealValueError, "sigma_color"),
        (dict(sigma_spatial=0), foveal.FovealValueError, "sigma_spatial"),
        (dict(sigma_spatial=-1), foveal.FovealValueError, "sigma_spatial"),
        (dict(sigma_spatial=float("inf")), foveal.FovealValueError, "sigma_spatial"),
        (dict(win_size=0), foveal.FovealValueError, "win_size"),
        (dict(win_size=1027), foveal.FovealValueError, "win_size must be <= 1025"),
        (dict(sigma_spatial=200), foveal.FovealValueError, "sigma_spatial must be <= 170"),
        (dict(win_size=2.5), foveal.FovealTypeError, "win_size"),
        (dict(win_size=4, bins=None), foveal.FovealValueError, "win_size must be odd"),
        (dict(bins=0), foveal.FovealValueError, "bins"),
        (dict(bins=True), foveal.FovealTypeError, "bins"),
        (dict(mode="mirror"), foveal.FovealValueError, "mode"),
        (dict(cval=float("nan")), foveal.FovealValueError, "cval"),
        (dict(channel_axis=-1), foveal.FovealValueError, "channel_axis"),
        (dict(channel_axis=2), foveal.FovealValueError, "channel_axis"),
        (dict(channel_axis=1.0), foveal.FovealTypeError, "channel_axis"),
    ],
)
def test_denoise_bilateral_errors(kw, exc, match):
    x = _rand((10, 12), 12)
    with pytest.raises(exc, match=match):
        denoise_bilateral(x, **kw)


def test_denoise_bilateral_bad_images():
    with pytest.raises(foveal.FovealValueError, match="image must be 2-D"):
        denoise_bilateral(_rand((5, 6, 3), 0))
    with pytest.raises(foveal.FovealValueError, match="image must be 3-D"):
        denoise_bilateral(_rand((5, 6, 3, 2), 0), channel_axis=-1)
    with pytest.raises(foveal.FovealValueError, match="channel_axis"):
        denoise_bilateral(_rand((5, 6, 3), 0), channel_axis=3)
    bad = _rand((8, 9), 0)
    bad[2, 3] = np.nan
    with pytest.raises(foveal.FovealValueError, match="finite"):
        denoise_bilateral(bad)
    with pytest.raises(foveal.FovealTypeError, match="image"):
        denoise_bilateral(np.zeros((4, 4), np.complex64))


@pytest.mark.parametrize(
    "args,kw,exc,match",
    [
        ((9, -1.0, 3.0), {}, foveal.FovealValueError, "sigma_color"),
        ((9, 0.1, -3.0), {}, foveal.FovealValueError, "sigma_space"),
        ((9, float("nan"), 3.0), {}, foveal.FovealValueError, "sigma_color"),
        ((9, 0.1, 0.0), {}, foveal.FovealValueError, "sigma_space"),
        ((9.0, 0.1, 3.0), {}, foveal.FovealTypeError, "d must be an integer"),
        ((True, 0.1, 3.0), {}, foveal.FovealTypeError, "d must be an integer"),
        ((9, 0.1, 3.0), dict(border="mirror"), foveal.FovealValueError, "border"),
        ((9, 0.1, 3.0), dict(exact=1), foveal.FovealTypeError, "exact"),
        ((10000, 0.1, 3.0), {}, foveal.FovealValueError, "d must be <= 1025"),
        ((0, 0.1, 5000.0), {}, foveal.FovealValueError, "sigma_space must be <= 341"),
    ],
)
def test_bilateral_filter_errors(args, kw, exc, match):
    x = _rand((10, 12), 13, dtype=np.float32)
    with pytest.raises(exc, match=match):
        bilateral_filter(x, *args, **kw)


def test_bilateral_filter_bad_images():
    for dt in (np.float64, np.int16, np.uint16):
        with pytest.raises(foveal.FovealTypeError, match="image must be uint8 or float32"):
            bilateral_filter(np.zeros((6, 6), dt), 5, 0.1, 2)
    with pytest.raises(foveal.FovealValueError, match="image must have shape"):
        bilateral_filter(np.zeros((6, 6, 4), np.uint8), 5, 10, 2)
    with pytest.raises(foveal.FovealValueError, match="image must have shape"):
        bilateral_filter(np.zeros((2, 6, 6, 3), np.uint8), 5, 10, 2)
    bad = np.zeros((6, 6), np.float32)
    bad[1, 1] = np.inf
    with pytest.raises(foveal.FovealValueError, match="finite"):
        bilateral_filter(bad, 5, 0.1, 2)


def test_core_validates():
    """The C++ front end refuses what the Python layer would have caught."""
    x = np.zeros((4, 5, 1), np.float32)
    out = np.empty_like(x)
    core = foveal._core
    with pytest.raises(foveal.FovealValueError, match="sigma_color"):
        core.denoise_bilateral(x, out, 5, -1.0, 1.0, 100, 0, 0.0, 0.0, 1.0)
    with pytest.raises(foveal.FovealValueError, match="raw_min"):
        core.denoise_bilateral(x, out, 5, 1.0, 1.0, 100, 0, 0.0, 1.0, 1.0)
    with pytest.raises(foveal.FovealValueError, match="border"):
        core.denoise_bilateral(x, out, 5, 1.0, 1.0, 100, 9, 0.0, 0.0, 1.0)
    with pytest.raises(foveal.FovealValueError, match="out must have shape"):
        core.bilateral_filter(x, np.empty((4, 4, 1), np.float32), 5, 0.1, 1.0, 0.0, 1.0, 3, False)
    with pytest.raises(foveal.FovealTypeError, match="uint8 or float32"):
        core.bilateral_filter(x.astype(np.float64), x.astype(np.float64), 5, 0.1, 1.0, 0.0, 1.0, 3, False)


def test_docstring_examples():
    import foveal.restoration
    from reference import doctests

    result = doctests.run(foveal.restoration)
    assert result.attempted >= 10 and result.failed == 0


def test_many_channels_warn_as_skimage():
    # skimage's test_denoise_bilateral_3d_multichannel: a (50, 50, 50) volume with channel_axis=-1
    img = np.ones((20, 20, 20))
    with pytest.warns(UserWarning, match="grayscale"):
        out = denoise_bilateral(img, channel_axis=-1)
    np.testing.assert_array_equal(out, img)
    with pytest.warns(UserWarning, match="grayscale"):
        sk_bilateral(img, channel_axis=-1)
