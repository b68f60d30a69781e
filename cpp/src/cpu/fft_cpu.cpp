// SPDX-License-Identifier: Apache-2.0
// FFT plans. A complex length n = p1 p2 ... pk runs k Stockham stages (autosort: no bit
// reversal, ping-pong between the data and a scratch line). Stage s has radix p, previous length l
// and r = n / (l p); viewing its input as [l][p][r] and its output as [p][l][r]:
//   y[j + l t][k] = sum_q w_p^(t q) (w_(l p)^(j q) x[j][q][k]),   w_m = exp(-2 pi i / m),
// so after the last stage y holds the transform in natural order. The innermost loop runs over k
// (contiguous in both buffers).
#include "cpu/fft_cpu.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "cpu/parallel.hpp"
#include "ops/backend.hpp"

namespace foveal::cpu::fft {
namespace {

constexpr double kPi = 3.141592653589793238462643383279502884;

// exp(-2 pi i m / len), from the reduced angle.
template <typename T>
Cx<T> unit_root(std::int64_t m, std::int64_t len) {
  m %= len;
  const double a = -2.0 * kPi * static_cast<double>(m) / static_cast<double>(len);
  return {static_cast<T>(std::cos(a)), static_cast<T>(std::sin(a))};
}

template <typename T>
inline Cx<T> add(Cx<T> a, Cx<T> b) { return {a.re + b.re, a.im + b.im}; }
template <typename T>
inline Cx<T> sub(Cx<T> a, Cx<T> b) { return {a.re - b.re, a.im - b.im}; }
template <typename T>
inline Cx<T> mul(Cx<T> a, Cx<T> b) { return {a.re * b.re - a.im * b.im, a.re * b.im + a.im * b.re}; }
template <typename T>
inline Cx<T> scal(Cx<T> a, T s) { return {a.re * s, a.im * s}; }
template <typename T>
inline Cx<T> conj(Cx<T> a) { return {a.re, -a.im}; }
// Multiplies by -i (forward) or +i (inverse): the sign of the transform's imaginary unit.
template <bool Inv, typename T>
inline Cx<T> rot(Cx<T> a) { return Inv ? Cx<T>{-a.im, a.re} : Cx<T>{a.im, -a.re}; }

template <int P, bool Inv, typename T>
inline void butterfly(Cx<T>* a) {
  if constexpr (P == 2) {
    const Cx<T> t = a[1];
    a[1] = sub(a[0], t);
    a[0] = add(a[0], t);
  } else if constexpr (P == 4) {
    const Cx<T> s02 = add(a[0], a[2]), d02 = sub(a[0], a[2]);
    const Cx<T> s13 = add(a[1], a[3]), d13 = rot<Inv>(sub(a[1], a[3]));
    a[0] = add(s02, s13);
    a[2] = sub(s02, s13);
    a[1] = add(d02, d13);
    a[3] = sub(d02, d13);
  } else if constexpr (P == 3) {
    const T h = T(0.5), c = T(0.866025403784438646763723170752936183);  // sin(2 pi / 3)
    const Cx<T> s = add(a[1], a[2]);
    const Cx<T> d = rot<Inv>(scal(sub(a[1], a[2]), c));
    const Cx<T> b = sub(a[0], scal(s, h));
    a[0] = add(a[0], s);
    a[1] = add(b, d);
    a[2] = sub(b, d);
  } else if constexpr (P == 5) {
    const T c1 = T(0.309016994374947424102293417182819059);   // cos(2 pi / 5)
    const T c2 = T(-0.809016994374947424102293417182819059);  // cos(4 pi / 5)
    const T s1 = T(0.951056516295153572116439333379382143);   // sin(2 pi / 5)
    const T s2 = T(0.587785252292473129168705954639072769);   // sin(4 pi / 5)
    const Cx<T> s14 = add(a[1], a[4]), d14 = sub(a[1], a[4]);
    const Cx<T> s23 = add(a[2], a[3]), d23 = sub(a[2], a[3]);
    const Cx<T> b1 = add(a[0], add(scal(s14, c1), scal(s23, c2)));
    const Cx<T> b2 = add(a[0], add(scal(s14, c2), scal(s23, c1)));
    const Cx<T> e1 = rot<Inv>(add(scal(d14, s1), scal(d23, s2)));
    const Cx<T> e2 = rot<Inv>(sub(scal(d14, s2), scal(d23, s1)));
    a[0] = add(a[0], add(s14, s23));
    a[1] = add(b1, e1);
    a[4] = sub(b1, e1);
    a[2] = add(b2, e2);
    a[3] = sub(b2, e2);
  }
}

template <int P, bool Inv, typename T>
void stage(const Cx<T>* __restrict x, Cx<T>* __restrict y, std::int64_t l, std::int64_t r, const Cx<T>* tw) {
  for (std::int64_t j = 0; j < l; ++j) {
    Cx<T> w[P];
    w[0] = {T(1), T(0)};
    for (int q = 1; q < P; ++q) w[q] = Inv ? conj(tw[j * (P - 1) + q - 1]) : tw[j * (P - 1) + q - 1];
    const Cx<T>* xj = x + j * P * r;
    if (j == 0) {
      for (std::int64_t k = 0; k < r; ++k) {
        Cx<T> a[P];
        for (int q = 0; q < P; ++q) a[q] = xj[q * r + k];
        butterfly<P, Inv>(a);
        for (int t = 0; t < P; ++t) y[(j + l * t) * r + k] = a[t];
      }
    } else {
      for (std::int64_t k = 0; k < r; ++k) {
        Cx<T> a[P];
        a[0] = xj[k];
        for (int q = 1; q < P; ++q) a[q] = mul(xj[q * r + k], w[q]);
        butterfly<P, Inv>(a);
        for (int t = 0; t < P; ++t) y[(j + l * t) * r + k] = a[t];
      }
    }
  }
}

// The same stage on V interleaved signals (element e of signal b at e * V + b).
template <int P, bool Inv, typename T>
void stage_many(const Cx<T>* __restrict x, Cx<T>* __restrict y, std::int64_t l, std::int64_t r, std::int64_t V,
                const Cx<T>* tw) {
  const std::int64_t in_q = r * V, out_t = l * r * V;
  for (std::int64_t j = 0; j < l; ++j) {
    Cx<T> w[P];
    w[0] = {T(1), T(0)};
    for (int q = 1; q < P; ++q) w[q] = Inv ? conj(tw[j * (P - 1) + q - 1]) : tw[j * (P - 1) + q - 1];
    for (std::int64_t k = 0; k < r; ++k) {
      const Cx<T>* xk = x + (j * P * r + k) * V;
      Cx<T>* yk = y + (j * r + k) * V;
      if (j == 0) {
        for (std::int64_t b = 0; b < V; ++b) {
          Cx<T> a[P];
          for (int q = 0; q < P; ++q) a[q] = xk[q * in_q + b];
          butterfly<P, Inv>(a);
          for (int t = 0; t < P; ++t) yk[t * out_t + b] = a[t];
        }
      } else {
        for (std::int64_t b = 0; b < V; ++b) {
          Cx<T> a[P];
          a[0] = xk[b];
          for (int q = 1; q < P; ++q) a[q] = mul(xk[q * in_q + b], w[q]);
          butterfly<P, Inv>(a);
          for (int t = 0; t < P; ++t) yk[t * out_t + b] = a[t];
        }
      }
    }
  }
}

// Odd prime p: pairs (q, p - q) share their cosines, y_t and y_(p-t) share the sums.
template <bool Inv, typename T>
void stage_generic(const Cx<T>* __restrict x, Cx<T>* __restrict y, std::int64_t l, std::int64_t r, int p,
                   const Cx<T>* tw, const Cx<T>* roots) {
  const int h = (p - 1) / 2;
  Cx<T> a[kMaxGenericRadix], s[kMaxGenericRadix], d[kMaxGenericRadix];
  for (std::int64_t j = 0; j < l; ++j) {
    const Cx<T>* xj = x + j * p * r;
    const Cx<T>* wj = tw + j * (p - 1);
    for (std::int64_t k = 0; k < r; ++k) {
      a[0] = xj[k];
      for (int q = 1; q < p; ++q) a[q] = j ? mul(xj[q * r + k], Inv ? conj(wj[q - 1]) : wj[q - 1]) : xj[q * r + k];
      Cx<T> y0 = a[0];
      for (int q = 1; q <= h; ++q) {
        s[q] = add(a[q], a[p - q]);
        d[q] = sub(a[q], a[p - q]);
        y0 = add(y0, s[q]);
      }
      y[j * r + k] = y0;
      for (int t = 1; t <= h; ++t) {
        Cx<T> b = a[0], e = {T(0), T(0)};
        for (int q = 1; q <= h; ++q) {
          const Cx<T> w = roots[(static_cast<std::int64_t>(t) * q) % p];  // cos - i sin
          b = add(b, scal(s[q], w.re));
          e = add(e, scal(d[q], -w.im));
        }
        e = rot<Inv>(e);
        y[(j + l * t) * r + k] = add(b, e);
        y[(j + l * (p - t)) * r + k] = sub(b, e);
      }
    }
  }
}

template <typename T>
std::vector<Cx<T>>& tls_buffer(int which, std::size_t n) {
  static thread_local std::vector<Cx<T>> bufs[2];
  if (bufs[which].size() < n) bufs[which].resize(n);
  return bufs[which];
}

std::int64_t product(const std::vector<std::int64_t>& v, std::size_t b, std::size_t e) {
  std::int64_t p = 1;
  for (std::size_t i = b; i < e; ++i) p *= v[i];
  return p;
}

// Below this many elements per call the work stays on the calling thread.
constexpr std::int64_t kSerialElements = 1 << 14;

}  // namespace

std::int64_t good_size(std::int64_t n, bool even) {
  if (n <= 1) return even ? 2 : 1;
  std::int64_t best = std::int64_t(1) << 62;
  for (std::int64_t f5 = 1; f5 < best; f5 *= 5)
    for (std::int64_t f35 = f5; f35 < best; f35 *= 3) {
      std::int64_t v = f35;
      while (v < n || (even && v % 2)) v *= 2;
      best = std::min(best, v);
    }
  return best;
}

template <typename T>
Plan<T>::Plan(std::int64_t n) : n_(n) {
  std::vector<int> radix;
  std::int64_t m = n;
  while (m % 4 == 0) radix.push_back(4), m /= 4;
  if (m % 2 == 0) radix.push_back(2), m /= 2;
  for (int p : {3, 5})
    while (m % p == 0) radix.push_back(p), m /= p;
  for (std::int64_t p = 7; m > 1 && p <= kMaxGenericRadix; p += 2)  // composites never divide m here
    while (m % p == 0) radix.push_back(static_cast<int>(p)), m /= p;
  if (m > 1) {
    // Bluestein: X_k = c_k sum_j (x_j c_j) conj(c_(k-j)), c_j = exp(-i pi j^2 / n).
    const std::int64_t len = good_size(2 * n - 1);
    inner_ = std::make_unique<Plan>(len);
    chirp_.resize(static_cast<std::size_t>(n));
    for (std::int64_t j = 0; j < n; ++j) {
      const std::int64_t q = static_cast<std::int64_t>((static_cast<unsigned __int128>(j) * j) % (2 * n));
      const double a = -kPi * static_cast<double>(q) / static_cast<double>(n);
      chirp_[j] = {static_cast<T>(std::cos(a)), static_cast<T>(std::sin(a))};
    }
    kernel_.assign(static_cast<std::size_t>(len), Cx<T>{T(0), T(0)});
    kernel_[0] = conj(chirp_[0]);
    for (std::int64_t j = 1; j < n; ++j) kernel_[j] = kernel_[len - j] = conj(chirp_[j]);
    std::vector<Cx<T>> scratch(static_cast<std::size_t>(inner_->scratch_size()));
    inner_->execute(kernel_.data(), scratch.data(), false, T(1) / static_cast<T>(len));
    return;
  }
  std::int64_t l = 1;
  for (int p : radix) {
    Stage s{p, l, n / (l * p), static_cast<std::int64_t>(tw_.size())};
    for (std::int64_t j = 0; j < l; ++j)
      for (int q = 1; q < p; ++q) tw_.push_back(unit_root<T>(j * q, l * p));
    if (p > 5 && roots_[p].empty())
      for (int i = 0; i < p; ++i) roots_[p].push_back(unit_root<T>(i, p));
    stages_.push_back(s);
    l *= p;
  }
  generic_free_ = std::all_of(radix.begin(), radix.end(), [](int p) { return p <= 5; });
}

template <typename T>
Plan<T>::~Plan() = default;

template <typename T>
std::int64_t Plan<T>::scratch_size() const {
  return inner_ ? 2 * inner_->size() : n_;
}

template <typename T>
void Plan<T>::execute(Cx<T>* data, Cx<T>* scratch, bool inverse, T scale) const {
  if (inner_) {
    bluestein(data, scratch, inverse, scale);
  } else {
    stockham(data, scratch, inverse, scale);
  }
}

template <typename T>
std::int64_t Plan<T>::scratch_size_many(std::int64_t v) const {
  return inner_ || !generic_free_ ? n_ + scratch_size() : n_ * v;
}

template <typename T>
void Plan<T>::execute_many(Cx<T>* data, Cx<T>* scratch, std::int64_t v, bool inverse, T scale) const {
  if (inner_ || !generic_free_) {  // one signal at a time through a line buffer
    Cx<T>* line = scratch;
    for (std::int64_t b = 0; b < v; ++b) {
      for (std::int64_t i = 0; i < n_; ++i) line[i] = data[i * v + b];
      execute(line, scratch + n_, inverse, scale);
      for (std::int64_t i = 0; i < n_; ++i) data[i * v + b] = line[i];
    }
    return;
  }
  Cx<T>* src = data;
  Cx<T>* dst = scratch;
  for (const Stage& s : stages_) {
    const Cx<T>* tw = tw_.data() + s.tw;
    switch (s.p) {
      case 2: inverse ? stage_many<2, true>(src, dst, s.l, s.r, v, tw) : stage_many<2, false>(src, dst, s.l, s.r, v, tw); break;
      case 3: inverse ? stage_many<3, true>(src, dst, s.l, s.r, v, tw) : stage_many<3, false>(src, dst, s.l, s.r, v, tw); break;
      case 4: inverse ? stage_many<4, true>(src, dst, s.l, s.r, v, tw) : stage_many<4, false>(src, dst, s.l, s.r, v, tw); break;
      default: inverse ? stage_many<5, true>(src, dst, s.l, s.r, v, tw) : stage_many<5, false>(src, dst, s.l, s.r, v, tw);
    }
    std::swap(src, dst);
  }
  const std::int64_t total = n_ * v;
  if (src != data) {
    for (std::int64_t i = 0; i < total; ++i) data[i] = scal(src[i], scale);
  } else if (scale != T(1)) {
    for (std::int64_t i = 0; i < total; ++i) data[i] = scal(data[i], scale);
  }
}

template <typename T>
void Plan<T>::stockham(Cx<T>* data, Cx<T>* scratch, bool inverse, T scale) const {
  Cx<T>* src = data;
  Cx<T>* dst = scratch;
  for (const Stage& s : stages_) {
    const Cx<T>* tw = tw_.data() + s.tw;
    switch (s.p) {
      case 2: inverse ? stage<2, true>(src, dst, s.l, s.r, tw) : stage<2, false>(src, dst, s.l, s.r, tw); break;
      case 3: inverse ? stage<3, true>(src, dst, s.l, s.r, tw) : stage<3, false>(src, dst, s.l, s.r, tw); break;
      case 4: inverse ? stage<4, true>(src, dst, s.l, s.r, tw) : stage<4, false>(src, dst, s.l, s.r, tw); break;
      case 5: inverse ? stage<5, true>(src, dst, s.l, s.r, tw) : stage<5, false>(src, dst, s.l, s.r, tw); break;
      default:
        inverse ? stage_generic<true>(src, dst, s.l, s.r, s.p, tw, roots_[s.p].data())
                : stage_generic<false>(src, dst, s.l, s.r, s.p, tw, roots_[s.p].data());
    }
    std::swap(src, dst);
  }
  if (src != data) {
    for (std::int64_t i = 0; i < n_; ++i) data[i] = scal(src[i], scale);
  } else if (scale != T(1)) {
    for (std::int64_t i = 0; i < n_; ++i) data[i] = scal(data[i], scale);
  }
}

template <typename T>
void Plan<T>::bluestein(Cx<T>* data, Cx<T>* scratch, bool inverse, T scale) const {
  // The inverse transform is conj(forward(conj(x))).
  const std::int64_t len = inner_->size();
  Cx<T>* a = scratch;
  for (std::int64_t j = 0; j < n_; ++j) a[j] = mul(inverse ? conj(data[j]) : data[j], chirp_[j]);
  std::fill(a + n_, a + len, Cx<T>{T(0), T(0)});
  inner_->execute(a, scratch + len, false);
  for (std::int64_t i = 0; i < len; ++i) a[i] = mul(a[i], kernel_[i]);
  inner_->execute(a, scratch + len, true);
  for (std::int64_t k = 0; k < n_; ++k) {
    const Cx<T> v = scal(mul(a[k], chirp_[k]), scale);
    data[k] = inverse ? conj(v) : v;
  }
}

template <typename T>
RealPlan<T>::RealPlan(std::int64_t n) : n_(n) {
  if (n % 2 == 0) {
    plan_ = std::make_unique<Plan<T>>(n / 2);
    for (std::int64_t k = 0; k <= n / 2; ++k) tw_.push_back(unit_root<T>(k, n));
  } else {
    plan_ = std::make_unique<Plan<T>>(n);
  }
}

template <typename T>
std::int64_t RealPlan<T>::scratch_size() const {
  return plan_->size() + plan_->scratch_size();
}

template <typename T>
void RealPlan<T>::forward(const T* in, Cx<T>* out, Cx<T>* scratch, T scale) const {
  const std::int64_t m = plan_->size();
  Cx<T>* z = scratch;
  if (n_ % 2) {
    for (std::int64_t j = 0; j < m; ++j) z[j] = {in[j], T(0)};
    plan_->execute(z, scratch + m, false);
    for (std::int64_t k = 0; k <= n_ / 2; ++k) out[k] = scal(z[k], scale);
    return;
  }
  // z_j = x_2j + i x_2j+1; E_k = (Z_k + conj Z_(m-k)) / 2, O_k = (Z_k - conj Z_(m-k)) / 2i,
  // X_k = E_k + w_n^k O_k for k <= m (indices of Z mod m).
  for (std::int64_t j = 0; j < m; ++j) z[j] = {in[2 * j], in[2 * j + 1]};
  plan_->execute(z, scratch + m, false);
  const T half = T(0.5) * scale;
  for (std::int64_t k = 0; k <= m; ++k) {
    const Cx<T> zk = z[k == m ? 0 : k];
    const Cx<T> zc = conj(z[k == 0 ? 0 : m - k]);
    const Cx<T> e = add(zk, zc);
    const Cx<T> o = rot<false>(sub(zk, zc));
    out[k] = scal(add(e, mul(tw_[k], o)), half);
  }
}

template <typename T>
void RealPlan<T>::backward(const Cx<T>* in, T* out, Cx<T>* scratch, T scale) const {
  const std::int64_t m = plan_->size();
  Cx<T>* z = scratch;
  if (n_ % 2) {
    z[0] = {in[0].re, T(0)};
    for (std::int64_t k = 1; k <= n_ / 2; ++k) {
      z[k] = in[k];
      z[n_ - k] = conj(in[k]);
    }
    plan_->execute(z, scratch + m, true);
    for (std::int64_t j = 0; j < n_; ++j) out[j] = z[j].re * scale;
    return;
  }
  // Z_k = (X_k + conj X_(m-k)) + i w_n^-k (X_k - conj X_(m-k)); its inverse length-m transform is
  // n (x_2j + i x_2j+1). Bins 0 and m count as real.
  for (std::int64_t k = 0; k < m; ++k) {
    Cx<T> xk = in[k], xc = conj(in[m - k]);
    if (k == 0) xk.im = T(0), xc.im = T(0);
    const Cx<T> s = add(xk, xc);
    const Cx<T> d = rot<true>(mul(conj(tw_[k]), sub(xk, xc)));
    z[k] = add(s, d);
  }
  plan_->execute(z, scratch + m, true);
  for (std::int64_t j = 0; j < m; ++j) {
    out[2 * j] = z[j].re * scale;
    out[2 * j + 1] = z[j].im * scale;
  }
}

template <typename T>
std::int64_t RealPlan<T>::scratch_size_many(std::int64_t v) const {
  if (n_ % 2 || !plan_->interleaves()) return scratch_size();
  return plan_->size() * v + plan_->scratch_size_many(v);
}

template <typename T>
void RealPlan<T>::forward_many(const T* in, Cx<T>* out, std::int64_t v, Cx<T>* scratch, T scale) const {
  const std::int64_t m = plan_->size();
  if (n_ % 2 || !plan_->interleaves()) {
    for (std::int64_t b = 0; b < v; ++b) forward(in + b * n_, out + b * (n_ / 2 + 1), scratch, scale);
    return;
  }
  Cx<T>* z = scratch;  // z[j][b]
  for (std::int64_t b = 0; b < v; ++b) {
    const T* x = in + b * n_;
    for (std::int64_t j = 0; j < m; ++j) z[j * v + b] = {x[2 * j], x[2 * j + 1]};
  }
  plan_->execute_many(z, scratch + m * v, v, false);
  const T half = T(0.5) * scale;
  for (std::int64_t k = 0; k <= m; ++k) {
    const Cx<T>* zk = z + (k == m ? 0 : k) * v;
    const Cx<T>* zm = z + (k == 0 ? 0 : m - k) * v;
    const Cx<T> w = tw_[k];
    for (std::int64_t b = 0; b < v; ++b) {
      const Cx<T> zc = conj(zm[b]);
      const Cx<T> e = add(zk[b], zc);
      const Cx<T> o = rot<false>(sub(zk[b], zc));
      out[b * (m + 1) + k] = scal(add(e, mul(w, o)), half);
    }
  }
}

template <typename T>
void RealPlan<T>::backward_many(const Cx<T>* in, T* out, std::int64_t v, Cx<T>* scratch, T scale) const {
  const std::int64_t m = plan_->size();
  if (n_ % 2 || !plan_->interleaves()) {
    for (std::int64_t b = 0; b < v; ++b) backward(in + b * (n_ / 2 + 1), out + b * n_, scratch, scale);
    return;
  }
  Cx<T>* z = scratch;
  for (std::int64_t k = 0; k < m; ++k) {
    const Cx<T> w = conj(tw_[k]);
    for (std::int64_t b = 0; b < v; ++b) {
      const Cx<T>* x = in + b * (m + 1);
      Cx<T> xk = x[k], xc = conj(x[m - k]);
      if (k == 0) xk.im = T(0), xc.im = T(0);
      z[k * v + b] = add(add(xk, xc), rot<true>(mul(w, sub(xk, xc))));
    }
  }
  plan_->execute_many(z, scratch + m * v, v, true);
  for (std::int64_t b = 0; b < v; ++b) {
    T* y = out + b * n_;
    for (std::int64_t j = 0; j < m; ++j) {
      y[2 * j] = z[j * v + b].re * scale;
      y[2 * j + 1] = z[j * v + b].im * scale;
    }
  }
}

template <typename T>
PlanNd<T>::PlanNd(const std::vector<std::int64_t>& shape, int naxes, bool real)
    : shape_(shape), cshape_(shape), naxes_(naxes), real_(real) {
  const int d = static_cast<int>(shape.size());
  if (real) {
    cshape_[d - 1] = shape[d - 1] / 2 + 1;
    rplan_ = std::make_unique<RealPlan<T>>(shape[d - 1]);
  }
  plans_.resize(static_cast<std::size_t>(d));
  for (int a = d - naxes; a < d; ++a) {
    if (real && a == d - 1) continue;
    plans_[a] = std::make_unique<Plan<T>>(cshape_[a]);
  }
}

template <typename T>
PlanNd<T>::~PlanNd() = default;

template <typename T>
std::int64_t PlanNd<T>::complex_size() const {
  return product(cshape_, 0, cshape_.size());
}

template <typename T>
std::int64_t PlanNd<T>::transform_size() const {
  return product(shape_, shape_.size() - static_cast<std::size_t>(naxes_), shape_.size());
}

// Axes [first, last) of the complex array, last to first; `scale` applied by the final one.
template <typename T>
void PlanNd<T>::complex_axes(Cx<T>* data, int first, int last, bool inverse, T scale, int num_threads) const {
  const std::int64_t total = complex_size();
  if (total == 0) return;
  const std::int64_t min_par = total >= kSerialElements ? 2 : (std::int64_t(1) << 62);
  int final_axis = -1;  // the last axis processed (length > 1) applies the scale
  for (int a = first; a < last && final_axis < 0; ++a)
    if (cshape_[a] > 1) final_axis = a;
  if (final_axis < 0 && scale != T(1) && first < last) {
    parallel_for(0, total, num_threads, total >= kSerialElements ? 2 : total + 1,
                 [&](std::int64_t i) { data[i] = scal(data[i], scale); });
    return;
  }
  for (int a = last - 1; a >= first; --a) {
    if (cshape_[a] == 1) continue;
    const Plan<T>& plan = *plans_[a];
    const T s = a == final_axis ? scale : T(1);
    const std::int64_t n = cshape_[a];
    const std::int64_t outer = product(cshape_, 0, a), inner = product(cshape_, a + 1, cshape_.size());
    const std::size_t need = static_cast<std::size_t>(plan.scratch_size());
    if (inner == 1 && !plan.interleaves()) {
      parallel_for(0, outer, num_threads, min_par, [&](std::int64_t o) {
        plan.execute(data + o * n, tls_buffer<T>(0, need).data(), inverse, s);
      });
      continue;
    }
    if (inner == 1) {  // contiguous lines: transpose blocks of B lines in, transform together, back
      constexpr std::int64_t B = 16;
      const std::int64_t nb = (outer + B - 1) / B;
      parallel_for(0, nb, num_threads, min_par, [&](std::int64_t task) {
        const std::int64_t o0 = task * B, bw = std::min(B, outer - o0);
        Cx<T>* buf = tls_buffer<T>(1, static_cast<std::size_t>(B * n)).data();
        Cx<T>* scr = tls_buffer<T>(0, static_cast<std::size_t>(plan.scratch_size_many(B))).data();
        Cx<T>* base = data + o0 * n;
        for (std::int64_t b = 0; b < bw; ++b)
          for (std::int64_t i = 0; i < n; ++i) buf[i * bw + b] = base[b * n + i];
        plan.execute_many(buf, scr, bw, inverse, s);
        for (std::int64_t b = 0; b < bw; ++b)
          for (std::int64_t i = 0; i < n; ++i) base[b * n + i] = buf[i * bw + b];
      });
      continue;
    }
    // Strided lines: copy a block of up to B neighbouring columns (B contiguous values per row),
    // transform them together (innermost loops over the columns), copy back.
    constexpr std::int64_t B = 16;
    const std::int64_t nb = (inner + B - 1) / B;
    parallel_for(0, outer * nb, num_threads, min_par, [&](std::int64_t task) {
      const std::int64_t o = task / nb, c0 = (task % nb) * B, bw = std::min(B, inner - c0);
      Cx<T>* buf = tls_buffer<T>(1, static_cast<std::size_t>(B * n)).data();
      Cx<T>* scr = tls_buffer<T>(0, static_cast<std::size_t>(plan.scratch_size_many(B))).data();
      Cx<T>* base = data + o * n * inner + c0;
      for (std::int64_t i = 0; i < n; ++i) std::copy(base + i * inner, base + i * inner + bw, buf + i * bw);
      plan.execute_many(buf, scr, bw, inverse, s);
      for (std::int64_t i = 0; i < n; ++i) std::copy(buf + i * bw, buf + (i + 1) * bw, base + i * inner);
    });
  }
}

template <typename T>
void PlanNd<T>::c2c(Cx<T>* data, bool inverse, T scale, int num_threads) const {
  const int d = static_cast<int>(shape_.size());
  complex_axes(data, d - naxes_, d, inverse, scale, num_threads);
}

template <typename T>
void PlanNd<T>::r2c(const T* in, Cx<T>* out, T scale, int num_threads) const {
  const int d = static_cast<int>(shape_.size());
  const std::int64_t n = shape_[d - 1], h = cshape_[d - 1], lines = product(shape_, 0, d - 1);
  if (lines * n == 0) return;
  constexpr std::int64_t B = 16;
  const std::size_t need = static_cast<std::size_t>(rplan_->scratch_size_many(B));
  const T s = naxes_ == 1 ? scale : T(1);
  parallel_for(0, (lines + B - 1) / B, num_threads, lines * n >= kSerialElements ? 2 : (std::int64_t(1) << 62),
               [&](std::int64_t t) {
                 const std::int64_t l0 = t * B, bw = std::min(B, lines - l0);
                 rplan_->forward_many(in + l0 * n, out + l0 * h, bw, tls_buffer<T>(0, need).data(), s);
               });
  complex_axes(out, d - naxes_, d - 1, false, scale, num_threads);
}

template <typename T>
void PlanNd<T>::c2r(Cx<T>* in, T* out, T scale, int num_threads) const {
  const int d = static_cast<int>(shape_.size());
  const std::int64_t n = shape_[d - 1], h = cshape_[d - 1], lines = product(shape_, 0, d - 1);
  if (lines * n == 0) return;
  complex_axes(in, d - naxes_, d - 1, true, T(1), num_threads);
  constexpr std::int64_t B = 16;
  const std::size_t need = static_cast<std::size_t>(rplan_->scratch_size_many(B));
  parallel_for(0, (lines + B - 1) / B, num_threads, lines * n >= kSerialElements ? 2 : (std::int64_t(1) << 62),
               [&](std::int64_t t) {
                 const std::int64_t l0 = t * B, bw = std::min(B, lines - l0);
                 rplan_->backward_many(in + l0 * h, out + l0 * n, bw, tls_buffer<T>(0, need).data(), scale);
               });
}

template class Plan<float>;
template class Plan<double>;
template class RealPlan<float>;
template class RealPlan<double>;
template class PlanNd<float>;
template class PlanNd<double>;

}  // namespace foveal::cpu::fft

