#include "resp/parser.h"

#include <array>
#include <catch2/catch.hpp>

using resp::RequestParser;
using Status = RequestParser::Status;

namespace {

// Feeds `input` in chunks of `chunk` bytes; returns every complete command.
std::vector<std::vector<std::string>> ParseAll(const std::string& input, size_t chunk,
                                               std::string* error = nullptr) {
  RequestParser p;
  std::vector<std::vector<std::string>> out;
  std::string buffer;
  std::vector<std::string> args;
  std::string err;
  for (size_t off = 0; off < input.size(); off += chunk) {
    buffer.append(input, off, chunk);
    while (!buffer.empty()) {
      size_t consumed = 0;
      Status s = p.Parse(buffer.data(), buffer.size(), &consumed, &args, &err);
      buffer.erase(0, consumed);
      if (s == Status::kComplete) {
        if (!args.empty()) out.push_back(args);
      } else if (s == Status::kError) {
        if (error) *error = err;
        return out;
      } else {
        break;
      }
    }
  }
  return out;
}

}  // namespace

TEST_CASE("multibulk commands parse whole and byte by byte") {
  std::string wire = "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nhello\r\n*1\r\n$4\r\nPING\r\n";
  for (size_t chunk : {size_t{1}, size_t{2}, size_t{7}, wire.size()}) {
    auto cmds = ParseAll(wire, chunk);
    REQUIRE(cmds.size() == 2);
    CHECK(cmds[0] == std::vector<std::string>{"SET", "k", "hello"});
    CHECK(cmds[1] == std::vector<std::string>{"PING"});
  }
}

TEST_CASE("bulk strings are binary safe") {
  std::string value("a\0b\r\nc", 6);
  std::string wire = "*2\r\n$4\r\nECHO\r\n$6\r\n" + value + "\r\n";
  auto cmds = ParseAll(wire, 3);
  REQUIRE(cmds.size() == 1);
  CHECK(cmds[0][1] == value);
}

TEST_CASE("inline commands split like sdssplitargs") {
  auto cmds = ParseAll("SET k \"a b\\x41\\n\" 'it\\'s'\r\nPING\n\r\n", 4);
  REQUIRE(cmds.size() == 2);
  CHECK(cmds[0] == std::vector<std::string>{"SET", "k", "a bA\n", "it's"});
  CHECK(cmds[1] == std::vector<std::string>{"PING"});
}

TEST_CASE("protocol errors carry Redis' texts") {
  std::string error;
  ParseAll("*x\r\n", 100, &error);
  CHECK(error == "Protocol error: invalid multibulk length");
  ParseAll("*1\r\n+PING\r\n", 100, &error);
  CHECK(error == "Protocol error: expected '$', got '+'");
  ParseAll("*1\r\n$-5\r\n", 100, &error);
  CHECK(error == "Protocol error: invalid bulk length");
  ParseAll("*1\r\n$9999999999999\r\n", 100, &error);
  CHECK(error == "Protocol error: invalid bulk length");
  ParseAll("*99999999\r\n", 100, &error);
  CHECK(error == "Protocol error: invalid multibulk length");
  ParseAll("SET \"unterminated\r\n", 100, &error);
  CHECK(error == "Protocol error: unbalanced quotes in request");
  ParseAll(std::string(70000, 'a'), 1000, &error);
  CHECK(error == "Protocol error: too big inline request");
  ParseAll("*1\r\n" + std::string(70000, '$'), 1000, &error);
  CHECK(error == "Protocol error: too big bulk count string");
}

TEST_CASE("a huge claimed length is refused, not allocated") {
  RequestParser p(resp::ParseLimits{1024, 16, 1024});
  std::vector<std::string> args;
  std::string error;
  size_t consumed;
  std::string wire = "*1\r\n$2048\r\n";
  CHECK(p.Parse(wire.data(), wire.size(), &consumed, &args, &error) == Status::kError);
  CHECK(error == "Protocol error: invalid bulk length");
  wire = "*17\r\n";
  CHECK(p.Parse(wire.data(), wire.size(), &consumed, &args, &error) == Status::kError);
}

TEST_CASE("empty multibulk and blank lines are empty commands") {
  auto cmds = ParseAll("*0\r\n\r\n*-1\r\nPING\r\n", 100);
  REQUIRE(cmds.size() == 1);
  CHECK(cmds[0][0] == "PING");
}

TEST_CASE("PeekKeys finds the key of each complete request ahead, and nothing past it") {
  std::string binary("k\r\n2", 4);
  std::vector<std::string> requests = {"*3\r\n$3\r\nSET\r\n$2\r\nk1\r\n$1\r\nv\r\n",
                                       "*2\r\n$3\r\nGET\r\n$4\r\n" + binary + "\r\n",
                                       "*2\r\n$3\r\nDEL\r\n$2\r\nk3\r\n"};
  std::vector<std::string> keys = {"k1", binary, "k3"};
  std::string wire;
  std::vector<size_t> ends;
  for (const std::string& r : requests) ends.push_back((wire += r).size());
  std::array<std::string_view, 8> out;
  for (size_t cut = 0; cut <= wire.size(); cut++) {
    size_t complete = 0;
    while (complete < ends.size() && ends[complete] <= cut) complete++;
    INFO("first " << cut << " bytes");
    REQUIRE(resp::PeekKeys(wire.data(), cut, out) == complete);
    for (size_t i = 0; i < complete; i++) CHECK(out[i] == keys[i]);
  }
  CHECK(resp::PeekKeys(wire.data(), wire.size(), std::span(out.data(), 2)) == 2);
}

TEST_CASE("PeekKeys stops at what it does not look into") {
  std::array<std::string_view, 4> out;
  auto peek = [&](const std::string& wire) {
    return resp::PeekKeys(wire.data(), wire.size(), out);
  };
  const std::string get = "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n";
  CHECK(peek(get + "*1\r\n$4\r\nPING\r\n" + get) == 1);  // one argument: no key
  CHECK(peek(get + "GET k\r\n" + get) == 1);             // inline
  CHECK(peek(get + "*x\r\n") == 1);
  CHECK(peek(get + "*-1\r\n") == 1);
  CHECK(peek(get + "*2\r\n$-1\r\n") == 1);
  CHECK(peek(get + "*2\r\n$3\r\nGET\r\n$99999999999999999999\r\n") == 1);
  CHECK(peek(get + "*9223372036854775807\r\n$3\r\nGET\r\n$1\r\nk\r\n") == 1);
}
