# SPDX-License-Identifier: Apache-2.0
"""foveal.restoration.denoise_nl_means against scikit-image (the oracle) on bundled images and a
float64 NumPy reference (tests/reference/nlm_ref.py) on random inputs: both modes, 2-D, 2-D with
channels and 3-D; dtype rules, properties and errors."""
from __future__ import annotations

import numpy as np
import pytest

import foveal
from foveal.restoration import denoise_nl_means
from reference import nlm_ref

skimage = pytest.importorskip("skimage")
from skimage import data  # noqa: E402
from skimage.restoration import denoise_nl_means as sk_nlm  # noqa: E402

TOL = 1e-4


def _noisy(img, sigma, seed=0):
    x = skimage.img_as_float(img)
    return x + np.random.default_rng(seed).normal(0, sigma, x.shape)


@pytest.fixture(scope="module")
def camera():
    return _noisy(data.camera()[200:296, 220:316], 0.08)


@pytest.fixture(scope="module")
def astronaut():
    return _noisy(data.astronaut()[100:148, 180:228], 0.08, seed=1)


# -- against skimage -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kw",
    [dict(), dict(h=0.06, sigma=0.08), dict(patch_size=5, patch_distance=6, h=0.15), dict(patch_size=1, patch_distance=2)],
)
def test_fast_matches_skimage_camera(camera, kw):
    want = sk_nlm(camera, fast_mode=True, **kw)
    got = denoise_nl_means(camera, fast_mode=True, **kw)
    assert got.dtype == np.float64 and got.shape == camera.shape
    np.testing.assert_allclose(got, want, atol=TOL, rtol=0)


def test_fast_matches_skimage_float32(camera):
    x = camera.astype(np.float32)
    want = sk_nlm(x, patch_size=5, patch_distance=7, h=0.1)
    got = denoise_nl_means(x, patch_size=5, patch_distance=7, h=0.1)
    assert got.dtype == want.dtype == np.float32
    np.testing.assert_allclose(got, want, atol=TOL, rtol=0)


@pytest.mark.parametrize("kw", [dict(patch_size=5, patch_distance=4, h=0.1), dict(patch_size=3, patch_distance=3, h=0.05, sigma=0.08)])
def test_classic_matches_skimage_camera(camera, kw):
    x = camera[:40, :44]
    want = sk_nlm(x, fast_mode=False, **kw)
    got = denoise_nl_means(x, fast_mode=False, **kw)
    np.testing.assert_allclose(got, want, atol=TOL, rtol=0)


@pytest.mark.parametrize("fast", [True, False])
@pytest.mark.parametrize("axis", [-1, 0])
def test_colour_matches_skimage(astronaut, fast, axis):
    x = np.moveaxis(astronaut[:32, :36] if not fast else astronaut, -1, axis)
    kw = dict(patch_size=5, patch_distance=4 if not fast else 6, h=0.12, sigma=0.04)
    want = sk_nlm(x, fast_mode=fast, channel_axis=axis, **kw)
    got = denoise_nl_means(x, fast_mode=fast, channel_axis=axis, **kw)
    assert got.shape == x.shape and got.flags.c_contiguous
    np.testing.assert_allclose(got, want, atol=TOL, rtol=0)


@pytest.mark.parametrize("fast", [True, False])
def test_3d_matches_skimage(fast):
    rng = np.random.default_rng(3)
    x = np.zeros((12, 13, 14))
    x[3:9, 4:10, 4:11] = 1
    x += 0.2 * rng.standard_normal(x.shape)
    kw = dict(patch_size=3, patch_distance=2, h=0.3, sigma=0.1)
    np.testing.assert_allclose(denoise_nl_means(x, fast_mode=fast, **kw), sk_nlm(x, fast_mode=fast, **kw), atol=TOL, rtol=0)


def test_3d_colour_fast_matches_skimage():
    x = np.random.default_rng(4).random((8, 9, 10, 2))
    kw = dict(patch_size=3, patch_distance=2, h=0.4, channel_axis=-1)
    np.testing.assert_allclose(denoise_nl_means(x, **kw), sk_nlm(x, **kw), atol=TOL, rtol=0)


@pytest.mark.parametrize("preserve_range", [False, True])
def test_integer_images_match_skimage(preserve_range):
    x = data.camera()[100:150, 100:150]
    h = 20.0 if preserve_range else 0.08
    want = sk_nlm(x, patch_size=5, patch_distance=5, h=h, preserve_range=preserve_range)
    got = denoise_nl_means(x, patch_size=5, patch_distance=5, h=h, preserve_range=preserve_range)
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, want, atol=TOL * (255 if preserve_range else 1), rtol=0)


