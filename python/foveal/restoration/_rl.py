# SPDX-License-Identifier: Apache-2.0
"""Richardson-Lucy deconvolution (scikit-image compatible, plus boundary modes)."""
from __future__ import annotations

import functools
import os
import sys
from typing import Any

import numpy as np

from .. import _core
from .._arrays import Call, dtype_name, real
from .._errors import FovealTypeError, FovealValueError
from ._batch import batchable, cancel_flag
from ._common import _all_finite, _choice, _int_arg, _xp


_RL_MODES = {"constant": 0, "reflect": 1, "wrap": 2}
_RL_METHODS = {"auto": 0, "direct": 1, "separable": 2, "fft": 3}


@functools.cache
def _preload_cufft() -> None:
    """Loads a pip-installed cuFFT (the nvidia-cufft wheels) if there is one, so that the core's
    run-time load of cuFFT by its soname finds it; a system cuFFT is found without this."""
    import ctypes
    import glob

    for root in sys.path:
        for pattern in ("nvidia/cu13/lib/libcufft.so.*", "nvidia/cufft/lib/libcufft.so.*"):
            for path in sorted(glob.glob(os.path.join(root or ".", pattern))):
                try:
                    ctypes.CDLL(path, mode=ctypes.RTLD_GLOBAL)
                except OSError:
                    continue


def _rl(image: Any, psf: Any, num_iter: Any, clip: Any, filter_epsilon: Any, mode: Any, method: Any) -> tuple[Any, str]:
    op = "richardson_lucy"
    call = Call(op, policy="restoration", image=image, psf=psf)
    n = _int_arg(op, "num_iter", num_iter, 1)
    fe = 0.0 if filter_epsilon is None else real(op, "filter_epsilon", filter_epsilon)
    if not abs(fe) < float("inf"):
        raise FovealValueError(f"{op}: filter_epsilon must be None or a finite number, got {fe}")
    m = _choice(op, "mode", mode, _RL_MODES)
    me = _choice(op, "method", method, _RL_METHODS)
    pdt = dtype_name(psf)
    if not (pdt == "bool" or pdt.startswith(("int", "uint", "float", "bfloat"))):
        raise FovealTypeError(f"{op}: psf must have a real numeric dtype, got {pdt}")
    # skimage casts both to the image's float type, without rescaling integers (no img_as_float)
    x, p = call.floats("image", "psf")
    if not 1 <= x.ndim <= 3:
        raise FovealValueError(f"{op}: image must have 1 to 3 dimensions, got shape {tuple(x.shape)}")
    if not _all_finite(x):
        raise FovealValueError(f"{op}: image must hold finite values, got NaN or infinity")
    out = call.empty(tuple(x.shape))
    if call.cuda and me in (_RL_METHODS["auto"], _RL_METHODS["fft"]):
        _preload_cufft()
    used = call.run(_core.richardson_lucy, x, p, out, n, bool(clip), fe, m, me, cancel=cancel_flag())
    return call.wrap(out), ("direct", "direct", "separable", "fft")[used]


