#include "cluster/log_entry.h"

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
  SECTION("an unknown operation is refused") {
    std::string bad = payload;
    bad[0] = static_cast<char>(200);
    REQUIRE_FALSE(DecodeMutations(bad, 16));
  }
}

TEST_CASE("a log entry's header round-trips and a newer format is refused") {
  LogEntry e{kLogFormat, false, 12345678901, "payload"};
  auto back = DecodeLogEntry(EncodeLogEntry(e));
  REQUIRE(back);
  REQUIRE(back->final == false);
  REQUIRE(back->epoch == 12345678901u);
  REQUIRE(back->payload == "payload");

  std::string newer = EncodeLogEntry(e);
  newer[0] = static_cast<char>(kLogFormat + 1);
  REQUIRE_FALSE(DecodeLogEntry(newer));
  REQUIRE_FALSE(DecodeLogEntry(""));
  REQUIRE_FALSE(DecodeLogEntry(std::string("\x01\x01", 2)));
  REQUIRE_FALSE(DecodeLogEntry(EncodeLogEntry(LogEntry{kLogFormat, true, 0, "x"})));
}

TEST_CASE("a group too big for one entry is split and reassembled") {
  std::string payload(2500, 'p');
  for (size_t i = 0; i < payload.size(); i++) payload[i] = static_cast<char>(i * 7);
  auto parts = SplitGroup(payload, 9, 1000);
  REQUIRE(parts.size() == 3);
  REQUIRE_FALSE(parts[0].final);
  REQUIRE(parts[2].final);

  GroupAssembler assembler;
  REQUIRE_FALSE(assembler.Add(parts[0]));
  REQUIRE_FALSE(assembler.Add(parts[1]));
  REQUIRE(assembler.incomplete());
  auto whole = assembler.Add(parts[2]);
  REQUIRE(whole);
  REQUIRE(*whole == payload);
  REQUIRE_FALSE(assembler.incomplete());

  SECTION("parts a later epoch's entry follows were never acknowledged: dropped") {
    REQUIRE_FALSE(assembler.Add(parts[0]));
    auto next = assembler.Add(LogEntry{kLogFormat, true, 10, "new master"});
    REQUIRE(next);
    REQUIRE(*next == "new master");
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
