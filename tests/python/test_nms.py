"""foveal.ops.nms against the greedy NumPy oracle (tests/reference), torchvision's
CPU nms, the seed worked example N1, adversarial scenes and properties.

The CPU NMS is a spatial-grid algorithm, so besides random scenes the tests
aim at the places where pruning by position / size can go wrong: wildly
different sizes, huge coordinates, IoU a few ulps either side of the
threshold, thresholds 0 and 1, invalid boxes, ties and NaN scores."""

from __future__ import annotations

import functools
import json
import subprocess
import sys
import zlib

import numpy as np
import pytest
import torch
import torchvision
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from foveal.ops import nms
from reference.box_data import (
    SCENARIOS,
    SIMD_SIZES,
    THRESHOLDS,
    clustered_boxes,
    extreme_coordinate_boxes,
    random_boxes,
    random_scores,
    scenario,
    subnormal_area_boxes,
)
from reference.box_ref import box_iou_ref, compute_dtype, nms_order, nms_ref, valid_boxes

DTYPES = [np.float32, np.float64]
SEED_BOXES = np.array([[1, 1, 4, 4], [2, 2, 5, 5], [3, 3, 6, 6], [7, 7, 9, 9]], np.float64)
SEED_SCORES = np.array([0.9, 0.8, 0.7, 0.6])

fixture_ok = settings(suppress_health_check=[HealthCheck.function_scoped_fixture])


def assert_keep(got, want):
    assert type(got) is np.ndarray, type(got)
    assert got.dtype == np.int64, got.dtype
    assert got.ndim == 1, got.shape
    np.testing.assert_array_equal(got, want)


def torchvision_nms(boxes, scores, thr):
    return torchvision.ops.nms(torch.from_numpy(boxes), torch.from_numpy(scores), thr).numpy()


# ----------------------------------------------------------------- seed oracle


@pytest.mark.parametrize("dtype", DTYPES)
def test_seed_N1_keeps_all_four(dtype, simd_level):
    keep = nms(SEED_BOXES.astype(dtype), SEED_SCORES.astype(dtype), 0.5)
    assert_keep(keep, [0, 1, 2, 3])


def test_seed_N1_permuted():
    perm = np.array([2, 0, 3, 1])
    keep = nms(SEED_BOXES[perm], SEED_SCORES[perm], 0.5)
    assert_keep(keep, [1, 3, 0, 2])  # A, B, C, D in their new positions


# ------------------------------------------------------------- random scenes


@functools.lru_cache(maxsize=None)
def _random_case(n, dtype_name, thr):
    dtype = np.dtype(dtype_name)
    rng = np.random.default_rng(500 + n)
    b = random_boxes(rng, n, field=12.0 * np.sqrt(n + 1), min_size=2.0, max_size=30.0)
    s = random_scores(rng, n)
    b, s = b.astype(dtype), s.astype(dtype)
    return b, s, nms_ref(b, s, thr, dtype), torchvision_nms(b, s, thr)


