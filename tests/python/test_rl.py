# SPDX-License-Identifier: Apache-2.0
"""foveal.restoration.richardson_lucy against scikit-image (the oracle) and a float64 NumPy
reference (tests/reference/rl_ref.py): outputs, dtype rules, boundary modes, convolution paths,
properties, errors."""
from __future__ import annotations

import numpy as np
import pytest

import foveal
from foveal.restoration import richardson_lucy
from foveal.restoration._rl import _rl
from reference import rl_ref

skimage = pytest.importorskip("skimage")
from skimage import data  # noqa: E402
from skimage.restoration import richardson_lucy as sk_rl  # noqa: E402

TOL = 1e-4


def _gauss(size, sigma):
    x = np.arange(size) - (size - 1) / 2
    g = np.exp(-(x**2) / (2 * sigma**2))
    p = np.outer(g, g)
    return p / p.sum()


def _motion(length):
    p = np.zeros((length, length))
    p[length // 2, :] = 1.0 / length
    return p


PSFS = {
    "gauss13": lambda: _gauss(13, 2.0),
    "box5": lambda: np.full((5, 5), 1 / 25),
    "motion15": lambda: _motion(15),
    "rand4x6": lambda: np.random.default_rng(7).random((4, 6)),  # not rank 1, even sizes
}


def _blurred_camera(psf, dtype, size=128, seed=0):
    cam = skimage.img_as_float(data.camera())[::4, ::4][:size, :size]
    from scipy.signal import convolve

    b = convolve(cam, psf / psf.sum(), mode="same")
    rng = np.random.default_rng(seed)
    b = rng.poisson(np.clip(b, 0, None) * 1000) / 1000.0
    return b.astype(dtype)


def _rl_with(x, psf, method="auto", mode="constant", num_iter=10, clip=False, filter_epsilon=None):
    return _rl(x, psf, num_iter, clip, filter_epsilon, mode, method)


# -- against skimage -------------------------------------------------------------------------------


@pytest.mark.parametrize("psf_name", list(PSFS))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("clip,num_iter,filter_epsilon", [(True, 30, None), (False, 10, None), (False, 5, 0.05)])
def test_camera_matches_skimage(psf_name, dtype, clip, num_iter, filter_epsilon):
    psf = PSFS[psf_name]().astype(dtype)
    x = _blurred_camera(psf, dtype)
    want = sk_rl(x, psf, num_iter=num_iter, clip=clip, filter_epsilon=filter_epsilon)
    got = richardson_lucy(x, psf, num_iter=num_iter, clip=clip, filter_epsilon=filter_epsilon)
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=0, atol=TOL)


@pytest.mark.parametrize(
    "shape,psf_shape,dtype",
    [
        ((57,), (6,), np.float64),
        ((31, 45), (3, 7), np.float32),
        ((40, 33), (8, 5), np.float64),
        ((17, 19, 23), (3, 5, 3), np.float64),
        ((16, 20, 18), (4, 3, 6), np.float32),
        ((12, 14, 16), (12, 1, 2), np.float64),  # psf as long as the image on one axis
    ],
)
@pytest.mark.parametrize("clip,filter_epsilon", [(True, None), (False, 0.2), (False, 0)])
def test_random_matches_skimage(shape, psf_shape, dtype, clip, filter_epsilon):
    rng = np.random.default_rng(sum(shape))
    x = rng.random(shape).astype(dtype)
    psf = rng.random(psf_shape).astype(dtype)
    want = sk_rl(x, psf, num_iter=8, clip=clip, filter_epsilon=filter_epsilon)
    got = richardson_lucy(x, psf, num_iter=8, clip=clip, filter_epsilon=filter_epsilon)
    assert got.dtype == want.dtype
    np.testing.assert_allclose(got, want, rtol=0, atol=TOL)


