#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <map>
#include <random>
#include <thread>

#include "server/data/digest.h"
#include "server/store/encoding.h"
#include "server/store/level_store.h"
#include "server/store/log_space.h"
#include "tests/unit/queue_dump.h"

using namespace desaster;
namespace fs = std::filesystem;

namespace {

struct TempDir {
  fs::path path;
  TempDir() {
    path = fs::temp_directory_path() / ("desaster-store-test-" + std::to_string(getpid()) + "-" +
                                        std::to_string(std::random_device{}()));
  }
  ~TempDir() { fs::remove_all(path); }
};

std::unique_ptr<LevelStore> OpenStore(const fs::path& dir, std::string* error,
                                      size_t write_buffer_mb = StoreOptions().write_buffer_mb) {
  StoreOptions o;
  o.dir = dir.string();
  o.write_buffer_mb = write_buffer_mb;
  return LevelStore::Open(o, error);
}

void CommitAll(Keyspace& ks, CommitPipeline& store, uint64_t* lsn) {
  Batch batch{++*lsn, ks.TakeMutations()};
  std::string error;
  REQUIRE(store.Commit({&batch, 1}, false, &error));
}

void LoadInto(CommitPipeline& store, Keyspace* ks) {
  auto loader = store.NewLoader();
  while (!loader->Step(ks, 7)) {
  }
}

// The LevelDB in `dir` opened directly (with the store closed), to read or plant records.
std::unique_ptr<leveldb::DB> OpenRaw(const fs::path& dir) {
  leveldb::DB* db = nullptr;
  leveldb::Options o;
  o.create_if_missing = true;
  REQUIRE(leveldb::DB::Open(o, dir.string(), &db).ok());
  return std::unique_ptr<leveldb::DB>(db);
}

// Writes a format record and what `plant` adds into `dir` (the store closed): records as a
// damaged, hand-made or older store holds them.
void Plant(const fs::path& dir, const std::function<void(leveldb::WriteBatch*)>& plant,
           std::string_view format = store::kFormatValue) {
  auto raw = OpenRaw(dir);
  leveldb::WriteBatch planted;
  planted.Put(std::string(store::kFormatKey), std::string(format));
  plant(&planted);
  REQUIRE(raw->Write(leveldb::WriteOptions(), &planted).ok());
}

// The format record of the store in `dir` (the store closed).
std::string FormatOf(const fs::path& dir) {
  std::string format;
  REQUIRE(OpenRaw(dir)->Get(leveldb::ReadOptions(), std::string(store::kFormatKey), &format).ok());
  return format;
}

// The store in `dir` (records planted there, or written by an earlier store), loaded into `ks`.
std::unique_ptr<LevelStore> OpenAndLoad(const fs::path& dir, Keyspace* ks) {
  std::string error;
  auto store = OpenStore(dir, &error);
  REQUIRE(store);
  ks->set_now_ms(1000);
  LoadInto(*store, ks);
  return store;
}

// Commits what `ks` recorded to `store`, closes it, and loads `dir` into a new keyspace, as a
// restart would (the store is closed again after).
std::unique_ptr<Keyspace> CommitAndReload(Keyspace& ks, std::unique_ptr<LevelStore>* store,
                                          const fs::path& dir) {
  uint64_t lsn = 10;
  CommitAll(ks, **store, &lsn);
  store->reset();
  auto reloaded = std::make_unique<Keyspace>(ks.databases());
  *store = OpenAndLoad(dir, reloaded.get());
  store->reset();
  return reloaded;
}

// Every hash of `ks` with its fields: a compact hash's in the order HGETALL shows them, a
// table's (in no order) sorted.
std::string HashOrders(Keyspace& ks) {
  std::map<std::string, std::string> out;
  for (int i = 0; i < ks.databases(); i++) {
    ks.db(i).ForEach([&](std::string_view key, const Value& v) {
      if (v.type() != ValueType::kHash) return;
      std::vector<std::string> fields;
      v.hash().ForEach([&](std::string_view f, const std::string& x) {
        fields.push_back(std::string(f) + "=" + x + " ");
      });
      if (!v.hash().compact()) std::sort(fields.begin(), fields.end());
      std::string& line = out[std::to_string(i) + ":" + std::string(key)];
      for (const auto& f : fields) line += f;
    });
  }
  std::string all;
  for (const auto& [key, fields] : out) all += key + " " + fields + "\n";
  return all;
}

std::string Contents(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Polls `done` until it holds or 10 s pass; returns whether it held.
template <class Done>
bool Eventually(Done done) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return true;
}

std::unique_ptr<leveldb::WritableFile> NewLog(LogSpaceEnv& env, const fs::path& path) {
  leveldb::WritableFile* file = nullptr;
  REQUIRE(env.NewWritableFile(path.string(), &file).ok());
  return std::unique_ptr<leveldb::WritableFile>(file);
}

// A store in a fresh directory and the keyspace whose mutations it commits.
struct StoreFixture {
  TempDir dir;
  std::unique_ptr<LevelStore> store;
  Keyspace ks;
  uint64_t lsn = 0;

  explicit StoreFixture(int databases, size_t write_buffer_mb = StoreOptions().write_buffer_mb)
      : ks(databases) {
    std::string error;
    store = OpenStore(dir.path, &error, write_buffer_mb);
    REQUIRE(store);
    ks.set_now_ms(1000);
  }
  void Commit() { CommitAll(ks, *store, &lsn); }
  // What a restart would load.
  std::unique_ptr<Keyspace> Load() {
    auto loaded = std::make_unique<Keyspace>(ks.databases());
    loaded->set_now_ms(ks.now_ms());
    LoadInto(*store, loaded.get());
    return loaded;
  }
  // A restart: closes the store, shows `visit` the key of every record it left, then reopens
  // and loads it, so that the store learns what it shadows from its records alone.
  template <class Visit>
  void Restart(Visit visit) {
    store.reset();
    {
      auto raw = OpenRaw(dir.path);
      std::unique_ptr<leveldb::Iterator> it(raw->NewIterator(leveldb::ReadOptions()));
      for (it->SeekToFirst(); it->Valid(); it->Next()) {
        visit(std::string_view(it->key().data(), it->key().size()));
      }
    }
    std::string error;
    store = OpenStore(dir.path, &error);
    REQUIRE(store);
    Load();
  }
};

}  // namespace

TEST_CASE("integers encode in signed numeric order") {
  std::vector<int64_t> values = {INT64_MIN, -store::kListGap, -1, 0, 1, 255, 256, INT64_MAX};
  for (size_t i = 1; i < values.size(); i++) {
    CHECK(store::EncodeInt64(values[i - 1]) < store::EncodeInt64(values[i]));
    CHECK(store::DecodeInt64(store::EncodeInt64(values[i])) == values[i]);
  }
}

TEST_CASE("record keys round trip with binary keys and keep a key's records together") {
  std::string key("a\0b\xff", 4);
  std::string record = store::ElementPrefix(3, key) + 'h' + std::string("f\0", 2);
  store::ElementKey e;
  REQUIRE(store::DecodeElementKey(record, &e));
  CHECK(e.db == 3);
  CHECK(e.key == key);
  CHECK(e.tag == 'h');
  CHECK(e.suffix == std::string("f\0", 2));
  // "ab" must not be a prefix of "abc"'s records.
  CHECK_FALSE(store::ElementPrefix(0, "abc").starts_with(store::ElementPrefix(0, "ab")));
  int db;
  std::string_view k;
  std::string expire_record = store::ExpireKey(15, key);
  REQUIRE(store::DecodeExpireKey(expire_record, &db, &k));
  CHECK(db == 15);
  CHECK(k == key);
  CHECK(store::DecodeScore(store::EncodeScore(-2.5)) == -2.5);
}

TEST_CASE("a queue's records sort by job id, runs among jobs' own records") {
  // A load then meets jobs in about the order they were pushed and appends them: with runs
  // after all own records, 1M jobs took 84 s to load instead of 0.6 s (middle inserts).
  std::string q = store::QueuePrefix(2, std::string("q\0", 2));
  std::vector<std::string> ordered{store::QueueConfigKey(2, std::string("q\0", 2)),
                                   store::JobKey(q, 5),
                                   store::JobKey(q, 6),
                                   store::JobRunDeadKey(q, 6),
                                   store::JobRunKey(q, 6),
                                   store::JobKey(q, 7),
                                   store::JobRunDeadKey(q, 256),
                                   store::JobRunKey(q, 256)};
  CHECK(std::is_sorted(ordered.begin(), ordered.end()));
  std::vector<store::QueueKey::Kind> kinds;
  std::vector<uint64_t> ids;
  for (const std::string& record : ordered) {
    store::QueueKey key;
    REQUIRE(store::DecodeQueueKey(record, &key));
    CHECK(key.db == 2);
    CHECK(key.key == std::string("q\0", 2));
    CHECK(key.prefix_size == q.size());
    kinds.push_back(key.kind);
    ids.push_back(key.id);
  }
  using K = store::QueueKey;
  CHECK(kinds == std::vector<K::Kind>{K::kConfig, K::kJob, K::kJob, K::kRunDeadMap, K::kRun,
                                      K::kJob, K::kRunDeadMap, K::kRun});
  CHECK(ids == std::vector<uint64_t>{0, 5, 6, 6, 6, 7, 256, 256});
}