// Entry points of the public fftn / ifftn / rfftn / irfftn (ops/fft.cpp validated the arguments).
namespace foveal::cpu {
namespace {

template <typename T>
T norm_scale(FftNorm norm, bool forward, std::int64_t n) {
  if (norm == FftNorm::Ortho) return static_cast<T>(1.0 / std::sqrt(static_cast<double>(n)));
  const bool divide = forward ? norm == FftNorm::Forward : norm == FftNorm::Backward;
  return divide ? static_cast<T>(1.0 / static_cast<double>(n)) : T(1);
}

template <typename T>
void c2c_impl(ConstTensorView in, TensorView out, const Shape& shape, int naxes, bool inverse, FftNorm norm,
              int threads) {
  const std::vector<std::int64_t> s(shape.data(), shape.data() + shape.ndim());
  const fft::PlanNd<T> plan(s, naxes, false);
  auto* o = reinterpret_cast<fft::Cx<T>*>(out.data_as<T>());
  const T* i = in.data_as<T>();
  if (static_cast<const void*>(i) != static_cast<const void*>(o) && in.numel() > 0)
    std::memcpy(o, i, sizeof(T) * static_cast<std::size_t>(in.numel()));
  plan.c2c(o, inverse, norm_scale<T>(norm, !inverse, plan.transform_size()), threads);
}

template <typename T>
void r2c_impl(ConstTensorView in, TensorView out, const Shape& shape, int naxes, FftNorm norm, int threads) {
  const std::vector<std::int64_t> s(shape.data(), shape.data() + shape.ndim());
  const fft::PlanNd<T> plan(s, naxes, true);
  plan.r2c(in.data_as<T>(), reinterpret_cast<fft::Cx<T>*>(out.data_as<T>()),
           norm_scale<T>(norm, true, plan.transform_size()), threads);
}

template <typename T>
void c2r_impl(ConstTensorView in, TensorView out, const Shape& shape, int naxes, FftNorm norm, int threads) {
  const std::vector<std::int64_t> s(shape.data(), shape.data() + shape.ndim());
  const fft::PlanNd<T> plan(s, naxes, true);
  const T* i = in.data_as<T>();
  std::vector<fft::Cx<T>> work(reinterpret_cast<const fft::Cx<T>*>(i),
                               reinterpret_cast<const fft::Cx<T>*>(i) + in.numel() / 2);  // `in` stays intact
  plan.c2r(work.data(), out.data_as<T>(), norm_scale<T>(norm, false, plan.transform_size()), threads);
}

}  // namespace

void fft_c2c(ConstTensorView in, TensorView out, const Shape& shape, int naxes, bool inverse, FftNorm norm,
             const ExecContext& ctx) {
  if (in.dtype() == DType::Float32) return c2c_impl<float>(in, out, shape, naxes, inverse, norm, ctx.num_threads);
  c2c_impl<double>(in, out, shape, naxes, inverse, norm, ctx.num_threads);
}

void fft_r2c(ConstTensorView in, TensorView out, const Shape& shape, int naxes, FftNorm norm, const ExecContext& ctx) {
  if (in.dtype() == DType::Float32) return r2c_impl<float>(in, out, shape, naxes, norm, ctx.num_threads);
  r2c_impl<double>(in, out, shape, naxes, norm, ctx.num_threads);
}

void fft_c2r(ConstTensorView in, TensorView out, const Shape& shape, int naxes, FftNorm norm, const ExecContext& ctx) {
  if (in.dtype() == DType::Float32) return c2r_impl<float>(in, out, shape, naxes, norm, ctx.num_threads);
  c2r_impl<double>(in, out, shape, naxes, norm, ctx.num_threads);
}

}  // namespace foveal::cpu
