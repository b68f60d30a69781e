"""The tiled NLM, OpenCV-style NLM and bilateral CUDA kernels (run by filters_emu, see run.sh)
against foveal's CPU path: skimage-style NLM to 2e-6 (float32) / 1e-12 (float64), OpenCV-style
NLM exactly, bilateral to 1e-6 (float) and within one level on at most 0.1% of uint8 values."""
import subprocess
import sys

import numpy as np

from foveal.restoration import bilateral_filter, denoise_nl_means, fast_nl_means

bad = 0


def emu(*args):
    subprocess.run(["./filters_emu"] + [str(a) for a in args], check=True, capture_output=True)


def report(ok, *what):
    global bad
    bad += not ok
    if not ok:
        print("MISMATCH", *what, flush=True)


for shape, s, d, dt, R in [((45, 77), 7, 10, np.float32, 8), ((45, 77), 7, 10, np.float64, 8),
                           ((7, 7), 3, 10, np.float32, 8), ((7, 9), 7, 2, np.float64, 8),
                           ((70, 40), 5, 3, np.float32, 16), ((33, 33), 9, 5, np.float32, 8),
                           ((64, 32), 3, 0, np.float64, 16), ((130, 65), 7, 4, np.float32, 16)]:
    x = np.random.default_rng(11).random(shape).astype(dt)
    x.tofile("in.bin")
    emu("nlm", shape[0], shape[1], s, d, 0.15, 0.05, int(dt == np.float64), R)
    got = np.fromfile("out.bin", dtype=dt).reshape(shape)
    want = denoise_nl_means(x, patch_size=s, patch_distance=d, h=0.15, sigma=0.05, fast_mode=True)
    diff = float(np.abs(got.astype(np.float64) - want).max())
    report(diff <= (2e-6 if dt == np.float32 else 1e-12), "nlm", shape, s, d, dt.__name__, R, diff)

borders = {"constant": 0, "replicate": 1, "reflect": 2, "reflect_101": 3, "wrap": 4}
for shape in [(1, 1), (5, 70), (45, 33), (40, 64)]:
    for C in (1, 3):
        full = shape + (C,) if C == 3 else shape
        f = np.random.default_rng(21).random(full).astype(np.float32)
        u = (np.random.default_rng(22).random(full) * 255).round().astype(np.uint8)
        for name, code in borders.items():
            for x, u8, (d, sc, ss) in [(f, 0, (9, 0.1, 3.0)), (u, 1, (9, 75.0, 75.0))]:
                x.tofile("in.bin")
                emu("bil", shape[0], shape[1], C, u8, d, sc, ss, code)
                got = np.fromfile("out.bin", dtype=x.dtype).reshape(full)
                want = bilateral_filter(x, d, sc, ss, name, exact=not u8)
                diff = np.abs(got.astype(np.float64) - want.astype(np.float64))
                ok = diff.max() <= 1 and (diff > 0).mean() <= 1e-3 if u8 else diff.max() <= 1e-6
                report(ok, "bilateral", shape, C, name, "u8" if u8 else "f32", diff.max())


def cv(x, C, coff, u16, h, t, sw, R):
    H, W = x.shape[:2]
    x.tofile("in.bin")
    emu("cv", H, W, x.shape[2] if x.ndim == 3 else 1, C, coff, u16, h, t, sw, R)
    return np.fromfile("out.bin", dtype=x.dtype).reshape(x.shape)


rng = np.random.default_rng(5)
base = np.clip(np.add.outer(np.arange(70), np.arange(45)) * 2 + rng.normal(0, 12, (70, 45)), 0, 255)
g8 = base.round().astype(np.uint8)
for x, h, t, sw, R in [(g8, 10, 7, 21, 8), (g8, 10, 7, 21, 16), (g8, 15, 5, 11, 8), (g8[:9, :13], 10, 7, 21, 8),
                       (g8, 3, 3, 5, 16)]:
    want = fast_nl_means(x, h=h, template_window_size=t, search_window_size=sw)
    report(np.array_equal(cv(x, 1, 0, 0, h, t, sw, R), want), "fast_nl_means u8", x.shape, h, t, sw, R)
c3 = rng.integers(0, 65536, (37, 50, 3), dtype=np.uint16)
report(np.array_equal(cv(c3, 3, 0, 1, 20000, 5, 11, 8), fast_nl_means(c3, h=20000, template_window_size=5,
                                                                       search_window_size=11)), "u16 c3")
got = cv(c3, 2, 1, 1, 20000, 5, 11, 8)
want = fast_nl_means(np.ascontiguousarray(c3[..., 1:]), h=20000, template_window_size=5, search_window_size=11)
report(np.array_equal(got[..., 1:], want) and not got[..., 0].any(), "u16 c2 strided")
u16 = (base * 257).round().astype(np.uint16)
for R in (8, 16):
    want = fast_nl_means(u16, h=2570, template_window_size=7, search_window_size=21)
    report(np.array_equal(cv(u16, 1, 0, 1, 2570, 7, 21, R), want), "u16 gray", R)
print("filters: mismatches", bad)
sys.exit(1 if bad else 0)
