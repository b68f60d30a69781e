"""foveal.ops.box_iou against the float64/float32 NumPy oracle (tests/reference),
torchvision.ops.box_iou, the seed worked examples (I1-I3) and properties."""

from __future__ import annotations

import functools

import numpy as np
import pytest
import torch
import torchvision
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import foveal
from foveal.ops import box_iou
from reference.box_data import (
    SIMD_SIZES,
    extreme_coordinate_boxes,
    multiscale_boxes,
    random_boxes,
    scenario,
    subnormal_area_boxes,
)
from reference.box_ref import box_iou_ref, compute_dtype, iou_one_to_many, valid_boxes

DTYPES = [np.float32, np.float64]
RTOL = {np.dtype(np.float32): 1e-6, np.dtype(np.float64): 1e-14}

SEED_A, SEED_B, SEED_C, SEED_D = (1, 1, 4, 4), (2, 2, 5, 5), (3, 3, 6, 6), (7, 7, 9, 9)

fixture_ok = settings(suppress_health_check=[HealthCheck.function_scoped_fixture])


def assert_iou_equal(got, ref, dtype):
    """float32: within 1e-6 relative of the oracle evaluated in float32 (which
    rounds exactly like the contract's kernel); float64: within 1e-14. NaN
    must match NaN; an exact 0 must be an exact 0."""
    assert isinstance(got, np.ndarray)
    assert got.dtype == np.dtype(dtype), got.dtype
    assert got.shape == ref.shape, (got.shape, ref.shape)
    np.testing.assert_allclose(
        got, ref, rtol=RTOL[np.dtype(dtype)], atol=0.0, equal_nan=True
    )


def torchvision_iou(b1, b2):
    return torchvision.ops.box_iou(torch.from_numpy(b1), torch.from_numpy(b2)).numpy()


@functools.lru_cache(maxsize=None)
def _random_case(n, m, dtype_name):
    dtype = np.dtype(dtype_name)
    rng = np.random.default_rng(1000 + 97 * n + m)
    b1 = random_boxes(rng, n, field=100.0, min_size=1.0, max_size=40.0).astype(dtype)
    b2 = random_boxes(rng, m, field=100.0, min_size=1.0, max_size=40.0).astype(dtype)
    return b1, b2, box_iou_ref(b1, b2, dtype)


# ----------------------------------------------------------------- seed oracles


@pytest.mark.parametrize("dtype", DTYPES)
def test_seed_I1(dtype):
    out = box_iou(np.array([SEED_A], dtype), np.array([SEED_B], dtype))
    assert out.shape == (1, 1) and out.dtype == dtype
    t = np.dtype(dtype).type
    assert out[0, 0] == t(4) / t(14)  # 4/14 = 0.2857142857...
    np.testing.assert_allclose(out[0, 0], 0.2857142857, rtol=1e-7)


@pytest.mark.parametrize("dtype", DTYPES)
def test_seed_I2_corrected(dtype):
    """I2 with the errata: A and C overlap on (3,3)-(4,4), IoU = 1/17; A vs D = 0.
    Derived: B-C = 4/14, B-D = C-D = 0."""
    boxes = np.array([SEED_A, SEED_B, SEED_C, SEED_D], dtype)
    t = np.dtype(dtype).type
    q, r = t(4) / t(14), t(1) / t(17)
    expected = np.array(
        [[1, q, r, 0], [q, 1, q, 0], [r, q, 1, 0], [0, 0, 0, 1]], dtype=dtype
    )
    out = box_iou(boxes, boxes)
    np.testing.assert_array_equal(out, expected)
    assert out[0, 2] != 0  # the document's "IoU = 0" for A vs C is wrong


def test_seed_I3_exact_float64():
    out = box_iou(
        np.array([[50, 50, 150, 150]], np.float64), np.array([[100, 100, 200, 200]], np.float64)
    )
    assert out.dtype == np.float64
    assert out[0, 0] == 0.14285714285714285  # 2500 / 17500, no +1


