# SPDX-License-Identifier: Apache-2.0
"""richardson_lucy's FFT path (method='fft', and 'auto' choosing it): against scikit-image for the
zero-padded mode, against the direct path (and the float64 NumPy reference) for every boundary
mode, psf sizes odd and even up to the image's, lengths whose transforms need the generic and
Bluestein paths, 1-D to 3-D, float32 and float64, the auto rule."""
from __future__ import annotations

import numpy as np
import pytest

from foveal import FovealValueError
from foveal.restoration import richardson_lucy
from foveal.restoration._rl import _rl
from reference import rl_ref

skimage = pytest.importorskip("skimage")
from skimage import data  # noqa: E402
from skimage.morphology import disk  # noqa: E402
from skimage.restoration import richardson_lucy as sk_rl  # noqa: E402


def _run(x, psf, method, mode="constant", num_iter=10, clip=False, filter_epsilon=None):
    return _rl(x, psf, num_iter, clip, filter_epsilon, mode, method)


def _disk(r):
    p = disk(r).astype(float)
    return p / p.sum()


def _camera(psf, dtype, size=160):
    from scipy.signal import convolve

    cam = skimage.img_as_float(data.camera())[::3, ::3][:size, :size]
    b = convolve(cam, psf, mode="same")
    return np.clip(b + 0.01 * np.random.default_rng(0).standard_normal(b.shape), 0, 1).astype(dtype)


@pytest.mark.parametrize("psf", [lambda: _disk(15), lambda: np.random.default_rng(1).random((15, 15)),
                                 lambda: np.random.default_rng(2).random((8, 11))])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("clip", [True, False])
def test_camera_matches_skimage_and_direct(psf, dtype, clip):
    p = psf()
    p = (p / p.sum()).astype(dtype)
    x = _camera(p, dtype)
    got, used = _run(x, p, "fft", num_iter=15, clip=clip)
    assert used == "fft" and got.dtype == dtype
    want = sk_rl(x, p, num_iter=15, clip=clip)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-4)
    direct, _ = _run(x, p, "direct", num_iter=15, clip=clip)
    tol = 1e-10 if dtype == np.float64 else 1e-4
    np.testing.assert_allclose(got, direct, rtol=tol, atol=tol)


@pytest.mark.parametrize("mode", ["constant", "reflect", "wrap"])
@pytest.mark.parametrize(
    "shape,psf_shape",
    [
        ((64,), (9,)),
        ((61,), (10,)),            # prime length: wrap transforms on the generic radix
        ((67, 71), (7, 6)),        # primes > 61: wrap runs Bluestein
        ((40, 50), (40, 50)),      # psf as large as the image
        ((33, 28), (1, 5)),
        ((12, 13, 14), (3, 4, 5)),
        ((9, 10, 11), (9, 1, 11)),
        ((1, 1, 30), (1, 1, 7)),
    ],
)
def test_modes_equal_direct_float64(mode, shape, psf_shape):
    rng = np.random.default_rng(sum(shape) + sum(psf_shape))
    x = rng.random(shape)
    p = rng.random(psf_shape)
    for fe in (None, 0.3):
        got, used = _run(x, p, "fft", mode, num_iter=8, filter_epsilon=fe)
        direct, _ = _run(x, p, "direct", mode, num_iter=8, filter_epsilon=fe)
        assert used == "fft"
        np.testing.assert_allclose(got, direct, rtol=1e-10, atol=1e-10)
    want = rl_ref.richardson_lucy(x, p, num_iter=4, clip=False, filter_epsilon=None, mode=mode)
    np.testing.assert_allclose(_run(x, p, "fft", mode, num_iter=4)[0], want, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("mode", ["constant", "reflect", "wrap"])
def test_3d_disk_like_float32(mode):
    rng = np.random.default_rng(5)
    zz, yy, xx = np.mgrid[-3:4, -4:5, -4:5]
    p = ((zz / 3.5) ** 2 + (yy / 4.5) ** 2 + (xx / 4.5) ** 2 <= 1).astype(np.float32)
    p /= p.sum()
    x = rng.random((20, 30, 26)).astype(np.float32)
    got, used = _run(x, p, "fft", mode, num_iter=6)
    direct, _ = _run(x, p, "direct", mode, num_iter=6)
    assert used == "fft" and got.dtype == np.float32
    np.testing.assert_allclose(got, direct, rtol=1e-4, atol=1e-5)
    if mode == "constant":
        np.testing.assert_allclose(got, sk_rl(x, p, num_iter=6, clip=False), rtol=0, atol=1e-4)


def test_auto_rule():
    x = np.random.default_rng(0).random((256, 256))
    big = _disk(15)  # 709 non-zero taps, not rank 1
    out, used = _run(x, big, "auto", num_iter=2)
    assert used == "fft"
    np.testing.assert_allclose(out, _run(x, big, "direct", num_iter=2)[0], rtol=1e-10, atol=1e-12)
    assert _run(x, np.random.default_rng(1).random((5, 5)), "auto", num_iter=1)[1] == "direct"
    g = np.outer(np.hanning(17)[1:-1], np.hanning(17)[1:-1])  # rank 1: 30 taps separable
    assert _run(x, g, "auto", num_iter=1)[1] == "separable"


def test_flux_kept_and_inputs_untouched():
    rng = np.random.default_rng(3)
    x = rng.random((50, 47))
    p = _disk(6)
    x0, p0 = x.copy(), p.copy()
    for mode in ("constant", "wrap"):
        out, _ = _run(x, p, "fft", mode, num_iter=5)
        assert abs(out.sum() - x.sum()) < 1e-9 * x.sum()
    assert np.array_equal(x, x0) and np.array_equal(p, p0)


def test_method_choices():
    x = np.ones((8, 8))
    with pytest.raises(FovealValueError, match="method must be one of 'auto', 'direct', 'separable', 'fft'"):
        richardson_lucy(x, np.ones((3, 3)), method="fourier")
    out = richardson_lucy(x, np.ones((3, 3)) / 9, num_iter=3, method="fft")
    np.testing.assert_allclose(out, richardson_lucy(x, np.ones((3, 3)) / 9, num_iter=3, method="direct"), atol=1e-12)


# -- CUDA: cuFFT (skipped without a GPU) ---------------------------------------------------------


@pytest.mark.needs_cuda
@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-9), (np.float32, 1e-3)])
@pytest.mark.parametrize("mode", ["constant", "reflect", "wrap"])
@pytest.mark.parametrize(
    "shape,psf_shape",
    [((64, 70), (15, 15)), ((64, 70), (8, 11)), ((50,), (9,)), ((20, 18, 22), (5, 4, 5)), ((33, 1), (7, 1)),
     ((1, 40), (1, 6)), ((97, 61), (31, 31)),
     ((31, 27), (6, 5)),            # 'wrap': odd last transform length (R2C half spectrum 14)
     ((61,), (10,)),                # 1-D, even psf, 'wrap' on a prime length
     ((12, 13, 14), (12, 13, 14)),  # 3-D psf as large as the image
     ((1, 1), (1, 1))],             # every transform length 1 (a rank-1 plan of n = 1)
)
def test_cuda_fft_matches_cpu(shape, psf_shape, mode, dtype, tol):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(7)
    x = rng.random(shape).astype(dtype)
    p = rng.random(psf_shape)
    p = (p / p.sum()).astype(dtype)
    for clip, fe in ((False, None), (True, 0.3)):
        cpu, used = _run(x, p, "fft", mode, num_iter=8, clip=clip, filter_epsilon=fe)
        gpu, used_g = _run(torch.from_numpy(x).cuda(), torch.from_numpy(p).cuda(), "fft", mode, num_iter=8, clip=clip,
                           filter_epsilon=fe)
        assert used == used_g == "fft" and gpu.is_cuda and gpu.dtype == torch.from_numpy(x).dtype
        np.testing.assert_allclose(gpu.cpu().numpy(), cpu, rtol=tol, atol=tol)


