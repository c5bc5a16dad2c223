// The values a key can hold.
#pragma once

#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <variant>

#include "server/data/dict.h"
#include "server/data/stream.h"
#include "server/data/zset.h"

namespace desaster {

enum class ValueType : uint8_t { kString, kList, kHash, kSet, kZSet, kStream };

struct Unit {};
using List = std::deque<std::string>;
using Hash = Dict<std::string>;
using Set = Dict<Unit>;

// Redis' name for a type, as TYPE and SCAN TYPE use it.
std::string_view TypeName(ValueType t);

struct Value {
  std::variant<std::string, List, Hash, Set, ZSet, Stream> data;
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
    }
    return 0;
  }
  std::string& str() { return std::get<std::string>(data); }
  const std::string& str() const { return std::get<std::string>(data); }
  List& list() { return std::get<List>(data); }
  const List& list() const { return std::get<List>(data); }
  Hash& hash() { return std::get<Hash>(data); }
  const Hash& hash() const { return std::get<Hash>(data); }
  Set& set() { return std::get<Set>(data); }
  const Set& set() const { return std::get<Set>(data); }
  ZSet& zset() { return std::get<ZSet>(data); }
  const ZSet& zset() const { return std::get<ZSet>(data); }
  Stream& stream() { return std::get<Stream>(data); }
  const Stream& stream() const { return std::get<Stream>(data); }
};

}  // namespace desaster
