#include "server/data/keyspace.h"

#include <catch2/catch.hpp>

#include "tests/unit/queue_dump.h"

using namespace desaster;

namespace {

// Applies `from`'s recorded mutations to a fresh keyspace: both must then hold the same data.
std::string Dump(Keyspace& ks) {
  std::string out;
  for (int i = 0; i < ks.databases(); i++) {
    std::map<std::string, std::string> keys;
    ks.db(i).ForEach([&](std::string_view k, const Value& v) {
      std::string repr = std::string(TypeName(v.type())) + ":" + std::to_string(v.expire_at_ms);
      switch (v.type()) {
        case ValueType::kString:
          repr += v.str();
          break;
        case ValueType::kList:
          for (const auto& e : v.list()) repr += "," + e;
          break;
        case ValueType::kHash: {
          std::map<std::string, std::string> sorted;
          v.hash().ForEach([&](std::string_view f, const std::string& x) { sorted.emplace(f, x); });
          for (const auto& [f, x] : sorted) repr += "," + f + "=" + x;
          break;
        }
        case ValueType::kSet: {
          std::set<std::string> sorted;
          v.set().ForEach([&](std::string_view m, const Unit&) { sorted.emplace(m); });
          for (const auto& m : sorted) repr += "," + m;
          break;
        }
        case ValueType::kZSet:
          for (const auto& e : v.zset()) repr += "," + e.second + "@" + std::to_string(e.first);
          break;
        case ValueType::kStream:
          for (const auto& [id, fields] : v.stream().entries) {
            repr += "," + id.ToString() + "=" + EncodeFields(fields);
          }
          repr += "/" + v.stream().meta.Encode();
          break;
        case ValueType::kQueue:
          repr += "queue";  // DescribeQueues shows the jobs
          break;
      }
      keys.emplace(k, repr);
    });
    for (const auto& [k, v] : keys) out += std::to_string(i) + "/" + k + "=" + v + "\n";
  }
  return out + DescribeQueues(ks);
}

}  // namespace

