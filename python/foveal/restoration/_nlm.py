# SPDX-License-Identifier: Apache-2.0
"""Non-local means: scikit-image style and OpenCV style."""
from __future__ import annotations

from typing import Any

import numpy as np

from .. import _core
from .._arrays import Call, real, register_policy
from .._errors import FovealNotImplementedError, FovealTypeError, FovealValueError
from ._batch import batchable, cancel_flag
from ._common import _all_finite, _channel_axis, _contiguous, _float_image, _int_arg, _moveaxis, _xp


# -- non-local means --------------------------------------------------------------------------------


@batchable
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
        2-D or 3-D image (4-D with ``fast_mode=True``, on the CPU), plus a channel axis when
        ``channel_axis`` is given (numpy, or cupy /
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
    Differences from skimage: even ``patch_size`` and images smaller than the patch raise; the
    classic mode also accepts 3-D images with channels; where
    skimage's fast exponential overflows (a classic-mode distance above ~700, i.e. a very
    small ``h``) foveal gives weight 0 and skimage a garbage value. On CUDA, grey 2-D fast
    mode runs a tiled kernel (separable box sums in shared memory: its cost does not depend on
    ``patch_size``); colour, 3-D and the classic mode run a direct version (one thread per pixel;
    fast mode there costs O(patch_size**D) per shift).

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
    if len(spatial) not in (2, 3, 4) or (len(spatial) == 4 and not fast_mode):
        extra = " besides the channel axis" if ax is not None else " (pass channel_axis for a colour image)"
        four = " (4 with fast_mode=True)" if len(spatial) == 4 else ""
        raise FovealNotImplementedError(
            f"{op}: image must have 2 or 3 spatial dimensions{four}{extra}, got shape {shape}"
        )
    if min(spatial) < ps:
        raise FovealValueError(f"{op}: image must be at least patch_size ({ps}) along every spatial axis, got shape {shape}")
    if ax is not None and shape[ax] == 0:
        raise FovealValueError(f"{op}: image must have at least one channel, got shape {shape}")
    x = call.floats("image") if preserve_range else _float_image(call, "image")
    if not _all_finite(x):
        raise FovealValueError(f"{op}: image must hold finite values, got NaN or infinity")
    xc = x.reshape(shape + (1,)) if ax is None else _contiguous(_moveaxis(x, ax, -1))
    out = call.empty(tuple(xc.shape))
    call.run(_core.denoise_nl_means, xc, out, ps, pd, hv, sg, bool(fast_mode), cancel=cancel_flag())
    if ax is None:
        out = out.reshape(shape)
    else:
        out = _moveaxis(out, -1, ax)
        if isinstance(out, np.ndarray):
            out = np.ascontiguousarray(out)
    return call.wrap(out)


def _opencv_nlm_policy(op: str, dtypes: dict[str, str], cuda: bool) -> str:
    """OpenCV's fastNlMeansDenoising depths: uint8 (L2 norm) and uint16 (L1 norm), kept."""
    arg, dt = next(iter(dtypes.items()))
    if dt not in ("uint8", "uint16"):
        raise FovealTypeError(f"{op}: {arg} must be uint8 or uint16, got {dt}")
    return dt


register_policy("nlm_opencv", _opencv_nlm_policy)

#: OpenCV's default hForColorComponents (fastNlMeansDenoisingColored).
_OPENCV_H_COLOR = 3.0


