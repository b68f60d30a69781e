"""Contract fuzzing of foveal's public Python ops (numpy inputs, CPU): every op is called with
awkward variants of a valid call, in forked children, and what breaks the contract of
DESIGN.md is reported:

- crash: the child died of a signal (segfault, abort);
- hang: it ran past --timeout seconds;
- error: it raised something other than a ValueError / TypeError / NotImplementedError /
  MemoryError (foveal's errors are those), e.g. an IndexError, ZeroDivisionError or SystemError;
- wrote: it changed one of the caller's arrays;
- warned: it warned on the way (a complex value cast to real, an overflow in a cast): a value was
  changed or lost without an error;
- refused: it raised on a call that is still valid (a reversed, non-contiguous, Fortran-ordered,
  read-only, big-endian or zero-stride array, a numpy scalar, every array as a torch tensor);
- differs: such a call returned other values than the call on the plain (C-contiguous, native,
  numpy) form of the same values;
- aliases: a result shares memory with an input (a later write to one would change the other).

    python3 tools/fuzz_contract.py [NAME_REGEX] [--seed 0] [--combos 100] [--timeout 20] [-v]

Variants of each array argument: empty along each axis, an axis more or fewer, 0-d, other
dtypes, NaN / inf / huge values, non-contiguous, reversed, Fortran order, read-only, a list, a
torch tensor (transposed, channels_last, requiring grad, bfloat16);
of each scalar argument: 0, -1, NaN, inf, huge, a float for an int, None, a string; then
calls with two or three of those at once. An
accepted call is not judged (its values are the tests' business). Exit status 1 if anything
was found.
"""
import argparse
import json
import os
import re
import signal
import sys
import traceback
import warnings

import numpy as np

try:
    import torch
except ImportError:  # the torch variants are skipped
    torch = None

import foveal.metrics as fm
import foveal.nn as fnn
import foveal.ops as fops
import foveal.restoration as fr

ALLOWED = (ValueError, TypeError, NotImplementedError, MemoryError)


def boxes(rng, n, d=4):
    xy = rng.uniform(0, 50, (n, 2))
    b = np.concatenate([xy, xy + rng.uniform(1, 30, (n, 2))], 1)
    if d == 5:  # (cx, cy, w, h, angle)
        b = np.concatenate([xy, rng.uniform(1, 30, (n, 2)), rng.uniform(-90, 90, (n, 1))], 1)
    return b.astype(np.float32)


def rois(rng, k, n_img=2, size=16):
    b = boxes(rng, k) * (size / 80.0)
    return np.concatenate([rng.integers(0, n_img, (k, 1)).astype(np.float32), b], 1)


def img(rng, *shape, dt=np.float64):
    return rng.uniform(0, 1, shape).astype(dt)