@pytest.mark.parametrize("thr", THRESHOLDS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", SIMD_SIZES + (1000,))
def test_random_against_oracle_and_torchvision(n, dtype, thr, simd_level):
    b, s, ref, tv = _random_case(n, np.dtype(dtype).name, thr)
    keep = nms(b, s, thr)
    assert_keep(keep, ref)
    assert_keep(keep, tv)


# --------------------------------------------------------- adversarial scenes


@functools.lru_cache(maxsize=None)
def _scenario_case(name, dtype_name, thr):
    dtype = np.dtype(dtype_name)
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    b, s, comparable = scenario(name, rng, thr=thr)
    b, s = b.astype(dtype), s.astype(dtype)
    tv = torchvision_nms(b, s, thr) if comparable else None
    return b, s, nms_ref(b, s, thr, dtype), tv


@pytest.mark.parametrize("thr", THRESHOLDS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", SCENARIOS)
def test_adversarial_scenes(name, dtype, thr, simd_level):
    b, s, ref, tv = _scenario_case(name, np.dtype(dtype).name, thr)
    keep = nms(b, s, thr)
    assert_keep(keep, ref)
    if tv is not None:
        assert_keep(keep, tv)


def test_adversarial_scenes_are_not_trivial():
    """Guard against generators that make the scenes above vacuous: at 0.5,
    most scenes must both keep and suppress something."""
    for name in SCENARIOS:
        b, s, ref, _ = _scenario_case(name, "float64", 0.5)
        if name not in ("huge_coords", "nonfinite_coords", "degenerate"):
            assert 0 < len(ref) < len(b), name
    b, s, ref, _ = _scenario_case("near_threshold", "float32", 0.5)
    iou = box_iou_ref(b[:40], b[:40], np.float32).astype(np.float64)
    np.fill_diagonal(iou, 0)
    assert (np.abs(iou - 0.5) < 1e-5).any()


def test_large_clustered_scene_deterministic():
    rng = np.random.default_rng(99)
    b, s = clustered_boxes(rng, 80, 50)
    b32, s32 = b.astype(np.float32), s.astype(np.float32)
    first = nms(b32, s32, 0.5)
    for _ in range(3):
        assert_keep(nms(b32, s32, 0.5), first)
    assert_keep(first, nms_ref(b32, s32, 0.5, np.float32))
    assert 60 <= len(first) <= 400  # about one box per object


@pytest.mark.parametrize("dtype", DTYPES)
def test_subnormal_areas(dtype, simd_level):
    """Boxes whose areas are a few multiples of the smallest subnormal: the
    IEEE IoU (which the contract and torchvision use) can exceed the threshold
    for pairs that overlap little geometrically, so pruning the neighbour
    search by exact geometry misses them."""
    rng = np.random.default_rng(31)
    b = subnormal_area_boxes(rng, 300, dtype)
    s = random_scores(rng, len(b)).astype(dtype)
    assert box_iou_ref(b[:2], b[:2], dtype)[0, 1] == 1  # the constructed pair
    for thr in (0.0, 0.3, 0.5, 0.7, 0.99):
        ref = nms_ref(b, s, thr, dtype)
        np.testing.assert_array_equal(ref, torchvision_nms(b, s, thr))
        assert_keep(nms(b, s, thr), ref)
    assert_keep(nms(b[:2], np.array([0.9, 0.8], dtype), 0.5), [0])


_CHILD = """
import json, sys
import numpy as np
import foveal, foveal._core
data = np.load(sys.argv[1])
out = {}
for level in foveal._core.simd_levels():
    foveal._core.set_simd_level(level)
    try:
        out[level] = foveal.ops.nms(data["b"], data["s"], float(data["t"])).tolist()
    except Exception as e:
        out[level] = "%s: %s" % (type(e).__name__, e)
print(json.dumps(out))
"""


def _nms_in_child(tmp_path, boxes, scores, thr):
    """foveal.ops.nms at every SIMD level, in a child process, so that a crash
    fails this test instead of killing the test run."""
    path = tmp_path / "in.npz"
    np.savez(path, b=boxes, s=scores, t=np.float64(thr))
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, str(path)], capture_output=True, text=True, timeout=120
    )
    if proc.returncode != 0:
        pytest.fail(
            f"foveal.ops.nms crashed (exit status {proc.returncode}) on\n{boxes!r}\n"
            f"{proc.stderr[-2000:]}"
        )
    return json.loads(proc.stdout)