TEST_CASE("job runs and dead maps round trip, and a damaged run is refused") {
  std::vector<store::RunJob> jobs{{100, "a"}, {101, ""}, {100 + (uint64_t{1} << 20), "c"}};
  std::string value = store::EncodeJobRun(jobs);
  std::vector<store::RunJob> back;
  REQUIRE(store::DecodeJobRun(value, 100, &back));
  REQUIRE(back.size() == 3);
  for (size_t i = 0; i < 3; i++) {
    CHECK(back[i].id == jobs[i].id);
    CHECK(back[i].record == jobs[i].record);
  }
  CHECK_FALSE(store::DecodeJobRun(value.substr(0, value.size() - 1), 100, &back));
  CHECK_FALSE(store::DecodeJobRun(value + "x", 100, &back));
  CHECK_FALSE(store::DecodeJobRun("", 100, &back));
  std::vector<store::RunJob> twice{{100, "a"}, {100, "b"}};  // ids must ascend
  CHECK_FALSE(store::DecodeJobRun(store::EncodeJobRun(twice), 100, &back));

  store::DeadMap dead;
  dead.set(0);
  dead.set(9);
  dead.set(127);
  std::string map = store::EncodeDeadMap(dead, 128);
  CHECK(map.size() == 16);
  CHECK(store::DecodeDeadMap(map) == dead);
  CHECK(store::EncodeDeadMap(dead, 10).size() == 2);  // the bits of the run's jobs only
  CHECK(store::DecodeDeadMap(store::EncodeDeadMap(dead, 10)).count() == 2);
}

TEST_CASE("random mutations committed in batches load back identically") {
  TempDir dir;
  std::string error;
  auto store = OpenStore(dir.path, &error);
  REQUIRE(store);
  Keyspace ks(4);
  ks.set_now_ms(1000);
  std::mt19937 rng(42);
  auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<unsigned>(n)); };
  uint64_t lsn = 0;
  for (int step = 0; step < 4000; step++) {
    if (pick(4) == 0) {  // a queue operation
      Database& db = ks.db(pick(2));
      std::string key = pick(2) ? "resque:queue:q" + std::to_string(pick(3)) : "nq";
      Queue* q = pick(2) ? db.QueueForPush(key) : db.FindQueue(key);
      std::string error;
      switch (q ? pick(9) : 0) {
        case 0:
          if (!q) q = db.CreateQueue(key, QueueConfig{}, &error);
          [[fallthrough]];
        case 1:
        case 2:
          db.PushJob(q, {.payload = "p" + std::to_string(pick(1000)),
                         .flow = pick(2) ? "f" + std::to_string(pick(3)) : "",
                         .priority = pick(3),
                         .run_at_ms = pick(5) == 0 ? 5000 : 0,
                         .front = pick(4) == 0});
          break;
        case 3:
          db.PopJob(q);
          break;
        case 4: {
          QueueConfig c;
          const char* kinds[] = {"fifo", "prio", "sfq", "drr", "htb"};
          c.discipline = kinds[pick(5)];
          c.unique = pick(2);
          c.paused = pick(4) == 0;
          REQUIRE(db.ConfigureQueue(q, c, &error));
          break;
        }
        case 5:
          if (q->ready() > 0) {
            Job* j = q->Peek(1000);
            if (j) db.UpdateJob(j, [&](Job& x) { x.priority = pick(10); });
          }
          break;
        case 6:
          if (Job* j = q->ready() ? q->Peek(1000) : nullptr) db.RemoveJob(j);
          break;
        case 7:
          if (Job* j = q->ready() ? q->Peek(1000) : nullptr) {
            Queue* dest = db.QueueForPush("resque:queue:q" + std::to_string(pick(3)));
            db.MoveJob(j, dest);
          }
          break;
        case 8:
          if (pick(8) == 0) db.DropQueue(q);
          break;
      }
      if (pick(5) == 0) CommitAll(ks, *store, &lsn);
      continue;
    }
    Database& db = ks.db(pick(2));
    std::string key = "k" + std::to_string(pick(6));
    std::string v = "v" + std::to_string(pick(1000));
    const Value* cur = db.Find(key);
    ValueType t = cur ? cur->type() : static_cast<ValueType>(pick(6));
    switch (t) {
      case ValueType::kString:
        switch (pick(6)) {
          case 0:
            db.Delete(key);
            break;
          case 1:
          case 2:  // grows it past a chunk, or edits it where it is chunked already
            db.WriteRange(key, static_cast<size_t>(pick(5)) * kStringChunk / 2 + pick(100), v);
            break;
          default:
            db.SetString(key, v, pick(2));
        }
        break;
      case ValueType::kList: {
        size_t len = cur ? cur->list().size() : 0;
        int op = pick(6);
        if (op <= 1 || len == 0) {
          db.ListPush(key, op == 0, v);
        } else if (op == 2) {
          db.ListPop(key, pick(2));
        } else if (op == 3) {
          // Inserting at one spot again and again exhausts the gap and forces a renumbering.
          db.ListInsert(key, std::min<size_t>(1, len), v);
        } else if (op == 4) {
          db.ListRemove(key, static_cast<size_t>(pick(static_cast<int>(len))));
        } else {
          db.ListSet(key, static_cast<size_t>(pick(static_cast<int>(len))), v);
        }
        break;
      }
      case ValueType::kHash:
        pick(3) ? (void)db.HashSet(key, "f" + std::to_string(pick(5)), v)
                : (void)db.HashDelete(key, "f" + std::to_string(pick(5)));
        break;
      case ValueType::kSet:
        pick(3) ? (void)db.SetAdd(key, v.substr(0, 2)) : (void)db.SetRemove(key, v.substr(0, 2));
        break;
      case ValueType::kZSet:
        pick(3) ? db.ZAdd(key, v.substr(0, 2), pick(100) / 4.0)
                : (void)db.ZRemove(key, v.substr(0, 2));
        break;
      case ValueType::kQueue:  // queue keys are exercised above
        break;
      case ValueType::kStream: {
        const Stream* s = cur ? &cur->stream() : nullptr;
        std::string group = "g" + std::to_string(pick(2)), consumer = "c" + std::to_string(pick(3));
        bool has_group = s && s->groups.contains(group);
        int op = pick(8);
        if (s && op == 0) {  // a group is created or moved
          db.StreamGroupSet(key, group, StreamId{static_cast<uint64_t>(pick(3)), 0}, pick(4) - 1);
        } else if (has_group && op == 1) {
          pick(4) ? (void)db.StreamConsumerAdd(key, group, consumer)
                  : (void)db.StreamConsumerDelete(key, group, consumer);
        } else if (has_group && op == 2 && !s->entries.empty()) {  // an entry is delivered
          db.StreamConsumerAdd(key, group, consumer);
          db.StreamPendingSet(
              key, group, s->entries.rbegin()->first,
              StreamPending{consumer, 1000 + pick(100), static_cast<uint64_t>(1 + pick(3))});
        } else if (has_group && op == 3 && !s->groups.at(group).pending.empty()) {
          pick(5)
              ? (void)db.StreamPendingDelete(key, group, s->groups.at(group).pending.begin()->first)
              : db.StreamGroupDelete(key, group);
        } else if (s && !s->entries.empty() && pick(3) == 0) {
          db.StreamDelete(key, s->entries.begin()->first);  // may empty it: the stream stays
        } else {
          StreamId last = s ? s->meta.last_id : StreamId{};
          db.StreamAdd(key, StreamId{last.ms + static_cast<uint64_t>(pick(2)), last.seq + 1},
                       {"f", v, "g", std::string("\0", 1)});
        }
        break;
      }
    }
    switch (pick(40)) {
      case 0:
        if (db.Find(key)) db.ExpireAt(key, 100000 + pick(1000));
        break;
      case 1:
        db.Persist(key);
        break;
      case 2:
        if (db.Find(key)) db.Rename(key, "k" + std::to_string(pick(6)));
        break;
      case 3:
        if (db.Find(key)) db.CopyTo(key, ks.db(2), "copy" + std::to_string(pick(3)));
        break;
      case 4:
        if (pick(10) == 0) ks.db(2).Flush();
        break;
    }
    if (pick(5) == 0) CommitAll(ks, *store, &lsn);
  }
  CommitAll(ks, *store, &lsn);

  Keyspace loaded(4);
  loaded.set_now_ms(1000);
  LoadInto(*store, &loaded);
  CHECK(DescribeQueues(ks).find("discipline=drr") != std::string::npos);
  CanonicalizeQueues(ks);
  CanonicalizeQueues(loaded);
  CHECK(Digest(loaded) == Digest(ks));
  CHECK(HashOrders(loaded) == HashOrders(ks));
  CHECK(DescribeQueues(loaded) == DescribeQueues(ks));
  CHECK(DescribeQueues(ks).find("ready: 0") != std::string::npos);
  CHECK(DescribeQueues(ks).find("scheduled: 0") != std::string::npos);

  // And after reopening the directory.
  store.reset();
  store = OpenStore(dir.path, &error);
  REQUIRE(store);
  Keyspace reopened(4);
  reopened.set_now_ms(1000);
  auto loader = store->NewLoader();
  while (!loader->Step(&reopened, 1000)) {
  }
  // The LSN record is a reservation: at or above the last batch, and written only when a batch
  // passes it, so far fewer times than there were batches.
  CHECK(loader->lsn() >= lsn);
  CHECK(loader->lsn() - lsn <= store::kLsnReserve);
  CanonicalizeQueues(reopened);
  CHECK(Digest(reopened) == Digest(ks));
  CHECK(HashOrders(reopened) == HashOrders(ks));
  CHECK(DescribeQueues(reopened) == DescribeQueues(ks));
}

