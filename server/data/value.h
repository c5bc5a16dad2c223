// The values a key can hold.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <variant>

#include "server/data/dict.h"
#include "server/data/hash.h"
#include "server/data/set.h"
#include "server/data/stream.h"
#include "server/data/zset.h"

namespace desaster {

enum class ValueType : uint8_t { kString, kList, kHash, kSet, kZSet, kStream, kQueue };

class Queue;
// A key backed by a queue (server/queue/). Clients see a list: TYPE says "list" and the list
// commands work on it. The key exists while the queue has ready jobs, as a Redis list exists
// while it has elements; the queue itself (configuration, scheduled jobs) outlives that.
struct QueueRef {
  Queue* queue;
};
// The number of ready jobs (what LLEN answers); defined in server/data/queues.cc.
size_t ReadyJobs(const QueueRef& ref);

using List = std::deque<std::string>;

// A T behind a pointer, copied deeply. The larger containers are kept so, so that every key
// (most hold short strings) carries a small Value: a keyspace entry takes 112 bytes, not 160.
template <class T>
class Boxed {
 public:
  Boxed() : p_(std::make_unique<T>()) {}
  Boxed(const Boxed& other) : p_(std::make_unique<T>(*other.p_)) {}
  Boxed& operator=(const Boxed& other) {
    p_ = std::make_unique<T>(*other.p_);
    return *this;
  }
  Boxed(Boxed&&) noexcept = default;
  Boxed& operator=(Boxed&&) noexcept = default;
  T& operator*() const { return *p_; }

 private:
  std::unique_ptr<T> p_;
};

// Redis' name for a type, as TYPE and SCAN TYPE use it.
std::string_view TypeName(ValueType t);

struct Value {
  // In ValueType's order.
  std::variant<std::string, Boxed<List>, Hash, Set, Boxed<ZSet>, Boxed<Stream>, QueueRef> data;
  int64_t expire_at_ms = 0;  // 0: no expiry
  int64_t last_access_ms = 0;

  ValueType type() const { return static_cast<ValueType>(data.index()); }
  // Elements of a container, bytes of a string (what LLEN, HLEN, SCARD, ZCARD, STRLEN answer).
  size_t Length() const {
    switch (type()) {
      case ValueType::kString:
        return str().size();
      case ValueType::kList:
        return list().size();
      case ValueType::kHash:
        return hash().size();
      case ValueType::kSet:
        return set().size();
      case ValueType::kZSet:
        return zset().size();
      case ValueType::kStream:
        return stream().entries.size();
      case ValueType::kQueue:
        return ReadyJobs(queue_ref());
    }
    return 0;
  }
  std::string& str() { return std::get<std::string>(data); }
  const std::string& str() const { return std::get<std::string>(data); }
  List& list() { return *std::get<Boxed<List>>(data); }
  const List& list() const { return *std::get<Boxed<List>>(data); }
  Hash& hash() { return std::get<Hash>(data); }
  const Hash& hash() const { return std::get<Hash>(data); }
  Set& set() { return std::get<Set>(data); }
  const Set& set() const { return std::get<Set>(data); }
  ZSet& zset() { return *std::get<Boxed<ZSet>>(data); }
  const ZSet& zset() const { return *std::get<Boxed<ZSet>>(data); }
  Stream& stream() { return *std::get<Boxed<Stream>>(data); }
  const Stream& stream() const { return *std::get<Boxed<Stream>>(data); }
  Queue* queue() const { return std::get<QueueRef>(data).queue; }
  const QueueRef& queue_ref() const { return std::get<QueueRef>(data); }
};

}  // namespace desaster
