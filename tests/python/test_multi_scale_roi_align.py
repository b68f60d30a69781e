"""foveal.ops.multi_scale_roi_align against torchvision.ops.MultiScaleRoIAlign (the peer) on
random pyramids, and against foveal.ops.roi_align per level; bad input."""

from __future__ import annotations

import math
from collections import OrderedDict

import numpy as np
import pytest
import torch
import torchvision

from foveal.ops import multi_scale_roi_align, roi_align

C = 4  # a channel block of 4 on the CPU (test_roi.py covers 1 and 2)
TOL = {np.float32: dict(rtol=1e-5, atol=2e-5), np.float64: dict(rtol=1e-12, atol=1e-12)}


def pyramid(rng, batch, image_sizes, levels, dtype, first=2):
    """Feature maps of strides 2**first ... as a backbone gives them (ceil division of the padded
    batch size, so the ratios are not exact powers of two)."""
    h = max(s[0] for s in image_sizes)
    w = max(s[1] for s in image_sizes)
    return OrderedDict(
        (f"p{first + i}", rng.standard_normal((batch, C, math.ceil(h / 2 ** (first + i)),
                                               math.ceil(w / 2 ** (first + i)))).astype(dtype))
        for i in range(levels))


def boxes_of_all_scales(rng, k, h, w, dtype):
    """k boxes with sqrt(area) spread over 1 .. the image (log-uniform), some partly outside,
    a few degenerate: zero width, and x2 < x1 (negative area: no level in torchvision)."""
    side = np.exp(rng.uniform(0, np.log(max(h, w) * 1.2), (k, 2)))
    x1 = rng.uniform(-0.1, 1.0, k) * w
    y1 = rng.uniform(-0.1, 1.0, k) * h
    b = np.stack([x1, y1, x1 + side[:, 0], y1 + side[:, 1]], 1)
    if k >= 4:
        b[0, 2] = b[0, 0]  # zero area
        b[1, 2] = b[1, 0] - 3  # negative area
        b[2] = [0, 0, w, h]  # the whole image
        b[3] = [1, 1, 2, 2]  # one pixel
    return b.astype(dtype)


def tv_msroi(feats, boxes, image_sizes, size, sr, names=None, **kw):
    m = torchvision.ops.MultiScaleRoIAlign(names or list(feats), size, sr, **kw)
    x = OrderedDict((k, torch.from_numpy(v)) for k, v in feats.items())
    return m(x, [torch.from_numpy(b) for b in boxes], image_sizes).numpy()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("levels", [1, 2, 3, 4])
@pytest.mark.parametrize(
    "image_sizes",
    [[(64, 64)], [(100, 75), (96, 120)], [(200, 152), (181, 200), (160, 90)], [(33, 47)]],
)
@pytest.mark.parametrize(("size", "sr"), [((7, 7), 2), ((3, 5), -1), ((2, 2), 0)])
def test_matches_torchvision(size, sr, image_sizes, levels, dtype):
    rng = np.random.default_rng([levels, len(image_sizes), size[0], sr + 1, dtype == np.float64])
    batch = len(image_sizes)
    feats = pyramid(rng, batch, image_sizes, levels, dtype)
    counts = [int(rng.integers(0, 40)) for _ in range(batch)]
    counts[-1] = 0 if batch > 1 else counts[-1]  # an image without boxes
    boxes = [boxes_of_all_scales(rng, n, h, w, dtype) for n, (h, w) in zip(counts, image_sizes)]
    want = tv_msroi(feats, boxes, image_sizes, size, sr, canonical_scale=56, canonical_level=3)
    got = multi_scale_roi_align(feats, boxes, image_sizes, size, sr, 56, 3)
    assert got.dtype == dtype and got.shape == want.shape == (sum(counts), C, *size)
    np.testing.assert_allclose(got, want, **TOL[dtype])
    # the list form is the dict's values in order
    np.testing.assert_array_equal(multi_scale_roi_align(list(feats.values()), boxes, image_sizes, size, sr, 56, 3), got)


def test_default_canonical_level_and_fpn_sizes(simd_level):
    """The Faster R-CNN layout at a small scale: strides 4..32, boxes of every FPN level."""
    rng = np.random.default_rng(1)
    image_sizes = [(320, 480), (300, 500)]
    feats = pyramid(rng, 2, image_sizes, 4, np.float32)
    boxes = [boxes_of_all_scales(rng, 300, h, w, np.float32) * 2 for h, w in image_sizes]
    want = tv_msroi(feats, boxes, image_sizes, 7, 2)
    got = multi_scale_roi_align(feats, boxes, image_sizes, 7, 2)
    np.testing.assert_allclose(got, want, **TOL[np.float32])
    # every level is used, and a negative-area box is all zeros (pooled from no level)
    side = np.sqrt(np.abs(np.concatenate([(b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1]) for b in boxes])))
    assert side.min() < 112 and side.max() > 448
    assert not got[1].any() and not got[301].any()


