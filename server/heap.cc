#include "server/heap.h"

#ifdef DESASTER_JEMALLOC
#include <fmt/format.h>
#include <jemalloc/jemalloc.h>
#include <sys/mman.h>

#include <cerrno>
#include <cstring>
#include <string_view>

#include "server/populated.h"
#endif

#ifdef DESASTER_JEMALLOC
// jemalloc's options, read when it starts (the MALLOC_CONF environment variable still applies on
// top). A queue that drains frees its jobs in the order they came, and jemalloc merges the freed
// memory into large free extents. By default it will not carve a slab out of an extent more than
// 2^6 times the slab's size, so the next fill mapped fresh memory (which the kernel zeroes) while
// the freed memory sat unused: 400k 300-byte jobs pushed, popped and pushed again grew RSS from
// 198 to 298 MB, and to 378 MB after a third fill. With 2^16 the freed memory is used again
// (198, 198, 201 MB), and the refills ran 10-20% faster.
extern "C" const char* malloc_conf;
const char* malloc_conf = "lg_extent_max_active_fit:16";
#endif

namespace desaster {

#ifdef DESASTER_JEMALLOC
namespace {

// jemalloc's own hooks, and the copy whose alloc populates what they map. Both live as long as
// the arenas that use them: the whole process.
extent_hooks_t* default_hooks = nullptr;
extent_hooks_t populating_hooks;

void* PopulatingAlloc(extent_hooks_t*, void* new_addr, size_t size, size_t alignment, bool* zero,
                      bool* commit, unsigned arena) {
  void* chunk = default_hooks->alloc(default_hooks, new_addr, size, alignment, zero, commit, arena);
  // A larger request is one big allocation (a table, a buffer) that may never be touched whole.
  if (!chunk || size > kHeapGrowthChunk) return chunk;
  MapForWriting(chunk, size);  // if it fails, the pages fault in later
  return chunk;
}

bool KernelCanPopulate(std::string* error) {
  void* page = mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (page == MAP_FAILED) {
    *error = std::string("mmap: ") + std::strerror(errno);
    return false;
  }
  bool ok = MapForWriting(page, 4096);
  if (!ok) *error = std::string("madvise(MADV_POPULATE_WRITE): ") + std::strerror(errno);
  munmap(page, 4096);
  return ok;
}

}  // namespace

bool PopulateHeapGrowth(std::string* error) {
  if (default_hooks) return true;
  if (!KernelCanPopulate(error)) return false;
  unsigned arena = 0;
  size_t size = sizeof(arena);
  if (mallctl("thread.arena", &arena, &size, nullptr, 0) != 0) {
    *error = "jemalloc does not say which arena this thread uses";
    return false;
  }
  std::string prefix = fmt::format("arena.{}.", arena);
  extent_hooks_t* defaults = nullptr;
  size = sizeof(defaults);
  if (mallctl((prefix + "extent_hooks").c_str(), &defaults, &size, nullptr, 0) != 0) {
    *error = fmt::format("jemalloc does not report the hooks of arena {}", arena);
    return false;
  }
  default_hooks = defaults;
  populating_hooks = *defaults;
  populating_hooks.alloc = PopulatingAlloc;
  extent_hooks_t* hooks = &populating_hooks;
  size_t limit = kHeapGrowthChunk;
  if (mallctl((prefix + "retain_grow_limit").c_str(), nullptr, nullptr, &limit, sizeof(limit)) !=
          0 ||
      mallctl((prefix + "extent_hooks").c_str(), nullptr, nullptr, &hooks, sizeof(hooks)) != 0) {
    *error = fmt::format("jemalloc refused the hooks of arena {}", arena);
    default_hooks = nullptr;  // not installed: a later call tries again instead of claiming it
    return false;
  }
  return true;
}

void ReleaseThreadHeap() {
  // What the thread's cache holds goes back to the arena first (fails harmlessly when the
  // thread has no cache).
  mallctl("thread.tcache.flush", nullptr, nullptr, nullptr, 0);
  unsigned arena = 0;
  size_t size = sizeof(arena);
  if (mallctl("thread.arena", &arena, &size, nullptr, 0) != 0) return;
  mallctl(fmt::format("arena.{}.purge", arena).c_str(), nullptr, nullptr, nullptr, 0);
}

uint64_t HeapAllocatedBytes() {
  // jemalloc's statistics are a snapshot taken when the epoch advances.
  uint64_t epoch = 1;
  size_t size = sizeof(epoch);
  mallctl("epoch", &epoch, &size, &epoch, size);
  size_t allocated = 0;
  size = sizeof(allocated);
  if (mallctl("stats.allocated", &allocated, &size, nullptr, 0) != 0) return 0;
  return allocated;
}

std::string HeapAllocatorName() {
  const char* version = nullptr;  // "5.3.0-0-g<commit>"
  size_t size = sizeof(version);
  if (mallctl("version", &version, &size, nullptr, 0) != 0 || !version) return "jemalloc";
  std::string_view v(version);
  return fmt::format("jemalloc-{}", v.substr(0, v.find('-')));
}
#else
bool PopulateHeapGrowth(std::string* error) {
  *error = "this build does not use jemalloc";
  return false;
}
#endif

}  // namespace desaster