TEST_CASE("recorded mutations replay to the same state") {
  Keyspace ks(4);
  ks.set_now_ms(1000);
  Database& db = ks.db(0);
  db.SetString("s", "v", false);
  db.ExpireAt("s", 5000);
  db.SetString("s", "w", true);  // keeps the TTL
  db.ListPush("l", false, "a");
  db.ListPush("l", false, "b");
  db.ListPush("l", true, "z");
  db.ListInsert("l", 1, "mid");
  db.ListSet("l", 0, "Z");
  db.ListRemove("l", 2);
  db.ListPop("l", false);
  db.HashSet("h", "f", "1");
  db.HashSet("h", "g", "2");
  db.HashDelete("h", "f");
  db.SetAdd("set", "x");
  db.SetAdd("set", "y");
  db.SetRemove("set", "x");
  db.ZAdd("z", "m", 2.5);
  db.ZAdd("z", "n", -1);
  db.ZAdd("z", "m", 3);
  db.ZRemove("z", "n");
  db.StreamAdd("st", StreamId{5, 1}, {"f", "v"});
  db.StreamAdd("st", StreamId{7, 0}, {"g", std::string("\0x", 2)});
  db.StreamDelete("st", StreamId{5, 1});
  db.SetString("gone", "x", false);
  db.Rename("gone", "renamed");
  db.CopyTo("renamed", ks.db(2), "copied");
  db.SetString("tmp", "x", false);
  db.Delete("tmp");
  ks.db(3).SetString("flushed", "x", false);
  ks.db(3).Flush();
  // Queues: pushes at both ends, a pop, a removal, an update, a delayed job, a move, a
  // reconfiguration, a dropped queue and a DEL of a queue key.
  Queue* q = db.QueueForPush("resque:queue:a");
  REQUIRE(q);
  db.PushJob(q, {.payload = R"({"class":"A","args":[1]})"});
  db.PushJob(q, {.payload = R"({"class":"B","args":[]})", .priority = 5});
  Job* front = db.PushJob(q, {.payload = "requeued", .front = true});
  db.PushJob(q, {.payload = "later", .run_at_ms = 9000});
  REQUIRE(db.PopJob(q)->payload == "requeued");
  (void)front;
  std::string error;
  QueueConfig prio;
  prio.discipline = "prio";
  REQUIRE(db.ConfigureQueue(q, prio, &error));
  Job* x = db.PushJob(q, {.payload = "x"});
  db.UpdateJob(x, [](Job& j) { j.priority = 9; });
  Queue* other = db.CreateQueue("native", QueueConfig{}, &error);
  REQUIRE(other);
  db.MoveJob(db.PushJob(q, {.payload = "moved"}), other);
  db.RemoveJob(db.PushJob(q, {.payload = "removed"}));
  db.DropQueue(db.CreateQueue("dropped", QueueConfig{}, &error));
  Queue* sk = db.QueueForPush("queue:sk");
  for (const char* p : {"deleted with its key", "and this", "and that"})
    db.PushJob(sk, {.payload = p});
  db.Delete("queue:sk");
  // Jobs of two queues removed at once (JOB.DELETE of several ids): one mutation per queue.
  Job* mine = db.PushJob(other, {.payload = "removed with another queue's"});
  Job* theirs = db.PushJob(q, {.payload = "removed with the native queue's"});
  Job* kept = db.PushJob(q, {.payload = "kept"});
  std::vector<Job*> pair{mine, theirs};
  db.RemoveJobs(pair);
  (void)kept;

  Keyspace replica(4);
  replica.set_now_ms(1000);
  for (const auto& m : ks.TakeMutations()) replica.Apply(m);
  CHECK_FALSE(replica.HasMutations());
  CHECK(Dump(replica) == Dump(ks));
  CHECK(Dump(ks).find("0/l=list:0,Z,mid") != std::string::npos);
  CHECK(Dump(ks).find("0/resque:queue:a=list:0queue") != std::string::npos);
  CHECK(Dump(ks).find("{x|p9") < Dump(ks).find("{{\"class\":\"B\""));
  CHECK(Dump(ks).find("kept") != std::string::npos);
  CHECK(Dump(ks).find("removed with") == std::string::npos);
  CHECK(Dump(ks).find("and this") == std::string::npos);
}

TEST_CASE("a job deletion list round-trips any ids, and a cut one is refused") {
  const uint64_t top = UINT64_MAX;
  // Ascending, descending, the extremes and a repeat: each is a difference from the one before.
  std::vector<uint64_t> ids{5, 6, 7, 0, top, 1, top - 1, top, 0x01a24d0b7c990000, 3};
  std::string list = EncodeJobIds(ids);
  CHECK(EncodeJobIds(std::vector<uint64_t>{100, 101, 102}).size() == 4);  // 2 + 1 + 1 bytes
  std::vector<uint64_t> back;
  REQUIRE(DecodeJobIds(list, &back));
  CHECK(back == ids);
  back.clear();
  CHECK(DecodeJobIds("", &back));
  CHECK(back.empty());
  CHECK_FALSE(DecodeJobIds(list.substr(0, list.size() - 1) + "\x80", &back));
}

TEST_CASE("a replica applies a job deletion list that names a job twice once") {
  Keyspace ks(1), replica(1);
  Database& db = ks.db(0);
  Queue* q = db.QueueForPush("resque:queue:twice");
  Job* a = db.PushJob(q, {.payload = "a"});
  Job* b = db.PushJob(q, {.payload = "b"});
  db.PushJob(q, {.payload = "c"});
  for (const auto& m : ks.TakeMutations()) replica.Apply(m);
  Mutation m;  // as a damaged log entry could hold it: RemoveJobs never lists an id twice
  m.op = Mutation::Op::kJobsDelete;
  m.key = "resque:queue:twice";
  m.arg = EncodeJobIds(std::vector<uint64_t>{a->id, b->id, a->id});
  replica.Apply(m);
  db.RemoveJobs(std::vector<Job*>{a, b});
  CHECK(Dump(replica) == Dump(ks));
  CHECK(replica.db(0).FindQueue("resque:queue:twice")->ready() == 1);
}