@pytest.mark.needs_cuda
def test_cuda_auto_takes_fft_and_equals_direct():
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(0).random((256, 256))
    big = _disk(15)
    xg, pg = torch.from_numpy(x).cuda(), torch.from_numpy(big).cuda()
    out, used = _run(xg, pg, "auto", num_iter=3)
    assert used == "fft"
    direct, used_d = _run(xg, pg, "direct", num_iter=3)
    assert used_d == "direct"
    np.testing.assert_allclose(out.cpu().numpy(), direct.cpu().numpy(), rtol=1e-9, atol=1e-11)
    np.testing.assert_allclose(out.cpu().numpy(), _run(x, big, "fft", num_iter=3)[0], rtol=1e-9, atol=1e-11)
    # the cached plans serve a second call of the same shape, and another shape gets its own
    again, _ = _run(xg, pg, "auto", num_iter=3)
    assert torch.equal(again, out)
    small, _ = _run(xg[:200, :230].contiguous(), pg, "fft", num_iter=3)
    np.testing.assert_allclose(small.cpu().numpy(), _run(x[:200, :230], big, "fft", num_iter=3)[0], rtol=1e-9,
                               atol=1e-11)


@pytest.mark.needs_cuda
def test_cuda_fft_on_a_side_stream_and_many_shapes():
    """cuFFT runs on the caller's stream (plans cached per stream) and the plan cache evicts past
    8 entries: 10 shapes on a side stream, then the first again, all equal to the CPU path."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(9)
    p = rng.random((6, 7))
    p /= p.sum()
    stream = torch.cuda.Stream()
    cases = [rng.random((20 + i, 30 - i)) for i in range(10)]
    outs = []
    with torch.cuda.stream(stream):
        pg = torch.from_numpy(p).to("cuda", non_blocking=True)
        for x in cases + cases[:1]:
            xg = torch.from_numpy(x).to("cuda", non_blocking=True) * 1.0  # queued work before the call
            outs.append(_run(xg, pg, "fft", "reflect", num_iter=4))
    stream.synchronize()
    for x, (out, used) in zip(cases + cases[:1], outs):
        assert used == "fft"
        np.testing.assert_allclose(out.cpu().numpy(), _run(x, p, "fft", "reflect", num_iter=4)[0], rtol=1e-9,
                                   atol=1e-11)
