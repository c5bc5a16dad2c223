// PopulateHeapGrowth and PopulatedAllocator, observed through the process' resident size: small
// allocations that are never written come in populated from the calling thread's arena, and stay
// out of RSS in an arena without the hooks.
#include "server/heap.h"

#include <jemalloc/jemalloc.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

#include "server/populated.h"

using namespace desaster;

namespace {

size_t ResidentBytes() {
  std::ifstream statm("/proc/self/statm");
  size_t total = 0, resident = 0;
  statm >> total >> resident;
  return resident * static_cast<size_t>(sysconf(_SC_PAGESIZE));
}

// RSS growth while `bytes` of 256-byte blocks are allocated (with `flags`) and not written.
size_t GrowthOfUntouchedBlocks(size_t bytes, int flags, std::vector<void*>* keep) {
  size_t before = ResidentBytes();
  for (size_t i = 0; i < bytes / 256; i++) keep->push_back(mallocx(256, flags));
  size_t after = ResidentBytes();
  return after > before ? after - before : 0;
}

// Whether the mapping that holds `p` carries madvise(MADV_HUGEPAGE).
bool HugePageAdvised(const void* p) {
  auto address = reinterpret_cast<uintptr_t>(p);
  std::ifstream smaps("/proc/self/smaps");
  std::string line;
  bool inside = false;
  while (std::getline(smaps, line)) {
    uintptr_t start = 0, end = 0;
    char dash = 0;
    std::istringstream range(line);
    if (range >> std::hex >> start >> dash >> end && dash == '-') {
      inside = start <= address && address < end;
    } else if (inside && line.starts_with("VmFlags:")) {
      return (line + " ").find(" hg ") != std::string::npos;
    }
  }
  return false;
}

}  // namespace

TEST_CASE("heap growth is populated a chunk at a time once installed") {
  constexpr size_t kBytes = 32 << 20;
  std::vector<void*> keep;
  keep.reserve(2 * kBytes / 256);  // the pointers themselves are written: not part of the count

  // Installed before the heap has grown much, as the scheduler does at start.
  std::string error;
  INFO(error);
  REQUIRE(PopulateHeapGrowth(&error));
  REQUIRE(PopulateHeapGrowth(&error));  // a second call changes nothing

  // The blocks are resident before anything writes them, give or take the chunk the arena had
  // mapped before and the one it maps last.
  size_t populated = GrowthOfUntouchedBlocks(kBytes, 0, &keep);
  CHECK(populated > kBytes - 2 * kHeapGrowthChunk);
  // The chunks are not advised to be huge pages (smaps' "hg" flag): jemalloc's purging of freed
  // memory split them, and the event loop ran up to twice as slow (docs/PERSISTENCE.md).
  CHECK_FALSE(HugePageAdvised(keep.back()));

  // One allocation larger than a chunk stays lazy: it may never be written whole.
  size_t before = ResidentBytes();
  void* big = mallocx(16 * kHeapGrowthChunk, 0);
  REQUIRE(big);
  CHECK(ResidentBytes() - before < 2 * kHeapGrowthChunk);
  dallocx(big, 0);

  // An arena without the hooks (a helper thread's) maps lazily: only jemalloc's bookkeeping
  // becomes resident.
  unsigned other = 0;
  size_t size = sizeof(other);
  REQUIRE(mallctl("arenas.create", &other, &size, nullptr, 0) == 0);
  size_t lazy = GrowthOfUntouchedBlocks(kBytes, MALLOCX_ARENA(other) | MALLOCX_TCACHE_NONE, &keep);
  CHECK(lazy < kBytes / 4);
  for (void* p : keep) dallocx(p, 0);
}

