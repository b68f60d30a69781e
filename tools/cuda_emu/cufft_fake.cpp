// A stand-in libcufft for the RL FFT emulator (see run.sh): the entry points cuda/cufft_api.cu
// loads, with cuFFT's conventions and an independent, naive DFT (double precision, one axis at a
// time). Plans: cufftPlanMany with the basic layout (inembed = onembed = NULL), batch 1, n[] slowest
// axis first; R2C / D2Z write the n[0] x ... x (n[rank-1] / 2 + 1) half spectrum; C2R / Z2D are
// unnormalised, read the half spectrum as the Hermitian extension's (the real part of the full
// inverse, so the imaginary parts of self-conjugate bins do not count) and, as cuFFT's
// out-of-place C2R may, overwrite their input (with NaN here). Anything else returns an error.
#include <cmath>
#include <complex>
#include <cstdint>
#include <cstdio>
#include <map>
#include <mutex>
#include <vector>

namespace {

constexpr int kR2C = 0x2a, kC2R = 0x2c, kD2Z = 0x6a, kZ2D = 0x6c;
constexpr int kSuccess = 0, kInvalidPlan = 1, kInvalidType = 4, kInvalidValue = 5, kInvalidSize = 8;
using cd = std::complex<double>;

struct Plan {
  int rank = 0, type = 0;
  std::vector<long> n;
  void* stream = nullptr;
  bool live = true;
  int busy = 0;  // calls on this plan in progress (cuFFT: one host thread per plan at a time)
};
std::mutex mu;
std::vector<Plan> plans;
long created = 0, destroyed = 0, execs = 0, overlaps = 0;
std::map<void*, long> execs_on;

void dft_axis(std::vector<cd>& a, const std::vector<long>& n, int axis, int sign) {
  long inner = 1, len = n[axis], total = 1;
  for (long v : n) total *= v;
  for (std::size_t d = axis + 1; d < n.size(); ++d) inner *= n[d];
  const long outer = total / (len * inner);
  std::vector<cd> tw(len), line(len);
  for (long j = 0; j < len; ++j) tw[j] = std::polar(1.0, sign * 2.0 * M_PI * double(j) / double(len));
  for (long o = 0; o < outer; ++o)
    for (long i = 0; i < inner; ++i) {
      cd* base = a.data() + o * len * inner + i;
      for (long j = 0; j < len; ++j) line[j] = base[j * inner];
      for (long k = 0; k < len; ++k) {
        cd s = 0;
        for (long j = 0; j < len; ++j) s += line[j] * tw[(j * k) % len];
        base[k * inner] = s;
      }
    }
}

// Row-major index of the multi-index idx (dims n).
long flat(const std::vector<long>& idx, const std::vector<long>& n) {
  long f = 0;
  for (std::size_t d = 0; d < n.size(); ++d) f = f * n[d] + idx[d];
  return f;
}
bool next(std::vector<long>& idx, const std::vector<long>& n) {
  for (int d = int(n.size()) - 1; d >= 0; --d) {
    if (++idx[d] < n[d]) return true;
    idx[d] = 0;
  }
  return false;
}

template <typename T>
void r2c(const Plan& p, const T* in, T* out) {
  long total = 1;
  for (long v : p.n) total *= v;
  std::vector<cd> a(total);
  for (long i = 0; i < total; ++i) a[i] = double(in[i]);
  for (int d = 0; d < p.rank; ++d) dft_axis(a, p.n, d, -1);
  std::vector<long> half = p.n, idx(p.rank, 0);
  half.back() = p.n.back() / 2 + 1;
  do {
    const cd v = a[flat(idx, p.n)];
    const long o = flat(idx, half);
    out[2 * o] = static_cast<T>(v.real());
    out[2 * o + 1] = static_cast<T>(v.imag());
  } while (next(idx, half));
}

template <typename T>
void c2r(const Plan& p, T* in, T* out) {
  long total = 1;
  for (long v : p.n) total *= v;
  std::vector<long> half = p.n, idx(p.rank, 0), neg(p.rank);
  half.back() = p.n.back() / 2 + 1;
  std::vector<cd> a(total);
  do {
    cd v;
    if (idx.back() < half.back()) {
      const long o = flat(idx, half);
      v = cd(in[2 * o], in[2 * o + 1]);
    } else {  // the Hermitian extension: X[k] = conj(X[-k])
      for (int d = 0; d < p.rank; ++d) neg[d] = (p.n[d] - idx[d]) % p.n[d];
      const long o = flat(neg, half);
      v = std::conj(cd(in[2 * o], in[2 * o + 1]));
    }
    a[flat(idx, p.n)] = v;
  } while (next(idx, p.n));
  for (int d = 0; d < p.rank; ++d) dft_axis(a, p.n, d, +1);
  for (long i = 0; i < total; ++i) out[i] = static_cast<T>(a[i].real());
  long hs = 1;
  for (long v : half) hs *= v;
  for (long i = 0; i < 2 * hs; ++i) in[i] = static_cast<T>(NAN);
}

int exec(int h, int type, void* in, void* out) {
  Plan p;
  {
    std::lock_guard<std::mutex> l(mu);
    if (h < 0 || h >= int(plans.size()) || !plans[h].live) return kInvalidPlan;
    if (plans[h].type != type) return kInvalidType;
    if (!in || !out || in == out) return kInvalidValue;  // the caller runs out of place only
    p = plans[h];
    ++execs;
    ++execs_on[p.stream];
    if (plans[h].busy++) ++overlaps;
  }
  switch (type) {
    case kR2C: r2c(p, static_cast<const float*>(in), static_cast<float*>(out)); break;
    case kD2Z: r2c(p, static_cast<const double*>(in), static_cast<double*>(out)); break;
    case kC2R: c2r(p, static_cast<float*>(in), static_cast<float*>(out)); break;
    case kZ2D: c2r(p, static_cast<double*>(in), static_cast<double*>(out)); break;
  }
  std::lock_guard<std::mutex> l(mu);
  --plans[h].busy;
  return kSuccess;
}

}  // namespace