def test_float16_computes_in_float32():
    x = np.random.default_rng(5).random((20, 20)).astype(np.float16)
    got = denoise_nl_means(x, patch_size=3, patch_distance=3, h=0.3)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, sk_nlm(x, patch_size=3, patch_distance=3, h=0.3), atol=TOL, rtol=0)


# -- against the float64 reference -----------------------------------------------------------------


@pytest.mark.parametrize("fast", [True, False])
@pytest.mark.parametrize(
    "shape,s,d,h,sigma",
    [
        ((17, 19, 1), 3, 3, 0.2, 0.0),
        ((15, 16, 2), 5, 2, 0.3, 0.05),
        ((9, 7, 1), 7, 4, 0.5, 0.1),  # search reaches past the reflected border
        ((11, 12, 1), 1, 2, 0.1, 0.0),
        ((6, 7, 8, 1), 3, 1, 0.3, 0.0),
        ((5, 6, 7, 2), 3, 2, 0.4, 0.05),  # 3-D with channels (classic: beyond skimage)
    ],
)
def test_matches_reference_random(fast, shape, s, d, h, sigma):
    x = np.random.default_rng(sum(shape) + s).random(shape)
    want = nlm_ref.nl_means(x, s, d, h, sigma, fast)
    kw = dict(patch_size=s, patch_distance=d, h=h, sigma=sigma, fast_mode=fast)
    got = denoise_nl_means(x, channel_axis=-1, **kw) if shape[-1] > 1 else denoise_nl_means(x[..., 0], **kw)[..., None]
    np.testing.assert_allclose(got, want, atol=1e-10, rtol=0)


def test_reference_fast_exp():
    y = np.linspace(-8, 0, 1001)
    assert np.max(np.abs(nlm_ref.fexp(y) / np.exp(y) - 1)) < 0.065
    assert nlm_ref.fexp(np.array([-701.0]))[0] == 0.0


# -- properties ------------------------------------------------------------------------------------


@pytest.mark.parametrize("fast", [True, False])
def test_tiny_h_returns_input(camera, fast):
    x = camera[:24, :24]
    np.testing.assert_allclose(denoise_nl_means(x, patch_size=3, patch_distance=3, h=1e-6, fast_mode=fast), x, atol=1e-12)


@pytest.mark.parametrize("fast", [True, False])
def test_constant_image_unchanged(fast):
    x = np.full((15, 16), 0.375)
    np.testing.assert_allclose(denoise_nl_means(x, patch_size=5, patch_distance=3, fast_mode=fast), x, atol=1e-15, rtol=0)


@pytest.mark.parametrize("fast", [True, False])
def test_output_within_input_range(fast):
    x = np.random.default_rng(7).normal(size=(20, 21, 3))
    y = denoise_nl_means(x, patch_size=3, patch_distance=3, h=2.0, fast_mode=fast, channel_axis=-1)
    assert y.min() >= x.min() - 1e-12 and y.max() <= x.max() + 1e-12
    assert np.abs(y - x).max() > 0.1  # it did smooth


def test_denoises_and_leaves_input_alone(camera):
    x = camera.copy()
    y = denoise_nl_means(x, h=0.06, sigma=0.08)
    np.testing.assert_array_equal(x, camera)
    clean = skimage.img_as_float(data.camera()[200:296, 220:316])
    assert np.mean((y - clean) ** 2) < 0.5 * np.mean((x - clean) ** 2)


def test_torch_in_torch_out():
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(8).random((16, 17)).astype(np.float32)
    y = denoise_nl_means(torch.from_numpy(x), patch_size=3, patch_distance=2, h=0.3)
    assert isinstance(y, torch.Tensor) and y.dtype == torch.float32
    np.testing.assert_allclose(y.numpy(), denoise_nl_means(x, patch_size=3, patch_distance=2, h=0.3), atol=0)


# -- errors ----------------------------------------------------------------------------------------

_IMG = np.zeros((16, 16))