def test_featmap_names_subset_and_gapped_levels():
    """torchvision selects featmap_names; with maps at strides 4 and 16 only, level-3 boxes are
    pooled from the stride-16 map and level-4 boxes from none (zeros): foveal does the same."""
    rng = np.random.default_rng(2)
    image_sizes = [(256, 256)]
    feats = pyramid(rng, 1, image_sizes, 3, np.float32)
    boxes = [boxes_of_all_scales(rng, 200, 256, 256, np.float32)]
    want = tv_msroi(feats, boxes, image_sizes, 4, 2, names=["p2", "p4"])
    got = multi_scale_roi_align({k: feats[k] for k in ("p2", "p4")}, boxes, image_sizes, 4, 2)
    np.testing.assert_allclose(got, want, **TOL[np.float32])
    assert not got.any(axis=(1, 2, 3)).all()  # some boxes did map to no level


def test_each_roi_is_roi_align_of_its_level():
    """Oracle without torchvision: the LevelMapper by hand (float64 arithmetic), then
    foveal.roi_align of each box on its level; also with aligned=True, which torchvision's
    MultiScaleRoIAlign does not offer."""
    rng = np.random.default_rng(3)
    image_sizes = [(128, 160), (120, 170)]
    feats = list(pyramid(rng, 2, image_sizes, 3, np.float64).values())
    boxes = [boxes_of_all_scales(rng, 50, h, w, np.float64)[4:] for h, w in image_sizes]
    for aligned in (False, True):
        got = multi_scale_roi_align(feats, boxes, image_sizes, (5, 4), 2, aligned=aligned)
        rows = []
        for i, b in enumerate(boxes):
            for box in b:
                k = math.floor(4 + math.log2(math.sqrt((box[2] - box[0]) * (box[3] - box[1])) / 224) + 1e-6)
                lvl = min(max(k, 2), 4) - 2
                roi = np.array([[i, *box]])
                rows.append(roi_align(feats[lvl], roi, (5, 4), 2.0 ** -(lvl + 2), 2, aligned)[0])
        np.testing.assert_allclose(got, np.stack(rows), rtol=1e-12, atol=1e-12)


def test_torch_in_torch_out_and_stacked_rois_and_empty():
    rng = np.random.default_rng(4)
    image_sizes = [(64, 96)]
    feats = pyramid(rng, 1, image_sizes, 2, np.float32)
    b = boxes_of_all_scales(rng, 10, 64, 96, np.float32)
    xt = {k: torch.from_numpy(v) for k, v in feats.items()}
    got = multi_scale_roi_align(xt, [torch.from_numpy(b)], image_sizes, 3, 2)
    assert isinstance(got, torch.Tensor) and got.dtype == torch.float32
    stacked = np.concatenate([np.zeros((10, 1), np.float32), b], 1)
    np.testing.assert_array_equal(got.numpy(), multi_scale_roi_align(feats, stacked, image_sizes, 3, 2))
    empty = multi_scale_roi_align(feats, [np.zeros((0, 4), np.float32)], image_sizes, 3, 2)
    assert empty.shape == (0, C, 3, 3)
    # inputs untouched
    before = {k: v.copy() for k, v in feats.items()}
    multi_scale_roi_align(feats, [b], image_sizes, 3, 2)
    for k in feats:
        np.testing.assert_array_equal(feats[k], before[k])


# ------------------------------------------------------------------ bad input

F = OrderedDict(p2=np.zeros((2, C, 16, 16), np.float32), p3=np.zeros((2, C, 8, 8), np.float32))
B = [np.array([[1, 1, 9, 9]], np.float32), np.zeros((0, 4), np.float32)]
SIZES = [(64, 64), (64, 64)]