# ------------------------------------------------------------ oracle / torchvision


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("m", SIMD_SIZES)
@pytest.mark.parametrize("n", SIMD_SIZES)
def test_random_against_oracle(n, m, dtype, simd_level):
    b1, b2, ref = _random_case(n, m, np.dtype(dtype).name)
    got = box_iou(b1, b2)
    assert_iou_equal(got, ref, dtype)
    if n and m:
        assert (ref > 0).any() or n * m < 50  # the inputs do overlap


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(1, 257), (257, 1), (33, 100), (100, 33), (16, 16)])
def test_random_against_torchvision(shape, dtype, simd_level):
    b1, b2, _ = _random_case(*shape, np.dtype(dtype).name)
    got = box_iou(b1, b2)
    np.testing.assert_allclose(
        got, torchvision_iou(b1, b2), rtol=RTOL[np.dtype(dtype)], atol=0.0
    )


@pytest.mark.parametrize("dtype", DTYPES)
def test_large_against_vectorised_oracle(dtype, simd_level):
    """Big enough for every thread to get work; checked against the
    element-wise oracle (itself checked against the scalar loop)."""
    rng = np.random.default_rng(7)
    b1 = random_boxes(rng, 700, field=500.0, min_size=1.0, max_size=80.0).astype(dtype)
    b2 = random_boxes(rng, 1031, field=500.0, min_size=1.0, max_size=80.0).astype(dtype)
    ref = np.stack([iou_one_to_many(b, b2, dtype) for b in b1])
    assert_iou_equal(box_iou(b1, b2), ref, dtype)


