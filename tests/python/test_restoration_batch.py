# SPDX-License-Identifier: Apache-2.0
"""Batches (batch_axis=, lists of images) of the bilateral and non-local means filters, total
variation and Richardson-Lucy, and the filters' cancellation: a batch equals the loop over its images; Ctrl-C stops a long filter (in a child
process) with KeyboardInterrupt and nothing returned."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import foveal
from foveal.restoration import (
    bilateral_filter,
    denoise_bilateral,
    denoise_nl_means,
    denoise_tv_bregman,
    denoise_tv_chambolle,
    fast_nl_means,
    gaussian_psf,
    blind_richardson_lucy,
    richardson_lucy,
    unsupervised_wiener,
    wiener,
)

rng = np.random.default_rng(0)
_F = rng.random((5, 24, 29))
_U = rng.integers(0, 256, (5, 24, 29), dtype=np.uint8)

CASES = {
    "denoise_bilateral": (lambda x, **k: denoise_bilateral(x, 5, 0.1, 2, **k), _F),
    "denoise_bilateral_rgb": (lambda x, **k: denoise_bilateral(x, 5, 0.1, 2, channel_axis=-1, **k), rng.random((3, 20, 21, 3))),
    "bilateral_filter": (lambda x, **k: bilateral_filter(x, 5, 40, 3, **k), _U),
    "denoise_nl_means": (lambda x, **k: denoise_nl_means(x, 3, 4, 0.2, **k), _F),
    "fast_nl_means": (lambda x, **k: fast_nl_means(x, 20, 3, 7, **k), _U),
    "fast_nl_means_colour": (lambda x, **k: fast_nl_means(x, 20, 3, 7, h_color=9, **k), rng.integers(0, 256, (3, 20, 21, 3), dtype=np.uint8)),
    "denoise_tv_chambolle": (lambda x, **k: denoise_tv_chambolle(x, 0.1, **k), _F),
    "denoise_tv_chambolle_rgb": (lambda x, **k: denoise_tv_chambolle(x, 0.1, channel_axis=-1, **k), rng.random((3, 20, 21, 3))),
    "denoise_tv_bregman": (lambda x, **k: denoise_tv_bregman(x, 4.0, **k), _F),
    "richardson_lucy": (lambda x, **k: richardson_lucy(x, gaussian_psf((5, 5), 1.0), 7, **k), _F),
    "wiener": (lambda x, **k: wiener(x, gaussian_psf((5, 5), 1.0), 0.05, **k), _F),
    "richardson_lucy_accelerated": (
        lambda x, **k: richardson_lucy(x, gaussian_psf((5, 5), 1.0), 7, acceleration="biggs", **k),
        _F.astype(np.float32),
    ),
}


def _same(got, want):
    # a batch call runs each image on fewer CPU threads, and the float NLM's band split (so its
    # summation order) depends on the thread count: equal to rounding; integer results exactly
    if want.dtype.kind == "f":
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    else:
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("name", sorted(CASES))
def test_batch_equals_loop(name):
    f, x = CASES[name]
    ref = np.stack([f(im) for im in x])
    _same(f(x, batch_axis=0), ref)
    # another axis: the batch is moved there and back
    xm = np.moveaxis(x, 0, 1)
    _same(f(xm, batch_axis=1), np.moveaxis(ref, 0, 1))
    _same(f(xm, batch_axis=-x.ndim + 1), np.moveaxis(ref, 0, 1))
    got = f(list(x))
    assert isinstance(got, list) and len(got) == len(x)
    for g, r in zip(got, ref):
        _same(g, r)


def test_batch_of_a_function_with_two_outputs():
    # blind_richardson_lucy returns (image, psf): each is stacked on the batch axis
    f = lambda x, **k: blind_richardson_lucy(x, (3, 3), num_iter=3, psf_iter=2, **k)  # noqa: E731
    ref = [f(im) for im in _F]
    img, psf = f(_F, batch_axis=0)
    np.testing.assert_allclose(img, np.stack([r[0] for r in ref]), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(psf, np.stack([r[1] for r in ref]), rtol=1e-12, atol=1e-12)
    got = f(list(_F))
    assert isinstance(got, list) and len(got) == len(_F)
    for (gi, gp), (ri, rp) in zip(got, ref):
        np.testing.assert_allclose(gi, ri, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(gp, rp, rtol=1e-12, atol=1e-12)


def test_unsupervised_wiener_batch():
    """Each image samples from its own generator: an int seed gives each what a single call with
    that seed gives; a Generator gives children seeded from it in order (reproducible); the
    chains come back as a list, one dict per image."""
    psf = gaussian_psf((5, 5), 1.0)
    f = lambda x, **k: unsupervised_wiener(x, psf, user_params={"max_num_iter": 40}, **k)  # noqa: E731
    img, chains = f(_F, batch_axis=0, rng=3)
    assert img.shape == _F.shape and isinstance(chains, list) and len(chains) == len(_F)
    for i, im in enumerate(_F):
        one, ch = f(im, rng=3)
        np.testing.assert_allclose(img[i], one, rtol=1e-12, atol=1e-12)
        assert chains[i] == ch
    a, ca = f(np.moveaxis(_F, 0, -1), batch_axis=-1, rng=np.random.default_rng(5))
    b, cb = f(np.moveaxis(_F, 0, -1), batch_axis=-1, rng=np.random.default_rng(5))
    np.testing.assert_array_equal(a, b)
    assert ca == cb and ca[0] != ca[1]  # independent children, same for the same generator
    seeds = np.random.default_rng(5).integers(0, 2**63 - 1, size=len(_F), dtype=np.int64)
    np.testing.assert_allclose(a[..., 1], f(_F[1], rng=int(seeds[1]))[0], rtol=1e-12, atol=1e-12)
    got = f([_F[0], _F[1, :20, :17]], rng=4)
    assert isinstance(got, list) and got[1][0].shape == (20, 17)
    np.testing.assert_allclose(got[1][0], f(_F[1, :20, :17], rng=4)[0], rtol=1e-12, atol=1e-12)


def test_list_of_different_shapes_and_single_image():
    imgs = [rng.integers(0, 256, s, dtype=np.uint8) for s in [(17, 19), (30, 11), (9, 9)]]
    got = fast_nl_means(tuple(imgs), 15)
    for g, im in zip(got, imgs):
        np.testing.assert_array_equal(g, fast_nl_means(im, 15))
    np.testing.assert_array_equal(fast_nl_means(_U[:1], 15, batch_axis=0)[0], fast_nl_means(_U[0], 15))


def test_batch_torch_in_torch_out():
    torch = pytest.importorskip("torch")
    t = torch.from_numpy(_F.astype(np.float32))
    got = denoise_nl_means(t, 3, 4, 0.2, batch_axis=0)
    assert isinstance(got, torch.Tensor) and got.shape == t.shape
    want = np.stack([denoise_nl_means(im, 3, 4, 0.2) for im in _F.astype(np.float32)])
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-6, atol=1e-6)


def test_batch_errors():
    with pytest.raises(foveal.FovealValueError, match="batch_axis must be an axis of image"):
        fast_nl_means(_U, batch_axis=3)
    with pytest.raises(foveal.FovealTypeError, match="batch_axis must be None or an integer, got float"):
        fast_nl_means(_U, batch_axis=0.0)
    with pytest.raises(foveal.FovealTypeError, match="got bool"):
        fast_nl_means(_U, batch_axis=True)
    with pytest.raises(foveal.FovealValueError, match="batch_axis must be None when image is a list"):
        fast_nl_means(list(_U), batch_axis=0)
    with pytest.raises(foveal.FovealValueError, match="at least one image"):
        fast_nl_means(_U[:0], batch_axis=0)
    # an error in one image is raised (the others finish)
    bad = [_U[0], _U[1].astype(np.float32), _U[2]]
    with pytest.raises(foveal.FovealTypeError, match="image must be uint8 or uint16, got float32"):
        fast_nl_means(bad)
    # the inputs are left alone
    x = _U.copy()
    fast_nl_means(x, 30, batch_axis=0)
    np.testing.assert_array_equal(x, _U)


def test_batch_signature_has_batch_axis():
    import inspect

    for f in (
        denoise_bilateral,
        bilateral_filter,
        denoise_nl_means,
        fast_nl_means,
        denoise_tv_chambolle,
        denoise_tv_bregman,
        richardson_lucy,
        blind_richardson_lucy,
        wiener,
        unsupervised_wiener,
    ):
        p = inspect.signature(f).parameters["batch_axis"]
        assert p.kind is inspect.Parameter.KEYWORD_ONLY and p.default is None
        assert "batch_axis : int or None" in f.__doc__


def test_cancel_flag_stops_a_kernel():
    # the flag a batch sets when its wait is interrupted: a set flag stops the kernel at its first poll
    from foveal import _core

    flag = _core.CancelFlag()
    assert not flag.is_set()
    flag.set()
    x = rng.integers(0, 256, (64, 64), dtype=np.uint8)
    out = np.empty_like(x)
    with pytest.raises(foveal.FovealError, match="fast_nl_means: cancelled"):
        _core.fast_nl_means(x, out, 10.0, 7, 21, cancel=flag)
    with pytest.raises(foveal.FovealError, match="cancelled"):
        _core.denoise_nl_means(rng.random((40, 40, 1)), np.empty((40, 40, 1)), 5, 5, 0.1, 0.0, True, cancel=flag)
    with pytest.raises(foveal.FovealError, match="cancelled"):
        _core.bilateral_filter(x[..., None], out[..., None], 9, 50.0, 5.0, 0.0, 255.0, 0, False, cancel=flag)
    f = rng.random((64, 64))
    with pytest.raises(foveal.FovealError, match="denoise_tv_chambolle: cancelled"):
        _core.denoise_tv_chambolle(f, np.empty_like(f), 0.1, 0.0, 10, cancel=flag)
    with pytest.raises(foveal.FovealError, match="denoise_tv_bregman: cancelled"):
        _core.denoise_tv_bregman(f[None], np.empty((1, 64, 64)), 5.0, 0.0, 10, True, True, cancel=flag)
    psf = np.full((3, 3), 1 / 9)
    for method in (1, 3):  # direct, fft
        with pytest.raises(foveal.FovealError, match="richardson_lucy: cancelled"):
            _core.richardson_lucy(f, psf, np.empty_like(f), 5, True, 0.0, 0, method, cancel=flag)
    with pytest.raises(foveal.FovealError, match="richardson_lucy: cancelled"):
        _core.richardson_lucy_variant(f, psf, np.empty_like(f), 5, True, 0.0, 0, 1, 0.0, cancel=flag)
    with pytest.raises(foveal.FovealError, match="blind_richardson_lucy: cancelled"):
        _core.blind_richardson_lucy(f, psf, np.empty_like(f), np.empty_like(psf), 3, 2, 1, True, 0.0, 0, 0, cancel=flag)


_CHILD = textwrap.dedent(
    """
    import sys, time, numpy as np, foveal
    which, n = sys.argv[1], int(sys.argv[2])
    rng = np.random.default_rng(0)
    if which == "fast_nl_means":
        x = rng.integers(0, 256, (n, n), dtype=np.uint8)
        f = lambda: foveal.restoration.fast_nl_means(x, 10, 7, 41)
    elif which == "denoise_nl_means":
        x = rng.random((n, n), dtype=np.float32)
        f = lambda: foveal.restoration.denoise_nl_means(x, 7, 20, 0.1)
    elif which == "denoise_tv_chambolle":
        x = rng.random((n, n), dtype=np.float32)
        f = lambda: foveal.restoration.denoise_tv_chambolle(x, 0.1, eps=0, max_num_iter=100000)
    elif which == "richardson_lucy":
        x = rng.random((n, n), dtype=np.float32)
        f = lambda: foveal.restoration.richardson_lucy(x, foveal.restoration.gaussian_psf((9, 9), 2.0), 100000)
    elif which == "batch":
        x = rng.integers(0, 256, (8, n // 2, n // 2), dtype=np.uint8)
        f = lambda: foveal.restoration.fast_nl_means(x, 10, 7, 41, batch_axis=0)
    else:
        x = rng.random((n, n), dtype=np.float32)
        f = lambda: foveal.restoration.denoise_bilateral(x, 61, 0.1, 10, bins=None)
    print("started", flush=True)
    t = time.monotonic()
    try:
        out = f()
    except KeyboardInterrupt:
        print("interrupted %.3f" % (time.monotonic() - t), flush=True)
        sys.exit(3)
    print("finished", out.shape, flush=True)
    """
)


def _child(which, n):
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.Popen(
        [sys.executable, "-c", _CHILD, which, str(n)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to a child process")
@pytest.mark.parametrize(
    "which", ["fast_nl_means", "denoise_nl_means", "denoise_bilateral", "denoise_tv_chambolle", "richardson_lucy", "batch"]
)
def test_ctrl_c_interrupts_a_long_filter(which):
    # the uninterrupted run of this size takes far longer than the bound below (minutes here)
    p = _child(which, 4000)
    try:
        assert p.stdout.readline().strip() == "started"
        time.sleep(0.5)
        t = time.monotonic()
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=60)
        waited = time.monotonic() - t
    finally:
        p.kill()
    assert p.returncode == 3, (out, err)
    assert out.startswith("interrupted"), (out, err)
    assert waited < 30, waited  # a poll every row block / shift: well under a second on a quiet machine


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to a child process")
def test_uninterrupted_run_finishes():
    p = _child("fast_nl_means", 200)
    out, err = p.communicate(timeout=120)
    assert p.returncode == 0, err
    assert "finished (200, 200)" in out
