// SPDX-License-Identifier: Apache-2.0
// Fused detection post-processing on the CPU (Faster R-CNN RPN and box head, RetinaNet).
//
// - Top-k selections (RPN per level, RetinaNet per level) read the scores once: a threshold
//   taken from a strided sample skips almost every value without computing its score, and is
//   raised whenever the candidate buffer fills (select_top). Only the selected are decoded.
// - The box head computes each proposal's softmax denominator and decodes only the classes whose
//   probability passes score_thresh.
// - NMS (per level or per class) and the output of an image are one visit of its candidates in
//   score order across all groups, stopping once the output is full (nms_merged): candidates
//   ranked below that point are never sorted nor compared.
// - Threads: (image, level) or (image, block of proposals) tasks, then one task per image.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>
#include <utility>
#include <vector>

#include "cpu/parallel.hpp"
#include "cpu/simd.hpp"
#include "foveal/math/box.hpp"
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
// or +inf logit makes its row NaN, as torch's. pass[r nc + c] = prob > thresh, for c >= 1.
template <typename T>
FOVEAL_ALWAYS_INLINE void softmax_rows_body(const T* x, std::int64_t rows, std::int64_t nc, T thresh, T* prob,
                                            std::uint8_t* pass) {
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
    std::uint8_t* ps = pass + r * nc;
#pragma omp simd
    for (std::int64_t c = 0; c < nc; ++c) {
      pr[c] *= inv;
      ps[c] = pr[c] > thresh ? 1 : 0;
    }
    ps[0] = 0;  // the background
  }
}
// The variants by hand, to let the softmax contract into FMAs (the build turns contraction off
// so that the box coder repeats torch's operations exactly; probabilities differ from torch's in
// the last bits either way, and FMAs make the exponentials a third cheaper).
#if FOVEAL_X86_DISPATCH && defined(__GNUC__) && !defined(__clang__)
#define FOVEAL_SOFTMAX_ATTR __attribute__((optimize("fp-contract=fast")))
#else
#define FOVEAL_SOFTMAX_ATTR
#endif
#define FOVEAL_SOFTMAX_SIG (const T* x, std::int64_t rows, std::int64_t nc, T thresh, T* prob, std::uint8_t* pass)
template <typename T>
FOVEAL_SOFTMAX_ATTR void softmax_rows_baseline FOVEAL_SOFTMAX_SIG {
  softmax_rows_body<T>(x, rows, nc, thresh, prob, pass);
}
#if FOVEAL_X86_DISPATCH
template <typename T>
FOVEAL_SOFTMAX_ATTR FOVEAL_TARGET_AVX2 void softmax_rows_avx2 FOVEAL_SOFTMAX_SIG {
  softmax_rows_body<T>(x, rows, nc, thresh, prob, pass);
}
template <typename T>
FOVEAL_SOFTMAX_ATTR FOVEAL_TARGET_AVX512 void softmax_rows_avx512 FOVEAL_SOFTMAX_SIG {
  softmax_rows_body<T>(x, rows, nc, thresh, prob, pass);
}
#endif
#undef FOVEAL_SOFTMAX_SIG
template <typename T>
auto softmax_rows() {
#if FOVEAL_X86_DISPATCH
  switch (simd_level()) {
    case SimdLevel::Avx512: return &softmax_rows_avx512<T>;
    case SimdLevel::Avx2: return &softmax_rows_avx2<T>;
    default: break;
  }
#endif
  return &softmax_rows_baseline<T>;
}

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

// A candidate detection: rank key of its score, box, score, label. An image's candidates are
// listed in torchvision's order (levels concatenated, or proposal-major (proposal, class)), so
// equal scores are visited in list order.
template <typename T>
struct Det {
  typename RankKey<T>::type key;
  T box[4];
  T score;
  std::int64_t label;
};

template <typename T>
struct Scratch {
  std::vector<Pick<T>> picks;
  std::vector<T> sample;
};