@pytest.mark.parametrize("dtype", DTYPES)
def test_extreme_finite_coordinates(dtype, tmp_path):
    """Valid boxes near +-finfo.max (finite width, height and area): the
    centre (x1 + x2) / 2 must not overflow; no crash, no error, same keep as
    the oracle and torchvision."""
    b = extreme_coordinate_boxes(dtype)
    s = np.linspace(1.0, 0.1, len(b)).astype(dtype)
    assert valid_boxes(b, dtype).all()
    for thr in (0.0, 0.5):
        ref = nms_ref(b, s, thr, dtype)
        np.testing.assert_array_equal(ref, torchvision_nms(b, s, thr))
        got = _nms_in_child(tmp_path, b, s, thr)
        assert got == {level: ref.tolist() for level in got}, (thr, got, ref)
    # pairs at the top of the range, each pair alone: IoU 0.9 -> one is suppressed
    top = np.finfo(dtype).max
    for x in (top / 4, top / 1.5, np.nextafter(top, 0) / 1.0001):
        x = dtype(x)
        x2 = np.nextafter(x, dtype(np.inf))
        pair = np.array([[x, -5, x2, 5], [x, -5, x2, 4]], dtype)
        got = _nms_in_child(tmp_path, pair, np.array([1.0, 0.5], dtype), 0.5)
        assert got == {level: [0] for level in got}, (x, got)


# --------------------------------------------------- ranking, ties, specials


def _disjoint(n):
    x = np.arange(n, dtype=np.float64) * 10.0
    return np.stack([x, np.zeros(n), x + 1.0, np.ones(n)], axis=1)


@pytest.mark.parametrize("dtype", DTYPES)
def test_score_order_with_nan_inf_and_ties(dtype, simd_level):
    s = np.array([np.nan, -np.inf, np.inf, 0.0, np.nan, -0.0, 0.5, 0.5], dtype)
    keep = nms(_disjoint(8).astype(dtype), s, 0.5)
    assert_keep(keep, [2, 6, 7, 3, 5, 1, 0, 4])
    assert keep.tolist() == nms_order(s)


@pytest.mark.parametrize("dtype", DTYPES)
def test_signed_zero_scores_are_ties(dtype):
    """-0.0 == 0.0, so ties are broken by index: not by the sign bit."""
    s = np.array([-0.0, 0.0, -0.0, 0.0], dtype)
    assert_keep(nms(_disjoint(4).astype(dtype), s, 0.5), [0, 1, 2, 3])
    same = np.tile([[0.0, 0.0, 2.0, 2.0]], (2, 1)).astype(dtype)
    assert_keep(nms(same, np.array([-0.0, 0.0], dtype), 0.5), [0])
    assert_keep(nms(same, np.array([0.0, -0.0], dtype), 0.5), [0])


@pytest.mark.parametrize("dtype", DTYPES)
def test_nan_scores_rank_last_and_are_suppressible(dtype, simd_level):
    b = np.array([[0, 0, 10, 10], [0, 0, 10, 10], [1, 0, 10, 10], [50, 50, 60, 60]], dtype)
    s = np.array([np.nan, np.nan, -np.inf, np.nan], dtype)
    # -inf ranks first: box 2 suppresses boxes 0 and 1 (IoU 0.9); 3 is apart
    assert_keep(nms(b, s, 0.5), [2, 3])
    # among NaNs, the lower index comes first and suppresses the other
    assert_keep(nms(b[:2], s[:2], 0.5), [0])


@pytest.mark.parametrize("dtype", DTYPES)
def test_all_identical_boxes(dtype, simd_level):
    rng = np.random.default_rng(8)
    n = 777
    b = np.tile([[3.0, 4.0, 50.0, 61.0]], (n, 1)).astype(dtype)
    s = random_scores(rng, n).astype(dtype)
    assert_keep(nms(b, s, 0.5), [int(np.argmax(s))])
    assert_keep(nms(b, np.ones(n, dtype), 0.99), [0])
    assert_keep(nms(b, np.ones(n, dtype), 0.0), [0])
    # IoU == 1 is not > 1: nothing suppressed, all in rank order
    assert_keep(nms(b, s, 1.0), nms_order(s))