extern "C" {
int cufftPlanMany(int* plan, int rank, int* n, int* inembed, int istride, int idist, int* onembed, int ostride,
                  int odist, int type, int batch) {
  (void)istride, (void)idist, (void)ostride, (void)odist;  // ignored with NULL embeds, as cuFFT does
  if (!plan || rank < 1 || rank > 3 || !n) return kInvalidValue;
  if (inembed || onembed || batch != 1) return kInvalidValue;  // not what the caller should ask for
  if (type != kR2C && type != kC2R && type != kD2Z && type != kZ2D) return kInvalidType;
  Plan p;
  p.rank = rank;
  p.type = type;
  for (int d = 0; d < rank; ++d) {
    if (n[d] < 1) return kInvalidSize;
    p.n.push_back(n[d]);
  }
  std::lock_guard<std::mutex> l(mu);
  plans.push_back(p);
  *plan = int(plans.size()) - 1;
  ++created;
  return kSuccess;
}
int cufftExecR2C(int h, void* in, void* out) { return exec(h, kR2C, in, out); }
int cufftExecC2R(int h, void* in, void* out) { return exec(h, kC2R, in, out); }
int cufftExecD2Z(int h, void* in, void* out) { return exec(h, kD2Z, in, out); }
int cufftExecZ2D(int h, void* in, void* out) { return exec(h, kZ2D, in, out); }
int cufftSetStream(int h, void* s) {
  std::lock_guard<std::mutex> l(mu);
  if (h < 0 || h >= int(plans.size()) || !plans[h].live) return kInvalidPlan;
  if (plans[h].busy) ++overlaps;
  plans[h].stream = s;
  return kSuccess;
}
int cufftDestroy(int h) {
  std::lock_guard<std::mutex> l(mu);
  if (h < 0 || h >= int(plans.size()) || !plans[h].live) return kInvalidPlan;
  plans[h].live = false;
  ++destroyed;
  return kSuccess;
}
// For the emulator's checks: plans created / destroyed, transforms run, of them on stream s, and
// calls on a plan while another host thread's call on it was in progress.
void fake_cufft_stats(void* s, long* out) {
  std::lock_guard<std::mutex> l(mu);
  out[0] = created, out[1] = destroyed, out[2] = execs, out[3] = execs_on[s], out[4] = overlaps;
}
}