# op name -> function(rng) -> (callable, args, kwargs): a valid call on small inputs.
def specs():
    s = {}
    R = np.random.default_rng
    s["box_iou"] = lambda r: (fops.box_iou, [boxes(r, 5), boxes(r, 4)], {"fmt": "xyxy"})
    s["box_iou_cxcywhr"] = lambda r: (fops.box_iou, [boxes(r, 5, 5), boxes(r, 4, 5)], {"fmt": "cxcywhr"})
    s["nms"] = lambda r: (fops.nms, [boxes(r, 9), r.uniform(0, 1, 9).astype(np.float32), 0.5], {})
    s["batched_nms"] = lambda r: (fops.batched_nms, [boxes(r, 9), r.uniform(0, 1, 9).astype(np.float32),
                                                     r.integers(0, 3, 9), 0.5], {})
    s["soft_nms"] = lambda r: (fops.soft_nms, [boxes(r, 9), r.uniform(0, 1, 9).astype(np.float32)],
                               {"iou_threshold": 0.3, "sigma": 0.5, "score_threshold": 0.001, "method": "linear",
                                "idxs": r.integers(0, 3, 9)})
    s["box_area"] = lambda r: (fops.box_area, [boxes(r, 6)], {"fmt": "xyxy"})
    s["box_convert"] = lambda r: (fops.box_convert, [boxes(r, 6), "xyxy", "cxcywh"], {})
    s["box_convert_rot"] = lambda r: (fops.box_convert, [boxes(r, 6, 5), "cxcywhr", "xyxyxyxy"], {})
    s["clip_boxes_to_image"] = lambda r: (fops.clip_boxes_to_image, [boxes(r, 6), (20, 30)], {})
    s["remove_small_boxes"] = lambda r: (fops.remove_small_boxes, [boxes(r, 6), 2.0], {})
    for name in ("generalized_box_iou", "distance_box_iou", "complete_box_iou"):
        s[name] = lambda r, f=getattr(fops, name): (f, [boxes(r, 5), boxes(r, 4)], {})
        s[name + "_loss"] = lambda r, f=getattr(fops, name + "_loss"): (f, [boxes(r, 5), boxes(r, 5)],
                                                                         {"reduction": "mean"})
    s["box_iou_rotated"] = lambda r: (fops.box_iou_rotated, [boxes(r, 5, 5), boxes(r, 4, 5)], {})
    s["nms_rotated"] = lambda r: (fops.nms_rotated, [boxes(r, 9, 5), r.uniform(0, 1, 9).astype(np.float32), 0.5], {})
    s["batched_nms_rotated"] = lambda r: (fops.batched_nms_rotated, [boxes(r, 9, 5),
                                                                     r.uniform(0, 1, 9).astype(np.float32),
                                                                     r.integers(0, 3, 9), 0.5], {})
    s["anchor_grid"] = lambda r: (fops.anchor_grid, [[(4, 5), (2, 3)], [(8, 8), (16, 16)]],
                                  {"sizes": ((32,), (64,)), "aspect_ratios": ((0.5, 1.0),) * 2})
    s["matterport_anchors"] = lambda r: (fops.matterport_anchors, [(32, 64), (0.5, 1, 2), (64, 64), (8, 16)], {})
    s["encode_boxes"] = lambda r: (fops.encode_boxes, [boxes(r, 6), boxes(r, 6)], {"weights": (1, 1, 1, 1)})
    s["decode_boxes"] = lambda r: (fops.decode_boxes, [r.normal(0, 1, (6, 4)).astype(np.float32), boxes(r, 6)],
                                   {"weights": (1, 1, 1, 1)})
    s["rpn_postprocess"] = lambda r: (fops.rpn_postprocess,
                                      [boxes(r, 12), r.normal(0, 1, (2, 12)).astype(np.float32),
                                       r.normal(0, .1, (2, 12, 4)).astype(np.float32), [(60, 60), (50, 70)], [8, 4]],
                                      {"pre_nms_top_n": 5, "post_nms_top_n": 6})
    s["box_head_postprocess"] = lambda r: (fops.box_head_postprocess,
                                           [boxes(r, 8)[None].repeat(2, 0),
                                            r.normal(0, 1, (2, 8, 3)).astype(np.float32),
                                            r.normal(0, .1, (2, 8, 12)).astype(np.float32), [(60, 60), (50, 70)]],
                                           {"proposal_counts": np.array([8, 5]), "detections_per_img": 5})
    s["retinanet_postprocess"] = lambda r: (fops.retinanet_postprocess,
                                            [boxes(r, 12), r.normal(0, 1, (2, 12, 3)).astype(np.float32),
                                             r.normal(0, .1, (2, 12, 4)).astype(np.float32), [(60, 60), (50, 70)],
                                             [8, 4]], {"topk_candidates": 5})
    s["roi_align"] = lambda r: (fops.roi_align, [img(r, 2, 3, 16, 16, dt=np.float32), rois(r, 5), (3, 2)],
                                {"spatial_scale": 1.0, "sampling_ratio": 2, "aligned": True})
    s["roi_align_backward"] = lambda r: (fops.roi_align_backward,
                                         [img(r, 5, 3, 3, 2, dt=np.float32), rois(r, 5), (2, 3, 16, 16), (3, 2)],
                                         {"sampling_ratio": -1})
    s["roi_pool"] = lambda r: (fops.roi_pool, [img(r, 2, 3, 16, 16, dt=np.float32), rois(r, 5), 2],
                               {"spatial_scale": 1.0, "return_argmax": True})
    s["roi_pool_backward"] = lambda r: (fops.roi_pool_backward,
                                        [img(r, 5, 3, 2, 2, dt=np.float32), rois(r, 5),
                                         r.integers(-1, 256, (5, 3, 2, 2)), (2, 3, 16, 16)], {})
    s["multi_scale_roi_align"] = lambda r: (fops.multi_scale_roi_align,
                                            [[img(r, 2, 3, 16, 16, dt=np.float32), img(r, 2, 3, 8, 8, dt=np.float32)],
                                             [boxes(r, 3), boxes(r, 2)], [(64, 64), (64, 64)], 3, 2], {})
    s["roi_align_rotated"] = lambda r: (fops.roi_align_rotated,
                                        [img(r, 2, 3, 16, 16, dt=np.float32),
                                         np.concatenate([rois(r, 5)[:, :1], boxes(r, 5, 5) / 4], 1), (3, 2)], {})
    s["roi_align_rotated_backward"] = lambda r: (fops.roi_align_rotated_backward,
                                                 [img(r, 5, 3, 3, 2, dt=np.float32),
                                                  np.concatenate([rois(r, 5)[:, :1], boxes(r, 5, 5) / 4], 1),
                                                  (2, 3, 16, 16)], {})
    # nn
    s["conv2d"] = lambda r: (fnn.conv2d, [img(r, 2, 4, 9, 8, dt=np.float32), img(r, 6, 2, 3, 3, dt=np.float32)],
                             {"bias": img(r, 6, dt=np.float32), "stride": 2, "padding": 1, "dilation": 1, "groups": 2,
                              "activation": "relu"})
    s["conv_transpose2d"] = lambda r: (fnn.conv_transpose2d,
                                       [img(r, 2, 4, 5, 6, dt=np.float32), img(r, 4, 3, 3, 3, dt=np.float32)],
                                       {"bias": img(r, 3, dt=np.float32), "stride": 2, "padding": 1,
                                        "output_padding": 1})
    s["max_pool2d"] = lambda r: (fnn.max_pool2d, [img(r, 2, 3, 9, 8, dt=np.float32), 3],
                                 {"stride": 2, "padding": 1, "ceil_mode": True, "return_indices": True})
    s["avg_pool2d"] = lambda r: (fnn.avg_pool2d, [img(r, 2, 3, 9, 8, dt=np.float32), 3],
                                 {"stride": 2, "padding": 1, "ceil_mode": True, "divisor_override": 4})
    s["adaptive_max_pool2d"] = lambda r: (fnn.adaptive_max_pool2d, [img(r, 2, 3, 9, 8, dt=np.float32), (4, 3)],
                                          {"return_indices": True})
    s["adaptive_avg_pool2d"] = lambda r: (fnn.adaptive_avg_pool2d, [img(r, 2, 3, 9, 8, dt=np.float32), (4, 3)], {})
    s["linear"] = lambda r: (fnn.linear, [img(r, 3, 5, dt=np.float32), img(r, 4, 5, dt=np.float32)],
                             {"bias": img(r, 4, dt=np.float32), "activation": "silu"})
    s["interpolate"] = lambda r: (fnn.interpolate, [img(r, 1, 2, 5, 6, dt=np.float32)],
                                  {"scale_factor": 1.5, "mode": "bilinear", "align_corners": False})
    s["batch_norm"] = lambda r: (fnn.batch_norm, [img(r, 2, 3, 4, 4, dt=np.float32), img(r, 3, dt=np.float32),
                                                  img(r, 3, dt=np.float32) + 0.5],
                                 {"weight": img(r, 3, dt=np.float32), "bias": img(r, 3, dt=np.float32)})
    s["fold_batch_norm"] = lambda r: (fnn.fold_batch_norm, [img(r, 3, 2, 3, 3, dt=np.float32), img(r, 3, dt=np.float32),
                                                            img(r, 3, dt=np.float32), img(r, 3, dt=np.float32) + .5,
                                                            img(r, 3, dt=np.float32), img(r, 3, dt=np.float32)], {})
    s["relu"] = lambda r: (fnn.relu, [img(r, 3, 4, dt=np.float32) - .5], {})
    s["sigmoid"] = lambda r: (fnn.sigmoid, [img(r, 3, 4, dt=np.float32) - .5], {})
    s["softmax"] = lambda r: (fnn.softmax, [img(r, 3, 4, dt=np.float32)], {"dim": 1})
    s["add"] = lambda r: (fnn.add, [img(r, 3, 4, dt=np.float32), img(r, 3, 4, dt=np.float32)], {})
    # restoration and metrics
    s["denoise_tv_chambolle"] = lambda r: (fr.denoise_tv_chambolle, [img(r, 12, 11)],
                                           {"weight": 0.1, "eps": 2e-4, "max_num_iter": 20})
    s["denoise_tv_bregman"] = lambda r: (fr.denoise_tv_bregman, [img(r, 12, 11)],
                                         {"weight": 5.0, "max_num_iter": 20, "eps": 1e-3, "isotropic": True})
    s["richardson_lucy"] = lambda r: (fr.richardson_lucy, [img(r, 12, 11), fr.gaussian_psf((5, 5), 1.0)],
                                      {"num_iter": 5, "clip": True, "filter_epsilon": 1e-6, "mode": "reflect"})
    s["richardson_lucy_fft"] = lambda r: (fr.richardson_lucy, [img(r, 12, 11), img(r, 7, 7)],
                                          {"num_iter": 3, "method": "fft"})
    s["blind_richardson_lucy"] = lambda r: (fr.blind_richardson_lucy, [img(r, 12, 11), fr.gaussian_psf((5, 5), 1.0)],
                                            {"num_iter": 2, "psf_iter": 2})
    s["wiener"] = lambda r: (fr.wiener, [img(r, 12, 11), fr.gaussian_psf((5, 5), 1.0), 0.1], {})
    s["unsupervised_wiener"] = lambda r: (fr.unsupervised_wiener, [img(r, 12, 11), fr.gaussian_psf((5, 5), 1.0)],
                                          {"user_params": {"max_num_iter": 18}, "rng": 0})
    s["denoise_bilateral"] = lambda r: (fr.denoise_bilateral, [img(r, 12, 11)],
                                        {"win_size": 5, "sigma_color": 0.1, "sigma_spatial": 2.0})
    s["bilateral_filter"] = lambda r: (fr.bilateral_filter, [(img(r, 12, 11, 3) * 255).astype(np.uint8), 5, 30.0, 3.0],
                                       {})
    s["denoise_nl_means"] = lambda r: (fr.denoise_nl_means, [img(r, 12, 11)],
                                       {"patch_size": 3, "patch_distance": 2, "h": 0.1})
    s["fast_nl_means"] = lambda r: (fr.fast_nl_means, [(img(r, 12, 11) * 255).astype(np.uint8)],
                                    {"h": 10.0, "template_window_size": 3, "search_window_size": 5})
    s["gaussian_psf"] = lambda r: (fr.gaussian_psf, [(5, 5), 1.0], {})
    s["motion_psf"] = lambda r: (fr.motion_psf, [7, 30.0], {})
    s["disk_psf"] = lambda r: (fr.disk_psf, [2.5], {})
    s["box_psf"] = lambda r: (fr.box_psf, [(3, 5)], {})
    s["add_noise"] = lambda r: (fr.add_noise, [img(r, 6, 7), "salt_pepper"], {"amount": 0.1, "rng": 1})
    s["mse"] = lambda r: (fm.mse, [img(r, 6, 7), img(r, 6, 7)], {})
    s["psnr"] = lambda r: (fm.psnr, [img(r, 6, 7), img(r, 6, 7)], {"data_range": 1.0})
    s["ssim"] = lambda r: (fm.ssim, [img(r, 9, 10), img(r, 9, 10)],
                           {"data_range": 1.0, "win_size": 7, "gaussian_weights": True, "full": True, "gradient": True})
    del R
    return s


