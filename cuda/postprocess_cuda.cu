// SPDX-License-Identifier: Apache-2.0
// Fused detection post-processing on the GPU (RPN, box head, RetinaNet), the CPU backend's
// semantics (postprocess_cpu.cpp) in a few batched stages:
//
// 1. Top-k per (image, level) (RPN, RetinaNet): a segmented radix sort of 64-bit keys
//    (math::score_rank_key of the float score) << 32 | index in the segment. The index makes
//    every key distinct, so the order needs no sort stability: decreasing score, equal scores
//    lower index first, NaN last, as the CPU's select_top.
// 2. Candidates: one thread per candidate slot decodes, clips and filters (math headers); a
//    failed candidate gets the key 0xFFFFFFFF << 32 (only NaN scores rank there, and they never
//    pass the filters), so it sorts after every valid one. Slots are numbered in torchvision's
//    list order (levels concatenated / proposal-major (proposal, class)).
// 3. A segmented sort of the candidate keys (rank << 32 | slot) per image: the visiting order of
//    the CPU's nms_merged (score, then list position).
// 4. One block per image visits its candidates in that order, each against the kept boxes of its
//    group (level or class), and stops after `limit` kept or at the first failed key; it writes
//    the padded outputs and the count. The kept boxes are at most `limit`, so there is no n^2 mask:
//    candidates go in chunks of a block's width, tested in parallel, resolved in order by one thread.
//
// Storage float16 / bfloat16 / float32, arithmetic in float32; score_thresh is compared after
// rounding the score and the threshold to the storage type (torch compares in the input dtype).
// No host synchronisation: the counts stay on the device. The small host tables (image sizes,
// host proposal counts, level and segment offsets) go up in one pageable copy per call (CUDA may
// make a pageable copy wait on the host; a pinned staging buffer would avoid that); proposal
// counts already on the device are used in place.
//
// Emulated whole on the CPU (tools/cuda_emu/postprocess_emu.cpp, run.sh: this file's host code,
// every kernel and both branches of segmented_sort on a stand-in CUB, against the CPU backend).
//
// Not optimised: the top-k sorts every score of a level (a radix select or a threshold
// prefilter would touch far fewer; few long segments are at least sorted device-wide).
#include <cub/device/device_radix_sort.cuh>
#include <cub/device/device_segmented_radix_sort.cuh>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include "common.cuh"
#include "foveal/math/activation.hpp"
#include "foveal/math/box.hpp"
#include "foveal/math/box_coder.hpp"
#include "foveal/math/nms.hpp"
#include "foveal/math/postprocess.hpp"
#include "ops/backend.hpp"

