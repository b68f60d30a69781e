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

sys.path.insert(0, str(Path(__file__).resolve().parent))
from launch_rewrite import rewrite_launches  # noqa: E402

root, out = Path(sys.argv[1]), Path(sys.argv[2]) / "rlfft"
here = Path(__file__).resolve().parent
out.mkdir(parents=True, exist_ok=True)


def cut(text, start, end, include_end=False):
    a, b = text.index(start), text.index(end)  # a marker that moved fails loudly here
    return text[a:b + (len(end) if include_end else 0)]


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
