"""foveal.ops.batched_nms against the per-class greedy NumPy oracle (tests/reference),
torchvision.ops.batched_nms, and the union of per-class foveal.ops.nms merged by rank.

The CPU backend partitions boxes by class after ranking them, then runs a plain scan on small
classes and the grid NMS on large ones, in parallel over classes for large inputs; the tests
cover each path (class sizes either side of the scan / grid switch, inputs either side of the
parallel switch), class labels that are negative, huge or sparse, and the inputs where
torchvision's coordinate-offset trick is wrong (negative coordinates)."""

from __future__ import annotations

import zlib

import numpy as np
import pytest
import torch
import torchvision
from hypothesis import given, settings
from hypothesis import strategies as st
from torchvision.ops.boxes import _batched_nms_coordinate_trick, _batched_nms_vanilla

import foveal
from foveal.ops import batched_nms, nms
from reference.box_data import SCENARIOS, random_boxes, scenario
from reference.box_ref import batched_nms_ref, nms_order

DTYPES = [np.float32, np.float64]


def assert_keep(got, want):
    assert type(got) is np.ndarray, type(got)
    assert got.dtype == np.int64, got.dtype
    assert got.ndim == 1, got.shape
    np.testing.assert_array_equal(got, want)


def tv_batched(boxes, scores, idxs, thr, fn=torchvision.ops.batched_nms):
    return fn(torch.from_numpy(boxes), torch.from_numpy(scores), torch.from_numpy(idxs), thr).numpy()


def distinct_scores(rng, n, dtype):
    """Scores without ties (torchvision's sort does not order ties)."""
    return ((rng.permutation(n) + 1) / (n + 1)).astype(dtype)


def per_class_union(boxes, scores, idxs, thr):
    """batched_nms from foveal.ops.nms: each class's kept boxes, merged by rank."""
    kept = np.zeros(len(scores), dtype=bool)
    for label in np.unique(idxs):
        members = np.nonzero(idxs == label)[0]
        kept[members[nms(boxes[members], scores[members], thr)]] = True
    order = np.asarray(nms_order(scores), dtype=np.int64)
    return order[kept[order]]


# ----------------------------------------------------------------- worked example


def test_worked_example():
    # Boxes 0 and 1 overlap (IoU 9/16 > 0.5) in class 0: 1 goes. Box 2 overlaps box 0 as much
    # but is of class 1, so it stays; box 3 (class 1) overlaps box 2 (IoU 12/16) and goes.
    boxes = np.array([[0, 0, 4, 4], [1, 1, 4, 4], [0, 0, 4, 4], [0, 1, 4, 4]], np.float32)
    scores = np.array([0.9, 0.8, 0.7, 0.6], np.float32)
    idxs = np.array([0, 0, 1, 1])
    assert_keep(batched_nms(boxes, scores, idxs, 0.5), [0, 2])
    assert_keep(batched_nms(boxes, scores, np.zeros(4, np.int64), 0.5), [0])
    assert_keep(batched_nms(boxes, scores, np.arange(4), 0.5), [0, 1, 2, 3])


# ----------------------------------------------------------------- torchvision parity


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    ("n", "n_classes"),
    [(1, 1), (50, 3), (700, 1), (3000, 1000), (5000, 80), (5000, 4), (2000, 2)],
)
@pytest.mark.parametrize("thr", [0.3, 0.5, 0.7])
def test_matches_torchvision(dtype, n, n_classes, thr, simd_level):
    rng = np.random.default_rng(n * 31 + n_classes)
    boxes = random_boxes(rng, n, field=300.0, min_size=4.0, max_size=80.0).astype(dtype)
    scores = distinct_scores(rng, n, dtype)
    idxs = rng.integers(0, n_classes, n)
    want = tv_batched(boxes, scores, idxs, thr)
    assert_keep(batched_nms(boxes, scores, idxs, thr), want)
    # torchvision picks its coordinate trick below 4000 boxes on the CPU: check the loop too.
    assert_keep(batched_nms(boxes, scores, idxs, thr), tv_batched(boxes, scores, idxs, thr, _batched_nms_vanilla))