def array_variants(a):
    """(label, value) pairs: awkward versions of array a."""
    out = []
    for ax in range(a.ndim):
        out.append((f"empty axis {ax}", np.take(a, [], axis=ax)))
    out.append(("extra axis", a[None]))
    if a.ndim:
        out.append(("axis dropped", a[0]))
        out.append(("0-d", np.asarray(a.flat[0])))
        out.append(("reversed", a[::-1]))
        out.append(("non-contiguous", np.repeat(a, 2, axis=-1)[..., ::2]))
        out.append(("Fortran order", np.asfortranarray(a)))
        out.append(("list", a.tolist()))
        out.append(("one element more on the last axis", np.concatenate([a, a[..., :1]], -1)))
    for dt in (np.int32, np.int64, np.float16, np.uint8, np.bool_, np.complex64, object):
        if a.dtype != dt:
            out.append((f"dtype {np.dtype(dt).name}", a.astype(dt)))
    if a.dtype.kind == "f" and a.size:
        for v in (np.nan, np.inf, -np.inf, 1e30, -1e30):
            b = a.copy()
            b.flat[a.size // 2] = v
            out.append((f"value {v}", b))
    if a.dtype.kind in "iu" and a.size:
        for v in {-1, 2**31 - 1, np.iinfo(a.dtype).max, np.iinfo(a.dtype).min}:
            if np.iinfo(a.dtype).min <= v <= np.iinfo(a.dtype).max:
                b = a.copy()
                b.flat[0] = v
                out.append((f"value {v}", b))
    ro = a.copy()
    ro.flags.writeable = False
    out.append(("read-only", ro))
    if a.dtype.kind in "fiu" and a.dtype.itemsize > 1:
        out.append(("big-endian", a.astype(a.dtype.newbyteorder(">"))))  # FITS files, some TIFFs
    if a.ndim and a.shape[0]:
        out.append(("zero stride", np.broadcast_to(a[:1], a.shape)))
    if torch is not None and a.dtype != object:
        t = torch.from_numpy(np.ascontiguousarray(a))
        out.append(("torch", t))
        if a.ndim >= 2:
            tt = torch.from_numpy(np.ascontiguousarray(np.swapaxes(a, -1, -2))).transpose(-1, -2)
            out.append(("torch transposed", tt))
        if a.ndim == 4:
            out.append(("torch channels_last", t.contiguous(memory_format=torch.channels_last)))
        if a.dtype.kind == "f":
            out.append(("torch requires_grad", t.clone().requires_grad_(True)))
            out.append(("torch bfloat16", t.to(torch.bfloat16)))
    return out


def scalar_variants(v):
    out = []
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        out.append(("numpy scalar", np.asarray(v)[()]))
    out += [("None", None), ("string", "x"), ("NaN", float("nan")), ("inf", float("inf")), ("-inf", -float("inf")),
           ("0", 0), ("-1", -1), ("huge", 2**63), ("1e300", 1e300), ("negative huge", -2**63 - 1)]
    if isinstance(v, int) and not isinstance(v, bool):
        out.append(("float for int", 2.5))
    if isinstance(v, (tuple, list)) and v:
        out += [("empty sequence", type(v)()), ("one element more", type(v)(list(v) + [v[-1]])),
                ("one element fewer", type(v)(list(v)[:-1])), ("negative element", type(v)([-1] * len(v))),
                ("zero element", type(v)([0] * len(v)))]
    return out


def cases(op, make, seed, combos=0):
    """The valid call, each single variant, then `combos` calls with 2 or 3 arguments varied at
    once (drawn from the seed)."""
    r = np.random.default_rng(seed)
    f, args, kw = make(r)
    yield "valid", f, args, kw, None
    slots = [("arg", i, v) for i, v in enumerate(args)] + [("kw", k, v) for k, v in kw.items()]
    table = []
    for kind, key, v in slots:
        if isinstance(v, np.ndarray):
            variants = array_variants(v)
        elif isinstance(v, list) and v and all(isinstance(e, np.ndarray) for e in v):
            variants = [("empty list", [])] + [(f"item {i}: {lab}", v[:i] + [w] + v[i + 1:])
                                              for i, e in enumerate(v) for lab, w in array_variants(e)[:8]]
        else:
            variants = scalar_variants(v)
        table.append((kind, key, variants))

    def varied(choices):
        a2, k2, labels = list(args), dict(kw), []
        for kind, key, (label, w) in choices:
            if kind == "arg":
                a2[key] = w
            else:
                k2[key] = w
            labels.append(f"{kind} {key}: {label}")
        canon = None  # the same call with the value in its plain form: the results must be equal
        if len(choices) == 1 and choices[0][2][0] in SAME_VALUES:
            kind, key, (label, w) = choices[0]
            plain = w.item() if label == "numpy scalar" else np.ascontiguousarray(w, w.dtype.newbyteorder("="))
            ca, ck = list(args), dict(kw)
            if kind == "arg":
                ca[key] = plain
            else:
                ck[key] = plain
            canon = (ca, ck, 0.0)
        return "; ".join(labels), f, a2, k2, canon

    for kind, key, variants in table:
        for var in variants:
            yield varied([(kind, key, var)])
    if torch is not None:  # every array as a torch tensor (one alone would mix libraries: refused)
        def to_torch(v):
            if isinstance(v, np.ndarray):
                return torch.from_numpy(np.ascontiguousarray(v))
            if isinstance(v, list) and v and all(isinstance(e, np.ndarray) for e in v):
                return [torch.from_numpy(np.ascontiguousarray(e)) for e in v]
            return v
        t_args, t_kw = [to_torch(v) for v in args], {k: to_torch(v) for k, v in kw.items()}
        if any(isinstance(v, (torch.Tensor, list)) for v in [*t_args, *t_kw.values()]):
            # torch's own math in ops written on the caller's library (cos, sums): a few ulp
            yield "all arrays as torch tensors", f, t_args, t_kw, (args, kw, 1e-5)
    for _ in range(combos if len(table) > 1 else 0):
        picked = r.choice(len(table), size=min(len(table), int(r.integers(2, 4))), replace=False)
        yield varied([(table[i][0], table[i][1], table[i][2][int(r.integers(len(table[i][2])))]) for i in picked])


def arrays_in(x, copies=True):
    """numpy views of the arrays in x (nested lists, tuples and dicts; torch CPU tensors too). A
    bfloat16 tensor, which numpy cannot view, comes as a float32 copy when `copies`, else not at all."""
    if isinstance(x, np.ndarray):
        yield x
    elif torch is not None and isinstance(x, torch.Tensor):
        if x.dtype != torch.bfloat16:
            yield x.detach().numpy()
        elif copies:
            yield x.detach().float().numpy()
    elif isinstance(x, (list, tuple)):
        for e in x:
            yield from arrays_in(e, copies)
    elif isinstance(x, dict):
        for e in x.values():
            yield from arrays_in(e, copies)


def same(x, y, rtol=0.0):
    """Results equal (to `rtol`), NaN where NaN (arrays of any library, tuples, lists, dicts, numbers)."""
    if isinstance(x, (tuple, list)) and isinstance(y, (tuple, list)):
        return len(x) == len(y) and all(same(a, b, rtol) for a, b in zip(x, y))
    if isinstance(x, dict) and isinstance(y, dict):
        return x.keys() == y.keys() and all(same(x[k], y[k], rtol) for k in x)
    if torch is not None:
        x = x.detach().float().numpy() if isinstance(x, torch.Tensor) and x.dtype == torch.bfloat16 else x
        y = y.detach().float().numpy() if isinstance(y, torch.Tensor) and y.dtype == torch.bfloat16 else y
        x = x.detach().numpy() if isinstance(x, torch.Tensor) else x
        y = y.detach().numpy() if isinstance(y, torch.Tensor) else y
    x, y = np.asarray(x), np.asarray(y)
    if x.shape != y.shape:
        return False
    if rtol and x.dtype.kind in "fc" and y.dtype.kind in "fc":
        return bool(np.allclose(x, y, rtol=rtol, atol=rtol, equal_nan=True))
    return np.array_equal(x, y, equal_nan=x.dtype.kind in "fc" and y.dtype.kind in "fc")


def call_one(f, args, kw, canon=None):
    """(code, message) of one call: 0 returned, 3 raised an allowed error, 4 raised another,
    5 changed an input array, 6 warned on the way, 7 returned other values than the same call on
    the plain form of its arguments (`canon`)."""
    code, msg = 0, ""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            ins = list(arrays_in([args, kw]))
            before = [a.copy() for a in ins if a.dtype != object]
            got = f(*args, **kw)
            after = [a for a in ins if a.dtype != object]
            if any(not np.array_equal(b, a, equal_nan=b.dtype.kind in "fc") for b, a in zip(before, after)):
                code, msg = 5, "an input array changed"
            elif any(np.shares_memory(o, i) for o in arrays_in(got, False) for i in arrays_in([args, kw], False)):
                code, msg = 8, "a result shares memory with an input"
            elif canon is not None and not same(got, f(*canon[0], **canon[1]), canon[2]):
                code, msg = 7, "other values than the same call on plain arguments"
        except ALLOWED as e:
            code, msg = 3, f"{type(e).__name__}: {e}"
        except BaseException as e:  # noqa: BLE001 - the point is to see it
            code, msg = 4, f"{type(e).__name__}: {e} @ {traceback.extract_tb(e.__traceback__)[-1][:3]}"
    if caught and code in (0, 3):  # a warning on the way: a value was silently changed or lost
        w = caught[0]
        code, msg = 6, f"{w.category.__name__}: {w.message} @ {os.path.basename(w.filename)}:{w.lineno}"
    return code, msg[:2000]


VERDICT = {0: "ok", 3: "raised", 4: "error", 5: "wrote", 6: "warned", 7: "differs", 8: "aliases"}


def run_cases(batch, timeout):
    """Verdicts of the calls in `batch` ((label, f, args, kw) each). They run one after another in
    a forked child that reports each; when it dies (a crash, or the alarm of a hang) the call it
    was on gets that verdict and a new child goes on with the next (a fork per call costs more
    than the calls once torch is loaded)."""
    out = []
    while len(out) < len(batch):
        start = len(out)
        rd, wr = os.pipe()
        pid = os.fork()
        if pid == 0:  # child
            os.close(rd)
            for _, f, args, kw, canon in batch[start:]:
                signal.alarm(timeout)
                line = json.dumps(call_one(f, args, kw, canon)) + "\n"
                signal.alarm(0)
                os.write(wr, line.encode())
            os._exit(0)
        os.close(wr)
        chunks = []
        while True:
            c = os.read(rd, 65536)
            if not c:
                break
            chunks.append(c)
        os.close(rd)
        _, status = os.waitpid(pid, 0)
        for line in b"".join(chunks).decode(errors="replace").splitlines():
            code, msg = json.loads(line)
            out.append((VERDICT.get(code, "crash"), msg))
        if len(out) < len(batch):  # the child died on batch[len(out)]
            if os.WIFSIGNALED(status):
                sig = os.WTERMSIG(status)
                out.append(("hang", f"over {timeout} s") if sig == signal.SIGALRM
                           else ("crash", signal.Signals(sig).name))
            else:
                out.append(("crash", f"exit status {os.WEXITSTATUS(status)}"))
    return out


# Variants that are still valid calls: refusing one is a break too.
ACCEPT = ("valid", "reversed", "non-contiguous", "Fortran order", "read-only", "numpy scalar",
          "all arrays as torch tensors", "big-endian", "zero stride")
# Variants that hold the same values in another form: the result must be the plain call's.
SAME_VALUES = ("non-contiguous", "Fortran order", "read-only", "numpy scalar", "big-endian", "zero stride")


def must_accept(label):
    return ";" not in label and label.split(": ")[-1] in ACCEPT


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("pattern", nargs="?", default=".")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--timeout", type=int, default=20)
    ap.add_argument("--combos", type=int, default=100, help="calls per op with 2-3 arguments varied at once")
    ap.add_argument("-v", action="store_true", help="print every case")
    a = ap.parse_args()
    os.environ.setdefault("FOVEAL_NUM_THREADS", "2")
    found, total = [], 0
    for op, make in specs().items():
        if not re.search(a.pattern, op):
            continue
        batch = list(cases(op, make, a.seed, a.combos))
        for (label, *_), (verdict, detail) in zip(batch, run_cases(batch, a.timeout)):
            total += 1
            bad = verdict not in ("ok", "raised") or (verdict == "raised" and must_accept(label))
            if a.v or bad:
                print(f"{verdict:6s} {op}: {label}: {detail[:300]}", flush=True)
            if bad:
                found.append((op, label, verdict))
    print(f"{total} calls, {len(found)} contract breaks")
    sys.exit(1 if found else 0)


if __name__ == "__main__":
    main()