@batchable
def fast_nl_means(
    image: Any,
    h: float = 3,
    template_window_size: int = 7,
    search_window_size: int = 21,
    *,
    h_color: float | None = None,
    channel_order: str = "bgr",
) -> Any:
    """Non-local means of a uint8 or uint16 image, as OpenCV's ``cv2.fastNlMeansDenoising`` and
    ``cv2.fastNlMeansDenoisingColored``, pixel for pixel.

    Every pixel is the weighted mean of the ``search_window_size``-square window around it; a
    pixel weighs by the distance ``d`` between the ``template_window_size`` patches (t x t)
    around the two, through OpenCV's fixed-point table: with S the search size, vmax the largest
    value of the dtype, ``M = min(A_max // (S**2 * vmax), 2**31 - 1)`` (A = int32 for uint8,
    int64 for uint16), ``k = ceil(log2(t**2))`` and C channels, the weight is ``W[d >> k]``,
    ``W[a] = round(M * exp(-a' / (C h**2)))`` for the L2 norm (d = sum of squared differences) or
    ``round(M * exp(-a'**2 / (C h**2)))`` for the L1 norm (d = sum of absolute differences),
    ``a' = a * 2**k / t**2``, 0 below ``0.001 M``; the result is
    ``(sum W x + sum W // 2) // sum W``. The border is reflect-101 (OpenCV's default). The cost
    does not depend on ``template_window_size`` (running sums).

    - uint8 (rows, cols): ``cv2.fastNlMeansDenoising(image, None, h, t, S)`` (L2 norm);
    - uint8 (rows, cols, 3), a colour image in OpenCV's **BGR** channel order (pass
      ``channel_order='rgb'`` for RGB): ``cv2.fastNlMeansDenoisingColored(image, None, h,
      h_color, t, S)``: the image goes to 8-bit CIE L*a*b* (OpenCV's ``COLOR_LBGR2Lab``, no
      gamma), L is denoised with ``h``, the (a, b) pair jointly with ``h_color``, and the result
      goes back to BGR (``COLOR_Lab2LBGR``), all in OpenCV's fixed-point arithmetic;
    - uint16 (rows, cols) or (rows, cols, C), C <= 4: ``cv2.fastNlMeansDenoising(image, None,
      [h], t, S, cv2.NORM_L1)`` (OpenCV's only norm for 16 bits; channels denoised jointly, no
      colour conversion). ``h`` is in grey levels of the 16-bit image.

    Parameters
    ----------
    image : array
        uint8 grey (rows, cols) or BGR (rows, cols, 3) image, or uint16 (rows, cols[, C]) image
        (numpy, or cupy / torch / jax, CPU or CUDA).
    h : float, optional
        Filter strength (of the luminance, for colour images), > 0: the larger, the smoother.
    template_window_size : int, optional
        Patch size, odd >= 1 (OpenCV's recommended 7).
    search_window_size : int, optional
        Search window size, odd >= 1 (OpenCV's recommended 21); the cost grows with its square.
    h_color : float or None, optional
        Filter strength of the colour components (a, b) of a uint8 colour image, > 0; None is
        OpenCV's default, 3. Must be None for other images.
    channel_order : {'bgr', 'rgb'}, optional
        Channel order of a uint8 colour image (OpenCV's is BGR).

    Returns
    -------
    out : array
        Denoised image, same shape and dtype, in the image's library.

    Notes
    -----
    Tested equal to OpenCV 5.0's cv2.fastNlMeansDenoising (uint8 L2, uint16 L1) and
    cv2.fastNlMeansDenoisingColored pixel for pixel; the Lab conversions equal cv2.cvtColor on
    all 2**24 colours. On CUDA a tiled kernel runs (separable integer box sums in shared memory:
    its cost does not depend on ``template_window_size``), or, when the weight table's nonzero
    part exceeds 8192 entries, a direct one (cost growing with ``template_window_size**2``); both
    compute the same integers as the CPU. OpenCV rounds even window sizes down to odd ones; foveal refuses them. The patch distances are int32 (as OpenCV's), which bounds
    ``template_window_size`` (181 for grey uint8 and uint16, 129 for colour).

    Examples
    --------
    >>> import numpy as np, foveal
    >>> img = np.full((16, 16), 100, np.uint8)
    >>> img[4:12, 4:12] = 200
    >>> noisy = np.clip(img + np.random.default_rng(0).normal(0, 10, img.shape), 0, 255).astype(np.uint8)
    >>> out = foveal.restoration.fast_nl_means(noisy, h=10)
    >>> out.dtype, bool(np.abs(out.astype(int) - img).mean() < np.abs(noisy.astype(int) - img).mean())
    (dtype('uint8'), True)
    >>> rgb = np.stack([noisy, noisy // 2, 255 - noisy], axis=-1)
    >>> foveal.restoration.fast_nl_means(rgb, h=10, h_color=10, channel_order="rgb").shape
    (16, 16, 3)
    """
    op = "fast_nl_means"
    call = Call(op, policy="nlm_opencv", image=image)
    hv = real(op, "h", h)
    if not 0 < hv < float("inf"):
        raise FovealValueError(f"{op}: h must be a finite number > 0, got {hv}")
    t = _int_arg(op, "template_window_size", template_window_size, 1)
    s = _int_arg(op, "search_window_size", search_window_size, 1)
    for name, v in (("template_window_size", t), ("search_window_size", s)):
        if v % 2 == 0:
            raise FovealValueError(f"{op}: {name} must be an odd integer >= 1, got {v}")
    if channel_order not in ("bgr", "rgb"):
        raise FovealValueError(f"{op}: channel_order must be 'bgr' or 'rgb', got {channel_order!r}")
    x = call.floats("image")
    shape = tuple(x.shape)
    colour = call.dtype == "uint8" and len(shape) == 3
    if call.dtype == "uint8" and not (len(shape) == 2 or (colour and shape[2] == 3)):
        raise FovealValueError(
            f"{op}: a uint8 image must be grey (rows, cols) or colour (rows, cols, 3), got shape {shape}"
        )
    if call.dtype == "uint16" and not (len(shape) == 2 or (len(shape) == 3 and 1 <= shape[2] <= 4)):
        raise FovealValueError(f"{op}: a uint16 image must have shape (rows, cols) or (rows, cols, C), C <= 4, got shape {shape}")
    if not colour and h_color is not None:
        raise FovealValueError(f"{op}: h_color must be None except for uint8 colour images, got {h_color!r}")
    out = call.empty(shape)
    if not colour:
        call.run(_core.fast_nl_means, x, out, hv, t, s, cancel=cancel_flag())
        return call.wrap(out)
    hc = _OPENCV_H_COLOR if h_color is None else real(op, "h_color", h_color)
    if not 0 < hc < float("inf"):
        raise FovealValueError(f"{op}: h_color must be None or a finite number > 0, got {hc}")
    if channel_order == "rgb":
        x = _flip_channels(x)
    call.run(_core.fast_nl_means_colored, x, out, hv, hc, t, s, cancel=cancel_flag())
    if channel_order == "rgb":
        out = _flip_channels(out)
    return call.wrap(out)


def _flip_channels(x: Any) -> Any:
    """``x[..., ::-1]``, C-contiguous, in x's library."""
    if _xp(x).__name__ == "torch":
        return x.flip(-1).contiguous()
    return _contiguous(x[..., ::-1])