TEST_CASE("memory a drained queue freed is used again by the next fill") {
  // Jobs freed in the order they came merge into large free extents, which jemalloc uses for new
  // slabs only with the heap's lg_extent_max_active_fit (server/heap.cc).
  unsigned arena = 0;
  size_t size = sizeof(arena);
  REQUIRE(mallctl("arenas.create", &arena, &size, nullptr, 0) == 0);
  unsigned tcache = 0;
  REQUIRE(mallctl("tcache.create", &tcache, &size, nullptr, 0) == 0);
  int flags = MALLOCX_ARENA(arena) | MALLOCX_TCACHE(tcache);
  std::string mapped = "stats.arenas." + std::to_string(arena) + ".mapped";
  auto mapped_bytes = [&] {
    uint64_t epoch = 1;
    size_t n = sizeof(epoch);
    mallctl("epoch", &epoch, &n, &epoch, n);
    size_t bytes = 0;
    n = sizeof(bytes);
    REQUIRE(mallctl(mapped.c_str(), &bytes, &n, nullptr, 0) == 0);
    return bytes;
  };
  // Decay would hand some of the freed memory back to the kernel, which hides the reuse.
  ssize_t never = -1;
  std::string decay = "arena." + std::to_string(arena) + ".dirty_decay_ms";
  REQUIRE(mallctl(decay.c_str(), nullptr, nullptr, &never, sizeof(never)) == 0);

  std::vector<void*> queue;
  size_t after_fill[2];
  for (size_t& mapped_after : after_fill) {
    for (int i = 0; i < 200000; i++) {  // a job and its 300-byte payload, as a queue holds them
      queue.push_back(mallocx(80, flags));
      queue.push_back(mallocx(304, flags));
    }
    mapped_after = mapped_bytes();
    for (void* p : queue) dallocx(p, flags);
    queue.clear();
  }
  CHECK(after_fill[1] <= after_fill[0] + after_fill[0] / 10);
}

TEST_CASE("a thread that went quiet gives its arena's free memory back") {
  constexpr size_t kBytes = 64 << 20;
  size_t kept = 0, released = 0;
  bool own_arena = false;
  // A thread of its own, in an arena of its own (as the commit helper is), that fills and frees
  // its memory, as LevelDB's memtables come and go there. (Catch's checks are made on the test's
  // thread.)
  std::thread helper([&] {
    unsigned arena = 0;
    size_t size = sizeof(arena);
    own_arena = mallctl("arenas.create", &arena, &size, nullptr, 0) == 0 &&
                mallctl("thread.arena", nullptr, nullptr, &arena, sizeof(arena)) == 0;
    if (!own_arena) return;
    std::vector<char*> blocks;
    blocks.reserve(kBytes / 4096);
    for (size_t i = 0; i < kBytes / 4096; i++) {
      blocks.push_back(static_cast<char*>(malloc(4096)));
      std::memset(blocks.back(), 1, 4096);
    }
    size_t before = ResidentBytes();
    for (char* b : blocks) free(b);
    kept = before - std::min(before, ResidentBytes());
    before = ResidentBytes();
    ReleaseThreadHeap();
    released = before - std::min(before, ResidentBytes());
  });
  helper.join();
  REQUIRE(own_arena);
  CHECK(kept < kBytes / 4);      // freeing alone keeps the pages
  CHECK(released > kBytes / 2);  // the call gives most of them back
}

TEST_CASE("big arrays are populated when made, once asked for") {
  // Larger than a growth chunk: the heap leaves such an allocation to fault in lazily.
  constexpr size_t kBytes = 4 * kHeapGrowthChunk;
  PopulatedAllocator<char> allocator;
  size_t before = ResidentBytes();
  char* lazy = allocator.allocate(kBytes);
  size_t lazy_growth = ResidentBytes() - std::min(before, ResidentBytes());
  PopulateBigArrays();
  before = ResidentBytes();
  char* populated = allocator.allocate(kBytes);
  size_t populated_growth = ResidentBytes() - std::min(before, ResidentBytes());
  CHECK(lazy_growth < kBytes / 8);
  CHECK(populated_growth > kBytes * 7 / 8);
  allocator.deallocate(populated, kBytes);
  allocator.deallocate(lazy, kBytes);
}
