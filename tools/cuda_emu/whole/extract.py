"""Prepares the whole-file emulators' sources (see run.sh) in OUT/whole: every cuda/*.cu file that an
adapter (whole/ops_*.cpp) names in an `// emulates: cuda/NAME.cu` line, as it is but with each
launch rewritten (launch_rewrite.py): kernels with barriers, shared memory or warp shuffles run as
OS threads (fake_cuda/cuda_runtime.h's launch_cuda_threads), the others one CUDA thread after
another in a shuffled order (launch_cuda), both through Kernel{"name"}, which counts the launches per
kernel name. `extern __shared__` arrays become the block's dynamic shared memory. The .cuh files of
cuda/ beside them, except common.cuh: fake_cuda's stands in for it. Writes OUT/whole/files (the .cu files to compile, one per line).

    python extract.py ROOT OUT"""
import re
import shutil
import sys
from pathlib import Path

here = Path(__file__).resolve().parent
sys.path.insert(0, str(here.parent))
from launch_rewrite import rewrite_launches  # noqa: E402

root, out = Path(sys.argv[1]), Path(sys.argv[2]) / "whole"
out.mkdir(parents=True, exist_ok=True)
wanted = sorted({m for f in here.glob("ops_*.cpp") for m in re.findall(r"^// emulates: cuda/(\w+\.cu)$",
                                                                         f.read_text(), re.M)})
threaded_marks = ("__syncthreads", "__syncwarp", "__shared__", "__shfl", "wmma::")


def kernels_of(src):
    """Kernel name -> whether it needs real threads (barriers, shared memory, shuffles)."""
    found = {}
    for m in re.finditer(r"__global__ void(?: __launch_bounds__\([^)]*\))?\s+(\w+)\(", src):
        end = src.find("\n}\n", m.end())
        body = src[m.end():end]
        found[m.group(1)] = any(k in body for k in threaded_marks)
    return found


helpers = ""  # device helpers of the .cuh files: a kernel calling one that synchronises runs threaded
cuh = {h.name: h.read_text() for h in (root / "cuda").glob("*.cuh") if h.name != "common.cuh"}
for text in cuh.values():
    helpers += text
sync_helpers = {m.group(1) for m in re.finditer(r"__device__[^;{(]*?\b(\w+)\(", helpers)
                if any(k in helpers[m.end():helpers.find("\n}\n", m.end())] for k in threaded_marks)}
helper_kernels = kernels_of(helpers)
for hname, text in cuh.items():  # launches in a header (nms_common.cuh's rank_order) are rewritten too
    def cuh_launcher(kernel):
        base = kernel.split("::")[-1]
        if base not in helper_kernels:
            raise SystemExit(f"{hname}: launch of unknown kernel {kernel}")
        return "::emu::launch_cuda_threads" if helper_kernels[base] else "::emu::launch_cuda"
    text, _ = rewrite_launches(text, cuh_launcher)
    assert "<<<" not in text, f"{hname}: a launch was not rewritten"
    (out / hname).write_text(text)
for extra in ("cufft_api.hpp",):
    shutil.copy(root / "cuda" / extra, out / extra)
total = 0
for name in wanted:
    src = (root / "cuda" / name).read_text()
    src = re.sub(r"//[^\n]*", lambda m: m.group(0).replace("<<<", "< <<"), src)  # launches named in comments
    kernels = kernels_of(src)
    helpers_here = {**kernels_of(helpers), **kernels}
    dev_sync = sync_helpers | {m.group(1) for m in re.finditer(r"__device__[^;{(]*?\b(\w+)\(", src)
                               if any(k in src[m.end():src.find("\n}\n", m.end())] for k in threaded_marks)}

    def launcher(kernel):
        base = kernel.split("::")[-1]
        if base not in helpers_here:
            raise SystemExit(f"{name}: launch of unknown kernel {kernel}")
        named = f'::emu::Kernel{{"{base}"}}.'  # counts the launches per kernel name
        if helpers_here[base]:
            return named + "cuda_threads"
        end = src.find("\n}\n", src.find(f" {base}("))
        body = src[src.find(f" {base}("):end]
        return named + ("cuda_threads" if any(f"{h}(" in body for h in dev_sync) else "cuda")

    body, n = rewrite_launches(src, launcher)
    # dynamic shared memory: the launch's buffer (shim.hpp's emu::smem, sized by the launch)
    body = re.sub(r"extern __shared__ (?:__align__\(\d+\) )?(\w[\w ]*?) (\w+)\[\];",
                  r"\1* \2 = reinterpret_cast<\1*>(::emu::smem.data());", body)
    assert "<<<" not in body, f"{name}: a launch was not rewritten"
    (out / name).write_text(body)
    total += n
    print(f"whole {name}: {n} launches rewritten, {len(kernels)} kernels "
          f"({sum(kernels.values())} with barriers, shared memory or shuffles)")
(out / "files").write_text("".join(f"{n}\n" for n in wanted))
common = (root / "cuda" / "common.cuh").read_text()
a = common.index("inline unsigned blocks_for(")
(out / "blocks_for.inc").write_text(common[a:common.index("\n}\n", a) + 3])
