#include "server/queue/job.h"

#include "server/queue/record.h"

namespace desaster {
namespace {

constexpr uint8_t kRecordVersion = 1;

}  // namespace

std::string Job::Encode() const {
  std::string out;
  out.reserve(payload.size() + flow.size() + 32);
  out.push_back(static_cast<char>(kRecordVersion));
  out.push_back(static_cast<char>(state));
  record::PutSigned(&out, order);
  record::PutSigned(&out, enqueued_ms);
  record::PutSigned(&out, run_at_ms);
  record::PutSigned(&out, priority);
  record::PutVarint(&out, attempts);
  record::PutString(&out, flow);
  record::PutString(&out, capability);
  record::PutString(&out, unique_key);
  record::PutString(&out, payload);
  record::PutString(&out, lease_owner);
  record::PutSigned(&out, lease_until_ms);
  return out;
}

bool Job::Decode(std::string_view record, Job* job) {
  if (record.size() < 2 || static_cast<uint8_t>(record[0]) != kRecordVersion) return false;
  uint8_t state = static_cast<uint8_t>(record[1]);
  if (state > static_cast<uint8_t>(JobState::kLeased)) return false;
  job->state = static_cast<JobState>(state);
  record::Reader r(record.substr(2));
  job->order = r.Signed();
  job->enqueued_ms = r.Signed();
  job->run_at_ms = r.Signed();
  job->priority = static_cast<int32_t>(r.Signed());
  job->attempts = static_cast<uint32_t>(r.Varint());
  job->flow = r.String();
  job->capability = r.String();
  job->unique_key = r.String();
  job->payload = r.String();
  job->lease_owner = r.String();
  job->lease_until_ms = r.Signed();
  return r.done();
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
