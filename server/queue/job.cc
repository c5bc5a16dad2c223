#include "server/queue/job.h"

#include "server/queue/record.h"

namespace desaster {
namespace {

// 2 added the lease's incarnation; version 1 records (no incarnation) still load.
constexpr uint8_t kRecordVersion = 2;

// Millions of jobs wait in a backlog: a job takes one allocation of jemalloc's 80-byte class.
static_assert(sizeof(Job) <= 80);

}  // namespace

std::string Job::Encode() const {
  std::string scratch;  // a compressed payload stays compressed
  std::string_view plain = payload.Read(&scratch);
  std::string out;
  out.reserve(plain.size() + flow.view().size() + 32);
  out.push_back(static_cast<char>(kRecordVersion));
  out.push_back(static_cast<char>(state));
  record::PutSigned(&out, order);
  record::PutSigned(&out, enqueued_ms);
  record::PutSigned(&out, run_at_ms);
  record::PutSigned(&out, priority);
  record::PutVarint(&out, attempts);
  record::PutString(&out, flow);
  record::PutString(&out, capability());
  record::PutString(&out, unique_key());
  record::PutString(&out, plain);
  record::PutString(&out, lease_owner());
  record::PutSigned(&out, lease_until_ms());
  record::PutString(&out, lease_incarnation());
  return out;
}

bool Job::Decode(std::string_view record, Job* job) {
  uint8_t version = record.empty() ? 0 : static_cast<uint8_t>(record[0]);
  if (record.size() < 2 || version < 1 || version > kRecordVersion) return false;
  uint8_t state = static_cast<uint8_t>(record[1]);
  if (state > static_cast<uint8_t>(JobState::kLeased)) return false;
  job->state = static_cast<JobState>(state);
  record::Reader r(record.substr(2));
  job->order = r.Signed();
  if (job->order >= kOrderLimit || job->order < -kOrderLimit) return false;
  job->enqueued_ms = r.Signed();
  job->run_at_ms = r.Signed();
  job->priority = static_cast<int32_t>(r.Signed());
  job->attempts = SaturatedAttempts(r.Varint());
  job->flow = r.View();
  job->set_capability(r.String());
  job->set_unique_key(r.String());
  job->payload = r.View();
  std::string owner = r.String();
  int64_t until = r.Signed();
  job->set_lease(std::move(owner), version >= 2 ? r.String() : std::string(), until);
  return r.done();
}

namespace {
const std::string kNone;
}  // namespace

const std::string& Job::capability() const { return extras_ ? extras_->capability : kNone; }
const std::string& Job::unique_key() const { return extras_ ? extras_->unique_key : kNone; }
const std::string& Job::lease_owner() const { return extras_ ? extras_->lease_owner : kNone; }
const std::string& Job::lease_incarnation() const {
  return extras_ ? extras_->lease_incarnation : kNone;
}

Job::Extras& Job::extras() {
  if (!extras_) extras_ = std::make_unique<Extras>();
  return *extras_;
}

void Job::DropEmptyExtras() {
  if (extras_ && extras_->capability.empty() && extras_->unique_key.empty() &&
      extras_->lease_owner.empty() && extras_->lease_incarnation.empty() &&
      extras_->lease_until_ms == 0) {
    extras_.reset();
  }
}

void Job::set_capability(std::string c) {
  if (c.empty() && !extras_) return;
  extras().capability = std::move(c);
  DropEmptyExtras();
}

void Job::set_unique_key(std::string k) {
  if (k.empty() && !extras_) return;
  extras().unique_key = std::move(k);
  DropEmptyExtras();
}

void Job::set_lease_until(int64_t until_ms) {
  if (until_ms == 0 && !extras_) return;
  extras().lease_until_ms = until_ms;
  DropEmptyExtras();
}

void Job::set_lease(std::string owner, std::string incarnation, int64_t until_ms) {
  if (owner.empty() && until_ms == 0 && !extras_) return;
  extras().lease_owner = std::move(owner);
  extras_->lease_incarnation = std::move(incarnation);
  extras_->lease_until_ms = until_ms;
  DropEmptyExtras();
}

std::string FormatJobId(uint64_t id) {
  static const char* kHex = "0123456789abcdef";
  std::string s(16, '0');
  for (int i = 15; i >= 0; i--, id >>= 4) s[static_cast<size_t>(i)] = kHex[id & 15];
  return s;
}

bool ParseJobId(std::string_view s, uint64_t* id) {
  if (s.size() != 16) return false;
  uint64_t v = 0;
  for (char c : s) {
    int d;
    if (c >= '0' && c <= '9') {
      d = c - '0';
    } else if (c >= 'a' && c <= 'f') {
      d = c - 'a' + 10;
    } else if (c >= 'A' && c <= 'F') {
      d = c - 'A' + 10;
    } else {
      return false;
    }
    v = v << 4 | static_cast<uint64_t>(d);
  }
  *id = v;
  return true;
}

std::string_view JobStateName(JobState s) {
  switch (s) {
    case JobState::kReady:
      return "ready";
    case JobState::kScheduled:
      return "scheduled";
    case JobState::kLeased:
      return "running";
  }
  return "ready";
}

}  // namespace desaster
