# SPDX-License-Identifier: Apache-2.0
"""foveal.metrics against skimage.metrics (the oracle): values, data_range rules, errors."""
from __future__ import annotations

import math

import numpy as np
import pytest

import foveal
from foveal.metrics import mse, psnr

skimage = pytest.importorskip("skimage")
from skimage.metrics import mean_squared_error, peak_signal_noise_ratio  # noqa: E402

rng = np.random.default_rng(0)
CASES = {
    "uint8": (rng.integers(0, 256, (30, 40), dtype=np.uint8), rng.integers(0, 256, (30, 40), dtype=np.uint8)),
    "uint16": (rng.integers(0, 4000, (20,), dtype=np.uint16), rng.integers(0, 4000, (20,), dtype=np.uint16)),
    "float": (rng.random((10, 10, 3)), rng.random((10, 10, 3))),
    "float32-signed": ((rng.random((9, 9)) * 2 - 1).astype(np.float32), rng.random((9, 9)).astype(np.float32)),
    "int16-signed": (rng.integers(-100, 100, (50,), dtype=np.int16), rng.integers(-100, 100, (50,), dtype=np.int16)),
}


@pytest.mark.parametrize("case", list(CASES))
def test_matches_skimage(case):
    a, b = CASES[case]
    assert mse(a, b) == pytest.approx(mean_squared_error(a, b), rel=1e-12)
    assert psnr(a, b) == pytest.approx(peak_signal_noise_ratio(a, b), rel=1e-12)
    assert psnr(a, b, data_range=7.5) == pytest.approx(peak_signal_noise_ratio(a, b, data_range=7.5), rel=1e-12)


def test_the_same_infinity_in_both_is_nan_without_a_warning():
    # inf - inf: NaN, as skimage gives, but without numpy's "invalid value" warning (an error under
    # warnings-as-errors; found by tools/fuzz_contract.py)
    a = np.array([0.0, np.inf, 1.0])
    assert math.isnan(mse(a, a)) and math.isnan(psnr(a, a, data_range=1.0))
    assert mse(np.array([np.inf]), np.array([0.0])) == math.inf


def test_identical_is_inf_and_known_value():
    a = np.zeros((4, 4))
    assert psnr(a, a) == math.inf and mse(a, a) == 0.0
    assert psnr(np.zeros(4, np.uint8), np.full(4, 255, np.uint8)) == pytest.approx(0.0)
    assert psnr(np.zeros(4), np.full(4, 0.01)) == pytest.approx(40.0)


@pytest.mark.parametrize(
    "call,exc,match",
    [
        (lambda: psnr(np.full(3, 255.0), np.zeros(3)), foveal.FovealValueError, "pass data_range"),
        (lambda: psnr(np.zeros(3), np.zeros(4)), foveal.FovealValueError, "same shape"),
        (lambda: mse([0.0], np.zeros(1)), foveal.FovealTypeError, "image0 must be an array"),
        (lambda: psnr(np.zeros(3), np.zeros(3), data_range=0), foveal.FovealValueError, "data_range must be"),
        (lambda: psnr(np.zeros(3), np.zeros(3), data_range="1"), foveal.FovealTypeError, "data_range must be"),
        (lambda: mse(np.zeros(3, complex), np.zeros(3)), foveal.FovealTypeError, "real numeric dtype"),
        # found by tools/fuzz_contract.py: NaN and a "mean of empty slice" warning (as skimage)
        (lambda: mse(np.zeros((0, 3)), np.zeros((0, 3))), foveal.FovealValueError,
         r"image0 and image1 must not be empty, got shape \(0, 3\)"),
        (lambda: psnr(np.zeros(0), np.zeros(0), data_range=1), foveal.FovealValueError, "must not be empty"),
    ],
)
def test_errors(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_docstring_examples():
    import doctest

    result = doctest.testmod(foveal.metrics)
    assert result.attempted >= 2 and result.failed == 0


def test_cpu_arrays_of_other_libraries_are_read():
    # found by tools/fuzz_contract.py: the metrics and add_noise refused torch CPU tensors, which
    # wiener and every kernel op take
    import torch

    from foveal.restoration import add_noise

    rng = np.random.default_rng(3)
    a, b = rng.uniform(0, 1, (12, 13)), rng.uniform(0, 1, (12, 13))
    ta, tb = torch.from_numpy(a), torch.from_numpy(b).requires_grad_(True)
    assert mse(ta, tb) == mse(a, b)
    assert psnr(ta, tb) == psnr(a, b)
    assert foveal.metrics.ssim(ta, tb, data_range=1.0) == foveal.metrics.ssim(a, b, data_range=1.0)
    np.testing.assert_array_equal(add_noise(ta, "gaussian", rng=5), add_noise(a, "gaussian", rng=5))
