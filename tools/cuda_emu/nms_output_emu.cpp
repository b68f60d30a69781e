// CPU emulation of cuda/postprocess_cuda.cu's stage 4 (nms_output_kernel, see run.sh) against the
// sequential greedy loop it must equal: candidates in key order, each kept unless a kept box of
// its group overlaps it by IoU > t, until `limit` are kept or the first failed key. Random scenes
// (clustered boxes, few groups, failed tails, limits inside and past a chunk), float32 outputs.
#include <cstdio>
#include <random>
#include <vector>

#include "foveal/math/box.hpp"
#include "shim.hpp"

namespace foveal::cuda {
template <typename S, typename A>
S from_acc(A v) {
  return static_cast<S>(v);
}
namespace {
#include "kernels_nms_head.inc"
#include "kernels_nms_output.inc"
}  // namespace

// One scene: nb images of m candidate slots; returns the number of differences.
int scene(std::mt19937_64& rng, std::int64_t nb, std::int64_t m, std::int64_t limit, std::int64_t cap, int groups,
          float tf, std::int64_t n_failed) {
  std::uniform_real_distribution<float> u(0.f, 1.f);
  std::vector<float> box(4 * nb * m), score(nb * m);
  std::vector<int> group(nb * m);
  std::vector<Key> order(nb * m);
  for (std::int64_t b = 0; b < nb; ++b) {
    for (std::int64_t j = 0; j < m; ++j) {
      const std::int64_t s = b * m + j;
      const float cx = 40.f * std::floor(u(rng) * 6.f) + 8.f * u(rng), cy = 40.f * std::floor(u(rng) * 6.f) + 8.f * u(rng);
      const float w = 10.f + 30.f * u(rng), h = 10.f + 30.f * u(rng);
      box[4 * s] = cx, box[4 * s + 1] = cy, box[4 * s + 2] = cx + w, box[4 * s + 3] = cy + h;
      score[s] = u(rng);
      group[s] = static_cast<int>(u(rng) * groups) % groups;
    }
    std::vector<std::int64_t> idx(m);
    for (std::int64_t j = 0; j < m; ++j) idx[j] = j;
    std::shuffle(idx.begin(), idx.end(), rng);  // the visiting order
    for (std::int64_t r = 0; r < m; ++r)
      order[b * m + r] = (r >= m - n_failed ? kFailed : (Key(r) << 32)) | Key(idx[r]);
  }
  const std::int64_t lim = std::min(limit, m);
  std::vector<float> kept_box(5 * nb * lim), out_box(4 * nb * cap, NAN), out_score(nb * cap, NAN);
  std::vector<int> kept_group(nb * lim);
  std::vector<std::int64_t> labels(nb * cap, -9), counts(nb, -9);
  emu::launch(static_cast<unsigned>(nb), 1, kNmsThreads, 1, 0, [&] {
    nms_output_kernel<float>(order.data(), box.data(), score.data(), group.data(), m, lim, cap, tf, kept_box.data(),
                             kept_group.data(), out_box.data(), out_score.data(), labels.data(), counts.data());
  });
  int bad = 0;
  for (std::int64_t b = 0; b < nb; ++b) {  // the sequential greedy loop
    std::vector<float> kb;
    std::vector<int> kg;
    std::vector<std::int64_t> ks;
    for (std::int64_t j = 0; j < m; ++j) {
      const Key k = order[b * m + j];
      if (static_cast<std::int64_t>(kg.size()) >= lim || failed(k)) break;
      const std::int64_t s = b * m + static_cast<std::uint32_t>(k);
      const float* x = &box[4 * s];
      const float area = math::box_area(x[0], x[1], x[2], x[3]);
      bool hit = false;
      for (std::size_t q = 0; q < kg.size() && !hit; ++q)
        hit = kg[q] == group[s] && math::box_iou(kb[5 * q], kb[5 * q + 1], kb[5 * q + 2], kb[5 * q + 3], kb[5 * q + 4],
                                                 x[0], x[1], x[2], x[3], area) > tf;
      if (hit) continue;
      kb.insert(kb.end(), {x[0], x[1], x[2], x[3], area});
      kg.push_back(group[s]);
      ks.push_back(s);
    }
    const std::int64_t n = static_cast<std::int64_t>(ks.size());
    if (counts[b] != n) ++bad;
    for (std::int64_t r = 0; r < cap; ++r) {
      const std::int64_t o = b * cap + r;
      const bool in = r < n;
      for (int e = 0; e < 4; ++e)
        if (out_box[4 * o + e] != (in ? box[4 * ks[r] + e] : 0.f)) ++bad;
      if (out_score[o] != (in ? score[ks[r]] : 0.f) || labels[o] != (in ? group[ks[r]] : 0)) ++bad;
    }
  }
  return bad;
}
}  // namespace foveal::cuda

int main() {
  std::mt19937_64 rng(7);
  int bad = 0, scenes = 0;
  // (images, slots, limit, capacity, groups, threshold, failed tail)
  const struct {
    std::int64_t nb, m, limit, cap;
    int groups;
    float tf;
    std::int64_t failed;
  } cases[] = {{2, 700, 1000, 1000, 1, 0.7f, 0},  {2, 700, 100, 100, 3, 0.5f, 50}, {1, 256, 300, 300, 2, 0.5f, 0},
               {3, 513, 40, 64, 5, 0.3f, 100}, {1, 1, 10, 10, 1, 0.5f, 0},     {2, 300, 300, 300, 4, 0.5f, 300},
               {1, 1000, 257, 300, 2, 0.6f, 1}, {2, 90, 1000, 100, 91, 0.5f, 7}};
  for (const auto& c : cases)
    for (int rep = 0; rep < 2; ++rep, ++scenes) {
      const int d = foveal::cuda::scene(rng, c.nb, c.m, c.limit, c.cap, c.groups, c.tf, c.failed);
      if (d) printf("MISMATCH case m=%lld limit=%lld groups=%d: %d differences\n", (long long)c.m, (long long)c.limit,
                    c.groups, d);
      bad += d;
    }
  printf("nms_output: %d scenes, mismatches %d\n", scenes, bad);
  return bad ? 1 : 0;
}
