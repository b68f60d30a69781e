"""Python side of the whole-file emulators (see ops_emu.cpp): `call` runs one host entry point of
cuda/*.cu through ./ops_emu (in the current folder, where run.sh builds it) and returns its outputs.

    out = call("decode_boxes", rel_codes=codes, boxes=boxes, weights=[10, 10, 5, 5], clip=4.1,
               outputs={"out": ((n, 4), "float32")})

Arrays are tensors (numpy dtypes, or `bf16(array)` for bfloat16: its bits as uint16, returned as
float32), numbers and sequences of numbers are numbers; `host=("name",)` marks tensors that live on
the host. Raises if the op fails, is not repeatable (outputs differ between a run on 0xff-filled
and one on zero-filled outputs and workspace) or writes into an input. `report(name)` prints the
summary line the CI test looks for and exits with the mismatch count. A result's "_launches" counts the
first run's launches, "_kernels" them per kernel name."""
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

calls = 0
mismatches = 0


class bf16:
    """A bfloat16 tensor: float values rounded to nearest even, stored as their 16 high bits."""

    def __init__(self, a):
        u = np.ascontiguousarray(a, np.float32).view(np.uint32).astype(np.uint64)
        nan = np.isnan(np.asarray(a, np.float32))
        bits = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)
        self.bits = np.where(nan, np.uint16(0x7FC0), bits)


def bf16_to_float(bits):
    return (np.asarray(bits, np.uint16).astype(np.uint32) << 16).view(np.float32)


_names = {np.dtype(np.bool_): "bool", np.dtype(np.uint8): "uint8", np.dtype(np.int8): "int8",
          np.dtype(np.int16): "int16", np.dtype(np.int32): "int32", np.dtype(np.int64): "int64",
          np.dtype(np.float16): "float16", np.dtype(np.float32): "float32", np.dtype(np.float64): "float64",
          np.dtype(np.uint16): "uint16"}


def call(op, *, outputs, host=(), **args):
    global calls
    calls += 1
    with tempfile.TemporaryDirectory(dir=".") as d:
        lines = []
        for name, v in args.items():
            if isinstance(v, bf16):
                lines.append(f"T {name} bfloat16 {int(name in host)} 0 {v.bits.ndim} {' '.join(map(str, v.bits.shape))}")
                v.bits.tofile(Path(d) / f"{name}.bin")
            elif isinstance(v, np.ndarray):
                a = np.ascontiguousarray(v)
                lines.append(f"T {name} {_names[a.dtype]} {int(name in host)} 0 {a.ndim} {' '.join(map(str, a.shape))}")
                a.tofile(Path(d) / f"{name}.bin")
            else:
                vals = list(v) if isinstance(v, (list, tuple)) else [v]
                lines.append(f"N {name} {' '.join(repr(float(x)) for x in vals)}")
        for name, (shape, dt) in outputs.items():
            lines.append(f"T {name} {dt} {int(name in host)} 1 {len(shape)} {' '.join(map(str, shape))}")
        (Path(d) / "args").write_text("\n".join(lines) + "\n")
        r = subprocess.run(["./ops_emu", op, d], capture_output=True, text=True, timeout=600)
        if r.returncode != 0:
            raise RuntimeError(f"ops_emu {op} failed ({r.returncode}):\n{r.stdout}\n{r.stderr[-4000:]}")
        stats = dict(zip(r.stdout.split()[0::2], map(int, r.stdout.split()[1::2])))
        if stats.get("repeat_same") != 1 or stats.get("inputs_kept") != 1 or stats.get("wrong_stream") != 0:
            raise RuntimeError(f"ops_emu {op}: {r.stdout.strip()}")
        res = {}
        for name, (shape, dt) in outputs.items():
            raw = np.fromfile(Path(d) / f"{name}.bin", np.uint16 if dt == "bfloat16" else dt).reshape(shape)
            res[name] = bf16_to_float(raw) if dt == "bfloat16" else raw
        res["_launches"] = stats["launches"]
        res["_kernels"] = {k[7:]: v for k, v in stats.items() if k.startswith("kernel:")}  # launches per kernel
        return res


def check(ok, *what):
    """Counts a comparison; prints what failed."""
    global mismatches
    if not ok:
        mismatches += 1
        print("MISMATCH", *what, flush=True)


def report(name):
    print(f"whole {name}: {calls} calls, mismatches {mismatches}", flush=True)
    sys.exit(1 if mismatches or not calls else 0)
