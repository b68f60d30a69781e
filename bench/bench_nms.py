"""NMS workloads of BENCHMARKS.md (``nms_1k``, ``nms_10k``, ``nms_100k``,
``batched_nms_10k_80cls``, and the fused post-processing rows ``rpn_postprocess``,
``box_head_postprocess`` and ``retinanet_postprocess``) and the per-call overhead row ``nms_100_torch`` (100 boxes as torch
CPU tensors, as per-image / per-class loops call it).

Implementations side by side: foveal, torchvision.ops.nms and cv2.dnn.NMSBoxes on the CPU;
foveal and torchvision on CUDA when available. foveal's keep list must equal torchvision's. The
post-processing rows run on both devices: on CUDA, foveal's fused op against torchvision's own
modules (BoxCoder.decode + filter_proposals, postprocess_detections) on CUDA tensors, checked
against torchvision's CUDA result.
"""

import functools
import types

import numpy as np
import pytest

from _harness import Impl, Workload, cases, exact, inputs_of, run_case, synthetic

IOU = 0.5


def _fops():
    import foveal.ops

    return foveal.ops


def _tv():
    import torchvision.ops

    return torchvision.ops


def _cv2_nms(xywh, scores):
    import cv2

    return cv2.dnn.NMSBoxes(xywh, scores, 0.0, IOU)


def _to_xywh(boxes, scores):  # OpenCV's boxes; score_threshold must be >= 0
    b64 = boxes.astype(np.float64)
    return np.ascontiguousarray(np.concatenate([b64[:, :2], b64[:, 2:] - b64[:, :2]], axis=1)), scores


IMPLS = [
    Impl("foveal", lambda b, s: _fops().nms(b, s, IOU)),
    Impl("torchvision", lambda b, s: _tv().nms(b, s, IOU), lib="torch"),
    Impl("opencv", _cv2_nms, lib="numpy", devices=("cpu",), prepare=_to_xywh),
]


def _nms_workload(name, n, impls=IMPLS):
    return Workload(
        name=name,
        definition=(
            f"{n} boxes from the clustered generator (foveal.synthetic.clustered_boxes, seed 0), "
            f"scores uniform(0,1) float32, IoU threshold {IOU}"
        ),
        inputs=functools.partial(synthetic.clustered_boxes, n, seed=0),
        impls=impls,
        reference="torchvision",
        check=exact(),
        items=n,
        unit="boxes/s",
        extra={"n": n, "iou_threshold": IOU},
    )


WORKLOADS = [
    _nms_workload("nms_1k", 1_000),
    _nms_workload("nms_10k", 10_000),
    _nms_workload("nms_100k", 100_000),
    _nms_workload(
        "nms_100_torch",
        100,
        [
            Impl("foveal", lambda b, s: _fops().nms(b, s, IOU), lib="torch", devices=("cpu",)),
            Impl("torchvision", lambda b, s: _tv().nms(b, s, IOU), lib="torch", devices=("cpu",)),
        ],
    ),
]


# Outlier scenes (foveal.synthetic.outlier_scene): one far box, two clusters 1e6 apart, one huge
# box at threshold 0; each beside the same scene without the outlier. foveal's time should not
# depend on the outlier (within 2x). Boxes 128..512 px so that torchvision, the check, keeps few
# boxes and runs in seconds; it is not timed here (devices=()): the ratio of record is foveal with
# vs without the outlier.
OUTLIER_N = 100_000
OUTLIER_SIZES = (128.0, 512.0)


def _outlier_workload(kind, outlier):
    thr = synthetic.OUTLIER_KINDS[kind]
    name = f"nms_outlier_{kind}_100k" + ("" if outlier else "_base")
    return Workload(
        name=name,
        definition=(
            f"foveal.synthetic.outlier_scene({OUTLIER_N}, {kind!r}, seed=0, outlier={outlier}, "
            f"size_range={OUTLIER_SIZES}), IoU threshold {thr}"
        ),
        inputs=functools.partial(synthetic.outlier_scene, OUTLIER_N, kind, 0, outlier, OUTLIER_SIZES),
        impls=[
            Impl("foveal", lambda b, s, t=thr: _fops().nms(b, s, t)),
            Impl("torchvision", lambda b, s, t=thr: _tv().nms(b, s, t), lib="torch", devices=()),
        ],
        reference="torchvision",
        check=exact(),
        items=OUTLIER_N,
        unit="boxes/s",
        extra={"n": OUTLIER_N, "iou_threshold": thr, "outlier": outlier, "kind": kind},
    )


WORKLOADS += [_outlier_workload(k, o) for k in ("far", "split", "huge") for o in (True, False)]
N_CLASSES = 80


