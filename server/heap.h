// How the scheduler's heap gets memory from the kernel.
//
// Filling a queue writes a few hundred bytes of fresh memory per job. The kernel maps fresh
// memory one page per fault on first touch, and on a virtual machine each fault is a trap that
// costs microseconds: perf put a quarter of the event loop's time in them while RPUSH filled a
// queue. Populating the memory the allocator maps, a chunk at a time, costs one system call per
// chunk instead (docs/PERSISTENCE.md, "Heap growth", has the measurements; "Huge pages" says why
// the chunks are not advised to be transparent huge pages).
#pragma once

#include <cstddef>
#include <string>

namespace desaster {

// Each chunk of address space the allocator maps to grow is at most this large, and populated
// whole: the heap's resident size runs ahead of its use by at most this much.
inline constexpr size_t kHeapGrowthChunk = 4 << 20;

// Makes the calling thread's jemalloc arena populate each chunk it maps for growth with
// madvise(MADV_POPULATE_WRITE). The event loop's thread calls it: it makes nearly all of the heap
// (jobs, values, LevelDB's memtable); helper threads keep allocating lazily, so that their arenas
// do not each hold a populated chunk ahead. Later calls do nothing. Returns false with `error` set
// when the binary's allocator is not jemalloc (the sanitizer build) or the kernel cannot populate
// (Linux before 5.14): the heap then grows a page per fault.
bool PopulateHeapGrowth(std::string* error);

#ifdef DESASTER_JEMALLOC
// Gives the kernel back the free pages of the calling thread's jemalloc arena. jemalloc returns
// an arena's free pages only as that arena allocates again, so a helper thread that goes quiet
// after a burst (the commit thread after a bulk load: LevelDB's memtables are allocated by the
// thread that writes) would keep them: 4 MB after a load of 100k jobs.
void ReleaseThreadHeap();

// The bytes jemalloc has handed out and not taken back (stats.allocated).
uint64_t HeapAllocatedBytes();

// The allocator as INFO's mem_allocator names it, as Redis does: "jemalloc-5.3.0".
std::string HeapAllocatorName();
#endif

}  // namespace desaster
