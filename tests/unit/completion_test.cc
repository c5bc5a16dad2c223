#include "server/queue/completion.h"

#include <catch2/catch.hpp>
#include <map>

#include "compat/redact.h"
#include "server/data/keyspace.h"

using namespace desaster;

TEST_CASE("completion records round trip, and damaged ones are refused") {
  Completion c;
  c.job = 42;
  c.queue = "mail";
  c.payload = R"({"class":"Mailer","args":[1]})";
  c.klass = "Mailer";
  c.worker = "box-1";
  c.result = "sent";
  c.enqueued_ms = -5;  // signed: a clock before the epoch survives too
  c.started_ms = 1000;
  c.finished_ms = 1250;
  c.attempt = 3;
  c.redacted = true;
  Completion d;
  REQUIRE(Completion::Decode(c.Encode(), &d));
  CHECK(d.Encode() == c.Encode());
  CHECK((d.job == 0 && d.duration_ms() == 250 && d.redacted && d.enqueued_ms == -5));
  std::string record = c.Encode();
  for (size_t n = 0; n < record.size(); n++)
    CHECK_FALSE(Completion::Decode(record.substr(0, n), &d));
  CHECK_FALSE(Completion::Decode(record + "x", &d));
  // A version 1 record, which kept the arguments after the class, still loads.
  std::string v1 = record;
  v1[0] = 1;
  size_t after_class = 1 + 1 + c.queue.size() + 1 + c.payload.size() + 1 + c.klass.size();
  v1.insert(after_class, std::string("\x03[1]"));
  REQUIRE(Completion::Decode(v1, &d));
  CHECK(d.Encode() == c.Encode());
  std::string newer = record;
  newer[0] = 3;
  CHECK_FALSE(Completion::Decode(newer, &d));
  std::string flags = record;
  flags.back() = 7;  // the flags: only "redacted" is known
  CHECK_FALSE(Completion::Decode(flags, &d));
}

TEST_CASE("secrets are redacted by the names they are given under") {
  Redactor r(" Password, token ,,");
  bool changed;
  CHECK(r.Redact(R"({"user":"ann","PassWord":"x","nested":[{"api_token":{"a":1}}],"n":2})",
                 &changed) ==
        R"({"user":"ann","PassWord":"[REDACTED]","nested":[{"api_token":"[REDACTED]"}],"n":2})");
  CHECK(changed);
  // Nothing secret: the text stays byte for byte (no re-serialised JSON).
  std::string plain = R"({ "user" : "ann",  "n": 1.50 })";
  CHECK(r.Redact(plain, &changed) == plain);
  CHECK_FALSE(changed);
  // Member names and strings with quotes and control characters are written back escaped.
  CHECK(r.Redact("{\"a\\\"b\":\"x\\ny\",\"token\":1}", &changed) ==
        "{\"a\\\"b\":\"x\\ny\",\"token\":\"[REDACTED]\"}");
  // Text: what follows a secret name and = or : up to a space, quote, comma, semicolon or &.
  CHECK(r.Redact("login password=hunter2 user=ann; token: 'a b' x", &changed) ==
        "login password=[REDACTED] user=ann; token: '[REDACTED]' x");
  CHECK(r.Redact("GET /?access_token=abc&x=1", &changed) == "GET /?access_token=[REDACTED]&x=1");
  CHECK(r.Redact("password= ", &changed) == "password= ");  // nothing to take out
  CHECK_FALSE(changed);
  CHECK(r.Redact("a password: \"unterminated", &changed) == "a password: \"[REDACTED]");
  // Too deep for the JSON parser: redacted as text, not a crash.
  std::string deep = std::string(5000, '[') + "\"password=p\"" + std::string(5000, ']');
  CHECK(r.Redact(deep, &changed).find("password=[REDACTED]") != std::string::npos);
  CHECK(changed);
  // No words: nothing is secret.
  Redactor none("");
  CHECK_FALSE(none.enabled());
  CHECK(none.Redact("password=x", &changed) == "password=x");
  CHECK_FALSE(changed);
}

namespace {

// The store's side of the archive, in memory: records put by the test, writes reported when
// the test says they are durable.
class MemoryArchive : public CompletionArchive {
 public:
  std::map<uint64_t, std::string> records;  // database 0's
  std::vector<std::pair<int, uint64_t>> stored;

