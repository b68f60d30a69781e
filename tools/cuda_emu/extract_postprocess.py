"""Prepares the post-processing emulator's source (postprocess_emu.cpp, see run.sh) in OUT/pp:
cuda/postprocess_cuda.cu whole (kernels, segment tables, Tables, Stage, segmented_sort and the
three host entry points), with `#include "ops/backend.hpp"` (needs the generated config) replaced
by the public header it draws the parameters from, and every launch rewritten (launch_rewrite.py):
kernels with __syncthreads run as fibers with barriers, the grid-stride ones one thread after another.

    python extract_postprocess.py ROOT OUT"""
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from launch_rewrite import rewrite_launches  # noqa: E402

root, out = Path(sys.argv[1]), Path(sys.argv[2]) / "pp"
out.mkdir(parents=True, exist_ok=True)
src = (root / "cuda" / "postprocess_cuda.cu").read_text()
backend = '#include "ops/backend.hpp"\n'
assert backend in src, "postprocess_cuda.cu: the backend include moved"
src = src.replace(backend, '#include "foveal/ops/postprocess.hpp"\n')
# Kernels by name, and which of them synchronise (those need real threads).
kernels = {}
for m in re.finditer(r"__global__ void(?: __launch_bounds__\([^)]*\))?\s+(\w+)\(", src):
    end = src.find("\n}\n", m.end())
    kernels[m.group(1)] = "__syncthreads" in src[m.end():end]
threaded = {k for k, sync in kernels.items() if sync}
assert threaded == {"nms_output_kernel"}, f"kernels with barriers: {sorted(threaded)}"
body, n = rewrite_launches(src, lambda name: "::emu::launch_cuda_threads" if name in threaded else "::emu::launch_cuda")
assert n == 6 and "<<<" not in body, f"expected 6 launches, rewrote {n}"
for name in ("rpn_postprocess", "box_head_postprocess", "retinanet_postprocess"):
    assert f"\nvoid {name}(" in body, f"{name} not found"
(out / "postprocess_cuda.cu").write_text(body)
common = (root / "cuda" / "common.cuh").read_text()
a = common.index("inline unsigned blocks_for(")
(out / "blocks_for.inc").write_text(common[a:common.index("\n}\n", a) + 3])
print(f"postprocess: {n} launches rewritten, {len(kernels)} kernels ({len(threaded)} threaded)")