def test_bad_features():
    op = "multi_scale_roi_align"
    with pytest.raises(ValueError, match=f"{op}: features must hold at least one feature map"):
        multi_scale_roi_align([], B, SIZES, 2, 2)
    with pytest.raises(ValueError, match=f"{op}: features must hold at least one feature map"):
        multi_scale_roi_align({}, B, SIZES, 2, 2)
    with pytest.raises(TypeError, match=f"{op}: features must be a dict or a list of arrays"):
        multi_scale_roi_align(F["p2"], B, SIZES, 2, 2)
    bad_c = [F["p2"], np.zeros((2, C + 1, 8, 8), np.float32)]
    with pytest.raises(ValueError, match=rf"{op}: features\[1\] must have shape \(N, C, H, W\) with N = 2 and C = 4"):
        multi_scale_roi_align(bad_c, B, SIZES, 2, 2)
    bad_n = [F["p2"], np.zeros((1, C, 8, 8), np.float32)]
    with pytest.raises(ValueError, match=rf"{op}: features\[1\] must have shape .* N = 2"):
        multi_scale_roi_align(bad_n, B, SIZES, 2, 2)
    with pytest.raises(ValueError, match=rf"{op}: features\[1\] must have shape .*H, W >= 1"):
        multi_scale_roi_align([F["p2"], np.zeros((2, C, 0, 8), np.float32)], B, SIZES, 2, 2)
    with pytest.raises(ValueError, match=rf"{op}: features\[0\] must have shape \(N, C, H, W\)"):
        multi_scale_roi_align([F["p2"][0]], B, SIZES, 2, 2)
    with pytest.raises(TypeError, match=rf"{op}: features\[1\] has dtype float64"):
        multi_scale_roi_align([F["p2"], F["p3"].astype(np.float64)], B, SIZES, 2, 2)
    with pytest.raises(TypeError, match=f"{op}: features.0. must be float32, float64"):
        multi_scale_roi_align([F["p2"].astype(np.int32)], B, SIZES, 2, 2)
    with pytest.raises(TypeError, match=f"{op}: arrays must come from the same array library"):
        multi_scale_roi_align([F["p2"], torch.from_numpy(F["p3"])], B, SIZES, 2, 2)
    with pytest.raises(ValueError, match=f"{op}: features must hold 1 to 16 feature maps, got 17"):
        multi_scale_roi_align([F["p3"]] * 17, B, SIZES, 2, 2)


@pytest.mark.parametrize("sizes", [[], [(64,)], [(64, 64, 3)], [(64, 0)], [(-1, 64)], 64, "ab", [(64.5, 64)]])
def test_bad_image_sizes(sizes):
    with pytest.raises((ValueError, TypeError), match="multi_scale_roi_align: image_sizes must be"):
        multi_scale_roi_align(F, B, sizes, 2, 2)


def test_bad_arguments():
    op = "multi_scale_roi_align"
    with pytest.raises(ValueError, match=rf"{op}: rois\[:, 0\] must hold integral batch indices in \[0, 2\)"):
        multi_scale_roi_align(F, B + [B[0]], SIZES, 2, 2)
    with pytest.raises(ValueError, match=rf"{op}: boxes\[0\] must have shape \(Ki, 4\)"):
        multi_scale_roi_align(F, [np.zeros((1, 5), np.float32)], SIZES, 2, 2)
    with pytest.raises(ValueError, match=f"{op}: rois must hold finite coordinates"):
        multi_scale_roi_align(F, [np.array([[1, 1, np.inf, 9]], np.float32)], SIZES, 2, 2)
    with pytest.raises(ValueError, match=f"{op}: output_size must be >= 1"):
        multi_scale_roi_align(F, B, SIZES, 0, 2)
    with pytest.raises(TypeError, match=f"{op}: sampling_ratio must be an int"):
        multi_scale_roi_align(F, B, SIZES, 2, 2.0)
    with pytest.raises(ValueError, match=f"{op}: canonical_scale must be >= 1"):
        multi_scale_roi_align(F, B, SIZES, 2, 2, canonical_scale=0)
    with pytest.raises(TypeError, match=f"{op}: canonical_level must be an int"):
        multi_scale_roi_align(F, B, SIZES, 2, 2, canonical_level=4.0)
    with pytest.raises(RuntimeError):  # errors are RuntimeError too, as torchvision's
        multi_scale_roi_align([], B, SIZES, 2, 2)


def test_docstring_example():
    import doctest

    runner = doctest.DocTestRunner()
    for test in doctest.DocTestFinder().find(multi_scale_roi_align):
        runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.attempted >= 4 and result.failed == 0