TEST_CASE("repeated writes of a key in one commit store the last one, TTL rules intact") {
  StoreFixture f(2);
  Keyspace& ks = f.ks;
  Database& db = ks.db(0);
  db.SetString("keeps", "0", false);
  db.ExpireAt("keeps", 90000);
  db.SetString("cleared", "0", false);
  db.ExpireAt("cleared", 90000);
  db.ListPush("was-list", true, "element");
  f.Commit();

  // One commit: INCR-style writes keep the TTL; a SET then a KEEPTTL write drops it; a write,
  // a rename and another write leave two keys; a list overwritten twice leaves no elements.
  for (int i = 1; i <= 50; i++) db.SetString("keeps", std::to_string(i), true);
  db.SetString("cleared", "set", false);
  db.SetString("cleared", "kept", true);
  db.SetString("moved", "first", false);
  db.Rename("moved", "target");
  db.SetString("moved", "second", false);
  db.SetString("was-list", "s1", false);
  db.SetString("was-list", "s2", false);
  ks.db(1).SetString("keeps", "other-db", false);
  for (int i = 0; i < 20; i++) db.SetString("counter", std::to_string(i), false);
  // Hash fields and zset members: the last value of each; a delete in between is kept.
  for (int i = 0; i < 20; i++) {
    db.HashSet("hash", "hot", std::to_string(i));
    db.HashSet("hash", "other" + std::to_string(i % 2), std::to_string(i));
    db.ZAdd("zset", "hot", i);
  }
  db.HashSet("hash", "deleted", "x");
  db.HashDelete("hash", "deleted");
  db.HashSet("hash", "set after delete", "y");
  db.HashDelete("hash", "set after delete");
  db.HashSet("hash", "set after delete", "z");
  f.Commit();

  auto loaded = f.Load();
  Database& got = loaded->db(0);
  CHECK(got.Find("keeps")->str() == "50");
  CHECK(got.Find("keeps")->expire_at_ms == 90000);
  CHECK(got.Find("cleared")->str() == "kept");
  CHECK(got.Find("cleared")->expire_at_ms == 0);
  CHECK(got.Find("target")->str() == "first");
  CHECK(got.Find("moved")->str() == "second");
  CHECK(got.Find("was-list")->str() == "s2");
  CHECK(got.Find("counter")->str() == "19");
  const Hash& hash = got.Find("hash")->hash();
  CHECK(*hash.Find("hot") == "19");
  CHECK(*hash.Find("other1") == "19");
  CHECK(hash.Find("deleted") == nullptr);
  CHECK(*hash.Find("set after delete") == "z");
  CHECK(*got.Find("zset")->zset().Score("hot") == 19);
  CHECK(loaded->db(1).Find("keeps")->str() == "other-db");
  CHECK(Digest(*loaded) == Digest(ks));
}

TEST_CASE("a job written again in the same commit loads as its last write") {
  StoreFixture f(1);
  Keyspace& ks = f.ks;
  Database& db = ks.db(0);
  Queue* work = db.QueueForPush("resque:queue:work");
  Job* updated = db.PushJob(work, {.payload = "updated"});
  Job* popped_later = db.PushJob(work, {.payload = "popped later"});
  f.Commit();

  // One commit: updates of a stored job, a push and pop, a push and move, and a popped job
  // whose queue is dropped and pushed to again.
  db.UpdateJob(updated, [](Job& j) { j.priority = 3; });
  db.UpdateJob(updated, [](Job& j) { j.priority = 4; });
  db.RemoveJob(db.PushJob(work, {.payload = "pushed and popped"}));
  db.UpdateJob(popped_later, [](Job& j) { j.priority = 1; });
  db.RemoveJob(popped_later);
  Job* moved = db.PushJob(work, {.payload = "moved"});
  db.MoveJob(moved, db.QueueForPush("resque:queue:other"));
  Queue* doomed = db.QueueForPush("resque:queue:doomed");
  db.PushJob(doomed, {.payload = "dropped"});
  db.DropQueue(doomed);
  db.PushJob(db.QueueForPush("resque:queue:doomed"), {.payload = "after the drop"});
  f.Commit();

  auto loaded = f.Load();
  CanonicalizeQueues(ks);
  CanonicalizeQueues(*loaded);
  std::string jobs = DescribeQueues(*loaded);
  CHECK(jobs == DescribeQueues(ks));
  CHECK(jobs.find("updated") != std::string::npos);
  CHECK(jobs.find("popped") == std::string::npos);
  CHECK(jobs.find("moved") != std::string::npos);
  CHECK(jobs.find("dropped") == std::string::npos);
  CHECK(jobs.find("after the drop") != std::string::npos);
  CHECK(loaded->db(0).FindQueue("resque:queue:work")->ready() == 1);
}

TEST_CASE("a directory that holds something else is refused, never wiped") {
  TempDir dir;
  fs::create_directories(dir.path);
  std::ofstream(dir.path / "notes.txt") << "precious";
  std::string error;
  CHECK(OpenStore(dir.path, &error) == nullptr);
  CHECK(error.find("holds no desaster data") != std::string::npos);
  CHECK(fs::exists(dir.path / "notes.txt"));
}

TEST_CASE("a LevelDB database that is not desaster's is refused") {
  TempDir dir;
  REQUIRE(OpenRaw(dir.path)->Put(leveldb::WriteOptions(), "someone", "else").ok());
  std::string error;
  CHECK(OpenStore(dir.path, &error) == nullptr);
  CHECK(error.find("not desaster's") != std::string::npos);
}

// How many compactions LevelDB's info log shows.
int Compactions(const fs::path& dir) {
  std::ifstream log(dir / "LOG");
  std::string line;
  int compactions = 0;
  while (std::getline(log, line)) compactions += line.find("Compacted") != std::string::npos;
  return compactions;
}

// How many tables each of LevelDB's levels 0-2 holds.
std::vector<std::string> TablesPerLevel(const fs::path& dir) {
  auto db = OpenRaw(dir);
  std::vector<std::string> tables;
  for (int level = 0; level <= 2; level++) {
    tables.emplace_back();
    db->GetProperty("leveldb.num-files-at-level" + std::to_string(level), &tables.back());
  }
  return tables;
}