@functools.lru_cache(maxsize=None)
def _special_case(name, dtype_name):
    dtype = np.dtype(dtype_name)
    rng = np.random.default_rng(11)
    if name == "multiscale":
        b = multiscale_boxes(rng, 150)
    else:
        b = scenario(name, rng)[0][:150]
    b = b.astype(dtype)
    return b, box_iou_ref(b, b, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "name", ["degenerate", "nonfinite_coords", "multiscale", "huge_offset", "huge_coords"]
)
def test_special_values_against_oracle(name, dtype, simd_level):
    """IEEE semantics of inter / (area1 + area2 - inter) for degenerate,
    inverted, NaN/Inf, tiny/huge and overflowing boxes (same as torchvision)."""
    b, ref = _special_case(name, np.dtype(dtype).name)
    got = box_iou(b, b)
    assert_iou_equal(got, ref, dtype)
    np.testing.assert_allclose(
        got, torchvision_iou(b, b), rtol=RTOL[np.dtype(dtype)], atol=0.0, equal_nan=True
    )
    # and off the diagonal blocks, with the two inputs of different length
    got2 = box_iou(b[:37], b[40:])
    assert_iou_equal(got2, ref[:37, 40:], dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_subnormal_and_extreme_boxes(dtype, simd_level):
    b = np.concatenate(
        [subnormal_area_boxes(np.random.default_rng(4), 40, dtype), extreme_coordinate_boxes(dtype)]
    )
    ref = box_iou_ref(b, b, dtype)
    got = box_iou(b, b)
    assert_iou_equal(got, ref, dtype)
    np.testing.assert_allclose(
        got, torchvision_iou(b, b), rtol=RTOL[np.dtype(dtype)], atol=0.0, equal_nan=True
    )


@pytest.mark.parametrize("dtype", DTYPES)
def test_nan_and_inf_examples(dtype, simd_level):
    nan, inf = np.nan, np.inf
    b1 = np.array([[0, 0, 1, 1], [nan, 0, 1, 1], [0, 0, inf, 1], [-inf, -inf, inf, inf]], dtype)
    b2 = np.array([[0, 0, 1, 1], [0, 0, 2, 1], [0, 1, inf, 2], [5, 5, 6, 6]], dtype)
    ref = box_iou_ref(b1, b2, dtype)
    got = box_iou(b1, b2)
    assert_iou_equal(got, ref, dtype)
    assert np.isnan(got[1]).all()  # a NaN coordinate poisons its whole row
    assert got[2, 0] == 0 and got[2, 3] == 0  # finite inter / infinite union
    assert np.isnan(got[2, 2])  # inf * 0 intersection -> NaN, no special case


# --------------------------------------------------------- shapes, dtypes, types


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n, m", [(0, 0), (0, 5), (5, 0), (1, 1)])
def test_output_shape_and_empty(n, m, dtype):
    b1, b2, _ = _random_case(n, m, np.dtype(dtype).name)
    out = box_iou(b1, b2)
    assert type(out) is np.ndarray
    assert out.shape == (n, m) and out.dtype == dtype


@pytest.mark.parametrize(
    "dt1, dt2",
    [
        (np.int64, np.int64),
        (np.int32, np.int32),
        (np.uint8, np.uint8),
        (np.int16, np.float32),
        (np.float16, np.float16),
        (np.float16, np.float32),
        (np.float32, np.float64),
        (np.float64, np.float32),
        (np.int64, np.float32),
        (np.float16, np.float64),
        (np.int32, np.float64),
    ],
)
def test_dtype_promotion(dt1, dt2):
    rng = np.random.default_rng(3)
    b1 = random_boxes(rng, 13, field=60.0, min_size=1.0, max_size=40.0).round()
    b2 = random_boxes(rng, 9, field=60.0, min_size=1.0, max_size=40.0).round()
    b1, b2 = b1.astype(dt1), b2.astype(dt2)
    want = compute_dtype(b1.dtype, b2.dtype)
    out = box_iou(b1, b2)
    assert out.dtype == want, (dt1, dt2, out.dtype)
    ref = box_iou_ref(b1.astype(want), b2.astype(want), want)
    assert_iou_equal(out, ref, want)


def test_bool_boxes_promote_to_float32():
    b = np.array([[0, 0, 1, 1], [1, 1, 1, 1], [0, 0, 1, 0]], dtype=bool)
    out = box_iou(b, b)
    assert out.dtype == np.float32
    assert_iou_equal(out, box_iou_ref(b.astype(np.float32), b.astype(np.float32), np.float32), np.float32)


@pytest.mark.parametrize("dtype", DTYPES)
def test_non_contiguous_inputs(dtype):
    rng = np.random.default_rng(21)
    base = random_boxes(rng, 60, field=80.0, min_size=1.0, max_size=30.0).astype(dtype)
    other = random_boxes(rng, 45, field=80.0, min_size=1.0, max_size=30.0).astype(dtype)
    want = box_iou(np.ascontiguousarray(base[::3]), other)

    wide = np.zeros((60, 7), dtype)
    wide[:, 2:6] = base
    views = {
        "step": base[::3],
        "fortran": np.asfortranarray(base[::3]),
        "transposed": np.ascontiguousarray(base.T).T[::3],
        "column_slice": wide[::3, 2:6],
    }
    for name, v in views.items():
        assert not v.flags.c_contiguous, name
        np.testing.assert_array_equal(v, base[::3])
        np.testing.assert_array_equal(box_iou(v, other), want, err_msg=name)
        np.testing.assert_array_equal(box_iou(other, v), want.T, err_msg=name)
    # negative strides and zero strides (broadcast)
    np.testing.assert_array_equal(box_iou(base[::-1], other), box_iou(base, other)[::-1])
    bc = np.broadcast_to(base[5], (17, 4))
    np.testing.assert_array_equal(box_iou(bc, other), np.tile(box_iou(base[5:6], other), (17, 1)))


@pytest.mark.parametrize("dtype", DTYPES)
def test_inputs_not_modified(dtype):
    rng = np.random.default_rng(5)
    b1 = scenario("nonfinite_coords", rng)[0][:40].astype(dtype)
    b2 = random_boxes(rng, 33, field=60.0).astype(dtype)
    c1, c2 = b1.copy(), b2.copy()
    box_iou(b1, b2)
    np.testing.assert_array_equal(b1, c1)
    np.testing.assert_array_equal(b2, c2)
    t1 = torch.from_numpy(c1.copy())
    t1c = t1.clone()
    box_iou(t1, torch.from_numpy(c2.copy()))
    assert torch.equal(t1.nan_to_num(7.0), t1c.nan_to_num(7.0))


def test_read_only_and_big_endian_inputs():
    rng = np.random.default_rng(6)
    b = random_boxes(rng, 20, field=50.0).astype(np.float32)
    want = box_iou(b, b)
    ro = b.copy()
    ro.flags.writeable = False
    np.testing.assert_array_equal(box_iou(ro, ro), want)
    be = b.astype(">f4")
    out = box_iou(be, be)
    assert out.dtype.kind == "f" and out.dtype.itemsize == 4
    np.testing.assert_array_equal(out, want)


# ----------------------------------------------------------------- bad input


def _ok(n=3):
    return np.zeros((n, 4), np.float32) + np.array([0, 0, 1, 1], np.float32)


@pytest.mark.parametrize(
    "shape", [(3, 5), (3, 3), (4,), (12,), (1, 3, 5), (3, 4, 1), ()], ids=str
)
@pytest.mark.parametrize("which", ["boxes1", "boxes2"])
def test_bad_shapes(shape, which):
    bad = np.zeros(shape, np.float32)
    args = (bad, _ok()) if which == "boxes1" else (_ok(), bad)
    with pytest.raises(ValueError, match=which):
        box_iou(*args)


def test_bad_shape_message_names_shape():
    with pytest.raises(ValueError, match=r"boxes1.*\(N, 4\).*\(3, 5\)"):
        box_iou(np.zeros((3, 5), np.float32), _ok())


@pytest.mark.parametrize("which", ["boxes1", "boxes2"])
@pytest.mark.parametrize(
    "value",
    [[[0, 0, 1, 1]], ((0.0, 0.0, 1.0, 1.0),), None, 3.0, "boxes"],
    ids=["list", "tuple", "None", "float", "str"],
)
def test_non_array_input_is_type_error(value, which):
    """CONTRACT.md: TypeError for non-array input (lists included)."""
    args = (value, _ok()) if which == "boxes1" else (_ok(), value)
    with pytest.raises(TypeError, match=which):
        box_iou(*args)


@pytest.mark.parametrize("which", ["boxes1", "boxes2"])
@pytest.mark.parametrize("dtype", [np.complex64, np.complex128, object, "U8", "S8"], ids=str)
def test_non_numeric_dtype_is_type_error(dtype, which):
    bad = np.zeros((3, 4)).astype(dtype)
    args = (bad, _ok()) if which == "boxes1" else (_ok(), bad)
    with pytest.raises(TypeError, match=which):
        box_iou(*args)


def test_mixed_array_libraries_is_type_error():
    with pytest.raises(TypeError):
        box_iou(_ok(), torch.from_numpy(_ok()))
    with pytest.raises(TypeError):
        box_iou(torch.from_numpy(_ok()), _ok())


# ----------------------------------------------------------------- properties

_coord = st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False)
_size = st.floats(1e-2, 1e3, allow_nan=False, allow_infinity=False)


