// rdb/: the RDB reader and DUMP writer. Payloads in encodings Debian's Redis 7.0 does not write
// (ziplists, set listpacks, version-3 streams, hashes with field expiries) are built here from
// the format's definition; those it writes are checked against a real redis-server in
// tests/integration/test_rdb.py.
#include <catch2/catch.hpp>
#include <cstring>

#include "rdb/crc64.h"
#include "rdb/reader.h"
#include "rdb/writer.h"

namespace desaster::rdb {
namespace {

void Le(std::string* out, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; i++) out->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

// A ziplist (Redis < 7.0) of `items`; an item starting with '#' is stored as that integer.
std::string Ziplist(const std::vector<std::string>& items) {
  std::string body;
  size_t prev = 0;
  for (const auto& item : items) {
    std::string entry;
    if (prev < 254) {
      entry.push_back(static_cast<char>(prev));
    } else {
      entry.push_back(static_cast<char>(0xfe));
      Le(&entry, prev, 4);
    }
    if (item[0] == '#') {
      int64_t v = std::stoll(item.substr(1));
      if (v >= 0 && v <= 12) {
        entry.push_back(static_cast<char>(0xf1 + v));
      } else if (v >= INT8_MIN && v <= INT8_MAX) {
        entry.push_back(static_cast<char>(0xfe));
        Le(&entry, static_cast<uint64_t>(v), 1);
      } else if (v >= INT16_MIN && v <= INT16_MAX) {
        entry.push_back(static_cast<char>(0xc0));
        Le(&entry, static_cast<uint64_t>(v), 2);
      } else if (v >= -(1 << 23) && v < (1 << 23)) {
        entry.push_back(static_cast<char>(0xf0));
        Le(&entry, static_cast<uint64_t>(v), 3);
      } else if (v >= INT32_MIN && v <= INT32_MAX) {
        entry.push_back(static_cast<char>(0xd0));
        Le(&entry, static_cast<uint64_t>(v), 4);
      } else {
        entry.push_back(static_cast<char>(0xe0));
        Le(&entry, static_cast<uint64_t>(v), 8);
      }
    } else if (item.size() < 64) {
      entry.push_back(static_cast<char>(item.size()));
      entry += item;
    } else if (item.size() < 16384) {
      entry.push_back(static_cast<char>(0x40 | (item.size() >> 8)));
      entry.push_back(static_cast<char>(item.size() & 0xff));
      entry += item;
    } else {
      entry.push_back(static_cast<char>(0x80));
      for (int i = 3; i >= 0; i--)
        entry.push_back(static_cast<char>((item.size() >> (8 * i)) & 0xff));
      entry += item;
    }
    prev = entry.size();
    body += entry;
  }
  std::string zl;
  Le(&zl, 10 + body.size() + 1, 4);
  Le(&zl, 10, 4);  // tail offset: not read
  Le(&zl, items.size(), 2);
  return zl + body + '\xff';
}

std::string Str(std::string_view s) {
  std::string out;
  AppendString(&out, s);
  return out;
}

Object Decode(const std::string& payload) {
  Object o;
  std::string error;
  INFO(error);
  REQUIRE(DecodeDump(payload, &o, &error));
  return o;
}

}  // namespace

TEST_CASE("crc64 is Redis' Jones CRC-64", "[rdb]") {
  CHECK(Crc64(0, "123456789") == 0xe9c6d914c4b8d9caULL);
  std::string long_input(1000, 'x');
  for (size_t i = 0; i < long_input.size(); i++) long_input[i] = static_cast<char>(i * 7);
  // Eight bytes at a time and one at a time agree.
  uint64_t split = Crc64(Crc64(0, std::string_view(long_input).substr(0, 3)),
                         std::string_view(long_input).substr(3));
  CHECK(split == Crc64(0, long_input));
}

TEST_CASE("every type survives EncodeDump and DecodeDump", "[rdb]") {
  Object s;
  s.string = std::string("bin\0ary", 7);
  CHECK(Decode(EncodeDump(s)).string == s.string);

  Object list;
  list.type = Type::kList;
  list.elements = {"a", "", std::string(70000, 'z'), "42"};
  CHECK(Decode(EncodeDump(list)).elements == list.elements);

  Object zset;
  zset.type = Type::kZSet;
  zset.members = {{"m", -1.5}, {"inf", 1.0 / 0.0}, {"tiny", 5e-324}};
  CHECK(Decode(EncodeDump(zset)).members == zset.members);

  Object hash;
  hash.type = Type::kHash;
  hash.fields = {{"f", "v"}, {"n", "-7"}};
  CHECK(Decode(EncodeDump(hash)).fields == hash.fields);

  Object stream;
  stream.type = Type::kStream;
  stream.stream.entries = {{{5, 0}, {"a", "1", "b", "x"}},
                           {{5, 1}, {"a", "-300", "b", "y"}},        // same fields as the first
                           {{9, 0}, {"other", "z"}},                 // other fields, lower seq
                           {{1ull << 40, 3}, {"a", "1", "b", ""}}};  // a big ms delta
  stream.stream.last_id = {1ull << 40, 7};
  Object back = Decode(EncodeDump(stream));
  REQUIRE(back.stream.entries.size() == 4);
  for (size_t i = 0; i < 4; i++) {
    CHECK(back.stream.entries[i].id == stream.stream.entries[i].id);
    CHECK(back.stream.entries[i].fields == stream.stream.entries[i].fields);
  }
  CHECK(back.stream.last_id == stream.stream.last_id);
  CHECK(back.stream.entries_added == 4);
}

TEST_CASE("compact encodings from the format's definition", "[rdb]") {
  SECTION("a ziplist list (type 10) with every integer width") {
    std::vector<std::string> items = {"#0",
                                      "#12",
                                      "#13",
                                      "#-128",
                                      "#1000",
                                      "#-70000",
                                      "#2000000000",
                                      "#-9000000000000000000",
                                      "text",
                                      std::string(300, 'p'),
                                      std::string(20000, 'q')};
    Object o = Decode(DumpFrame(10, Str(Ziplist(items)), 9));
    CHECK(o.type == Type::kList);
    REQUIRE(o.elements.size() == items.size());
    CHECK(o.elements[0] == "0");
    CHECK(o.elements[1] == "12");
    CHECK(o.elements[2] == "13");
    CHECK(o.elements[3] == "-128");
    CHECK(o.elements[5] == "-70000");
    CHECK(o.elements[7] == "-9000000000000000000");
    CHECK(o.elements[10] == items[10]);
  }
  SECTION("a quicklist of ziplists (type 14), Redis 3.2 to 6.2") {
    std::string value;
    AppendLength(&value, 2);
    value += Str(Ziplist({"a", "b"}));
    value += Str(Ziplist({"c"}));
    CHECK(Decode(DumpFrame(14, value, 9)).elements == std::vector<std::string>{"a", "b", "c"});
  }
  SECTION("a quicklist of listpacks with a plain node (type 18)") {
    std::string value;
    AppendLength(&value, 2);
    AppendLength(&value, 2);  // packed
    value += Str(EncodeListpack({"a", "17"}));
    AppendLength(&value, 1);  // plain: one element as it is
    value += Str("big");
    CHECK(Decode(DumpFrame(18, value, 10)).elements == std::vector<std::string>{"a", "17", "big"});
  }
  SECTION("sets: intsets of each width (11) and a listpack (20, Redis 7.2)") {
    for (int width : {2, 4, 8}) {
      std::string is;
      Le(&is, width, 4);
      Le(&is, 2, 4);
      Le(&is, static_cast<uint64_t>(-5), width);
      Le(&is, 7, width);
      CHECK(Decode(DumpFrame(11, Str(is), 9)).elements == std::vector<std::string>{"-5", "7"});
    }
    Object o = Decode(DumpFrame(20, Str(EncodeListpack({"x", "-4000", "99999999999"})), 11));
    CHECK(o.type == Type::kSet);
    CHECK(o.elements == std::vector<std::string>{"x", "-4000", "99999999999"});
  }
  SECTION("sorted sets and hashes as ziplists (12, 13) and listpacks (17, 16)") {
    Object z = Decode(DumpFrame(12, Str(Ziplist({"a", "#3", "b", "2.5"})), 9));
    CHECK(z.members == std::vector<std::pair<std::string, double>>{{"a", 3}, {"b", 2.5}});
    Object h = Decode(DumpFrame(13, Str(Ziplist({"f", "#1", "g", "v"})), 9));
    CHECK(h.fields == std::vector<std::pair<std::string, std::string>>{{"f", "1"}, {"g", "v"}});
    Object z2 = Decode(DumpFrame(17, Str(EncodeListpack({"a", "-1", "b", "inf"})), 10));
    CHECK(z2.members[1].second > 1e308);
    Object h2 = Decode(DumpFrame(16, Str(EncodeListpack({"f", "v"})), 10));
    CHECK(h2.fields.size() == 1);
  }
  SECTION("a sorted set with text scores (type 3, RDB before version 8)") {
    std::string value;
    AppendLength(&value, 2);
    value += Str("a") +
             "\x03"
             "1.5";
    value += Str("b") + "\xfe";  // +inf
    Object z = Decode(DumpFrame(3, value, 7));
    CHECK(z.members[0].second == 1.5);
    CHECK(z.members[1].second > 1e308);
  }
  SECTION("hashes with field expiries (Redis 7.4: types 24 and 25)") {
    std::string value;
    Le(&value, 1000, 8);  // the earliest expiry
    AppendLength(&value, 2);
    AppendLength(&value, 0);  // no expiry
    value += Str("keep") + Str("1");
    AppendLength(&value, 501);  // 501 + 1000 - 1
    value += Str("soon") + Str("2");
    Object h = Decode(DumpFrame(24, value, 12));
    CHECK(h.fields.size() == 2);
    CHECK(h.field_expires == std::vector<int64_t>{0, 1500});

    std::string lp;
    Le(&lp, 1500, 8);
    lp += Str(EncodeListpack({"a", "1", "0", "b", "2", "1500"}));
    Object h2 = Decode(DumpFrame(25, lp, 12));
    CHECK(h2.field_expires == std::vector<int64_t>{0, 1500});
  }
  SECTION("a version-3 stream with a deleted entry and a consumer group (type 21)") {
    std::string node_id(16, '\0');
    node_id[7] = 10;                                            // ms 10, seq 0
    std::vector<std::string> items = {"2", "1", "1", "f", "0",  // master entry: 2 live, 1 deleted
                                      "2", "0", "0", "a", "4",  // 10-0 same fields
                                      "3", "0", "1", "b", "4",  // 10-1 deleted
                                      "0", "5", "0", "2", "g", "c", "h", "d", "8"};  // 15-0
    std::string value;
    AppendLength(&value, 1);
    value += Str(node_id) + Str(EncodeListpack(items));
    AppendLength(&value, 2);  // length
    AppendLength(&value, 15);
    AppendLength(&value, 0);  // last ID 15-0
    AppendLength(&value, 10);
    AppendLength(&value, 0);  // first ID
    AppendLength(&value, 10);
    AppendLength(&value, 1);  // max deleted 10-1
    AppendLength(&value, 3);  // entries added
    AppendLength(&value, 1);  // one group
    value += Str("workers");
    AppendLength(&value, 10);
    AppendLength(&value, 0);
    AppendLength(&value, 1);  // entries read
    AppendLength(&value, 1);  // one pending entry
    value += std::string(7, '\0') + '\x0a' + std::string(8, '\0');
    Le(&value, 1234, 8);
    AppendLength(&value, 1);
    AppendLength(&value, 1);  // one consumer
    value += Str("alice");
    Le(&value, 1, 8);
    Le(&value, 2, 8);  // active time (version 3)
    AppendLength(&value, 1);
    value += std::string(7, '\0') + '\x0a' + std::string(8, '\0');
    Object s = Decode(DumpFrame(21, value, 11));
    REQUIRE(s.stream.entries.size() == 2);
    CHECK(s.stream.entries[0].fields == std::vector<std::string>{"f", "a"});
    CHECK(s.stream.entries[1].id == StreamId{15, 0});
    CHECK(s.stream.entries[1].fields == std::vector<std::string>{"g", "c", "h", "d"});
    CHECK(s.stream.max_deleted == StreamId{10, 1});
    CHECK(s.stream.entries_added == 3);
    REQUIRE(s.stream.groups.size() == 1);
    CHECK(s.stream.groups[0].name == "workers");
    CHECK(s.stream.groups[0].last_delivered == StreamId{10, 0});
    CHECK(s.stream.groups[0].entries_read == 1);
    REQUIRE(s.stream.groups[0].pending.size() == 1);
    const StreamPending& p = s.stream.groups[0].pending[0];
    CHECK((p.id == StreamId{10, 0} && p.delivery_ms == 1234 && p.deliveries == 1 &&
           p.consumer == "alice"));
    REQUIRE(s.stream.groups[0].consumers.size() == 1);
    CHECK((s.stream.groups[0].consumers[0].name == "alice" &&
           s.stream.groups[0].consumers[0].seen_ms == 1));

    // Written back (version 1: entries-read is left to the reader) and read again.
    Object again = Decode(EncodeDump(s));
    REQUIRE(again.stream.groups.size() == 1);
    CHECK_FALSE(again.stream.groups[0].entries_read.has_value());
    CHECK(again.stream.groups[0].pending[0].consumer == "alice");
    CHECK(again.stream.groups[0].pending[0].delivery_ms == 1234);
    CHECK(again.stream.groups[0].consumers[0].seen_ms == 1);

    // A pending entry no consumer owns, or one two consumers own, is corrupt.
    std::string orphan = value.substr(0, value.find("alice") - 2);
    AppendLength(&orphan, 0);  // no consumer
    Object o;
    std::string error;
    CHECK_FALSE(DecodeDump(DumpFrame(21, orphan, 11), &o, &error));
  }
}

TEST_CASE("corrupt payloads fail cleanly", "[rdb]") {
  Object o;
  std::string error;
  Object hash;
  hash.type = Type::kHash;
  hash.fields = {{"f", "v"}, {"g", std::string(100, 'w')}};
  const std::string good = EncodeDump(hash);

  std::string bad_crc = good;
  bad_crc.back() ^= 1;
  CHECK_FALSE(DecodeDump(bad_crc, &o, &error));
  CHECK(error == "DUMP payload version or checksum are wrong");

  CHECK_FALSE(DecodeDump(DumpFrame(4, good.substr(1, good.size() - 11), 13), &o, &error));

  // Every truncation and every single-byte change of the value (with a valid footer) is an
  // error or a value, never a crash; a count larger than the input allocates nothing.
  std::string value = good.substr(1, good.size() - 11);
  for (size_t cut = 0; cut < value.size(); cut++) {
    CHECK_FALSE(DecodeDump(DumpFrame(4, value.substr(0, cut)), &o, &error));
  }
  for (size_t i = 0; i < value.size(); i++) {
    for (int bit = 0; bit < 8; bit++) {
      std::string changed = value;
      changed[i] ^= static_cast<char>(1 << bit);
      DecodeDump(DumpFrame(4, changed), &o, &error);
    }
  }
  std::string huge;
  huge.push_back(static_cast<char>(0x81));
  huge.append("\x7f\xff\xff\xff\xff\xff\xff\xff", 8);
  CHECK_FALSE(DecodeDump(DumpFrame(1, huge), &o, &error));
  CHECK(error == "Bad data format");
  // An empty list is not a value.
  CHECK_FALSE(DecodeDump(DumpFrame(1, std::string(1, '\0')), &o, &error));
  // An LZF string that claims more bytes than it decompresses to.
  CHECK_FALSE(DecodeDump(DumpFrame(0, std::string("\xc3\x02\x10\x01xx", 6)), &o, &error));
}

TEST_CASE("an RDB file reads record by record", "[rdb]") {
  std::string file = "REDIS0011";
  file += '\xfa' + Str("redis-ver") + Str("7.2.0");
  file += '\xfe';
  AppendLength(&file, 3);  // SELECTDB 3
  file += '\xfb';
  AppendLength(&file, 2);
  AppendLength(&file, 1);  // RESIZEDB
  file += '\xfc';
  Le(&file, 1800000000000, 8);             // an expiry
  file += '\x00' + Str("k") + "\xc0\x7b";  // a string stored as the int8 123
  file += '\xf7';                          // module aux data, skipped
  AppendLength(&file, 12345);
  AppendLength(&file, 2);
  AppendLength(&file, 1);
  AppendLength(&file, 5);
  file += Str("blob");
  AppendLength(&file, 0);
  file += '\x0b' + Str("s");  // an intset
  std::string is;
  Le(&is, 2, 4);
  Le(&is, 1, 4);
  Le(&is, 9, 2);
  file += Str(is);
  file += '\xff';
  Le(&file, Crc64(0, file), 8);

  FileReader reader(file);
  Record r;
  REQUIRE(reader.Next(&r));
  CHECK(r.kind == Record::Kind::kAux);
  CHECK(r.key == "redis-ver");
  CHECK(r.aux == "7.2.0");
  REQUIRE(reader.Next(&r));
  CHECK(r.kind == Record::Kind::kKey);
  CHECK(r.db == 3);
  CHECK(r.key == "k");
  CHECK(r.value.string == "123");
  CHECK(r.expire_at_ms == 1800000000000);
  REQUIRE(reader.Next(&r));
  CHECK(r.key == "s");
  CHECK(r.expire_at_ms == 0);
  CHECK(r.value.elements == std::vector<std::string>{"9"});
  REQUIRE(reader.Next(&r));
  CHECK(r.kind == Record::Kind::kEnd);
  CHECK_FALSE(reader.Next(&r));
  CHECK(reader.error().empty());
  CHECK(reader.version() == 11);
  CHECK(reader.warnings().size() == 1);

  std::string flipped = file;
  flipped[file.size() - 12] ^= 1;  // inside the intset: the checksum catches it
  FileReader bad(flipped);
  while (bad.Next(&r)) {
  }
  CHECK_FALSE(bad.error().empty());

  FileReader newer("REDIS0013\xff");
  CHECK_FALSE(newer.Next(&r));
  CHECK(newer.error().find("RDB version 13 is not supported") == 0);
}

}  // namespace desaster::rdb
