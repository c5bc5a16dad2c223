// Hash and Set: Redis 7.0's orders for small hashes (insertion) and sets of integers (numeric),
// and the moment each turns into a table.
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "server/data/hash.h"
#include "server/data/set.h"

using namespace desaster;

namespace {

std::vector<std::string> Fields(const Hash& h) {
  std::vector<std::string> out;
  h.ForEach([&](std::string_view f, const std::string& v) { out.push_back(std::string(f) + v); });
  return out;
}

std::vector<std::string> Members(const Set& s) {
  std::vector<std::string> out;
  s.ForEach([&](std::string_view m, const Unit&) { out.emplace_back(m); });
  return out;
}

}  // namespace

TEST_CASE("a compact hash keeps insertion order; an update keeps a field's place and seq") {
  Hash h;
  Hash::Limits limits;
  uint64_t seq;
  CHECK(h.Set("b", "1", limits, 0, &seq));
  CHECK(seq == 1);
  CHECK(h.Set("a", "2", limits, 0, &seq));
  CHECK(seq == 2);
  CHECK(!h.Set("b", "3", limits, 0, &seq));
  CHECK(seq == 1);
  CHECK(h.Erase("b"));
  CHECK(!h.Erase("b"));
  CHECK(h.Set("b", "4", limits, 0, &seq));
  CHECK(seq == 3);
  CHECK(Fields(h) == std::vector<std::string>{"a2", "b4"});
  CHECK(*h.Find("a") == "2");
  CHECK(h.Find("c") == nullptr);
  // A replayed seq below the last one's still goes last, numbered past it.
  CHECK(h.Set("c", "5", limits, 2, &seq));
  CHECK(seq == 4);
  uint64_t cursor_after = 7;
  std::vector<std::string> scanned;
  cursor_after =
      h.Scan(0, [&](std::string_view f, const std::string&) { scanned.emplace_back(f); });
  CHECK(cursor_after == 0);  // one page, as a listpack's HSCAN
  CHECK(scanned == std::vector<std::string>{"a", "b", "c"});
}

TEST_CASE("a hash becomes a table past either limit, for good, and copies deeply") {
  Hash::Limits limits{.max_entries = 3, .max_value = 4};
  uint64_t seq;
  Hash by_count;
  for (std::string f : {"a", "b", "c"}) by_count.Set(f, "v", limits, 0, &seq);
  CHECK(by_count.compact());
  CHECK(by_count.Set("d", "v", limits, 0, &seq));
  CHECK(!by_count.compact());
  CHECK(seq == 0);
  CHECK(by_count.size() == 4);
  for (std::string f : {"a", "b", "c"}) by_count.Erase(f);
  CHECK(!by_count.compact());

  Hash by_value;
  by_value.Set("a", "1234", limits, 0, &seq);
  CHECK(by_value.compact());
  by_value.Set("a", "12345", limits, 0, &seq);
  CHECK(!by_value.compact());
  Hash by_field;
  by_field.Set("fivef", "1", limits, 0, &seq);
  CHECK(!by_field.compact());

  Hash copy = by_value;
  copy.Set("a", "x", limits, 0, &seq);
  CHECK(*by_value.Find("a") == "12345");
  CHECK(*copy.Find("a") == "x");
}

TEST_CASE("a set of integers stays in numeric order; anything else makes a table") {
  Set::Limits limits{.max_intset_entries = 4};
  Set s;
  for (std::string m : {"10", "-5", "300", "2"}) CHECK(s.Insert(m, limits));
  CHECK(!s.Insert("2", limits));
  CHECK(s.intset());
  CHECK(Members(s) == std::vector<std::string>{"-5", "2", "10", "300"});
  CHECK(s.Contains("10"));
  CHECK(!s.Contains("010"));  // not how Redis writes 10: another member
  CHECK(!s.Contains("x"));
  CHECK(s.Erase("-5"));
  CHECK(!s.Erase("-5"));
  CHECK(s.Insert("-9223372036854775808", limits));
  CHECK(Members(s).front() == "-9223372036854775808");
  CHECK(s.intset());
  CHECK(s.Insert("9223372036854775807", limits));  // a fifth member: past the limit
  CHECK(!s.intset());
  CHECK(s.size() == 5);

  for (std::string m : {"+1", "01", "-0", "1.0", " 1", "9223372036854775808", ""}) {
    Set other;
    CHECK(other.Insert(m, limits));
    CHECK(!other.intset());
    CHECK(other.Contains(m));
  }
}