namespace foveal::cuda {
namespace {

using Key = unsigned long long;
constexpr Key kFailed = Key(0xFFFFFFFFu) << 32;
constexpr int kThreads = 256;
constexpr int kNmsThreads = 256;

__device__ __forceinline__ Key make_key(float score, std::uint32_t idx) {
  return (Key(math::score_rank_key(score)) << 32) | Key(idx);
}
__device__ __forceinline__ bool failed(Key k) { return (k >> 32) == 0xFFFFFFFFull; }

// A value as the storage type S would hold it (torch computes scores in the input dtype).
template <typename S> __device__ __forceinline__ float in_storage(float v) { return to_acc(from_acc<S>(v)); }
template <typename S> __device__ __forceinline__ float thresh_in(double t);
template <> __device__ __forceinline__ float thresh_in<float>(double t) { return static_cast<float>(t); }
template <> __device__ __forceinline__ float thresh_in<__half>(double t) { return __half2float(__double2half(t)); }
template <> __device__ __forceinline__ float thresh_in<__nv_bfloat16>(double t) {
  return __bfloat162float(__double2bfloat16(t));
}

struct CoderF {
  float w[5];
};

// Level of `j` among the cumulative offsets off[0..nl] (few levels: a scan).
__device__ __forceinline__ int level_of(const std::int64_t* off, int nl, std::int64_t j) {
  int l = 0;
  while (l + 1 < nl && j >= off[l + 1]) ++l;
  return l;
}

template <typename S>
__device__ __forceinline__ void decode_clip(const S* d, const S* a, const CoderF& c, float height, float width,
                                            float* box) {
  math::box_decode(to_acc(d[0]), to_acc(d[1]), to_acc(d[2]), to_acc(d[3]), to_acc(a[0]), to_acc(a[1]),
                   to_acc(a[2]), to_acc(a[3]), c.w[0], c.w[1], c.w[2], c.w[3], c.w[4], box[0], box[1], box[2],
                   box[3]);
  box[0] = math::clamp_to_image(box[0], width), box[2] = math::clamp_to_image(box[2], width);
  box[1] = math::clamp_to_image(box[1], height), box[3] = math::clamp_to_image(box[3], height);
}

// Stage 1 keys, RPN: by logit (sigmoid is monotone), index in the (image, level) segment.
template <typename S>
__global__ void rpn_rank_kernel(const S* __restrict__ obj, std::int64_t n, std::int64_t na,
                                const std::int64_t* __restrict__ loff, int nl, Key* __restrict__ keys) {
  for (std::int64_t i = std::int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += std::int64_t(gridDim.x) * blockDim.x) {
    const std::int64_t a = i % na;
    const int l = level_of(loff, nl, a);
    keys[i] = make_key(to_acc(obj[i]), static_cast<std::uint32_t>(a - loff[l]));
  }
}

// Stage 1 keys, RetinaNet: by sigmoid score, failing score_thresh ranked last.
template <typename S>
__global__ void retina_rank_kernel(const S* __restrict__ logits, std::int64_t n, std::int64_t na, std::int64_t nc,
                                   const std::int64_t* __restrict__ loff, int nl, double thresh,
                                   Key* __restrict__ keys) {
  const float thr = thresh_in<S>(thresh);
  for (std::int64_t i = std::int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += std::int64_t(gridDim.x) * blockDim.x) {
    const std::int64_t r = i % (na * nc);
    const int l = level_of(loff, nl, r / nc);
    const std::uint32_t local = static_cast<std::uint32_t>(r - loff[l] * nc);
    const float s = math::sigmoid(to_acc(logits[i]));
    keys[i] = in_storage<S>(s) > thr ? make_key(s, local) : (kFailed | local);
  }
}

// Candidate slot j of image b: box, score, group, and its stage-3 key.
struct Cands {
  float* box;
  float* score;
  int* group;
  Key* key;
};

template <typename S>
__global__ void rpn_candidates_kernel(const S* __restrict__ anchors, const S* __restrict__ obj,
                                      const S* __restrict__ deltas, const Key* __restrict__ sorted,
                                      const float* __restrict__ sizes, const std::int64_t* __restrict__ loff,
                                      const std::int64_t* __restrict__ coff, int nl, std::int64_t nb,
                                      std::int64_t na, std::int64_t m, CoderF coder, float min_size,
                                      double score_thresh, Cands out) {
  const float thr = thresh_in<S>(score_thresh);
  for (std::int64_t t = std::int64_t(blockIdx.x) * blockDim.x + threadIdx.x; t < nb * m;
       t += std::int64_t(gridDim.x) * blockDim.x) {
    const std::int64_t b = t / m, j = t % m;
    const int l = level_of(coff, nl, j);
    const std::int64_t a = loff[l] + static_cast<std::uint32_t>(sorted[b * na + loff[l] + (j - coff[l])]);
    float box[4];
    decode_clip(deltas + 4 * (b * na + a), anchors + 4 * a, coder, sizes[2 * b], sizes[2 * b + 1], box);
    const float s = math::sigmoid(to_acc(obj[b * na + a]));
    const bool ok = math::box_not_small(box[0], box[1], box[2], box[3], min_size) && in_storage<S>(s) >= thr;
    for (int k = 0; k < 4; ++k) out.box[4 * t + k] = box[k];
    out.score[t] = s;
    out.group[t] = l;
    out.key[t] = ok ? make_key(s, static_cast<std::uint32_t>(j)) : (kFailed | Key(j));
  }
}

template <typename S>
__global__ void retina_candidates_kernel(const S* __restrict__ anchors, const S* __restrict__ logits,
                                         const S* __restrict__ regression, const Key* __restrict__ sorted,
                                         const float* __restrict__ sizes, const std::int64_t* __restrict__ loff,
                                         const std::int64_t* __restrict__ coff, int nl, std::int64_t nb,
                                         std::int64_t na, std::int64_t nc, std::int64_t m, CoderF coder,
                                         Cands out) {
  for (std::int64_t t = std::int64_t(blockIdx.x) * blockDim.x + threadIdx.x; t < nb * m;
       t += std::int64_t(gridDim.x) * blockDim.x) {
    const std::int64_t b = t / m, j = t % m;
    const int l = level_of(coff, nl, j);
    const std::int64_t seg = (b * na + loff[l]) * nc;
    const Key k = sorted[seg + (j - coff[l])];
    float box[4] = {0, 0, 0, 0};
    float s = 0;
    int label = 0;
    if (!failed(k)) {
      const std::int64_t i = static_cast<std::uint32_t>(k), a = loff[l] + i / nc;
      label = static_cast<int>(i % nc);
      decode_clip(regression + 4 * (b * na + a), anchors + 4 * a, coder, sizes[2 * b], sizes[2 * b + 1], box);
      s = math::sigmoid(to_acc(logits[seg + i]));
    }
    for (int q = 0; q < 4; ++q) out.box[4 * t + q] = box[q];
    out.score[t] = s;
    out.group[t] = label;
    out.key[t] = (k & ~Key(0xFFFFFFFFu)) | Key(j);
  }
}

// Box head: one thread per proposal; softmax over its classes in float32 (as the CPU: exp(x - max)
// times 1 / sum, NaN or +inf logits make the row NaN), classes 1.. as slots q (C - 1) + c - 1.
template <typename S>
__global__ void box_head_candidates_kernel(const S* __restrict__ proposals, const std::int64_t* __restrict__ pcounts,
                                           const S* __restrict__ logits, const S* __restrict__ regression,
                                           const float* __restrict__ sizes, std::int64_t nb, std::int64_t np,
                                           std::int64_t nc, CoderF coder, float min_size, double score_thresh,
                                           Cands out) {
  const float thr = thresh_in<S>(score_thresh);
  const std::int64_t m = np * (nc - 1);
  for (std::int64_t t = std::int64_t(blockIdx.x) * blockDim.x + threadIdx.x; t < nb * np;
       t += std::int64_t(gridDim.x) * blockDim.x) {
    const std::int64_t b = t / np, q = t % np;
    const S* x = logits + t * nc;
    const bool live = pcounts == nullptr || q < pcounts[b];
    float mx = to_acc(x[0]);
    for (std::int64_t c = 0; c < nc; ++c) {
      const float v = to_acc(x[c]);
      mx = v > mx ? v : mx;
    }
    float sum = 0;
    for (std::int64_t c = 0; c < nc; ++c) sum += math::coder_exp(to_acc(x[c]) - mx);
    const float inv = 1.0f / sum;
    for (std::int64_t c = 1; c < nc; ++c) {
      const std::int64_t j = q * (nc - 1) + c - 1, slot = b * m + j;
      const float p = math::coder_exp(to_acc(x[c]) - mx) * inv;
      float box[4] = {0, 0, 0, 0};
      bool ok = live && in_storage<S>(p) > thr;
      if (ok) {
        decode_clip(regression + 4 * (t * nc + c), proposals + 4 * t, coder, sizes[2 * b], sizes[2 * b + 1], box);
        ok = math::box_not_small(box[0], box[1], box[2], box[3], min_size);
      }
      for (int k = 0; k < 4; ++k) out.box[4 * slot + k] = box[k];
      out.score[slot] = p;
      out.group[slot] = static_cast<int>(c);
      out.key[slot] = ok ? make_key(p, static_cast<std::uint32_t>(j)) : (kFailed | Key(j));
    }
  }
}

// Stage 4: one block per image, over its candidates in visiting order, kNmsThreads at a time.
// Per chunk: each thread tests its candidate against the boxes kept so far (of its group), and
// against the chunk's earlier candidates (a bit each, same group and IoU > t, the earlier box as
// the kept one, as in the sequential loop); then one thread walks the chunk in order, keeping a
// candidate that neither a kept box nor a kept earlier candidate suppresses, until `limit` are
// kept. That is the sequential greedy loop exactly, with a barrier per chunk, not per candidate.
constexpr int kNmsWords = kNmsThreads / 32;

template <typename S>
__global__ void __launch_bounds__(kNmsThreads)
    nms_output_kernel(const Key* __restrict__ order, const float* __restrict__ cbox, const float* __restrict__ cscore,
                      const int* __restrict__ cgroup, std::int64_t m, std::int64_t limit, std::int64_t cap, float tf,
                      float* __restrict__ kept_box, int* __restrict__ kept_group, S* __restrict__ boxes,
                      S* __restrict__ scores, std::int64_t* __restrict__ labels, std::int64_t* __restrict__ counts) {
  const std::int64_t b = blockIdx.x;
  const int t = threadIdx.x;
  const Key* ord = order + b * m;
  float* kb = kept_box + 5 * b * limit;  // x1, y1, x2, y2, area
  int* kg = kept_group + b * limit;
  __shared__ float cb[kNmsThreads][5];
  __shared__ int cg[kNmsThreads];
  __shared__ std::int64_t cslot[kNmsThreads];
  __shared__ unsigned sup[kNmsThreads][kNmsWords];  // bit i of row t: earlier candidate i suppresses t
  __shared__ int sup_kept[kNmsThreads];             // a box kept before the chunk suppresses t
  __shared__ int n_valid;
  __shared__ std::int64_t n_kept;
  if (t == 0) n_kept = 0;
  __syncthreads();
  for (std::int64_t base = 0; base < m; base += kNmsThreads) {
    const std::int64_t kept = n_kept;
    if (kept >= limit) break;  // uniform across the block
    if (t == 0) n_valid = 0;
    __syncthreads();
    const std::int64_t j = base + t;
    const Key k = j < m ? ord[j] : kFailed;
    const bool valid = !failed(k);
    if (valid) atomicMax(&n_valid, t + 1);  // the valid candidates are a prefix (failed keys sort last)
    float x1 = 0, y1 = 0, x2 = 0, y2 = 0, area = 0;
    int g = 0;
    if (valid) {
      const std::int64_t slot = b * m + static_cast<std::uint32_t>(k);
      const float* bx = cbox + 4 * slot;
      x1 = bx[0], y1 = bx[1], x2 = bx[2], y2 = bx[3];
      area = math::box_area(x1, y1, x2, y2);
      g = cgroup[slot];
      cslot[t] = slot;
    }
    cb[t][0] = x1, cb[t][1] = y1, cb[t][2] = x2, cb[t][3] = y2, cb[t][4] = area;
    cg[t] = g;
    int hit = 0;
    for (std::int64_t q = 0; valid && q < kept && !hit; ++q)
      hit = kg[q] == g &&
            math::box_iou(kb[5 * q], kb[5 * q + 1], kb[5 * q + 2], kb[5 * q + 3], kb[5 * q + 4], x1, y1, x2, y2, area) >
                tf;
    sup_kept[t] = hit;
    __syncthreads();
    for (int w = 0; w < kNmsWords; ++w) {
      unsigned bits = 0;
      for (int i = 32 * w; valid && i < 32 * w + 32 && i < t; ++i)
        if (cg[i] == g && math::box_iou(cb[i][0], cb[i][1], cb[i][2], cb[i][3], cb[i][4], x1, y1, x2, y2, area) > tf)
          bits |= 1u << (i - 32 * w);
      sup[t][w] = bits;
    }
    __syncthreads();
    const int nv = n_valid;
    if (t == 0) {
      unsigned keep[kNmsWords] = {};
      std::int64_t n = kept;
      for (int c = 0; c < nv && n < limit; ++c) {
        if (sup_kept[c]) continue;
        bool suppressed = false;
        for (int w = 0; w < kNmsWords; ++w) suppressed = suppressed || (sup[c][w] & keep[w]) != 0;
        if (suppressed) continue;
        keep[c / 32] |= 1u << (c % 32);
        float* d = kb + 5 * n;
        for (int e = 0; e < 5; ++e) d[e] = cb[c][e];
        kg[n] = cg[c];
        S* ob = boxes + 4 * (b * cap + n);
        for (int e = 0; e < 4; ++e) ob[e] = from_acc<S>(cb[c][e]);
        scores[b * cap + n] = from_acc<S>(cscore[cslot[c]]);
        if (labels) labels[b * cap + n] = cg[c];
        ++n;
      }
      n_kept = n;
    }
    __syncthreads();  // the appended boxes (global memory) and n_kept are visible to all
    if (nv < kNmsThreads) break;  // a failed key (or the end) was in this chunk
  }
  const std::int64_t kept = n_kept;
  for (std::int64_t r = kept + t; r < cap; r += blockDim.x) {
    for (int q = 0; q < 4; ++q) boxes[4 * (b * cap + r) + q] = from_acc<S>(0.0f);
    scores[b * cap + r] = from_acc<S>(0.0f);
    if (labels) labels[b * cap + r] = 0;
  }
  if (t == 0) counts[b] = kept;
}

// The small host tables of one call (level offsets, segment bounds, image sizes, host proposal
// counts) packed into one buffer and sent up in one copy.
class Tables {
 public:
  template <typename T>
  std::size_t add(const std::vector<T>& v) {
    const std::size_t off = (buf_.size() + 7) / 8 * 8;
    buf_.resize(off + v.size() * sizeof(T));
    if (!v.empty()) std::memcpy(buf_.data() + off, v.data(), v.size() * sizeof(T));
    return off;
  }
  void upload(cudaStream_t st) {
    dev_ = std::make_unique<Workspace<unsigned char>>(buf_.size(), st);
    if (!buf_.empty())
      FOVEAL_CUDA_CHECK(cudaMemcpyAsync(dev_->get(), buf_.data(), buf_.size(), cudaMemcpyHostToDevice, st));
  }
  template <typename T>
  T* at(std::size_t off) const {
    return reinterpret_cast<T*>(dev_->get() + off);
  }