@batchable
def richardson_lucy(
    image: Any,
    psf: Any,
    num_iter: int = 50,
    clip: bool = True,
    filter_epsilon: float | None = None,
    *,
    mode: str = "constant",
    method: str = "auto",
    acceleration: str | None = None,
    regularization: float = 0.0,
) -> Any:
    """Richardson-Lucy deconvolution, as ``skimage.restoration.richardson_lucy``, with optional
    Biggs-Andrews acceleration and total-variation regularisation.

    Starting from ``f = 0.5`` everywhere, each iteration computes
    ``f *= conv(image / (conv(f, psf) + 1e-12), flip(psf))``, with ``conv`` scipy's 'same'
    convolution (output centred as ``scipy.signal.convolve(..., mode='same')``).

    Parameters
    ----------
    image : array
        1-, 2- or 3-D image (numpy, or cupy / torch / jax, CPU or CUDA). Values must be finite.
        float32 and float64 are kept, float16 computes in float32; integer and bool images are
        converted to float64 *without* rescaling, as skimage's ``astype`` does.
    psf : array
        Point spread function, as many dimensions as ``image`` and no larger along any axis;
        finite values with a sum > 0. Cast to the image's float dtype.
    num_iter : int, optional
        Number of iterations, >= 1; exactly that many are run.
    clip : bool, optional
        Clamp the result to [-1, 1] (skimage's convention for float images).
    filter_epsilon : float or None, optional
        When given and nonzero, the ratio is 0 wherever ``conv(f, psf) + 1e-12 < filter_epsilon``.
    mode : {'constant', 'reflect', 'wrap'}, optional
        Boundary of both convolutions: 'constant' is zero padding (skimage's), 'reflect' repeats
        the edge sample (``d c b a | a b c d``, scipy.ndimage's 'reflect'), 'wrap' is periodic.
    method : {'auto', 'direct', 'separable', 'fft'}, optional
        Convolution path. 'direct' sums the non-zero psf taps; 'separable' needs a rank-1 psf (a
        product of one vector per axis: Gaussian, box, axis-aligned motion; checked by exact
        reconstruction, else it raises); 'fft' runs each convolution as real FFTs (on CUDA with
        cuFFT, loaded when first needed: a CUDA toolkit's or the ``nvidia-cufft`` wheel's) on
        5-smooth padded lengths: zero padding to ``n + k // 2`` per axis for 'constant' (exactly
        the linear convolution cropped to 'same'), the image's own lengths for 'wrap' (circular),
        ``n + k - 1`` with the reflection written into the pad for 'reflect'. 'auto' takes
        'separable' when the psf is rank 1 and that needs fewer taps, else 'direct'; then, on the
        CPU (and on CUDA when cuFFT loads), 'fft' instead when its cost is below half of that one's, with the cost per iteration
        in multiply-adds: ``2 N taps`` (direct, ``taps`` = non-zero psf entries), ``2 N`` x the
        factors' summed taps (separable), ``10 P log2(P) + 8 P`` (fft: four real transforms of
        ``P`` = the padded size, and the pointwise work); ``N`` = the image size. E.g. a 512x512
        image with a 31x31 disk (709 taps) runs 'fft', with a 9x9 non-separable psf 'direct'. On
        CUDA without cuFFT, 'auto' never takes 'fft' and 'fft' raises. All paths give the same
        result up to rounding.
        With ``acceleration`` or ``regularization`` 'auto' chooses between 'direct' and
        'separable' only, and 'fft' is refused (those variants have no FFT path yet).
    acceleration : {None, 'biggs'}, optional
        None: plain RL (scikit-image's result). 'biggs': Biggs & Andrews (1997) vector
        extrapolation. Each iteration corrects the extrapolated point
        ``y_k = x_k + alpha_k (x_k - x_{k-1})``, ``alpha_k = sum(g_{k-1} g_{k-2}) / sum(g_{k-2}^2)``
        clamped to [0, 1], with ``g`` the RL step ``x_{k+1} - y_k`` (``alpha = 0`` for the first two
        iterations). ``y`` is kept ``>= min(x, 0)``, so it stays non-negative wherever ``x`` is.
        ``num_iter`` still counts RL corrections (one pair of convolutions each), plus two dot
        products per iteration. On noise-free blur it reaches the PSNR of 50 plain iterations in
        17 (Gaussian and motion psfs on ``camera``, see tests/python/test_rl_variants.py). With
        noise, RL's semi-convergence comes sooner too: fewer iterations are then needed, and more
        amplify the noise faster.
    regularization : float, optional
        TV weight ``lambda`` (Dey et al. 2006), ``0 <= lambda < 1 / (2 ndim)``:
        ``x_{k+1} = x_k conv(ratio, flip(psf)) / (1 - lambda div(grad x_k / |grad x_k|))``, with
        forward differences for the gradient (0 at the last sample), backward differences for the
        divergence and ``|grad x| = sqrt(|grad x|^2 + eps^2)``, ``eps = 1e-3`` (in image units, for
        flat regions). Every component of the unit vector lies in [-1, 1], so ``|div| <= 2 ndim``:
        a larger ``lambda`` could make the divisor ``<= 0`` (sign flips, division by zero) and is
        refused; below the bound the divisor is ``>= 1 - 2 ndim lambda > 0`` (and clamped there
        against rounding). Useful values are small, about 0.002 to 0.02 for images in [0, 1]: on
        the noisy camera of the tests 0.01 is best (22.9 dB against 20.7 for plain RL), while
        0.05 and 0.1 make the multiplicative TV step overshoot (the image's TV rises above plain
        RL's, 21.3 and 18.6 dB).
        0 (the default) is plain RL, the very same computation. With acceleration, the divisor is
        taken at the extrapolated point.

    Returns
    -------
    out : array
        Deconvolved image, same shape, in the image's library and device; float32 for float16 and
        float32 images, float64 otherwise.

    Notes
    -----
    Tested against scikit-image to 1e-4. With an odd-sized psf of sum 1 and ``mode`` 'constant'
    or 'wrap', the second convolution is the adjoint of the first, so the total flux ``sum(f)``
    equals ``sum(image)`` after every iteration (up to the 1e-12 regulariser); an even-sized psf
    (scipy's 'same' centring shifts one step against the other) or 'reflect' does not keep it.
    An even-sized psf has no centre tap: its 'same' convolution and the flipped-psf correlation are
    offset by half a pixel, and RL may then blow up to inf at the borders within tens of
    iterations (scikit-image's does too; Biggs acceleration makes it sooner). Use odd psfs.

    The FFT path computes the psf's spectrum once per call (the flipped psf's is its conjugate for
    odd sizes); it matches the direct path to ~1e-12 relative in float64.
    The CUDA kernels of the accelerated and regularised variants (cuda/rl_variants_cuda.cu) have
    been compiled but not yet run on a GPU.

    References: D. S. C. Biggs and M. Andrews, "Acceleration of iterative image restoration
    algorithms", Applied Optics 36(8), 1997. N. Dey et al., "Richardson-Lucy algorithm with total
    variation regularization for 3D confocal microscope deconvolution", Microscopy Research and
    Technique 69(4), 2006.

    Examples
    --------
    >>> import numpy as np, foveal
    >>> img = np.zeros((5, 5), dtype=np.float32)
    >>> img[2, 2] = 1
    >>> psf = np.ones((3, 3), dtype=np.float32) / 9
    >>> out = foveal.restoration.richardson_lucy(img, psf, num_iter=10)
    >>> out.dtype, out.shape, bool(out[2, 2] == out.max())
    (dtype('float32'), (5, 5), True)

    Accelerated and TV-regularised:

    >>> fast = foveal.restoration.richardson_lucy(img, psf, num_iter=10, acceleration="biggs")
    >>> bool(fast.min() >= 0), bool(fast[2, 2] == fast.max())
    (True, True)
    >>> tv = foveal.restoration.richardson_lucy(img, psf, num_iter=10, regularization=0.01)
    >>> tv.shape
    (5, 5)
    """
    op = "richardson_lucy"
    acc = _acceleration(op, acceleration)
    lam = real(op, "regularization", regularization)
    if acc == 0 and lam == 0:
        return _rl(image, psf, num_iter, clip, filter_epsilon, mode, method)[0]
    return _rl_variant(image, psf, num_iter, clip, filter_epsilon, mode, method, acc, lam)


