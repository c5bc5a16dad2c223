// Bit mixing for hash tables and digests.
#pragma once

#include <cstdint>

namespace desaster {

// SplitMix64's finalizer: every bit of `x` changes about half the bits of the result, so inputs
// that differ little (consecutive ids, numbers a bit apart) land far apart.
inline uint64_t MixBits(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

}  // namespace desaster