@pytest.mark.parametrize("dtype", DTYPES)
def test_invalid_boxes_never_suppress_nor_are_suppressed(dtype, simd_level):
    nan, inf = np.nan, np.inf
    b = np.array(
        [
            [0, 0, 10, 10],  # 0 valid, best score
            [nan, 0, 10, 10],  # 1 NaN coordinate
            [10, 0, 0, 10],  # 2 inverted in x
            [10, 10, 0, 0],  # 3 inverted in x and y (positive "area")
            [0, 0, 0, 10],  # 4 zero width
            [0, 0, 10, 0],  # 5 zero height
            [-inf, -inf, inf, inf],  # 6 infinite
            [0, 0, inf, 10],  # 7 half-infinite
            [0, 0, 10, 10],  # 8 valid duplicate of 0: suppressed
            [nan, nan, nan, nan],  # 9
        ],
        dtype,
    )
    s = np.linspace(1.0, 0.1, len(b)).astype(dtype)
    for thr in THRESHOLDS[:-1]:
        assert_keep(nms(b, s, thr), [0, 1, 2, 3, 4, 5, 6, 7, 9])
    assert_keep(nms(b, s, 1.0), list(range(10)))
    # invalid boxes first in rank: still suppress nothing
    assert_keep(nms(b, s[::-1].copy(), 0.0), [9, 8, 7, 6, 5, 4, 3, 2, 1])


@pytest.mark.parametrize("dtype", DTYPES)
def test_threshold_boundaries(dtype, simd_level):
    # touching boxes: IoU exactly 0 -> kept at thr = 0
    b = np.array([[0, 0, 1, 1], [1, 0, 2, 1], [0, 1, 1, 2], [1, 1, 2, 2]], dtype)
    s = np.array([0.9, 0.8, 0.7, 0.6], dtype)
    assert_keep(nms(b, s, 0.0), [0, 1, 2, 3])
    # IoU exactly 0.5 (shift by 1/3 of a side of 3: inter 2*3=6, union 12) is not > 0.5
    b = np.array([[0, 0, 3, 3], [1, 0, 4, 3]], dtype)
    s = np.array([0.9, 0.8], dtype)
    assert box_iou_ref(b, b, dtype)[0, 1] == 0.5
    assert_keep(nms(b, s, 0.5), [0, 1])
    assert_keep(nms(b, s, np.nextafter(0.5, 0.0)), [0])
    # tiny box inside a huge one: IoU 1e-8 > 0 but < 1e-6
    b = np.array([[0, 0, 1e4, 1e4], [5, 5, 6, 6]], dtype)
    assert_keep(nms(b, s, 0.0), [0])
    assert_keep(nms(b, s, 1e-6), [0, 1])


def test_chain_is_greedy_not_transitive():
    # unit boxes shifted by 0.25: IoU(k, k+1) = 0.6, IoU(k, k+2) = 1/3
    b = np.array([[0.25 * k, 0, 0.25 * k + 1, 1] for k in range(9)])
    s = np.linspace(1, 0.5, 9)
    assert_keep(nms(b, s, 0.5), [0, 2, 4, 6, 8])
    assert_keep(nms(b, s, 0.3), [0, 3, 6])


@pytest.mark.parametrize("dtype", DTYPES)
def test_empty_and_single(dtype):
    for b_dtype in (dtype, np.int64):
        keep = nms(np.zeros((0, 4), b_dtype), np.zeros((0,), dtype), 0.5)
        assert_keep(keep, np.zeros((0,), np.int64))
        assert keep.shape == (0,)
    one = np.array([[0, 0, 1, 1]], dtype)
    assert_keep(nms(one, np.array([0.3], dtype), 0.5), [0])
    assert_keep(nms(one * np.nan, np.array([np.nan], dtype), 0.5), [0])


# ------------------------------------------------------------ dtypes and types


@pytest.mark.parametrize(
    "bdt, sdt",
    [
        (np.float32, np.float64),
        (np.float64, np.float32),
        (np.int64, np.float32),
        (np.int32, np.float32),
        (np.uint8, np.float32),
        (np.float16, np.float16),
        (np.float16, np.float32),
        (np.int64, np.int64),
        (np.int16, np.float16),
    ],
)
def test_dtype_promotion(bdt, sdt):
    rng = np.random.default_rng(12)
    b = random_boxes(rng, 300, field=120.0, min_size=3.0, max_size=60.0).round()
    k = np.arange(10)[:, None]
    # 10 nested pairs with IoU exactly 3/10: > 0.3 in float32, not in float64
    pairs = np.concatenate([k * 12 + [0, 240, 10, 241], k * 12 + [0, 240, 3, 241]])
    b = np.concatenate([b, pairs])
    s = rng.permutation(len(b)).astype(np.float64) / (1.0 if sdt == np.int64 else 512.0)
    b, s = b.astype(bdt), s.astype(sdt)
    want = compute_dtype(b.dtype, s.dtype)
    for thr in (0.0, 0.3, 0.5, 0.7):
        assert_keep(nms(b, s, thr), nms_ref(b.astype(want), s, thr, want))