TEST_CASE("records that only grow or only shrink flush into tables LevelDB never rewrites") {
  // Job ids only grow; LPUSH positions only shrink. A table holding such records overlaps no
  // other, and LevelDB places it straight at level 2, the deepest a flush reaches. A record
  // written beside them (as the LSN reservation once was, and the format record) would make the
  // tables overlap: they would pile up in levels 0 and 1 until compactions rewrote them.
  StoreFixture f(1, /*write_buffer_mb=*/1);
  Database& db = f.ks.db(0);
  Queue* q = db.QueueForPush("resque:queue:big");
  std::string payload(300, 'j');
  auto fill = [&](auto push) {
    for (int commit = 0; commit < 60; commit++) {
      for (int i = 0; i < 500; i++) push();
      if (commit == 30) f.lsn += store::kLsnReserve;  // passes the reservation
      f.Commit();
    }
  };
  SECTION("a queue") {
    fill([&] { db.PushJob(q, {.payload = payload}); });
  }
  SECTION("a list growing at its head") {
    fill([&] { db.ListPush("list", /*left=*/true, payload); });
  }
  f.store.reset();
  CHECK(Compactions(f.dir.path) == 0);
  auto tables = TablesPerLevel(f.dir.path);
  // Opening it writes what its logs hold to level 0: the memtable's, and the one a flush had not
  // finished with when the store closed.
  CHECK(std::stoi(tables[0]) <= 2);
  CHECK(tables[1] == "0");
  CHECK(std::stoi(tables[2]) >= 8);
}

TEST_CASE("tables are built of blocks of the configured size") {
  // Larger blocks compress similar jobs better (and cost LevelDB's thread less per record): the
  // same queue takes less disk with 16 KB blocks than with 4 KB ones. One job per commit, so
  // each is a record of its own (as when clients push one at a time), not part of a run.
  auto table_bytes = [](size_t block_kb) {
    TempDir dir;
    StoreOptions o;
    o.dir = dir.path.string();
    o.block_kb = block_kb;
    std::string error;
    Keyspace ks(1);
    uint64_t lsn = 0;
    {
      auto store = LevelStore::Open(o, &error);
      REQUIRE(store);
      Database& db = ks.db(0);
      Queue* q = db.QueueForPush("resque:queue:q");
      // Jobs of one class differ in a few bytes; a block repeats what they share only once.
      std::string shared;
      std::mt19937 random(7);
      for (int i = 0; i < 240; i++) shared += static_cast<char>('a' + random() % 26);
      for (int i = 0; i < 3000; i++) {
        db.PushJob(q, {.payload = R"({"class":"Mailer","args":[)" + std::to_string(i * 7919) +
                                  R"(,")" + shared + R"("]})"});
        CommitAll(ks, *store, &lsn);
      }
    }
    REQUIRE(LevelStore::Open(o, &error));  // recovery writes the log into a table
    uintmax_t bytes = 0;
    for (const auto& entry : fs::directory_iterator(dir.path)) {
      if (entry.path().extension() == ".ldb") bytes += entry.file_size();
    }
    return bytes;
  };
  uintmax_t small = table_bytes(4), large = table_bytes(16);
  CHECK(large > 0);
  CHECK(large < small * 9 / 10);
}

TEST_CASE("a list emptied and filled again writes above the records of its earlier life") {
  // Its earlier records, and the tombstones its pops wrote, may still be in LevelDB's tables;
  // new records among them would make every new table overlap those.
  StoreFixture f(1);
  Database& db = f.ks.db(0);
  auto life = [&] {
    for (int i = 0; i < 100; i++) db.ListPush("jobs", /*left=*/i % 2 == 0, "job");
    f.Commit();
    f.store.reset();
    std::vector<std::string> records;
    {
      auto raw = OpenRaw(f.dir.path);
      std::unique_ptr<leveldb::Iterator> it(raw->NewIterator(leveldb::ReadOptions()));
      std::string prefix = store::ElementPrefix(0, "jobs");
      for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next())
        records.push_back(it->key().ToString());
    }
    std::string error;
    f.store = OpenStore(f.dir.path, &error);
    REQUIRE(f.store);
    f.Load();  // the store learns the list's positions
    while (f.ks.db(0).Find("jobs")) db.ListPop("jobs", /*left=*/true);
    f.Commit();
    f.lsn += 5;  // batches of other keys in between
    return records;
  };
  auto first = life(), second = life();
  REQUIRE(!first.empty());
  REQUIRE(!second.empty());
  CHECK(first.back() < second.front());
}

namespace {

// The lists of `db` as "key=[e,e,...]" lines, for comparisons that show where they differ.
std::string DescribeLists(Database& db, const std::vector<std::string>& keys) {
  std::string out;
  for (const std::string& key : keys) {
    const Value* v = db.Find(key);
    out += key + "=";
    if (!v) {
      out += "none\n";
      continue;
    }
    out += "[";
    for (const std::string& e : v->list())
      out += e.substr(0, 12) + ":" + std::to_string(e.size()) + ",";
    out += "]\n";
  }
  return out;
}

}  // namespace

TEST_CASE("lists load back after every commit, whatever runs and trims their records hold") {
  StoreFixture f(1);
  Database& db = f.ks.db(0);
  const std::vector<std::string> keys{"a", "b", "c"};
  std::mt19937 rng(7);
  auto pick = [&](size_t n) { return static_cast<size_t>(rng() % n); };
  int serial = 0;
  auto element = [&] {
    // Mostly small; now and then big enough that a run closes on its bytes, not its count.
    size_t size = pick(20) == 0 ? 5000 + pick(20000) : 1 + pick(30);
    std::string e = std::to_string(serial++) + ":";
    e.resize(size, static_cast<char>('a' + pick(26)));
    return e;
  };
  size_t runs_seen = 0, trims_seen = 0;
  for (int commit = 0; commit < 400; commit++) {
    size_t ops = pick(4) == 0 ? 1 + pick(400) : 1 + pick(8);
    std::string log;
    for (size_t op = 0; op < ops; op++) {
      const std::string& key = keys[pick(keys.size())];
      const Value* v = db.Find(key);
      size_t len = v ? v->list().size() : 0;
      size_t what = pick(100);
      log += key + std::to_string(what) + "/" + std::to_string(len) + " ";
      if (len == 0 || what < 40) {
        db.ListPush(key, pick(2) == 0, element());
      } else if (what < 75) {
        db.ListPop(key, pick(2) == 0);
      } else if (what < 82) {
        db.ListSet(key, pick(len), element());
      } else if (what < 90) {
        // The same spot again and again: a run splits, and the gap between runs runs out.
        db.ListInsert(key, pick(3) == 0 ? pick(len + 1) : std::min<size_t>(len, 1), element());
      } else if (what < 95) {
        db.ListRemove(key, pick(len));
      } else if (what < 97) {
        db.Rename(key, keys[pick(keys.size())]);
      } else if (what < 99) {
        db.CopyTo(key, db, keys[pick(keys.size())]);
      } else {
        db.Delete(key);
      }
    }
    f.Commit();
    INFO("commit " << commit << " " << log);
    auto loaded = f.Load();
    REQUIRE(DescribeLists(loaded->db(0), keys) == DescribeLists(db, keys));
    if (pick(10) == 0) {
      f.Restart([&](std::string_view record) {
        store::ElementKey e;
        if (!store::DecodeElementKey(record, &e)) return;
        runs_seen += e.suffix.size() == 12;
        trims_seen += e.suffix.empty();
      });
    }
  }
  CHECK(runs_seen > 0);   // records of many elements were written
  CHECK(trims_seen > 0);  // and pops left some partly dead
}

namespace {

// Every job the keyspace holds among `ids`, with its queue and state: leased jobs too, which
// DescribeQueues leaves out.
std::string DescribeJobs(Keyspace& ks, const std::vector<uint64_t>& ids) {
  std::string out;
  for (int i = 0; i < ks.databases(); i++) {
    for (uint64_t id : ids) {
      if (Job* j = ks.db(i).FindJob(id)) {
        out += std::to_string(i) + "/" + j->queue->key() + " " + DescribeJob(*j) + " " +
               std::string(JobStateName(j->state)) + j->lease_owner() + "\n";
      }
    }
  }
  return out;
}

}  // namespace