@pytest.mark.parametrize("dtype", DTYPES)
def test_matches_torchvision_clustered_many_classes(dtype):
    # Dense clusters, class sizes across the scan / grid switch (8 classes of ~1250 boxes and
    # 1000 classes of ~10), labels negative and sparse, some classes empty.
    from foveal.synthetic import clustered_boxes

    boxes, _ = clustered_boxes(20_000, seed=3, dtype=dtype)
    rng = np.random.default_rng(3)
    scores = distinct_scores(rng, len(boxes), dtype)
    labels = np.concatenate([rng.integers(-8, 0, 10_000), rng.integers(0, 2000, 10_000) * 1_000_003])
    idxs = labels[rng.permutation(len(labels))]
    for thr in (0.5, 0.7):
        assert_keep(batched_nms(boxes, scores, idxs, thr), tv_batched(boxes, scores, idxs, thr, _batched_nms_vanilla))


@pytest.mark.parametrize("dtype", DTYPES)
def test_negative_coordinates_where_the_offset_trick_fails(dtype):
    # torchvision's trick shifts class c by c * (max coordinate + 1). With the largest coordinate
    # -1 the shift is 0 and the classes land on each other: box 1 (class 1) is suppressed by
    # box 0 (class 0). foveal never mixes classes.
    boxes = np.array([[-10, -10, -5, -5], [-10, -10, -5, -5], [-3, -3, -1, -1]], dtype)
    scores = np.array([0.9, 0.8, 0.7], dtype)
    idxs = np.array([0, 1, 1])
    trick = tv_batched(boxes, scores, idxs, 0.5, _batched_nms_coordinate_trick)
    assert trick.tolist() == [0, 2]  # the trick's wrong answer (documents why it is not used)
    assert_keep(batched_nms(boxes, scores, idxs, 0.5), [0, 1, 2])
    assert_keep(batched_nms(boxes, scores, idxs, 0.5), tv_batched(boxes, scores, idxs, 0.5, _batched_nms_vanilla))


@pytest.mark.parametrize("dtype", DTYPES)
def test_negative_coordinates_random(dtype):
    rng = np.random.default_rng(5)
    boxes = (random_boxes(rng, 3000, field=500.0, min_size=2.0, max_size=60.0) - 400.0).astype(dtype)
    scores = distinct_scores(rng, len(boxes), dtype)
    idxs = rng.integers(-5, 5, len(boxes))
    for thr in (0.4, 0.6):
        want = tv_batched(boxes, scores, idxs, thr, _batched_nms_vanilla)
        assert_keep(batched_nms(boxes, scores, idxs, thr), want)
        assert_keep(batched_nms(boxes, scores, idxs, thr), batched_nms_ref(boxes, scores, idxs, thr, dtype))


# ----------------------------------------------------------------- oracle, adversarial scenes


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", SCENARIOS)
@pytest.mark.parametrize("n_classes", [1, 3, 40])
def test_scenarios_match_reference(name, dtype, n_classes):
    rng = np.random.default_rng(zlib.crc32(f"{name}-{n_classes}".encode()))
    boxes, scores, _ = scenario(name, rng)
    boxes, scores = boxes.astype(dtype), scores.astype(dtype)
    idxs = rng.integers(0, n_classes, len(boxes))
    for thr in (-0.5, 0.0, 0.5, 1.0, 2.0):
        want = batched_nms_ref(boxes, scores, idxs, thr, dtype)
        assert_keep(batched_nms(boxes, scores, idxs, thr), want)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("class_size", [2, 64, 511, 512, 513, 1500])
def test_class_sizes_around_scan_grid_switch(dtype, class_size, simd_level):
    rng = np.random.default_rng(class_size)
    n = 3 * class_size
    boxes = random_boxes(rng, n, field=120.0, min_size=5.0, max_size=40.0).astype(dtype)
    scores = rng.random(n).astype(dtype)
    scores[rng.random(n) < 0.1] = 0.5  # ties: lower index first
    idxs = np.repeat([7, -7, 0], class_size)[rng.permutation(n)]
    for thr in (0.0, 0.3, 0.7):
        assert_keep(batched_nms(boxes, scores, idxs, thr), batched_nms_ref(boxes, scores, idxs, thr, dtype))


