#include "server/queue/counter_series.h"

#include <catch2/catch.hpp>

using desaster::CounterSeries;
using V = std::vector<uint64_t>;

TEST_CASE("CounterSeries counts per bucket, oldest first") {
  CounterSeries s(4, 1000);
  s.Add(10'000);
  s.Add(10'999, 2);
  s.Add(12'500);
  CHECK(s.Last(12'600, 4) == V{0, 3, 0, 1});
  CHECK(s.Last(12'600, 2) == V{0, 1});
  CHECK(s.Last(12'600, 9).size() == 4);  // never more than the window
  CHECK(s.Sum(12'600) == 4);
}

TEST_CASE("CounterSeries forgets buckets that left the window") {
  CounterSeries s(3, 1000);
  s.Add(1'000, 5);
  s.Add(2'000, 7);
  CHECK(s.Sum(3'000) == 12);
  CHECK(s.Sum(4'000) == 7);  // bucket 1 is out of the window [2, 4]
  CHECK(s.Last(4'000, 3) == V{7, 0, 0});
  s.Add(4'000);  // reuses bucket 1's slot: the old count does not leak in
  CHECK(s.Last(4'000, 3) == V{7, 0, 1});
  CHECK(s.Sum(60'000) == 0);  // long idle: everything aged out
  CHECK(s.Last(60'000, 3) == V{0, 0, 0});
}
