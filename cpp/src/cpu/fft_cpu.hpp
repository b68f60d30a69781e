// SPDX-License-Identifier: Apache-2.0
// FFT on the CPU: 1-D complex and real plans and an n-D plan over the last axes of an array.
// Transforms are unnormalised (forward sign -1, inverse +1) and then multiplied by `scale`.
// Complex values are Cx<T> (re, im), layout-compatible with std::complex<T> and numpy's complex.
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

namespace foveal::cpu::fft {

template <typename T>
struct Cx {
  T re, im;
};

/// Largest prime handled as one Stockham stage by the O(p) butterfly; a length with a larger
/// prime factor runs Bluestein's chirp-z transform on a 5-smooth length >= 2n - 1.
constexpr std::int64_t kMaxGenericRadix = 61;

/// Smallest 5-smooth integer (2^a 3^b 5^c) >= n; with `even`, the smallest even one.
std::int64_t good_size(std::int64_t n, bool even = false);

/// Complex 1-D transform of any length n >= 1: mixed radix 4/2/3/5 Stockham autosort stages,
/// other primes <= kMaxGenericRadix as a direct butterfly, larger primes by Bluestein.
/// Twiddles are computed in double once, at construction. A plan is immutable: one plan serves
/// any number of threads, each with its own scratch.
template <typename T>
class Plan {
 public:
  explicit Plan(std::int64_t n);
  ~Plan();
  Plan(const Plan&) = delete;
  Plan& operator=(const Plan&) = delete;
  std::int64_t size() const { return n_; }
  /// Cx<T> elements of scratch `execute` needs.
  std::int64_t scratch_size() const;
  /// Transforms `n` contiguous values in place (inverse: sign +1), then multiplies by `scale`.
  void execute(Cx<T>* data, Cx<T>* scratch, bool inverse, T scale = T(1)) const;
  /// Cx<T> elements of scratch `execute_many` needs for `v` interleaved signals.
  std::int64_t scratch_size_many(std::int64_t v) const;
  /// Transforms `v` interleaved signals in place: element i of signal b at data[i * v + b] (a block
  /// of columns of a row-major array); the innermost loops run over b.
  void execute_many(Cx<T>* data, Cx<T>* scratch, std::int64_t v, bool inverse, T scale = T(1)) const;

 private:
  struct Stage {
    int p;
    std::int64_t l, r, tw;  // previous length, remaining length / p, offset into tw_
  };
  void stockham(Cx<T>* data, Cx<T>* scratch, bool inverse, T scale) const;
  void bluestein(Cx<T>* data, Cx<T>* scratch, bool inverse, T scale) const;

  std::int64_t n_;
  bool generic_free_ = true;  // every stage has radix <= 5 (execute_many runs them interleaved)

 public:
  /// execute_many runs the stages interleaved (else one signal at a time).
  bool interleaves() const { return !inner_ && generic_free_; }

 private:
  std::vector<Stage> stages_;
  std::vector<Cx<T>> tw_;  // stage s, j < l, 1 <= q < p: exp(-2 pi i j q / (l p)) at tw + j (p-1) + q-1
  std::vector<Cx<T>> roots_[kMaxGenericRadix + 1];  // generic radix p: exp(-2 pi i m / p), m < p
  std::unique_ptr<Plan> inner_;                      // Bluestein: the 5-smooth plan of length m
  std::vector<Cx<T>> chirp_;                         // exp(-i pi j^2 / n), j < n
  std::vector<Cx<T>> kernel_;                        // transform of the conjugate chirp, / m
};

/// Real 1-D transform of length n: forward n reals -> n/2+1 complex, backward the reverse (the
/// imaginary parts of bin 0 and, for even n, bin n/2 are ignored, as numpy's irfft does). Even n
/// packs the signal into a complex one of length n/2.
template <typename T>
class RealPlan {
 public:
  explicit RealPlan(std::int64_t n);
  std::int64_t size() const { return n_; }
  std::int64_t scratch_size() const;
  void forward(const T* in, Cx<T>* out, Cx<T>* scratch, T scale = T(1)) const;
  void backward(const Cx<T>* in, T* out, Cx<T>* scratch, T scale = T(1)) const;
  /// The same on `v` consecutive rows (n reals, n / 2 + 1 complex each), transformed together.
  std::int64_t scratch_size_many(std::int64_t v) const;
  void forward_many(const T* in, Cx<T>* out, std::int64_t v, Cx<T>* scratch, T scale = T(1)) const;
  void backward_many(const Cx<T>* in, T* out, std::int64_t v, Cx<T>* scratch, T scale = T(1)) const;

 private:
  std::int64_t n_;
  std::unique_ptr<Plan<T>> plan_;  // length n/2 (even n) or n
  std::vector<Cx<T>> tw_;          // even n: exp(-2 pi i k / n), k <= n/2
};

/// Transforms over the last `naxes` axes of a C-contiguous array of shape `shape` (the leading
/// axes are a batch). For real transforms `shape` is the real array's; the complex one has
/// shape[-1] / 2 + 1 in its last axis. Lines run in parallel (cpu/parallel.hpp).
template <typename T>
class PlanNd {
 public:
  PlanNd(const std::vector<std::int64_t>& shape, int naxes, bool real);
  ~PlanNd();
  /// Elements of the complex array (the half spectrum for a real plan).
  std::int64_t complex_size() const;
  /// Product of the transformed (real) lengths.
  std::int64_t transform_size() const;
  void c2c(Cx<T>* data, bool inverse, T scale, int num_threads) const;
  void r2c(const T* in, Cx<T>* out, T scale, int num_threads) const;
  /// Inverse real transform; overwrites `in` (the half spectrum) as its work space.
  void c2r(Cx<T>* in, T* out, T scale, int num_threads) const;

 private:
  struct Axis;
  void complex_axes(Cx<T>* data, int first, int last, bool inverse, T scale, int num_threads) const;
  std::vector<std::int64_t> shape_, cshape_;
  int naxes_;
  bool real_;
  std::vector<std::unique_ptr<Plan<T>>> plans_;  // per transformed axis (complex lengths)
  std::unique_ptr<RealPlan<T>> rplan_;
};

}  // namespace foveal::cpu::fft
