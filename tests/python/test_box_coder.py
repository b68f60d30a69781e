"""foveal.ops.encode_boxes / decode_boxes / BoxCoder against torchvision's BoxCoder and the
float64 oracle in tests/reference/detection_ref.py."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torchvision.models.detection._utils import BoxCoder as TvBoxCoder

from foveal import FovealTypeError, FovealValueError
from foveal.ops import BoxCoder, decode_boxes, encode_boxes
from reference import detection_ref as ref

WEIGHTS = [(1.0, 1.0, 1.0, 1.0), (10.0, 10.0, 5.0, 5.0), (2.0, 0.5, 3.0, 0.25)]
CLIP = math.log(1000.0 / 16)


def random_boxes(rng, n, dtype=np.float32, lo=-500.0):
    xy = rng.uniform(lo, 1000.0, (n, 2))
    wh = rng.uniform(1.0, 300.0, (n, 2))
    return np.concatenate([xy, xy + wh], axis=1).astype(dtype)


def close_f32(got, want):
    """Equal up to a few float32 ulps of the magnitude (torch's exp / log vs ours). The magnitude
    is the largest coordinate of each box: x1 = cx - w / 2 can cancel."""
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    assert got.shape == want.shape
    if want.size == 0:
        return
    per_box = np.abs(want).reshape(*want.shape[:-1], -1, 4).max(axis=-1, keepdims=True)
    scale = np.maximum(np.broadcast_to(per_box, (*per_box.shape[:-1], 4)).reshape(want.shape), 1.0)
    assert np.all(np.abs(got - want) <= 4 * np.finfo(np.float32).eps * scale), np.max(np.abs(got - want) / scale)


@pytest.mark.parametrize("weights", WEIGHTS)
@pytest.mark.parametrize("k", [1, 3, 91])
@pytest.mark.parametrize("n", [0, 1, 7, 33, 1000])
def test_decode_matches_torchvision_float32(weights, k, n, simd_level):
    rng = np.random.default_rng(n * 100 + k)
    boxes = random_boxes(rng, n)
    codes = (rng.standard_normal((n, 4 * k)) * 2).astype(np.float32)
    codes[::5, 2::4] = 9.0  # beyond the clamp
    codes[1::7, 3::4] = -30.0  # exp underflows toward 0
    want = TvBoxCoder(weights).decode_single(torch.from_numpy(codes), torch.from_numpy(boxes)).numpy()
    got = decode_boxes(codes, boxes, weights)
    assert got.dtype == np.float32 and got.shape == (n, 4 * k)
    close_f32(got, want)


@pytest.mark.parametrize("weights", WEIGHTS)
def test_decode_float64_matches_torchvision_and_reference(weights):
    rng = np.random.default_rng(1)
    boxes = random_boxes(rng, 500, np.float64)
    codes = rng.standard_normal((500, 8)) * 3
    want = TvBoxCoder(weights).decode_single(torch.from_numpy(codes), torch.from_numpy(boxes)).numpy()
    got = decode_boxes(codes, boxes, weights)
    np.testing.assert_allclose(got, want, rtol=1e-14, atol=1e-12)
    np.testing.assert_allclose(got, ref.decode(codes, boxes, weights), rtol=1e-14, atol=1e-12)


def test_decode_clip_argument():
    boxes = np.array([[0.0, 0.0, 10.0, 10.0]])
    codes = np.array([[0.0, 0.0, 5.0, 5.0]])
    got = decode_boxes(codes, boxes, bbox_xform_clip=1.0)
    e = math.exp(1.0) * 10
    np.testing.assert_allclose(got, [[5 - e / 2, 5 - e / 2, 5 + e / 2, 5 + e / 2]], rtol=1e-15)
    want = TvBoxCoder((1.0,) * 4, bbox_xform_clip=1.0).decode_single(torch.from_numpy(codes), torch.from_numpy(boxes))
    np.testing.assert_allclose(got, want.numpy(), rtol=1e-15)


def test_decode_exp_is_within_one_ulp():
    # box (-1, -1, 1, 1): x2 = 0 + 0.5 * (exp(dw) * 2) = exp(dw) exactly, so x2 shows our float32 exp.
    dw = np.linspace(-87.0, CLIP, 200001, dtype=np.float32)
    codes = np.zeros((dw.size, 4), np.float32)
    codes[:, 2] = dw
    boxes = np.tile(np.array([-1, -1, 1, 1], np.float32), (dw.size, 1))
    got = decode_boxes(codes, boxes)[:, 2].astype(np.float64)
    exact = np.exp(dw.astype(np.float64))
    ulp = np.spacing(exact.astype(np.float32)).astype(np.float64)
    assert np.max(np.abs(got - exact) / ulp) <= 1.0


def test_decode_split_layout_and_boxcoder_decode():
    rng = np.random.default_rng(2)
    b1, b2 = torch.from_numpy(random_boxes(rng, 5)), torch.from_numpy(random_boxes(rng, 4))
    codes = torch.from_numpy((rng.standard_normal((9, 12)) * 0.5).astype(np.float32))
    tv = TvBoxCoder((10.0, 10.0, 5.0, 5.0))
    want = tv.decode(codes, [b1, b2])
    got = BoxCoder((10.0, 10.0, 5.0, 5.0)).decode(codes, [b1, b2])
    assert isinstance(got, torch.Tensor) and got.shape == want.shape == (9, 3, 4)
    close_f32(got.numpy(), want.numpy())
    split = decode_boxes(codes.reshape(9, 3, 4), torch.cat([b1, b2]), (10.0, 10.0, 5.0, 5.0))
    assert split.shape == (9, 3, 4)
    assert torch.equal(split, got)


@pytest.mark.parametrize("weights", WEIGHTS)
def test_encode_matches_torchvision_and_reference(weights):
    rng = np.random.default_rng(3)
    gt, props = random_boxes(rng, 777), random_boxes(rng, 777)
    tv = TvBoxCoder(weights)
    want = tv.encode_single(torch.from_numpy(gt), torch.from_numpy(props)).numpy()
    got = encode_boxes(gt, props, weights)
    close_f32(got, want)
    got64 = encode_boxes(gt.astype(np.float64), props.astype(np.float64), weights)
    np.testing.assert_allclose(got64, ref.encode(gt, props, weights), rtol=1e-14, atol=1e-13)
    enc = BoxCoder(weights).encode([torch.from_numpy(gt[:300]), torch.from_numpy(gt[300:])],
                                   [torch.from_numpy(props[:300]), torch.from_numpy(props[300:])])
    want_list = tv.encode([torch.from_numpy(gt[:300]), torch.from_numpy(gt[300:])],
                          [torch.from_numpy(props[:300]), torch.from_numpy(props[300:])])
    assert [tuple(e.shape) for e in enc] == [tuple(w.shape) for w in want_list]
    for e, w in zip(enc, want_list):
        close_f32(e.numpy(), w.numpy())


coord = st.floats(-1e4, 1e4, allow_nan=False, width=64)
size = st.floats(0.5, 2e3, allow_nan=False, width=64)


@given(
    st.lists(st.tuples(coord, coord, size, size, coord, coord, size, size), min_size=1, max_size=20),
    st.sampled_from(WEIGHTS),
)
def test_decode_inverts_encode(rows, weights):
    a = np.array(rows, np.float64)
    g = np.stack([a[:, 0], a[:, 1], a[:, 0] + a[:, 2], a[:, 1] + a[:, 3]], axis=1)
    p = np.stack([a[:, 4], a[:, 5], a[:, 4] + a[:, 6], a[:, 5] + a[:, 7]], axis=1)
    codes = encode_boxes(g, p, weights)
    # only where the size ratio is inside the decoder's clamp
    ok = np.all(codes[:, 2:] / np.array(weights[2:]) < CLIP, axis=1)
    back = decode_boxes(codes, p, weights)
    np.testing.assert_allclose(back[ok], g[ok], rtol=1e-9, atol=1e-7)


def test_inputs_are_not_modified():
    rng = np.random.default_rng(4)
    boxes, codes = random_boxes(rng, 10), rng.standard_normal((10, 4)).astype(np.float32)
    b0, c0 = boxes.copy(), codes.copy()
    decode_boxes(codes, boxes)
    encode_boxes(boxes, boxes[::-1].copy())
    np.testing.assert_array_equal(boxes, b0)
    np.testing.assert_array_equal(codes, c0)


def test_errors_name_the_argument():
    boxes = np.zeros((5, 4), np.float32)
    with pytest.raises(FovealValueError, match=r"decode_boxes: boxes must have shape \(N, 4\) with N = 6"):
        decode_boxes(np.zeros((6, 4), np.float32), boxes)
    with pytest.raises(FovealValueError, match=r"decode_boxes: rel_codes must have shape \(N, 4 \* K\)"):
        decode_boxes(np.zeros((5, 6), np.float32), boxes)
    with pytest.raises(FovealValueError, match=r"decode_boxes: boxes must have shape \(N, 4\)"):
        decode_boxes(np.zeros((5, 4), np.float32), np.zeros((5, 5), np.float32))
    with pytest.raises(FovealValueError, match="encode_boxes: proposals must have shape"):
        encode_boxes(boxes, np.zeros((4, 4), np.float32))
    with pytest.raises(FovealValueError, match="encode_boxes: reference_boxes must have shape"):
        encode_boxes(np.zeros((5, 3), np.float32), boxes)
    with pytest.raises(FovealValueError, match="weights must be a sequence of 4 numbers"):
        decode_boxes(np.zeros((5, 4), np.float32), boxes, weights=(1.0, 1.0))
    with pytest.raises(FovealTypeError, match="bbox_xform_clip must be a real number"):
        decode_boxes(np.zeros((5, 4), np.float32), boxes, bbox_xform_clip="big")
    with pytest.raises(FovealTypeError, match="rel_codes must be an array"):
        decode_boxes([[0, 0, 0, 0]], boxes)
    with pytest.raises(FovealValueError, match="BoxCoder.decode: rel_codes must have 5 rows"):
        BoxCoder((1.0,) * 4).decode(np.zeros((4, 4), np.float32), [boxes])


@pytest.mark.needs_cuda
@pytest.mark.parametrize("dtype", [torch.float16, torch.float32, torch.float64], ids=str)
@pytest.mark.parametrize("k", [1, 5])
def test_cuda_matches_cpu(dtype, k):
    rng = np.random.default_rng(9)
    boxes = torch.from_numpy(random_boxes(rng, 3000, np.float64, lo=0.0))
    codes = torch.from_numpy(rng.standard_normal((3000, 4 * k)) * 0.5)
    codes[::9, 2] = 8.0  # clamped
    want = decode_boxes(codes, boxes, (10.0, 10.0, 5.0, 5.0))
    got = decode_boxes(codes.to(dtype).cuda(), boxes.to(dtype).cuda(), (10.0, 10.0, 5.0, 5.0))
    assert got.is_cuda and got.dtype == dtype and got.shape == want.shape
    if dtype == torch.float16:  # inputs rounded to float16 first: compare with the CPU on the same inputs
        want = decode_boxes(codes.half().float(), boxes.half().float(), (10.0, 10.0, 5.0, 5.0)).double()
        np.testing.assert_allclose(got.double().cpu().numpy(), want.numpy(), rtol=2e-3, atol=0.5)
    else:
        tol = 1e-12 if dtype == torch.float64 else 1e-5
        np.testing.assert_allclose(got.double().cpu().numpy(), want.numpy(), rtol=tol, atol=tol * 100)
    g = torch.from_numpy(random_boxes(rng, 3000, np.float64, lo=0.0))
    enc_cpu = encode_boxes(g, boxes)
    enc = encode_boxes(g.to(dtype).cuda(), boxes.to(dtype).cuda())
    if dtype != torch.float16:
        np.testing.assert_allclose(enc.double().cpu().numpy(), enc_cpu.numpy(), rtol=1e-4, atol=1e-4)
