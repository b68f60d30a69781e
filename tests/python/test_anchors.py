"""foveal.ops anchors against torchvision's AnchorGenerator, the float64 oracle in
tests/reference/detection_ref.py, and the seed's matterport oracle A1."""

from __future__ import annotations


import numpy as np
import pytest
import torch
from torchvision.models.detection.anchor_utils import AnchorGenerator as TvAnchorGenerator
from torchvision.models.detection.image_list import ImageList

import foveal
from foveal import FovealTypeError, FovealValueError
from foveal.ops import AnchorGenerator, anchor_grid, matterport_anchors
from reference import detection_ref as ref

FPN_SIZES = ((32,), (64,), (128,), (256,), (512,))
FPN_RATIOS = ((0.5, 1.0, 2.0),) * 5

CONFIGS = {
    # (sizes, aspect_ratios, image (H, W), feature sizes)
    "fpn_800x1216": (FPN_SIZES, FPN_RATIOS, (800, 1216), [(200, 304), (100, 152), (50, 76), (25, 38), (13, 19)]),
    "fpn_odd": (FPN_SIZES, FPN_RATIOS, (801, 1203), [(201, 301), (101, 151), (51, 76), (26, 38), (13, 19)]),
    "single_level_c4": (((128, 256, 512),), ((0.5, 1.0, 2.0),), (600, 800), [(38, 50)]),
    "many_ratios": (((16, 24.5, 40),), ((0.25, 0.33, 0.7, 1.0, 1.7, 3.0),), (320, 320), [(20, 20)]),
    "flat_sizes": ((32, 64), (0.5, 1.0, 2.0), (256, 256), [(64, 64), (32, 32)]),
    "rect_strides": (((48,),), ((1.0, 2.0),), (300, 500), [(7, 13)]),
}


def torchvision_anchors(sizes, ratios, image, feats, dtype=torch.float32, images=1):
    gen = TvAnchorGenerator(sizes, ratios)
    il = ImageList(torch.zeros(images, 3, *image), [tuple(image)] * images)
    fms = [torch.zeros(images, 4, h, w, dtype=dtype) for h, w in feats]
    return gen(il, fms)


@pytest.mark.parametrize("name", sorted(CONFIGS))
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_forward_matches_torchvision(name, dtype):
    sizes, ratios, image, feats = CONFIGS[name]
    want = torchvision_anchors(sizes, ratios, image, feats, dtype, images=2)
    il = ImageList(torch.zeros(2, 3, *image), [tuple(image), (image[0] - 5, image[1] - 7)])
    fms = [torch.zeros(2, 4, h, w, dtype=dtype) for h, w in feats]
    got = AnchorGenerator(sizes, ratios).forward(il, fms)
    assert len(got) == 2
    for g, w in zip(got, want):
        assert isinstance(g, torch.Tensor) and g.dtype == dtype
        assert torch.equal(g, w)
    got[0][0, 0] = 12345.0  # each image's anchors are its own
    assert got[1][0, 0] != 12345.0


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_call_needs_no_torch_and_matches(name):
    sizes, ratios, image, feats = CONFIGS[name]
    want = torchvision_anchors(sizes, ratios, image, feats)[0].numpy()
    gen = AnchorGenerator(sizes, ratios)
    got = gen(image, feats)
    assert isinstance(got, np.ndarray) and got.dtype == np.float32
    np.testing.assert_array_equal(got, want)
    assert gen.num_anchors_per_location() == TvAnchorGenerator(sizes, ratios).num_anchors_per_location()
    # and the float64 oracle, written from the definition
    np.testing.assert_array_equal(got.astype(np.float64), ref.torchvision_anchors(image, feats, gen.sizes, gen.aspect_ratios))


def test_fpn_count_matches_benchmark_definition():
    sizes, ratios, image, feats = CONFIGS["fpn_800x1216"]
    assert AnchorGenerator(sizes, ratios)(image, feats).shape == (242991, 4)


def test_cell_anchors_match_torchvision():
    tv = TvAnchorGenerator(((16, 24.5, 40, 100.7),), ((0.1, 0.33, 0.7, 1.0, 1.7, 9.0),))
    ours = AnchorGenerator(((16, 24.5, 40, 100.7),), ((0.1, 0.33, 0.7, 1.0, 1.7, 9.0),))
    np.testing.assert_array_equal(ours.cell_anchors[0], tv.cell_anchors[0].numpy())


def test_anchor_grid_strides_and_like():
    a = anchor_grid([(2, 3)], [(10, 20)], sizes=((8,),), aspect_ratios=((1.0,),))
    want = np.array([[x * 20 - 4, y * 10 - 4, x * 20 + 4, y * 10 + 4] for y in range(2) for x in range(3)], np.float32)
    np.testing.assert_array_equal(a, want)
    t = anchor_grid([(2, 3)], [(10, 20)], sizes=((8,),), aspect_ratios=((1.0,),), dtype="float64", like=torch.zeros(1))
    assert isinstance(t, torch.Tensor) and t.dtype == torch.float64
    np.testing.assert_array_equal(t.numpy(), want)


