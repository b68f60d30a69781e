// Stand-in for thrust::counting_iterator (the emulators, see ../../cub/cub_fake.hpp): a random-access
// iterator whose i-th element is start + i.
#pragma once
#include <cstddef>

namespace thrust {
template <typename T>
class counting_iterator {
 public:
  explicit counting_iterator(T start) : v_(start) {}
  T operator*() const { return v_; }
  T operator[](std::ptrdiff_t i) const { return static_cast<T>(v_ + i); }
  counting_iterator operator+(std::ptrdiff_t i) const { return counting_iterator(static_cast<T>(v_ + i)); }
  counting_iterator& operator++() { return ++v_, *this; }

 private:
  T v_;
};
}  // namespace thrust