def _batched_inputs(n=10_000):
    """The nms_10k boxes and scores, then labels uniform 0..79 from the same rng continued."""
    rng = np.random.default_rng(0)
    boxes, scores = synthetic._draw(rng, n)
    labels = rng.integers(0, N_CLASSES, n)
    return boxes.astype(np.float32), scores.astype(np.float32), labels


def _keep_up_to_ties():
    """The same kept boxes in the same order, except that boxes of equal score may come in any
    order (torchvision's sort leaves ties unordered; foveal puts the lower index first)."""

    def check(got, want, workload):
        got, want = np.asarray(got).reshape(-1), np.asarray(want).reshape(-1)
        scores = inputs_of(workload.name)[1]
        if got.shape != want.shape or set(got.tolist()) != set(want.tolist()):
            return False, f"{got.size} vs {want.size} kept, {len(set(got.tolist()) ^ set(want.tolist()))} differ"
        if not np.array_equal(scores[got], scores[want]):
            return False, "same kept set, different order of scores"
        ties = int(np.count_nonzero(got != want))
        return True, f"identical up to the order of tied scores ({want.size} kept, {ties} positions among ties)"

    return check


def _cv2_batched(xywh, scores, labels):
    import cv2

    return cv2.dnn.NMSBoxesBatched(xywh, scores, labels, 0.0, IOU)


def _to_xywh_batched(boxes, scores, labels):
    return (*_to_xywh(boxes, scores), labels.astype(np.int32))


WORKLOADS.append(
    Workload(
        name="batched_nms_10k_80cls",
        definition=(
            "the nms_10k boxes and scores (clustered generator, rng(0)), labels uniform 0..79 "
            f"int64 from the same rng continued; IoU threshold {IOU}"
        ),
        inputs=_batched_inputs,
        impls=[
            Impl("foveal", lambda b, s, c: _fops().batched_nms(b, s, c, IOU)),
            Impl("torchvision", lambda b, s, c: _tv().batched_nms(b, s, c, IOU), lib="torch"),
            Impl("opencv", _cv2_batched, lib="numpy", devices=("cpu",), prepare=_to_xywh_batched),
        ],
        reference="torchvision",
        check=_keep_up_to_ties(),
        items=10_000,
        unit="boxes/s",
        extra={"n": 10_000, "classes": N_CLASSES, "iou_threshold": IOU},
    )
)


# -- fused Faster R-CNN post-processing ------------------------------------------------------

FPN_FEATURES = [(200, 304), (100, 152), (50, 76), (25, 38), (13, 19)]  # 800 x 1216, strides 4..64
IMAGE = (800, 1216)


@functools.lru_cache(maxsize=None)
def _frcnn_scene():
    """rpn_postprocess and box_head_postprocess inputs of BENCHMARKS.md, as numpy."""
    import torch
    from torchvision.models.detection.anchor_utils import AnchorGenerator
    from torchvision.models.detection.image_list import ImageList

    gen = AnchorGenerator(((32,), (64,), (128,), (256,), (512,)), ((0.5, 1.0, 2.0),) * 5)
    images = ImageList(torch.empty(2, 3, *IMAGE), [IMAGE] * 2)
    anchors = gen(images, [torch.empty(2, 1, h, w) for h, w in FPN_FEATURES])[0]
    levels = [3 * h * w for h, w in FPN_FEATURES]
    g = torch.Generator().manual_seed(0)
    obj = torch.randn((2, anchors.shape[0]), generator=g)
    deltas = torch.randn((2, anchors.shape[0], 4), generator=g) * 0.1
    sizes = np.array([IMAGE] * 2, np.float64)
    proposals, _ = _tv_rpn(anchors, obj, deltas, sizes, levels)
    assert all(len(p) == 1000 for p in proposals)
    logits = torch.randn((2000, 91), generator=g) * 3
    regression = torch.randn((2000, 364), generator=g) * 0.1
    rpn = (anchors.numpy(), obj.numpy(), deltas.numpy(), sizes, levels)
    head = (
        torch.stack(proposals).numpy(),
        logits.reshape(2, 1000, 91).numpy(),
        regression.reshape(2, 1000, 364).numpy(),
        sizes,
    )
    return rpn, head


def _tv_rpn(anchors, obj, deltas, sizes, levels):
    """torchvision BoxCoder.decode + RegionProposalNetwork.filter_proposals (eval, the
    workload's parameters), on an object holding just what filter_proposals reads."""
    from torchvision.models.detection._utils import BoxCoder
    from torchvision.models.detection.rpn import RegionProposalNetwork

    b = obj.shape[0]
    proposals = BoxCoder((1.0, 1.0, 1.0, 1.0)).decode(deltas.reshape(-1, 4), [anchors] * b).view(b, -1, 4)
    rpn = types.SimpleNamespace(
        pre_nms_top_n=lambda: 1000, post_nms_top_n=lambda: 1000, nms_thresh=0.7, min_size=1e-3, score_thresh=0.0,
        training=False,
    )
    rpn._get_top_n_idx = types.MethodType(RegionProposalNetwork._get_top_n_idx, rpn)
    shapes = [(int(h), int(w)) for h, w in sizes]
    return RegionProposalNetwork.filter_proposals(rpn, proposals, obj, shapes, levels)