TEST_CASE("clearing a queue larger than a slice takes all of its jobs and no other's") {
  Keyspace ks(1), replica(1);
  ks.set_now_ms(1000);
  replica.set_now_ms(1000);
  Database& db = ks.db(0);
  std::string error;
  Queue* q = db.CreateQueue("big", QueueConfig{}, &error);
  Queue* other = db.CreateQueue("other", QueueConfig{}, &error);
  REQUIRE((q && other));
  // More ready and more scheduled jobs than ClearQueue removes in one slice (64k); the other
  // queue's scheduled jobs lie between them in the timer index, where slices resume.
  constexpr int kReady = 150000, kScheduled = 70000;
  for (int i = 0; i < kReady; i++) db.PushJob(q, {.payload = "ready"});
  for (int i = 0; i < kScheduled; i++) {
    db.PushJob(q, {.payload = "later", .run_at_ms = 5000 + i});
    if (i % 3 == 0) db.PushJob(other, {.payload = "theirs", .run_at_ms = 5000 + i});
  }
  for (int i = 0; i < 3; i++) db.PushJob(other, {.payload = "theirs"});
  auto any = [](const Job&) { return true; };
  for (int i = 0; i < 2; i++) REQUIRE(db.LeaseNext(q, any, {"worker-1", ""}, 30000));
  REQUIRE(db.LeaseNext(other, any, {"worker-1", ""}, 30000));
  for (const auto& m : ks.TakeMutations()) replica.Apply(m);
  size_t theirs = other->ready() + other->scheduled() + other->running();

  SECTION("waiting ones") {
    CHECK(db.ClearQueue(q, Database::JobsOf::kWaiting) == kReady - 2 + kScheduled);
    CHECK(q->ready() + q->scheduled() == 0);
    CHECK(q->running() == 2);
    CHECK(db.jobs() == theirs + 2);
  }
  SECTION("all") {
    CHECK(db.ClearQueue(q, Database::JobsOf::kAll) == kReady + kScheduled);
    CHECK(q->ready() + q->scheduled() + q->running() == 0);
    CHECK(db.jobs() == theirs);
  }
  CHECK(other->ready() + other->scheduled() + other->running() == theirs);
  auto mutations = ks.TakeMutations();
  CHECK(mutations.size() < 10);  // a kJobsDelete per slice
  for (const auto& m : mutations) replica.Apply(m);
  CHECK(Dump(replica) == Dump(ks));
}

TEST_CASE("expired keys disappear on access and record a delete") {
  Keyspace ks(1);
  ks.set_now_ms(1000);
  ks.db(0).SetString("k", "v", false);
  ks.db(0).ExpireAt("k", 2000);
  ks.TakeMutations();
  ks.set_now_ms(2000);
  CHECK(ks.db(0).Find("k") == nullptr);
  auto ms = ks.TakeMutations();
  REQUIRE(ms.size() == 1);
  CHECK(ms[0].op == Mutation::Op::kDelete);
}

TEST_CASE("an expiry in the past deletes the key") {
  Keyspace ks(1);
  ks.set_now_ms(1000);
  ks.db(0).SetString("k", "v", false);
  ks.db(0).ExpireAt("k", 999);
  CHECK(ks.db(0).size() == 0);
}

TEST_CASE("active expiry removes due keys only") {
  Keyspace ks(1);
  ks.set_now_ms(1000);
  for (int i = 0; i < 10; i++) {
    ks.db(0).SetString("k" + std::to_string(i), "v", false);
    ks.db(0).ExpireAt("k" + std::to_string(i), 1000 + 100 * i + 1);
  }
  ks.set_now_ms(1500);
  CHECK(ks.db(0).ExpireDue(100) == 5);
  CHECK(ks.db(0).size() == 5);
}