@pytest.mark.needs_cuda
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32])
def test_cuda_matches_cpu(dtype):
    rng = np.random.default_rng(6)
    image_sizes = [(128, 160), (120, 170)]
    feats = list(pyramid(rng, 2, image_sizes, 4, np.float32).values())
    boxes = [boxes_of_all_scales(rng, 60, h, w, np.float32) for h, w in image_sizes]
    xc = [torch.from_numpy(f).cuda().to(dtype) for f in feats]
    got = multi_scale_roi_align(xc, [torch.from_numpy(b).cuda() for b in boxes], image_sizes, 7, 2,
                                canonical_scale=64)
    assert got.dtype == dtype and got.is_cuda
    want = multi_scale_roi_align([f.float().cpu().numpy() for f in xc], boxes, image_sizes, 7, 2, canonical_scale=64)
    tol = dict(rtol=1e-2, atol=1e-2) if dtype != torch.float32 else dict(rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(got.float().cpu().numpy(), want, **tol)


def test_levels_with_different_channel_blocks():
    """A finest map too large for a block of 4 planes in L2 (200 x 200 x 4 channels) next to
    coarser ones that take blocks of 4: each level uses its own channel block."""
    rng = np.random.default_rng(7)
    image_sizes = [(800, 800)]
    feats = pyramid(rng, 1, image_sizes, 4, np.float32)
    assert feats["p2"].shape[2:] == (200, 200)
    boxes = [boxes_of_all_scales(rng, 400, 800, 800, np.float32)]
    want = tv_msroi(feats, boxes, image_sizes, 7, 2)
    got = multi_scale_roi_align(feats, boxes, image_sizes, 7, 2)
    np.testing.assert_allclose(got, want, **TOL[np.float32])


@pytest.mark.needs_cuda
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cuda_equals_torchvision_cpu(dtype):
    """The CUDA kernel (roi_align's warp per RoI and channel on the RoI's level) equals
    torchvision's CPU MultiScaleRoIAlign bit for bit: 4 levels, 2 images, 300 boxes per image of
    all scales (zero and negative area included), fixed and adaptive grids."""
    rng = np.random.default_rng([8, dtype == np.float64])
    image_sizes = [(128, 160), (120, 170)]
    feats = pyramid(rng, 2, image_sizes, 4, dtype)
    boxes = [boxes_of_all_scales(rng, 300, h, w, dtype) for h, w in image_sizes]
    xc = [torch.from_numpy(f).cuda() for f in feats.values()]
    bc = [torch.from_numpy(b).cuda() for b in boxes]
    for size, sr in [((7, 7), 2), ((3, 5), -1)]:
        got = multi_scale_roi_align(xc, bc, image_sizes, size, sr, canonical_scale=64).cpu().numpy()
        np.testing.assert_array_equal(got, tv_msroi(feats, boxes, image_sizes, size, sr, canonical_scale=64))


@pytest.mark.parametrize("channels", [4, 70])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_channels_last_levels_match_torchvision(channels, dtype, simd_level):
    """Channels-last levels (numpy views of (N, H, W, C) memory, torch channels_last) run the
    NHWC kernel: torchvision's values, every level, RoIs of no level; a pyramid mixing layouts is
    pooled too (the front end makes it one layout)."""
    rng = np.random.default_rng([channels, dtype == np.float64])
    image_sizes = [(200, 152), (181, 200)]
    h, w = 200, 200
    feats = OrderedDict(
        (f"p{2 + i}", rng.standard_normal((2, channels, math.ceil(h / 2 ** (2 + i)), math.ceil(w / 2 ** (2 + i))))
         .astype(dtype)) for i in range(4))
    boxes = [boxes_of_all_scales(rng, 50, hh, ww, dtype) for hh, ww in image_sizes]
    want = tv_msroi(feats, boxes, image_sizes, 7, 2)
    cl = [np.ascontiguousarray(f.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2) for f in feats.values()]
    got = multi_scale_roi_align(cl, boxes, image_sizes, 7, 2)
    np.testing.assert_allclose(got, want, **TOL[dtype])
    tcl = [torch.from_numpy(f).contiguous(memory_format=torch.channels_last) for f in feats.values()]
    got_t = multi_scale_roi_align(tcl, [torch.from_numpy(b) for b in boxes], image_sizes, 7, 2)
    np.testing.assert_array_equal(got_t.numpy(), got)
    mixed = [cl[0], *list(feats.values())[1:]]
    np.testing.assert_allclose(multi_scale_roi_align(mixed, boxes, image_sizes, 7, 2), want, **TOL[dtype])


@pytest.mark.parametrize(("size", "sr"), [((7, 7), 2), ((7, 7), -1), ((4, 16), 2), ((3, 17), 0)])
def test_float32_equal_at_every_simd_level(size, sr):
    """float32 multi-scale RoIAlign takes the AVX-512 permute kernel where the CPU has it
    (test_roi.py explains): bit-identical to the other levels, on boxes of every scale and
    levels with different channel blocks, with non-finite values in the maps."""
    import foveal._core as core

    rng = np.random.default_rng([size[1], sr + 5])
    image_sizes = [(400, 560), (380, 512)]
    feats = pyramid(rng, 2, image_sizes, 4, np.float32)
    feats["p2"][0, 1, 10, 20], feats["p3"][1, 0, 5, 9] = np.inf, np.nan
    boxes = [boxes_of_all_scales(rng, 300, s[0], s[1], np.float32) for s in image_sizes]
    previous = core.set_simd_level(core.simd_levels()[0])
    try:
        got = {}
        for level in core.simd_levels():
            core.set_simd_level(level)
            got[level] = multi_scale_roi_align(feats, boxes, image_sizes, size, sr)
    finally:
        core.set_simd_level(previous)
    for level, out in got.items():
        np.testing.assert_array_equal(out, got["baseline"], err_msg=level)
    np.testing.assert_allclose(got["baseline"], tv_msroi(feats, boxes, image_sizes, size, sr), **TOL[np.float32])