def _acceleration(op: str, value: Any) -> int:
    if value is None:
        return 0
    if not isinstance(value, str) or value not in ("biggs",):
        raise FovealValueError(f"{op}: acceleration must be None or 'biggs', got {value!r}")
    return 1


def _rl_args(op: str, call: Call, psf: Any, num_iter: Any, filter_epsilon: Any, mode: Any) -> tuple:
    n = _int_arg(op, "num_iter", num_iter, 1)
    fe = 0.0 if filter_epsilon is None else real(op, "filter_epsilon", filter_epsilon)
    if not abs(fe) < float("inf"):
        raise FovealValueError(f"{op}: filter_epsilon must be None or a finite number, got {fe}")
    m = _choice(op, "mode", mode, _RL_MODES)
    if psf is not None:
        pdt = dtype_name(psf)
        if not (pdt == "bool" or pdt.startswith(("int", "uint", "float", "bfloat"))):
            raise FovealTypeError(f"{op}: psf must have a real numeric dtype, got {pdt}")
    return n, fe, m


def _rl_variant(image, psf, num_iter, clip, filter_epsilon, mode, method, acc, lam):  # type: ignore[no-untyped-def]
    op = "richardson_lucy"
    call = Call(op, policy="restoration", image=image, psf=psf)
    n, fe, m = _rl_args(op, call, psf, num_iter, filter_epsilon, mode)
    me = _choice(op, "method", method, _RL_METHODS)
    if me == _RL_METHODS["fft"]:
        raise FovealValueError(
            f"{op}: method 'fft' is not available with acceleration or regularization; "
            "use 'auto', 'direct' or 'separable'"
        )
    if not (0 <= lam < float("inf")):
        raise FovealValueError(f"{op}: regularization must be a finite number >= 0, got {lam}")
    x, p = call.floats("image", "psf")
    _check_image(op, x)
    out = call.empty(tuple(x.shape))
    call.run(_core.richardson_lucy_variant, x, p, out, n, bool(clip), fe, m, acc, lam, me, cancel=cancel_flag())
    return call.wrap(out)