TEST_CASE("a SET over a string drops its TTL and its expiry entry, KEEPTTL keeps both") {
  Keyspace ks(1);
  Database& db = ks.db(0);
  ks.set_now_ms(1000);
  for (const char* key : {"plain", "kept", "was-list"}) {
    if (std::string(key) == "was-list") {
      db.ListPush(key, false, "e");
    } else {
      db.SetString(key, "old", false);
    }
    db.ExpireAt(key, 2000);
  }
  db.SetString("plain", "new", false);
  db.SetString("kept", "new", true);
  db.SetString("was-list", "new", true);
  CHECK(db.Find("plain")->expire_at_ms == 0);
  CHECK(db.Find("kept")->expire_at_ms == 2000);
  CHECK(db.Find("was-list")->expire_at_ms == 2000);
  ks.set_now_ms(3000);
  CHECK(db.ExpireDue(100) == 2);  // an expiry entry left behind would take "plain" too
  CHECK(db.size() == 1);
  CHECK(db.Find("plain")->str() == "new");
}

TEST_CASE("watchers are flagged by any change to their key") {
  Keyspace ks(2);
  WatchFlag flag;
  ks.Watch(0, "k", &flag);
  ks.db(1).SetString("k", "other db", false);
  CHECK_FALSE(flag.dirty);
  ks.db(0).SetString("k", "v", false);
  CHECK(flag.dirty);
  flag.dirty = false;
  ks.db(0).Flush();
  CHECK(flag.dirty);
  ks.Unwatch(0, "k", &flag);
}

TEST_CASE("leases: expiry returns the job to the head of its queue, flush forgets them") {
  Keyspace ks(1);
  ks.set_now_ms(1000);
  Database& db = ks.db(0);
  Queue* q = db.QueueForPush("resque:queue:l");
  db.PushJob(q, {.payload = "a"});
  db.PushJob(q, {.payload = "b"});
  Job* leased = db.LeaseNext(
      q, [](const Job&) { return true; }, {"w1", ""}, 500);
  REQUIRE(leased);
  CHECK(leased->payload == "a");
  CHECK(q->running() == 1);
  db.ExtendLeases({"w1", ""}, 2000);
  ks.set_now_ms(1999);
  CHECK(db.ExpireLeases(10) == 0);
  ks.set_now_ms(2000);
  CHECK(db.ExpireLeases(10) == 1);
  CHECK(q->running() == 0);
  auto again = db.PopJob(q);
  CHECK(again->payload == "a");  // back at the head
  CHECK(again->attempts == 1);   // the lost run counts
  REQUIRE(db.LeaseNext(
      q, [](const Job&) { return true; }, {"w1", ""}, 500));
  db.Flush();
  int leases = 0;
  db.ForEachLeased([&](Job*) { return ++leases, true; });
  CHECK(leases == 0);
  CHECK(db.NextQueueTimerMs() == 0);
}

TEST_CASE("a copied key owns its containers, and a key's entry stays small") {
  Keyspace ks(1);
  Database& db = ks.db(0);
  db.ListPush("list", /*left=*/false, "a");
  db.ZAdd("zset", "a", 1);
  db.StreamAdd("stream", StreamId{1, 0}, {"f", "v"});
  for (const char* key : {"list", "zset", "stream"}) db.CopyTo(key, db, std::string(key) + "2");
  db.ListPush("list2", /*left=*/false, "b");
  db.ZAdd("zset2", "b", 2);
  db.StreamAdd("stream2", StreamId{2, 0}, {"f", "w"});
  CHECK(db.Find("list")->list().size() == 1);
  CHECK(db.Find("zset")->zset().size() == 1);
  CHECK(db.Find("stream")->stream().entries.size() == 1);
  CHECK(db.Find("stream2")->stream().entries.size() == 2);
  // Lists, sorted sets and streams are boxed so that the entry of every key, most of them
  // strings, fits jemalloc's 112-byte class.
  CHECK(sizeof(Dict<Value>::Node) <= 112);
}

