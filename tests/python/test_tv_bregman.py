# SPDX-License-Identifier: Apache-2.0
"""foveal.restoration.denoise_tv_bregman against scikit-image (the oracle): outputs, sweep counts,
channels, dtype rules, shapes that exercise the row recurrence and the sweep blocks, errors."""
from __future__ import annotations

import numpy as np
import pytest

import foveal
from foveal.restoration import denoise_tv_bregman
from foveal.restoration._tv import _tv_bregman

skimage = pytest.importorskip("skimage")
from skimage import data  # noqa: E402
from skimage.restoration import denoise_tv_bregman as sk_tv  # noqa: E402

TOL = 1e-4


def _noisy(img, sigma, dtype, seed=0):
    x = skimage.img_as_float(img)
    x = x + np.random.default_rng(seed).normal(0, sigma, x.shape)
    return x.astype(dtype)


def _count(x, weight=5.0, max_num_iter=100, eps=1e-3, isotropic=True, channel_axis=None):
    return _tv_bregman(x, weight, max_num_iter, eps, isotropic, channel_axis)[1]


def _same_stop(x, k, weight, eps, isotropic, got):
    """k sweeps is skimage's stop: skimage with exactly k sweeps gives `got`; with k - 1 the last
    sweep's rms change (> eps, or skimage would have stopped) is missing."""
    np.testing.assert_allclose(got, sk_tv(x, weight=weight, eps=0, max_num_iter=k, isotropic=isotropic), atol=TOL)
    if 1 < k and eps > 0:
        prev = sk_tv(x, weight=weight, eps=0, max_num_iter=k - 1, isotropic=isotropic)
        assert np.sqrt(np.mean((got.astype(np.float64) - prev) ** 2)) > 0.5 * eps


@pytest.mark.parametrize(
    "image",
    [
        pytest.param(lambda: data.camera(), id="camera-uint8"),
        pytest.param(lambda: _noisy(data.camera(), 0.1, np.float32), id="camera-noisy-f32"),
        pytest.param(lambda: _noisy(data.coins(), 0.05, np.float64), id="coins-noisy-f64"),
        pytest.param(lambda: np.random.default_rng(1).random((37, 53)).astype(np.float32), id="rand-f32"),
        pytest.param(lambda: np.random.default_rng(2).random((70, 600)), id="rand-wide-f64"),
        pytest.param(lambda: np.random.default_rng(3).random((300, 9)).astype(np.float32), id="rand-narrow-f32"),
        pytest.param(lambda: _noisy(data.astronaut()[::4, ::4], 0.1, np.float32), id="rgb-joint-f32"),
    ],
)
@pytest.mark.parametrize("isotropic", [True, False])
@pytest.mark.parametrize("weight,eps", [(5.0, 1e-3), (2.0, 1e-4), (20.0, 0.0)])
def test_matches_skimage(image, isotropic, weight, eps):
    x = image()
    want = sk_tv(x, weight=weight, eps=eps, isotropic=isotropic)
    got = denoise_tv_bregman(x, weight=weight, eps=eps, isotropic=isotropic)
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=0, atol=TOL)
    if x.ndim == 2 and x.size < 100_000:
        (k,) = set(_count(x, weight, 100, eps, isotropic))
        _same_stop(x, k, weight, eps, isotropic, got)