TEST_CASE("queues load back after every commit, whatever job runs and dead maps hold") {
  StoreFixture f(2);
  const std::vector<std::string> keys{"resque:queue:a", "resque:queue:b", "resque:queue:c"};
  std::mt19937 rng(11);
  auto pick = [&](size_t n) { return static_cast<size_t>(rng() % n); };
  std::vector<uint64_t> ids;  // every job ever pushed
  auto payload = [&] {
    // Mostly small; now and then big enough that a run closes on its bytes, not its count.
    std::string p = R"({"class":"Job","args":[)" + std::to_string(ids.size()) + "]}";
    if (pick(30) == 0) p.resize(4000 + pick(30000), 'x');
    return p;
  };
  auto some_job = [&](Database& db) -> Job* {
    for (int tries = 0; tries < 8 && !ids.empty(); tries++) {
      if (Job* j = db.FindJob(ids[ids.size() - 1 - pick(std::min<size_t>(ids.size(), 600))])) {
        return j;
      }
    }
    return nullptr;
  };
  size_t runs_seen = 0, dead_maps_seen = 0;
  for (int commit = 0; commit < 400; commit++) {
    size_t ops = pick(3) == 0 ? 1 + pick(500) : 1 + pick(12);
    if (pick(5) == 0) f.ks.set_now_ms(f.ks.now_ms() + 1);  // ids jump by 2^16
    for (size_t op = 0; op < ops; op++) {
      Database& db = f.ks.db(pick(8) == 0 ? 1 : 0);
      Queue* q = db.QueueForPush(keys[pick(keys.size())]);
      size_t what = pick(1000);
      Job* job = what < 450 ? nullptr : some_job(db);
      if (what < 450 || !job) {
        int64_t run_at = pick(10) == 0 ? f.ks.now_ms() + 60000 : 0;
        Job* pushed = db.PushJob(
            q,
            {.payload = payload(), .priority = static_cast<int32_t>(pick(3)), .run_at_ms = run_at});
        ids.push_back(pushed->id);
      } else if (what < 750) {
        db.PopJob(q);
      } else if (what < 800) {
        db.UpdateJob(job, [&](Job& j) { j.priority = static_cast<int32_t>(pick(5)); });
      } else if (what < 850) {
        db.LeaseNext(
            q, [](const Job&) { return true; }, {"worker-1", ""}, 30000);
      } else if (what < 880) {
        db.RemoveJob(job);
      } else if (what < 900) {  // several at once (JOB.DELETE, LTRIM): one kJobsDelete a queue
        std::vector<Job*> doomed{job};
        for (size_t more = pick(20); more > 0; more--) {
          Job* j = some_job(db);
          if (j && std::find(doomed.begin(), doomed.end(), j) == doomed.end()) doomed.push_back(j);
        }
        db.RemoveJobs(doomed);
      } else if (what < 990) {
        db.MoveJob(job, db.QueueForPush(keys[pick(keys.size())]));
      } else if (what < 998) {
        db.DropQueue(q);
      } else {
        db.Flush();
      }
    }
    f.Commit();
    INFO("commit " << commit);
    auto loaded = f.Load();
    REQUIRE(DescribeJobs(*loaded, ids) == DescribeJobs(f.ks, ids));
    if (pick(10) == 0) {
      f.Restart([&](std::string_view record) {
        store::QueueKey key;
        if (!store::DecodeQueueKey(record, &key)) return;
        runs_seen += key.kind == store::QueueKey::kRun;
        dead_maps_seen += key.kind == store::QueueKey::kRunDeadMap;
      });
    }
  }
  CHECK(runs_seen > 0);       // records of many jobs were written
  CHECK(dead_maps_seen > 0);  // and jobs taken from them left some partly dead
}

TEST_CASE("a store from before list runs loads, and is marked so that older binaries refuse it") {
  TempDir dir;
  std::string prefix = store::ElementPrefix(0, "q");
  Plant(
      dir.path,
      [&](leveldb::WriteBatch* old) {
        for (int i = 0; i < 10; i++) {  // one element per record, as those stores wrote lists
          old->Put(prefix + 'l' + store::EncodeInt64(i * store::kListGap), "v" + std::to_string(i));
        }
      },
      store::kFormatValueV1);
  Keyspace ks(1);
  auto store = OpenAndLoad(dir.path, &ks);
  REQUIRE(ks.db(0).Find("q"));
  CHECK(ks.db(0).Find("q")->list() ==
        List{"v0", "v1", "v2", "v3", "v4", "v5", "v6", "v7", "v8", "v9"});
  ks.db(0).ListPop("q", true);
  ks.db(0).ListPush("q", false, "w");
  ks.db(0).ListPush("q", false, "x");
  auto reloaded = CommitAndReload(ks, &store, dir.path);
  CHECK(reloaded->db(0).Find("q")->list() == ks.db(0).Find("q")->list());
  CHECK(FormatOf(dir.path) == store::kFormatValue);
}

TEST_CASE("a store from before chunked strings loads, edits its strings in chunks, and is marked") {
  TempDir dir;
  Plant(
      dir.path,
      [](leveldb::WriteBatch* old) {
        old->Put(store::ElementPrefix(0, "s") + 's', std::string(kStringChunk, 'o'));
      },
      store::kFormatValueV3);
  Keyspace ks(1);
  auto store = OpenAndLoad(dir.path, &ks);
  ks.db(0).WriteRange("s", kStringChunk, "new");
  auto reloaded = CommitAndReload(ks, &store, dir.path);
  CHECK(reloaded->db(0).Find("s")->str() == std::string(kStringChunk, 'o') + "new");
  CHECK(FormatOf(dir.path) == store::kFormatValue);
}

TEST_CASE("a compact hash loads in insertion order, through updates, deletes and re-adds") {
  TempDir dir;
  std::string error;
  auto store = OpenStore(dir.path, &error);
  REQUIRE(store);
  Keyspace ks(1);
  Database& db = ks.db(0);
  for (std::string f : {"zz", "aa", "mm", "bb"}) db.HashSet("h", f, "1");
  db.HashDelete("h", "aa");
  db.HashSet("h", "aa", "2");
  db.HashSet("h", "zz", "3");  // an update keeps its place
  for (int i = 0; i < 600; i++) db.HashSet("big", "f" + std::to_string(i), "v");  // a table
  db.HashSet("long", "a", std::string(65, 'x'));  // a value past hash-max-listpack-value
  REQUIRE(db.Find("h")->hash().compact());
  REQUIRE(!db.Find("big")->hash().compact());
  REQUIRE(!db.Find("long")->hash().compact());
  CHECK(HashOrders(ks).find("0:h zz=3 mm=1 bb=1 aa=2 \n") != std::string::npos);
  uint64_t lsn = 10;
  CommitAll(ks, *store, &lsn);
  store.reset();

  Keyspace second(1);
  store = OpenAndLoad(dir.path, &second);
  CHECK(HashOrders(second) == HashOrders(ks));
  CHECK(Digest(second) == Digest(ks));
  CHECK(second.db(0).Find("h")->hash().compact());
  CHECK(!second.db(0).Find("big")->hash().compact());
  // The big hash shrinks: after a restart it is compact again, as Redis reloads it, and fields
  // added since go after those it had.
  for (int i = 0; i < 598; i++) second.db(0).HashDelete("big", "f" + std::to_string(i));
  second.db(0).HashSet("big", "new", "v");
  CommitAll(second, *store, &lsn);
  store.reset();

  Keyspace third(1);
  store = OpenAndLoad(dir.path, &third);
  REQUIRE(third.db(0).Find("big")->hash().compact());
  CHECK(HashOrders(third).find("0:big f598=v f599=v new=v \n") != std::string::npos);
  third.db(0).HashSet("big", "newer", "v");
  auto fourth = CommitAndReload(third, &store, dir.path);
  CHECK(HashOrders(*fourth) == HashOrders(third));
  CHECK(HashOrders(*fourth).find("0:big f598=v f599=v new=v newer=v \n") != std::string::npos);
}

TEST_CASE("function libraries are stored, replaced and deleted, and FLUSHALL keeps them") {
  TempDir dir;
  std::string error;
  auto store = OpenStore(dir.path, &error);
  REQUIRE(store);
  Keyspace ks(1);
  ks.SetFunctionLibrary("a", "#!lua name=a\ncode a");
  ks.SetFunctionLibrary("b", "#!lua name=b\ncode b");
  ks.SetFunctionLibrary("a", "#!lua name=a\ncode a, replaced");
  ks.SetFunctionLibrary("gone", "#!lua name=gone\n");
  ks.DeleteFunctionLibrary("gone");
  ks.db(0).SetString("k", "v", false);
  ks.FlushAll();
  auto reloaded = CommitAndReload(ks, &store, dir.path);
  CHECK(reloaded->function_libraries() ==
        std::map<std::string, std::string>{{"a", "#!lua name=a\ncode a, replaced"},
                                           {"b", "#!lua name=b\ncode b"}});
  CHECK(reloaded->db(0).size() == 0);
  store = OpenAndLoad(dir.path, reloaded.get());
  reloaded->FlushFunctionLibraries();
  auto flushed = CommitAndReload(*reloaded, &store, dir.path);
  CHECK(flushed->function_libraries().empty());
}

