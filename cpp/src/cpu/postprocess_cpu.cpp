// SPDX-License-Identifier: Apache-2.0
// Fused Faster R-CNN post-processing on the CPU: only candidates that survive selection are
// decoded, each NMS runs on one level's or one class's candidates already in visiting order
// (cpu::nms_presorted), and (image, level) / image are independent tasks.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <utility>
#include <vector>

#include "cpu/nms_cpu.hpp"
#include "cpu/parallel.hpp"
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

// A candidate detection: rank key of its score (ascending = decreasing score, NaN last), tie
// index (lower first), box, score, label.
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
struct GroupScratch {
  std::vector<T> boxes;
  std::vector<std::int64_t> keep;
};

// Greedy NMS of one group's candidates (a level or a class), visited in det_before order;
// appends the kept ones to `out`.
template <typename T>
void nms_group(Det<T>* first, Det<T>* last, double t, GroupScratch<T>& sc, std::vector<Det<T>>& out) {
  const std::int64_t m = last - first;
  if (m == 0) return;
  std::sort(first, last, det_before<T>);
  sc.boxes.resize(static_cast<std::size_t>(4 * m));
  sc.keep.resize(static_cast<std::size_t>(m));
  for (std::int64_t q = 0; q < m; ++q) std::memcpy(sc.boxes.data() + 4 * q, first[q].box, 4 * sizeof(T));
  const std::int64_t count = nms_presorted(sc.boxes.data(), m, t, sc.keep.data());
  for (std::int64_t k = 0; k < count; ++k) out.push_back(first[sc.keep[k]]);
}

