#include "server/data/zset.h"

#include <catch2/catch.hpp>

using desaster::ZSet;

TEST_CASE("members are ordered by score, then bytewise by member") {
  ZSet z;
  z.Set("b", 1);
  z.Set("a", 1);
  z.Set("\xff", 0);
  z.Set("c", -1);
  std::vector<std::string> order;
  for (const auto& e : z) order.push_back(e.second);
  CHECK(order == std::vector<std::string>{"c", "\xff", "a", "b"});
  CHECK(z.Rank("a", 1) == 2);
  CHECK(z.AtRank(3)->second == "b");
}

TEST_CASE("updating a score moves the member") {
  ZSet z;
  z.Set("m", 5);
  z.Set("n", 6);
  z.Set("m", 7);
  CHECK(z.size() == 2);
  CHECK(*z.Score("m") == 7);
  CHECK(z.begin()->second == "n");
  CHECK(z.Erase("m"));
  CHECK_FALSE(z.Erase("m"));
  CHECK(z.size() == 1);
}

TEST_CASE("score and lex bounds") {
  ZSet z;
  for (int i = 0; i < 10; i++) z.Set(std::string(1, static_cast<char>('a' + i)), i);
  CHECK(z.FirstAtOrAfter(3, false)->second == "d");
  CHECK(z.FirstAtOrAfter(3, true)->second == "e");
  CHECK(z.FirstAtOrAfter(100, false) == z.end());

  ZSet lex;
  for (const char* m : {"apple", "banana", "cherry"}) lex.Set(m, 0);
  CHECK(lex.FirstLexAtOrAfter("b", false)->second == "banana");
  CHECK(lex.FirstLexAtOrAfter("banana", true)->second == "cherry");
}
