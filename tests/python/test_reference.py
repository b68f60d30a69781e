"""Checks of the oracles themselves (tests/reference), independent of foveal:
the fast element-wise forms agree with the scalar loops, and both agree with
torchvision and with the seed worked examples."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torchvision

from reference.box_data import SCENARIOS, scenario
from reference.box_ref import (
    box_iou_ref,
    compute_dtype,
    iou_one_to_many,
    iou_pair,
    nms_order,
    nms_ref,
    nms_ref_scalar,
    valid_boxes,
)
from reference.tensor_core_ref import tf32_round

A, B, C, D = (1, 1, 4, 4), (2, 2, 5, 5), (3, 3, 6, 6), (7, 7, 9, 9)


def test_seed_oracles_in_reference():
    assert iou_pair(A, B) == 4 / 14
    assert iou_pair(A, C) == 1 / 17
    assert iou_pair(A, D) == 0
    assert iou_pair((50, 50, 150, 150), (100, 100, 200, 200)) == 0.14285714285714285
    keep = nms_ref(np.array([A, B, C, D], float), np.array([0.9, 0.8, 0.7, 0.6]), 0.5)
    assert keep.tolist() == [0, 1, 2, 3]


def test_iou_pair_rounds_in_float32():
    a = (0.1, 0.2, 0.7, 0.9)
    b = (0.3, 0.1, 1.1, 0.8)
    r32 = iou_pair(a, b, np.float32)
    assert isinstance(r32, np.float32)
    # the same expression in float32 with numpy arrays
    a32 = np.asarray(a, np.float32)
    b32 = np.asarray(b, np.float32)
    w = np.minimum(a32[2], b32[2]) - np.maximum(a32[0], b32[0])
    h = np.minimum(a32[3], b32[3]) - np.maximum(a32[1], b32[1])
    inter = w * h
    union = (a32[2] - a32[0]) * (a32[3] - a32[1]) + (b32[2] - b32[0]) * (b32[3] - b32[1])
    assert r32 == inter / (union - inter)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", ["random", "degenerate", "nonfinite_coords", "huge_coords"])
def test_vectorised_iou_equals_scalar_loop(name, dtype):
    b, _, _ = scenario(name, np.random.default_rng(1))
    b = b[:60].astype(dtype)
    loop = box_iou_ref(b, b, dtype)
    for i in range(len(b)):
        row = iou_one_to_many(b[i], b, dtype)
        np.testing.assert_array_equal(row, loop[i])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", SCENARIOS)
def test_nms_ref_equals_scalar_nms(name, dtype):
    rng = np.random.default_rng(2)
    b, s, _ = scenario(name, rng, thr=0.5)
    idx = rng.permutation(len(b))[:90]  # keep the O(N^2) scalar loop short
    b, s = b[idx].astype(dtype), s[idx].astype(dtype)
    for thr in (0.0, 0.3, 0.5, 1.0):
        np.testing.assert_array_equal(
            nms_ref(b, s, thr, dtype), nms_ref_scalar(b, s, thr, dtype)
        )


@pytest.mark.parametrize("name", ["degenerate", "nonfinite_coords"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_contract_validity_rule_is_implied_by_ieee(name, dtype):
    """CONTRACT.md: a box with a NaN/Inf coordinate or non-positive width or
    height has IoU > t with nothing. Under the IEEE formula this holds without
    any special case, for every t in [0, 1]."""
    b, _, _ = scenario(name, np.random.default_rng(3))
    b = b.astype(dtype)
    iou = box_iou_ref(b, b, dtype).astype(np.float64)
    invalid = ~valid_boxes(b, dtype)
    assert invalid.any()
    with np.errstate(invalid="ignore"):
        assert not (iou[invalid] > 0.0).any()
        assert not (iou[:, invalid] > 0.0).any()


def test_nms_order_rules():
    s = np.array([np.nan, -np.inf, np.inf, 0.0, np.nan, -0.0, 0.5, 0.5])
    assert nms_order(s) == [2, 6, 7, 3, 5, 1, 0, 4]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", [n for n in SCENARIOS if n != "nonfinite_scores"])
def test_nms_ref_matches_torchvision(name, dtype):
    for thr in (0.0, 0.5, 0.99):
        b, s, comparable = scenario(name, np.random.default_rng(4), thr=thr)
        assert comparable
        b, s = b.astype(dtype), s.astype(dtype)
        tv = torchvision.ops.nms(torch.from_numpy(b), torch.from_numpy(s), thr).numpy()
        np.testing.assert_array_equal(nms_ref(b, s, thr, dtype), tv)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_box_iou_ref_matches_torchvision(dtype):
    rng = np.random.default_rng(5)
    b1 = scenario("nonfinite_coords", rng)[0][:70].astype(dtype)
    b2 = scenario("degenerate", rng)[0][:50].astype(dtype)
    b = np.concatenate([b1, b2])
    tv = torchvision.ops.box_iou(torch.from_numpy(b), torch.from_numpy(b)).numpy()
    np.testing.assert_array_equal(box_iou_ref(b, b, dtype), tv)


def test_compute_dtype_policy():
    f16, f32, f64 = np.float16, np.float32, np.float64
    assert compute_dtype(f32) == f32
    assert compute_dtype(f64) == f64
    assert compute_dtype(f16) == f32
    assert compute_dtype(f16, device="cuda") == f16
    assert compute_dtype(np.bool_) == f32
    assert compute_dtype(np.int64) == f32
    assert compute_dtype(np.uint8) == f32
    assert compute_dtype(f32, f64) == f64
    assert compute_dtype(np.int64, f32) == f32  # torch-style: widest float after mapping
    assert compute_dtype(np.int64, f64) == f64
    assert compute_dtype(f16, f32, device="cuda") == f32
    assert compute_dtype(np.int16, f32) == f32
    with pytest.raises(TypeError):
        compute_dtype(np.complex64)


def test_tf32_round_reference():
    """The TF32 oracle rounds as cvt.rna.tf32.f32: 10 mantissa bits, ties away from zero."""
    one = 1.0
    ulp = 2.0**-10
    x = np.array([one, one + ulp / 2, one + ulp / 2 - 2.0**-23, -(one + ulp / 2), one + 1.5 * ulp, 3.0e38, np.inf, -0.0],
                 np.float32)
    want = np.array([one, one + ulp, one, -(one + ulp), one + 2 * ulp, 2.9993e38, np.inf, -0.0])
    got = tf32_round(x)
    np.testing.assert_allclose(got[:6].astype(np.float64), want[:6], rtol=2.0**-11)
    np.testing.assert_array_equal(got[[0, 1, 2, 3, 4, 6]], want[[0, 1, 2, 3, 4, 6]].astype(np.float32))
    assert np.isinf(got[6]) and np.signbit(got[7]) and got[7] == 0
    assert (got.view(np.uint32)[np.isfinite(got)] & 0x1FFF == 0).all()
    assert np.isnan(tf32_round(np.float32(np.nan)))
