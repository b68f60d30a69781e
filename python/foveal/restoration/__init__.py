# SPDX-License-Identifier: Apache-2.0
"""Image restoration, with scikit-image's names, signatures and semantics (``skimage.restoration``).

dtype policy ('restoration', scikit-image's): float32 stays float32, float64 stays float64,
float16 computes and returns float32; integer and bool images are converted as
``skimage.img_as_float`` does (unsigned: ``x / max``; signed: ``max(x / max, -1)``; bool: 0/1) and
return float64. Inputs are never modified.

Errors: bad values raise :class:`foveal.FovealValueError`, bad types and dtypes
:class:`foveal.FovealTypeError`.
"""
from __future__ import annotations

from . import _common  # noqa: F401  (registers the "restoration" dtype policy)
from ._tv import denoise_tv_bregman, denoise_tv_chambolle  # noqa: F401
from ._rl import richardson_lucy  # noqa: F401
from ._rl import blind_richardson_lucy  # noqa: F401
from ._psf import box_psf, disk_psf, gaussian_psf, motion_psf  # noqa: F401
from ._noise import add_noise  # noqa: F401
from ._bilateral import bilateral_filter, denoise_bilateral  # noqa: F401
from ._nlm import denoise_nl_means, fast_nl_means  # noqa: F401
from ._deconv import unsupervised_wiener, wiener  # noqa: F401

__all__ = [
    "add_noise",
    "bilateral_filter",
    "blind_richardson_lucy",
    "box_psf",
    "denoise_bilateral",
    "denoise_nl_means",
    "denoise_tv_bregman",
    "denoise_tv_chambolle",
    "disk_psf",
    "fast_nl_means",
    "gaussian_psf",
    "motion_psf",
    "richardson_lucy",
    "unsupervised_wiener",
    "wiener",
]