@st.composite
def boxes_strategy(draw, min_n=0, max_n=24):
    """(n, 4) float64 boxes with positive width and height: either on a small
    integer grid (exact ties, shared edges) or arbitrary floats."""
    n = draw(st.integers(min_n, max_n))
    if draw(st.booleans()):
        xy = st.integers(0, 12)
        wh = st.integers(1, 8)
    else:
        xy, wh = _coord, _size
    rows = draw(st.lists(st.tuples(xy, xy, wh, wh), min_size=n, max_size=n))
    if not rows:
        return np.zeros((0, 4))
    a = np.asarray(rows, dtype=np.float64)
    return np.stack([a[:, 0], a[:, 1], a[:, 0] + a[:, 2], a[:, 1] + a[:, 3]], axis=1)


@fixture_ok
@given(b1=boxes_strategy(), b2=boxes_strategy(), use64=st.booleans())
def test_property_symmetric_and_bounded(b1, b2, use64, simd_level):
    dtype = np.float64 if use64 else np.float32
    b1, b2 = b1.astype(dtype), b2.astype(dtype)
    iou12 = box_iou(b1, b2)
    iou21 = box_iou(b2, b1)
    assert iou12.shape == (len(b1), len(b2))
    np.testing.assert_array_equal(iou12, iou21.T)
    v1 = valid_boxes(b1, dtype)
    v2 = valid_boxes(b2, dtype)
    sub = iou12[np.ix_(v1, v2)]
    assert not np.isnan(sub).any()
    assert ((sub >= 0) & (sub <= 1)).all()
    assert_iou_equal(iou12, box_iou_ref(b1, b2, dtype), dtype)


@fixture_ok
@given(b=boxes_strategy(min_n=1), use64=st.booleans())
def test_property_self_iou_diagonal_is_one(b, use64, simd_level):
    dtype = np.float64 if use64 else np.float32
    b = b.astype(dtype)
    b = b[valid_boxes(b, dtype)]
    out = box_iou(b, b)
    np.testing.assert_array_equal(np.diag(out), np.ones(len(b), dtype))
