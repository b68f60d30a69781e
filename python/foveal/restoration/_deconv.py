# SPDX-License-Identifier: Apache-2.0
"""Wiener-Hunt deconvolution, supervised and unsupervised (scikit-image compatible), on foveal's FFT."""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from .. import _fft
from .._arrays import host_array
from .._errors import FovealTypeError, FovealValueError
from ._batch import batchable

# The unitary transforms of skimage.restoration.uft, over the last `k` axes.


def _ufft(x: np.ndarray, k: int, is_real: bool) -> np.ndarray:
    return _fft.rfftn(x, k, "ortho") if is_real else _fft.fftn(x, k, "ortho")


def _uifft(x: np.ndarray, k: int, is_real: bool, shape: tuple[int, ...]) -> np.ndarray:
    return _fft.irfftn(x, shape[-k:], k, "ortho") if is_real else _fft.ifftn(x, k, "ortho")


def _float_type(dt: np.dtype) -> type:
    """skimage's _supported_float_type for real dtypes: float16 and float32 -> float32, else float64."""
    return np.float32 if dt in (np.float16, np.float32) else np.float64


def _tf_shape(shape: tuple[int, ...], is_real: bool) -> tuple[int, ...]:
    return shape[:-1] + (shape[-1] // 2 + 1,) if is_real else shape


def _ir2tf(op: str, name: str, ir: np.ndarray, shape: tuple[int, ...], is_real: bool, wrap: bool = False) -> np.ndarray:
    """Transfer function of an impulse response centred on the origin of the image grid (as
    skimage's uft.ir2tf: ir[m] sits at (m - k // 2) mod n per axis), unnormalised transform.
    `wrap`: an impulse response longer than the image wraps around (sums) instead of failing."""
    if wrap:
        ft = _float_type(ir.dtype)
        pad = np.zeros(shape, dtype=ft)
        idx = np.ix_(*[(np.arange(k) - k // 2) % n for k, n in zip(ir.shape, shape)])
        np.add.at(pad, idx, ir)
        tf = _fft.rfftn(pad) if is_real else _fft.fftn(pad)
        return tf.astype(np.promote_types(ft, np.complex64), copy=False)
    if ir.ndim != len(shape) or any(k > n for k, n in zip(ir.shape, shape)):
        raise FovealValueError(
            f"{op}: {name} as an impulse response must have the image's {len(shape)} dimensions and be no "
            f"larger along any axis, got shape {ir.shape} for image shape {shape}"
        )
    ft = _float_type(ir.dtype)
    pad = np.zeros(shape, dtype=ft)
    idx = np.ix_(*[(np.arange(k) - k // 2) % n for k, n in zip(ir.shape, shape)])
    pad[idx] = ir
    tf = _fft.rfftn(pad) if is_real else _fft.fftn(pad)
    return tf.astype(np.promote_types(ft, np.complex64), copy=False)


def _laplacian_tf(shape: tuple[int, ...], is_real: bool) -> np.ndarray:
    """Transfer function of the discrete Laplacian (2 ndim at the centre, -1 at each axis neighbour;
    periodic on axes shorter than 3, where skimage fails)."""
    nd = len(shape)
    ir = np.zeros((3,) * nd)
    for a in range(nd):
        for side in (0, 2):
            ir[tuple(side if b == a else 1 for b in range(nd))] = -1.0
    ir[(1,) * nd] = 2.0 * nd
    return _ir2tf("laplacian", "reg", ir, shape, is_real, wrap=True)


def _real_image(op: str, image: Any, ndims: tuple[int, ...]) -> np.ndarray:
    a = np.asarray(host_array(op, "image", image))
    if a.dtype.kind not in "biuf":
        raise FovealTypeError(f"{op}: image must have a real numeric dtype, got {a.dtype}")
    if a.ndim not in ndims:
        want = " or ".join(str(d) for d in ndims) if len(ndims) < 4 else f"{ndims[0]} to {ndims[-1]}"
        raise FovealValueError(f"{op}: image must have {want} dimensions, got shape {a.shape}")
    if a.size == 0:
        raise FovealValueError(f"{op}: image must not be empty, got shape {a.shape}")
    a = a.astype(_float_type(a.dtype), copy=False)
    if not np.isfinite(a).all():
        raise FovealValueError(f"{op}: image must hold finite values, got NaN or infinity")
    return a


def _operators(op: str, image: np.ndarray, psf: Any, reg: Any, is_real: bool) -> tuple[np.ndarray, np.ndarray]:
    """(transfer function, regulariser transfer function) as skimage decides them: a complex `reg`
    is a transfer function, a real one an impulse response (None: the Laplacian); only the real
    parts are kept; `psf` is a transfer function when its shape equals the regulariser's."""
    shape = image.shape
    ft = image.dtype.type
    tfs = _tf_shape(shape, is_real)
    psf, reg = host_array(op, "psf", psf), host_array(op, "reg", reg)
    for name, v in (("psf", psf), ("reg", reg)):
        if v is not None and np.asarray(v).dtype.kind not in "biufc":
            raise FovealTypeError(f"{op}: {name} must have a numeric dtype, got {np.asarray(v).dtype}")
    if reg is None:
        reg = _laplacian_tf(shape, is_real)
    else:
        reg = np.asarray(reg)
        if not np.iscomplexobj(reg):
            reg = _ir2tf(op, "reg", reg, shape, is_real)
        elif reg.shape != tfs:
            raise FovealValueError(
                f"{op}: reg as a transfer function (complex) must have shape {tfs} for image shape {shape} "
                f"and is_real={is_real}, got {reg.shape}"
            )
    psf = np.asarray(psf)
    if psf.size == 0:
        raise FovealValueError(f"{op}: psf must not be empty, got shape {psf.shape}")
    psf = psf.real.astype(ft, copy=False)
    reg = reg.real.astype(ft, copy=False)
    tf = psf if psf.shape == reg.shape else _ir2tf(op, "psf", psf, shape, is_real)
    for name, v in (("psf", tf), ("reg", reg)):
        if not np.isfinite(v).all():
            raise FovealValueError(f"{op}: {name} must hold finite values, got NaN or infinity")
    root_max = math.sqrt(float(np.finfo(ft).max))  # |H|^2 and |reg|^2 must be finite in ft
    if float(np.abs(tf).max()) >= root_max or float(np.abs(reg).max()) >= root_max:
        raise FovealValueError(
            f"{op}: psf and reg must be small enough that their transfer functions squared fit {np.dtype(ft).name} "
            "(the filter divides by those squares); scale them down"
        )
    if np.any((tf == 0) & (reg == 0)):  # the filter would divide 0 by 0 there (NaN, as skimage gives)
        raise FovealValueError(
            f"{op}: psf and reg are both zero at some frequency (e.g. a psf of zero sum with the default "
            "Laplacian reg, or an all-zero psf), so the filter is undefined there"
        )
    return tf, reg


def _clip(x: np.ndarray) -> None:
    x[x > 1] = 1
    x[x < -1] = -1


@batchable
def wiener(image: Any, psf: Any, balance: float, reg: Any = None, is_real: bool = True, clip: bool = True) -> np.ndarray:
    r"""Wiener-Hunt deconvolution, as ``skimage.restoration.wiener``.

    With :math:`F` the unitary DFT, :math:`\Lambda_H` the psf's transfer function and
    :math:`\Lambda_D` the regulariser's, the result is
    :math:`F^{-1}\big(\overline{\Lambda_H} F y / (|\Lambda_H|^2 + \lambda |\Lambda_D|^2)\big)`:
    a circular deconvolution (the image is taken as periodic).

    Parameters
    ----------
    image : array_like
        Degraded image, any number of dimensions >= 1, real, finite: a numpy array or a CPU
        array of torch / cupy / jax (read through ``numpy.asarray``; the result is a numpy array).
    psf : array_like
        Impulse response, as many dimensions as ``image`` and no larger, its centre
        (index ``k // 2`` per axis) on the origin; or a transfer function in the
        ``skimage.restoration.uft`` layout: any array whose shape equals the regulariser's transfer
        function, i.e. ``image.shape`` with the last axis ``n // 2 + 1`` (``numpy.fft.rfftn``'s
        half spectrum) when ``is_real``, ``image.shape`` (``fftn``'s) otherwise. As in skimage,
        only the real part of ``psf`` is used.
    balance : float
        Regularisation weight :math:`\lambda` (larger: smoother).
    reg : array_like, optional
        Regulariser: a real impulse response or a complex transfer function (same layout as
        ``psf``; only its real part is used). Default: the discrete Laplacian (``2 ndim`` at the
        centre, ``-1`` at each axis neighbour), ``skimage.restoration.uft.laplacian``'s (periodic
        along axes shorter than 3, where skimage's fails).
    is_real : bool, optional
        Use the real-input transforms (half spectra); with False the full complex transforms run
        and, as in skimage, the result is complex.
    clip : bool, optional
        Clamp the result to [-1, 1] (for complex results, numpy's ordering of complex numbers).

    Returns
    -------
    out : numpy.ndarray
        Deconvolved image, ``image``'s shape; float32 for float16 and float32 images, float64
        for other real dtypes (integers are converted without rescaling, as skimage does);
        complex64 / complex128 when ``is_real`` is False.

    Notes
    -----
    Matches scikit-image to rounding (tested to 1e-10 in float64). The transforms run on foveal's
    FFT (:mod:`foveal._fft`), in single precision for float32 images, as skimage's scipy.fft does.

    Examples
    --------
    >>> import numpy as np, foveal
    >>> x = np.zeros((32, 32)); x[8:24, 8:24] = 1
    >>> psf = np.ones((5, 5)) / 25
    >>> tf = np.fft.rfft2(np.roll(np.pad(psf, ((0, 27), (0, 27))), (-2, -2), (0, 1)))
    >>> y = np.fft.irfft2(np.fft.rfft2(x) * tf, x.shape)     # circular blur
    >>> out = foveal.restoration.wiener(y, psf, balance=1e-3)
    >>> out.shape, out.dtype, bool(abs(out - x).mean() < abs(y - x).mean())
    ((32, 32), dtype('float64'), True)
    """
    op = "wiener"
    im = _real_image(op, image, tuple(range(1, 33)))
    lam = _finite(op, "balance", balance)
    tf, reg = _operators(op, im, psf, reg, bool(is_real))
    k = im.ndim
    # balance saturates at the dtype's largest value: past it, lam * 0 would be inf * 0 = NaN where reg is 0
    big = float(np.finfo(tf.dtype).max)
    lam = min(max(lam, -big), big)
    with np.errstate(over="ignore"):  # a huge balance: inf, a filter of 0 there, as it should be
        den = np.abs(tf) ** 2 + lam * np.abs(reg) ** 2
    if np.any(den == 0):
        raise FovealValueError(
            f"{op}: |H|^2 + balance |reg|^2 is 0 at some frequency (balance={lam}), so the filter divides by 0 there"
        )
    wf = np.conj(tf) / den
    out = _uifft(wf * _ufft(im, k, bool(is_real)), k, bool(is_real), im.shape)
    if clip:
        _clip(out)
    return out


def _finite(op: str, name: str, v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
        raise FovealTypeError(f"{op}: {name} must be a real number, got {type(v).__name__}")
    f = float(v)
    if not math.isfinite(f):
        raise FovealValueError(f"{op}: {name} must be finite, got {f}")
    return f


def _quad_norm(x: np.ndarray) -> Any:
    """skimage's uft.image_quad_norm: the energy of a half spectrum (all bins but column 0 count
    twice) unless the last two axes are equal, then the plain sum of squares."""
    if x.shape[-1] != x.shape[-2]:
        return 2 * np.sum(np.sum(np.abs(x) ** 2, axis=-1), axis=-1) - np.sum(np.abs(x[..., 0]) ** 2, axis=-1)
    return np.sum(np.sum(np.abs(x) ** 2, axis=-1), axis=-1)


_PARAMS = {"threshold": 1e-4, "max_num_iter": 200, "min_num_iter": 30, "burnin": 15, "callback": None}


def _user_params(op: str, user_params: Any) -> dict[str, Any]:
    params = dict(_PARAMS)
    if user_params is None:
        return params
    if not isinstance(user_params, dict):
        raise FovealTypeError(f"{op}: user_params must be a dict or None, got {type(user_params).__name__}")
    unknown = sorted(set(user_params) - set(_PARAMS))
    if unknown:
        raise FovealValueError(f"{op}: user_params has unknown keys {unknown}; accepted: {sorted(_PARAMS)}")
    params.update(user_params)
    for key in ("max_num_iter", "min_num_iter", "burnin"):
        v = params[key]
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 0:
            raise FovealValueError(f"{op}: user_params['{key}'] must be an integer >= 0, got {v!r}")
    if params["max_num_iter"] < params["burnin"] + 2:
        raise FovealValueError(
            f"{op}: user_params['max_num_iter'] must be >= burnin + 2 (so that samples are averaged), "
            f"got max_num_iter={params['max_num_iter']} with burnin={params['burnin']}"
        )
    params["threshold"] = _finite(op, "user_params['threshold']", params["threshold"])
    if params["callback"] is not None and not callable(params["callback"]):
        raise FovealTypeError(f"{op}: user_params['callback'] must be callable or None, got {params['callback']!r}")
    return params


def _one_rng_per_image(kwargs: dict[str, Any], n: int) -> list[dict[str, Any]]:
    """A batch's random generators: a seed (or None) gives each image the generator a single call
    would make of it; a Generator gives n independent children, drawn from it in order."""
    rng = kwargs.get("rng")
    if isinstance(rng, np.random.Generator):
        seeds = rng.integers(0, 2**63 - 1, size=n, dtype=np.int64)
        return [{**kwargs, "rng": np.random.default_rng(int(s))} for s in seeds]
    return [dict(kwargs) for _ in range(n)]


def _stack_with_chains(results: list[Any], axis: int) -> tuple[Any, list[dict[str, list[float]]]]:
    return np.stack([r[0] for r in results], axis=axis), [r[1] for r in results]


@batchable(item_kwargs=_one_rng_per_image, stack=_stack_with_chains)
def unsupervised_wiener(
    image: Any,
    psf: Any,
    reg: Any = None,
    user_params: dict[str, Any] | None = None,
    is_real: bool = True,
    clip: bool = True,
    *,
    rng: Any = None,
) -> tuple[np.ndarray, dict[str, list[float]]]:
    """Unsupervised Wiener-Hunt deconvolution, as ``skimage.restoration.unsupervised_wiener``.

    The noise and prior precisions are estimated with a Gibbs sampler (Orieux, Giovannelli and
    Rodet, J. Opt. Soc. Am. A 27, 2010); the result is the empirical mean of the image samples
    after the burn-in. Each iteration draws, in this order, two ``rng.standard_normal`` arrays of
    the spectrum's shape and two ``rng.gamma`` values, as skimage does, so a given seed gives
    skimage's result (to rounding).

    Parameters
    ----------
    image : array_like
        Degraded 2-D image, real and finite.
    psf : array_like
        Impulse response or transfer function, as for :func:`wiener`.
    reg : array_like, optional
        Regulariser, as for :func:`wiener` (default: the Laplacian).
    user_params : dict, optional
        Sampler settings (unknown keys are an error): ``threshold`` (1e-4; stop when the relative
        change of the mean falls below it), ``burnin`` (15 samples left out of the mean),
        ``min_num_iter`` (30), ``max_num_iter`` (200, at least ``burnin + 2``), ``callback``
        (called with each image sample, in Fourier space).
    is_real : bool, optional
        Real-input transforms (half spectra); False: full transforms and a complex result.
    clip : bool, optional
        Clamp the result to [-1, 1].
    rng : numpy.random.Generator or int, optional
        The generator, or a seed for ``numpy.random.default_rng``.

    Returns
    -------
    out : numpy.ndarray
        The posterior mean; dtypes as :func:`wiener`'s.
    chains : dict
        ``'noise'`` and ``'prior'``: the lists of sampled precisions (starting with 1). For a
        batch (``batch_axis``, or a list of images), a list of them, one per image; each image
        draws from its own generator: the one a single call would make of an integer ``rng``
        (or None), or, for a ``numpy.random.Generator``, a child seeded from it in image order.

    Examples
    --------
    >>> import numpy as np, foveal
    >>> rng = np.random.default_rng(0)
    >>> y = rng.random((32, 32))
    >>> out, chains = foveal.restoration.unsupervised_wiener(y, np.ones((3, 3)) / 9, rng=1)
    >>> out.shape, sorted(chains), chains['noise'][0]
    ((32, 32), ['noise', 'prior'], 1)
    """
    op = "unsupervised_wiener"
    im = _real_image(op, image, (2,))
    params = _user_params(op, user_params)
    real = bool(is_real)
    tf, reg = _operators(op, im, psf, reg, real)
    ft = im.dtype.type
    rng = np.random.default_rng(rng)

    x_postmean = np.zeros(tf.shape, dtype=ft)
    prev_x_postmean = np.zeros(tf.shape, dtype=ft)
    delta = np.nan
    gn_chain: list[Any] = [1]
    gx_chain: list[Any] = [1]
    areg2 = np.abs(reg) ** 2  # finite: _operators refuses larger transfer functions
    atf2 = np.abs(tf) ** 2
    data_spectrum = _ufft(im, 2, real)
    burnin = params["burnin"]
    iteration = 0
    for iteration in range(params["max_num_iter"]):
        precision = gn_chain[-1] * atf2 + gx_chain[-1] * areg2
        r1 = rng.standard_normal(data_spectrum.shape).astype(ft, copy=False)
        r2 = rng.standard_normal(data_spectrum.shape).astype(ft, copy=False)
        excursion = np.sqrt(0.5 / precision) * (r1 + 1j * r2)
        wiener_filter = gn_chain[-1] * np.conj(tf) / precision
        x_sample = wiener_filter * data_spectrum + excursion
        if params["callback"]:
            params["callback"](x_sample)
        gn_chain.append(rng.gamma(im.size / 2, 2 / _quad_norm(data_spectrum - x_sample * tf)))
        gx_chain.append(rng.gamma((im.size - 1) / 2, 2 / _quad_norm(x_sample * reg)))
        if iteration > burnin:
            x_postmean = prev_x_postmean + x_sample
        if iteration > burnin + 1:
            current = x_postmean / (iteration - burnin)
            previous = prev_x_postmean / (iteration - burnin - 1)
            delta = np.sum(np.abs(current - previous)) / np.sum(np.abs(x_postmean)) / (iteration - burnin)
        prev_x_postmean = x_postmean
        if iteration > params["min_num_iter"] and delta < params["threshold"]:
            break
    x_postmean = x_postmean / (iteration - burnin)
    out = _uifft(x_postmean, 2, real, im.shape)
    if clip:
        _clip(out)
    return out, {"noise": gn_chain, "prior": gx_chain}