def test_ties_lower_index_first_and_nan_scores_last():
    boxes = np.array([[0, 0, 10, 10]] * 4 + [[50, 50, 60, 60]] * 2, np.float64)
    scores = np.array([np.nan, 0.5, 0.5, 0.9, np.nan, 0.5])
    idxs = np.array([0, 0, 1, 1, 2, 2])
    # class 0: 1 (0.5) before 0 (NaN) -> keeps 1; class 1: 3 then 2 -> keeps 3;
    # class 2: 5 (0.5) then 4 (NaN) -> keeps 5. Merged by rank: 3 (0.9), then 1, 5 (0.5 ties).
    assert_keep(batched_nms(boxes, scores, idxs, 0.5), [3, 1, 5])


def test_large_input_uses_threads_and_matches():
    # Over the parallel switch (65536 boxes): classes handed to threads must not change anything.
    from foveal.synthetic import clustered_boxes

    boxes, _ = clustered_boxes(80_000, seed=1)
    rng = np.random.default_rng(1)
    scores = distinct_scores(rng, len(boxes), np.float32)
    idxs = rng.integers(0, 300, len(boxes))
    idxs[:20_000] = 5  # one class much larger than the rest
    want = tv_batched(boxes, scores, idxs, 0.5, _batched_nms_vanilla)
    assert_keep(batched_nms(boxes, scores, idxs, 0.5), want)


# ----------------------------------------------------------------- properties


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(0, 300),
    n_classes=st.integers(1, 12),
    thr=st.sampled_from([-1.0, 0.0, 0.2, 0.5, 0.9, 1.0]),
    seed=st.integers(0, 2**32 - 1),
    dtype=st.sampled_from(DTYPES),
    tied=st.booleans(),
)
def test_property_union_of_per_class_nms(n, n_classes, thr, seed, dtype, tied):
    rng = np.random.default_rng(seed)
    boxes = random_boxes(rng, n, field=60.0, min_size=1.0, max_size=30.0).astype(dtype)
    scores = (rng.integers(0, 4, n) / 4 if tied else rng.random(n)).astype(dtype)
    idxs = rng.integers(-n_classes, n_classes, n)
    assert_keep(batched_nms(boxes, scores, idxs, thr), per_class_union(boxes, scores, idxs, thr))


def test_one_class_equals_nms():
    rng = np.random.default_rng(9)
    boxes = random_boxes(rng, 2000, field=200.0, min_size=3.0, max_size=50.0)
    scores = rng.random(2000)
    for label in (0, -3, 2**62):
        assert_keep(batched_nms(boxes, scores, np.full(2000, label), 0.5), nms(boxes, scores, 0.5))


# ----------------------------------------------------------------- interop and edge cases


def test_empty_and_torch_inputs():
    e = np.zeros((0, 4), np.float32)
    assert_keep(batched_nms(e, np.zeros(0, np.float32), np.zeros(0, np.int64), 0.5), np.zeros(0, np.int64))
    rng = np.random.default_rng(2)
    boxes = random_boxes(rng, 200, field=80.0, min_size=5.0, max_size=30.0).astype(np.float32)
    scores = distinct_scores(rng, 200, np.float32)
    idxs = rng.integers(0, 5, 200)
    got = batched_nms(torch.from_numpy(boxes), torch.from_numpy(scores), torch.from_numpy(idxs.astype(np.int32)), 0.5)
    assert isinstance(got, torch.Tensor) and got.dtype == torch.int64
    np.testing.assert_array_equal(got.numpy(), tv_batched(boxes, scores, idxs, 0.5))
    # integer labels of any width, and bool, give the same classes
    for dt in (np.int8, np.uint16, np.int32):
        assert_keep(batched_nms(boxes, scores, idxs.astype(dt), 0.5), got.numpy())


def test_inputs_not_modified():
    rng = np.random.default_rng(4)
    boxes = random_boxes(rng, 600, field=50.0, min_size=5.0, max_size=30.0)
    scores, idxs = rng.random(600), rng.integers(0, 3, 600)
    copies = boxes.copy(), scores.copy(), idxs.copy()
    batched_nms(boxes, scores, idxs, 0.5)
    for a, b in zip((boxes, scores, idxs), copies):
        np.testing.assert_array_equal(a, b)


# ----------------------------------------------------------------- bad input


def _ok():
    return np.zeros((3, 4), np.float32), np.zeros(3, np.float32), np.zeros(3, np.int64)


