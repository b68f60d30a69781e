"""foveal.ops.nms on scenes that defeat a spatial index sized by the span of
the boxes or by the largest box (one far box, two far-apart clusters, one huge
box: foveal.synthetic.outlier_scene), and on thresholds outside [0, 1].

Oracles: torchvision.ops.nms (any real threshold: suppress when IoU > t, so
below 0 every pair with a non-NaN IoU suppresses, even disjoint boxes, and
from 1 up nothing does) and the greedy NumPy reference in tests/reference,
in float64 and in float32 arithmetic. The CPU index (size levels, dense or
hashed sparse grids per level) is exercised through its paths: dense and
sparse levels, hashed cell probes, binary searches along wide rows, the walk
over every occupied cell, levels skipped by size."""

from __future__ import annotations

import functools

import numpy as np
import pytest
import torch
import torchvision

from foveal.ops import nms
from foveal.synthetic import OUTLIER_KINDS, outlier_scene
from reference.box_data import scenario
from reference.box_ref import nms_order, nms_ref

DTYPES = [np.float32, np.float64]


def assert_keep(got, want):
    assert type(got) is np.ndarray and got.dtype == np.int64 and got.ndim == 1
    np.testing.assert_array_equal(got, np.asarray(want, dtype=np.int64))


def tv_nms(boxes, scores, thr):
    return torchvision.ops.nms(torch.from_numpy(boxes), torch.from_numpy(scores), float(thr)).numpy()


# ------------------------------------------------------------ outlier scenes


@pytest.mark.parametrize("kind", sorted(OUTLIER_KINDS))
def test_outlier_scene_200k_matches_torchvision(kind):
    # torchvision costs N x kept: larger boxes (fewer kept) keep it to about a second.
    size_range = (8.0, 64.0) if kind == "huge" else (128.0, 512.0)
    b, s = outlier_scene(200_000, kind, size_range=size_range)
    thr = OUTLIER_KINDS[kind]
    keep = nms(b, s, thr)
    assert_keep(keep, tv_nms(b, s, thr))
    assert 0 < len(keep) < len(b)
    if kind == "far":
        assert len(b) - 1 in keep  # alone: nothing can suppress it
    if kind == "split":
        half = len(b) // 2
        assert (keep < half).any() and (keep >= half).any()


@functools.lru_cache(maxsize=None)
def _scene_case(kind, outlier, dtype_name, thr):
    dtype = np.dtype(dtype_name)
    b, s = outlier_scene(1500, kind, seed=7, outlier=outlier, dtype=dtype)
    return b, s, nms_ref(b, s, thr, dtype), tv_nms(b, s, thr)


@pytest.mark.parametrize("outlier", [False, True])
@pytest.mark.parametrize("kind", sorted(OUTLIER_KINDS))
@pytest.mark.parametrize("dtype", DTYPES)
def test_outlier_scene_matches_references(kind, outlier, dtype, simd_level):
    for thr in sorted({OUTLIER_KINDS[kind], 0.0, 0.7}):
        b, s, ref, tv = _scene_case(kind, outlier, np.dtype(dtype).name, thr)
        keep = nms(b, s, thr)
        assert_keep(keep, ref)
        assert_keep(keep, tv)


def test_outlier_scene_is_deterministic_and_differs_only_by_the_outlier():
    for kind in OUTLIER_KINDS:
        b, s = outlier_scene(1001, kind, seed=3)
        b2, s2 = outlier_scene(1001, kind, seed=3)
        base, sb = outlier_scene(1001, kind, seed=3, outlier=False)
        np.testing.assert_array_equal(b, b2)
        np.testing.assert_array_equal(s, sb)
        changed = (b != base).any(axis=1)
        assert changed.sum() == (501 if kind == "split" else 1), kind
        assert b.dtype == s.dtype == np.float32 and (b[:, 2:] > b[:, :2]).all()
    b, _ = outlier_scene(10, "far", dtype=np.float64)
    assert b.dtype == np.float64 and b[-1, 0] > 9e6
    assert outlier_scene(0, "huge")[0].shape == (0, 4)
    with pytest.raises(ValueError, match="kind"):
        outlier_scene(10, "near")
    with pytest.raises(ValueError, match="size_range"):
        outlier_scene(10, "far", size_range=(0.0, 5.0))


