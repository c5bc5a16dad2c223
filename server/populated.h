// Big arrays that are written whole as soon as they are made: hash tables' slot arrays, which
// start zeroed and are filled by a rehash.
//
// The heap populates the chunks it grows by (server/heap.h), but leaves allocations larger
// than a chunk to fault in a page at a time, since most may never be touched whole. A table's
// slot array is touched whole at once, and on a virtual machine each of those faults is a trap
// that costs several microseconds (docs/PERSISTENCE.md, "Heap growth"): a job table for a
// million jobs is 18 MB, its doublings as much again.
#pragma once

#include <cstddef>
#include <memory>
#include <vector>

namespace desaster {

// From now on, arrays made with PopulatedAllocator have their pages mapped for writing in one
// system call when they are allocated. The scheduler calls it once its heap growth is populated
// (`--populate-heap`); without the call they fault in as any memory does.
void PopulateBigArrays();

// Maps the pages inside [data, data + bytes) for writing now (madvise MADV_POPULATE_WRITE): one
// system call instead of a fault per page at first touch. False when the kernel cannot (before
// Linux 5.14) or has no memory for them right now; they then fault in later, as usual.
bool MapForWriting(void* data, size_t bytes);

// MapForWriting, if PopulateBigArrays was called.
void PopulateForWriting(void* data, size_t bytes);

// std::allocator, but for arrays written whole on allocation (see above). Arrays under 1 MB are
// left alone: they are a few pages, and mostly come out of the heap's populated chunks.
template <typename T>
struct PopulatedAllocator {
  using value_type = T;
  static constexpr size_t kBig = 1 << 20;

  PopulatedAllocator() = default;
  template <typename U>
  PopulatedAllocator(const PopulatedAllocator<U>&) {}  // NOLINT: rebinds like std::allocator

  T* allocate(size_t n) {
    T* data = std::allocator<T>().allocate(n);
    if (n * sizeof(T) >= kBig) PopulateForWriting(data, n * sizeof(T));
    return data;
  }
  void deallocate(T* data, size_t n) { std::allocator<T>().deallocate(data, n); }
  friend bool operator==(const PopulatedAllocator&, const PopulatedAllocator&) { return true; }
};

// A vector whose storage is populated when it is big.
template <typename T>
using PopulatedVector = std::vector<T, PopulatedAllocator<T>>;

}  // namespace desaster