TEST_CASE("a store from before hash fields' order loads its hashes in field order, and is marked") {
  TempDir dir;
  std::string prefix = store::ElementPrefix(0, "h");
  Plant(
      dir.path,
      [&](leveldb::WriteBatch* old) {
        for (std::string f : {"c", "a", "b"}) old->Put(prefix + 'h' + f, "v" + f);
        old->Put(store::ElementPrefix(0, "s") + 's', "a string");
      },
      store::kFormatValueV4);
  Keyspace ks(1);
  auto store = OpenAndLoad(dir.path, &ks);
  CHECK(HashOrders(ks) == "0:h a=va b=vb c=vc \n");
  CHECK(ks.db(0).Find("s")->str() == "a string");
  ks.db(0).HashSet("h", "d", "vd");
  ks.db(0).HashDelete("h", "a");
  auto reloaded = CommitAndReload(ks, &store, dir.path);
  CHECK(HashOrders(*reloaded) == "0:h b=vb c=vc d=vd \n");
  CHECK(FormatOf(dir.path) == store::kFormatValue);
  auto raw = OpenRaw(dir.path);
  std::unique_ptr<leveldb::Iterator> it(raw->NewIterator(leveldb::ReadOptions()));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    CHECK(!it->key().starts_with(prefix + 'h'));  // every field rewritten
  }
}

TEST_CASE("a damaged list trim loads as far as the records go") {
  TempDir dir;
  std::string prefix = store::ElementPrefix(0, "q");
  Plant(dir.path, [&](leveldb::WriteBatch* planted) {
    planted->Put(store::ListRunKey(prefix, 0, 3), store::EncodeListRun({"a", "b", "c"}));
    planted->Put(store::ListRunKey(prefix, store::kListGap, 1), "d");
    planted->Put(store::ListTrimKey(prefix), store::EncodeListTrim(1, 9));  // 10 dead of 4
  });
  Keyspace ks(1);
  OpenAndLoad(dir.path, &ks);
  CHECK(ks.db(0).Find("q") == nullptr);
}

TEST_CASE("a damaged job run is skipped, and the rest of its queue loads and works on") {
  TempDir dir;
  std::string queue = store::QueuePrefix(0, "resque:queue:q");
  auto record = [](int n) {
    Job j;
    j.payload = "job " + std::to_string(n);
    j.order = n;
    return j.Encode();
  };
  Plant(dir.path, [&](leveldb::WriteBatch* planted) {
    std::vector<std::string> records;
    for (int i = 0; i < 10; i++) records.push_back(record(i));
    std::vector<store::RunJob> run;
    for (int i = 0; i < 10; i++) run.push_back({100 + static_cast<uint64_t>(i), records[i]});
    planted->Put(store::JobRunKey(queue, 100), store::EncodeJobRun(run));
    store::DeadMap dead;
    dead.set(0);
    dead.set(1);
    planted->Put(store::JobRunDeadKey(queue, 100), store::EncodeDeadMap(dead, 10));
    planted->Put(store::JobRunKey(queue, 200), "\xff\xff not a run");
    planted->Put(store::JobKey(queue, 300), record(30));
    planted->Put(store::JobRunDeadKey(queue, 400), "\xff");  // a dead map without its run
  });
  Keyspace ks(1);
  auto store = OpenAndLoad(dir.path, &ks);
  Database& db = ks.db(0);
  Queue* q = db.FindQueue("resque:queue:q");
  REQUIRE(q);
  CHECK(q->ready() == 9);  // 102-109 and 300
  CHECK(db.FindJob(101) == nullptr);
  CHECK(db.FindJob(102) != nullptr);
  CHECK(db.FindJob(300) != nullptr);
  // Taking every job and adding one writes over the damage; a reload agrees.
  while (db.PopJob(q)) {
  }
  Job* fresh = db.PushJob(q, {.payload = "after"});
  uint64_t lsn = 10;
  CommitAll(ks, *store, &lsn);
  store.reset();
  Keyspace reloaded(1);
  store = OpenAndLoad(dir.path, &reloaded);
  CanonicalizeQueues(ks);
  CanonicalizeQueues(reloaded);
  CHECK(DescribeQueues(reloaded) == DescribeQueues(ks));
  CHECK(reloaded.db(0).FindJob(fresh->id) != nullptr);
  CHECK(reloaded.db(0).FindQueue("resque:queue:q")->ready() == 1);
}

TEST_CASE("a list edited at one spot splits its runs until it renumbers them, and loads back") {
  StoreFixture f(1);
  Database& db = f.ks.db(0);
  db.ListPush("l", false, "first");
  db.ListPush("l", false, "last");
  f.Commit();
  // A run splits when it outgrows kRunMaxElements, and each split of the first run halves the gap
  // to the next run: 20 splits use up kListGap and the list is renumbered.
  for (int i = 0; i < 30 * static_cast<int>(store::kRunMaxElements) / 2; i++) {
    db.ListInsert("l", 1, "e" + std::to_string(i));
    if (i % 50 == 0) db.ListSet("l", static_cast<size_t>(i % 7), "set" + std::to_string(i));
    if (i % 7 == 0) f.Commit();
  }
  f.Commit();
  auto loaded = f.Load();
  REQUIRE(loaded->db(0).Find("l"));
  CHECK(loaded->db(0).Find("l")->list() == db.Find("l")->list());
}

TEST_CASE("after a restart batches are numbered above every committed one") {
  StoreFixture f(1);
  uint64_t loaded = 0;
  for (int session = 0; session < 3; session++) {
    f.ks.db(0).SetString("session", std::to_string(session), false);
    f.Commit();
    f.store.reset();
    std::string error;
    f.store = OpenStore(f.dir.path, &error);
    REQUIRE(f.store);
    Keyspace reloaded(1);
    auto loader = f.store->NewLoader();
    while (!loader->Step(&reloaded, 1000)) {
    }
    CHECK(reloaded.db(0).Find("session")->str() == std::to_string(session));
    CHECK(loader->lsn() >= f.lsn);
    CHECK(loader->lsn() > loaded);
    loaded = f.lsn = loader->lsn();  // as the server numbers the next batch
  }
}

TEST_CASE("the LSN reservation: kept beside the data, read from older stores, never guessed") {
  StoreFixture f(1);
  f.ks.db(0).SetString("k", "v", false);
  f.Commit();
  fs::path file = f.dir.path / std::string(store::kLsnFile);
  auto reopen = [&](std::string* error) {
    f.store.reset();
    f.store = OpenStore(f.dir.path, error);
    return f.store != nullptr;
  };
  auto loaded_lsn = [&] { return f.store->NewLoader()->lsn(); };
  std::string error;
  SECTION("a store that kept it as a record (before DESASTER-LSN) is read") {
    f.store.reset();
    fs::remove(file);
    REQUIRE(
        OpenRaw(f.dir.path)
            ->Put(leveldb::WriteOptions(), std::string(store::kLsnKey), store::EncodeInt64(5000000))
            .ok());
    REQUIRE(reopen(&error));
    CHECK(loaded_lsn() == 5000000);
  }
  SECTION("the higher of file and record counts") {
    REQUIRE(reopen(&error));
    CHECK(loaded_lsn() == 1 + store::kLsnReserve);
  }
  SECTION("a damaged file is refused with what to do, and left as it was") {
    f.store.reset();
    std::ofstream(file) << "12x\n";
    CHECK_FALSE(reopen(&error));
    CHECK(error.find("DESASTER-LSN is damaged") != std::string::npos);
    CHECK(error.find("Restore it from the backup") != std::string::npos);
    std::ifstream in(file);
    std::string text;
    std::getline(in, text);
    CHECK(text == "12x");
    std::ofstream(file) << "";
    CHECK_FALSE(reopen(&error));
  }
  SECTION("a commit that needs a reservation it cannot write fails, and the next one retries") {
    fs::create_directory(file.string() + ".tmp");  // in the way of the new file
    f.lsn += store::kLsnReserve;
    f.ks.db(0).SetString("k", "w", false);
    Batch batch{++f.lsn, f.ks.TakeMutations()};
    CHECK_FALSE(f.store->Commit({&batch, 1}, false, &error));
    CHECK(error.find("cannot create " + file.string() + ".tmp") != std::string::npos);
    fs::remove(file.string() + ".tmp");
    REQUIRE(f.store->Commit({&batch, 1}, false, &error));
    REQUIRE(reopen(&error));
    CHECK(loaded_lsn() == f.lsn + store::kLsnReserve);
    CHECK(f.Load()->db(0).Find("k")->str() == "w");
  }
}