def _mixed_scene(seed, n=4000):
    """Small boxes on a canvas, one far cluster (sparse grids), a few huge and
    very wide or tall boxes with top scores (so they are kept and search the
    small boxes' grid through many cells), sizes spanning several levels."""
    rng = np.random.default_rng(seed)
    c = rng.uniform(0, 2000, (n, 2))
    wh = 10.0 ** rng.uniform(0.3, 2.3, (n, 2))
    c[: n // 20] += 3e6  # far cluster
    c[n // 20 : n // 20 + 3] = [[-5e5, 7e5], [9e6, -2e6], [4e4, 4e4]]  # lone far boxes
    big = n // 20 + 3
    wh[big : big + 4] = [[3e5, 3e5], [1e4, 2e4], [4e3, 3e3], [2e6, 2e6]]  # huge
    c[big : big + 4] = [[1000, 1000], [500, 1500], [1800, 200], [3e6, 3e6]]
    wh[big + 4 : big + 12] = [[1500, 8], [8, 1500]] * 4  # wide and tall
    c[big + 4 : big + 12] = rng.uniform(200, 1800, (8, 2))
    b = np.concatenate([c - wh / 2, c + wh / 2], axis=1)
    s = rng.uniform(0, 1, n)
    s[big : big + 12] = rng.uniform(1, 2, 12)
    return b, s


@functools.lru_cache(maxsize=None)
def _mixed_case(thr, dtype_name):
    dtype = np.dtype(dtype_name)
    b, s = _mixed_scene(11)
    b, s = b.astype(dtype), s.astype(dtype)
    return b, s, nms_ref(b, s, thr, dtype), tv_nms(b, s, thr)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("thr", [0.0, 1e-6, 1e-3, 0.1, 0.5, 0.9])
def test_mixed_sizes_and_far_clusters(thr, dtype, simd_level):
    b, s, ref, tv = _mixed_case(thr, np.dtype(dtype).name)
    keep = nms(b, s, thr)
    assert_keep(keep, ref)
    assert_keep(keep, tv)


# ----------------------------------------------------- thresholds outside [0, 1]

NAN, INF = np.nan, np.inf
# Degenerate, inverted and non-finite boxes: at t >= 0 they never suppress, below 0 IoU 0
# suppresses and only a NaN IoU (e.g. 0 / 0 between zero-area boxes) spares a box.
SPECIAL_BOXES = np.array(
    [
        [0, 0, 10, 10],
        [NAN, 0, 10, 10],
        [10, 0, 0, 10],  # inverted in x: area -100, union with box 0 is 0 -> IoU NaN
        [10, 10, 0, 0],  # inverted in x and y: area +100
        [0, 0, 0, 10],
        [0, 0, 10, 0],
        [-INF, -INF, INF, INF],
        [0, 0, INF, 10],
        [0, 0, 10, 10],
        [NAN, NAN, NAN, NAN],
        [100, 100, 110, 110],  # far from box 0: IoU 0
        [50, 50, 50, 50],
        [60, 60, 60, 60],
        [1e30, 1e30, 3e30, 3e30],
        [-3e38, -3e38, 3e38, 3e38],
    ]
)
NEGATIVE = [-1e-300, -1e-45, -1e-9, -0.1, -0.5, -1.0, -7.5, -1e300, -INF]
ABOVE_ONE = [1.0, np.nextafter(1.0, 2.0), 1.0000001, 2.0, 1e300, INF]


@pytest.mark.parametrize("dtype", DTYPES)
def test_negative_threshold_special_boxes(dtype, simd_level):
    b = SPECIAL_BOXES.astype(dtype)
    n = len(b)
    for s in (np.linspace(1.0, 0.1, n), np.linspace(0.1, 1.0, n), np.random.default_rng(1).random(n)):
        s = s.astype(dtype)
        for thr in NEGATIVE:
            keep = nms(b, s, thr)
            assert_keep(keep, tv_nms(b, s, thr))
            assert_keep(keep, nms_ref(b, s, thr, dtype))
    # box 0 first: it suppresses the disjoint box 10 and the zero-area ones, not the NaN ones
    s = np.linspace(1.0, 0.1, n).astype(dtype)
    assert 10 not in nms(b, s, -0.1) and 10 in nms(b, s, 0.0)


@pytest.mark.parametrize("name", ["random", "multiscale", "degenerate", "nonfinite_coords", "tied_scores"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_negative_threshold_scenes(name, dtype, simd_level):
    b, s, _ = scenario(name, np.random.default_rng(5))
    b, s = b.astype(dtype), s.astype(dtype)
    for thr in (-1e-9, -0.5, -INF):
        keep = nms(b, s, thr)
        assert_keep(keep, tv_nms(b, s, thr))
        assert_keep(keep, nms_ref(b, s, thr, dtype))


def test_negative_threshold_nan_scores_against_reference():
    # torchvision ranks NaN scores first, foveal last: the reference only.
    b, s, _ = scenario("nonfinite_scores", np.random.default_rng(6))
    for thr in (-0.25, -INF):
        assert_keep(nms(b, s, thr), nms_ref(b, s, thr))


@pytest.mark.parametrize("dtype", DTYPES)
def test_negative_threshold_zero_area_boxes_all_kept(dtype):
    # IoU of two zero-area boxes is 0 / 0 = NaN: none suppresses another, every box is
    # compared with every other (torchvision's N^2 too).
    rng = np.random.default_rng(8)
    p = rng.uniform(0, 100, (1500, 2))
    b = np.concatenate([p, p + [[0.0, 5.0]] * (rng.random((1500, 1)) < 0.5)], axis=1).astype(dtype)
    s = rng.random(1500).astype(dtype)
    keep = nms(b, s, -0.5)
    assert_keep(keep, nms_order(s))
    assert_keep(keep, tv_nms(b, s, -0.5))
    # one box with area: it suppresses every zero-area box it is compared with
    b2 = np.concatenate([[[0, 0, 1, 1]], b]).astype(dtype)
    s2 = np.concatenate([[2.0], s]).astype(dtype)
    assert_keep(nms(b2, s2, -0.5), [0])


@pytest.mark.parametrize("kind", sorted(OUTLIER_KINDS))
def test_negative_threshold_large_scene(kind):
    b, s = outlier_scene(200_000, kind)
    keep = nms(b, s, -0.01)
    assert_keep(keep, tv_nms(b, s, -0.01))
    assert_keep(keep, [int(np.argmax(s))])  # valid boxes only: the first removes all


@pytest.mark.parametrize("dtype", DTYPES)
def test_threshold_above_one_keeps_everything(dtype, simd_level):
    rng = np.random.default_rng(9)
    b, s, _ = scenario("identical", rng)  # IoU exactly 1 everywhere
    parts = [b, SPECIAL_BOXES, outlier_scene(2000, "huge", seed=2)[0]]
    b = np.concatenate(parts).astype(dtype)
    s = rng.random(len(b)).astype(dtype)
    for thr in ABOVE_ONE:
        keep = nms(b, s, thr)
        assert_keep(keep, nms_order(s))
        assert_keep(keep, tv_nms(b, s, thr))
    # just below 1: identical boxes suppress each other
    assert len(nms(b, s, np.nextafter(1.0, 0.0))) < len(b)


@pytest.mark.parametrize("dtype", DTYPES)
def test_threshold_zero_against_torchvision(dtype, simd_level):
    b = SPECIAL_BOXES.astype(dtype)
    s = np.random.default_rng(4).random(len(b)).astype(dtype)
    for thr in (0.0, -0.0, 5e-324):
        assert_keep(nms(b, s, thr), tv_nms(b, s, thr))
    b, s = outlier_scene(20_000, "huge", seed=4, dtype=dtype)
    assert_keep(nms(b, s, 0.0), tv_nms(b, s, 0.0))


def test_threshold_accepts_numpy_and_extreme_scalars():
    b = SPECIAL_BOXES.astype(np.float32)
    s = np.linspace(1.0, 0.1, len(b)).astype(np.float32)
    for thr in (np.float32(-0.5), np.float64(3.0), -2, 10**400 // 10**399, np.float16(-np.inf)):
        assert_keep(nms(b, s, thr), tv_nms(b, s, float(thr)))


@pytest.mark.parametrize("thr", [NAN, float("nan"), np.float32(NAN), -NAN])
def test_nan_threshold_is_value_error(thr):
    b, s = outlier_scene(5, "far")
    with pytest.raises(ValueError, match=r"nms: iou_threshold must not be NaN, got nan"):
        nms(b, s, thr)
