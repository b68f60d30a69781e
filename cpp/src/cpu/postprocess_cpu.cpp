// SPDX-License-Identifier: Apache-2.0
// Fused detection post-processing on the CPU (Faster R-CNN RPN and box head, RetinaNet).
//
// - Top-k selections (RPN per level, RetinaNet per level) read the scores once: a threshold
//   taken from a strided sample skips almost every value without computing its score, and is
//   raised whenever the candidate buffer fills (select_top). Only the selected are decoded.
// - The box head computes each proposal's softmax denominator and decodes only the classes whose
//   probability passes score_thresh.
// - NMS runs per level or per class on candidates already in visiting order
//   (cpu::nms_presorted); an image's output is a partial sort of its kept detections.
// - Threads: (image, level) or (image, block of proposals) tasks, then one task per image.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>
#include <utility>
#include <vector>

#include "cpu/nms_cpu.hpp"
#include "cpu/parallel.hpp"
#include "cpu/simd.hpp"
#include "foveal/math/box_coder.hpp"
#include "foveal/math/nms.hpp"
#include "foveal/math/postprocess.hpp"
#include "foveal/ops/postprocess.hpp"
#include "ops/backend.hpp"

namespace foveal::cpu {
namespace {

template <typename T> struct RankKey;
template <> struct RankKey<float> { using type = std::uint32_t; };
template <> struct RankKey<double> { using type = std::uint64_t; };

// Threads only for inputs worth a millisecond or more (waking the pool costs more than small work).
constexpr std::int64_t kParallelWork = 1 << 18;

// A selected score packed in one integer, ordered as wanted: its rank key (ascending =
// decreasing score, NaN last) above its 32-bit index.
template <typename T> struct PickOf;
template <> struct PickOf<float> { using type = std::uint64_t; };
template <> struct PickOf<double> { using type = unsigned __int128; };
template <typename T>
using Pick = typename PickOf<T>::type;

template <typename T>
Pick<T> make_pick(typename RankKey<T>::type key, std::int64_t idx) {
  return (Pick<T>(key) << 32) | Pick<T>(static_cast<std::uint32_t>(idx));
}
template <typename T>
typename RankKey<T>::type pick_key(Pick<T> p) {
  return static_cast<typename RankKey<T>::type>(p >> 32);
}
template <typename T>
std::uint32_t pick_idx(Pick<T> p) {
  return static_cast<std::uint32_t>(p);
}

// First i in [i, n) with x[i] >= t, or n: blocks of 32 compared at once.
template <typename T>
FOVEAL_ALWAYS_INLINE void first_at_least_body(const T* x, std::int64_t i, std::int64_t n, T t, std::int64_t* at) {
  constexpr int kBlock = 32;
  for (; i < n && (i % kBlock) != 0; ++i)
    if (x[i] >= t) {
      *at = i;
      return;
    }
  for (; i + kBlock <= n; i += kBlock) {
    const T* xb = x + i;
    int any = 0;
#pragma omp simd reduction(| : any)
    for (int j = 0; j < kBlock; ++j) any |= xb[j] >= t ? 1 : 0;
    if (any)
      for (int j = 0;; ++j)
        if (xb[j] >= t) {
          *at = i + j;
          return;
        }
  }
  for (; i < n; ++i)
    if (x[i] >= t) {
      *at = i;
      return;
    }
  *at = n;
}
FOVEAL_SIMD_VARIANTS(first_at_least, first_at_least_body,
                     (const T* x, std::int64_t i, std::int64_t n, T t, std::int64_t* at), (x, i, n, t, at))

// Softmax of `rows` rows of nc logits as torch computes it, exp(x - row max) times 1 / row sum,
// into `prob`. The exponentials run over the whole block at once (no per-row loop tails). A NaN
// or +inf logit makes its row NaN, as torch's.
template <typename T>
FOVEAL_ALWAYS_INLINE void softmax_rows_body(const T* x, std::int64_t rows, std::int64_t nc, T* prob) {
  for (std::int64_t r = 0; r < rows; ++r) {
    const T* xr = x + r * nc;
    T* pr = prob + r * nc;
    T mx = xr[0];
#pragma omp simd reduction(max : mx)
    for (std::int64_t c = 0; c < nc; ++c) mx = xr[c] > mx ? xr[c] : mx;
#pragma omp simd
    for (std::int64_t c = 0; c < nc; ++c) pr[c] = xr[c] - mx;
  }
  const std::int64_t n = rows * nc;
#pragma omp simd
  for (std::int64_t i = 0; i < n; ++i) prob[i] = math::coder_exp(prob[i]);
  for (std::int64_t r = 0; r < rows; ++r) {
    T* pr = prob + r * nc;
    T sum = 0;
#pragma omp simd reduction(+ : sum)
    for (std::int64_t c = 0; c < nc; ++c) sum += pr[c];
    const T inv = T(1) / sum;
#pragma omp simd
    for (std::int64_t c = 0; c < nc; ++c) pr[c] *= inv;
  }
}
FOVEAL_SIMD_VARIANTS(softmax_rows, softmax_rows_body, (const T* x, std::int64_t rows, std::int64_t nc, T* prob),
                     (x, rows, nc, prob))

// Decode n boxes: deltas d and references a (n rows of 4 each) into out (n rows of 4).
template <typename T>
FOVEAL_ALWAYS_INLINE void decode_many_body(const T* d, const T* a, std::int64_t n, const T* w, T* out) {
  const T wx = w[0], wy = w[1], ww = w[2], wh = w[3], clip = w[4];
#pragma omp simd
  for (std::int64_t i = 0; i < n; ++i)
    math::box_decode(d[4 * i], d[4 * i + 1], d[4 * i + 2], d[4 * i + 3], a[4 * i], a[4 * i + 1], a[4 * i + 2],
                     a[4 * i + 3], wx, wy, ww, wh, clip, out[4 * i], out[4 * i + 1], out[4 * i + 2], out[4 * i + 3]);
}
FOVEAL_SIMD_VARIANTS(decode_many, decode_many_body, (const T* d, const T* a, std::int64_t n, const T* w, T* out),
                     (d, a, n, w, out))

/// The (at most) k best of x[0, len) among the values >= lo, by decreasing score(x), equal
/// scores lower index first, into `out` in that order. `score` must be non-decreasing in x.
/// One pass: a threshold from a strided sample skips nearly all values without scoring them, and
/// each time the buffer fills it is cut back to the k best and the threshold raised to just above
/// the k-th's value (later values have higher indices, so an equal score loses to it). A sample
/// threshold that proved too high (fewer than k kept) costs a second pass from lo.
template <typename T, typename Score>
void select_top(const T* x, std::int64_t len, std::int64_t k, T lo, Score score, std::vector<Pick<T>>& out,
                std::vector<T>& sample) {
  out.clear();
  if (k <= 0 || len <= 0 || !(lo == lo)) return;
  T start = lo;
  // The sample: up to 256 evenly spaced runs of 16 values (a cache line each for float), at
  // most a quarter of the values.
  constexpr std::int64_t kRun = 16;
  if (8 * k < len && len >= 64 * kRun) {
    const std::int64_t runs = std::min<std::int64_t>(256, len / (4 * kRun)), ns = runs * kRun;
    const std::int64_t stride = len / runs;
    sample.clear();
    for (std::int64_t j = 0; j < runs; ++j)
      for (std::int64_t i = j * stride; i < j * stride + kRun; ++i)
        if (x[i] >= lo) sample.push_back(x[i]);
    // Expected sample values among the k best: m = k ns / len. Rank r = 1.25 m + 4 sqrt(m) + 8
    // leaves fewer than k above it only far out in the tail (a second pass then).
    const double m = double(k) * double(ns) / double(len);
    const std::int64_t r = static_cast<std::int64_t>(1.25 * m + 4.0 * std::sqrt(m) + 8.0);
    if (r < static_cast<std::int64_t>(sample.size())) {
      std::nth_element(sample.begin(), sample.begin() + r, sample.end(), std::greater<T>());
      start = std::max(start, sample[r]);
    }
  }
  const std::size_t cap = static_cast<std::size_t>(std::max<std::int64_t>(4 * k, 8192));
  const std::size_t kk = static_cast<std::size_t>(k);
  const auto find = first_at_least<T>();
  auto cut = [&]() {
    std::nth_element(out.begin(), out.begin() + (kk - 1), out.end());
    out.resize(kk);
  };
  auto pass = [&](T t) {
    out.clear();
    auto take = [&](std::int64_t i) {
      out.push_back(make_pick<T>(math::score_rank_key(score(x[i])), i));
      if (out.size() >= cap) {
        cut();
        const T v = std::nextafter(x[pick_idx<T>(out[kk - 1])], std::numeric_limits<T>::infinity());
        t = v > t ? v : t;
      }
    };
    std::int64_t i = 0;
    for (;;) {
      find(x, i, len, t, &i);
      if (i >= len) break;
      take(i++);
    }
  };
  pass(start);
  if (out.size() > kk) cut();
  if (start > lo) {
    // Values skipped below `start` score at most score(prev(start)): redo from lo when fewer
    // than k were kept, or when a skipped value could tie the k-th (a saturated score).
    bool redo = out.size() < kk;
    if (!redo) {
      const auto worst = pick_key<T>(*std::max_element(out.begin(), out.end()));
      redo = math::score_rank_key(score(std::nextafter(start, -std::numeric_limits<T>::infinity()))) <= worst;
    }
    if (redo) {
      pass(lo);
      if (out.size() > kk) cut();
    }
  }
  std::sort(out.begin(), out.end());
}

// A candidate detection: rank key of its score, tie index (lower first), box, score, label.
template <typename T>
struct Det {
  typename RankKey<T>::type key;
  std::int64_t tie;
  T box[4];
  T score;
  std::int64_t label;
};

template <typename T>
bool det_before(const Det<T>& a, const Det<T>& b) {
  return a.key != b.key ? a.key < b.key : a.tie < b.tie;
}

template <typename T>
struct Scratch {
  std::vector<Pick<T>> picks;
  std::vector<T> sample, boxes, prob;
  std::vector<std::int64_t> keep, start;
  std::vector<Det<T>> grouped;
};

// Greedy NMS of candidates already in det_before order; appends the kept ones to `out`.
template <typename T>
void nms_sorted(const Det<T>* first, std::int64_t m, double t, Scratch<T>& sc, std::vector<Det<T>>& out) {
  if (m <= 1) {
    if (m == 1) out.push_back(first[0]);
    return;
  }
  sc.boxes.resize(static_cast<std::size_t>(4 * m));
  sc.keep.resize(static_cast<std::size_t>(m));
  for (std::int64_t q = 0; q < m; ++q) std::memcpy(sc.boxes.data() + 4 * q, first[q].box, 4 * sizeof(T));
  const std::int64_t count = nms_presorted(sc.boxes.data(), m, t, sc.keep.data());
  for (std::int64_t k = 0; k < count; ++k) out.push_back(first[sc.keep[k]]);
}

// Greedy NMS within each label (labels in [0, nl)) of `cands`, in any order; appends the kept
// ones to `out`. A stable counting sort by label, then each label's run sorted by det_before.
template <typename T>
void nms_by_label(const std::vector<Det<T>>& cands, std::int64_t nl, double t, Scratch<T>& sc,
                  std::vector<Det<T>>& out) {
  auto& start = sc.start;
  start.assign(static_cast<std::size_t>(nl + 1), 0);
  for (const Det<T>& d : cands) ++start[d.label + 1];
  for (std::int64_t l = 0; l < nl; ++l) start[l + 1] += start[l];
  sc.grouped.resize(cands.size());
  {
    std::vector<std::int64_t> pos(start.begin(), start.end() - 1);
    for (const Det<T>& d : cands) sc.grouped[pos[d.label]++] = d;
  }
  for (std::int64_t l = 0; l < nl; ++l) {
    Det<T>* first = sc.grouped.data() + start[l];
    const std::int64_t m = start[l + 1] - start[l];
    std::sort(first, first + m, det_before<T>);
    nms_sorted(first, m, t, sc, out);
  }
}

// Image b's output rows: the first `limit` of `dets` in det_before order, zero padding after.
template <typename T>
std::int64_t write_image(std::vector<Det<T>>& dets, std::int64_t limit, std::int64_t cap, T* boxes, T* scores,
                         std::int64_t* labels) {
  const std::int64_t n = std::min<std::int64_t>(static_cast<std::int64_t>(dets.size()), limit);
  if (n < static_cast<std::int64_t>(dets.size()))
    std::partial_sort(dets.begin(), dets.begin() + n, dets.end(), det_before<T>);
  else
    std::sort(dets.begin(), dets.end(), det_before<T>);
  std::fill(boxes + 4 * n, boxes + 4 * cap, T(0));
  std::fill(scores + n, scores + cap, T(0));
  if (labels) std::fill(labels + n, labels + cap, std::int64_t(0));
  for (std::int64_t q = 0; q < n; ++q) {
    std::memcpy(boxes + 4 * q, dets[q].box, 4 * sizeof(T));
    scores[q] = dets[q].score;
    if (labels) labels[q] = dets[q].label;
  }
  return n;
}

template <typename T>
void clip_box(T* box, T height, T width) {
  box[0] = math::clamp_to_image(box[0], width), box[2] = math::clamp_to_image(box[2], width);
  box[1] = math::clamp_to_image(box[1], height), box[3] = math::clamp_to_image(box[3], height);
}

// Box coder weights and clamp, and a batch decoder: rows gathered (deltas, references), then
// decoded together by the SIMD kernel.
template <typename T>
struct Coder {
  T w[5];
  Coder(const double* weights, double clip) {
    for (int i = 0; i < 4; ++i) w[i] = T(weights[i]);
    w[4] = T(clip);
  }
};

template <typename T>
struct DecodeBatch {
  std::vector<T> d, a, out;
  void clear() { d.clear(), a.clear(); }
  void add(const T* delta, const T* ref) {
    d.insert(d.end(), delta, delta + 4);
    a.insert(a.end(), ref, ref + 4);
  }
  std::int64_t size() const { return static_cast<std::int64_t>(d.size() / 4); }
  // Decoded boxes, row i at out[4 i].
  const T* run(const Coder<T>& coder) {
    out.resize(d.size());
    decode_many<T>()(d.data(), a.data(), size(), coder.w, out.data());
    return out.data();
  }
};

// Level offsets and, per level, how many candidates the top-k keeps at most.
struct Levels {
  std::vector<std::int64_t> off, cand_off;
  Levels(const std::vector<std::int64_t>& sizes, std::int64_t per_level, std::int64_t scale = 1)
      : off(sizes.size() + 1, 0), cand_off(sizes.size() + 1, 0) {
    for (std::size_t l = 0; l < sizes.size(); ++l) {
      off[l + 1] = off[l] + sizes[l];
      cand_off[l + 1] = cand_off[l] + std::min(per_level, sizes[l] * scale);
    }
  }
};

// The selected rows are scattered over megabytes: fetch them a few iterations ahead.
constexpr std::size_t kAhead = 8;
template <typename T>
inline void prefetch_rows(const T* anchors, const T* deltas, std::int64_t a) {
#if defined(__GNUC__) || defined(__clang__)
  __builtin_prefetch(anchors + 4 * a);
  __builtin_prefetch(deltas + 4 * a);
#endif
}

template <typename T>
T identity(T v) {
  return v;
}

template <typename T>
void rpn_impl(const T* anchors, const T* objectness, const T* deltas, const double* sizes, std::int64_t nb,
              std::int64_t na, const std::vector<std::int64_t>& levels, const RpnPostprocessParams& p, T* out_boxes,
              T* out_scores, std::int64_t* counts, std::int64_t cap, int num_threads) {
  const std::int64_t nl = static_cast<std::int64_t>(levels.size());
  const Levels lv(levels, p.pre_nms_top_n);
  const Coder<T> coder(p.weights, p.bbox_xform_clip);
  const T min_size = T(p.min_size), score_thresh = T(p.score_thresh);  // torch compares in T
  std::vector<std::vector<Det<T>>> kept(static_cast<std::size_t>(nb * nl));  // per (image, level)
  // Level-major jobs: the big first levels of all images are handed out first.
  auto task = [&](std::int64_t job) {
    const std::int64_t l = job / nb, b = job % nb;
    const std::int64_t off = lv.off[l], len = levels[l], k = std::min(p.pre_nms_top_n, len);
    if (k == 0) return;
    const T* obj = objectness + b * na + off;
    const T height = T(sizes[2 * b]), width = T(sizes[2 * b + 1]);
    Scratch<T> sc;
    auto& sel = sc.picks;
    select_top(obj, len, k, -std::numeric_limits<T>::infinity(), identity<T>, sel, sc.sample);
    // NaN logits rank last (select_top skips them): they fill what is left, lower index first.
    for (std::int64_t i = 0; i < len && static_cast<std::int64_t>(sel.size()) < k; ++i)
      if (obj[i] != obj[i]) sel.push_back(make_pick<T>(math::score_rank_key(obj[i]), i));
    // In logit order, which is also det_before order (sigmoid is monotone, ties by position).
    DecodeBatch<T> batch;
    for (std::size_t j = 0; j < sel.size(); ++j) {
      if (j + kAhead < sel.size()) prefetch_rows(anchors, deltas + 4 * b * na, off + pick_idx<T>(sel[j + kAhead]));
      const std::int64_t a = off + pick_idx<T>(sel[j]);
      batch.add(deltas + 4 * (b * na + a), anchors + 4 * a);
    }
    const T* boxes = batch.run(coder);
    std::vector<Det<T>> cands;
    cands.reserve(sel.size());
    for (std::size_t j = 0; j < sel.size(); ++j) {
      Det<T> c;
      std::memcpy(c.box, boxes + 4 * j, 4 * sizeof(T));
      clip_box(c.box, height, width);
      if (!math::box_not_small(c.box[0], c.box[1], c.box[2], c.box[3], min_size)) continue;
      c.score = math::sigmoid(obj[pick_idx<T>(sel[j])]);
      if (!(c.score >= score_thresh)) continue;
      c.key = math::score_rank_key(c.score);
      c.tie = lv.cand_off[l] + static_cast<std::int64_t>(j);  // position in torchvision's concatenated top-k list
      c.label = l;
      cands.push_back(c);
    }
    nms_sorted(cands.data(), static_cast<std::int64_t>(cands.size()), p.nms_thresh, sc, kept[l * nb + b]);
  };
  parallel_for_dynamic(0, nb * nl, num_threads, nb * na >= kParallelWork ? 2 : INT64_MAX, task);
  for (std::int64_t b = 0; b < nb; ++b) {
    std::vector<Det<T>> dets;
    for (std::int64_t l = 0; l < nl; ++l) dets.insert(dets.end(), kept[l * nb + b].begin(), kept[l * nb + b].end());
    counts[b] = write_image(dets, p.post_nms_top_n, cap, out_boxes + 4 * cap * b, out_scores + cap * b,
                            static_cast<std::int64_t*>(nullptr));
  }
}

// Proposals per task of the box head's candidate phase.
constexpr std::int64_t kBoxHeadBlock = 256;
// Proposals per softmax call (their probabilities stay in L1).
constexpr std::int64_t kSoftmaxRows = 32;

template <typename T>
void box_head_impl(const T* proposals, const std::int64_t* pcounts, const T* logits, const T* regression,
                   const double* sizes, std::int64_t nb, std::int64_t np, std::int64_t nc,
                   const BoxHeadPostprocessParams& p, T* out_boxes, T* out_scores, std::int64_t* out_labels,
                   std::int64_t* counts, std::int64_t cap, int num_threads) {
  const Coder<T> coder(p.weights, p.bbox_xform_clip);
  const T min_size = T(p.min_size), score_thresh = T(p.score_thresh);  // torch compares in T
  const std::int64_t nblk = (np + kBoxHeadBlock - 1) / kBoxHeadBlock;
  std::vector<std::vector<Det<T>>> cands(static_cast<std::size_t>(nb * nblk));
  const std::int64_t min_parallel = nb * np * nc >= kParallelWork ? 2 : INT64_MAX;
  // Candidates: a block of proposals of one image per task.
  auto block = [&](std::int64_t job) {
    const std::int64_t b = job / nblk, q0 = (job % nblk) * kBoxHeadBlock;
    const std::int64_t q1 = std::min(pcounts ? pcounts[b] : np, q0 + kBoxHeadBlock);
    const T height = T(sizes[2 * b]), width = T(sizes[2 * b + 1]);
    std::vector<Det<T>>& out = cands[job];
    const auto softmax = softmax_rows<T>();
    std::vector<T> prob(static_cast<std::size_t>(kSoftmaxRows * nc));
    std::vector<std::int64_t> which;  // q * nc + c of each candidate of the batch
    DecodeBatch<T> batch;
    for (std::int64_t r0 = q0; r0 < q1; r0 += kSoftmaxRows) {
      const std::int64_t rows = std::min(kSoftmaxRows, q1 - r0);
      softmax(logits + (b * np + r0) * nc, rows, nc, prob.data());
      which.clear();
      batch.clear();
      for (std::int64_t r = 0; r < rows; ++r) {
        const T* pr = prob.data() + r * nc;
        const std::int64_t q = r0 + r;
        for (std::int64_t c = 1; c < nc; ++c) {  // class 0 is the background
          if (!(pr[c] > score_thresh)) continue;
          which.push_back(r * nc + c);
          batch.add(regression + 4 * (nc * (b * np + q) + c), proposals + 4 * (b * np + q));
        }
      }
      const T* boxes = batch.run(coder);
      for (std::size_t j = 0; j < which.size(); ++j) {
        const std::int64_t r = which[j] / nc, c = which[j] % nc, q = r0 + r;
        Det<T> det;
        std::memcpy(det.box, boxes + 4 * j, 4 * sizeof(T));
        clip_box(det.box, height, width);
        if (!math::box_not_small(det.box[0], det.box[1], det.box[2], det.box[3], min_size)) continue;
        det.score = prob[which[j]];
        det.key = math::score_rank_key(det.score);
        det.tie = q * (nc - 1) + (c - 1);  // torchvision's flattened (proposal, class) order
        det.label = c;
        out.push_back(det);
      }
    }
  };
  parallel_for_dynamic(0, nb * nblk, num_threads, min_parallel, block);
  // NMS per class and output: one image per task.
  auto image = [&](std::int64_t b) {
    std::vector<Det<T>> all, dets;
    for (std::int64_t j = 0; j < nblk; ++j) all.insert(all.end(), cands[b * nblk + j].begin(), cands[b * nblk + j].end());
    Scratch<T> sc;
    nms_by_label(all, nc, p.nms_thresh, sc, dets);
    counts[b] = write_image(dets, p.detections_per_img, cap, out_boxes + 4 * cap * b, out_scores + cap * b,
                            out_labels + cap * b);
  };
  parallel_for_dynamic(0, nb, num_threads, min_parallel, image);
}

// Smallest logit whose sigmoid passes `score > thresh` (in T, as torch), or NaN when none does:
// sigmoid is non-decreasing, so a bisection over the ordered values of T finds it exactly.
template <typename T>
T lowest_passing_logit(T thresh) {
  using U = typename RankKey<T>::type;
  constexpr U sign = U(1) << (8 * sizeof(T) - 1);
  // Order-preserving map between T (not NaN) and unsigned integers.
  auto to_ord = [](T v) {
    U u;
    std::memcpy(&u, &v, sizeof u);
    return (u & sign) ? ~u : (u | sign);
  };
  auto from_ord = [](U o) {
    const U u = (o & sign) ? (o & ~sign) : ~o;
    T v;
    std::memcpy(&v, &u, sizeof v);
    return v;
  };
  auto passes = [&](T v) { return math::sigmoid(v) > thresh; };
  const T inf = std::numeric_limits<T>::infinity();
  if (!passes(inf)) return std::numeric_limits<T>::quiet_NaN();
  if (passes(-inf)) return -inf;
  U lo = to_ord(-inf), hi = to_ord(inf);  // passes(lo) false, passes(hi) true
  while (hi - lo > 1) {
    const U mid = lo + (hi - lo) / 2;
    if (passes(from_ord(mid))) hi = mid;
    else lo = mid;
  }
  return from_ord(hi);
}

template <typename T>
void retinanet_impl(const T* anchors, const T* logits, const T* regression, const double* sizes, std::int64_t nb,
                    std::int64_t na, std::int64_t nc, const std::vector<std::int64_t>& levels,
                    const RetinaNetPostprocessParams& p, T* out_boxes, T* out_scores, std::int64_t* out_labels,
                    std::int64_t* counts, std::int64_t cap, int num_threads) {
  const std::int64_t nl = static_cast<std::int64_t>(levels.size());
  const Levels lv(levels, p.topk_candidates, nc);
  const Coder<T> coder(p.weights, p.bbox_xform_clip);
  const T lo = lowest_passing_logit(T(p.score_thresh));  // torch compares in T
  std::vector<std::vector<Det<T>>> cands(static_cast<std::size_t>(nb * nl));  // per (image, level)
  auto task = [&](std::int64_t job) {
    const std::int64_t l = job / nb, b = job % nb;
    const std::int64_t len = levels[l] * nc;
    const T* x = logits + (b * na + lv.off[l]) * nc;
    const T height = T(sizes[2 * b]), width = T(sizes[2 * b + 1]);
    Scratch<T> sc;
    select_top(x, len, p.topk_candidates, lo, math::sigmoid<T>, sc.picks, sc.sample);
    std::vector<Det<T>>& out = cands[l * nb + b];
    out.resize(sc.picks.size());
    DecodeBatch<T> batch;
    for (std::size_t j = 0; j < sc.picks.size(); ++j) {
      if (j + kAhead < sc.picks.size())
        prefetch_rows(anchors, regression + 4 * b * na, lv.off[l] + pick_idx<T>(sc.picks[j + kAhead]) / nc);
      const std::int64_t a = lv.off[l] + pick_idx<T>(sc.picks[j]) / nc;
      batch.add(regression + 4 * (b * na + a), anchors + 4 * a);
    }
    const T* boxes = batch.run(coder);
    for (std::size_t j = 0; j < sc.picks.size(); ++j) {
      const std::int64_t i = pick_idx<T>(sc.picks[j]);
      Det<T>& d = out[j];
      std::memcpy(d.box, boxes + 4 * j, 4 * sizeof(T));
      clip_box(d.box, height, width);
      d.score = math::sigmoid(x[i]);
      d.key = pick_key<T>(sc.picks[j]);
      d.tie = lv.cand_off[l] + static_cast<std::int64_t>(j);  // position in torchvision's concatenation
      d.label = i % nc;
    }
  };
  const std::int64_t min_parallel = nb * na * nc >= kParallelWork ? 2 : INT64_MAX;
  parallel_for_dynamic(0, nb * nl, num_threads, min_parallel, task);
  auto image = [&](std::int64_t b) {
    std::vector<Det<T>> all, dets;
    for (std::int64_t l = 0; l < nl; ++l) all.insert(all.end(), cands[l * nb + b].begin(), cands[l * nb + b].end());
    Scratch<T> sc;
    nms_by_label(all, nc, p.nms_thresh, sc, dets);
    counts[b] = write_image(dets, p.detections_per_img, cap, out_boxes + 4 * cap * b, out_scores + cap * b,
                            out_labels + cap * b);
  };
  parallel_for_dynamic(0, nb, num_threads, min_parallel, image);
}

}  // namespace

void rpn_postprocess(ConstTensorView anchors, ConstTensorView objectness, ConstTensorView deltas,
                     ConstTensorView image_sizes, const std::vector<std::int64_t>& levels,
                     const RpnPostprocessParams& p, TensorView boxes, TensorView scores, TensorView counts,
                     const ExecContext& ctx) {
  const std::int64_t nb = objectness.size(0), na = objectness.size(1), cap = boxes.size(1);
  const double* sizes = image_sizes.data_as<double>();
  if (anchors.dtype() == DType::Float32)
    rpn_impl(anchors.data_as<float>(), objectness.data_as<float>(), deltas.data_as<float>(), sizes, nb, na, levels, p,
             boxes.data_as<float>(), scores.data_as<float>(), counts.data_as<std::int64_t>(), cap, ctx.num_threads);
  else
    rpn_impl(anchors.data_as<double>(), objectness.data_as<double>(), deltas.data_as<double>(), sizes, nb, na, levels,
             p, boxes.data_as<double>(), scores.data_as<double>(), counts.data_as<std::int64_t>(), cap,
             ctx.num_threads);
}

void box_head_postprocess(ConstTensorView proposals, ConstTensorView proposal_counts, ConstTensorView class_logits,
                          ConstTensorView box_regression, ConstTensorView image_sizes,
                          const BoxHeadPostprocessParams& p, TensorView boxes, TensorView scores, TensorView labels,
                          TensorView counts, const ExecContext& ctx) {
  const std::int64_t nb = class_logits.size(0), np = class_logits.size(1), nc = class_logits.size(2);
  const std::int64_t cap = boxes.size(1);
  const std::int64_t* pc = proposal_counts.data() ? proposal_counts.data_as<std::int64_t>() : nullptr;
  const double* sizes = image_sizes.data_as<double>();
  if (proposals.dtype() == DType::Float32)
    box_head_impl(proposals.data_as<float>(), pc, class_logits.data_as<float>(), box_regression.data_as<float>(),
                  sizes, nb, np, nc, p, boxes.data_as<float>(), scores.data_as<float>(),
                  labels.data_as<std::int64_t>(), counts.data_as<std::int64_t>(), cap, ctx.num_threads);
  else
    box_head_impl(proposals.data_as<double>(), pc, class_logits.data_as<double>(), box_regression.data_as<double>(),
                  sizes, nb, np, nc, p, boxes.data_as<double>(), scores.data_as<double>(),
                  labels.data_as<std::int64_t>(), counts.data_as<std::int64_t>(), cap, ctx.num_threads);
}

void retinanet_postprocess(ConstTensorView anchors, ConstTensorView class_logits, ConstTensorView box_regression,
                           ConstTensorView image_sizes, const std::vector<std::int64_t>& levels,
                           const RetinaNetPostprocessParams& p, TensorView boxes, TensorView scores,
                           TensorView labels, TensorView counts, const ExecContext& ctx) {
  const std::int64_t nb = class_logits.size(0), na = class_logits.size(1), nc = class_logits.size(2);
  const std::int64_t cap = boxes.size(1);
  const double* sizes = image_sizes.data_as<double>();
  if (anchors.dtype() == DType::Float32)
    retinanet_impl(anchors.data_as<float>(), class_logits.data_as<float>(), box_regression.data_as<float>(), sizes,
                   nb, na, nc, levels, p, boxes.data_as<float>(), scores.data_as<float>(),
                   labels.data_as<std::int64_t>(), counts.data_as<std::int64_t>(), cap, ctx.num_threads);
  else
    retinanet_impl(anchors.data_as<double>(), class_logits.data_as<double>(), box_regression.data_as<double>(),
                   sizes, nb, na, nc, levels, p, boxes.data_as<double>(), scores.data_as<double>(),
                   labels.data_as<std::int64_t>(), counts.data_as<std::int64_t>(), cap, ctx.num_threads);
}

}  // namespace foveal::cpu
