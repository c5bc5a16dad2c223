#include "server/queue/job.h"

#include <cstring>

namespace desaster {
namespace {

constexpr uint8_t kRecordVersion = 1;

void PutVarint(std::string* out, uint64_t v) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>(v | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}

void PutString(std::string* out, std::string_view s) {
  PutVarint(out, s.size());
  out->append(s);
}

// Signed values travel zigzag-encoded so small negatives stay short.
uint64_t ZigZag(int64_t v) {
  return (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63);
}
int64_t UnZigZag(uint64_t v) { return static_cast<int64_t>(v >> 1) ^ -static_cast<int64_t>(v & 1); }

struct Reader {
  std::string_view in;
  bool ok = true;
  uint64_t Varint() {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (in.empty()) break;
      uint8_t b = static_cast<uint8_t>(in.front());
      in.remove_prefix(1);
      v |= static_cast<uint64_t>(b & 0x7f) << shift;
      if (!(b & 0x80)) return v;
    }
    ok = false;
    return 0;
  }
  std::string String() {
    uint64_t n = Varint();
    if (!ok || n > in.size()) {
      ok = false;
      return {};
    }
    std::string s(in.substr(0, n));
    in.remove_prefix(n);
    return s;
  }
};

}  // namespace

std::string Job::Encode() const {
  std::string out;
  out.reserve(payload.size() + flow.size() + 32);
  out.push_back(static_cast<char>(kRecordVersion));
  out.push_back(static_cast<char>(state));
  PutVarint(&out, ZigZag(order));
  PutVarint(&out, static_cast<uint64_t>(enqueued_ms));
  PutVarint(&out, static_cast<uint64_t>(run_at_ms));
  PutVarint(&out, ZigZag(priority));
  PutVarint(&out, attempts);
  PutString(&out, flow);
  PutString(&out, capability);
  PutString(&out, unique_key);
  PutString(&out, payload);
  return out;
}

bool Job::Decode(std::string_view record, Job* job) {
  if (record.size() < 2 || static_cast<uint8_t>(record[0]) != kRecordVersion) return false;
  uint8_t state = static_cast<uint8_t>(record[1]);
  if (state > static_cast<uint8_t>(JobState::kScheduled)) return false;
  job->state = static_cast<JobState>(state);
  Reader r{record.substr(2)};
  job->order = UnZigZag(r.Varint());
  job->enqueued_ms = static_cast<int64_t>(r.Varint());
  job->run_at_ms = static_cast<int64_t>(r.Varint());
  job->priority = static_cast<int32_t>(UnZigZag(r.Varint()));
  job->attempts = static_cast<uint32_t>(r.Varint());
  job->flow = r.String();
  job->capability = r.String();
  job->unique_key = r.String();
  job->payload = r.String();
  return r.ok && r.in.empty();
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

std::string_view JobStateName(JobState s) { return s == JobState::kReady ? "ready" : "scheduled"; }

}  // namespace desaster