@pytest.mark.parametrize(
    "image,kw,exc,msg",
    [
        (_IMG, dict(h=-0.1), foveal.FovealValueError, "denoise_nl_means: h must be a finite number > 0, got -0.1"),
        (_IMG, dict(h=0), foveal.FovealValueError, "h must be a finite number > 0"),
        (_IMG, dict(h=float("nan")), foveal.FovealValueError, "h must not be NaN"),
        (_IMG, dict(sigma=-1), foveal.FovealValueError, "sigma must be a finite number >= 0, got -1"),
        (_IMG, dict(sigma=float("inf")), foveal.FovealValueError, "sigma must be a finite number >= 0"),
        (_IMG, dict(patch_size=4), foveal.FovealValueError, "patch_size must be an odd integer >= 1, got 4"),
        (_IMG, dict(patch_size=0), foveal.FovealValueError, "patch_size must be >= 1, got 0"),
        (_IMG, dict(patch_size=-3), foveal.FovealValueError, "patch_size must be >= 1"),
        (_IMG, dict(patch_size=2.0), foveal.FovealTypeError, "patch_size must be an integer"),
        (_IMG, dict(patch_distance=-1), foveal.FovealValueError, "patch_distance must be >= 0, got -1"),
        (_IMG, dict(channel_axis=2), foveal.FovealValueError, "channel_axis must be None or an axis"),
        (_IMG, dict(channel_axis=1.0), foveal.FovealTypeError, "channel_axis must be None or an integer"),
        (_IMG, dict(channel_axis=0), foveal.FovealValueError, "image must have 2 or 3 spatial dimensions"),
        (np.zeros(16), {}, foveal.FovealValueError, "image must have 2 or 3 spatial dimensions"),
        (np.zeros((4, 4, 4, 4, 4)), dict(patch_size=3), foveal.FovealNotImplementedError, "2 or 3 spatial dimensions"),
        (np.zeros((4, 4, 4, 4)), dict(patch_size=3, fast_mode=False), foveal.FovealNotImplementedError, "(4 with fast_mode=True)"),
        (np.zeros((5, 16)), {}, foveal.FovealValueError, "image must be at least patch_size (7) along every spatial axis"),
        (np.full((8, 8), np.nan), dict(patch_size=3), foveal.FovealValueError, "image must hold finite values, got NaN"),
        (np.zeros((8, 8), np.complex64), dict(patch_size=3), foveal.FovealTypeError, "image must have a real numeric dtype"),
    ],
)
def test_bad_input(image, kw, exc, msg):
    with pytest.raises(exc, match=__import__("re").escape(msg)):
        denoise_nl_means(image, **kw)


# -- fast_nl_means (OpenCV's fastNlMeansDenoising) --------------------------------------------------

cv2 = pytest.importorskip("cv2")


def _u8_noisy(seed=0):
    img = data.camera()[150:278, 180:308]
    return np.clip(img + np.random.default_rng(seed).normal(0, 10, img.shape), 0, 255).astype(np.uint8)


@pytest.mark.parametrize("h,t,s", [(10, 7, 21), (3, 7, 21), (20, 5, 11), (7, 3, 9), (15, 1, 5), (40, 9, 3)])
def test_fast_nl_means_equals_opencv(h, t, s):
    from foveal.restoration import fast_nl_means

    x = _u8_noisy()
    got = fast_nl_means(x, h, t, s)
    assert got.dtype == np.uint8 and got.shape == x.shape
    np.testing.assert_array_equal(got, cv2.fastNlMeansDenoising(x, None, h, t, s))


def test_fast_nl_means_random_and_small():
    from foveal.restoration import fast_nl_means

    rng = np.random.default_rng(1)
    for shape in [(37, 41), (5, 6), (1, 9)]:
        x = rng.integers(0, 256, shape, dtype=np.uint8)
        np.testing.assert_array_equal(fast_nl_means(x, 30.0, 7, 21), cv2.fastNlMeansDenoising(x, None, 30.0, 7, 21))


def test_fast_nl_means_default_and_torch():
    from foveal.restoration import fast_nl_means

    x = _u8_noisy(2)
    np.testing.assert_array_equal(fast_nl_means(x), cv2.fastNlMeansDenoising(x))
    torch = pytest.importorskip("torch")
    y = fast_nl_means(torch.from_numpy(x), h=10)
    assert isinstance(y, torch.Tensor) and y.dtype == torch.uint8
    np.testing.assert_array_equal(y.numpy(), fast_nl_means(x, h=10))