def _check_image(op: str, x: Any) -> None:
    if not 1 <= x.ndim <= 3:
        raise FovealValueError(f"{op}: image must have 1 to 3 dimensions, got shape {tuple(x.shape)}")
    if not _all_finite(x):
        raise FovealValueError(f"{op}: image must hold finite values, got NaN or infinity")


@batchable
def blind_richardson_lucy(
    image: Any,
    psf: Any,
    num_iter: int = 50,
    psf_iter: int = 20,
    *,
    image_iter: int = 1,
    clip: bool = True,
    filter_epsilon: float | None = None,
    mode: str = "constant",
    acceleration: str | None = None,
) -> tuple[Any, Any]:
    """Blind Richardson-Lucy deconvolution: estimates both the image and the psf.

    The image estimate ``x`` starts as ``image`` clamped at 0 and the psf ``k`` as the initial
    psf normalised to sum 1. Each of the ``num_iter`` outer iterations runs ``image_iter`` RL
    updates of ``x`` with ``k`` fixed (``richardson_lucy``'s update), then ``psf_iter`` RL updates
    of ``k`` with ``x`` fixed::

        k <- max(k * corr(image / (conv(x, k) + 1e-12), x) / sum(x), 0);   k <- k / sum(k)

    where ``corr(r, x)[j] = sum_i r[i] x[i + c - j]`` over the psf's support (``c`` its centre): the
    correlation of the ratio with the image, cropped to the k x k window around the centre (the
    gradient of ``conv(x, k)`` with respect to ``k``).

    Parameters
    ----------
    image : array
        1-, 2- or 3-D blurred image, finite, ideally non-negative (negative values are clamped to
        0 in the starting estimate but kept in the ratio). Same dtype rules as
        :func:`richardson_lucy`.
    psf : int, tuple of int, or array
        The psf's shape (an int: that size on every axis; the start is then flat, ``1 / size``)
        or the initial psf (for example ``gaussian_psf(shape, sigma)``): as many dimensions as
        ``image``, an odd size along every axis, no larger than the image, finite values >= 0
        with a sum > 0. Taps that start at 0 stay 0 (the update is multiplicative), so the
        shape also bounds the support.
    num_iter : int, optional
        Outer iterations, >= 1.
    psf_iter : int, optional
        psf updates per outer iteration, >= 1.
    image_iter : int, optional
        Image updates per outer iteration, >= 1. One is the stable choice: several image updates
        with a wrong psf early on sharpen the wrong structure.
    clip : bool, optional
        Clamp the returned image to [-1, 1] (as :func:`richardson_lucy`).
    filter_epsilon : float or None, optional
        As :func:`richardson_lucy`, for every ratio.
    mode : {'constant', 'reflect', 'wrap'}, optional
        Boundary of the convolutions and of the psf correlation. 'wrap' matches a periodic blur.
    acceleration : {None, 'biggs'}, optional
        Biggs-Andrews extrapolation of the image and of the psf iterations, restarted in every
        outer iteration. Off by default: it speeds the psf up at first but, in our tests on
        motion blur, then overshoots.

    Returns
    -------
    deconvolved : array
        The image estimate, shape and dtype as :func:`richardson_lucy`'s result.
    psf : array
        The estimated psf, non-negative and summing to 1, in the image's float dtype and library.

    Notes
    -----
    Blind deconvolution is ill-posed: ``(image, delta)`` is also a fixed point, and the result
    depends on the start, the support and the iteration counts. On noise-free synthetic blur of
    a 128 x 128 ``camera`` (tests/python/test_rl_variants.py) the defaults recover a Gaussian psf
    and a 9-pixel motion psf to a relative L2 error of about 0.2 and 0.45 from a flat start,
    with the image's PSNR above the blurred input's. Each outer iteration costs about
    ``image_iter + psf_iter`` RL iterations. The CUDA kernels (cuda/rl_variants_cuda.cu) have
    been compiled but not yet run on a GPU; the psf is read back to the host for its update.

    The psf update is the Richardson-Lucy rule applied to the psf (Fish, Brinicombe, Pike and
    Walker, "Blind deconvolution by means of the Richardson-Lucy algorithm", JOSA A 12(1), 1995).

    Examples
    --------
    >>> import numpy as np, foveal
    >>> from foveal.restoration import blind_richardson_lucy, gaussian_psf, richardson_lucy
    >>> rng = np.random.default_rng(0)
    >>> img = rng.random((32, 32))
    >>> b = (np.roll(img, -1, axis=1) + img + np.roll(img, 1, axis=1)) / 3  # periodic motion blur
    >>> x, k = blind_richardson_lucy(b, (3, 3), num_iter=5, psf_iter=5, mode="wrap")
    >>> x.shape, k.shape, round(float(k.sum()), 6), bool(k.min() >= 0)
    ((32, 32), (3, 3), 1.0, True)
    >>> x, k = blind_richardson_lucy(b, gaussian_psf((3, 3), 1.0), num_iter=5, psf_iter=5, mode="wrap")
    """
    op = "blind_richardson_lucy"
    shape = _psf_shape_arg(psf)
    call = Call(op, policy="restoration", image=image, psf=None if shape is not None else psf)
    n, fe, m = _rl_args(op, call, None if shape is not None else psf, num_iter, filter_epsilon, mode)
    pi = _int_arg(op, "psf_iter", psf_iter, 1)
    ii = _int_arg(op, "image_iter", image_iter, 1)
    acc = _acceleration(op, acceleration)
    if shape is not None:
        x = call.floats("image")
        if len(shape) == 1 and x.ndim > 1:
            shape = shape * x.ndim
        if any(s < 1 for s in shape):
            raise FovealValueError(f"{op}: psf shape must be positive sizes, got {shape}")
        p = call.empty(shape)  # the flat start, on the image's device
        if _xp(p).__name__ == "torch":
            p.fill_(1.0)
        else:
            p.fill(1.0)
    else:
        x, p = call.floats("image", "psf")
    _check_image(op, x)
    if p.ndim != x.ndim:
        raise FovealValueError(
            f"{op}: psf must have as many dimensions as image ({x.ndim}), got shape {tuple(p.shape)}"
        )
    out = call.empty(tuple(x.shape))
    psf_out = call.empty(tuple(p.shape))
    call.run(_core.blind_richardson_lucy, x, p, out, psf_out, n, pi, ii, bool(clip), fe, m, acc, cancel=cancel_flag())
    return call.wrap(out), call.wrap(psf_out)


def _psf_shape_arg(psf: Any) -> tuple[int, ...] | None:
    """The psf argument as a shape (int or tuple of ints), or None when it is an array."""
    if isinstance(psf, (bool, np.bool_)):
        return None
    if isinstance(psf, (int, np.integer)):
        return (int(psf),)
    if isinstance(psf, tuple) and all(isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))
                                      for v in psf):
        return tuple(int(v) for v in psf)
    return None
