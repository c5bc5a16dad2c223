#include "server/data/digest.h"

#include <algorithm>
#include <cstring>
#include <functional>
#include <string_view>

namespace desaster {
namespace {

uint64_t H(std::string_view s) { return std::hash<std::string_view>{}(s); }
uint64_t Mix(uint64_t a, uint64_t b) { return (a ^ b) * 0x100000001B3ULL + (a >> 29); }

uint64_t ValueDigest(const Value& v) {
  ValueType as = v.type() == ValueType::kQueue ? ValueType::kList : v.type();
  uint64_t h = static_cast<uint64_t>(as) + 1;
  switch (v.type()) {
    case ValueType::kString:
      return Mix(h, H(v.str()));
    case ValueType::kList:
      for (const auto& e : v.list()) h = Mix(h, H(e));  // order matters
      return h;
    case ValueType::kHash:
      v.hash().ForEach([&](std::string_view f, const std::string& x) { h += Mix(H(f), H(x)); });
      return h;
    case ValueType::kSet:
      v.set().ForEach([&](std::string_view m, const Unit&) { h += Mix(H(m), 7); });
      return h;
    case ValueType::kZSet:
      for (const auto& [score, member] : v.zset()) {
        uint64_t bits;
        memcpy(&bits, &score, sizeof(bits));
        h += Mix(H(member), bits);
      }
      return h;
    case ValueType::kStream:
      for (const auto& [id, fields] : v.stream().entries) {
        h = Mix(Mix(h, id.ms), id.seq);
        for (const auto& f : fields) h = Mix(h, H(f));
      }
      // Its groups' durable state (consumers' seen times are not).
      for (const auto& [name, g] : v.stream().groups) {
        h = Mix(Mix(h, H(name)), H(g.EncodeState()));
        for (const auto& [consumer, c] : g.consumers) h = Mix(h, H(consumer));
        for (const auto& [id, p] : g.pending) h = Mix(Mix(Mix(h, id.ms), id.seq), H(p.Encode()));
      }
      return Mix(h, H(v.stream().meta.Encode()));
    case ValueType::kQueue: {
      // As the list a client reads (LRANGE 0 -1), so a queue and a Redis list holding the same
      // jobs digest alike.
      // Each payload's hash, read without decompressing the queue in place.
      std::vector<uint64_t> payloads;
      std::string scratch;
      v.queue()->discipline().ForEachInOrder([&](Job* job) {
        payloads.push_back(H(job->payload.Read(&scratch)));
        return true;
      });
      if (!v.queue()->dialect().head_left) std::reverse(payloads.begin(), payloads.end());
      // FIFO and priority order is data (ids and priorities are stored). The fair disciplines'
      // interleaving of flows is scheduling state (a round-robin position, token buckets) that
      // starts afresh after a restart: their jobs digest as a set.
      const std::string& discipline = v.queue()->config().discipline;
      if (discipline != "fifo" && discipline != "prio") std::sort(payloads.begin(), payloads.end());
      for (uint64_t p : payloads) h = Mix(h, p);
      return h;
    }
  }
  return h;
}

}  // namespace

uint64_t DigestOf(const Value& v) { return ValueDigest(v); }

uint64_t Digest(Keyspace& keyspace) {
  uint64_t total = 0;
  for (int i = 0; i < keyspace.databases(); i++) {
    Database& db = keyspace.db(i);
    db.ForEach([&](std::string_view key, const Value& v) {
      if (!db.IsLive(key, v)) return;
      uint64_t k = Mix(Mix(static_cast<uint64_t>(i) + 1, H(key)), ValueDigest(v));
      total += Mix(k, static_cast<uint64_t>(v.expire_at_ms));
    });
  }
  return total;
}

}  // namespace desaster