@pytest.mark.parametrize(
    "image,kw,exc,msg",
    [
        (np.zeros((8, 8), np.uint8), dict(h=-1), foveal.FovealValueError, "fast_nl_means: h must be a finite number > 0, got -1"),
        (np.zeros((8, 8), np.uint8), dict(template_window_size=6), foveal.FovealValueError, "template_window_size must be an odd integer"),
        (np.zeros((8, 8), np.uint8), dict(search_window_size=0), foveal.FovealValueError, "search_window_size must be >= 1"),
        (np.zeros((8, 8), np.uint8), dict(h_color=3), foveal.FovealValueError, "h_color must be None"),
        (np.zeros((8, 8, 3), np.uint16), dict(h_color=3), foveal.FovealValueError, "h_color must be None"),
        (np.zeros((8, 8, 3), np.uint8), dict(h_color=0), foveal.FovealValueError, "h_color must be None or a finite number > 0"),
        (np.zeros((8, 8, 3), np.uint8), dict(channel_order="brg"), foveal.FovealValueError, "channel_order must be 'bgr' or 'rgb'"),
        (np.zeros((8, 8, 4), np.uint8), {}, foveal.FovealValueError, "a uint8 image must be grey (rows, cols) or colour (rows, cols, 3)"),
        (np.zeros((8, 8, 5), np.uint16), {}, foveal.FovealValueError, "a uint16 image must have shape (rows, cols) or (rows, cols, C), C <= 4"),
        (np.zeros((8, 8)), {}, foveal.FovealTypeError, "fast_nl_means: image must be uint8 or uint16, got float64"),
        (np.zeros((8, 8), np.int16), {}, foveal.FovealTypeError, "image must be uint8 or uint16, got int16"),
        (np.zeros((200, 200), np.uint8), dict(template_window_size=183), foveal.FovealValueError, "template_window_size must be at most 181"),
        (np.zeros((140, 140, 3), np.uint8), dict(template_window_size=131), foveal.FovealValueError, "template_window_size must be at most 129"),
    ],
)
def test_fast_nl_means_bad_input(image, kw, exc, msg):
    from foveal.restoration import fast_nl_means

    with pytest.raises(exc, match=__import__("re").escape(msg)):
        fast_nl_means(image, **kw)


def test_unsupported_dims_are_not_implemented_errors():
    # skimage raises NotImplementedError there; foveal's error is that and a ValueError
    for x, kw in ((np.zeros(16), {}), (np.zeros((8, 8, 8, 8)), dict(fast_mode=False)), (np.zeros((4,) * 5), {})):
        with pytest.raises(NotImplementedError):
            denoise_nl_means(x, patch_size=3, **kw)
        with pytest.raises(ValueError):
            denoise_nl_means(x, patch_size=3, **kw)


# -- fast_nl_means, colour (cv2.fastNlMeansDenoisingColored) and uint16 (NORM_L1) ------------------


def _bgr_noisy(seed=0, shape=(96, 112)):
    img = data.astronaut()[100 : 100 + shape[0], 180 : 180 + shape[1], ::-1]
    noise = np.random.default_rng(seed).normal(0, 12, img.shape)
    return np.ascontiguousarray(np.clip(img + noise, 0, 255).astype(np.uint8))


@pytest.mark.parametrize("h,hc,t,s", [(10, 10, 7, 21), (3, 3, 7, 21), (15, 5, 5, 11), (6, 20, 3, 9), (30, 30, 1, 3)])
def test_fast_nl_means_colour_equals_opencv(h, hc, t, s):
    from foveal.restoration import fast_nl_means

    x = _bgr_noisy()
    got = fast_nl_means(x, h, t, s, h_color=hc)
    assert got.dtype == np.uint8 and got.shape == x.shape
    np.testing.assert_array_equal(got, cv2.fastNlMeansDenoisingColored(x, None, h, hc, t, s))


def test_fast_nl_means_colour_defaults_rgb_and_odd_sizes():
    from foveal.restoration import fast_nl_means

    x = _bgr_noisy(3)
    # h_color=None is OpenCV's default (3), whatever h is
    np.testing.assert_array_equal(fast_nl_means(x, 12), cv2.fastNlMeansDenoisingColored(x, None, 12))
    rgb = np.ascontiguousarray(x[..., ::-1])
    np.testing.assert_array_equal(fast_nl_means(rgb, 12, channel_order="rgb")[..., ::-1], fast_nl_means(x, 12))
    rng = np.random.default_rng(4)
    for shape in [(5, 7, 3), (1, 9, 3), (33, 2, 3)]:
        y = rng.integers(0, 256, shape, dtype=np.uint8)
        np.testing.assert_array_equal(fast_nl_means(y, 20, 5, 9, h_color=15), cv2.fastNlMeansDenoisingColored(y, None, 20, 15, 5, 9))


