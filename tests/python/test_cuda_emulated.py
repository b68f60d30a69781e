"""CUDA kernels run on the CPU (tools/cuda_emu): no GPU is needed, so CI checks these kernels'
logic on every run. Each CUDA thread is a fiber (an OS thread under ThreadSanitizer), __syncthreads /
__syncwarp are barriers and warp shuffles go through a per-warp exchange; the results must equal foveal's CPU
path (bit for bit in float32 for the TV kernels, values and argmax for RoIPool) or the
sequential loop they parallelise. Covered: tv_cuda.cu (Chambolle's 2-D tiled iteration, split
Bregman's tiled wavefront sweep, both stop rules), roi_pool_cuda.cu's forward kernel,
roi_align_cuda.cu's forward kernels (bit for bit against torchvision's CPU RoIAlign), the
fused post-processing's chunked greedy NMS (postprocess_cuda.cu, stage 4) and the whole of
postprocess_cuda.cu end to end (host code, all stages, both sort branches on a stand-in CUB;
against the CPU path bit for bit in float32, rounded in float16 / bfloat16), and the tiled
non-local means (skimage and OpenCV styles) and bilateral kernels, max / average pooling,
greedy bitmask NMS (nms / nms_rotated: gather, pair mask, greedy reduction), and conv2d_cuda.cu's
GEMM (conv2d, conv_transpose2d, linear, gemm; within float tolerance of the CPU GEMM, whose
summation order differs), SIMT and on tensor cores (float16, bfloat16, TF32 through shim.hpp's
nvcuda::wmma emulation, within a float-accumulation bound of the CPU path in float64), and
rl_cuda.cu's FFT path (its kernels and host loop, cufft_api.cu's plans and loading, a stand-in
cuFFT with cuFFT's conventions; against the CPU FFT and direct paths). Every emulator runs under
AddressSanitizer where the compiler has it (out-of-bounds device, shared and host memory, as
compute-sanitizer's memcheck); run.sh's EMU_SANITIZE=thread is its racecheck (not in CI: 15 min).
The whole-file emulators (tools/cuda_emu/whole) compile entire cuda/*.cu files, host code included,
and call their backend entry points on host memory labelled as CUDA memory, against foveal's CPU
ops; each call runs twice (outputs and workspace first 0xff-filled, then zeroed) and must repeat
itself bit for bit, leave its inputs alone and queue everything on the caller's stream."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "tools" / "cuda_emu" / "run.sh"


@pytest.mark.skipif(shutil.which(os.environ.get("CXX", "g++")) is None, reason="needs a C++20 compiler (g++)")
@pytest.mark.skipif(not SCRIPT.exists(), reason="tools/cuda_emu is not in this checkout")
def test_cuda_kernels_equal_the_cpu_path_when_emulated():
    r = subprocess.run(
        ["bash", str(SCRIPT)], capture_output=True, text=True, timeout=1200, env={**os.environ, "PYTHON": sys.executable}
    )
    assert r.returncode == 0, f"emulated CUDA kernels differ from the CPU path:\n{r.stdout[-4000:]}\n{r.stderr[-4000:]}"
    assert "nms_output: 16 scenes, mismatches 0" in r.stdout and "filters: mismatches 0" in r.stdout
    assert "pool: mismatches 0" in r.stdout and "nms: OK" in r.stdout and "MISMATCH" not in r.stdout
    assert "roi_align: mismatches 0" in r.stdout
    assert "gemm: 93 runs, mismatches 0" in r.stdout
    assert "rl_fft: 148 runs, mismatches 0" in r.stdout
    assert "postprocess: 27 scenes (2 device-wide sorts), mismatches 0" in r.stdout
    # The whole-file emulators (tools/cuda_emu/whole): one summary line per check script, none empty.
    checks = sorted(p.stem[len("check_"):] for p in (SCRIPT.parent / "whole").glob("check_*.py"))
    assert checks, "no whole-file emulator checks found"
    for name in checks:
        m = re.search(rf"^whole {name}: (\d+) calls, mismatches 0$", r.stdout, re.M)
        assert m and int(m.group(1)) > 0, f"whole-file emulator {name}: no clean summary line"
