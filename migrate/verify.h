// --verify: compares the source and desaster key by key.
#pragma once

#include "migrate/progress.h"
#include "migrate/source.h"

namespace desaster::migrate {

// Compares every database of `from` with `to`: key counts per type, and each key's type and
// value (order-free for sets and hashes, as Redis leaves their order open). Reports the first
// differences; returns the exit status (0: the same).
int Verify(const Address& from, const Address& to, Progress& progress);

}  // namespace desaster::migrate
