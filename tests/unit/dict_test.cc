#include "server/data/dict.h"

#include <catch2/catch.hpp>
#include <set>

using desaster::Dict;

TEST_CASE("insert, find, erase") {
  Dict<int> d;
  bool inserted;
  *d.Insert("a", &inserted) = 1;
  CHECK(inserted);
  *d.Insert(std::string("b\0c", 3), &inserted) = 2;
  d.Insert("a", &inserted);
  CHECK_FALSE(inserted);
  CHECK(d.size() == 2);
  CHECK(*d.Find("a") == 1);
  CHECK(*d.Find(std::string("b\0c", 3)) == 2);
  CHECK(d.Find("b") == nullptr);
  CHECK(d.Erase("a"));
  CHECK_FALSE(d.Erase("a"));
  CHECK(d.size() == 1);
}

TEST_CASE("a scan returns every element present throughout, across resizes") {
  Dict<int> d;
  bool inserted;
  for (int i = 0; i < 1000; i++) d.Insert("k" + std::to_string(i), &inserted);
  std::set<std::string> seen;
  uint64_t cursor = 0;
  int step = 0;
  do {
    cursor = d.Scan(cursor, [&](std::string_view k, int) { seen.emplace(k); });
    // Grow the table mid-scan, then shrink it: elements present all along must still appear.
    if (step == 50) {
      for (int i = 0; i < 5000; i++) d.Insert("x" + std::to_string(i), &inserted);
    }
    if (step == 300) {
      for (int i = 0; i < 5000; i++) d.Erase("x" + std::to_string(i));
    }
    step++;
  } while (cursor != 0);
  for (int i = 0; i < 1000; i++) CHECK(seen.count("k" + std::to_string(i)) == 1);
}

TEST_CASE("copies are deep") {
  Dict<std::string> a;
  bool inserted;
  *a.Insert("f", &inserted) = "v";
  Dict<std::string> b = a;
  *b.Find("f") = "w";
  CHECK(*a.Find("f") == "v");
}

TEST_CASE("a prefetch changes nothing") {
  Dict<int> d;
  std::vector<std::string> keys;
  for (int i = 0; i < 40; i++) keys.push_back("key:" + std::to_string(i));
  std::vector<std::string_view> views(keys.begin(), keys.end());
  d.Prefetch(views);  // an empty table
  bool inserted;
  for (int i = 0; i < 40; i += 2) *d.Insert(keys[static_cast<size_t>(i)], &inserted) = i;
  d.Prefetch(views);  // more keys than it looks at, present and absent
  CHECK(d.size() == 20);
  for (int i = 0; i < 40; i++) {
    const int* v = d.Find(keys[static_cast<size_t>(i)]);
    if (i % 2 == 0) {
      REQUIRE(v != nullptr);
      CHECK(*v == i);
    } else {
      CHECK(v == nullptr);
    }
  }
}