@pytest.mark.parametrize("method", ["direct", "separable"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_3d_separable_psf_matches_skimage(method, dtype):
    rng = np.random.default_rng(3)
    psf = np.einsum("i,j,k->ijk", rng.random(5), rng.random(3), rng.random(4))
    psf = (psf / psf.sum()).astype(dtype)
    vol = rl_ref.conv_same(rng.random((20, 24, 22)), psf).astype(dtype)  # values stay O(1)
    want = sk_rl(vol, psf, num_iter=6, clip=False)
    got, used = _rl_with(vol, psf, method=method, num_iter=6)
    assert used == method
    np.testing.assert_allclose(got, want, rtol=0, atol=TOL)


def test_uint8_image_is_cast_not_rescaled_as_skimage():
    cam = data.camera()[::8, ::8]
    psf = np.full((3, 3), 1 / 9)
    want = sk_rl(cam, psf, num_iter=3, clip=False)  # skimage: astype(float64), values stay 0..255
    got = richardson_lucy(cam, psf, num_iter=3, clip=False)
    assert got.dtype == np.float64 and want.max() > 100
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9)


def test_float16_computes_in_float32_integer_psf_is_cast():
    rng = np.random.default_rng(0)
    x = rng.random((20, 20)).astype(np.float16)
    psf = np.ones((3, 3), dtype=np.int32)
    got = richardson_lucy(x, psf, num_iter=4)
    want = sk_rl(x, psf, num_iter=4)
    assert got.dtype == np.float32 == want.dtype
    np.testing.assert_allclose(got, want, rtol=0, atol=TOL)


# -- boundary modes (against the float64 reference) -------------------------------------------------


@pytest.mark.parametrize("mode", ["constant", "reflect", "wrap"])
@pytest.mark.parametrize(
    "shape,psf",
    [
        ((33, 40), lambda: _gauss(7, 1.5)),
        ((33, 40), lambda: np.random.default_rng(2).random((4, 5))),
        ((30,), lambda: np.random.default_rng(4).random(7)),
        ((9, 10, 11), lambda: np.random.default_rng(3).random((3, 4, 5))),
        ((9, 10, 11), lambda: np.ones((5, 1, 3))),
        ((6, 7), lambda: np.random.default_rng(5).random((6, 7))),  # psf as large as the image
        ((5, 4, 3), lambda: np.random.default_rng(6).random((5, 4, 3))),
    ],
)
def test_modes_match_reference(mode, shape, psf):
    p = psf()
    x = np.random.default_rng(1).random(shape)
    want = rl_ref.richardson_lucy(x, p, num_iter=6, clip=False, filter_epsilon=0.1, mode=mode)
    got = richardson_lucy(x, p, num_iter=6, clip=False, filter_epsilon=0.1, mode=mode)
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)


def test_reference_constant_mode_is_skimage():
    # the oracle chain: the reference's zero-padded mode is skimage's algorithm
    rng = np.random.default_rng(5)
    x, p = rng.random((21, 26)), rng.random((6, 3))
    np.testing.assert_allclose(rl_ref.richardson_lucy(x, p, 5), sk_rl(x, p, 5), rtol=0, atol=1e-12)


def test_modes_differ_at_the_border_only():
    x = np.random.default_rng(1).random((40, 40))
    p = _gauss(5, 1.0)
    a = richardson_lucy(x, p, num_iter=5, clip=False, mode="constant")
    b = richardson_lucy(x, p, num_iter=5, clip=False, mode="wrap")
    assert np.abs(a - b)[:2].max() > 1e-3  # the boundary matters...
    # ...and only reaches num_iter * 2 * radius pixels in
    np.testing.assert_allclose(a[20:21, 20:21], b[20:21, 20:21], rtol=1e-12)