 private:
  std::vector<unsigned char> buf_;
  std::unique_ptr<Workspace<unsigned char>> dev_;
};

// keys_out = keys_in sorted ascending within each segment [begin[s], end[s]) (hbegin / hend: the
// same bounds on the host). cub's segmented sort gives each segment one thread block, which
// leaves the GPU idle on a few long segments (RetinaNet: 10 segments of 3.3M keys took 156 ms
// on an H200); those are sorted one after another by the device-wide radix sort instead.
void segmented_sort(const Key* keys_in, Key* keys_out, std::int64_t n, const std::vector<int>& hbegin,
                    const std::vector<int>& hend, const int* begin, const int* end, cudaStream_t st) {
  const std::int64_t nseg = static_cast<std::int64_t>(hbegin.size());
  if (n == 0 || nseg == 0) return;
  std::int64_t longest = 0;
  for (std::int64_t s = 0; s < nseg; ++s) longest = std::max<std::int64_t>(longest, hend[s] - hbegin[s]);
  constexpr std::int64_t kLong = 1 << 15, kMaxCalls = 64;
  if (nseg <= kMaxCalls && longest >= kLong) {
    std::size_t bytes = 0;
    FOVEAL_CUDA_CHECK(cub::DeviceRadixSort::SortKeys(nullptr, bytes, keys_in, keys_out, static_cast<int>(longest), 0,
                                                     64, st));
    Workspace<unsigned char> temp(bytes, st);
    for (std::int64_t s = 0; s < nseg; ++s) {
      const int len = hend[s] - hbegin[s];
      if (len <= 0) continue;
      std::size_t b = bytes;
      FOVEAL_CUDA_CHECK(cub::DeviceRadixSort::SortKeys(temp.get(), b, keys_in + hbegin[s], keys_out + hbegin[s], len,
                                                       0, 64, st));
    }
    return;
  }
  std::size_t bytes = 0;
  FOVEAL_CUDA_CHECK(cub::DeviceSegmentedRadixSort::SortKeys(nullptr, bytes, keys_in, keys_out, static_cast<int>(n),
                                                            static_cast<int>(nseg), begin, end, 0, 64, st));
  Workspace<unsigned char> temp(bytes, st);
  FOVEAL_CUDA_CHECK(cub::DeviceSegmentedRadixSort::SortKeys(temp.get(), bytes, keys_in, keys_out, static_cast<int>(n),
                                                            static_cast<int>(nseg), begin, end, 0, 64, st));
}

// Segments of `len` each, back to back: [s len, (s + 1) len).
void uniform_segments(std::int64_t nseg, std::int64_t len, std::vector<int>& begin, std::vector<int>& end) {
  begin.resize(static_cast<std::size_t>(nseg)), end.resize(static_cast<std::size_t>(nseg));
  for (std::int64_t s = 0; s < nseg; ++s) begin[s] = static_cast<int>(s * len), end[s] = static_cast<int>((s + 1) * len);
}

std::vector<float> image_sizes_f(ConstTensorView sizes) {
  const double* s = sizes.data_as<double>();
  std::vector<float> v(static_cast<std::size_t>(2 * sizes.size(0)));
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>(s[i]);  // the CPU's T(size)
  return v;
}

CoderF coder_of(const double* w, double clip) {
  CoderF c;
  for (int i = 0; i < 4; ++i) c.w[i] = static_cast<float>(w[i]);
  c.w[4] = static_cast<float>(clip);
  return c;
}

// Candidate buffers of nb images x m slots, and stages 3 and 4.
struct Stage {
  std::int64_t nb, m;
  cudaStream_t st;
  Workspace<float> box, score;
  Workspace<int> group;
  Workspace<Key> key, sorted;
  Stage(std::int64_t nb_, std::int64_t m_, cudaStream_t s)
      : nb(nb_), m(m_), st(s), box(4 * nb_ * m_, s), score(nb_ * m_, s), group(nb_ * m_, s), key(nb_ * m_, s),
        sorted(nb_ * m_, s) {}
  Cands cands() { return Cands{box.get(), score.get(), group.get(), key.get()}; }

