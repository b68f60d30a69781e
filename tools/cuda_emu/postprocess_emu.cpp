// CPU emulation of cuda/postprocess_cuda.cu end to end (see run.sh): the shipped file whole
// (extract_postprocess.py rewrites its launches), on the stand-in CUB of fake_cuda/cub, the fake
// runtime and Workspace of fake_cuda; under AddressSanitizer where the compiler has it.
//
//   postprocess_emu rpn|head|retina f32|f16|bf16 DIR
//     DIR/params (one `name value...` per line) and the inputs DIR/<name>.bin (storage dtype,
//     image sizes float64, proposal counts int64) -> DIR/out_{boxes,scores,labels,counts}.bin.
//     The op runs twice, on workspace memory first filled with 0xff bytes (NaN, failed keys) and
//     then 0x00 (zeros, the best key), into outputs filled with garbage; both runs must agree.
//     Prints the counters the check needs (launches, sorts per CUB entry point, wrong streams).
#include <cuda_runtime.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "postprocess_cuda.cu"

namespace {
using namespace foveal;

std::string dir;
std::map<std::string, std::vector<double>> params;

void read_params() {
  std::ifstream f(dir + "/params");
  std::string line;
  while (std::getline(f, line)) {
    std::istringstream s(line);
    std::string k;
    s >> k;
    double v;
    while (s >> v) params[k].push_back(v);
    params[k];  // present even when empty (no levels)
  }
}
double P(const char* k) {
  const auto it = params.find(k);
  if (it == params.end() || it->second.empty()) {
    std::fprintf(stderr, "missing parameter %s\n", k);
    std::exit(2);
  }
  return it->second[0];
}
std::int64_t I(const char* k) { return static_cast<std::int64_t>(P(k)); }

// Exactly n elements (AddressSanitizer flags any read past them).
template <typename T>
std::vector<T> rd(const std::string& name, std::size_t n) {
  std::vector<T> v(n);
  FILE* f = std::fopen((dir + "/" + name).c_str(), "rb");
  if (!f || (n && std::fread(v.data(), sizeof(T), n, f) != n)) {
    std::fprintf(stderr, "cannot read %s\n", name.c_str());
    std::exit(2);
  }
  std::fclose(f);
  return v;
}
template <typename T>
void wr(const std::string& name, const std::vector<T>& v) {
  FILE* f = std::fopen((dir + "/" + name).c_str(), "wb");
  if (v.size()) std::fwrite(v.data(), sizeof(T), v.size(), f);
  std::fclose(f);
}

const Device kGpu = Device::cuda(0), kHost = Device::cpu();

struct Out {
  std::vector<unsigned char> boxes, scores;
  std::vector<std::int64_t> labels, counts;
  bool operator==(const Out& o) const {
    return boxes == o.boxes && scores == o.scores && labels == o.labels && counts == o.counts;
  }
};

template <typename S>
Out run_once(const std::string& op, DType dt, ExecContext ctx) {
  const std::int64_t nb = I("nb"), cap = I("cap");
  Out o;
  o.boxes.assign(sizeof(S) * 4 * nb * cap, 0xff);  // NaN in every float type: padding must be written
  o.scores.assign(sizeof(S) * nb * cap, 0xff);
  o.labels.assign(nb * cap, -7);
  o.counts.assign(nb, -7);
  TensorView boxes(o.boxes.data(), dt, kGpu, {nb, cap, 4}), scores(o.scores.data(), dt, kGpu, {nb, cap});
  TensorView labels(o.labels.data(), DType::Int64, kGpu, {nb, cap}), counts(o.counts.data(), DType::Int64, kGpu, {nb});
  const std::vector<double> sizes = rd<double>("sizes.bin", 2 * nb);
  const ConstTensorView sz(sizes.data(), DType::Float64, kHost, {nb, 2});
  std::vector<std::int64_t> levels;
  for (double v : params["levels"]) levels.push_back(static_cast<std::int64_t>(v));
  if (op == "rpn" || op == "retina") {
    const std::int64_t na = I("na"), nc = op == "rpn" ? 1 : I("nc");
    const std::vector<S> anchors = rd<S>("anchors.bin", 4 * na), x = rd<S>("x.bin", nb * na * nc),
                         reg = rd<S>("reg.bin", 4 * nb * na);
    const ConstTensorView av(anchors.data(), dt, kGpu, {na, 4}), rv(reg.data(), dt, kGpu, {nb, na, 4});
    if (op == "rpn") {
      RpnPostprocessParams p;
      p.pre_nms_top_n = I("pre_nms_top_n"), p.post_nms_top_n = I("post_nms_top_n"), p.nms_thresh = P("nms_thresh");
      p.min_size = P("min_size"), p.score_thresh = P("score_thresh");
      for (int i = 0; i < 4; ++i) p.weights[i] = params["weights"].at(i);
      p.bbox_xform_clip = P("clip");
      cuda::rpn_postprocess(av, ConstTensorView(x.data(), dt, kGpu, {nb, na}), rv, sz, levels, p, boxes, scores,
                            counts, ctx);
    } else {
      RetinaNetPostprocessParams p;
      p.topk_candidates = I("topk_candidates"), p.detections_per_img = I("detections_per_img");
      p.nms_thresh = P("nms_thresh"), p.score_thresh = P("score_thresh");
      for (int i = 0; i < 4; ++i) p.weights[i] = params["weights"].at(i);
      p.bbox_xform_clip = P("clip");
      cuda::retinanet_postprocess(av, ConstTensorView(x.data(), dt, kGpu, {nb, na, nc}), rv, sz, levels, p, boxes,
                                  scores, labels, counts, ctx);
    }
  } else {
    const std::int64_t np = I("np"), nc = I("nc"), pcmode = I("pcounts");  // 0 none, 1 host, 2 device
    const std::vector<S> props = rd<S>("anchors.bin", 4 * nb * np), x = rd<S>("x.bin", nb * np * nc),
                         reg = rd<S>("reg.bin", 4 * nb * np * nc);
    std::vector<std::int64_t> pc = pcmode ? rd<std::int64_t>("pcounts.bin", nb) : std::vector<std::int64_t>{};
    const ConstTensorView pcv = pcmode ? ConstTensorView(pc.data(), DType::Int64, pcmode == 2 ? kGpu : kHost, {nb})
                                       : ConstTensorView{};
    BoxHeadPostprocessParams p;
    p.detections_per_img = I("detections_per_img"), p.nms_thresh = P("nms_thresh");
    p.min_size = P("min_size"), p.score_thresh = P("score_thresh");
    for (int i = 0; i < 4; ++i) p.weights[i] = params["weights"].at(i);
    p.bbox_xform_clip = P("clip");
    cuda::box_head_postprocess(ConstTensorView(props.data(), dt, kGpu, {nb, np, 4}), pcv,
                               ConstTensorView(x.data(), dt, kGpu, {nb, np, nc}),
                               ConstTensorView(reg.data(), dt, kGpu, {nb, np, 4 * nc}), sz, p, boxes, scores, labels,
                               counts, ctx);
  }
  return o;
}

template <typename S>
int run(const std::string& op, DType dt) {
  ExecContext ctx;
  ctx.stream = 0x5eed0;
  emu::stream = reinterpret_cast<cudaStream_t>(ctx.stream);
  emu::workspace_fill = 0xff;
  const Out a = run_once<S>(op, dt, ctx);
  const long launches = emu::launches, dev = emu::cub_device_sorts, seg = emu::cub_segmented_sorts;
  emu::workspace_fill = 0x00;
  const Out b = run_once<S>(op, dt, ctx);
  wr("out_boxes.bin", a.boxes), wr("out_scores.bin", a.scores), wr("out_labels.bin", a.labels);
  wr("out_counts.bin", a.counts);
  std::printf("launches %ld device_sorts %ld segmented_sorts %ld size_queries %ld wrong_stream %ld repeat_same %d\n",
              launches, dev, seg, emu::cub_size_queries / 2, emu::wrong_stream, a == b ? 1 : 0);
  return 0;
}
}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: postprocess_emu rpn|head|retina f32|f16|bf16 DIR\n");
    return 2;
  }
  dir = argv[3];
  read_params();
  const std::string op = argv[1], dt = argv[2];
  try {
    if (dt == "f16") return run<__half>(op, DType::Float16);
    if (dt == "bf16") return run<__nv_bfloat16>(op, DType::BFloat16);
    return run<float>(op, DType::Float32);
  } catch (const std::exception& e) {
    std::printf("ERROR %s\n", e.what());
    return 1;
  }
}
