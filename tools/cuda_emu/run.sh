#!/usr/bin/env bash
# Runs CUDA kernels of foveal on the CPU, without a GPU, and compares them with foveal's CPU path:
# one fiber per CUDA thread (shim.hpp), barriers for __syncthreads / __syncwarp, warp shuffles
# through a per-warp exchange, __shared__ as static storage (blocks run one after another).
# Correctness only (tiny sizes; no speed). Needs an installed foveal (the CPU reference) and g++.
#
#   bash tools/cuda_emu/run.sh            # every emulated kernel
#
# Kernels covered: tv_cuda.cu (Chambolle's 2-D tiled and N-D iterations and stop step; split Bregman's
# init / terms / tiled wavefront sweep / stop / out), roi_pool_cuda.cu (forward kernel), roi_align_cuda.cu (roi_align and
# multi_scale_roi_align forward kernels) and
# postprocess_cuda.cu's stage 4 (the chunked greedy NMS and output, against the sequential loop) and
# the whole file end to end (rpn / box_head / retinanet_postprocess: segment tables, Tables upload,
# all kernels, both branches of segmented_sort on a stand-in CUB, fake_cuda/cub; against the CPU path),
# nlm_cuda.cu's tiled kernels (skimage fast mode, OpenCV style), bilateral_cuda.cu's tiled one,
# pool_cuda.cu's max / average pooling kernels, greedy bitmask NMS (nms_cuda.cu,
# nms_rotated_cuda.cu: gather, pair mask, nms_common.cuh's greedy reduction) and conv2d_cuda.cu's
# GEMM (conv2d, conv_transpose2d, linear, gemm; SIMT in float32 / float64, and tensor cores through
# shim.hpp's nvcuda::wmma emulation in float16, bfloat16 and TF32), and rl_cuda.cu's FFT path (the
# kernels and the host function rl_fft, with the shipped cufft_api.cu loading a stand-in cuFFT,
# cufft_fake.cpp, through its dlopen; under AddressSanitizer where the compiler has it).
# The whole-file emulators (whole/: README there) compile entire .cu files, host code and all, and
# call their backend entry points through one driver, ops_emu; `EMU_ONLY=whole` runs only those.
# The kernel code is cut from the .cu files between the markers below, so an edit that moves a
# marker fails here loudly rather than testing stale code.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
WORK="$(mktemp -d /tmp/foveal_cuda_emu_XXXX)"
trap 'rm -rf "$WORK"' EXIT
cut_between() {  # cut_between FILE START_REGEX END_REGEX OUT: lines from START up to before END
  local a b
  a=$(grep -n -m1 -E "$2" "$1" | cut -d: -f1) && b=$(grep -n -m1 -E "$3" "$1" | cut -d: -f1) \
    || { echo "marker not found in $1" >&2; exit 1; }
  sed -n "${a},$((b - 1))p" "$1" >"$4"
}
CXX="${CXX:-g++}"
# Every emulator runs under a sanitizer where the compiler has it: EMU_SANITIZE=address (the default:
# out-of-bounds reads and writes of device, shared and host memory, as compute-sanitizer's memcheck)
# or thread (data races between the CUDA threads of a block, as its racecheck, but on global memory
# too; 15 minutes on 2 cores, so not in CI: EMU_SANITIZE=thread TSAN_OPTIONS=log_path=/tmp/tsan/log),
# or none.
SAN=""
KIND="${EMU_SANITIZE:-address}"
if [ "$KIND" != none ] && echo 'int main() { return 0; }' | "$CXX" -x c++ -fsanitize="$KIND" -o "$WORK/san_probe" - 2>/dev/null &&
  "$WORK/san_probe" 2>/dev/null; then SAN="-fsanitize=$KIND"; fi
[ -n "$SAN" ] || echo "cuda_emu: running without a sanitizer" >&2
# CUDA threads are fibers on one OS thread (shim.hpp), except under ThreadSanitizer or with
# EMU_OS_THREADS=1: one OS thread each.
if [ "$KIND" = thread ] || [ "${EMU_OS_THREADS:-0}" = 1 ]; then SAN="$SAN -DEMU_OS_THREADS"; fi
OLD=1  # EMU_ONLY=whole: only the whole-file emulators (whole/), for a quick run
[ "${EMU_ONLY:-}" != whole ] || OLD=0
if [ "$OLD" = 1 ]; then
TV="$ROOT/cuda/tv_cuda.cu"
cut_between "$TV" '^constexpr int kThreads' '^// The generic iteration with the dimension count' "$WORK/kernels_tv.inc"
cut_between "$TV" '^// ---- Split-Bregman' '^std::vector<std::int64_t> bregman_launch' "$WORK/kernels_breg.inc"
sed -i '$d' "$WORK/kernels_breg.inc"  # the launcher's template line
RC="$ROOT/cuda/roi_common.cuh"
cut_between "$RC" '^template <typename S>$' '^/// Gradient accumulator type' "$WORK/roi_common_1.inc"
cut_between "$RC" '^/// Batch index of a RoI row' '^}  // namespace foveal::cuda::roi' "$WORK/roi_common_2.inc"
cat "$WORK/roi_common_1.inc" "$WORK/roi_common_2.inc" >"$WORK/kernels_roi_common.inc"
grep -q 'batch_index' "$WORK/kernels_roi_common.inc" || { echo "roi_common.cuh helpers not found" >&2; exit 1; }
RP="$ROOT/cuda/roi_pool_cuda.cu"
cut_between "$RP" '^constexpr int kThreads' '^template <typename S, typename A, typename G>' "$WORK/kernels_roi.inc"
RA="$ROOT/cuda/roi_align_cuda.cu"
cut_between "$RA" '^constexpr int kThreads' '^template <typename S, typename A, typename G>' "$WORK/kernels_roi_align.inc"
PP="$ROOT/cuda/postprocess_cuda.cu"
grep -E '^(using Key =|constexpr Key kFailed|constexpr int kNmsThreads|__device__ __forceinline__ bool failed)' "$PP" \
  >"$WORK/kernels_nms_head.inc"
