// Keeps the payloads of waiting jobs compressed in memory (server/queue/payload.h). Rounds pass
// over every database's jobs a slice at a time, in the event loop's idle time, so that requests
// never wait for them; a round starts only when one may find work.
#pragma once

#include <cstddef>
#include <cstdint>

#include "server/data/keyspace.h"

namespace desaster {

class PayloadCompactor {
 public:
  explicit PayloadCompactor(Keyspace* keyspace) : keyspace_(keyspace) {}

  // Whether a round should run now, for payloads compressed once their jobs waited `after_ms`:
  // one is under way, or the last began at least that long ago (and a second) and jobs came or
  // compressed payloads were read since, or it left jobs for later.
  bool Due(int64_t now_ms, int64_t after_ms) const;
  // Goes on with the round (starting one if none is under way) for about `budget_us`; true once
  // it is complete.
  bool Step(int64_t after_ms, int64_t budget_us);
  // Payloads the last complete round compressed.
  size_t last_compressed() const { return last_.compressed; }

 private:
  // Changes since a round began that give the next one work: jobs added, payloads made plain.
  uint64_t Activity() const;

  Keyspace* keyspace_;
  bool in_round_ = false;
  int db_ = 0;  // the database the round is in
  Database::CompressionRound round_, last_;
  int64_t round_started_ms_ = 0;
  uint64_t activity_at_start_ = 0;
};

}  // namespace desaster
