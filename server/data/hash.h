// A hash's fields, in the order Redis 7.0 shows them. Redis keeps a small hash (at most
// hash-max-listpack-entries fields, no field or value longer than hash-max-listpack-value bytes)
// as a listpack, in insertion order, and clients see that order (HGETALL, HKEYS, one HSCAN
// page); past either limit it becomes a hash table for good, in no particular order. Hash does
// the same: a compact hash is a vector in insertion order, searched linearly (its limits keep
// that short), and a table is a Dict.
//
// Each field of a compact hash carries its place in insertion order, its `seq`, which the store
// keeps beside the value so that a restart rebuilds the order (a table's fields have none: 0).
#pragma once

#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "server/data/dict.h"

namespace desaster {

class Hash {
 public:
  // Redis' hash-max-listpack-entries and hash-max-listpack-value.
  struct Limits {
    size_t max_entries = 512;
    size_t max_value = 64;
  };

  Hash() = default;
  Hash(const Hash& other);
  Hash& operator=(const Hash& other);
  Hash(Hash&&) noexcept = default;
  Hash& operator=(Hash&&) noexcept = default;

  size_t size() const { return table_ ? table_->size() : fields_.size(); }
  bool empty() const { return size() == 0; }
  // Whether the hash is compact (OBJECT ENCODING's "listpack") rather than a table.
  bool compact() const { return table_ == nullptr; }

  const std::string* Find(std::string_view field) const;

  // Sets `field` to `value`; returns whether the field is new. A new field of a compact hash
  // goes last, numbered one past the last field's, or `seq` if that is more (a restart or a
  // replica replaying the numbers the store or the master gave). Past `limits` the hash becomes
  // a table. Returns the field's seq in *assigned (0 in a table), for the store.
  bool Set(std::string_view field, std::string_view value, const Limits& limits, uint64_t seq,
           uint64_t* assigned);
  bool Erase(std::string_view field);

  // Calls fn(field, value) for every field, a compact hash's in insertion order.
  template <class F>
  void ForEach(F&& fn) const {
    if (table_) return table_->ForEach(fn);
    for (const Field& f : fields_) fn(std::string_view(f.name), f.value);
  }

  // One step of HSCAN from `cursor` (Dict::Scan); a compact hash is one step, as a listpack is
  // in Redis: every field, then cursor 0.
  template <class F>
  uint64_t Scan(uint64_t cursor, F&& fn) const {
    if (table_) return table_->Scan(cursor, fn);
    ForEach(fn);
    return 0;
  }

  // A random field and its value; the hash must not be empty.
  std::pair<std::string_view, const std::string*> Random(std::mt19937_64& rng) const;

 private:
  struct Field {
    std::string name;
    std::string value;
    uint64_t seq;
  };
  void ConvertToTable();

  std::vector<Field> fields_;                 // compact: in insertion order
  std::unique_ptr<Dict<std::string>> table_;  // otherwise
};

}  // namespace desaster
