"""Rewrites CUDA launches for the emulators (see run.sh): every `kernel<<<grid, block, smem,
stream>>>(args)` becomes `LAUNCHER(grid, block, smem, stream, [&] { kernel(args); })`, with
LAUNCHER chosen per kernel name (fake_cuda/cuda_runtime.h: launch_cuda runs the CUDA threads one
after another, launch_cuda_threads as fibers with barriers: shim.hpp)."""


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


def rewrite_launches(src, launcher=lambda name: "::emu::launch_cuda"):
    parts, i, count = [], 0, 0
    while (j := src.find("<<<", i)) >= 0:
        s = match_back(src, j - 1) if src[j - 1] == ">" else j
        while src[s - 1].isalnum() or src[s - 1] in "_:":
            s -= 1
        e = src.index(">>>", j)
        p = e + 3
        assert src[p] == "(", src[s:p + 20]
        q = match_paren(src, p)
        name = src[s:j].split("<")[0]
        parts += [src[i:s], f"{launcher(name)}({src[j + 3:e]}, [&] {{ {src[s:j]}({src[p + 1:q]}); }})"]
        i, count = q + 1, count + 1
    parts.append(src[i:])
    return "".join(parts), count
