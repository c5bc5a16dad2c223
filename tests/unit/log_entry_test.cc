#include "cluster/log_entry.h"

#include <fmt/format.h>

#include <catch2/catch.hpp>
#include <limits>

#include "cluster/node.h"

using namespace desaster;

namespace {

Mutation Make(Mutation::Op op, std::string key, std::string arg = {}, std::string arg2 = {},
              int64_t num = 0, double score = 0, bool flag = false, int db = 0) {
  Mutation m;
  m.op = op;
  m.key = std::move(key);
  m.arg = std::move(arg);
  m.arg2 = std::move(arg2);
  m.num = num;
  m.score = score;
  m.flag = flag;
  m.db = db;
  return m;
}

void RequireSame(const Mutation& a, const Mutation& b) {
  REQUIRE(a.op == b.op);
  REQUIRE(a.flag == b.flag);
  REQUIRE(a.db == b.db);
  REQUIRE(a.num == b.num);
  REQUIRE(std::bit_cast<uint64_t>(a.score) == std::bit_cast<uint64_t>(b.score));
  REQUIRE(a.key == b.key);
  REQUIRE(a.arg == b.arg);
  REQUIRE(a.arg2 == b.arg2);
}

}  // namespace

TEST_CASE("log entries carry every mutation of a group exactly") {
  std::vector<Batch> batches(2);
  batches[0].mutations.push_back(Make(Mutation::Op::kListPush, "q", "job", {}, 0, 0, true, 3));
  batches[0].mutations.push_back(Make(Mutation::Op::kZAdd, "z", "m", {}, 0, -0.0));
  batches[1].mutations.push_back(
      Make(Mutation::Op::kExpireAt, "k", {}, {}, std::numeric_limits<int64_t>::min()));
  batches[1].mutations.push_back(Make(Mutation::Op::kHashSet, std::string("\0k", 2), "f",
                                      std::string(100000, 'x'), -1,
                                      std::numeric_limits<double>::infinity()));
  batches[1].mutations.push_back(Make(Mutation::Op::kFailureDelete, "", {}, {},
                                      std::numeric_limits<int64_t>::max(), 0, false, 15));
  batches[1].mutations.push_back(Make(Mutation::Op::kScriptLoad, "", "return 1"));
  std::string payload = EncodeMutations(batches);
  auto decoded = DecodeMutations(payload, 16);
  REQUIRE(decoded);
  REQUIRE(decoded->size() == 6);
  RequireSame((*decoded)[0], batches[0].mutations[0]);
  RequireSame((*decoded)[1], batches[0].mutations[1]);
  RequireSame((*decoded)[2], batches[1].mutations[0]);
  RequireSame((*decoded)[3], batches[1].mutations[1]);
  RequireSame((*decoded)[4], batches[1].mutations[2]);
  RequireSame((*decoded)[5], batches[1].mutations[3]);

  SECTION("a database the node does not have is refused") {
    REQUIRE_FALSE(DecodeMutations(payload, 15));
  }
  SECTION("every truncation is refused, never misread") {
    for (size_t n = 1; n < payload.size(); n += 997) {
      auto cut = DecodeMutations(std::string_view(payload).substr(0, payload.size() - n), 16);
      if (cut) REQUIRE(cut->size() < 6);  // a cut at a mutation's boundary is a shorter group
    }
    REQUIRE_FALSE(DecodeMutations(payload.substr(0, payload.size() - 1), 16));
  }
  SECTION("a list of deleted jobs cut inside an id is refused") {
    std::vector<Batch> deletes(1);
    uint64_t ids[] = {1000, 1001, uint64_t{1} << 62};
    std::string list = EncodeJobIds(ids);
    deletes[0].mutations.push_back(Make(Mutation::Op::kJobsDelete, "q", list));
    auto whole = DecodeMutations(EncodeMutations(deletes), 16);
    REQUIRE(whole);
    RequireSame((*whole)[0], deletes[0].mutations[0]);
    deletes[0].mutations[0].arg = list.substr(0, list.size() - 1);
    REQUIRE_FALSE(DecodeMutations(EncodeMutations(deletes), 16));
  }
  SECTION("an unknown operation is refused") {
    std::string bad = payload;
    bad[0] = static_cast<char>(200);
    REQUIRE_FALSE(DecodeMutations(bad, 16));
  }
}