def _tv_box_head(proposals, logits, regression, sizes):
    from torchvision.models.detection._utils import BoxCoder
    from torchvision.models.detection.roi_heads import RoIHeads

    heads = types.SimpleNamespace(
        box_coder=BoxCoder((10.0, 10.0, 5.0, 5.0)), score_thresh=0.05, nms_thresh=0.5, detections_per_img=100
    )
    b, p = proposals.shape[:2]
    shapes = [(int(h), int(w)) for h, w in sizes]
    return RoIHeads.postprocess_detections(
        heads, logits.reshape(b * p, -1), regression.reshape(b * p, -1), list(proposals), shapes
    )


def _same_detections(rtol=1e-6, atol=1e-4):
    """foveal's padded (boxes, scores, [labels,] counts) against torchvision's per-image lists:
    the same count and labels, boxes and scores within an ulp or two (exp differs by an ulp)."""

    def check(got, want, workload):
        counts = np.asarray(got[-1])
        n_lists = len(want)
        for i, c in enumerate(counts):
            if c != len(want[0][i]):
                return False, f"image {i}: {c} rows, torchvision {len(want[0][i])}"
            for j in range(n_lists):
                g, w = np.asarray(got[j])[i, :c], np.asarray(want[j][i])
                if j == 2:
                    if not np.array_equal(g, w):
                        return False, f"image {i}: labels differ"
                elif not np.allclose(g, w, rtol=rtol, atol=atol):
                    return False, f"image {i}: max |diff| {np.abs(g - w).max():.3g} in output {j}"
        return True, f"same rows ({counts.tolist()} per image), within rtol {rtol} / atol {atol}"

    return check


WORKLOADS += [
    Workload(
        name="rpn_postprocess",
        definition=(
            "2 images 800x1216; torchvision AnchorGenerator FPN anchors (sizes 32..512, ratios 0.5,1,2; "
            "242,991); objectness N(0,1), deltas N(0,1)*0.1 from torch.Generator().manual_seed(0) (objectness "
            "first); pre_nms_top_n 1000 per level, NMS 0.7 per level, post_nms_top_n 1000, min_size 1e-3, "
            "score_thresh 0; anchor: BoxCoder.decode + RegionProposalNetwork.filter_proposals"
        ),
        inputs=lambda: _frcnn_scene()[0],
        impls=[
            Impl("foveal", lambda a, o, d, s, lv: _fops().rpn_postprocess(a, o, d, s, lv)),
            Impl("torchvision", _tv_rpn, lib="torch"),
        ],
        reference="torchvision",
        check=_same_detections(),
        items=2,
        unit="images/s",
        extra={"images": 2, "anchors": 242_991, "pre_nms_top_n": 1000, "post_nms_top_n": 1000, "nms_thresh": 0.7},
    ),
    Workload(
        name="box_head_postprocess",
        definition=(
            "the 2x1000 proposals of rpn_postprocess (torchvision's); class logits N(0,1)*3 over 91 classes, box "
            "regression N(0,1)*0.1 (364 per proposal), same generator continued; score_thresh 0.05, NMS 0.5, "
            "100 detections per image; anchor: RoIHeads.postprocess_detections"
        ),
        inputs=lambda: _frcnn_scene()[1],
        impls=[
            Impl("foveal", lambda p, c, r, s: _fops().box_head_postprocess(p, c, r, s)),
            Impl("torchvision", _tv_box_head, lib="torch"),
        ],
        reference="torchvision",
        check=_same_detections(),
        items=2,
        unit="images/s",
        extra={"images": 2, "classes": 91, "score_thresh": 0.05, "nms_thresh": 0.5, "detections_per_img": 100},
    ),
]



# -- fused RetinaNet post-processing ----------------------------------------------------------

RETINA_FEATURES = [(100, 152), (50, 76), (25, 38), (13, 19), (7, 10)]  # 800 x 1216, strides 8..128
RETINA_CLASSES = 91
RETINA_PRIOR = -4.59512  # -log((1 - 0.01) / 0.01): RetinaNet's classification bias init