// Whether a box (b, area_b) overlaps any of m kept boxes (SoA) with IoU > tf: nms's test, IoU
// computed as math::box_iou (NaN never exceeds tf).
template <typename T>
FOVEAL_ALWAYS_INLINE void overlaps_any_body(const T* x1, const T* y1, const T* x2, const T* y2, const T* area,
                                            std::int64_t m, const T* b, T area_b, T tf, int* hit) {
  const T bx1 = b[0], by1 = b[1], bx2 = b[2], by2 = b[3];
  int any = 0;
#pragma omp simd reduction(| : any)
  for (std::int64_t k = 0; k < m; ++k)
    any |= math::box_iou(x1[k], y1[k], x2[k], y2[k], area[k], bx1, by1, bx2, by2, area_b) > tf ? 1 : 0;
  *hit = any;
}
FOVEAL_SIMD_VARIANTS(overlaps_any, overlaps_any_body,
                     (const T* x1, const T* y1, const T* x2, const T* y2, const T* area, std::int64_t m, const T* b,
                      T area_b, T tf, int* hit),
                     (x1, y1, x2, y2, area, m, b, area_b, tf, hit))

/// Greedy NMS within each label (in [0, nl)) of one image's candidates, and its output: the
/// first `limit` kept in visiting order (score, then list position), into rows [0, count) (zeros after, up to cap).
/// `cands` must be in tie order (their positions order equal keys as their ties do).
///
/// Equivalent to NMS per label followed by a sort of everything kept: a candidate's fate
/// depends only on the higher-ranked candidates of its label, so all labels are visited
/// together in visiting order (score, then list position), each candidate against the kept boxes of its label, and the
/// visit stops once `limit` are kept. The order is built a chunk at a time (partial sorts), so
/// most candidates are never sorted or compared.
template <typename T>
std::int64_t nms_merged(const std::vector<Det<T>>& cands, std::int64_t nl, double t, std::int64_t limit,
                        std::int64_t cap, T* boxes, T* scores, std::int64_t* labels) {
  const std::int64_t n = static_cast<std::int64_t>(cands.size());
  std::int64_t kept = 0;
  if (n > 0 && limit > 0) {
    std::vector<Pick<T>> order(static_cast<std::size_t>(n));
    for (std::int64_t i = 0; i < n; ++i) order[i] = make_pick<T>(cands[i].key, i);
    // Kept boxes per label, SoA: label l owns [off[l], off[l] + room[l]) of each of 5 arrays.
    std::vector<std::int64_t> off(static_cast<std::size_t>(nl + 1), 0), fill(static_cast<std::size_t>(nl), 0);
    for (const Det<T>& d : cands) ++off[d.label + 1];
    for (std::int64_t l = 0; l < nl; ++l) off[l + 1] = off[l] + std::min(off[l + 1], limit);
    const std::int64_t room = off[nl];
    std::vector<T> soa(static_cast<std::size_t>(5 * room));
    T *X1 = soa.data(), *Y1 = X1 + room, *X2 = Y1 + room, *Y2 = X2 + room, *AR = Y2 + room;
    const T tf = math::nms_threshold<T>(t);
    const auto overlaps = overlaps_any<T>();
    std::int64_t done = 0, chunk = 2 * limit + 64;
    while (kept < limit && done < n) {
      const std::int64_t end = std::min(n, done + chunk);
      if (end < n) std::nth_element(order.begin() + done, order.begin() + end, order.end());
      std::sort(order.begin() + done, order.begin() + end);
      for (std::int64_t j = done; j < end && kept < limit; ++j) {
        const Det<T>& d = cands[pick_idx<T>(order[j])];
        const std::int64_t l = d.label, base = off[l], m = fill[l];
        const T area = math::box_area(d.box[0], d.box[1], d.box[2], d.box[3]);
        int hit = 0;
        if (m > 0) overlaps(X1 + base, Y1 + base, X2 + base, Y2 + base, AR + base, m, d.box, area, tf, &hit);
        if (hit) continue;
        X1[base + m] = d.box[0], Y1[base + m] = d.box[1], X2[base + m] = d.box[2], Y2[base + m] = d.box[3];
        AR[base + m] = area;
        fill[l] = m + 1;
        std::memcpy(boxes + 4 * kept, d.box, 4 * sizeof(T));
        scores[kept] = d.score;
        if (labels) labels[kept] = d.label;
        ++kept;
      }
      done = end;
      chunk *= 2;
    }
  }
  std::fill(boxes + 4 * kept, boxes + 4 * cap, T(0));
  std::fill(scores + kept, scores + cap, T(0));
  if (labels) std::fill(labels + kept, labels + cap, std::int64_t(0));
  return kept;
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
  void resize(std::size_t n) { d.resize(4 * n), a.resize(4 * n); }
  void set(std::size_t i, const T* delta, const T* ref) {
    std::memcpy(d.data() + 4 * i, delta, 4 * sizeof(T));
    std::memcpy(a.data() + 4 * i, ref, 4 * sizeof(T));
  }
  std::int64_t size() const { return static_cast<std::int64_t>(d.size() / 4); }
  // Decoded boxes, row i at out[4 i].
  const T* run(const Coder<T>& coder) {
    out.resize(d.size());
    decode_many<T>()(d.data(), a.data(), size(), coder.w, out.data());
    return out.data();
  }
};