def test_integer_boxes_promote_to_float32():
    """Integer boxes (with integer or float32 scores) are computed in
    float32, as torch promotes. Integer
    coordinates make IoU exactly p/q, e.g. 3/10, which is > 0.3 in float32 and
    not in float64: the keep sets differ between the two."""
    rng = np.random.default_rng(13)
    b = rng.integers(0, 200, (400, 2))
    b = np.concatenate([b, b + rng.integers(1, 50, (400, 2))], axis=1)
    k = np.arange(10)[:, None]
    pairs = np.concatenate([k * 12 + [0, 300, 10, 301], k * 12 + [0, 300, 3, 301]])
    b = np.concatenate([b, pairs])  # + 10 nested pairs with IoU exactly 3/10
    s = rng.permutation(len(b))
    for thr in (0.3, 0.5):
        want = nms_ref(b.astype(np.float32), s, thr, np.float32)
        assert_keep(nms(b.astype(np.float32), s.astype(np.float32), thr), want)
        assert_keep(nms(b, s, thr), want)
        assert_keep(nms(b.astype(np.int32), s.astype(np.int16), thr), want)
        assert_keep(nms(b.astype(np.int16), (s / 512).astype(np.float32), thr), want)
        assert_keep(nms(b.astype(np.uint8) // 2, s, thr), nms_ref(b.astype(np.uint8) // 2, s, thr, np.float32))
    assert not np.array_equal(
        nms_ref(b, s, 0.3, np.float32), nms_ref(b, s, 0.3, np.float64)
    )


@pytest.mark.parametrize("thr", [0, 1, np.float32(0.5), np.float64(0.3), 0.7])
def test_threshold_accepts_python_and_numpy_scalars(thr):
    b, s, _, _ = _random_case(100, "float32", 0.5)
    assert_keep(nms(b, s, thr), nms_ref(b, s, float(thr), np.float32))


@pytest.mark.parametrize("dtype", DTYPES)
def test_non_contiguous_inputs(dtype):
    rng = np.random.default_rng(14)
    b = random_boxes(rng, 600, field=200.0, min_size=3.0, max_size=50.0).astype(dtype)
    s = random_scores(rng, 600).astype(dtype)
    want = nms(np.ascontiguousarray(b[::2]), np.ascontiguousarray(s[::2]), 0.5)
    assert_keep(want, nms_ref(b[::2], s[::2], 0.5, dtype))
    wide = np.zeros((600, 9), dtype)
    wide[:, 3:7] = b
    s_wide = np.zeros((600, 3), dtype)
    s_wide[:, 1] = s
    box_views = [b[::2], np.asfortranarray(b[::2]), np.ascontiguousarray(b.T).T[::2], wide[::2, 3:7]]
    score_views = [s[::2], s_wide[::2, 1]]
    for bv in box_views:
        assert not bv.flags.c_contiguous
        for sv in score_views:
            assert_keep(nms(bv, sv, 0.5), want)
    # reversed order: indices refer to the reversed view
    rev = nms(b[::-1], s[::-1], 0.5)
    assert_keep(rev, nms_ref(b[::-1], s[::-1], 0.5, dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_inputs_not_modified(dtype):
    rng = np.random.default_rng(15)
    b, s, _ = scenario("nonfinite_scores", rng)
    b = np.concatenate([b, scenario("nonfinite_coords", rng)[0][:100]]).astype(dtype)
    s = np.concatenate([s, random_scores(rng, 100)]).astype(dtype)
    bc, sc = b.copy(), s.copy()
    nms(b, s, 0.5)
    np.testing.assert_array_equal(b, bc)
    np.testing.assert_array_equal(s, sc)
    tb, ts = torch.from_numpy(bc.copy()), torch.from_numpy(sc.copy())
    nms(tb, ts, 0.3)
    np.testing.assert_array_equal(tb.numpy(), bc)
    np.testing.assert_array_equal(ts.numpy(), sc)


def test_read_only_and_big_endian_inputs():
    b, s, ref, _ = _random_case(257, "float32", 0.5)
    rb, rs = b.copy(), s.copy()
    rb.flags.writeable = False
    rs.flags.writeable = False
    assert_keep(nms(rb, rs, 0.5), ref)
    assert_keep(nms(b.astype(">f4"), s.astype(">f4"), 0.5), ref)


# ----------------------------------------------------------------- bad input


def _ok(n=3):
    b = np.zeros((n, 4), np.float32)
    b[:, 2:] = 1
    return b, np.ones(n, np.float32)


@pytest.mark.parametrize("shape", [(3, 5), (3, 3), (4,), (12,), (1, 3, 4), ()], ids=str)
def test_bad_box_shapes(shape):
    _, s = _ok()
    with pytest.raises(ValueError, match="boxes"):
        nms(np.zeros(shape, np.float32), s, 0.5)


def test_bad_shape_messages_follow_contract():
    b, s = _ok()
    with pytest.raises(ValueError, match=r"boxes must have shape \(N, 4\), got \(3, 5\)"):
        nms(np.zeros((3, 5), np.float32), s, 0.5)
    # CONTRACT.md's example text is "scores must have shape (N,) with N =
    # len(boxes) = 3, got (4,)"; the wording may differ, the content may not.
    with pytest.raises(ValueError, match=r"scores must have shape \(N,\) with N = .*3.*got \(4,\)"):
        nms(b, np.ones(4, np.float32), 0.5)


@pytest.mark.parametrize("shape", [(4,), (2,), (0,), (3, 1), (1, 3), ()], ids=str)
def test_bad_score_shapes(shape):
    b, _ = _ok()
    with pytest.raises(ValueError, match="scores"):
        nms(b, np.ones(shape, np.float32), 0.5)


@pytest.mark.parametrize("thr", [np.nan, float("nan"), np.float32("nan")], ids=str)
def test_bad_threshold(thr):
    # Any real threshold is accepted (tests/python/test_nms_outliers.py); NaN is not.
    b, s = _ok()
    with pytest.raises(ValueError, match="iou_threshold must not be NaN"):
        nms(b, s, thr)


@pytest.mark.parametrize(
    "which, value",
    [
        ("boxes", [[0, 0, 1, 1]] * 3),
        ("boxes", None),
        ("boxes", "boxes"),
        ("scores", [1.0, 1.0, 1.0]),
        ("scores", (1.0, 1.0, 1.0)),
        ("scores", None),
    ],
    ids=["boxes-list", "boxes-None", "boxes-str", "scores-list", "scores-tuple", "scores-None"],
)
def test_non_array_input_is_type_error(which, value):
    """CONTRACT.md: TypeError for non-array input (lists included)."""
    b, s = _ok()
    args = (value, s) if which == "boxes" else (b, value)
    with pytest.raises(TypeError, match=which):
        nms(*args, 0.5)


@pytest.mark.parametrize("which", ["boxes", "scores"])
@pytest.mark.parametrize("dtype", [np.complex64, np.complex128, object, "U8", "S8"], ids=str)
def test_non_numeric_dtype_is_type_error(dtype, which):
    b, s = _ok()
    if which == "boxes":
        b = b.astype(dtype)
    else:
        s = s.astype(dtype)
    with pytest.raises(TypeError, match=which):
        nms(b, s, 0.5)


def test_mixed_array_libraries_is_type_error():
    b, s = _ok()
    with pytest.raises(TypeError):
        nms(b, torch.from_numpy(s), 0.5)
    with pytest.raises(TypeError):
        nms(torch.from_numpy(b), s, 0.5)


# ----------------------------------------------------------------- properties

_grid = st.integers(0, 12)
_side = st.integers(1, 8)
_coord = st.floats(-500.0, 500.0, allow_nan=False, allow_infinity=False)
_size = st.floats(1e-3, 400.0, allow_nan=False, allow_infinity=False)
_special = st.sampled_from([np.nan, np.inf, -np.inf])


@st.composite
def nms_inputs(draw, max_n=40, specials=False):
    """(boxes, scores, thr): boxes on an integer grid (exact ties, IoU exactly
    at simple fractions) or arbitrary floats; scores from a small set (ties)
    or arbitrary; optionally some NaN/Inf coordinates and scores."""
    n = draw(st.integers(0, max_n))
    if draw(st.booleans()):
        xy, wh = _grid, _side
    else:
        xy, wh = _coord, _size
    rows = draw(st.lists(st.tuples(xy, xy, wh, wh), min_size=n, max_size=n))
    a = np.asarray(rows, dtype=np.float64).reshape(n, 4)
    boxes = np.stack([a[:, 0], a[:, 1], a[:, 0] + a[:, 2], a[:, 1] + a[:, 3]], axis=1)
    score_el = draw(
        st.sampled_from(
            [
                st.sampled_from([0.0, 0.25, 0.5, 1.0]),
                st.floats(0.0, 1.0, allow_nan=False),
            ]
        )
    )
    scores = np.asarray(draw(st.lists(score_el, min_size=n, max_size=n)), np.float64)
    if specials and n:
        for i in draw(st.lists(st.integers(0, n - 1), max_size=4)):
            boxes[i, draw(st.integers(0, 3))] = draw(_special)
        for i in draw(st.lists(st.integers(0, n - 1), max_size=4)):
            scores[i] = draw(_special)
    thr = draw(st.one_of(st.sampled_from(THRESHOLDS), st.floats(0.0, 1.0, allow_nan=False)))
    return boxes, scores, thr


def _check_greedy_properties(boxes, scores, thr, keep, dtype):
    n = len(boxes)
    assert keep.dtype == np.int64 and keep.ndim == 1
    assert len(set(keep.tolist())) == len(keep)
    assert ((keep >= 0) & (keep < n)).all()
    rank = np.empty(n, np.int64)
    rank[nms_order(scores)] = np.arange(n)
    assert (np.diff(rank[keep]) > 0).all()  # kept boxes come in rank order
    valid = valid_boxes(boxes, dtype)
    with np.errstate(invalid="ignore"):
        over = (box_iou_ref(boxes, boxes, dtype).astype(np.float64) > thr) & np.outer(
            valid, valid
        )
    np.fill_diagonal(over, False)
    # no two kept boxes overlap with IoU > thr
    assert not over[np.ix_(keep, keep)].any()
    # every suppressed box overlaps a kept box of higher rank with IoU > thr
    suppressed = np.setdiff1d(np.arange(n), keep)
    for i in suppressed:
        k = keep[over[keep, i]]
        assert (rank[k] < rank[i]).any(), i
    # invalid boxes are always kept
    assert set(np.nonzero(~valid)[0]) <= set(keep.tolist())


def _greedy_property_case(data, use64):
    boxes, scores, thr = data
    dtype = np.float64 if use64 else np.float32
    boxes, scores = boxes.astype(dtype), scores.astype(dtype)
    keep = nms(boxes, scores, thr)
    _check_greedy_properties(boxes, scores, thr, keep, dtype)
    assert_keep(keep, nms_ref(boxes, scores, thr, dtype))


@fixture_ok
@given(data=nms_inputs(), use64=st.booleans())
def test_property_greedy_nms(data, use64, simd_level):
    _greedy_property_case(data, use64)


@fixture_ok
@given(data=nms_inputs(specials=True), use64=st.booleans())
def test_property_greedy_nms_with_specials(data, use64, simd_level):
    _greedy_property_case(data, use64)
