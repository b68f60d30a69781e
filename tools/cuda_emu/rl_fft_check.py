"""rl_cuda.cu's FFT path (run by rl_fft_emu through the shipped cufft_api.cu and a stand-in cuFFT,
see run.sh) against foveal's CPU Richardson-Lucy, both its FFT and its direct path: 1-D to 3-D,
psf sizes odd and even (and as large as the image), unit axes, every boundary mode, float32 and
float64, clip and filter_epsilon, rl_plan's padded lengths and others (odd, not 5-smooth: the
result must not depend on them). Also the counters: every launch and transform on the caller's
stream, two plans made once and reused by a second call (which must give the same bits), host
threads sharing the plans one at a time, and the error when cuFFT cannot be loaded."""
import os
import subprocess
import sys

import numpy as np
from foveal.restoration._rl import _rl

LIB = os.path.abspath("libcufft_fake.so")
MODES = ("constant", "reflect", "wrap")


def good_size(n, even):
    """rl_plan's padded length: the smallest 5-smooth (and, for the last axis, even) n' >= n."""
    m = n
    while True:
        r = m
        for p in (2, 3, 5):
            while r % p == 0:
                r //= p
        if r == 1 and (not even or m % 2 == 0):
            return m
        m += 1


def plan_lengths(n3, k3, mode):
    out = []
    for a, (n, k) in enumerate(zip(n3, k3)):
        need = n if mode == 2 else n + (k - 1 if mode == 1 else k // 2)
        out.append(need if mode == 2 or need == 1 else good_size(need, a == 2))
    return out


def emulate(x, p, mode, num_iter, clip, fe, lengths=None):
    n3 = (1,) * (3 - x.ndim) + x.shape
    k3 = (1,) * (3 - p.ndim) + p.shape
    P = lengths or plan_lengths(n3, k3, mode)
    x.tofile("in.bin")
    p.astype(np.float64).tofile("psf.bin")
    tag = "f64" if x.dtype == np.float64 else "f32"
    args = [tag, *n3, *k3, *P, mode, num_iter, int(clip), fe]
    r = subprocess.run(["./rl_fft_emu", *map(str, args)], capture_output=True, text=True,
                       env={**os.environ, "FOVEAL_CUFFT_LIBRARY": LIB})
    if r.returncode != 0:
        raise RuntimeError(f"rl_fft_emu {args} failed: {r.stdout} {r.stderr}")
    c = r.stdout.split()
    st = {c[i]: int(c[i + 1]) for i in range(0, len(c), 2)}
    odd = all(k % 2 == 1 for k in k3)
    transforms = 2 * ((1 if odd else 2) + 4 * num_iter)  # two calls: psf spectra, then 4 per iteration
    ok = (st["wrong_stream"] == 0 and st["plans"] == 2 and st["destroyed"] == 0 and st["execs"] == transforms
          and st["on_stream"] == transforms and st["repeat_same"] == 1)
    return np.fromfile("out.bin", dtype=x.dtype).reshape(x.shape), ok, st


CASES = [((13,), (4,)), ((13,), (5,)), ((9, 11), (3, 3)), ((9, 11), (4, 6)), ((8, 10), (2, 5)), ((7, 9), (7, 9)),
         ((1, 12), (1, 5)), ((7, 1), (4, 1)), ((1, 1), (1, 1)), ((5, 6, 7), (3, 3, 3)), ((5, 6, 7), (2, 3, 4)),
         ((4, 5, 6), (4, 1, 2))]
TOL = {np.float64: 1e-12, np.float32: 2e-5}  # relative to max(1, |value|)
bad, runs, worst = 0, 0, {}
for shape, pshape in CASES:
    rng = np.random.default_rng(sum(shape) * 7 + sum(pshape))
    x0, p0 = rng.random(shape) + 0.05, rng.random(pshape) + 0.05
    for dt in (np.float64, np.float32):
        x, p = x0.astype(dt), (p0 / p0.sum()).astype(dt)
        for m, mode in enumerate(MODES):
            for clip, fe, it in ((False, 0.0, 4), (True, 0.3, 3)):
                got, ok, st = emulate(x, p, m, it, clip, fe)
                runs += 1
                want_f, used = _rl(x, p, it, clip, fe or None, mode, "fft")
                want_d, _ = _rl(x, p, it, clip, fe or None, mode, "direct")
                assert used == "fft"
                scale = np.maximum(1.0, np.abs(want_d))
                d = max(float(np.max(np.abs(got - want_f) / scale)), float(np.max(np.abs(got - want_d) / scale)))
                key = (np.dtype(dt).name, len(shape))
                worst[key] = max(worst.get(key, 0.0), d)
                if not ok or not np.isfinite(got).all() or not d <= TOL[dt]:
                    print("RL_FFT MISMATCH", shape, pshape, np.dtype(dt).name, mode, clip, fe, it, d, st)
                    bad += 1
# Other padded lengths (odd last axis, not 5-smooth, longer): the same result up to rounding.
for shape, pshape, lengths in (((9, 11), (4, 6), [1, 13, 15]), ((9, 11), (3, 3), [1, 17, 19]),
                               ((5, 6, 7), (2, 3, 4), [7, 7, 9]), ((13,), (4,), [1, 1, 17])):
    rng = np.random.default_rng(3)
    x, p = rng.random(shape), rng.random(pshape)
    p /= p.sum()
    got, ok, st = emulate(x, p, 0, 4, False, 0.0, lengths)
    runs += 1
    want, _ = _rl(x, p, 4, False, None, "constant", "direct")
    d = float(np.max(np.abs(got - want) / np.maximum(1.0, np.abs(want))))
    worst[("float64", "lengths")] = max(worst.get(("float64", "lengths"), 0.0), d)
    if not ok or not d <= 1e-12:
        print("RL_FFT MISMATCH lengths", shape, pshape, lengths, d, st)
        bad += 1
r = subprocess.run(["./rl_fft_emu", "missing"], capture_output=True, text=True,
                   env={**os.environ, "FOVEAL_CUFFT_LIBRARY": "/nonexistent/libcufft.so.12", "CUDA_HOME": "/nonexistent",
                        "CUDA_PATH": "/nonexistent"})
if "available 1" in r.stdout:
    print("rl_fft: a real libcufft.so.12 was found; the missing-library message is not checked")
elif not ("available 0" in r.stdout and "FOVEAL_CUFFT_LIBRARY" in r.stdout and  # CUDA 13: cuFFT 12's soname
          "cuFFT (libcufft.so.12) could not be loaded" in r.stdout and "pip install nvidia-cufft)" in r.stdout and
          "DeviceError: richardson_lucy: method 'fft' on CUDA needs cuFFT" in r.stdout):
    print("RL_FFT MISMATCH missing library:", r.stdout, r.stderr)
    bad += 1
# Batch workers: host threads on one stream share the cached plans; cuFFT allows one thread per plan.
r = subprocess.run(["./rl_fft_emu", "threads"], capture_output=True, text=True,
                   env={**os.environ, "FOVEAL_CUFFT_LIBRARY": LIB})
if r.returncode != 0 or "threads plans 2 execs 200 overlaps 0" not in r.stdout:
    print("RL_FFT MISMATCH threads sharing plans:", r.stdout, r.stderr)
    bad += 1
print("rl_fft worst", {k: f"{v:.2g}" for k, v in worst.items()})
print(f"rl_fft: {runs} runs, mismatches {bad}")
sys.exit(1 if bad else 0)