[ "$(wc -l <"$WORK/kernels_nms_head.inc")" -eq 4 ] || { echo "stage-4 declarations not found in $PP" >&2; exit 1; }
cut_between "$PP" '^// Stage 4: one block per image' '^// The small host tables' "$WORK/kernels_nms_output.inc"
"${PYTHON:-python3}" "$HERE/extract_filters.py" "$ROOT" "$WORK"
PO="$ROOT/cuda/pool_cuda.cu"
cut_between "$PO" '^using i64' '^Dims dims_of' "$WORK/kernels_pool.inc"
cut_between "$PO" '^// Calls f\(q, oh, ow, i\)' '^/// Calls f\(S\{\}, A\{\}\)' "$WORK/kernels_pool_2.inc"
cat "$WORK/kernels_pool_2.inc" >>"$WORK/kernels_pool.inc"
NC="$ROOT/cuda/nms_common.cuh"
grep -E '^constexpr int (kTile|kReduceThreads)' "$NC" >"$WORK/nms_0.inc"
cut_between "$NC" '^// The "suppresses" bitmask of greedy NMS' '^// end of pair_mask_tiles' "$WORK/nms_1.inc"
cut_between "$NC" '^// One block walks the tiles in rank order' '^/// Resolves the greedy order' "$WORK/nms_2.inc"
cut_between "$ROOT/cuda/nms_cuda.cu" '^template <typename A> struct Box5' '^template <typename H>' "$WORK/nms_3.inc"
cut_between "$ROOT/cuda/nms_rotated_cuda.cu" '^template <typename T>$' '^std::int64_t impl\(' "$WORK/nms_4.inc"
sed -i '$d' "$WORK/nms_4.inc"  # the launcher's template line
cat "$WORK"/nms_[0-4].inc >"$WORK/kernels_nms.inc"
[ "$(grep -c '^constexpr int' "$WORK/kernels_nms.inc")" -ge 2 ] || { echo "nms tile constants not found" >&2; exit 1; }
CV="$ROOT/cuda/conv2d_cuda.cu"
cut_between "$CV" '^// ---- The tiled GEMM' '^// ---- end of the emulated GEMM' "$WORK/kernels_gemm.inc"
"${PYTHON:-python3}" "$HERE/extract_rl_fft.py" "$ROOT" "$WORK"
"${PYTHON:-python3}" "$HERE/extract_postprocess.py" "$ROOT" "$WORK"
"$CXX" -std=c++20 -O1 -pthread $SAN -I"$WORK/rlfft" -I"$HERE/fake_cuda" -I"$HERE" -I"$ROOT/cpp/include" \
  -I"$ROOT/cpp/src" -o "$WORK/rl_fft_emu" "$HERE/rl_fft_emu.cpp" -x c++ "$WORK/rlfft/cufft_api.cu" -x none -ldl
"$CXX" -std=c++20 -O1 -ffp-contract=off -pthread $SAN -I"$WORK/pp" -I"$HERE/fake_cuda" -I"$HERE" \
  -I"$ROOT/cpp/include" -I"$ROOT/cpp/src" -o "$WORK/postprocess_emu" "$HERE/postprocess_emu.cpp"