# -- convolution paths ------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["constant", "reflect", "wrap"])
@pytest.mark.parametrize(
    "shape,psf",
    [
        ((64, 70), lambda: _gauss(13, 2.0)),
        ((64, 70), lambda: _motion(15)),
        ((64, 70), lambda: np.full((4, 6), 1 / 24)),
        ((20, 18, 22), lambda: np.full((5, 5, 5), 1 / 125)),
        ((20, 18, 22), lambda: np.einsum("i,j,k->ijk", [1.0, 2, 1], [0.0, 1, 3, 1], [1.0, 0, 2, 0, 1])),
        ((30, 41), lambda: np.outer([1.0, 2, 2, 1], [1.0, 3, 5, 5, 3, 1])),  # mirrored, even
        ((30, 41), lambda: np.outer([1.0, 2, 3], [2.0, 2, 2, 2, 2, 2, 2])),  # 7 equal taps
        ((50,), lambda: np.array([1.0, 2, 3, 2, 1])),
    ],
)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_paths_equal_direct(mode, shape, psf, dtype):
    p = psf().astype(dtype)
    x = np.random.default_rng(0).random(shape).astype(dtype)
    direct, used_d = _rl_with(x, p, "direct", mode)
    sep, used_s = _rl_with(x, p, "separable", mode)
    auto, used_a = _rl_with(x, p, "auto", mode)
    assert used_d == "direct" and used_s == "separable" and used_a in ("direct", "separable")
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(sep, direct, rtol=tol, atol=tol)
    np.testing.assert_allclose(auto, direct, rtol=tol, atol=tol)


def test_auto_choice():
    x = np.random.default_rng(0).random((40, 40))
    assert _rl_with(x, _gauss(13, 2.0))[1] == "separable"  # 26 taps instead of 169
    assert _rl_with(x, np.ones((5, 5)))[1] == "separable"
    assert _rl_with(x, _motion(15))[1] == "direct"  # 15 non-zero taps either way
    assert _rl_with(x, np.random.default_rng(1).random((5, 5)))[1] == "direct"  # rank 5
    near = _gauss(5, 1.0)
    near[0, 0] += 1e-6  # rank 1 up to a perturbation far above rounding: not separable
    assert _rl_with(x, near)[1] == "direct"


def test_separable_refuses_a_high_rank_psf():
    x = np.random.default_rng(0).random((20, 20))
    with pytest.raises(foveal.FovealValueError, match="method 'separable' needs a rank-1 psf"):
        _rl_with(x, np.eye(3), "separable")


# -- properties --------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["constant", "reflect", "wrap"])
def test_non_negative(mode):
    rng = np.random.default_rng(0)
    x = rng.random((40, 50)) ** 4
    x[10:20, 10:20] = 0
    out = richardson_lucy(x, rng.random((5, 4)), num_iter=25, clip=False, mode=mode)
    assert out.min() >= 0


@pytest.mark.parametrize("mode", ["constant", "wrap"])
@pytest.mark.parametrize("shape,psf", [((48, 52), lambda: _gauss(7, 1.5)), ((16, 18, 20), lambda: np.ones((3, 5, 3)))])
@pytest.mark.parametrize("num_iter", [1, 7])
def test_flux_kept_with_a_normalised_odd_psf(mode, shape, psf, num_iter):
    # odd psf: the second convolution is the adjoint of the first (zero padding or periodic), so
    # sum f_{n+1} = sum image * conv / (conv + 1e-12)
    p = psf()
    p = p / p.sum()
    x = np.random.default_rng(0).random(shape) + 0.1
    out = richardson_lucy(x, p, num_iter=num_iter, clip=False, mode=mode)
    np.testing.assert_allclose(out.sum(), x.sum(), rtol=1e-9)


def test_flux_not_kept_with_an_even_psf():
    # for an even psf scipy's 'same' centring makes the second step a shifted adjoint
    x = np.random.default_rng(0).random((30, 30)) + 0.1
    out = richardson_lucy(x, np.ones((4, 4)) / 16, num_iter=5, clip=False)
    assert abs(out.sum() - x.sum()) > 1e-3 * x.sum()


