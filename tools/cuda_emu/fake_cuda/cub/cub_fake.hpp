// A stand-in for the CUB calls of cuda/ (radix sorts of keys and of pairs, the segmented key sort,
// DeviceSelect::Flagged), for the emulators (postprocess_emu.cpp, whole/; see run.sh): the same signatures and the two-call temp-storage protocol
// (a first call with d_temp_storage == nullptr only sets temp_storage_bytes, always non-zero; the
// second must pass at least the bytes the first call would give for its sizes, and scribbles all
// of them). Keys sort ascending on bits [begin_bit, end_bit), stably (as a radix sort); keys of
// d_keys_out outside every segment are not written (CUB leaves them undefined). Anything CUB does
// not allow (overlapping buffers, segments out of range or overlapping, bad bit ranges) aborts.
#pragma once
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include <cuda_runtime.h>

namespace emu {
inline long cub_selects = 0;
inline long cub_device_sorts = 0, cub_segmented_sorts = 0, cub_size_queries = 0;

[[noreturn]] inline void cub_fail(const char* what) {
  std::fprintf(stderr, "fake cub: %s\n", what);
  std::abort();
}

template <typename K>
void cub_sort_range(const K* in, K* out, std::int64_t n, int begin_bit, int end_bit) {
  const int bits = int(8 * sizeof(K));
  if (begin_bit < 0 || end_bit > bits || begin_bit >= end_bit) cub_fail("bad begin_bit / end_bit");
  const int width = end_bit - begin_bit;
  const K mask = width == bits ? ~K(0) : ((K(1) << width) - 1);
  std::vector<K> v(in, in + n);
  std::stable_sort(v.begin(), v.end(), [&](K a, K b) { return ((a >> begin_bit) & mask) < ((b >> begin_bit) & mask); });
  std::copy(v.begin(), v.end(), out);
}

inline void cub_check_temp(void* temp, std::size_t given, std::size_t need) {
  if (given < need) cub_fail("temp_storage_bytes smaller than the size query gave");
  std::memset(temp, 0xa5, need);  // the sort owns all of it (AddressSanitizer checks the size)
}

inline void cub_check_disjoint(const void* in, const void* out, std::size_t bytes) {
  const auto a = reinterpret_cast<std::uintptr_t>(in), b = reinterpret_cast<std::uintptr_t>(out);
  if (a < b + bytes && b < a + bytes) cub_fail("d_keys_in and d_keys_out overlap");
}

/// cub's two-call protocol: a call without temp storage only reports `need` (returns false);
/// otherwise checks the stream, the temp storage and that the key buffers (`bytes` each) are
/// disjoint, and returns true: the caller sorts.
inline bool cub_begin(void* temp, std::size_t& temp_bytes, std::size_t need, const void* in, const void* out,
                      std::size_t bytes, cudaStream_t stream) {
  if (temp == nullptr) {
    ++cub_size_queries;
    temp_bytes = need;
    return false;
  }
  on_stream(stream);
  cub_check_temp(temp, temp_bytes, need);
  cub_check_disjoint(in, out, bytes);
  return true;
}
}  // namespace emu