"$CXX" -std=c++20 -O1 -pthread $SAN -I"$ROOT/cpp/include" -I"$WORK" -o "$WORK/tv_emu" "$HERE/tv_emu.cpp"
"$CXX" -std=c++20 -O1 -pthread $SAN -I"$ROOT/cpp/include" -I"$WORK" -o "$WORK/roi_pool_emu" "$HERE/roi_pool_emu.cpp"
"$CXX" -std=c++20 -O1 -pthread $SAN -I"$ROOT/cpp/include" -I"$WORK" -o "$WORK/roi_align_emu" "$HERE/roi_align_emu.cpp"
"$CXX" -std=c++20 -O1 -pthread $SAN -I"$ROOT/cpp/include" -I"$WORK" -o "$WORK/nms_output_emu" "$HERE/nms_output_emu.cpp"
"$CXX" -std=c++20 -O1 -pthread $SAN -I"$ROOT/cpp/include" -I"$ROOT/cpp/src" -I"$WORK" -o "$WORK/filters_emu" "$HERE/filters_emu.cpp"
"$CXX" -std=c++20 -O1 -pthread $SAN -I"$ROOT/cpp/include" -I"$WORK" -o "$WORK/pool_emu" "$HERE/pool_emu.cpp"
"$CXX" -std=c++20 -O1 -pthread $SAN -I"$ROOT/cpp/include" -I"$WORK" -o "$WORK/nms_emu" "$HERE/nms_emu.cpp"
"$CXX" -std=c++20 -O1 -pthread $SAN -I"$ROOT/cpp/include" -I"$WORK" -o "$WORK/gemm_emu" "$HERE/gemm_emu.cpp"
fi
# The whole-file emulators (whole/): every cuda/*.cu an adapter names, one translation unit each,
# with fake_cuda's runtime and common.cuh, linked into one driver, ops_emu.
"${PYTHON:-python3}" "$HERE/whole/extract.py" "$ROOT" "$WORK"
mkdir -p "$WORK/whole/gen/foveal" "$WORK/whole/obj"
sed -e 's/@PROJECT_VERSION[A-Z_]*@/0/; s/"@PROJECT_VERSION@"/"emu"/; s/#cmakedefine01 \(FOVEAL_[A-Z_]*\)/#define \1 1/' \
  -e 's/@[A-Z_]*@//' "$ROOT/cpp/include/foveal/config.hpp.in" >"$WORK/whole/gen/foveal/config.hpp"
# math.h: CUDA's float overloads of sqrt, fabs, ... in the global namespace (device code's sqrt(float)
# is the float function, not the double one)
WFLAGS=(-std=c++20 -O1 -pthread $SAN -include math.h -DFOVEAL_EMU_WHOLE -I"$HERE/fake_cuda" -I"$HERE" -I"$HERE/whole" -I"$WORK/whole"
  -I"$WORK/whole/gen" -I"$ROOT/cpp/include" -I"$ROOT/cpp/src")
WSRC=()
while read -r f; do WSRC+=("$WORK/whole/$f"); done <"$WORK/whole/files"
WSRC+=("$HERE"/whole/ops_*.cpp "$HERE/whole/ops_emu.cpp")
pids=()
for src in "${WSRC[@]}"; do  # two at a time; a failed compile fails the run (set -e)
  "$CXX" "${WFLAGS[@]}" -x c++ -c "$src" -o "$WORK/whole/obj/$(basename "$src").o" &
  pids+=($!)
  if [ "${#pids[@]}" -ge 2 ]; then wait "${pids[0]}"; pids=("${pids[@]:1}"); fi
done
for p in "${pids[@]}"; do wait "$p"; done
"$CXX" -pthread $SAN -o "$WORK/ops_emu" "$WORK"/whole/obj/*.o -ldl
# the stand-in cuFFT (rl_fft_emu and whole/check_restore_rl.py load it through cufft_api.cu's dlopen)
"$CXX" -std=c++20 -O1 -shared -fPIC $SAN -o "$WORK/libcufft_fake.so" "$HERE/cufft_fake.cpp"
cd "$WORK"
# The checks run EMU_JOBS at a time (default 2: an emulator runs on one core; 1 under ThreadSanitizer,
# whose OS threads fill the cores: two at a time took 33 minutes instead of 15), each in a folder of
# its own with links to what was built; their outputs are printed in order once all have ended.
JOBS="${EMU_JOBS:-2}"
[ -n "${EMU_JOBS:-}" ] || [ "$KIND" != thread ] || JOBS=1
jobs_pids=() jobs_logs=()
job() {
  local dir="$WORK/job${#jobs_pids[@]}"
  mkdir "$dir"
  for f in "$WORK"/*; do [ -f "$f" ] && ln -s "$f" "$dir/"; done
  (cd "$dir" && "$@") >"$dir.log" 2>&1 &
  jobs_pids+=($!) jobs_logs+=("$dir.log")
  while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do wait -n || true; done
}
if [ "$OLD" = 1 ]; then
  for c in tv roi_pool roi_align; do job "${PYTHON:-python3}" "$HERE/${c}_check.py"; done
  job ./nms_output_emu
  for c in filters pool nms gemm rl_fft postprocess; do job "${PYTHON:-python3}" "$HERE/${c}_check.py"; done
fi
for check in "$HERE"/whole/${WHOLE_CHECK:-check_*.py}; do  # WHOLE_CHECK=check_x.py: only that one
  job env PYTHONPATH="$HERE/whole" "${PYTHON:-python3}" "$check"
done
failed=0
for i in "${!jobs_pids[@]}"; do
  rc=0
  wait "${jobs_pids[$i]}" || rc=$?
  cat "${jobs_logs[$i]}"
  if [ "$rc" != 0 ]; then echo "cuda_emu: a check failed (exit $rc; output above)" >&2; failed=1; fi
done
exit "$failed"
