#include "server/data/set.h"

#include <algorithm>
#include <charconv>

namespace desaster {
namespace {

// `s` as the integer Redis would store in an intset: only when it is exactly how Redis writes
// that integer, so that the member reads back byte for byte.
bool AsIntsetMember(std::string_view s, int64_t* out) {
  if (s.empty() || s.size() > 20) return false;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  if (ec != std::errc() || end != s.data() + s.size()) return false;
  char buf[24];
  auto written = std::to_chars(buf, buf + sizeof buf, *out).ptr;
  return std::string_view(buf, static_cast<size_t>(written - buf)) == s;
}

int64_t ValueOf(const std::string& member) {
  int64_t v = 0;
  std::from_chars(member.data(), member.data() + member.size(), v);
  return v;
}

// Where `v` is in `ints` (numeric order), or where it would go.
template <class Ints>
auto PlaceOf(Ints& ints, int64_t v) {
  return std::lower_bound(ints.begin(), ints.end(), v,
                          [](const std::string& m, int64_t x) { return ValueOf(m) < x; });
}

}  // namespace

Set::Set(const Set& other)
    : ints_(other.ints_),
      table_(other.table_ ? std::make_unique<Dict<Unit>>(*other.table_) : nullptr) {}

Set& Set::operator=(const Set& other) {
  if (this != &other) *this = Set(other);
  return *this;
}

bool Set::Contains(std::string_view member) const {
  if (table_) return table_->Find(member) != nullptr;
  int64_t v;
  if (!AsIntsetMember(member, &v)) return false;
  auto it = PlaceOf(ints_, v);
  return it != ints_.end() && ValueOf(*it) == v;
}

bool Set::Insert(std::string_view member, const Limits& limits) {
  int64_t v;
  if (!table_ && !AsIntsetMember(member, &v)) ConvertToTable();
  if (!table_) {
    auto it = PlaceOf(ints_, v);
    if (it != ints_.end() && ValueOf(*it) == v) return false;
    if (ints_.size() < limits.max_intset_entries) {
      ints_.emplace(it, member);
      return true;
    }
    ConvertToTable();
  }
  bool inserted;
  table_->Insert(member, &inserted);
  return inserted;
}

bool Set::Erase(std::string_view member) {
  if (table_) return table_->Erase(member);
  int64_t v;
  if (!AsIntsetMember(member, &v)) return false;
  auto it = PlaceOf(ints_, v);
  if (it == ints_.end() || ValueOf(*it) != v) return false;
  ints_.erase(it);
  return true;
}

std::pair<std::string_view, const Unit*> Set::Random(std::mt19937_64& rng) const {
  static const Unit kUnit;
  if (table_) {
    const auto* node = table_->Random(rng);
    return {node->key(), &node->value};
  }
  return {ints_[rng() % ints_.size()], &kUnit};
}

void Set::ConvertToTable() {
  table_ = std::make_unique<Dict<Unit>>();
  for (const std::string& m : ints_) {
    bool inserted;
    table_->Insert(m, &inserted);
  }
  ints_.clear();
  ints_.shrink_to_fit();
}

}  // namespace desaster