namespace {

// A failure record as a server before one-record-per-job wrote it (format version 1).
Mutation OldFailureRecord(uint64_t id, Failure f) {
  std::string v1 = f.Encode();
  v1[0] = 1;
  v1.resize(v1.size() - 2);  // today's unknown start time (0) and empty history's count
  Mutation m;
  m.op = Mutation::Op::kFailurePut;
  m.num = static_cast<int64_t>(id);
  m.arg = v1;
  return m;
}

Failure OldFailure(uint64_t job, uint32_t attempt, FailureState state, uint64_t retry_job,
                   std::string payload) {
  Failure f;
  f.queue = "q";
  f.payload = std::move(payload);
  f.error_class = "E";
  f.message = "run " + std::to_string(attempt);
  f.attempt = attempt;
  f.state = state;
  f.retry_job = retry_job;
  f.job = job;
  return f;
}

}  // namespace

TEST_CASE("a load of today's failure records has nothing to merge, and writes nothing") {
  Keyspace ks(1);
  Failure f = OldFailure(5, 1, FailureState::kRetrying, 6, "{}");  // its retry got a new id
  Mutation m;
  m.op = Mutation::Op::kFailurePut;
  m.num = 100;
  m.arg = f.Encode();
  ks.Apply(m);
  ks.MergeFailedRuns();
  CHECK_FALSE(ks.HasMutations());
  CHECK(ks.db(0).failures().at(100).job == 5);
}

TEST_CASE("a data directory's per-run failure records merge into one record per job") {
  // A native job's chain of runs 11 -> 12 -> 13 (13 waits for its retry), another native job,
  // and a resque job whose retry the old server marked with "retry_count".
  std::vector<Mutation> old = {
      OldFailureRecord(100, OldFailure(11, 1, FailureState::kRetried, 12, "{}")),
      OldFailureRecord(101, OldFailure(12, 2, FailureState::kRetrying, 13, "{}")),
      OldFailureRecord(102, OldFailure(21, 1, FailureState::kDead, 0, "{}")),
      OldFailureRecord(103,
                       OldFailure(0, 1, FailureState::kRetried, 0, R"({"args":[1],"class":"A"})")),
      OldFailureRecord(104, OldFailure(0, 2, FailureState::kDead, 0,
                                       R"({"args":[1],"class":"A","retry_count":1})"))};
  Keyspace ks(1), replica(1);
  for (const auto& m : old) {
    ks.Apply(m);
    replica.Apply(m);
  }
  Database& db = ks.db(0);
  REQUIRE(db.failures().size() == 5);
  ks.MergeFailedRuns();
  REQUIRE(db.failures().size() == 3);
  const Failure& chain = db.failures().at(101);
  CHECK((chain.attempt == 2 && chain.history.size() == 1 && chain.history[0].message == "run 1"));
  CHECK(chain.job == 13);  // the run to come, whose failure must find this record
  CHECK(db.failures().at(102).history.empty());
  const Failure& reported = db.failures().at(104);
  CHECK((reported.attempt == 2 && reported.history.size() == 1));
  CHECK(db.FailureCount(FailureState::kRetrying) == 1);
  CHECK(db.FailureCount(FailureState::kDead) == 2);
  CHECK(db.FailureCount(FailureState::kRetried) == 0);
  // The merge is recorded, so it persists and runs once: replayed, it gives the same records.
  for (const auto& m : ks.TakeMutations()) replica.Apply(m);
  REQUIRE(replica.db(0).failures().size() == 3);
  for (const auto& [id, f] : db.failures())
    CHECK(replica.db(0).failures().at(id).Encode() == f.Encode());
  // The chain's next run fails: its failure joins the merged record.
  Failure next = OldFailure(13, 3, FailureState::kDead, 0, "{}");
  db.RecordFailure(next);
  CHECK(db.failures().size() == 3);
  const Failure& latest = db.failures().rbegin()->second;
  CHECK((latest.job == 13 && latest.attempt == 3 && latest.history.size() == 2));
}