  template <typename S>
  void finish(const std::vector<int>& hbegin, const std::vector<int>& hend, const int* begin, const int* end,
              std::int64_t limit, double nms_thresh, TensorView boxes, TensorView scores, std::int64_t* labels,
              TensorView counts) {
    segmented_sort(key.get(), sorted.get(), nb * m, hbegin, hend, begin, end, st);
    const std::int64_t lim = limit < m ? limit : m;
    Workspace<float> kept_box(5 * nb * lim, st);
    Workspace<int> kept_group(nb * lim, st);
    nms_output_kernel<S><<<static_cast<unsigned>(nb), kNmsThreads, 0, st>>>(
        sorted.get(), box.get(), score.get(), group.get(), m, lim, boxes.size(1), math::nms_threshold<float>(nms_thresh),
        kept_box.get(), kept_group.get(), static_cast<S*>(boxes.data()), static_cast<S*>(scores.data()), labels,
        counts.data_as<std::int64_t>());
    FOVEAL_CUDA_CHECK(cudaGetLastError());
  }
};

std::vector<std::int64_t> cumulative(const std::vector<std::int64_t>& v) {
  std::vector<std::int64_t> off(v.size() + 1, 0);
  for (std::size_t i = 0; i < v.size(); ++i) off[i + 1] = off[i] + v[i];
  return off;
}

template <typename S>
void rpn_impl(ConstTensorView anchors, ConstTensorView objectness, ConstTensorView deltas, ConstTensorView image_sizes,
              const std::vector<std::int64_t>& levels, const RpnPostprocessParams& p, TensorView boxes,
              TensorView scores, TensorView counts, cudaStream_t st) {
  const std::int64_t nb = objectness.size(0), na = objectness.size(1);
  const int nl = static_cast<int>(levels.size());
  std::vector<std::int64_t> per(levels.size());
  for (std::size_t l = 0; l < levels.size(); ++l) per[l] = levels[l] < p.pre_nms_top_n ? levels[l] : p.pre_nms_top_n;
  const std::vector<std::int64_t> loff = cumulative(levels), coff = cumulative(per);
  const std::int64_t m = coff.back();
  std::vector<int> rb, re, sb, se;  // (image, level) segments of the scores; image segments of the candidates
  for (std::int64_t b = 0; b < nb; ++b)
    for (int l = 0; l < nl; ++l)
      rb.push_back(static_cast<int>(b * na + loff[l])), re.push_back(static_cast<int>(b * na + loff[l + 1]));
  uniform_segments(nb, m, sb, se);
  Tables t;
  const std::size_t t_loff = t.add(loff), t_coff = t.add(coff), t_sizes = t.add(image_sizes_f(image_sizes)),
                    t_rb = t.add(rb), t_re = t.add(re), t_sb = t.add(sb), t_se = t.add(se);
  t.upload(st);
  Stage stage(nb, m, st);
  if (m > 0) {
    const std::int64_t n = nb * na;
    Workspace<Key> keys(n, st), sorted(n, st);
    rpn_rank_kernel<S><<<blocks_for(n, kThreads), kThreads, 0, st>>>(static_cast<const S*>(objectness.data()), n, na,
                                                                    t.at<std::int64_t>(t_loff), nl, keys.get());
    FOVEAL_CUDA_CHECK(cudaGetLastError());
    segmented_sort(keys.get(), sorted.get(), n, rb, re, t.at<int>(t_rb), t.at<int>(t_re), st);
    rpn_candidates_kernel<S><<<blocks_for(nb * m, kThreads), kThreads, 0, st>>>(
        static_cast<const S*>(anchors.data()), static_cast<const S*>(objectness.data()),
        static_cast<const S*>(deltas.data()), sorted.get(), t.at<float>(t_sizes), t.at<std::int64_t>(t_loff),
        t.at<std::int64_t>(t_coff), nl, nb, na, m, coder_of(p.weights, p.bbox_xform_clip),
        static_cast<float>(p.min_size), p.score_thresh, stage.cands());
    FOVEAL_CUDA_CHECK(cudaGetLastError());
  }
  stage.finish<S>(sb, se, t.at<int>(t_sb), t.at<int>(t_se), p.post_nms_top_n, p.nms_thresh, boxes, scores, nullptr,
                  counts);
}

template <typename S>
void box_head_impl(ConstTensorView proposals, ConstTensorView proposal_counts, ConstTensorView logits,
                   ConstTensorView regression, ConstTensorView image_sizes, const BoxHeadPostprocessParams& p,
                   TensorView boxes, TensorView scores, TensorView labels, TensorView counts, cudaStream_t st) {
  const std::int64_t nb = logits.size(0), np = logits.size(1), nc = logits.size(2);
  const std::int64_t m = np * (nc - 1);
  // proposal_counts: none (all P), on the device (used in place) or on the host (uploaded).
  const bool has_counts = proposal_counts.data() != nullptr;
  const bool on_device = has_counts && proposal_counts.device().type == DeviceType::CUDA;
  std::vector<std::int64_t> pc;
  if (has_counts && !on_device)
    pc.assign(proposal_counts.data_as<std::int64_t>(), proposal_counts.data_as<std::int64_t>() + nb);
  std::vector<int> sb, se;
  uniform_segments(nb, m, sb, se);
  Tables t;
  const std::size_t t_sizes = t.add(image_sizes_f(image_sizes)), t_pc = t.add(pc), t_sb = t.add(sb),
                    t_se = t.add(se);
  t.upload(st);
  const std::int64_t* pcounts =
      on_device ? proposal_counts.data_as<std::int64_t>() : (has_counts ? t.at<std::int64_t>(t_pc) : nullptr);
  Stage stage(nb, m, st);
  if (m > 0) {
    box_head_candidates_kernel<S><<<blocks_for(nb * np, kThreads), kThreads, 0, st>>>(
        static_cast<const S*>(proposals.data()), pcounts, static_cast<const S*>(logits.data()),
        static_cast<const S*>(regression.data()), t.at<float>(t_sizes), nb, np, nc,
        coder_of(p.weights, p.bbox_xform_clip), static_cast<float>(p.min_size), p.score_thresh, stage.cands());
    FOVEAL_CUDA_CHECK(cudaGetLastError());
  }
  stage.finish<S>(sb, se, t.at<int>(t_sb), t.at<int>(t_se), p.detections_per_img, p.nms_thresh, boxes, scores,
                  labels.data_as<std::int64_t>(), counts);
}

template <typename S>
void retina_impl(ConstTensorView anchors, ConstTensorView logits, ConstTensorView regression,
                 ConstTensorView image_sizes, const std::vector<std::int64_t>& levels,
                 const RetinaNetPostprocessParams& p, TensorView boxes, TensorView scores, TensorView labels,
                 TensorView counts, cudaStream_t st) {
  const std::int64_t nb = logits.size(0), na = logits.size(1), nc = logits.size(2);
  const int nl = static_cast<int>(levels.size());
  std::vector<std::int64_t> per(levels.size());
  for (std::size_t l = 0; l < levels.size(); ++l)
    per[l] = levels[l] * nc < p.topk_candidates ? levels[l] * nc : p.topk_candidates;
  const std::vector<std::int64_t> loff = cumulative(levels), coff = cumulative(per);
  const std::int64_t m = coff.back();
  std::vector<int> rb, re, sb, se;
  for (std::int64_t b = 0; b < nb; ++b)
    for (int l = 0; l < nl; ++l)
      rb.push_back(static_cast<int>((b * na + loff[l]) * nc)), re.push_back(static_cast<int>((b * na + loff[l + 1]) * nc));
  uniform_segments(nb, m, sb, se);
  Tables t;
  const std::size_t t_loff = t.add(loff), t_coff = t.add(coff), t_sizes = t.add(image_sizes_f(image_sizes)),
                    t_rb = t.add(rb), t_re = t.add(re), t_sb = t.add(sb), t_se = t.add(se);
  t.upload(st);
  Stage stage(nb, m, st);
  if (m > 0) {
    const std::int64_t n = nb * na * nc;
    Workspace<Key> keys(n, st), sorted(n, st);
    retina_rank_kernel<S><<<blocks_for(n, kThreads), kThreads, 0, st>>>(
        static_cast<const S*>(logits.data()), n, na, nc, t.at<std::int64_t>(t_loff), nl, p.score_thresh, keys.get());
    FOVEAL_CUDA_CHECK(cudaGetLastError());
    segmented_sort(keys.get(), sorted.get(), n, rb, re, t.at<int>(t_rb), t.at<int>(t_re), st);
    retina_candidates_kernel<S><<<blocks_for(nb * m, kThreads), kThreads, 0, st>>>(
        static_cast<const S*>(anchors.data()), static_cast<const S*>(logits.data()),
        static_cast<const S*>(regression.data()), sorted.get(), t.at<float>(t_sizes), t.at<std::int64_t>(t_loff),
        t.at<std::int64_t>(t_coff), nl, nb, na, nc, m, coder_of(p.weights, p.bbox_xform_clip), stage.cands());
    FOVEAL_CUDA_CHECK(cudaGetLastError());
  }
  stage.finish<S>(sb, se, t.at<int>(t_sb), t.at<int>(t_se), p.detections_per_img, p.nms_thresh, boxes, scores,
                  labels.data_as<std::int64_t>(), counts);
}

}  // namespace

void rpn_postprocess(ConstTensorView anchors, ConstTensorView objectness, ConstTensorView deltas,
                     ConstTensorView image_sizes, const std::vector<std::int64_t>& levels,
                     const RpnPostprocessParams& p, TensorView boxes, TensorView scores, TensorView counts,
                     const ExecContext& ctx) {
  DeviceGuard guard(anchors.device().index);
  const cudaStream_t st = stream_of(ctx);
  switch (anchors.dtype()) {
    case DType::Float16:
      return rpn_impl<__half>(anchors, objectness, deltas, image_sizes, levels, p, boxes, scores, counts, st);
    case DType::BFloat16:
      return rpn_impl<__nv_bfloat16>(anchors, objectness, deltas, image_sizes, levels, p, boxes, scores, counts, st);
    default: return rpn_impl<float>(anchors, objectness, deltas, image_sizes, levels, p, boxes, scores, counts, st);
  }
}

void box_head_postprocess(ConstTensorView proposals, ConstTensorView proposal_counts, ConstTensorView class_logits,
                          ConstTensorView box_regression, ConstTensorView image_sizes,
                          const BoxHeadPostprocessParams& p, TensorView boxes, TensorView scores, TensorView labels,
                          TensorView counts, const ExecContext& ctx) {
  DeviceGuard guard(proposals.device().index);
  const cudaStream_t st = stream_of(ctx);
  switch (proposals.dtype()) {
    case DType::Float16:
      return box_head_impl<__half>(proposals, proposal_counts, class_logits, box_regression, image_sizes, p, boxes,
                                   scores, labels, counts, st);
    case DType::BFloat16:
      return box_head_impl<__nv_bfloat16>(proposals, proposal_counts, class_logits, box_regression, image_sizes, p,
                                          boxes, scores, labels, counts, st);
    default:
      return box_head_impl<float>(proposals, proposal_counts, class_logits, box_regression, image_sizes, p, boxes,
                                  scores, labels, counts, st);
  }
}

void retinanet_postprocess(ConstTensorView anchors, ConstTensorView class_logits, ConstTensorView box_regression,
                           ConstTensorView image_sizes, const std::vector<std::int64_t>& levels,
                           const RetinaNetPostprocessParams& p, TensorView boxes, TensorView scores,
                           TensorView labels, TensorView counts, const ExecContext& ctx) {
  DeviceGuard guard(anchors.device().index);
  const cudaStream_t st = stream_of(ctx);
  switch (anchors.dtype()) {
    case DType::Float16:
      return retina_impl<__half>(anchors, class_logits, box_regression, image_sizes, levels, p, boxes, scores, labels,
                                 counts, st);
    case DType::BFloat16:
      return retina_impl<__nv_bfloat16>(anchors, class_logits, box_regression, image_sizes, levels, p, boxes, scores,
                                        labels, counts, st);
    default:
      return retina_impl<float>(anchors, class_logits, box_regression, image_sizes, levels, p, boxes, scores, labels,
                                counts, st);
  }
}

}  // namespace foveal::cuda
