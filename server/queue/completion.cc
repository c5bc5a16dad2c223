#include "server/queue/completion.h"

#include "server/queue/record.h"

namespace desaster {
namespace {
// 2: without the arguments, which the payload holds (version 1 records still load).
constexpr char kRecordVersion = 2;
}  // namespace

std::string Completion::Encode() const {
  std::string out(1, kRecordVersion);
  for (const std::string* s : {&queue, &payload, &klass, &worker, &result}) {
    record::PutString(&out, *s);
  }
  for (int64_t ms : {enqueued_ms, started_ms, finished_ms}) record::PutSigned(&out, ms);
  record::PutVarint(&out, attempt);
  record::PutVarint(&out, redacted ? 1 : 0);
  return out;
}

bool Completion::Decode(std::string_view data, Completion* c, bool body) {
  if (data.empty() || data[0] < 1 || data[0] > kRecordVersion) return false;
  record::Reader r(data.substr(1));
  auto read = [&](std::string* s, bool wanted) {
    if (wanted) {
      *s = r.String();
    } else {
      r.View();
    }
  };
  read(&c->queue, true);
  read(&c->payload, body);
  read(&c->klass, true);
  if (data[0] == 1) r.View();  // the arguments
  read(&c->worker, true);
  read(&c->result, body);
  for (int64_t* ms : {&c->enqueued_ms, &c->started_ms, &c->finished_ms}) *ms = r.Signed();
  uint64_t attempt = r.Varint();
  uint64_t flags = r.Varint();
  if (attempt > UINT32_MAX || flags > 1) return false;
  c->attempt = static_cast<uint32_t>(attempt);
  c->redacted = flags == 1;
  return r.done();
}

std::unordered_set<uint64_t> SearchArchive(CompletionArchive& archive, int db,
                                           std::string_view text, const std::atomic<bool>& stop) {
  std::unordered_set<uint64_t> hits;
  Completion c;
  archive.Scan(db, [&](uint64_t job, std::string_view record) {
    if (Completion::Decode(record, &c) && c.BodyContains(text)) hits.insert(job);
    return !stop.load(std::memory_order_relaxed);
  });
  return hits;
}

}  // namespace desaster
