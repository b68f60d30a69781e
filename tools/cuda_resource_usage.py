"""Static resource use of every CUDA kernel, as ptxas reports it: registers, shared memory, stack
frame and spills, per kernel instantiation. Needs nvcc, not a GPU.

    python3 tools/cuda_resource_usage.py [--arch 90] [--build /tmp/foveal-res] [--json out.json]

It configures a C++-only build with `--resource-usage`, compiles the objects of cuda/*.cu and
prints the kernels that spill or use a stack frame (local memory: arrays indexed at run time,
spills, and the registers saved around a call such as 64-bit integer division), then the heaviest
by registers.
"""
import argparse
import json
import pathlib
import re
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]


def build_log(arch, build):
    subprocess.run(["cmake", "-S", str(ROOT), "-B", build, "-G", "Ninja", "-DFOVEAL_CUDA=ON", "-DFOVEAL_PYTHON=OFF",
                    f"-DCMAKE_CUDA_ARCHITECTURES={arch}-real", "-DCMAKE_CUDA_FLAGS=--resource-usage"],
                   check=True, stdout=subprocess.DEVNULL)
    objs = [f"cpp/CMakeFiles/foveal_core.dir/__/cuda/{p.name}.o" for p in sorted((ROOT / "cuda").glob("*.cu"))]
    # -t clean first: ptxas only reports what it compiles
    subprocess.run(["ninja", "-C", build, "-t", "clean", *objs], check=True, stdout=subprocess.DEVNULL)
    r = subprocess.run(["ninja", "-C", build, "-j2", *objs], capture_output=True, text=True)
    if r.returncode:
        sys.exit(r.stdout[-4000:] + r.stderr[-4000:])
    return r.stdout + r.stderr


def parse(log):
    entries = []
    for line in log.splitlines():
        m = re.search(r"Compiling entry function '(\w+)' for '(\w+)'", line)
        if m:
            entries.append({"mangled": m.group(1), "arch": m.group(2), "text": ""})
        elif entries:  # its properties: "ptxas info" lines, and the stack / spill line without that prefix
            entries[-1]["text"] += line + "\n"
    names = subprocess.run(["c++filt"], input="\n".join(e["mangled"] for e in entries), capture_output=True,
                           text=True, check=True).stdout.splitlines()
    rows = []
    for e, name in zip(entries, names):
        t = e["text"]

        def num(pattern):
            m = re.search(pattern, t)
            return int(m.group(1)) if m else 0

        name = re.sub(r"\(anonymous namespace\)::|foveal::cuda::", "", name)
        depth = 0
        for i in range(len(name) - 1, -1, -1):  # drop the parameter list: the last balanced (...)
            depth += {")": 1, "(": -1}.get(name[i], 0)
            if depth == 0 and name[i] == "(":
                name = name[:i]
                break
        rows.append({"kernel": name, "arch": e["arch"], "registers": num(r"Used (\d+) registers"),
                     "smem": num(r"(\d+) bytes smem"), "stack": num(r"(\d+) bytes stack frame"),
                     "spill_stores": num(r"(\d+) bytes spill stores"), "spill_loads": num(r"(\d+) bytes spill loads"),
                     "foveal": not name.startswith(("void cub::", "void thrust::"))})
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arch", default="90")
    ap.add_argument("--build", default="/tmp/foveal-resource-usage")
    ap.add_argument("--json")
    a = ap.parse_args()
    rows = parse(build_log(a.arch, a.build))
    if a.json:
        nvcc = subprocess.run(["nvcc", "--version"], capture_output=True, text=True).stdout.strip().splitlines()[-1]
        commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True).stdout.strip()
        record = {"arch": a.arch, "nvcc": nvcc, "commit": commit,
                  "command": "python3 tools/cuda_resource_usage.py " + " ".join(sys.argv[1:]), "kernels": rows}
        pathlib.Path(a.json).write_text(json.dumps(record, indent=1) + "\n")
    short = lambda r: r["kernel"][:120]
    bad = [r for r in rows if r["spill_stores"] or r["spill_loads"] or r["stack"]]
    print(f"{len(rows)} kernel instantiations for sm_{a.arch}; {len(bad)} with a stack frame or spills")
    for r in bad:
        print(f"  stack {r['stack']:5d} B  spill st/ld {r['spill_stores']}/{r['spill_loads']} B  {short(r)}")
    print("most registers (a full SM of 2,048 threads allows 32 each):")
    for r in sorted(rows, key=lambda r: -r["registers"])[:15]:
        print(f"  {r['registers']:4d} regs  {r['smem']:6d} B smem  {short(r)}")


if __name__ == "__main__":
    main()