@pytest.mark.parametrize("width", [2, 3, 24, 63, 64, 127, 130, 255, 300, 511, 600, 1100])
def test_row_recurrence_widths(width):
    """Every segment layout of the row recurrence (1, 2, 4, 8 segments), and the narrowest rows."""
    x = np.random.default_rng(width).random((5, width))
    for it in (1, 2, 7):
        want = sk_tv(x, weight=3.0, eps=0, max_num_iter=it)
        np.testing.assert_allclose(denoise_tv_bregman(x, weight=3.0, eps=0, max_num_iter=it), want, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_stops_inside_and_between_sweep_blocks(dtype):
    """Sweeps run in pipelined blocks of 16: stops at many sweep counts, on both sides of block ends."""
    x = np.random.default_rng(4).random((40, 90)).astype(dtype)
    counts = set()
    for eps in (3e-2, 1e-2, 5e-3, 2e-3, 1e-3, 5e-4, 2e-4, 1e-4, 5e-5, 2e-5):
        (k,) = _count(x, 2.0, 200, eps)
        counts.add(k)
        got = denoise_tv_bregman(x, weight=2.0, eps=eps, max_num_iter=200)
        np.testing.assert_allclose(got, sk_tv(x, weight=2.0, eps=eps, max_num_iter=200), atol=TOL)
        _same_stop(x, k, 2.0, eps, True, got)
    assert min(counts) < 16 < max(counts) and len(counts) >= 6
    for n in (1, 15, 16, 17, 33):
        assert _count(x, 2.0, n, 0.0) == [n]
        np.testing.assert_allclose(
            denoise_tv_bregman(x, weight=2.0, eps=0, max_num_iter=n), sk_tv(x, weight=2.0, eps=0, max_num_iter=n),
            atol=1e-6,
        )


@pytest.mark.parametrize("channel_axis", [-1, 0, 1])
@pytest.mark.parametrize("dtype", [np.uint8, np.float32, np.float64])
def test_channels_match_skimage(channel_axis, dtype):
    """Each channel is skimage on that channel alone, with its own stopping rule. skimage's own
    channel loop agrees on the first channel only: it reuses its output buffer, and its Cython
    kernel starts d and b from that buffer, i.e. from the previous channel's result (for a
    previous channel of zeros it agrees again, see test_skimage_channel_loop_quirk)."""
    x = data.astronaut()[::4, ::4]  # (128, 128, 3) uint8
    if dtype != np.uint8:
        x = _noisy(x, 0.1, dtype)
    x = np.moveaxis(x, -1, channel_axis)
    want = sk_tv(x, weight=4.0, channel_axis=channel_axis)
    got = denoise_tv_bregman(x, weight=4.0, channel_axis=channel_axis)
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_allclose(np.take(got, 0, channel_axis), np.take(want, 0, channel_axis), rtol=0, atol=TOL)
    counts = _count(x, 4.0, channel_axis=channel_axis)
    for c in range(3):
        xc = np.take(x, c, axis=channel_axis)
        assert counts[c] == _count(xc, 4.0)[0]
        np.testing.assert_allclose(np.take(got, c, axis=channel_axis), sk_tv(xc, weight=4.0), rtol=0, atol=TOL)


def test_skimage_channel_loop_quirk():
    x = np.random.default_rng(11).random((20, 30, 2))
    x[..., 0] = 0  # skimage's second channel then starts from zeros, as its first does
    np.testing.assert_allclose(denoise_tv_bregman(x, weight=4.0, channel_axis=-1), sk_tv(x, weight=4.0, channel_axis=-1), atol=TOL)


@pytest.mark.parametrize("channel_axis", [-1, 1, 0, -2])
def test_2d_image_with_channel_axis(channel_axis):
    """skimage takes a 2-D image with channel_axis as one channel, with that axis moved last
    (channel_axis=0 sweeps the transpose)."""
    x = _noisy(data.camera()[::8, ::6], 0.1, np.float32)  # (64, 86), not square
    want = sk_tv(x, weight=4.0, channel_axis=channel_axis)
    got = denoise_tv_bregman(x, weight=4.0, channel_axis=channel_axis)
    assert got.shape == want.shape == x.shape and got.dtype == want.dtype
    assert got.flags.c_contiguous
    np.testing.assert_allclose(got, want, rtol=0, atol=TOL)


def test_eps0_stops_on_an_unchanged_sweep():
    """eps=0 stops at the first sweep that leaves u exactly unchanged (skimage loops while
    rmse > eps): a constant image after one sweep; small float32 images reach a fixed point
    mid-block, where foveal reruns from the start (it keeps no snapshot with eps=0)."""
    c = np.full((40, 70), 0.3, np.float32)
    assert _count(c, eps=0.0) == [1]
    np.testing.assert_array_equal(denoise_tv_bregman(c, eps=0.0), sk_tv(c, eps=0.0))
    for seed, shape, weight in [(0, (6, 7), 20.0), (1, (6, 7), 5.0), (5, (12, 9), 5.0)]:
        x = np.random.default_rng(seed).random(shape).astype(np.float32)
        k = _count(x, weight, 3000, eps=0.0)[0]
        assert 16 < k < 3000 and k % 16 != 0
        got = denoise_tv_bregman(x, weight=weight, max_num_iter=3000, eps=0.0)
        np.testing.assert_array_equal(got, denoise_tv_bregman(x, weight=weight, max_num_iter=k, eps=0.0))
        np.testing.assert_allclose(got, sk_tv(x, weight=weight, max_num_iter=k, eps=0.0), atol=TOL)


def test_joint_channels_share_one_stop():
    x = _noisy(data.astronaut()[::4, ::4], 0.1, np.float64)
    counts = _count(x, 4.0)
    assert len(set(counts)) == 1
    np.testing.assert_allclose(denoise_tv_bregman(x, weight=4.0), sk_tv(x, weight=4.0), atol=TOL)
    # the joint rule (rms over all channels) is not the per-channel one
    y = x.copy()
    y[..., 1] *= 0.1
    assert len(set(_count(y, 4.0, eps=1e-3, channel_axis=-1))) > 1
    np.testing.assert_allclose(denoise_tv_bregman(y, weight=4.0), sk_tv(y, weight=4.0), atol=TOL)


def test_single_channel_is_squeezed_like_skimage():
    x = np.random.default_rng(5).random((12, 10, 1)).astype(np.float32)
    for kw in ({}, {"channel_axis": -1}):
        want = sk_tv(x, **kw)
        got = denoise_tv_bregman(x, **kw)
        assert got.shape == want.shape == (12, 10)
        np.testing.assert_allclose(got, want, atol=TOL)


@pytest.mark.parametrize(
    "dtype,want",
    [
        (np.float16, np.float32),
        (np.float32, np.float32),
        (np.float64, np.float64),
        (np.uint8, np.float64),
        (np.int16, np.float64),
        (np.uint16, np.float64),
        (np.bool_, np.float64),
    ],
)
def test_dtype_rules_match_skimage(dtype, want):
    rng = np.random.default_rng(6)
    if dtype == np.bool_:
        x = rng.random((20, 30)) > 0.5
    elif np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        x = rng.integers(info.min, info.max, (20, 30), endpoint=True).astype(dtype)
    else:
        x = rng.random((20, 30)).astype(dtype)
    got = denoise_tv_bregman(x, weight=3.0)
    assert got.dtype == want
    # skimage's Cython kernel has no float16 signature: float16 computes as float32 here
    ref = sk_tv(x.astype(np.float32) if dtype == np.float16 else x, weight=3.0)
    assert ref.dtype == want
    np.testing.assert_allclose(got, ref, atol=TOL)


def test_zero_sweeps_returns_the_image_and_constant_image_stays():
    x = np.random.default_rng(7).random((8, 9)).astype(np.float32)
    assert _count(x, 5.0, 0, 1e-3) == [0]
    np.testing.assert_array_equal(denoise_tv_bregman(x, max_num_iter=0), x)
    np.testing.assert_array_equal(sk_tv(x, max_num_iter=0), x)
    c = np.full((16, 16), 0.25)
    np.testing.assert_allclose(denoise_tv_bregman(c), c, atol=1e-12)


def test_denoises():
    img = np.zeros((64, 64))
    img[16:48, 16:48] = 1
    noisy = img + np.random.default_rng(8).normal(0, 0.2, img.shape)
    out = denoise_tv_bregman(noisy, weight=2.0)
    assert np.abs(out - img).mean() < 0.5 * np.abs(noisy - img).mean()
    # more weight: closer to the data
    assert np.abs(denoise_tv_bregman(noisy, weight=50.0) - noisy).mean() < np.abs(out - noisy).mean()


def test_input_not_modified_and_noncontiguous():
    x = np.random.default_rng(9).random((40, 60))
    keep = x.copy()
    view = x[::2, ::3]
    got = denoise_tv_bregman(view, weight=3.0)
    np.testing.assert_array_equal(x, keep)
    np.testing.assert_allclose(got, sk_tv(np.ascontiguousarray(view), weight=3.0), atol=TOL)


def test_torch_cpu():
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(10).random((20, 25)).astype(np.float32)
    got = denoise_tv_bregman(torch.from_numpy(x), weight=3.0)
    assert isinstance(got, torch.Tensor) and got.dtype == torch.float32
    np.testing.assert_allclose(got.numpy(), sk_tv(x, weight=3.0), atol=TOL)


_IMG = np.zeros((8, 8), np.float32)


@pytest.mark.parametrize(
    "kwargs,err,match",
    [
        ({"weight": 0.0}, foveal.FovealValueError, "weight must be a finite number > 0"),
        ({"weight": -1.0}, foveal.FovealValueError, "weight must be a finite number > 0"),
        ({"weight": float("nan")}, foveal.FovealValueError, "weight"),
        ({"weight": float("inf")}, foveal.FovealValueError, "weight must be a finite number > 0"),
        ({"weight": "5"}, foveal.FovealTypeError, "weight"),
        ({"eps": -1e-3}, foveal.FovealValueError, "eps must be a finite number >= 0"),
        ({"eps": float("nan")}, foveal.FovealValueError, "eps"),
        ({"max_num_iter": -1}, foveal.FovealValueError, "max_num_iter must be >= 0"),
        ({"max_num_iter": 2.5}, foveal.FovealTypeError, "max_num_iter must be an integer"),
        ({"max_num_iter": True}, foveal.FovealTypeError, "max_num_iter must be an integer"),
        ({"isotropic": 1}, foveal.FovealTypeError, "isotropic must be a bool"),
        ({"isotropic": "yes"}, foveal.FovealTypeError, "isotropic must be a bool"),
        ({"channel_axis": 2}, foveal.FovealValueError, "channel_axis"),
        ({"channel_axis": 1.0}, foveal.FovealTypeError, "channel_axis"),
    ],
)
def test_bad_arguments(kwargs, err, match):
    with pytest.raises(err, match=match):
        denoise_tv_bregman(_IMG, **kwargs)


def test_bad_images():
    op = "denoise_tv_bregman"
    with pytest.raises(foveal.FovealValueError, match=f"{op}: image must have shape"):
        denoise_tv_bregman(np.zeros(10))
    with pytest.raises(foveal.FovealValueError, match=f"{op}: image must have shape"):
        denoise_tv_bregman(np.zeros((4, 4, 4, 4)))
    with pytest.raises(foveal.FovealValueError, match="at least 2 rows and 2 columns"):
        denoise_tv_bregman(np.zeros((1, 10)))
    with pytest.raises(foveal.FovealValueError, match="at least 2 rows and 2 columns"):
        denoise_tv_bregman(np.zeros((10, 1)))
    with pytest.raises(foveal.FovealValueError, match="at least 2 rows and 2 columns"):
        denoise_tv_bregman(np.zeros((3, 1, 5)), channel_axis=0)
    with pytest.raises(foveal.FovealValueError, match="2 or 3 dimensions when channel_axis is given"):
        denoise_tv_bregman(np.zeros((4, 4, 4, 2)), channel_axis=-1)
    with pytest.raises(foveal.FovealValueError, match="at least 2 rows and 2 columns"):
        denoise_tv_bregman(np.zeros((1, 10)), channel_axis=1)
    bad = np.zeros((5, 5))
    bad[2, 2] = np.nan
    with pytest.raises(foveal.FovealValueError, match="finite"):
        denoise_tv_bregman(bad)
    with pytest.raises(foveal.FovealTypeError, match=f"{op}: image must have a real numeric dtype"):
        denoise_tv_bregman(np.zeros((5, 5), np.complex64))
    with pytest.raises((foveal.FovealTypeError, foveal.FovealValueError), match=op):
        denoise_tv_bregman("image")


def test_core_validates():
    from foveal import _core

    x = np.zeros((1, 4, 4), np.float32)
    with pytest.raises(foveal.FovealValueError, match="denoise_tv_bregman: image must have shape"):
        _core.denoise_tv_bregman(np.zeros((4, 4), np.float32), np.zeros((4, 4), np.float32), 5.0, 0.0, 1, True, True)
    with pytest.raises(foveal.FovealValueError, match="out must have shape"):
        _core.denoise_tv_bregman(x, np.zeros((1, 4, 5), np.float32), 5.0, 0.0, 1, True, True)
    with pytest.raises(foveal.FovealTypeError, match="float32 or float64"):
        _core.denoise_tv_bregman(x.astype(np.int32), x.astype(np.int32), 5.0, 0.0, 1, True, True)
    with pytest.raises(foveal.FovealValueError, match="weight must be"):
        _core.denoise_tv_bregman(x, np.zeros_like(x), 0.0, 0.0, 1, True, True)


def test_docstring_examples():
    import doctest

    import foveal.restoration

    res = doctest.run_docstring_examples(
        foveal.restoration.denoise_tv_bregman, {}, verbose=False, name="denoise_tv_bregman"
    )
    assert res is None
    finder = doctest.DocTestFinder()
    runner = doctest.DocTestRunner()
    for t in finder.find(foveal.restoration.denoise_tv_bregman, "denoise_tv_bregman", globs={}):
        runner.run(t)
    assert runner.failures == 0 and runner.tries > 0


_THREADS_SCRIPT = """
import sys, numpy as np
from foveal.restoration._tv import _tv_bregman
x = np.random.default_rng(12).random((150, 90)).astype(np.float32)
outs = [_tv_bregman(x, 2.0, 200, eps, True, None) for eps in (0.0, 2e-3, 3e-4)]
np.save(sys.argv[1], np.stack([o for o, _ in outs]))
print([k for _, ks in outs for k in ks])
"""


def test_same_result_on_one_and_four_threads(tmp_path):
    """A single plane's sweep blocks are split across two threads when there are several: the
    result and the sweep count do not depend on it."""
    import os
    import subprocess
    import sys

    results = {}
    for nt in ("1", "4"):
        env = dict(os.environ, FOVEAL_NUM_THREADS=nt)
        path = tmp_path / f"out{nt}.npy"
        proc = subprocess.run(
            [sys.executable, "-c", _THREADS_SCRIPT, str(path)], env=env, capture_output=True, text=True, check=True
        )
        results[nt] = (np.load(path), proc.stdout.strip())
    np.testing.assert_array_equal(results["1"][0], results["4"][0])
    assert results["1"][1] == results["4"][1]
    assert results["1"][1].startswith("[200,")