@pytest.mark.parametrize(
    ("change", "exc", "match"),
    [
        (lambda b, s, i: (b, s, np.zeros(2, np.int64)), foveal.FovealValueError, r"batched_nms: idxs must have shape \(N,\) with N = 3"),
        (lambda b, s, i: (b, s, np.zeros((3, 1), np.int64)), foveal.FovealValueError, r"batched_nms: idxs must have shape"),
        (lambda b, s, i: (b, s, np.zeros(3, np.float32)), foveal.FovealTypeError, r"batched_nms: idxs must have an integer dtype, got float32"),
        (lambda b, s, i: (b, np.zeros(4, np.float32), i), foveal.FovealValueError, r"batched_nms: scores must have shape"),
        (lambda b, s, i: (np.zeros((3, 5), np.float32), s, i), foveal.FovealValueError, r"batched_nms: boxes must"),
        (lambda b, s, i: (b, s, torch.zeros(3, dtype=torch.int64)), foveal.FovealTypeError, r"batched_nms: arrays must come from the same array library"),
        (lambda b, s, i: (b, s, [0, 0, 0]), foveal.FovealTypeError, r"batched_nms: idxs must be an array"),
    ],
)
def test_bad_inputs_name_the_argument(change, exc, match):
    with pytest.raises(exc, match=match):
        batched_nms(*change(*_ok()), 0.5)


def test_bad_threshold():
    with pytest.raises(foveal.FovealValueError, match="batched_nms: iou_threshold must not be NaN, got nan"):
        batched_nms(*_ok(), float("nan"))
    with pytest.raises(foveal.FovealTypeError, match="batched_nms: iou_threshold must be a real number"):
        batched_nms(*_ok(), "0.5")


def test_core_takes_int64_and_int32_idxs_only():
    # The native entry point (C++ SDK semantics): int64 or int32 labels.
    b, s, _ = _ok()
    keep = np.empty(3, np.int64)
    with pytest.raises(foveal.FovealTypeError, match="batched_nms: idxs must be int64 or int32, got int16"):
        foveal._core.batched_nms(b, s, np.zeros(3, np.int16), 0.5, keep)
    rng = np.random.default_rng(8)
    boxes = random_boxes(rng, 500, field=80.0, min_size=5.0, max_size=30.0)
    scores, idxs = rng.random(500), rng.integers(-2**31, 2**31, 500).astype(np.int32) % 7 - 3
    for dt in (np.int32, np.int64):
        keep = np.empty(500, np.int64)
        n = foveal._core.batched_nms(boxes, scores, idxs.astype(dt), 0.5, keep)
        assert_keep(keep[:n], batched_nms_ref(boxes, scores, idxs, 0.5))


def test_jax_inputs():
    jnp = pytest.importorskip("jax.numpy")
    rng = np.random.default_rng(6)
    boxes = random_boxes(rng, 300, field=80.0, min_size=5.0, max_size=30.0).astype(np.float32)
    scores, idxs = distinct_scores(rng, 300, np.float32), rng.integers(0, 4, 300)
    got = batched_nms(jnp.asarray(boxes), jnp.asarray(scores), jnp.asarray(idxs), 0.5)
    np.testing.assert_array_equal(np.asarray(got), batched_nms(boxes, scores, idxs, 0.5))


@pytest.mark.needs_cuda
@pytest.mark.parametrize("dtype", [torch.float16, torch.float32, torch.float64])
def test_cuda_matches_cpu(dtype):
    from foveal.synthetic import clustered_boxes

    boxes, _ = clustered_boxes(20_000, seed=2, dtype=np.float64)
    rng = np.random.default_rng(2)
    scores = rng.random(len(boxes))
    scores[rng.random(len(boxes)) < 0.05] = 0.5
    idxs = rng.integers(-3, 500, len(boxes))
    idxs[:3000] = 7
    tb, ts = torch.from_numpy(boxes).to(dtype), torch.from_numpy(scores).to(dtype)
    b32, s32 = tb.float().numpy(), ts.float().numpy()  # CPU computes float16 in float32
    if dtype == torch.float64:
        b32, s32 = boxes, scores
    for thr in (0.5, -1.0, 1.0):
        got = batched_nms(tb.cuda(), ts.cuda(), torch.from_numpy(idxs).cuda(), thr)
        np.testing.assert_array_equal(got.cpu().numpy(), batched_nms(b32, s32, idxs, thr))
