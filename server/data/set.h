// A set's members, in the order Redis 7.0 shows them. Redis keeps a set of integers only (at most
// set-max-intset-entries of them, each as Redis writes integers: no sign but '-', no leading zero)
// as an intset, in numeric order, and clients see that order (SMEMBERS, one SSCAN page); another
// member or more members make it a hash table for good, in no particular order. Set does the
// same: an intset is a sorted vector, searched by bisection, and a table is a Dict.
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

struct Unit {};

class Set {
 public:
  // Redis' set-max-intset-entries.
  struct Limits {
    size_t max_intset_entries = 512;
  };

  Set() = default;
  Set(const Set& other);
  Set& operator=(const Set& other);
  Set(Set&&) noexcept = default;
  Set& operator=(Set&&) noexcept = default;

  size_t size() const { return table_ ? table_->size() : ints_.size(); }
  bool empty() const { return size() == 0; }
  // Whether the set is an intset (OBJECT ENCODING) rather than a table.
  bool intset() const { return table_ == nullptr; }

  bool Contains(std::string_view member) const;
  // Adds `member`; returns whether it is new. Past `limits`, or given a member that is not such
  // an integer, the set becomes a table.
  bool Insert(std::string_view member, const Limits& limits);
  bool Erase(std::string_view member);

  // Calls fn(member, Unit) for every member, an intset's in numeric order.
  template <class F>
  void ForEach(F&& fn) const {
    if (table_) return table_->ForEach(fn);
    for (const std::string& m : ints_) fn(std::string_view(m), Unit{});
  }

  // One step of SSCAN from `cursor` (Dict::Scan); an intset is one step, as in Redis.
  template <class F>
  uint64_t Scan(uint64_t cursor, F&& fn) const {
    if (table_) return table_->Scan(cursor, fn);
    ForEach(fn);
    return 0;
  }

  // A random member; the set must not be empty.
  std::pair<std::string_view, const Unit*> Random(std::mt19937_64& rng) const;

 private:
  void ConvertToTable();

  std::vector<std::string> ints_;      // intset: members in numeric order
  std::unique_ptr<Dict<Unit>> table_;  // otherwise
};

}  // namespace desaster
