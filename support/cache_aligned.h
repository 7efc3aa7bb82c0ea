// An allocator for vectors the compiled code sweeps with 64-byte vector
// loads and stores (batch columns, per-row results). With malloc's 16-byte
// alignment a column's cache-line offset depended on what was allocated
// before it, which moved the JIT's hot figure by several percent from one
// build to the next (issue 15).
#pragma once

#include <cstddef>
#include <new>
#include <vector>

namespace edict {

inline constexpr std::size_t kCacheLine = 64;

template <typename T>
struct CacheAlignedAllocator {
  using value_type = T;
  CacheAlignedAllocator() = default;
  template <typename U>
  CacheAlignedAllocator(const CacheAlignedAllocator<U>&) noexcept {}
  T* allocate(std::size_t n) {
    return static_cast<T*>(::operator new (n * sizeof(T), std::align_val_t{kCacheLine}));
  }
  void deallocate(T* p, std::size_t) noexcept { ::operator delete (p, std::align_val_t{kCacheLine}); }
  template <typename U>
  bool operator==(const CacheAlignedAllocator<U>&) const noexcept {
    return true;
  }
};

template <typename T>
using CacheAlignedVector = std::vector<T, CacheAlignedAllocator<T>>;

}  // namespace edict
