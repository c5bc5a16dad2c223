// An order-independent fingerprint of a keyspace's live contents (keys, types, values, TTLs),
// for DEBUG DIGEST and for checking that a reload from disk reproduced memory exactly.
#pragma once

#include <cstdint>

#include "server/data/keyspace.h"

namespace desaster {

uint64_t Digest(Keyspace& keyspace);
// The fingerprint of one value (DEBUG DIGEST-VALUE).
uint64_t DigestOf(const Value& v);

}  // namespace desaster