TEST_CASE("a log entry's header round-trips and a newer format is refused") {
  LogEntry e{kLogFormat, false, true, 12345678901, "payload"};
  auto back = DecodeLogEntry(EncodeLogEntry(e));
  REQUIRE(back);
  REQUIRE(back->final == false);
  REQUIRE(back->compressed == true);
  REQUIRE(back->epoch == 12345678901u);
  REQUIRE(back->payload == "payload");

  std::string newer = EncodeLogEntry(e);
  newer[0] = static_cast<char>(kLogFormat + 1);
  REQUIRE_FALSE(DecodeLogEntry(newer));
  std::string unknown_flag = EncodeLogEntry(e);
  unknown_flag[1] = 4;
  REQUIRE_FALSE(DecodeLogEntry(unknown_flag));
  REQUIRE_FALSE(DecodeLogEntry(""));
  REQUIRE_FALSE(DecodeLogEntry(std::string("\x02\x01", 2)));
  REQUIRE_FALSE(DecodeLogEntry(EncodeLogEntry(LogEntry{kLogFormat, true, false, 0, "x"})));

  SECTION("an entry of format 1 (before compression) is read; it cannot say compressed") {
    auto old = DecodeLogEntry(std::string("\x01\x01\x05old", 6));
    REQUIRE(old);
    REQUIRE(old->format == 1);
    REQUIRE(old->final);
    REQUIRE_FALSE(old->compressed);
    REQUIRE(old->epoch == 5);
    REQUIRE(old->payload == "old");
    REQUIRE_FALSE(DecodeLogEntry(std::string("\x01\x03\x05old", 6)));
  }
}

namespace {

// `n` pushes of resque jobs as a master commits them: alike in shape, each with its own id.
std::vector<Batch> JobPushes(int n) {
  std::vector<Batch> batches(1);
  for (int i = 0; i < n; i++) {
    batches[0].mutations.push_back(Make(
        Mutation::Op::kListPush, "resque:queue:mail",
        fmt::format(R"({{"class":"SendMail","args":[{},"user{}@example.com"],"jid":"{:024x}"}})", i,
                    i * 7919, static_cast<uint64_t>(i) * 0x9e3779b97f4a7c15ull)));
  }
  return batches;
}

// The group's entries through the log and an assembler, decoded.
std::optional<std::vector<Mutation>> ThroughTheLog(const std::vector<LogEntry>& entries) {
  GroupAssembler assembler;
  std::optional<LogGroup> group;
  for (const LogEntry& entry : entries) {
    REQUIRE_FALSE(group);
    auto read = DecodeLogEntry(EncodeLogEntry(entry));
    REQUIRE(read);
    group = assembler.Add(std::move(*read));
  }
  REQUIRE(group);
  return DecodeGroup(*group, 16);
}

}  // namespace

TEST_CASE("a group is compressed when that makes it smaller") {
  std::vector<Batch> batches = JobPushes(500);
  size_t raw = EncodeMutations(batches).size();
  auto entries = EncodeGroup(batches, 3, 1 << 20);
  REQUIRE(entries.size() == 1);
  REQUIRE(entries[0].compressed);
  REQUIRE(entries[0].payload.size() * 3 < raw);
  auto mutations = ThroughTheLog(entries);
  REQUIRE(mutations);
  REQUIRE(mutations->size() == 500);
  for (size_t i = 0; i < 500; i++) RequireSame((*mutations)[i], batches[0].mutations[i]);

  SECTION("split into parts and reassembled, compressed") {
    auto parts = EncodeGroup(batches, 3, 1000);
    REQUIRE(parts.size() > 2);
    REQUIRE(parts.back().final);
    for (const LogEntry& part : parts) REQUIRE(part.compressed);
    auto again = ThroughTheLog(parts);
    REQUIRE(again);
    REQUIRE(again->size() == 500);
  }
  SECTION("a damaged compressed group is refused, never misapplied") {
    std::string& payload = entries[0].payload;
    for (size_t at : {size_t{0}, size_t{5}, payload.size() / 2, payload.size() - 1}) {
      LogGroup bad{true, payload};
      bad.payload[at] = static_cast<char>(bad.payload[at] ^ 0x20);
      REQUIRE_FALSE(DecodeGroup(bad, 16));
    }
    REQUIRE_FALSE(DecodeGroup(LogGroup{true, payload.substr(0, payload.size() - 1)}, 16));
    REQUIRE_FALSE(DecodeGroup(LogGroup{true, "not zstd"}, 16));
    REQUIRE_FALSE(DecodeGroup(LogGroup{true, ""}, 16));
  }
}