// Image b's output rows: the first `limit` of `dets` in det_before order, zero padding after.
template <typename T>
std::int64_t write_image(std::vector<Det<T>>& dets, std::int64_t limit, std::int64_t cap, T* boxes, T* scores,
                         std::int64_t* labels) {
  std::sort(dets.begin(), dets.end(), det_before<T>);
  const std::int64_t n = std::min<std::int64_t>(static_cast<std::int64_t>(dets.size()), limit);
  std::fill(boxes, boxes + 4 * cap, T(0));
  std::fill(scores, scores + cap, T(0));
  if (labels) std::fill(labels, labels + cap, std::int64_t(0));
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

template <typename T>
void rpn_impl(const T* anchors, const T* objectness, const T* deltas, const double* sizes, std::int64_t nb,
              std::int64_t na, const std::vector<std::int64_t>& levels, const RpnPostprocessParams& p, T* out_boxes,
              T* out_scores, std::int64_t* counts, std::int64_t cap, int num_threads) {
  using K = typename RankKey<T>::type;
  const std::int64_t nl = static_cast<std::int64_t>(levels.size());
  std::vector<std::int64_t> level_off(static_cast<std::size_t>(nl + 1), 0), cand_off(level_off);
  for (std::int64_t l = 0; l < nl; ++l) {
    level_off[l + 1] = level_off[l] + levels[l];
    cand_off[l + 1] = cand_off[l] + std::min(p.pre_nms_top_n, levels[l]);
  }
  const T wx = T(p.weights[0]), wy = T(p.weights[1]), ww = T(p.weights[2]), wh = T(p.weights[3]);
  const T clip = T(p.bbox_xform_clip), min_size = T(p.min_size);
  std::vector<std::vector<Det<T>>> kept(static_cast<std::size_t>(nb * nl));  // per (image, level)
  auto task = [&](std::int64_t job) {
    const std::int64_t b = job / nl, l = job % nl;
    const std::int64_t off = level_off[l], len = levels[l], k = std::min(p.pre_nms_top_n, len);
    if (k == 0) return;
    const T* obj = objectness + b * na + off;
    const T height = T(sizes[2 * b]), width = T(sizes[2 * b + 1]);
    // Top k: smallest (rank key, anchor) pairs = decreasing logit, ties lower anchor, NaN last.
    std::vector<std::pair<K, std::uint32_t>> sel(static_cast<std::size_t>(len));
    for (std::int64_t i = 0; i < len; ++i) sel[i] = {math::score_rank_key(obj[i]), static_cast<std::uint32_t>(i)};
    if (k < len) std::nth_element(sel.begin(), sel.begin() + (k - 1), sel.end());
    std::sort(sel.begin(), sel.begin() + k);
    std::vector<Det<T>> cands;
    cands.reserve(static_cast<std::size_t>(k));
    for (std::int64_t j = 0; j < k; ++j) {
      const std::int64_t a = off + sel[j].second;
      const T* an = anchors + 4 * a;
      const T* d = deltas + 4 * (b * na + a);
      Det<T> c;
      math::box_decode(d[0], d[1], d[2], d[3], an[0], an[1], an[2], an[3], wx, wy, ww, wh, clip, c.box[0], c.box[1],
                       c.box[2], c.box[3]);
      clip_box(c.box, height, width);
      if (!math::box_not_small(c.box[0], c.box[1], c.box[2], c.box[3], min_size)) continue;
      c.score = math::sigmoid(obj[sel[j].second]);
      if (!(double(c.score) >= p.score_thresh)) continue;
      c.key = math::score_rank_key(c.score);
      c.tie = cand_off[l] + j;  // position in torchvision's concatenated top-k list
      c.label = l;
      cands.push_back(c);
    }
    GroupScratch<T> sc;
    nms_group(cands.data(), cands.data() + cands.size(), p.nms_thresh, sc, kept[job]);
  };
  parallel_for_dynamic(0, nb * nl, num_threads, nb * na >= kParallelWork ? 2 : INT64_MAX, task);
  for (std::int64_t b = 0; b < nb; ++b) {
    std::vector<Det<T>> dets;
    for (std::int64_t l = 0; l < nl; ++l) dets.insert(dets.end(), kept[b * nl + l].begin(), kept[b * nl + l].end());
    counts[b] = write_image(dets, p.post_nms_top_n, cap, out_boxes + 4 * cap * b, out_scores + cap * b,
                            static_cast<std::int64_t*>(nullptr));
  }
}

template <typename T>
void box_head_impl(const T* proposals, const std::int64_t* pcounts, const T* logits, const T* regression,
                   const double* sizes, std::int64_t nb, std::int64_t np, std::int64_t nc,
                   const BoxHeadPostprocessParams& p, T* out_boxes, T* out_scores, std::int64_t* out_labels,
                   std::int64_t* counts, std::int64_t cap, int num_threads) {
  const T wx = T(p.weights[0]), wy = T(p.weights[1]), ww = T(p.weights[2]), wh = T(p.weights[3]);
  const T clip = T(p.bbox_xform_clip), min_size = T(p.min_size);
  auto image = [&](std::int64_t b) {
    const std::int64_t n = pcounts ? pcounts[b] : np;
    const T height = T(sizes[2 * b]), width = T(sizes[2 * b + 1]);
    std::vector<Det<T>> cands;
    std::vector<T> prob(static_cast<std::size_t>(nc));
    for (std::int64_t q = 0; q < n; ++q) {
      const T* x = logits + (b * np + q) * nc;
      // softmax as torch: exp(x - max) / sum
      T mx = x[0];
      for (std::int64_t c = 1; c < nc; ++c) mx = x[c] > mx || x[c] != x[c] ? x[c] : mx;
      T sum = 0;
      for (std::int64_t c = 0; c < nc; ++c) sum += (prob[c] = std::exp(x[c] - mx));
      const T* pr = proposals + 4 * (b * np + q);
      const T* d = regression + 4 * nc * (b * np + q);
      for (std::int64_t c = 1; c < nc; ++c) {  // class 0 is the background
        const T score = prob[c] / sum;
        if (!(double(score) > p.score_thresh)) continue;
        Det<T> det;
        const T* dc = d + 4 * c;
        math::box_decode(dc[0], dc[1], dc[2], dc[3], pr[0], pr[1], pr[2], pr[3], wx, wy, ww, wh, clip, det.box[0],
                         det.box[1], det.box[2], det.box[3]);
        clip_box(det.box, height, width);
        if (!math::box_not_small(det.box[0], det.box[1], det.box[2], det.box[3], min_size)) continue;
        det.score = score;
        det.key = math::score_rank_key(score);
        det.tie = q * (nc - 1) + (c - 1);  // torchvision's flattened (proposal, class) order
        det.label = c;
        cands.push_back(det);
      }
    }
    // Group by class (stable: tie order kept), then NMS per class.
    std::stable_sort(cands.begin(), cands.end(), [](const Det<T>& a, const Det<T>& b) { return a.label < b.label; });
    std::vector<Det<T>> dets;
    GroupScratch<T> sc;
    for (std::size_t s = 0; s < cands.size();) {
      std::size_t e = s;
      while (e < cands.size() && cands[e].label == cands[s].label) ++e;
      nms_group(cands.data() + s, cands.data() + e, p.nms_thresh, sc, dets);
      s = e;
    }
    counts[b] = write_image(dets, p.detections_per_img, cap, out_boxes + 4 * cap * b, out_scores + cap * b,
                            out_labels + cap * b);
  };
  parallel_for_dynamic(0, nb, num_threads, nb * np * nc >= kParallelWork ? 2 : INT64_MAX, image);
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

}  // namespace foveal::cpu
