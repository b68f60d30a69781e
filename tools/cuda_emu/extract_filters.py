"""Cuts the tiled NLM / OpenCV-NLM / bilateral kernels out of cuda/*.cu into OUT/kernels.inc for
filters_emu.cpp (dynamic shared memory becomes the emulator's block buffer).

    python extract_filters.py ROOT OUT"""
import sys
from pathlib import Path

root, out = Path(sys.argv[1]), Path(sys.argv[2])


def cut(text, start, end):
    a, b = text.index(start), text.index(end)  # a marker that moved fails loudly here
    return text[a:b]


nlm = (root / "cuda" / "nlm_cuda.cu").read_text()
bil = (root / "cuda" / "bilateral_cuda.cu").read_text()
shared_d = ("extern __shared__ double smem_d[];", "double* smem_d = emu::smem.data();")
parts = [
    cut(nlm, "constexpr int kTileW = 32;", "// Shared bytes of the tiled kernel").replace(*shared_d),
    cut(nlm, "constexpr int kCvMaxTable", "// The tiled OpenCV kernel with row blocks").replace(*shared_d),
    cut(bil, "template <typename S, typename T>\n__device__ __forceinline__ S store",
        "template <typename S, typename T>\n__global__ void bilateral_kernel"),
    cut(bil, "constexpr int kBx = 32", "template <typename S, int C>\nvoid tiled_for_kind").replace(
        "extern __shared__ float tile[];", "float* tile = reinterpret_cast<float*>(emu::smem.data());"),
]
(out / "kernels.inc").write_text("\n".join(parts))