// Offset of each level's first anchor.
inline std::vector<std::int64_t> level_offsets(const std::vector<std::int64_t>& sizes) {
  std::vector<std::int64_t> off(sizes.size() + 1, 0);
  for (std::size_t l = 0; l < sizes.size(); ++l) off[l + 1] = off[l] + sizes[l];
  return off;
}

inline int count_trailing_zeros(std::uint64_t v) {  // v != 0
#if defined(__GNUC__) || defined(__clang__)
  return __builtin_ctzll(v);
#else
  int n = 0;
  for (; !(v & 1); v >>= 1) ++n;
  return n;
#endif
}

// The selected rows are scattered over megabytes: fetch them some iterations ahead.
constexpr std::size_t kAhead = 16;
template <typename T>
inline void prefetch_row(const T* row) {
#if defined(__GNUC__) || defined(__clang__)
  __builtin_prefetch(row);
#endif
}
template <typename T>
inline void prefetch_rows(const T* anchors, const T* deltas, std::int64_t a) {
  prefetch_row(anchors + 4 * a);
  prefetch_row(deltas + 4 * a);
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
  const std::vector<std::int64_t> loff = level_offsets(levels);
  const Coder<T> coder(p.weights, p.bbox_xform_clip);
  const T min_size = T(p.min_size), score_thresh = T(p.score_thresh);  // torch compares in T
  std::vector<std::vector<Det<T>>> kept(static_cast<std::size_t>(nb * nl));  // candidates per (image, level)
  // Level-major jobs: the big first levels of all images are handed out first.
  auto task = [&](std::int64_t job) {
    const std::int64_t l = job / nb, b = job % nb;
    const std::int64_t off = loff[l], len = levels[l], k = std::min(p.pre_nms_top_n, len);
    if (k == 0) return;
    const T* obj = objectness + b * na + off;
    const T height = T(sizes[2 * b]), width = T(sizes[2 * b + 1]);
    Scratch<T> sc;
    auto& sel = sc.picks;
    select_top(obj, len, k, -std::numeric_limits<T>::infinity(), identity<T>, sel, sc.sample);
    // NaN logits rank last (select_top skips them): they fill what is left, lower index first.
    for (std::int64_t i = 0; i < len && static_cast<std::int64_t>(sel.size()) < k; ++i)
      if (obj[i] != obj[i]) sel.push_back(make_pick<T>(math::score_rank_key(obj[i]), i));
    // In logit order, which is also the visiting order (sigmoid is monotone; ties by position).
    DecodeBatch<T> batch;
    batch.resize(sel.size());
    for (std::size_t j = 0; j < sel.size(); ++j) {
      if (j + kAhead < sel.size()) prefetch_rows(anchors, deltas + 4 * b * na, off + pick_idx<T>(sel[j + kAhead]));
      const std::int64_t a = off + pick_idx<T>(sel[j]);
      batch.set(j, deltas + 4 * (b * na + a), anchors + 4 * a);
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
      c.label = l;
      cands.push_back(c);
    }
    kept[l * nb + b] = std::move(cands);
  };
  parallel_for_dynamic(0, nb * nl, num_threads, nb * na >= kParallelWork ? 2 : INT64_MAX, task);
  // NMS within each level and the output: one image per task.
  auto image = [&](std::int64_t b) {
    std::vector<Det<T>> all;
    for (std::int64_t l = 0; l < nl; ++l) all.insert(all.end(), kept[l * nb + b].begin(), kept[l * nb + b].end());
    counts[b] = nms_merged(all, nl, p.nms_thresh, p.post_nms_top_n, cap, out_boxes + 4 * cap * b,
                           out_scores + cap * b, static_cast<std::int64_t*>(nullptr));
  };
  parallel_for_dynamic(0, nb, num_threads, nb * na >= kParallelWork ? 2 : INT64_MAX, image);
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
  // A softmax over 2^16 logits already costs a few hundred microseconds.
  const std::int64_t min_parallel = nb * np * nc >= kParallelWork / 4 ? 2 : INT64_MAX;
  // Candidates: a block of proposals of one image per task.
  auto block = [&](std::int64_t job) {
    const std::int64_t b = job / nblk, q0 = (job % nblk) * kBoxHeadBlock;
    const std::int64_t q1 = std::min(pcounts ? pcounts[b] : np, q0 + kBoxHeadBlock);
    const T height = T(sizes[2 * b]), width = T(sizes[2 * b + 1]);
    std::vector<Det<T>>& out = cands[job];
    const auto softmax = softmax_rows<T>();
    // Software pipeline: the passing classes of one group of rows are found (and their
    // regression rows prefetched) while the previous group's are decoded.
    struct Group {
      std::vector<T> prob;
      std::vector<std::uint8_t> pass;  // padded to whole 8-byte words
      std::vector<std::int64_t> which;  // r * nc + c of each passing (row, class)
      std::int64_t r0 = 0;
    } groups[2];
    for (Group& g : groups) {
      g.prob.resize(static_cast<std::size_t>(kSoftmaxRows * nc));
      g.pass.assign(static_cast<std::size_t>((kSoftmaxRows * nc + 7) / 8 * 8), 0);
    }
    DecodeBatch<T> batch;
    auto emit = [&](const Group& g) {
      batch.resize(g.which.size());
      for (std::size_t j = 0; j < g.which.size(); ++j) {
        const std::int64_t q = g.r0 + g.which[j] / nc, c = g.which[j] % nc;
        batch.set(j, regression + 4 * (nc * (b * np + q) + c), proposals + 4 * (b * np + q));
      }
      const T* boxes = batch.run(coder);
      for (std::size_t j = 0; j < g.which.size(); ++j) {
        Det<T> det;
        std::memcpy(det.box, boxes + 4 * j, 4 * sizeof(T));
        clip_box(det.box, height, width);
        if (!math::box_not_small(det.box[0], det.box[1], det.box[2], det.box[3], min_size)) continue;
        det.score = g.prob[g.which[j]];
        det.key = math::score_rank_key(det.score);
        det.label = g.which[j] % nc;
        out.push_back(det);
      }
    };
    int cur = 0;
    bool pending = false;
    for (std::int64_t r0 = q0; r0 < q1; r0 += kSoftmaxRows) {
      Group& g = groups[cur];
      const std::int64_t rows = std::min(kSoftmaxRows, q1 - r0);
      softmax(logits + (b * np + r0) * nc, rows, nc, score_thresh, g.prob.data(), g.pass.data());
      g.r0 = r0;
      g.which.clear();
      // The passing (row, class) pairs in order, 8 flags at a time (most words are zero).
      const std::int64_t n = rows * nc;
      for (std::int64_t w = 0; w < n; w += 8) {
        std::uint64_t word;
        std::memcpy(&word, g.pass.data() + w, 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
        word = __builtin_bswap64(word);
#endif
        if (w + 8 > n) word &= ~std::uint64_t(0) >> (8 * (w + 8 - n));  // bytes past n are stale
        for (; word != 0; word &= word - 1) {  // each set flag byte, lowest first
          const std::int64_t i = w + (count_trailing_zeros(word) >> 3);
          g.which.push_back(i);
          prefetch_row(regression + 4 * (nc * (b * np + r0) + i));
        }
      }
      if (pending) emit(groups[cur ^ 1]);
      pending = true;
      cur ^= 1;
    }
    if (pending) emit(groups[cur ^ 1]);
  };
  parallel_for_dynamic(0, nb * nblk, num_threads, min_parallel, block);
  // NMS per class and output: one image per task.
  auto image = [&](std::int64_t b) {
    std::vector<Det<T>> all;
    for (std::int64_t j = 0; j < nblk; ++j) all.insert(all.end(), cands[b * nblk + j].begin(), cands[b * nblk + j].end());
    counts[b] = nms_merged(all, nc, p.nms_thresh, p.detections_per_img, cap, out_boxes + 4 * cap * b,
                           out_scores + cap * b, out_labels + cap * b);
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
  const std::vector<std::int64_t> loff = level_offsets(levels);
  const Coder<T> coder(p.weights, p.bbox_xform_clip);
  const T lo = lowest_passing_logit(T(p.score_thresh));  // torch compares in T
  std::vector<std::vector<Det<T>>> cands(static_cast<std::size_t>(nb * nl));  // per (image, level)
  auto task = [&](std::int64_t job) {
    const std::int64_t l = job / nb, b = job % nb;
    const std::int64_t len = levels[l] * nc;
    const T* x = logits + (b * na + loff[l]) * nc;
    const T height = T(sizes[2 * b]), width = T(sizes[2 * b + 1]);
    Scratch<T> sc;
    select_top(x, len, p.topk_candidates, lo, math::sigmoid<T>, sc.picks, sc.sample);
    std::vector<Det<T>>& out = cands[l * nb + b];
    out.resize(sc.picks.size());
    DecodeBatch<T> batch;
    batch.resize(sc.picks.size());
    for (std::size_t j = 0; j < sc.picks.size(); ++j) {
      if (j + kAhead < sc.picks.size())
        prefetch_rows(anchors, regression + 4 * b * na, loff[l] + pick_idx<T>(sc.picks[j + kAhead]) / nc);
      const std::int64_t a = loff[l] + pick_idx<T>(sc.picks[j]) / nc;
      batch.set(j, regression + 4 * (b * na + a), anchors + 4 * a);
    }
    const T* boxes = batch.run(coder);
    for (std::size_t j = 0; j < sc.picks.size(); ++j) {
      const std::int64_t i = pick_idx<T>(sc.picks[j]);
      Det<T>& d = out[j];
      std::memcpy(d.box, boxes + 4 * j, 4 * sizeof(T));
      clip_box(d.box, height, width);
      d.score = math::sigmoid(x[i]);
      d.key = pick_key<T>(sc.picks[j]);
      d.label = i % nc;
    }
  };
  const std::int64_t min_parallel = nb * na * nc >= kParallelWork ? 2 : INT64_MAX;
  parallel_for_dynamic(0, nb * nl, num_threads, min_parallel, task);
  auto image = [&](std::int64_t b) {
    std::vector<Det<T>> all;
    for (std::int64_t l = 0; l < nl; ++l) all.insert(all.end(), cands[l * nb + b].begin(), cands[l * nb + b].end());
    counts[b] = nms_merged(all, nc, p.nms_thresh, p.detections_per_img, cap, out_boxes + 4 * cap * b,
                           out_scores + cap * b, out_labels + cap * b);
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
