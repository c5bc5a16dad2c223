#include "resp/reply_scanner.h"

#include <catch2/catch.hpp>

using resp::ReplyScanner;
using Status = ReplyScanner::Status;

namespace {

struct Reply {
  std::string bytes;
  bool push;
  bool operator==(const Reply&) const = default;
};

// Feeds `stream` in chunks of `chunk` bytes; returns every complete reply, or sets *error.
std::vector<Reply> ScanAll(const std::string& stream, size_t chunk, bool* error = nullptr) {
  ReplyScanner scanner;
  std::vector<Reply> out;
  std::string buffer;
  for (size_t off = 0; off < stream.size(); off += chunk) {
    buffer.append(stream, off, chunk);
    while (true) {
      size_t length = 0;
      bool push = false;
      Status s = scanner.Scan(buffer, &length, &push);
      if (s == Status::kIncomplete) break;
      if (s == Status::kError) {
        if (error) *error = true;
        return out;
      }
      out.push_back({buffer.substr(0, length), push});
      buffer.erase(0, length);
    }
  }
  if (error) *error = false;
  return out;
}

}  // namespace

TEST_CASE("reply scanner: every RESP2 and RESP3 type ends where it should, in any chunking") {
  std::vector<Reply> replies = {
      {"+OK\r\n", false},
      {"-ERR wrong\r\n", false},
      {":-42\r\n", false},
      {"$5\r\nh\r\nlo\r\n", false},  // a body holding CRLF
      {"$-1\r\n", false},
      {"*-1\r\n", false},
      {"$0\r\n\r\n", false},
      {"*0\r\n", false},
      {"*3\r\n:1\r\n*2\r\n$1\r\na\r\n*0\r\n$-1\r\n", false},
      {"%2\r\n+a\r\n:1\r\n+b\r\n~1\r\n,1.5\r\n", false},
      {"_\r\n", false},
      {"#t\r\n", false},
      {"(123456789012345678901234567890\r\n", false},
      {"=8\r\ntxt:abcd\r\n", false},
      {"!3\r\nERR\r\n", false},
      {"|1\r\n+key\r\n+value\r\n:7\r\n", false},  // an attribute belongs to the value after it
      {">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n", true},
  };
  std::string stream;
  for (const Reply& r : replies) stream += r.bytes;
  for (size_t chunk : {size_t{1}, size_t{2}, size_t{7}, stream.size()}) {
    INFO("chunk " << chunk);
    bool error = true;
    CHECK(ScanAll(stream, chunk, &error) == replies);
    CHECK_FALSE(error);
  }
}

TEST_CASE("reply scanner: a big bulk is passed over, not searched") {
  std::string body(1 << 20, '\r');
  std::string stream = "$" + std::to_string(body.size()) + "\r\n" + body + "\r\n+OK\r\n";
  std::vector<Reply> out = ScanAll(stream, 4096);
  REQUIRE(out.size() == 2);
  CHECK(out[0].bytes == stream.substr(0, stream.size() - 5));
  CHECK(out[1].bytes == "+OK\r\n");
}

TEST_CASE("reply scanner: what is not RESP is an error") {
  for (std::string bad :
       {"?x\r\n", "$abc\r\n", "*-2\r\n", "$-5\r\n", "$3\r\nabcde", "*1\r\n:1\r\n$2\r\nabXY"}) {
    INFO(bad);
    bool error = false;
    ScanAll(bad, bad.size(), &error);
    CHECK(error);
  }
  ReplyScanner small(16);
  size_t length;
  bool push;
  CHECK(small.Scan("+" + std::string(64, 'x'), &length, &push) == Status::kError);
}
