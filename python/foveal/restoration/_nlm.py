# SPDX-License-Identifier: Apache-2.0
"""Non-local means: scikit-image style and OpenCV style."""
from __future__ import annotations

from typing import Any

import numpy as np

from .. import _core
from .._arrays import Call, real, register_policy
from .._errors import FovealTypeError, FovealValueError
from ._common import _all_finite, _channel_axis, _contiguous, _float_image, _int_arg, _moveaxis


# -- non-local means --------------------------------------------------------------------------------


def denoise_nl_means(
    image: Any,
    patch_size: int = 7,
    patch_distance: int = 11,
    h: float = 0.1,
    fast_mode: bool = True,
    sigma: float = 0.0,
    *,
    preserve_range: bool = False,
    channel_axis: int | None = None,
) -> Any:
    """Non-local means denoising of 2-D and 3-D images, as ``skimage.restoration.denoise_nl_means``.

    Each pixel becomes the weighted mean of the pixels within ``patch_distance`` of it (along
    every axis), a pixel weighing more the more its patch resembles the pixel's own patch. The
    image is padded with numpy's 'reflect' mode. With C channels, s = ``patch_size`` and
    ``sigma`` known, the patch distance is the squared difference summed over channels, minus
    ``2 C sigma**2`` per pixel, and the weight ``exp(-max(distance, 0))`` (computed, as in
    skimage, with Schraudolph's fast approximation of exp, within ~4%):

    - ``fast_mode=True``: distance = sum over the ``(s - 1)**D`` box ``[p - s//2 + 1, p + s//2]``
      (skimage's integral-image box) divided by ``C h**2 s**D``; weight 0 beyond 5. The cost does
      not depend on ``patch_size`` (running box sums per shift).
    - ``fast_mode=False``: every term of the ``s**D`` patch weighted by a Gaussian of standard
      deviation ``(s - 1) / 4`` normalised to sum ``1 / (C h**2)``; only search positions inside
      the image count, and a distance already above 5 at the start of a patch row (plane, in 3-D)
      gives weight 0.

    Parameters
    ----------
    image : array
        2-D or 3-D image, plus a channel axis when ``channel_axis`` is given (numpy, or cupy /
        torch / jax, CPU or CUDA). Values must be finite. Every spatial size must be at least
        ``patch_size``.
    patch_size : int, optional
        Size of the patches, an odd integer >= 1 (skimage silently adds 1 to an even size; foveal
        refuses it).
    patch_distance : int, optional
        Maximal distance, in pixels along each axis, of the patches compared, >= 0.
    h : float, optional
        Cut-off distance in grey levels, > 0: the larger, the more permissive (the smoother).
    fast_mode : bool, optional
        The fast, box-patch formulation (default) or the classic Gaussian-weighted one.
    sigma : float, optional
        Standard deviation of the noise, >= 0; subtracted from the patch distances as above.
    preserve_range : bool, optional
        Keep integer values as they are (converted to float64) instead of rescaling them as
        ``img_as_float`` does.
    channel_axis : int or None, optional
        Axis of the channels, if any; patch distances sum over the channels.

    Returns
    -------
    out : array
        Denoised image, same shape, in the image's library and device; float32 for float16 and
        float32 images, float64 otherwise.

    Notes
    -----
    Tested against scikit-image 0.26 to 1e-4 in both modes (2-D, 2-D with channels, 3-D).
    Differences from skimage: even ``patch_size`` and images smaller than the patch raise; 4-D
    images are not supported; the classic mode also accepts 3-D images with channels; where
    skimage's fast exponential overflows (a classic-mode distance above ~700, i.e. a very
    small ``h``) foveal gives weight 0 and skimage a garbage value. On CUDA a first, direct
    version runs (one thread per pixel; fast mode there costs O(patch_size**D) per shift).

    Examples
    --------
    >>> import numpy as np, foveal
    >>> rng = np.random.default_rng(0)
    >>> img = np.zeros((32, 32))
    >>> img[8:24, 8:24] = 1
    >>> noisy = img + 0.2 * rng.standard_normal(img.shape)
    >>> out = foveal.restoration.denoise_nl_means(noisy, patch_size=5, patch_distance=6, h=0.2)
    >>> out.dtype, bool(np.abs(out - img).mean() < np.abs(noisy - img).mean())
    (dtype('float64'), True)
    """
    op = "denoise_nl_means"
    call = Call(op, policy="restoration", image=image)
    ps = _int_arg(op, "patch_size", patch_size, 1)
    if ps % 2 == 0:
        raise FovealValueError(f"{op}: patch_size must be an odd integer >= 1, got {ps}")
    pd = _int_arg(op, "patch_distance", patch_distance, 0)
    hv = real(op, "h", h)
    if not 0 < hv < float("inf"):
        raise FovealValueError(f"{op}: h must be a finite number > 0, got {hv}")
    sg = real(op, "sigma", sigma)
    if not 0 <= sg < float("inf"):
        raise FovealValueError(f"{op}: sigma must be a finite number >= 0, got {sg}")
    ax = _channel_axis(op, channel_axis, image.ndim)
    shape = tuple(image.shape)
    spatial = [n for i, n in enumerate(shape) if i != ax]
    if len(spatial) not in (2, 3):
        extra = " besides the channel axis" if ax is not None else " (pass channel_axis for a colour image)"
        raise FovealValueError(f"{op}: image must have 2 or 3 spatial dimensions{extra}, got shape {shape}")
    if min(spatial) < ps:
        raise FovealValueError(f"{op}: image must be at least patch_size ({ps}) along every spatial axis, got shape {shape}")
    if ax is not None and shape[ax] == 0:
        raise FovealValueError(f"{op}: image must have at least one channel, got shape {shape}")
    x = call.floats("image") if preserve_range else _float_image(call, "image")
    if not _all_finite(x):
        raise FovealValueError(f"{op}: image must hold finite values, got NaN or infinity")
    xc = x.reshape(shape + (1,)) if ax is None else _contiguous(_moveaxis(x, ax, -1))
    out = call.empty(tuple(xc.shape))
    call.run(_core.denoise_nl_means, xc, out, ps, pd, hv, sg, bool(fast_mode))
    if ax is None:
        out = out.reshape(shape)
    else:
        out = _moveaxis(out, -1, ax)
        if isinstance(out, np.ndarray):
            out = np.ascontiguousarray(out)
    return call.wrap(out)


