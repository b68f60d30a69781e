# SPDX-License-Identifier: Apache-2.0
"""Total-variation denoising: Chambolle and split Bregman (scikit-image compatible)."""
from __future__ import annotations

from typing import Any

import numpy as np

from .. import _core
from .._arrays import Call, real
from .._errors import FovealTypeError, FovealValueError
from ._batch import batchable, cancel_flag
from ._common import _all_finite, _channel_axis, _contiguous, _float_image, _int_arg, _moveaxis


def _tv_chambolle(image: Any, weight: Any, eps: Any, max_num_iter: Any, channel_axis: Any) -> tuple[Any, list[int]]:
    op = "denoise_tv_chambolle"
    call = Call(op, policy="restoration", image=image)
    w = real(op, "weight", weight)
    if not (0 < w < float("inf")):
        raise FovealValueError(f"{op}: weight must be a finite number > 0, got {w}")
    e = real(op, "eps", eps)
    if not (0 <= e < float("inf")):
        raise FovealValueError(f"{op}: eps must be a finite number >= 0, got {e}")
    n = _int_arg(op, "max_num_iter", max_num_iter, 1)
    ax = _channel_axis(op, channel_axis, image.ndim)
    x = _float_image(call, "image")
    if x.ndim == 0:
        raise FovealValueError(f"{op}: image must have at least 1 dimension, got a 0-d array")
    if not _all_finite(x):
        raise FovealValueError(f"{op}: image must hold finite values, got NaN or infinity")
    if ax is None:
        out = call.empty(tuple(x.shape))
        iters = call.run(_core.denoise_tv_chambolle, x, out, w, e, n, 0, cancel=cancel_flag())
        return call.wrap(out), iters
    xc = _contiguous(_moveaxis(x, ax, 0))
    out = call.empty(tuple(xc.shape))
    iters = call.run(_core.denoise_tv_chambolle, xc, out, w, e, n, 1, cancel=cancel_flag())
    out = _moveaxis(out, 0, ax)
    if isinstance(out, np.ndarray):
        out = np.ascontiguousarray(out)  # skimage returns a C-ordered array
    return call.wrap(out), iters


@batchable
def denoise_tv_chambolle(
    image: Any, weight: float = 0.1, eps: float = 2.0e-4, max_num_iter: int = 200, *, channel_axis: int | None = None
) -> Any:
    """Total-variation denoising by Chambolle's projection algorithm, on nD images.

    Minimises ``sum |grad u| + 1/(2 weight) ||u - image||^2`` (the ROF model), as
    ``skimage.restoration.denoise_tv_chambolle``.

    Parameters
    ----------
    image : array
        Image of 1 to 7 dimensions (plus a channel axis when ``channel_axis`` is given): numpy, or
        cupy / torch / jax (CPU or CUDA). Integer images are rescaled as ``img_as_float`` does.
        Values must be finite.
    weight : float, optional
        Denoising weight, > 0. The greater, the smoother (and the further from ``image``).
    eps : float, optional
        Stopping tolerance, >= 0: with E_n the ROF energy of iteration n (divided by the image
        size), iterations stop when ``|E_{n-1} - E_n| < eps * E_0``. 0 runs ``max_num_iter``.
    max_num_iter : int, optional
        Maximal number of iterations, >= 1 (1 returns the image itself, as in skimage).
    channel_axis : int or None, optional
        Axis of channels; each channel is denoised separately (its own stopping rule).

    Returns
    -------
    out : array
        Denoised image, same shape, in the inputs' library and device; float32 for float16 and
        float32 images, float64 otherwise.

    Notes
    -----
    Same iterates and the same stopping rule as scikit-image: on the CPU the iterates are bit for
    bit skimage's (its order of operations is kept; tested for float32 and float64, 1-D to 4-D),
    with equal iteration counts. Neumann boundaries: the gradient is 0 across the last element of
    each axis. Energies are summed in float64, so on a float32 image an energy change that sits
    exactly at the ``eps`` threshold can stop one iteration apart from skimage's float32 sums.
    With ``eps=0`` the energies are not computed at all (they cannot stop the run).

    Examples
    --------
    >>> import numpy as np, foveal
    >>> img = np.zeros((4, 4), dtype=np.float32)
    >>> img[1:3, 1:3] = 1
    >>> out = foveal.restoration.denoise_tv_chambolle(img, weight=0.1)
    >>> out.dtype, bool(out[1, 1] < 1), bool(out[0, 0] > 0)
    (dtype('float32'), True, True)
    """
    return _tv_chambolle(image, weight, eps, max_num_iter, channel_axis)[0]