def test_fast_nl_means_colour_conversions_on_every_colour():
    # a 1x1 search window keeps each pixel: the output is OpenCV's Lab round trip, for all 2^24 colours
    from foveal.restoration import fast_nl_means

    c = np.arange(1 << 24, dtype=np.uint32)
    img = np.stack([c >> 16, (c >> 8) & 255, c & 255], axis=-1).astype(np.uint8).reshape(4096, 4096, 3)
    got = fast_nl_means(img, 1.0, 1, 1, h_color=1.0)
    np.testing.assert_array_equal(got, cv2.fastNlMeansDenoisingColored(img, None, 1.0, 1.0, 1, 1))
    assert (got != img).any()  # the 8-bit Lab round trip is lossy: the test can fail


def _cv_l1(x, h, t, s):
    return cv2.fastNlMeansDenoising(x, h=[float(h)], templateWindowSize=t, searchWindowSize=s, normType=cv2.NORM_L1)


@pytest.mark.parametrize("channels", [None, 1, 2, 3, 4])
@pytest.mark.parametrize("h,t,s", [(3000, 7, 21), (800, 5, 11), (20000, 3, 7)])
def test_fast_nl_means_uint16_equals_opencv_l1(channels, h, t, s):
    from foveal.restoration import fast_nl_means

    rng = np.random.default_rng(5)
    base = (data.camera()[150:230, 180:247].astype(np.float64) * 200.0)[..., None]
    shape = base.shape[:2] if channels is None else base.shape[:2] + (channels,)
    x = np.clip(base.reshape(base.shape[:2] + (1,)) + rng.normal(0, 2500, base.shape[:2] + (channels or 1,)), 0, 65535)
    x = x.reshape(shape).astype(np.uint16)
    got = fast_nl_means(x, h, t, s)
    assert got.dtype == np.uint16 and got.shape == x.shape
    np.testing.assert_array_equal(got, _cv_l1(x, h, t, s).reshape(x.shape))  # cv2 drops a last axis of 1


def test_fast_nl_means_uint16_full_range_no_overflow():
    # full-range values and very large h: the weights are M = 2^31 - 1 and the sums need int64
    from foveal.restoration import fast_nl_means

    x = np.random.default_rng(6).integers(0, 65536, (48, 53), dtype=np.uint16)
    for h in (50.0, 20000.0, 1e7):
        np.testing.assert_array_equal(fast_nl_means(x, h, 7, 21), _cv_l1(x, h, 7, 21))
    flat = np.full((20, 20), 65535, np.uint16)
    np.testing.assert_array_equal(fast_nl_means(flat, 1e7, 7, 21), flat)


# -- 4-D (fast mode), as skimage's _fast_nl_means_denoising_4d --------------------------------------


@pytest.mark.parametrize("s,d,h,sigma", [(3, 2, 0.3, 0.0), (3, 1, 0.2, 0.1), (1, 1, 0.3, 0.0), (5, 1, 0.4, 0.05)])
def test_4d_fast_matches_skimage_and_reference(s, d, h, sigma):
    x = np.random.default_rng(7).random((6, 7, 6, 5))
    got = denoise_nl_means(x, s, d, h, sigma=sigma)
    np.testing.assert_allclose(got, sk_nlm(x, s, d, h, sigma=sigma), rtol=0, atol=TOL)
    np.testing.assert_allclose(got, nlm_ref.nl_means(x[..., None], s, d, h, sigma, True)[..., 0], rtol=0, atol=TOL)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_4d_with_channels_matches_skimage(dtype):
    x = np.random.default_rng(8).random((5, 6, 5, 4, 2)).astype(dtype)
    got = denoise_nl_means(x, 3, 2, 0.3, channel_axis=-1)
    assert got.dtype == dtype
    np.testing.assert_allclose(got, sk_nlm(x, 3, 2, 0.3, channel_axis=-1), rtol=0, atol=TOL)
    moved = denoise_nl_means(np.moveaxis(x, -1, 0), 3, 2, 0.3, channel_axis=0)
    np.testing.assert_allclose(np.moveaxis(moved, 0, -1), got, rtol=0, atol=1e-6)


