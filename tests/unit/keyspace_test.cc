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
  db.PushJob(db.QueueForPush("queue:sk"), {.payload = "deleted with its key"});
  db.Delete("queue:sk");

  Keyspace replica(4);
  replica.set_now_ms(1000);
  for (const auto& m : ks.TakeMutations()) replica.Apply(m);
  CHECK_FALSE(replica.HasMutations());
  CHECK(Dump(replica) == Dump(ks));
  CHECK(Dump(ks).find("0/l=list:0,Z,mid") != std::string::npos);
  CHECK(Dump(ks).find("0/resque:queue:a=list:0queue") != std::string::npos);
  CHECK(Dump(ks).find("{x|p9") < Dump(ks).find("{{\"class\":\"B\""));
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
      q, [](const Job&) { return true; }, "w1", 500);
  REQUIRE(leased);
  CHECK(leased->payload == "a");
  CHECK(q->running() == 1);
  db.ExtendLeases("w1", 2000);
  ks.set_now_ms(1999);
  CHECK(db.ExpireLeases(10) == 0);
  ks.set_now_ms(2000);
  CHECK(db.ExpireLeases(10) == 1);
  CHECK(q->running() == 0);
  auto again = db.PopJob(q);
  CHECK(again->payload == "a");  // back at the head
  CHECK(again->attempts == 1);   // the lost run counts
  REQUIRE(db.LeaseNext(
      q, [](const Job&) { return true; }, "w1", 500));
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