TEST_CASE("plain strings (kept without a shadow) load back through every kind of change") {
  StoreFixture f(2);
  Database& db = f.ks.db(0);
  auto step = [&](auto change) {
    change();
    f.Commit();  // one commit per change, so no write supersedes another
  };
  step([&] { db.ListPush("was-list", false, "element"); });
  step([&] { db.SetString("was-list", "now a string", false); });
  step([&] { db.SetString("ttl", "1", false); });
  step([&] { db.ExpireAt("ttl", 90000); });
  step([&] { db.SetString("ttl", "2", /*keep_ttl=*/true); });
  step([&] { db.SetString("ttl-dropped", "1", false); });
  step([&] { db.ExpireAt("ttl-dropped", 90000); });
  step([&] { db.SetString("ttl-dropped", "2", false); });
  step([&] { db.SetString("persisted", "1", false); });
  step([&] { db.ExpireAt("persisted", 90000); });
  step([&] { db.Persist("persisted"); });
  step([&] { db.SetString("persisted", "2", false); });
  step([&] { db.SetString("from", "renamed", false); });
  step([&] { db.Rename("from", "to"); });
  step([&] { db.SetString("copied", "c", false); });
  step([&] { db.CopyTo("copied", f.ks.db(1), "copy"); });
  step([&] { db.SetString("gone", "x", false); });
  step([&] { db.Delete("gone"); });

  auto loaded = f.Load();
  CHECK(Digest(*loaded) == Digest(f.ks));
  Database& got = loaded->db(0);
  CHECK(got.Find("was-list")->str() == "now a string");
  CHECK(got.Find("ttl")->expire_at_ms == 90000);
  CHECK(got.Find("ttl-dropped")->expire_at_ms == 0);
  CHECK(got.Find("persisted")->expire_at_ms == 0);
  CHECK(got.Find("from") == nullptr);
  CHECK(got.Find("to")->str() == "renamed");
  CHECK(loaded->db(1).Find("copy")->str() == "c");
  CHECK(got.Find("gone") == nullptr);
}

TEST_CASE("a big string's edits write only the chunks they touch, and load back through changes") {
  StoreFixture f(2);
  Database& db = f.ks.db(0);
  auto step = [&](auto change) {
    change();
    f.Commit();
  };
  const size_t size = 6 * kStringChunk + 10;
  // SETRANGE far past the end of nothing: zeros that are never written.
  step([&] { db.WriteRange("sparse", size - 1, "A"); });
  step([&] { db.WriteRange("sparse", 0, "B"); });  // SETRANGE in the first chunk
  step([&] { db.WriteRange("sparse", size, std::string(70000, 'x')); });  // APPEND across chunks
  // A plain string that an APPEND makes big is split into chunks once.
  step([&] { db.SetString("grown", std::string(kStringChunk, 'g'), false); });
  step([&] { db.ExpireAt("grown", 90000); });
  step([&] { db.WriteRange("grown", kStringChunk, "more"); });
  // Big strings replaced, removed, renamed and copied.
  for (const char* key : {"set-over", "deleted", "from", "copied"}) {
    step([&] { db.WriteRange(key, 3 * kStringChunk, "tail"); });
  }
  step([&] { db.SetString("set-over", "small again", false); });
  step([&] { db.Delete("deleted"); });
  step([&] { db.Rename("from", "to"); });
  step([&] { db.CopyTo("copied", f.ks.db(1), "copy"); });
  step([&] { db.WriteRange("to", 0, "edited after the rename"); });

  auto loaded = f.Load();
  CHECK(Digest(*loaded) == Digest(f.ks));
  Database& got = loaded->db(0);
  CHECK(got.Find("sparse")->str() == db.Find("sparse")->str());
  CHECK(got.Find("grown")->expire_at_ms == 90000);  // an edit keeps the TTL
  CHECK(got.Find("grown")->str().size() == kStringChunk + 4);
  CHECK(got.Find("set-over")->str() == "small again");
  CHECK((got.Find("deleted") == nullptr && got.Find("from") == nullptr));
  CHECK(got.Find("to")->str().starts_with("edited after the rename"));
  CHECK(loaded->db(1).Find("copy")->str() == db.Find("copied")->str());

  // On disk: a big string is its length and the chunks that were written, nothing else; a
  // string set small again is one plain record.
  std::map<std::string, std::vector<std::string>> records;  // key -> record kinds
  f.Restart([&](std::string_view record) {
    store::ElementKey e;
    if (!store::DecodeElementKey(record, &e) || e.db != 0) return;
    uint32_t index;
    records[std::string(e.key)].push_back(
        std::string(1, e.tag) +
        (store::DecodeStringChunkSuffix(e.suffix, &index) ? std::to_string(index) : std::string()));
  });
  CHECK(records["sparse"] == std::vector<std::string>{"c", "c0", "c6", "c7"});
  CHECK(records["set-over"] == std::vector<std::string>{"s"});
  CHECK(records.count("deleted") == 0);
  CHECK(records.count("from") == 0);
  // Reopened, the store knows its chunked strings from their records alone.
  step([&] { db.WriteRange("sparse", 2 * kStringChunk, "after the restart"); });
  step([&] { db.Delete("to"); });
  CHECK(Digest(*f.Load()) == Digest(f.ks));
  bool to_left = false;
  f.Restart([&](std::string_view record) {
    store::ElementKey e;
    to_left |= store::DecodeElementKey(record, &e) && e.db == 0 && e.key == "to";
  });
  CHECK_FALSE(to_left);
}

TEST_CASE("a damaged chunked string loads as far as its records make sense") {
  TempDir dir;
  std::string prefix = store::ElementPrefix(0, "s");
  Plant(dir.path, [&](leveldb::WriteBatch* planted) {
    planted->Put(store::StringLengthKey(prefix), store::EncodeInt64(5));
    planted->Put(store::StringChunkKey(prefix, 0), "hello world");  // longer than the string
    planted->Put(store::StringChunkKey(prefix, 9), "past the end");
    planted->Put(store::StringLengthKey(store::ElementPrefix(0, "huge")),
                 store::EncodeInt64(int64_t{1} << 50));  // no server makes such a string
  });
  Keyspace ks(1);
  auto store = OpenAndLoad(dir.path, &ks);
  CHECK(ks.db(0).Find("s")->str() == "hello");
  CHECK(ks.db(0).Find("huge") == nullptr);
}

TEST_CASE("only LevelDB's write-ahead logs get log space") {
  CHECK(LogSpaceEnv::IsWriteAheadLog("/data/000012.log"));
  CHECK(LogSpaceEnv::IsWriteAheadLog("000007.log"));
  CHECK_FALSE(LogSpaceEnv::IsWriteAheadLog("/data/LOG"));
  CHECK_FALSE(LogSpaceEnv::IsWriteAheadLog("/data/LOG.old"));
  CHECK_FALSE(LogSpaceEnv::IsWriteAheadLog("/data/MANIFEST-000002"));
  CHECK_FALSE(LogSpaceEnv::IsWriteAheadLog("/data/000005.ldb"));
  CHECK_FALSE(LogSpaceEnv::IsWriteAheadLog("/data/job.log"));
  CHECK_FALSE(LogSpaceEnv::IsWriteAheadLog("/data/.log"));
  CHECK_FALSE(LogSpaceEnv::IsWriteAheadLog("/data/000005.log.tmp"));
}

TEST_CASE("a log opened while writes are synced is written into the spare's zeros") {
  TempDir dir;
  fs::create_directories(dir.path);
  constexpr size_t kSize = 64 * 1024;
  fs::path spare = dir.path / "DESASTER-LOG-SPARE";
  {
    std::ofstream(spare) << "left by an earlier process";
    LogSpaceEnv env(dir.path.string(), kSize);
    CHECK_FALSE(fs::exists(spare));

    // No spare yet: a plain file, and the helper starts on one.
    auto first = NewLog(env, dir.path / "000003.log");
    CHECK(fs::file_size(dir.path / "000003.log") == 0);
    REQUIRE(Eventually([&] { return env.SpareReady(); }));
    CHECK(fs::file_size(spare) == kSize);

    auto log = NewLog(env, dir.path / "000004.log");
    CHECK(fs::file_size(dir.path / "000004.log") == kSize);
    REQUIRE(log->Append("hello").ok());
    REQUIRE(log->Sync().ok());
    std::string contents = Contents(dir.path / "000004.log");
    CHECK(contents == "hello" + std::string(kSize - 5, '\0'));

    // The next spare is made; while writes are unsynced no log takes it, and the open one ends
    // at its data before the unsynced write lands.
    REQUIRE(Eventually([&] { return env.SpareReady(); }));
    env.SetWritesSynced(false);
    REQUIRE(log->Append("world").ok());
    REQUIRE(log->Flush().ok());
    CHECK(Contents(dir.path / "000004.log") == "helloworld");
    auto unsynced = NewLog(env, dir.path / "000005.log");
    CHECK(fs::file_size(dir.path / "000005.log") == 0);
    CHECK(env.SpareReady());

    // A write past the spare's end grows the file.
    env.SetWritesSynced(true);
    auto big = NewLog(env, dir.path / "000006.log");
    CHECK(fs::file_size(dir.path / "000006.log") == kSize);
    std::string data(kSize + 100, 'x');
    REQUIRE(big->Append(data).ok());
    REQUIRE(big->Sync().ok());
    CHECK(Contents(dir.path / "000006.log") == data);
    REQUIRE(big->Close().ok());
    REQUIRE(log->Close().ok());
  }
  CHECK_FALSE(fs::exists(spare));  // the env removes the spare when it goes
}