@pytest.mark.needs_cuda
@pytest.mark.parametrize("kind", ["gray_u8", "colour", "colour_rgb", "u16_c3"])
def test_fast_nl_means_cuda_equals_cpu(kind):
    # the direct CUDA kernel computes the same integers as the CPU's running sums
    from foveal.restoration import fast_nl_means

    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(9)
    if kind == "gray_u8":
        x, kw = _u8_noisy(), dict(h=10)
    elif kind.startswith("colour"):
        x, kw = _bgr_noisy(), dict(h=10, h_color=7, channel_order="rgb" if kind == "colour_rgb" else "bgr")
    else:
        x, kw = rng.integers(0, 65536, (40, 47, 3), dtype=np.uint16), dict(h=20000)
    got = fast_nl_means(torch.from_numpy(x).cuda(), template_window_size=5, search_window_size=11, **kw)
    assert got.is_cuda
    np.testing.assert_array_equal(got.cpu().numpy(), fast_nl_means(x, template_window_size=5, search_window_size=11, **kw))


@pytest.mark.needs_cuda
@pytest.mark.parametrize(
    "shape,dtype,h,t,s",
    [
        ((1100, 512), np.uint8, 10, 7, 21),  # tiled kernel, row blocks of 16
        ((9, 13), np.uint8, 10, 7, 21),  # search window past every edge
        ((45, 70), np.uint16, 2570, 7, 21),  # L1 table staged in shared memory
        ((45, 70), np.uint16, 60000, 5, 11),  # table too long to stage: the per-pixel kernel
        ((33, 65, 2), np.uint16, 20000, 3, 9),  # two channels
        ((20, 47, 4), np.uint16, 20000, 5, 11),  # four channels
    ],
)
def test_fast_nl_means_cuda_tiled_equals_cpu(shape, dtype, h, t, s):
    from foveal.restoration import fast_nl_means

    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(12)
    ramp = np.add.outer(np.arange(shape[0]), np.arange(shape[1])).reshape(shape[:2] + (1,) * (len(shape) - 2))
    vmax = np.iinfo(dtype).max
    x = np.clip(ramp * (vmax / 400) + rng.normal(0, vmax / 20, shape), 0, vmax).round().astype(dtype)
    kw = dict(h=h, template_window_size=t, search_window_size=s)
    got = fast_nl_means(torch.from_numpy(x).cuda(), **kw)
    assert got.is_cuda
    np.testing.assert_array_equal(got.cpu().numpy(), fast_nl_means(x, **kw))


@pytest.mark.needs_cuda
@pytest.mark.parametrize(
    "shape,s,d,dtype",
    [
        ((45, 77), 7, 10, np.float32),  # tiled grey kernel, row blocks of 8: partial tiles, reflect past both edges
        ((45, 77), 7, 10, np.float64),
        ((7, 7), 3, 10, np.float32),  # search window far larger than the image
        ((7, 9), 7, 2, np.float64),  # patch the size of the image
        ((1100, 512), 5, 3, np.float32),  # enough tiles for row blocks of 16
        ((300, 33), 9, 5, np.float32),  # one column past a tile
        ((40, 44, 3), 5, 4, np.float32),  # colour: the generic kernel
        ((9, 10, 11), 3, 2, np.float64),  # 3-D: the generic kernel
    ],
)
def test_denoise_nl_means_fast_cuda_matches_cpu(shape, s, d, dtype):
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(11).random(shape).astype(dtype)
    kw = dict(patch_size=s, patch_distance=d, h=0.15, sigma=0.05, fast_mode=True)
    if len(shape) == 3 and shape[-1] == 3:
        kw["channel_axis"] = -1
    want = denoise_nl_means(x, **kw)
    got = denoise_nl_means(torch.from_numpy(x).cuda(), **kw)
    assert got.is_cuda and got.dtype == torch.from_numpy(want).dtype
    atol = 1e-4 if dtype == np.float32 else 1e-7
    np.testing.assert_allclose(got.cpu().numpy(), want, rtol=0, atol=atol)


@pytest.mark.needs_cuda
def test_denoise_nl_means_fast_cuda_matches_skimage_camera(camera):
    # the benchmark's parameters on a float32 image, against the oracle itself
    torch = pytest.importorskip("torch")
    x = camera.astype(np.float32)
    kw = dict(patch_size=7, patch_distance=10, h=0.08, sigma=0.08)
    want = sk_nlm(x, fast_mode=True, **kw)
    got = denoise_nl_means(torch.from_numpy(x).cuda(), fast_mode=True, **kw).cpu().numpy()
    np.testing.assert_allclose(got, want, rtol=0, atol=TOL)