def _uint8_policy(op: str, dtypes: dict[str, str], cuda: bool) -> str:
    """uint8 images only (OpenCV's L2 fastNlMeansDenoising)."""
    arg, dt = next(iter(dtypes.items()))
    if dt != "uint8":
        raise FovealTypeError(f"{op}: {arg} must be uint8, got {dt}")
    return "uint8"


register_policy("nlm_uint8", _uint8_policy)


def fast_nl_means(
    image: Any, h: float = 3, template_window_size: int = 7, search_window_size: int = 21, *, h_color: float | None = None
) -> Any:
    """Non-local means of a grey uint8 image, as OpenCV's ``cv2.fastNlMeansDenoising`` (L2 norm).

    Every pixel is the weighted mean of the ``search_window_size``-square window around it; a
    pixel weighs by the sum of squared differences ``ssd`` between the ``template_window_size``
    patches (t x t) around the two, through OpenCV's fixed-point table: with S the search size,
    ``M = (2**31 - 1) // (S**2 * 255)`` and ``k = ceil(log2(t**2))``, the weight is
    ``W[ssd >> k]``, ``W[a] = round(M * exp(-a * 2**k / t**2 / h**2))`` (0 below ``0.001 M``),
    and the result ``(sum W x + sum W // 2) // sum W``. The border is reflect-101 (OpenCV's
    default).

    Parameters
    ----------
    image : array
        2-D uint8 grey image (numpy, or a CPU torch tensor / jax array).
    h : float, optional
        Filter strength, > 0: the larger, the smoother.
    template_window_size : int, optional
        Patch size, odd >= 1 (OpenCV's recommended 7).
    search_window_size : int, optional
        Search window size, odd >= 1 (OpenCV's recommended 21); the cost grows with its square.
    h_color : float or None, optional
        For colour images in OpenCV's ``fastNlMeansDenoisingColored``; colour is not supported
        yet, so it must be None.

    Returns
    -------
    out : array
        Denoised uint8 image, same shape, in the image's library.

    Notes
    -----
    Tested equal to cv2.fastNlMeansDenoising (OpenCV 5.0) pixel for pixel. CPU only (CUDA arrays
    raise). OpenCV rounds even window sizes down to odd ones; foveal refuses them. Only uint8
    (OpenCV's L2 norm); uint16 needs OpenCV's L1 norm and is not provided.

    Examples
    --------
    >>> import numpy as np, foveal
    >>> img = np.full((16, 16), 100, np.uint8)
    >>> img[4:12, 4:12] = 200
    >>> noisy = np.clip(img + np.random.default_rng(0).normal(0, 10, img.shape), 0, 255).astype(np.uint8)
    >>> out = foveal.restoration.fast_nl_means(noisy, h=10)
    >>> out.dtype, bool(np.abs(out.astype(int) - img).mean() < np.abs(noisy.astype(int) - img).mean())
    (dtype('uint8'), True)
    """
    op = "fast_nl_means"
    call = Call(op, policy="nlm_uint8", image=image)
    hv = real(op, "h", h)
    if not 0 < hv < float("inf"):
        raise FovealValueError(f"{op}: h must be a finite number > 0, got {hv}")
    t = _int_arg(op, "template_window_size", template_window_size, 1)
    s = _int_arg(op, "search_window_size", search_window_size, 1)
    for name, v in (("template_window_size", t), ("search_window_size", s)):
        if v % 2 == 0:
            raise FovealValueError(f"{op}: {name} must be an odd integer >= 1, got {v}")
    if h_color is not None:
        raise FovealValueError(f"{op}: h_color must be None: colour images are not supported yet, got {h_color!r}")
    if image.ndim != 2:
        raise FovealValueError(f"{op}: image must be a 2-D grey image (rows, cols), got shape {tuple(image.shape)}")
    x = call.floats("image")
    out = call.empty(tuple(x.shape))
    call.run(_core.fast_nl_means, x, out, hv, t, s)
    return call.wrap(out)