namespace cub {
struct DeviceRadixSort {
  template <typename KeyT, typename NumItemsT>
  static cudaError_t SortKeys(void* d_temp_storage, std::size_t& temp_storage_bytes, const KeyT* d_keys_in,
                              KeyT* d_keys_out, NumItemsT num_items, int begin_bit = 0,
                              int end_bit = int(sizeof(KeyT) * 8), cudaStream_t stream = 0) {
    const std::int64_t n = static_cast<std::int64_t>(num_items);
    if (n < 0) emu::cub_fail("DeviceRadixSort: num_items < 0");
    const std::size_t need = 256 + 2 * sizeof(KeyT) * static_cast<std::size_t>(n);
    if (!emu::cub_begin(d_temp_storage, temp_storage_bytes, need, d_keys_in, d_keys_out,
                        sizeof(KeyT) * static_cast<std::size_t>(n), stream))
      return cudaSuccess;
    ++emu::cub_device_sorts;
    emu::cub_sort_range(d_keys_in, d_keys_out, n, begin_bit, end_bit);
    return cudaSuccess;
  }
  template <typename KeyT, typename ValueT, typename NumItemsT>
  static cudaError_t SortPairs(void* d_temp_storage, std::size_t& temp_storage_bytes, const KeyT* d_keys_in,
                               KeyT* d_keys_out, const ValueT* d_values_in, ValueT* d_values_out, NumItemsT num_items,
                               int begin_bit = 0, int end_bit = int(sizeof(KeyT) * 8), cudaStream_t stream = 0) {
    // the values move with their keys, stably; the value buffers must be disjoint too
    const std::int64_t n = static_cast<std::int64_t>(num_items);
    if (n < 0) emu::cub_fail("DeviceRadixSort: num_items < 0");
    const std::size_t need = 256 + 2 * (sizeof(KeyT) + sizeof(ValueT)) * static_cast<std::size_t>(n);
    if (!emu::cub_begin(d_temp_storage, temp_storage_bytes, need, d_keys_in, d_keys_out,
                        sizeof(KeyT) * static_cast<std::size_t>(n), stream))
      return cudaSuccess;
    emu::cub_check_disjoint(d_values_in, d_values_out, sizeof(ValueT) * static_cast<std::size_t>(n));
    ++emu::cub_device_sorts;
    const int bits = int(8 * sizeof(KeyT));
    if (begin_bit < 0 || end_bit > bits || begin_bit >= end_bit) emu::cub_fail("bad begin_bit / end_bit");
    const int width = end_bit - begin_bit;
    const KeyT mask = width == bits ? ~KeyT(0) : ((KeyT(1) << width) - 1);
    std::vector<std::int64_t> perm(static_cast<std::size_t>(n));
    for (std::int64_t i = 0; i < n; ++i) perm[i] = i;
    std::stable_sort(perm.begin(), perm.end(), [&](std::int64_t a, std::int64_t b) {
      return ((d_keys_in[a] >> begin_bit) & mask) < ((d_keys_in[b] >> begin_bit) & mask);
    });
    for (std::int64_t i = 0; i < n; ++i) d_keys_out[i] = d_keys_in[perm[i]], d_values_out[i] = d_values_in[perm[i]];
    return cudaSuccess;
  }
};

// Selection: d_out[k] = the k-th item of d_in whose flag is non-zero, in order; *d_num_selected_out
// = how many. Writes nothing past the selected items.
struct DeviceSelect {
  template <typename InputIt, typename FlagIt, typename OutputIt, typename NumSelectedIt, typename NumItemsT>
  static cudaError_t Flagged(void* d_temp_storage, std::size_t& temp_storage_bytes, InputIt d_in, FlagIt d_flags,
                             OutputIt d_out, NumSelectedIt d_num_selected_out, NumItemsT num_items,
                             cudaStream_t stream = 0) {
    const std::int64_t n = static_cast<std::int64_t>(num_items);
    if (n < 0) emu::cub_fail("DeviceSelect::Flagged: num_items < 0");
    const std::size_t need = 256 + 8 * static_cast<std::size_t>(n);
    if (d_temp_storage == nullptr) {
      ++emu::cub_size_queries;
      temp_storage_bytes = need;
      return cudaSuccess;
    }
    emu::on_stream(stream);
    emu::cub_check_temp(d_temp_storage, temp_storage_bytes, need);
    ++emu::cub_selects;
    std::int64_t k = 0;
    for (std::int64_t i = 0; i < n; ++i)
      if (d_flags[i]) d_out[k++] = d_in[i];
    *d_num_selected_out = k;
    return cudaSuccess;
  }
};

struct DeviceSegmentedRadixSort {
  template <typename KeyT, typename BeginOffsetIteratorT, typename EndOffsetIteratorT>
  static cudaError_t SortKeys(void* d_temp_storage, std::size_t& temp_storage_bytes, const KeyT* d_keys_in,
                              KeyT* d_keys_out, int num_items, int num_segments, BeginOffsetIteratorT d_begin_offsets,
                              EndOffsetIteratorT d_end_offsets, int begin_bit = 0, int end_bit = int(sizeof(KeyT) * 8),
                              cudaStream_t stream = 0) {
    if (num_items < 0 || num_segments < 0) emu::cub_fail("DeviceSegmentedRadixSort: negative sizes");
    const std::size_t need = 256 + 2 * sizeof(KeyT) * std::size_t(num_items) + 16 * std::size_t(num_segments);
    if (!emu::cub_begin(d_temp_storage, temp_storage_bytes, need, d_keys_in, d_keys_out,
                        sizeof(KeyT) * std::size_t(num_items), stream))
      return cudaSuccess;
    ++emu::cub_segmented_sorts;
    std::vector<std::pair<std::int64_t, std::int64_t>> seg;
    for (int s = 0; s < num_segments; ++s) {
      const std::int64_t b = d_begin_offsets[s], e = d_end_offsets[s];
      if (b < 0 || e > num_items || b > e) emu::cub_fail("segment out of range");
      if (e > b) seg.emplace_back(b, e);
    }
    std::sort(seg.begin(), seg.end());
    for (std::size_t s = 1; s < seg.size(); ++s)
      if (seg[s].first < seg[s - 1].second) emu::cub_fail("segments overlap");
    for (const auto& [b, e] : seg) emu::cub_sort_range(d_keys_in + b, d_keys_out + b, e - b, begin_bit, end_bit);
    return cudaSuccess;
  }
};
}  // namespace cub
