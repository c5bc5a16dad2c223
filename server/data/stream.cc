#include "server/data/stream.h"

#include "server/queue/record.h"

namespace desaster {
namespace {

void PutU64(std::string* out, uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8)
    out->push_back(static_cast<char>((v >> shift) & 0xff));
}

uint64_t GetU64(std::string_view s, size_t at) {
  uint64_t v = 0;
  for (size_t i = 0; i < 8 && at + i < s.size(); i++)
    v = (v << 8) | static_cast<unsigned char>(s[at + i]);
  return v;
}

}  // namespace

std::string StreamId::Encode() const {
  std::string out;
  PutU64(&out, ms);
  PutU64(&out, seq);
  return out;
}

StreamId StreamId::Decode(std::string_view bytes) { return {GetU64(bytes, 0), GetU64(bytes, 8)}; }

std::string StreamMeta::Encode() const {
  std::string out = last_id.Encode();
  PutU64(&out, entries_added);
  out += max_deleted.Encode();
  return out;
}

StreamMeta StreamMeta::Decode(std::string_view bytes) {
  StreamMeta m;
  m.last_id = StreamId::Decode(bytes.substr(0, std::min<size_t>(16, bytes.size())));
  m.entries_added = GetU64(bytes, 16);
  if (bytes.size() >= 40) m.max_deleted = StreamId::Decode(bytes.substr(24));
  return m;
}

std::string StreamPending::Encode() const {
  std::string out;
  record::PutSigned(&out, delivery_ms);
  record::PutVarint(&out, deliveries);
  record::PutString(&out, consumer);
  return out;
}

bool StreamPending::Decode(std::string_view bytes, StreamPending* out) {
  record::Reader r(bytes);
  out->delivery_ms = r.Signed();
  out->deliveries = r.Varint();
  out->consumer = r.View();
  return r.ok();
}

std::string StreamGroup::EncodeState() const {
  std::string out;
  record::PutVarint(&out, last_delivered.ms);
  record::PutVarint(&out, last_delivered.seq);
  record::PutSigned(&out, entries_read);
  return out;
}

bool StreamGroup::DecodeState(std::string_view bytes, StreamGroup* out) {
  record::Reader r(bytes);
  out->last_delivered.ms = r.Varint();
  out->last_delivered.seq = r.Varint();
  out->entries_read = r.Signed();
  return r.ok();
}

int64_t EntriesUpTo(const Stream& s, StreamId id) {
  auto added = static_cast<int64_t>(s.meta.entries_added);
  if (added == 0) return 0;
  if (s.entries.empty() && id <= s.meta.last_id) return added;
  if (id == s.meta.last_id) return added;
  if (id > s.meta.last_id) return -1;
  StreamId first = s.entries.begin()->first;
  if (s.meta.max_deleted == StreamId{} || s.meta.max_deleted < first) {
    auto length = static_cast<int64_t>(s.entries.size());
    if (id < first) return added - length;
    if (id == first) return added - length + 1;
  }
  return -1;
}

std::string EncodeFields(const std::vector<std::string>& fields) {
  std::string out;
  for (const auto& f : fields) {
    PutU64(&out, f.size());
    out += f;
  }
  return out;
}

std::vector<std::string> DecodeFields(std::string_view bytes) {
  std::vector<std::string> out;
  size_t at = 0;
  while (at + 8 <= bytes.size()) {
    uint64_t len = GetU64(bytes, at);
    at += 8;
    if (len > bytes.size() - at) break;
    out.emplace_back(bytes.substr(at, len));
    at += len;
  }
  return out;
}

}  // namespace desaster