@pytest.mark.parametrize("mode", ["constant", "reflect", "wrap"])
@pytest.mark.parametrize("shape,psf_shape", [((30, 31), (5, 5)), ((30, 31), (1, 1)), ((8, 9, 10), (3, 3, 3)), ((40,), (5,))])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_delta_psf_leaves_the_image(mode, shape, psf_shape, dtype):
    p = np.zeros(psf_shape, dtype)
    p[tuple(k // 2 for k in psf_shape)] = 3.0  # scale of the psf: f_1 = image / 3, then fixed
    x = np.random.default_rng(0).random(shape).astype(dtype)
    out = richardson_lucy(x, p / 3, num_iter=10, clip=False, mode=mode)
    np.testing.assert_allclose(out, x, rtol=1e-5 if dtype == np.float32 else 1e-10, atol=1e-7)


def test_inputs_untouched_and_clip():
    rng = np.random.default_rng(0)
    x = rng.random((30, 30)) * 3
    p = rng.random((3, 3))
    xc, pc = x.copy(), p.copy()
    out = richardson_lucy(x, p, num_iter=5)
    np.testing.assert_array_equal(x, xc)
    np.testing.assert_array_equal(p, pc)
    assert out.max() == 1.0 and richardson_lucy(x, p, num_iter=5, clip=False).max() > 1


def test_torch_in_torch_out():
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(0).random((20, 20)).astype(np.float32)
    p = np.full((3, 3), 1 / 9, np.float32)
    out = richardson_lucy(torch.from_numpy(x), torch.from_numpy(p), num_iter=4)
    assert isinstance(out, torch.Tensor) and out.dtype == torch.float32
    np.testing.assert_allclose(out.numpy(), richardson_lucy(x, p, num_iter=4), rtol=0, atol=0)


# -- errors ------------------------------------------------------------------------------------------


X = np.random.default_rng(0).random((10, 12))
P = np.full((3, 3), 1 / 9)


@pytest.mark.parametrize(
    "kwargs,exc,match",
    [
        (dict(psf=np.ones((11, 3))), foveal.FovealValueError, "psf must be non-empty and no larger than image"),
        (dict(psf=np.ones((3, 13))), foveal.FovealValueError, "psf must be non-empty and no larger than image"),
        (dict(psf=np.zeros((3, 3))), foveal.FovealValueError, "psf must have a sum > 0, got 0"),
        (dict(psf=np.array([[1.0, -2.0]])), foveal.FovealValueError, "psf must have a sum > 0, got -1"),
        (dict(psf=np.array([[1.0, np.nan]])), foveal.FovealValueError, "psf must hold finite values"),
        (dict(psf=np.ones(3)), foveal.FovealValueError, "psf must have as many dimensions as image"),
        (dict(psf=np.ones((0, 3))), foveal.FovealValueError, "psf must be non-empty"),
        (dict(psf=np.ones((3, 3), complex)), foveal.FovealTypeError, "psf must have a real numeric dtype"),
        (dict(image=np.where(X > 0.5, np.nan, X)), foveal.FovealValueError, "image must hold finite values"),
        (dict(image=np.ones((2, 2, 2, 2)), psf=np.ones((1, 1, 1, 1))), foveal.FovealValueError,
         "image must have 1 to 3 dimensions"),
        (dict(image=np.ones((0, 4)), psf=np.ones((1, 1))), foveal.FovealValueError, "image must not be empty"),
        (dict(num_iter=0), foveal.FovealValueError, "num_iter must be >= 1, got 0"),
        (dict(num_iter=-3), foveal.FovealValueError, "num_iter must be >= 1, got -3"),
        (dict(num_iter=2.5), foveal.FovealTypeError, "num_iter must be an integer"),
        (dict(filter_epsilon=float("nan")), foveal.FovealValueError, "filter_epsilon must not be NaN"),
        (dict(filter_epsilon=float("inf")), foveal.FovealValueError, "filter_epsilon must be None or a finite"),
        (dict(filter_epsilon="1"), foveal.FovealTypeError, "filter_epsilon must be a real number"),
        (dict(mode="nearest"), foveal.FovealValueError, "mode must be one of 'constant', 'reflect', 'wrap'"),
        (dict(method="fourier"), foveal.FovealValueError, "method must be one of 'auto', 'direct', 'separable'"),
    ],
)
def test_bad_input(kwargs, exc, match):
    args = dict(image=X, psf=P, num_iter=3)
    args.update(kwargs)
    with pytest.raises(exc, match=match):
        richardson_lucy(**args)


def test_core_checks_shapes_and_dtypes():
    out = np.empty((10, 12))
    with pytest.raises(foveal.FovealTypeError, match="psf"):
        foveal._core.richardson_lucy(X, P.astype(np.float32), out, 3, True, 0.0)
    with pytest.raises(foveal.FovealValueError, match="out must have shape"):
        foveal._core.richardson_lucy(X, P, np.empty((10, 11)), 3, True, 0.0)
    with pytest.raises(foveal.FovealValueError, match="mode must be"):
        foveal._core.richardson_lucy(X, P, out, 3, True, 0.0, 7)


# -- psf generators and noise -----------------------------------------------------------------------

from foveal.restoration import add_noise, box_psf, disk_psf, gaussian_psf, motion_psf  # noqa: E402


def test_gaussian_psf_formula():
    p = gaussian_psf((7, 9), (1.5, 2.0))
    y, x = np.mgrid[0:7, 0:9]
    want = np.exp(-((y - 3) ** 2) / (2 * 1.5**2) - ((x - 4) ** 2) / (2 * 2.0**2))
    np.testing.assert_allclose(p, want / want.sum(), rtol=1e-12)
    assert gaussian_psf(5, 1.0).shape == (5,) and gaussian_psf((3, 4, 5), 1.0, np.float32).dtype == np.float32
    np.testing.assert_allclose(gaussian_psf((3, 4, 5), 1.0).sum(), 1.0, rtol=1e-12)
    q = gaussian_psf((6, 6), 1.0)  # even: centred between pixels
    np.testing.assert_allclose(q, q[::-1, ::-1], rtol=1e-12)
    x = np.random.default_rng(0).random((30, 30))
    assert _rl_with(x, gaussian_psf((9, 9), 1.5))[1] == "separable"


def test_box_psf():
    np.testing.assert_array_equal(box_psf((2, 3)), np.full((2, 3), 1 / 6))
    assert box_psf(4, np.float32).dtype == np.float32


@pytest.mark.parametrize("length", [1, 4, 7, 15, 22.5])
@pytest.mark.parametrize("angle", [0, 30, 45, 90, 135, 200, -10])
def test_motion_psf_centred_and_symmetric(length, angle):
    p = motion_psf(length, angle)
    n = p.shape[0]
    assert p.shape == (n, n) and n % 2 == 1 and p.min() >= 0
    np.testing.assert_allclose(p.sum(), 1.0, rtol=1e-12)
    np.testing.assert_allclose(p, p[::-1, ::-1], atol=1e-12)  # a centred segment
    # second moment along the motion direction = length^2 / 12 (a uniform segment), up to pixels
    y, x = np.mgrid[0:n, 0:n] - n // 2
    t = x * np.cos(np.deg2rad(angle)) - y * np.sin(np.deg2rad(angle))
    assert abs((p * t**2).sum() - length**2 / 12) < 0.35 + 0.05 * length


def test_motion_psf_axis_aligned_is_one_line():
    p = motion_psf(15)
    assert p.shape == (15, 15)
    np.testing.assert_allclose(p[7], 1 / 15, rtol=1e-12)
    off = p.copy()
    off[7] = 0
    assert not off.any()
    np.testing.assert_allclose(motion_psf(15, 90), p.T, atol=1e-15)
    np.testing.assert_allclose(motion_psf(15, 180), p, atol=1e-15)


@pytest.mark.parametrize("radius", [0.5, 1.0, 2.5, 5.0, 7.3])
def test_disk_psf(radius):
    p = disk_psf(radius)
    n = p.shape[0]
    assert n % 2 == 1 and p.shape == (n, n)
    np.testing.assert_allclose(p.sum(), 1.0, rtol=1e-12)
    np.testing.assert_allclose(p, p.T, atol=1e-15)
    np.testing.assert_allclose(p, p[::-1], atol=1e-15)
    # coverage: sum / (weight of a fully covered pixel) is the disk's area (within sampling error)
    if radius >= 1:  # (a 0.5 disk covers no pixel fully)
        area = p.sum() / p[n // 2, n // 2]
        assert abs(area - np.pi * radius**2) < 0.02 * np.pi * radius**2 + 0.05
    assert p[0, 0] < p[n // 2, 0] or n == 1  # anti-aliased corners


def test_add_noise_gaussian():
    x = np.full((200, 200), 0.5, np.float32)
    y = add_noise(x, "gaussian", sigma=0.2, mean=0.1, rng=3)
    assert y.dtype == np.float32 and np.all(x == 0.5)
    assert abs(float(y.mean()) - 0.6) < 0.005 and abs(float(y.std()) - 0.2) < 0.005
    np.testing.assert_array_equal(y, add_noise(x, "gaussian", sigma=0.2, mean=0.1, rng=3))
    assert not np.array_equal(y, add_noise(x, "gaussian", sigma=0.2, mean=0.1, rng=4))
    gen = np.random.default_rng(3)
    np.testing.assert_array_equal(y, add_noise(x, sigma=0.2, mean=0.1, rng=gen))


def test_add_noise_poisson():
    x = np.full((300, 300), 0.25)
    y = add_noise(x, "poisson", peak=100.0, rng=0)
    assert abs(y.mean() - 0.25) < 0.002 and abs(y.var() - 0.25 / 100) < 0.0002
    assert np.allclose(y * 100, np.round(y * 100))  # counts
    with pytest.raises(foveal.FovealValueError, match="image must be >= 0"):
        add_noise(x - 1, "poisson")


def test_add_noise_salt_pepper():
    x = np.full((50, 40), 0.5)
    y = add_noise(x, "salt_pepper", amount=0.1, salt_vs_pepper=0.3, rng=1)
    assert (y == 1).sum() == 60 and (y == 0).sum() == 140 and (y == 0.5).sum() == 1800


@pytest.mark.parametrize(
    "image,kwargs,exc,match",
    [
        (np.zeros((3, 3), np.uint8), {}, foveal.FovealTypeError, "floating-point dtype"),
        ([0.5], {}, foveal.FovealTypeError, "image must be an array"),
        (np.array([np.nan]), {}, foveal.FovealValueError, "finite"),
        (np.zeros(3), dict(kind="speckle"), foveal.FovealValueError, "kind must be one of"),
        (np.zeros(3), dict(sigma=-1), foveal.FovealValueError, "sigma must be finite and >= 0"),
        (np.zeros(3), dict(kind="poisson", peak=0), foveal.FovealValueError, "peak must be a finite number > 0"),
        (np.zeros(3), dict(kind="salt_pepper", amount=2), foveal.FovealValueError, "amount and salt_vs_pepper"),
    ],
)
def test_add_noise_errors(image, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        add_noise(image, **kwargs)


@pytest.mark.parametrize(
    "fn,args,exc,match",
    [
        (gaussian_psf, ((5, 5), 0), foveal.FovealValueError, "sigma must be a finite number > 0"),
        (gaussian_psf, ((5, 5), (1, 2, 3)), foveal.FovealValueError, "one value per axis"),
        (gaussian_psf, ((5, 0), 1.0), foveal.FovealValueError, "shape must be >= 1"),
        (box_psf, (2.5,), foveal.FovealTypeError, "shape must be an integer"),
        (motion_psf, (0.5,), foveal.FovealValueError, "length must be a finite number >= 1"),
        (motion_psf, (5, float("nan")), foveal.FovealValueError, "angle must not be NaN"),
        (disk_psf, (-1,), foveal.FovealValueError, "radius must be a finite number > 0"),
    ],
)
def test_psf_errors(fn, args, exc, match):
    with pytest.raises(exc, match=match):
        fn(*args)


def test_restores_a_blurred_image():
    # the workflow: generate, blur, add noise, deconvolve: PSNR away from the zero-padded border
    # goes up (by 1.4 dB here; skimage gives the same image)
    from foveal.metrics import psnr

    cam = skimage.img_as_float(data.camera())[::2, ::2]
    psf = gaussian_psf((9, 9), 1.5)
    blurred = add_noise(rl_ref.conv_same(cam, psf), "poisson", peak=1000.0, rng=0)
    out = richardson_lucy(blurred, psf, num_iter=30)
    c = slice(12, -12)
    assert psnr(cam[c, c], out[c, c]) > psnr(cam[c, c], blurred[c, c]) + 1.0
    np.testing.assert_allclose(out, sk_rl(blurred, psf, num_iter=30), rtol=0, atol=TOL)