TEST_CASE("a group too big for one entry is split and reassembled") {
  // Bytes that do not compress: the group goes as it is.
  std::string noise(2500, 'p');
  uint64_t x = 88172645463325252ull;
  for (char& c : noise) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    c = static_cast<char>(x);
  }
  std::vector<Batch> batches(1);
  batches[0].mutations.push_back(Make(Mutation::Op::kSetString, "k", noise));
  auto parts = EncodeGroup(batches, 9, 1000);
  REQUIRE(parts.size() == 3);
  REQUIRE_FALSE(parts[0].final);
  REQUIRE(parts[2].final);
  for (const LogEntry& part : parts) REQUIRE_FALSE(part.compressed);

  GroupAssembler assembler;
  REQUIRE_FALSE(assembler.Add(parts[0]));
  REQUIRE_FALSE(assembler.Add(parts[1]));
  REQUIRE(assembler.incomplete());
  auto whole = assembler.Add(parts[2]);
  REQUIRE(whole);
  REQUIRE_FALSE(assembler.incomplete());
  auto mutations = DecodeGroup(*whole, 16);
  REQUIRE(mutations);
  REQUIRE(mutations->size() == 1);
  RequireSame((*mutations)[0], batches[0].mutations[0]);

  SECTION("parts a later epoch's entry follows were never acknowledged: dropped") {
    REQUIRE_FALSE(assembler.Add(parts[0]));
    auto next = assembler.Add(LogEntry{kLogFormat, true, false, 10, "new master"});
    REQUIRE(next);
    REQUIRE(next->payload == "new master");
  }
}

TEST_CASE("log keys sort by LSN and read back") {
  ClusterKeys keys("prod");
  REQUIRE(keys.log(42) == "/desaster/prod/log/00000000000000000042");
  REQUIRE(keys.log(9) < keys.log(10));
  REQUIRE(keys.LsnOf(keys.log(18446744073709551615u)) == 18446744073709551615u);
  REQUIRE(keys.LsnOf(keys.leader()) == 0);
  REQUIRE(keys.LsnOf("/desaster/prod/log/0000000000000000004x") == 0);

  NodeRecord node = NodeRecord::Decode(NodeRecord{"::1:6379", 18446744073709551615u, ""}.Encode());
  REQUIRE(node.address == "::1:6379");
  REQUIRE(node.applied == 18446744073709551615u);
  REQUIRE(node.sentinel.empty());
  node = NodeRecord::Decode(NodeRecord{"10.0.0.2:6379", 7, "10.0.0.2:26379"}.Encode());
  REQUIRE((node.address == "10.0.0.2:6379" && node.applied == 7));
  REQUIRE(node.sentinel == "10.0.0.2:26379");
  REQUIRE(NodeRecord::Decode("nospace").applied == 0);
  LeaderRecord leader = LeaderRecord::Decode(LeaderRecord{"a1b2", "10.0.0.1:6379"}.Encode());
  REQUIRE(leader.node_id == "a1b2");
  REQUIRE(leader.address == "10.0.0.1:6379");
  REQUIRE(LeaderRecord::Decode("lonely").address.empty());
}
