"""Prepares the RL FFT emulator's sources (rl_fft_emu.cpp, see run.sh) in OUT/rlfft: the kernels
and the host function rl_fft of cuda/rl_cuda.cu (from `constexpr int kThreads` to the end marker)
with every `kernel<<<grid, block, smem, stream>>>(args)` rewritten as
`::emu::launch_cuda(grid, block, smem, stream, [&] { kernel(args); })`; cuda/cufft_api.{hpp,cu}
as they are, beside fake_cuda/common.cuh (which their `#include "common.cuh"` then finds) and
cuda/common.cuh's blocks_for.

    python extract_rl_fft.py ROOT OUT"""
import shutil
import sys
from pathlib import Path

root, out = Path(sys.argv[1]), Path(sys.argv[2]) / "rlfft"
here = Path(__file__).resolve().parent
out.mkdir(parents=True, exist_ok=True)


def cut(text, start, end, include_end=False):
    a, b = text.index(start), text.index(end)  # a marker that moved fails loudly here
    return text[a:b + (len(end) if include_end else 0)]


def match_back(src, s):
    """Start of the template argument list ending at src[s] == '>'."""
    depth = 0
    while True:
        depth += {">": 1, "<": -1}.get(src[s], 0)
        if depth == 0:
            return s
        s -= 1


def match_paren(src, p):
    """Index of the ')' closing src[p] == '('."""
    depth = 0
    for q in range(p, len(src)):
        depth += {"(": 1, ")": -1}.get(src[q], 0)
        if depth == 0:
            return q
    raise ValueError("unbalanced launch arguments")


def rewrite_launches(src):
    parts, i, count = [], 0, 0
    while (j := src.find("<<<", i)) >= 0:
        s = match_back(src, j - 1) if src[j - 1] == ">" else j
        while src[s - 1].isalnum() or src[s - 1] in "_:":
            s -= 1
        e = src.index(">>>", j)
        p = e + 3
        assert src[p] == "(", src[s:p + 20]
        q = match_paren(src, p)
        parts += [src[i:s], f"::emu::launch_cuda({src[j + 3:e]}, [&] {{ {src[s:j]}({src[p + 1:q]}); }})"]
        i, count = q + 1, count + 1
    parts.append(src[i:])
    return "".join(parts), count


rl = (root / "cuda" / "rl_cuda.cu").read_text()
body, n = rewrite_launches(cut(rl, "constexpr int kThreads = 256;", "// ---- end of the emulated FFT path"))
assert "RlMethod rl_fft(" in body and n >= 8, f"rl_fft or its launches not found ({n} launches)"
(out / "kernels_rl_fft.inc").write_text(body)
common = (root / "cuda" / "common.cuh").read_text()
(out / "blocks_for.inc").write_text(cut(common, "inline unsigned blocks_for(", "\n}\n", include_end=True))
for name in ("cufft_api.hpp", "cufft_api.cu"):
    shutil.copy(root / "cuda" / name, out / name)
shutil.copy(here / "fake_cuda" / "common.cuh", out / "common.cuh")
print(f"rl_fft: {n} launches rewritten")