def _tv_bregman(
    image: Any, weight: Any, max_num_iter: Any, eps: Any, isotropic: Any, channel_axis: Any
) -> tuple[Any, list[int]]:
    op = "denoise_tv_bregman"
    call = Call(op, policy="restoration", image=image)
    w = real(op, "weight", weight)
    if not (0 < w < float("inf")):
        raise FovealValueError(f"{op}: weight must be a finite number > 0, got {w}")
    n = _int_arg(op, "max_num_iter", max_num_iter, 0)
    e = real(op, "eps", eps)
    if not (0 <= e < float("inf")):
        raise FovealValueError(f"{op}: eps must be a finite number >= 0, got {e}")
    if not isinstance(isotropic, (bool, np.bool_)):
        raise FovealTypeError(f"{op}: isotropic must be a bool, got {type(isotropic).__name__} {isotropic!r}")
    ax = _channel_axis(op, channel_axis, image.ndim)
    shape = tuple(image.shape)
    if ax is None and len(shape) not in (2, 3):
        raise FovealValueError(
            f"{op}: image must have shape (rows, cols) or (rows, cols, channels) when channel_axis is None, got {shape}"
        )
    if ax is not None and len(shape) not in (2, 3):
        raise FovealValueError(
            f"{op}: image must have 2 or 3 dimensions when channel_axis is given, got shape {shape}"
        )
    x = _float_image(call, "image")
    if ax is not None:
        x = _moveaxis(x, ax, -1)
    # skimage: a 2-D image with channel_axis is one channel, the channel axis moved last (a
    # transpose for channel_axis=0) and back
    gray_ax = ax if ax is not None and x.ndim == 2 else None
    if x.shape[0] < 2 or x.shape[1] < 2:
        raise FovealValueError(f"{op}: image must have at least 2 rows and 2 columns, got shape {shape}")
    if not _all_finite(x):
        raise FovealValueError(f"{op}: image must hold finite values, got NaN or infinity")
    planes = x.reshape((1,) + tuple(x.shape)) if x.ndim == 2 else _contiguous(_moveaxis(x, -1, 0))
    planes = _contiguous(planes)
    out = call.empty(tuple(planes.shape))
    iters = call.run(_core.denoise_tv_bregman, planes, out, w, e, n, bool(isotropic), ax is None, cancel=cancel_flag())
    if out.shape[0] == 1:  # skimage squeezes a single channel away
        out = out.reshape(tuple(out.shape[1:]))
        if gray_ax is not None:
            out = _moveaxis(out, -1, gray_ax)
            if isinstance(out, np.ndarray):
                out = np.ascontiguousarray(out)
    else:
        out = _moveaxis(out, 0, -1 if ax is None else ax)
        if isinstance(out, np.ndarray):
            out = np.ascontiguousarray(out)
    return call.wrap(out), iters


@batchable
def denoise_tv_bregman(
    image: Any,
    weight: Any = 5.0,
    max_num_iter: Any = 100,
    eps: Any = 1e-3,
    isotropic: Any = True,
    *,
    channel_axis: Any = None,
) -> Any:
    """Total-variation denoising by split-Bregman iteration, as
    ``skimage.restoration.denoise_tv_bregman``.

    Minimises ``sum |grad u| + weight / 2 * sum (u - image)^2`` (``lambda = 2 weight`` in Goldstein
    and Osher's notation) with one Gauss-Seidel sweep per iteration, on scikit-image's border (the
    image extended by its second row/column at the top/left and its last row/column at the
    bottom/right, held fixed).

    Parameters
    ----------
    image : array_like, (rows, cols) or (rows, cols, channels)
        NumPy, torch, CuPy or JAX array; at least 2 rows and 2 columns, finite. Integer images are
        rescaled as ``skimage.img_as_float`` does. Without ``channel_axis``, the channels of a 3-D
        image are denoised together (one stopping rule for all).
    weight : float, optional
        Data-fidelity weight > 0 (more weight: less smoothing).
    max_num_iter : int, optional
        Maximum number of sweeps, >= 0 (0 returns the image).
    eps : float, optional
        Stop once the root mean square change of a sweep is <= eps (computed in the image dtype,
        as skimage does); >= 0.
    isotropic : bool, optional
        Isotropic (True) or anisotropic TV.
    channel_axis : int or None, optional
        Axis of a 3-D image holding channels, each denoised on its own with its own stopping
        rule (in parallel on the CPU): each channel's result is skimage's for that channel alone.
        A 2-D image with ``channel_axis`` is a single channel, as in skimage: the channel axis is
        moved last for the sweep (``channel_axis=0`` denoises the transposed image) and back.
        skimage's own channel loop agrees on the first channel only, because it starts the d and
        b variables of every later channel from the previous channel's result (a reused buffer).

    Returns
    -------
    out : array
        Same shape (a single channel is squeezed away, as skimage does) and library as
        ``image``; float32 for float32/float16 input, else float64.

    Notes
    -----
    CPU: Gauss-Seidel's dependency order is kept exactly; the sum in each update is reassociated
    and the stopping statistic is summed in float64, so results agree with skimage to about 1e-6
    rather than bit for bit (the tests hold them to 1e-4, with the same sweep count). Sweeps run
    in pipelined blocks (sweep k + 1 follows sweep k row by row); a single plane splits each block
    between two threads, channels run in parallel. With ``eps=0`` a stop (a sweep that leaves the
    image exactly unchanged) recomputes from the start instead of keeping a per-block snapshot.
    CUDA: the same sweep, one image row at a time across the GPU's threads, so it is no faster
    per plane than the CPU; planes run concurrently. It has not been run on a GPU yet.

    Examples
    --------
    >>> import numpy as np
    >>> import foveal.restoration
    >>> img = np.zeros((32, 32), np.float32)
    >>> img[8:24, 8:24] = 1
    >>> noisy = img + np.random.default_rng(0).normal(0, 0.1, img.shape).astype(np.float32)
    >>> out = foveal.restoration.denoise_tv_bregman(noisy, weight=5.0)
    >>> out.shape, out.dtype
    ((32, 32), dtype('float32'))
    >>> bool(np.abs(out - img).mean() < np.abs(noisy - img).mean())
    True
    """
    return _tv_bregman(image, weight, max_num_iter, eps, isotropic, channel_axis)[0]
