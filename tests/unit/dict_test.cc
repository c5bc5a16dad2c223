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