TEST_CASE("synced batches in a log that was a spare survive a crash") {
  TempDir dir, image;
  Keyspace ks(1);
  ks.set_now_ms(1000);
  StoreOptions options;
  options.dir = (dir.path / "data").string();
  options.write_buffer_mb = 1;
  std::string error;
  auto store = LevelStore::Open(options, &error);
  REQUIRE(store);
  uint64_t lsn = 0;
  auto commit = [&] {
    Batch batch{++lsn, ks.TakeMutations()};
    REQUIRE(store->Commit({&batch, 1}, true, &error));
  };
  // A log the size of the write buffer is a spare taken by LevelDB's next log.
  auto spare_in_use = [&] {
    for (const auto& entry : fs::directory_iterator(options.dir)) {
      if (LogSpaceEnv::IsWriteAheadLog(entry.path().string()) &&
          entry.file_size() == options.write_buffer_mb << 20) {
        return true;
      }
    }
    return false;
  };
  int i = 0;
  REQUIRE(Eventually([&] {
    ks.db(0).SetString("big:" + std::to_string(i++), std::string(50000, 'v'), false);
    commit();
    return spare_in_use();
  }));
  for (int j = 0; j < 10; j++) {
    ks.db(0).SetString("small:" + std::to_string(j), "after the switch", false);
    commit();
  }
  REQUIRE(spare_in_use());

  // The files as a killed process leaves them: the log ends in the spare's zeros. The env's
  // helper makes the next spare meanwhile (and LevelDB may compact): a pass that meets a file
  // removed under it is taken again.
  for (int attempt = 0;; attempt++) {
    std::error_code ec;
    fs::remove_all(image.path);
    fs::create_directories(image.path);
    fs::copy(options.dir, image.path / "data", fs::copy_options::recursive, ec);
    if (!ec) break;
    REQUIRE(attempt < 100);
  }
  options.dir = (image.path / "data").string();
  auto recovered = LevelStore::Open(options, &error);
  REQUIRE(recovered);
  Keyspace loaded(1);
  loaded.set_now_ms(1000);
  auto loader = recovered->NewLoader();
  while (!loader->Step(&loaded, 1000)) {
  }
  CHECK(loaded.db(0).size() == static_cast<size_t>(i + 10));
  CHECK(Digest(loaded) == Digest(ks));
}

TEST_CASE(
    "a cluster node's store keeps the log index of its last batch, and a snapshot copies "
    "it whole") {
  TempDir dir;
  std::string error;
  auto store = OpenStore(dir.path, &error);
  REQUIRE(store);
  Keyspace ks(16);
  ks.set_now_ms(1000);
  for (int i = 0; i < 3000; i++)
    ks.db(i % 3).SetString("k" + std::to_string(i), std::string(500, 'v'), false);
  Batch replicated{1, ks.TakeMutations(), 41};  // a replica's: the entry it applied
  REQUIRE(store->Commit({&replicated, 1}, false, &error));
  ks.db(0).SetString("last", "x", false);
  Batch appended{2, ks.TakeMutations()};  // a master's: the index of the group it appended
  REQUIRE(store->CommitAt({&appended, 1}, 57, false, &error));
  REQUIRE(store->NewLoader()->log_index() == 57);

  auto snapshot = store->Snapshot();
  ks.db(0).SetString("after the snapshot", "y", false);
  Batch later{3, ks.TakeMutations(), 58};
  REQUIRE(store->Commit({&later, 1}, false, &error));
  REQUIRE(snapshot->log_index() == 57);

  // Paged as SNAPSHOT.READ pages it, into a fresh LevelDB: a store equal to the first at 57.
  TempDir copy;
  {
    auto raw = OpenRaw(copy.path);
    std::string after;
    size_t pages = 0;
    std::vector<std::pair<std::string, std::string>> page;
    while (page.clear(), snapshot->Read(after, 64 << 10, &page)) {
      leveldb::WriteBatch batch;
      for (const auto& [k, v] : page) batch.Put(k, v);
      REQUIRE(raw->Write(leveldb::WriteOptions(), &batch).ok());
      after = page.back().first;
      pages++;
    }
    REQUIRE(pages > 10);  // 1.5 MB in pages of 64 KB
  }
  Keyspace copied(16);
  auto reopened = OpenAndLoad(copy.path, &copied);
  REQUIRE(reopened->NewLoader()->log_index() == 57);
  REQUIRE(copied.db(0).Find("last") != nullptr);
  REQUIRE(copied.db(0).Find("after the snapshot") == nullptr);
  REQUIRE(copied.db(2).Find("k2999") != nullptr);
  size_t keys = copied.db(0).size() + copied.db(1).size() + copied.db(2).size();
  REQUIRE(keys == 3001);
}

TEST_CASE("the worker registry is kept and replicated as it changes, but for when it was seen") {
  TempDir dir;
  std::string error;
  auto store = OpenStore(dir.path, &error);
  REQUIRE(store);
  Keyspace ks(4);
  ks.set_now_ms(1000);
  uint64_t lsn = 0;
  auto put = [&](const std::string& id, int db) -> Keyspace::Worker& {
    Keyspace::Worker& w = ks.workers()[id];
    w.id = id;
    w.db = db;
    w.host = std::string("h\0st", 4) + id;
    w.incarnation = "i-" + id;
    w.queues = {"a", "", std::string(300, 'q')};
    w.adapters = {"command"};
    w.concurrency = 7;
    w.registered_ms = -5;
    w.last_seen_ms = 999;
    ks.SaveWorker(w);
    return w;
  };
  put("w1", 0);
  put("w2", 3).kill = {1, 18446744073709551615u};
  ks.SaveWorker(ks.workers()["w2"]);
  put("gone", 1);
  CommitAll(ks, *store, &lsn);
  ks.workers()["w1"].stop = true;
  ks.workers()["w1"].queues.push_back("b");
  ks.SaveWorker(ks.workers()["w1"]);
  ks.ForgetWorker("gone");
  ks.FlushAll();  // data, not the registry
  CommitAll(ks, *store, &lsn);

  auto describe = [](Keyspace& k) {
    std::string out;
    for (auto& [id, w] : k.workers()) {
      out += id + "|" + std::to_string(w.db) + "|" + w.host + "|" + w.incarnation + "|" +
             std::to_string(w.concurrency) + "|" + std::to_string(w.registered_ms) + "|" +
             std::to_string(w.stop) + std::to_string(w.refresh) + "|";
      for (const auto& q : w.queues) out += q + ",";
      for (uint64_t k : w.kill) out += std::to_string(k) + ",";
      out += "\n";
    }
    return out;
  };
  Keyspace loaded(4);
  loaded.set_now_ms(5000);
  LoadInto(*store, &loaded);
  CHECK(describe(loaded) == describe(ks));
  CHECK(loaded.workers().count("gone") == 0);
  CHECK(loaded.workers()["w1"].last_seen_ms == 5000);  // seen when it arrived

  Keyspace::Worker damaged;
  CHECK_FALSE(Keyspace::Worker::Decode(ks.workers()["w1"].Encode().substr(0, 10), &damaged));
  CHECK_FALSE(Keyspace::Worker::Decode("\x02", &damaged));  // a newer record
}

TEST_CASE("the history of masters is kept in order, and is no data FLUSHALL removes") {
  TempDir dir;
  std::string error;
  auto store = OpenStore(dir.path, &error);
  REQUIRE(store);
  Keyspace ks(1);
  uint64_t lsn = 0;
  ks.RecordMasterTerm({7, "n1", "10.0.0.1:6379", 1000});
  CommitAll(ks, *store, &lsn);
  ks.FlushAll();
  ks.RecordMasterTerm({300, "n2", "[::1]:6380", 2000});
  CommitAll(ks, *store, &lsn);
  Keyspace loaded(1);
  LoadInto(*store, &loaded);
  REQUIRE(loaded.master_history().size() == 2);
  CHECK(loaded.master_history()[0].epoch == 7);
  CHECK(loaded.master_history()[0].address == "10.0.0.1:6379");
  CHECK(loaded.master_history()[1].node == "n2");
  CHECK(loaded.master_history()[1].since_ms == 2000);
}