  bool Read(int db, uint64_t job, std::string* record) override {
    auto it = records.find(job);
    if (db != 0 || it == records.end()) return false;
    *record = it->second;
    return true;
  }
  void Scan(int db, const std::function<bool(uint64_t, std::string_view)>& visit) override {
    for (const auto& [job, record] : records) {
      if (db != 0 || !visit(job, record)) return;
    }
  }
  std::vector<std::pair<int, uint64_t>> TakeStored() override { return std::exchange(stored, {}); }
};

Completion Done(uint64_t job, std::string payload, std::string result) {
  return {.job = job,
          .queue = "q",
          .payload = std::move(payload),
          .klass = "K",
          .worker = "w",
          .result = std::move(result),
          .started_ms = 10,
          .finished_ms = 20 + int64_t(job)};
}

Mutation PutOf(const Completion& c, bool loaded) {
  Mutation m;
  m.op = Mutation::Op::kCompletionPut;
  m.num = static_cast<int64_t>(c.job);
  m.arg = c.Encode();
  m.flag = loaded;
  return m;
}

}  // namespace

TEST_CASE("a completion's payload and result leave memory once every write of it is stored") {
  MemoryArchive archive;
  Keyspace keyspace(16);
  keyspace.set_completion_archive(&archive);
  Database& db = keyspace.db(0);
  Completion first = Done(7, "payload one", "result one"), second = Done(7, "payload two", "two");
  keyspace.Apply(PutOf(first, false));
  keyspace.Apply(PutOf(second, false));  // put again before the first write was stored
  archive.records[7] = second.Encode();
  archive.stored = {{0, 7}, {0, 99}};  // 99: a job the keyspace does not hold
  keyspace.ArchiveStoredCompletions();
  const Completion* c = db.FindCompletion(7);
  REQUIRE(c);
  CHECK((!c->archived && c->payload == "payload two" && db.archived_completions() == 0));
  archive.stored = {{0, 7}};
  keyspace.ArchiveStoredCompletions();
  CHECK((c->archived && c->payload.empty() && c->result.empty() && db.archived_completions() == 1));
  Completion scratch;
  const Completion* whole = db.WithBody(*c, &scratch);
  CHECK((whole == &scratch && whole->payload == "payload two" && whole->result == "two" &&
         whole->worker == "w"));
  // Run again, it carries its payload from the archive; with no record there, it does not run
  // (never as an empty job) and shows without a body.
  Job* rerun = db.RerunCompletion(*c);
  REQUIRE(rerun);
  CHECK(rerun->payload.str() == "payload two");
  std::string kept = std::exchange(archive.records[7], {});
  archive.records.erase(7);
  CHECK(db.WithBody(*c, &scratch) == nullptr);
  CHECK(db.RerunCompletion(*c) == nullptr);
  archive.records[7] = kept;
  // Loaded from the store, a completion is archived from the start; one still in memory is
  // shown as it is.
  Completion loaded = Done(8, "from disk", "r8");
  archive.records[8] = loaded.Encode();
  keyspace.Apply(PutOf(loaded, true));
  CHECK((db.FindCompletion(8)->archived && db.FindCompletion(8)->payload.empty()));
  keyspace.Apply(PutOf(Done(9, "in memory", "r9"), false));
  CHECK(db.WithBody(*db.FindCompletion(9), &scratch) == db.FindCompletion(9));
  CHECK(db.archived_completions() == 2);
  Mutation remove;
  remove.op = Mutation::Op::kCompletionDelete;
  remove.num = 8;
  keyspace.Apply(remove);
  CHECK(db.archived_completions() == 1);
  // A search reads what the archive holds; a stopped one ends early.
  archive.records[10] = Done(10, "needle in payload", "").Encode();
  archive.records[11] = Done(11, "hay", "needle in result").Encode();
  std::atomic<bool> stop(false);
  CHECK(SearchArchive(archive, 0, "needle", stop) == std::unordered_set<uint64_t>{10, 11});
  CHECK(SearchArchive(archive, 1, "needle", stop).empty());
  stop = true;
  CHECK(SearchArchive(archive, 0, "o", stop).size() == 1);  // every record has one: the first
}

TEST_CASE("without an archive, memory keeps every completion whole") {
  Keyspace keyspace(16);
  keyspace.Apply(PutOf(Done(7, "payload", "result"), true));
  const Completion* c = keyspace.db(0).FindCompletion(7);
  CHECK((!c->archived && c->payload == "payload" && keyspace.db(0).archived_completions() == 0));
}
