#include "resp/writer.h"

#include <catch2/catch.hpp>

TEST_CASE("RESP2 degrades RESP3 types the way Redis does") {
  std::string out;
  resp::ReplyWriter w(&out, 2);
  w.Map(1);
  w.Bulk("k");
  w.Double(1.5);
  w.NullBulk();
  w.NullArray();
  w.Boolean(true);
  w.Set(0);
  CHECK(out == "*2\r\n$1\r\nk\r\n$3\r\n1.5\r\n$-1\r\n*-1\r\n:1\r\n*0\r\n");
}

TEST_CASE("RESP3 uses its own types") {
  std::string out;
  resp::ReplyWriter w(&out, 3);
  w.Map(1);
  w.Bulk("k");
  w.Double(1.5);
  w.NullBulk();
  w.Boolean(false);
  w.Push(1);
  w.Verbatim("hi");
  CHECK(out == "%1\r\n$1\r\nk\r\n,1.5\r\n_\r\n#f\r\n>1\r\n=6\r\ntxt:hi\r\n");
}

TEST_CASE("errors get ERR unless they carry a code, and never break lines") {
  std::string out;
  resp::ReplyWriter w(&out, 2);
  w.Error("WRONGTYPE bad");
  w.Error("oops\r\nmore");
  CHECK(out == "-WRONGTYPE bad\r\n-ERR oops  more\r\n");
}

TEST_CASE("doubles print as Redis 7.0 does") {
  CHECK(resp::FormatDouble(1.1) == "1.1000000000000001");
  CHECK(resp::FormatDouble(3) == "3");
  CHECK(resp::FormatDouble(1.0 / 0.0) == "inf");
  CHECK(resp::FormatDouble(-1.0 / 0.0) == "-inf");
}