def test_empty_feature_map():
    gen = AnchorGenerator(((32,), (64,)), ((1.0,), (1.0,)))
    got = gen((64, 64), [(0, 4), (2, 2)])  # torchvision divides by zero here
    np.testing.assert_array_equal(got, anchor_grid([(2, 2)], [(32, 32)], ((64,),), ((1.0,),)))
    assert got.shape == (4, 4)


# ------------------------------------------------------------------ matterport / seed A1


def test_seed_A1_matterport_pyramid_anchors():
    a = matterport_anchors((32, 64, 128, 256, 512), (0.5, 1, 2), (1024, 1024, 3), (4, 8, 16, 32, 64), 1, normalize=True)
    assert a.shape == (261888, 4)
    assert round(float(a.min()), 5) == -0.35390
    assert round(float(a.max()), 5) == 1.29134


@pytest.mark.parametrize("anchor_stride", [1, 2, 3])
@pytest.mark.parametrize("normalize", [False, True])
def test_matterport_matches_reference(anchor_stride, normalize):
    args = ((24, 48, 96), (0.5, 1, 2, 3), (200, 330), (4, 8, 16), anchor_stride)
    got = matterport_anchors(*args, normalize=normalize)
    want = ref.matterport_anchors(*args, normalize=normalize)
    np.testing.assert_array_equal(got, want)  # same float64 operations: exact


def test_matterport_is_y_first():
    a = matterport_anchors((10,), (4.0,), (8, 8), (8,))  # ratio w / h = 4: w = 20, h = 5
    np.testing.assert_array_equal(a, [[-2.5, -10.0, 2.5, 10.0]])


# ------------------------------------------------------------------------------ errors


def test_errors_name_the_argument():
    gen = AnchorGenerator(FPN_SIZES, FPN_RATIOS)
    with pytest.raises(FovealValueError, match="feature_sizes must have one entry per level"):
        gen((800, 1216), [(200, 304)])
    with pytest.raises(FovealValueError, match="sizes and aspect_ratios must have one entry per feature map"):
        AnchorGenerator(((32,), (64,)), ((1.0,), (1.0,), (2.0,)))
    with pytest.raises(FovealValueError, match="sizes must be positive"):
        AnchorGenerator(((-32,),), ((1.0,),))
    with pytest.raises(FovealValueError, match="aspect_ratios must be positive"):
        AnchorGenerator(((32,),), ((0.0,),))
    with pytest.raises(FovealValueError, match="style must be 'torchvision' or 'matterport'"):
        anchor_grid([(2, 2)], [(4, 4)], ((8,),), ((1.0,),), style="detectron")
    with pytest.raises(FovealTypeError, match="dtype must be float32 or float64"):
        anchor_grid([(2, 2)], [(4, 4)], ((8,),), ((1.0,),), dtype="float16")
    with pytest.raises(FovealValueError, match=r"feature_sizes\[0\] must be"):
        anchor_grid([(2, 2.5)], [(4, 4)], ((8,),), ((1.0,),))
    with pytest.raises(FovealValueError, match="image_size must be a pair"):
        gen(800, [(1, 1)] * 5)
    with pytest.raises(FovealValueError, match="anchor_stride must be positive"):
        matterport_anchors((32,), (1,), (64, 64), (4,), 0)
    with pytest.raises(FovealValueError, match="scales and feature_strides must have one entry per level"):
        matterport_anchors((32, 64), (1,), (64, 64), (4,))


def test_core_rejects_mismatched_cells():
    cells = np.zeros((2, 4), np.float32)
    out = np.empty((3 * 2, 4), np.float32)
    with pytest.raises(FovealValueError, match="cells must have 3 rows"):
        foveal._core.anchor_grid(cells, [(1, 2, 4, 4, 3)], 0, out)


def test_forward_half_on_cpu():
    sizes, ratios, image, feats = CONFIGS["single_level_c4"]
    want = torchvision_anchors(sizes, ratios, image, feats, torch.float16)[0]
    il = ImageList(torch.zeros(1, 3, *image), [tuple(image)])
    got = AnchorGenerator(sizes, ratios).forward(il, [torch.zeros(1, 4, h, w, dtype=torch.float16) for h, w in feats])[0]
    assert got.dtype == torch.float16
    assert torch.equal(got, want)  # all values below 2048: exact in float16


@pytest.mark.needs_cuda
@pytest.mark.parametrize("dtype", [torch.float16, torch.float32, torch.float64], ids=str)
def test_cuda_matches_torchvision(dtype):
    sizes, ratios, image, feats = CONFIGS["fpn_800x1216"]
    gen = TvAnchorGenerator(sizes, ratios)
    il = ImageList(torch.zeros(1, 3, *image, device="cuda"), [tuple(image)])
    fms = [torch.zeros(1, 4, h, w, dtype=dtype, device="cuda") for h, w in feats]
    want = gen(il, fms)[0]
    got = AnchorGenerator(sizes, ratios).forward(il, fms)[0]
    assert got.is_cuda and got.dtype == dtype
    assert torch.equal(got, want)  # values below 2048: exact even in float16
