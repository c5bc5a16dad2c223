#include <catch2/catch.hpp>

#include "server/command/context.h"

using desaster::GlobMatch;

TEST_CASE("glob patterns follow stringmatchlen") {
  CHECK(GlobMatch("*", ""));
  CHECK(GlobMatch("resque:queue:*", "resque:queue:high"));
  CHECK_FALSE(GlobMatch("resque:queue:*", "resque:queues"));
  CHECK(GlobMatch("h?llo", "hello"));
  CHECK(GlobMatch("h[ae]llo", "hallo"));
  CHECK_FALSE(GlobMatch("h[^e]llo", "hello"));
  CHECK(GlobMatch("h[a-c]llo", "hbllo"));
  CHECK(GlobMatch("a\\*b", "a*b"));
  CHECK_FALSE(GlobMatch("a\\*b", "axb"));
  CHECK(GlobMatch("*jid*", "{\"jid\":1}"));
  CHECK(GlobMatch("HELLO", "hello", true));
}
