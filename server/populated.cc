#include "server/populated.h"

#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23  // Linux 5.14; older C libraries lack the name
#endif

namespace desaster {

namespace {
// Set once at start, before any helper thread runs; read by any thread that allocates.
std::atomic<bool> populate{false};
}  // namespace

void PopulateBigArrays() { populate.store(true, std::memory_order_relaxed); }

bool MapForWriting(void* data, size_t bytes) {
  // madvise takes whole pages: the ones inside the range (a big allocation starts on a page).
  const uintptr_t page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  uintptr_t begin = (reinterpret_cast<uintptr_t>(data) + page - 1) & ~(page - 1);
  uintptr_t end = (reinterpret_cast<uintptr_t>(data) + bytes) & ~(page - 1);
  if (end <= begin) return true;
  return madvise(reinterpret_cast<void*>(begin), end - begin, MADV_POPULATE_WRITE) == 0;
}

void PopulateForWriting(void* data, size_t bytes) {
  if (populate.load(std::memory_order_relaxed)) MapForWriting(data, bytes);
}

}  // namespace desaster