@functools.lru_cache(maxsize=None)
def _retina_scene():
    """retinanet_postprocess inputs, as numpy: anchors (A, 4), logits (2, A, 91), regression
    (2, A, 4), image sizes, anchors per level."""
    import torch
    from torchvision.models.detection.anchor_utils import AnchorGenerator
    from torchvision.models.detection.image_list import ImageList

    sizes = tuple((x, int(x * 2 ** (1 / 3)), int(x * 2 ** (2 / 3))) for x in (32, 64, 128, 256, 512))
    gen = AnchorGenerator(sizes, ((0.5, 1.0, 2.0),) * 5)
    images = ImageList(torch.empty(2, 3, *IMAGE), [IMAGE] * 2)
    anchors = gen(images, [torch.empty(2, 1, h, w) for h, w in RETINA_FEATURES])[0]
    levels = [9 * h * w for h, w in RETINA_FEATURES]
    g = torch.Generator().manual_seed(0)
    logits = torch.randn((2, anchors.shape[0], RETINA_CLASSES), generator=g) + RETINA_PRIOR
    regression = torch.randn((2, anchors.shape[0], 4), generator=g) * 0.1
    return anchors.numpy(), logits.numpy(), regression.numpy(), np.array([IMAGE] * 2, np.float64), levels


def _tv_retina(anchors, logits, regression, sizes, levels):
    """torchvision RetinaNet.postprocess_detections (defaults: score_thresh 0.05, NMS 0.5, 300
    detections, 1000 candidates per level) on the head outputs split by level, as its forward."""
    from torchvision.models.detection._utils import BoxCoder
    from torchvision.models.detection.retinanet import RetinaNet

    net = types.SimpleNamespace(
        box_coder=BoxCoder((1.0, 1.0, 1.0, 1.0)), score_thresh=0.05, nms_thresh=0.5, detections_per_img=300,
        topk_candidates=1000,
    )
    head = {"cls_logits": list(logits.split(levels, dim=1)), "bbox_regression": list(regression.split(levels, dim=1))}
    shapes = [(int(h), int(w)) for h, w in sizes]
    dets = RetinaNet.postprocess_detections(net, head, [list(anchors.split(levels))] * logits.shape[0], shapes)
    return [d["boxes"] for d in dets], [d["scores"] for d in dets], [d["labels"] for d in dets]


def _same_detections_up_to_ties(rtol=1e-6, atol=1e-4):
    """Like _same_detections, rows of equal score compared as sets (torch.topk orders ties
    arbitrarily)."""
    plain = _same_detections(rtol, atol)

    def check(got, want, workload):
        counts = np.asarray(got[-1])
        got_c, want_c = [np.asarray(x).copy() for x in got[:3]], [[np.asarray(x) for x in lst] for lst in want]
        for i, c in enumerate(counts):
            if c != len(want_c[0][i]):
                return False, f"image {i}: {c} rows, torchvision {len(want_c[0][i])}"
            go = np.lexsort((got_c[0][i, :c, 0], got_c[2][i, :c], -got_c[1][i, :c]))
            wo = np.lexsort((want_c[0][i][:, 0], want_c[2][i], -want_c[1][i]))
            for j in range(3):
                got_c[j][i, :c] = got_c[j][i, :c][go]
                want_c[j][i] = want_c[j][i][wo]
        return plain((*got_c, counts), want_c, workload)

    return check


WORKLOADS += [
    Workload(
        name="retinanet_postprocess",
        definition=(
            "2 images 800x1216; torchvision RetinaNet AnchorGenerator anchors on P3..P7 (feature maps 100x152 .. "
            "7x10, sizes x*2^(0,1/3,2/3) for x = 32..512, ratios 0.5,1,2: 9 per location, 182,403), 91 classes; "
            "class logits N(0,1) - 4.59512 (the focal-loss prior: ~5% of scores pass 0.05), box regression "
            "N(0,1)*0.1, from torch.Generator().manual_seed(0) (logits first); score_thresh 0.05, "
            "topk_candidates 1000 per level, NMS 0.5 by class, 300 detections per image; anchor: "
            "RetinaNet.postprocess_detections"
        ),
        inputs=_retina_scene,
        impls=[
            Impl("foveal", lambda a, c, r, s, lv: _fops().retinanet_postprocess(a, c, r, s, lv)),
            Impl("torchvision", _tv_retina, lib="torch"),
        ],
        reference="torchvision",
        check=_same_detections_up_to_ties(),
        items=2,
        unit="images/s",
        extra={"images": 2, "anchors": 182_403, "classes": RETINA_CLASSES, "score_thresh": 0.05, "nms_thresh": 0.5,
               "detections_per_img": 300, "topk_candidates": 1000},
    ),
]


@pytest.mark.parametrize(("workload", "impl", "device"), cases(WORKLOADS))
def bench_nms(benchmark, workload, impl, device):
    run_case(benchmark, workload, impl, device)
