# SPDX-License-Identifier: Apache-2.0
"""Richardson-Lucy deconvolution (scikit-image compatible, plus boundary modes)."""
from __future__ import annotations

from typing import Any

from .. import _core
from .._arrays import Call, dtype_name, real
from .._errors import FovealTypeError, FovealValueError
from ._common import _all_finite, _choice, _int_arg


_RL_MODES = {"constant": 0, "reflect": 1, "wrap": 2}
_RL_METHODS = {"auto": 0, "direct": 1, "separable": 2, "fft": 3}


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
    used = call.run(_core.richardson_lucy, x, p, out, n, bool(clip), fe, m, me)
    return call.wrap(out), ("direct", "direct", "separable", "fft")[used]


def richardson_lucy(
    image: Any,
    psf: Any,
    num_iter: int = 50,
    clip: bool = True,
    filter_epsilon: float | None = None,
    *,
    mode: str = "constant",
    method: str = "auto",
) -> Any:
    """Richardson-Lucy deconvolution, as ``skimage.restoration.richardson_lucy``.

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
        reconstruction, else it raises); 'fft' (CPU only) runs each convolution as real FFTs on
        5-smooth padded lengths: zero padding to ``n + k // 2`` per axis for 'constant' (exactly
        the linear convolution cropped to 'same'), the image's own lengths for 'wrap' (circular),
        ``n + k - 1`` with the reflection written into the pad for 'reflect'. 'auto' takes
        'separable' when the psf is rank 1 and that needs fewer taps, else 'direct'; then, on the
        CPU, 'fft' instead when its cost is below half of that one's, with the cost per iteration
        in multiply-adds: ``2 N taps`` (direct, ``taps`` = non-zero psf entries), ``2 N`` x the
        factors' summed taps (separable), ``10 P log2(P) + 8 P`` (fft: four real transforms of
        ``P`` = the padded size, and the pointwise work); ``N`` = the image size. E.g. a 512x512
        image with a 31x31 disk (709 taps) runs 'fft', with a 9x9 non-separable psf 'direct'. On
        CUDA 'auto' never takes 'fft' and 'fft' raises (no CUDA FFT yet). All paths give the same
        result up to rounding.

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
    The FFT path computes the psf's spectrum once per call (the flipped psf's is its conjugate for
    odd sizes); it matches the direct path to ~1e-12 relative in float64.

    Examples
    --------
    >>> import numpy as np, foveal
    >>> img = np.zeros((5, 5), dtype=np.float32)
    >>> img[2, 2] = 1
    >>> psf = np.ones((3, 3), dtype=np.float32) / 9
    >>> out = foveal.restoration.richardson_lucy(img, psf, num_iter=10)
    >>> out.dtype, out.shape, bool(out[2, 2] == out.max())
    (dtype('float32'), (5, 5), True)
    """
    return _rl(image, psf, num_iter, clip, filter_epsilon, mode, method)[0]
