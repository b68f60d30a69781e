# SPDX-License-Identifier: Apache-2.0
"""foveal's FFT (foveal._fft, the C++ plans behind Wiener deconvolution and RL's FFT path) against
numpy.fft: many lengths (1, 2, primes, 5-smooth, lengths with large prime factors, large), real
and complex, n-D over the last axes with batch axes, norms, dtypes, errors."""
from __future__ import annotations

import numpy as np
import pytest

from foveal import FovealTypeError, FovealValueError
from foveal import _fft

SIZES = [1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 12, 13, 15, 16, 17, 25, 27, 31, 32, 49, 60, 61, 64, 67, 97, 100, 101,
         121, 125, 127, 128, 243, 256, 360, 499, 509, 512, 625, 997, 1000, 1024, 1031, 2 * 67, 3 * 127,
         4096, 4099, 67 * 71, 3 ** 8, 5 ** 6, 65536]


def _rel(a, b):
    return np.abs(a - b).max() / max(np.abs(b).max(), 1e-300)


def _tol(dtype, n):
    return (1e-12 if dtype == np.float64 else 1e-5) * max(1.0, np.log2(max(n, 2)) / 10)


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_1d_complex_and_real(n, dtype):
    rng = np.random.default_rng(n)
    x = rng.standard_normal((2, n)) + 1j * rng.standard_normal((2, n))
    ct = np.complex128 if dtype == np.float64 else np.complex64
    xc = x.astype(ct)
    got = _fft.fftn(xc, 1)
    assert got.dtype == ct
    assert _rel(got, np.fft.fft(x)) < _tol(dtype, n)
    assert _rel(_fft.ifftn(xc, 1), np.fft.ifft(x)) < _tol(dtype, n)
    r = x.real.astype(dtype)
    half = _fft.rfftn(r, 1)
    assert half.shape == (2, n // 2 + 1) and half.dtype == ct
    assert _rel(half, np.fft.rfft(x.real)) < _tol(dtype, n)
    spec = np.fft.rfft(x.real).astype(ct)
    back = _fft.irfftn(spec, (n,), 1)
    assert back.dtype == dtype
    assert _rel(back, np.fft.irfft(np.fft.rfft(x.real), n)) < _tol(dtype, n)


@pytest.mark.parametrize("shape,naxes", [((5, 6, 7), 3), ((4, 9, 10), 2), ((3, 2, 8, 12), 2), ((13, 17), 2),
                                         ((1, 1, 5), 3), ((6, 1), 2), ((2, 3, 4, 5), 4), ((8, 1, 9), 1),
                                         ((67, 6), 2), ((3, 127, 5), 2), ((49, 20, 3), 3)])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("norm", ["backward", "ortho", "forward"])
def test_nd_against_numpy(shape, naxes, dtype, norm):
    rng = np.random.default_rng(sum(shape))
    x = rng.standard_normal(shape) + 1j * rng.standard_normal(shape)
    axes = tuple(range(len(shape) - naxes, len(shape)))
    ct = np.complex128 if dtype == np.float64 else np.complex64
    n = int(np.prod([shape[a] for a in axes]))
    tol = _tol(dtype, n) * 4
    assert _rel(_fft.fftn(x.astype(ct), naxes, norm), np.fft.fftn(x, axes=axes, norm=norm)) < tol
    assert _rel(_fft.ifftn(x.astype(ct), naxes, norm), np.fft.ifftn(x, axes=axes, norm=norm)) < tol
    r = x.real.astype(dtype)
    assert _rel(_fft.rfftn(r, naxes, norm), np.fft.rfftn(x.real, axes=axes, norm=norm)) < tol
    # irfftn of a spectrum that is not Hermitian: numpy's rules (imaginary parts of bin 0 and of the
    # Nyquist bin along the last axis ignored; complex inverse over the other axes)
    h = (rng.standard_normal(shape[:-1] + (shape[-1] // 2 + 1,)) + 1j * rng.standard_normal(shape[:-1] + (shape[-1] // 2 + 1,)))
    s = tuple(shape[a] for a in axes)
    got = _fft.irfftn(h.astype(ct), s, naxes, norm)
    assert got.dtype == dtype and got.shape == shape
    assert _rel(got, np.fft.irfftn(h, s, axes=axes, norm=norm)) < tol


def test_large_2d_float64():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((540, 1031))
    assert _rel(_fft.rfftn(x), np.fft.rfftn(x)) < 1e-12
    assert np.abs(_fft.irfftn(_fft.rfftn(x), x.shape) - x).max() < 1e-12


def test_irfftn_shape_crops_and_pads_like_numpy():
    rng = np.random.default_rng(2)
    h = rng.standard_normal((6, 5)) + 1j * rng.standard_normal((6, 5))
    for s in [(6, 8), (6, 9), (4, 7), (9, 12), (3, 2)]:
        assert _rel(_fft.irfftn(h, s), np.fft.irfftn(h, s, axes=(0, 1))) < 1e-13


def test_inputs_untouched_and_integer_input():
    rng = np.random.default_rng(3)
    h = np.fft.rfftn(rng.standard_normal((6, 8)))
    h[0, 0] += 1j  # an imaginary part irfftn ignores; the caller's array keeps it
    keep = h.copy()
    _fft.irfftn(h, (6, 8))
    assert np.array_equal(h, keep)
    i = np.arange(12, dtype=np.int32).reshape(3, 4)
    assert _rel(_fft.rfftn(i), np.fft.rfftn(i)) < 1e-14
    assert _fft.fftn(i.astype(np.float16)).dtype == np.complex64


def test_errors():
    with pytest.raises(FovealValueError, match="naxes must be an integer in"):
        _fft.fftn(np.zeros((3, 4)), 3)
    with pytest.raises(FovealValueError, match="norm must be"):
        _fft.rfftn(np.zeros(4), norm="unitary")
    with pytest.raises(FovealTypeError, match="must be real"):
        _fft.rfftn(np.zeros(4, dtype=complex))
    with pytest.raises(FovealTypeError, match="numeric dtype"):
        _fft.fftn(np.array(["a"]))
    with pytest.raises(FovealValueError, match="length >= 1"):
        _fft.fftn(np.zeros((3, 0), dtype=complex))
    with pytest.raises(FovealValueError, match="shape must have 1 lengths"):
        _fft.irfftn(np.zeros(3, dtype=complex), (0,))
