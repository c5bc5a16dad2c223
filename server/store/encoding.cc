#include "server/store/encoding.h"

#include <cstring>

#include "server/queue/record.h"

namespace desaster::store {
namespace {

void AppendU16(std::string* out, uint16_t v) {
  out->push_back(static_cast<char>(v >> 8));
  out->push_back(static_cast<char>(v & 0xff));
}

void AppendU32(std::string* out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8)
    out->push_back(static_cast<char>((v >> shift) & 0xff));
}

uint32_t ReadU32(const unsigned char* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}

// `extra`: bytes the caller appends next, reserved too (every push builds a job key).
std::string KeyRecord(char kind, int db, std::string_view key, size_t extra = 0) {
  std::string out;
  out.reserve(7 + key.size() + extra);
  out.push_back(kind);
  AppendU16(&out, static_cast<uint16_t>(db));
  AppendU32(&out, static_cast<uint32_t>(key.size()));
  out.append(key);
  return out;
}

// Splits kind + db + klen + key off `record`; the rest is left in *rest.
bool DecodeKeyRecord(std::string_view record, char kind, int* db, std::string_view* key,
                     std::string_view* rest) {
  if (record.size() < 7 || record[0] != kind) return false;
  const auto* p = reinterpret_cast<const unsigned char*>(record.data());
  *db = (p[1] << 8) | p[2];
  uint32_t klen = ReadU32(p + 3);
  if (record.size() < 7 + static_cast<size_t>(klen)) return false;
  *key = record.substr(7, klen);
  *rest = record.substr(7 + klen);
  return true;
}

}  // namespace

std::string ElementPrefix(int db, std::string_view key) { return KeyRecord('e', db, key); }
std::string ExpireKey(int db, std::string_view key) { return KeyRecord('x', db, key); }

std::string QueuePrefix(int db, std::string_view key) { return KeyRecord('q', db, key); }
std::string QueueConfigKey(int db, std::string_view key) {
  return QueuePrefix(db, key) + std::string(1, '\0');
}
namespace {

// The queue's prefix, `kind`, an id (below 2^63: the order holds) and `part`, if any.
std::string QueueRecordKey(std::string_view queue_prefix, char kind, uint64_t id, char part) {
  std::string out;
  out.reserve(queue_prefix.size() + 10);
  out.append(queue_prefix);
  out.push_back(kind);
  AppendInt64(&out, static_cast<int64_t>(id));
  if (part) out.push_back(part);
  return out;
}

}  // namespace

std::string JobKey(std::string_view queue_prefix, uint64_t id) {
  return QueueRecordKey(queue_prefix, '\1', id, 0);
}
std::string JobRunKey(std::string_view queue_prefix, uint64_t first) {
  return QueueRecordKey(queue_prefix, '\1', first, 'r');
}
std::string JobRunDeadKey(std::string_view queue_prefix, uint64_t first) {
  return QueueRecordKey(queue_prefix, '\1', first, 'd');
}

std::string EncodeJobRun(std::span<const RunJob> jobs) {
  std::string out;
  size_t bytes = 10;
  for (const RunJob& j : jobs) bytes += j.record.size() + 15;
  out.reserve(bytes);
  record::PutVarint(&out, jobs.size());
  for (const RunJob& j : jobs) {
    record::PutVarint(&out, j.id - jobs.front().id);
    record::PutString(&out, j.record);
  }
  return out;
}

bool DecodeJobRun(std::string_view value, uint64_t first, std::vector<RunJob>* out) {
  out->clear();
  record::Reader in(value);
  uint64_t count = in.Varint();
  if (count == 0 || count > kJobRunMaxJobs) return false;
  for (uint64_t i = 0; i < count; i++) {
    uint64_t offset = in.Varint();
    std::string_view job = in.View();
    bool ascending = out->empty() ? offset == 0 : first + offset > out->back().id;
    if (offset > UINT32_MAX || !ascending) return false;
    out->push_back({first + offset, job});
  }
  return in.done();
}

std::string EncodeDeadMap(const DeadMap& dead, size_t count) {
  std::string out((count + 7) / 8, '\0');
  for (size_t i = 0; i < count; i++) {
    if (dead[i]) out[i / 8] = static_cast<char>(out[i / 8] | (1 << (i % 8)));
  }
  return out;
}

DeadMap DecodeDeadMap(std::string_view value) {
  DeadMap dead;
  for (size_t i = 0; i < value.size() * 8 && i < dead.size(); i++) {
    if (static_cast<unsigned char>(value[i / 8]) & (1 << (i % 8))) dead.set(i);
  }
  return dead;
}

std::string StringChunkKey(std::string_view prefix, uint32_t index) {
  std::string out = StringLengthKey(prefix);
  AppendU32(&out, index);
  return out;
}

std::string StringLengthKey(std::string_view prefix) {
  return std::string(prefix) + static_cast<char>(kChunkedString);
}

bool DecodeStringChunkSuffix(std::string_view suffix, uint32_t* index) {
  if (suffix.size() != 4) return false;
  *index = ReadU32(reinterpret_cast<const unsigned char*>(suffix.data()));
  return true;
}

std::string StreamGroupKey(std::string_view prefix, std::string_view group) {
  std::string out(prefix);
  out.push_back(kStreamGroup);
  AppendU32(&out, static_cast<uint32_t>(group.size()));
  out.append(group);
  return out;
}

std::string StreamGroupKey(std::string_view prefix, std::string_view group, GroupRecord kind,
                           std::string_view rest) {
  std::string out = StreamGroupKey(prefix, group);
  out.push_back(static_cast<char>(kind));
  out.append(rest);
  return out;
}

bool DecodeStreamGroupSuffix(std::string_view suffix, std::string_view* group, GroupRecord* kind,
                             std::string_view* rest) {
  if (suffix.size() < 5) return false;
  uint32_t len = ReadU32(reinterpret_cast<const unsigned char*>(suffix.data()));
  if (len > suffix.size() - 5) return false;
  *group = suffix.substr(4, len);
  char k = suffix[4 + len];
  *rest = suffix.substr(5 + len);
  if (k < static_cast<char>(GroupRecord::kState) || k > static_cast<char>(GroupRecord::kPending)) {
    return false;
  }
  *kind = static_cast<GroupRecord>(k);
  return true;
}

std::string ListRunKey(std::string_view prefix, int64_t pos, uint32_t count) {
  std::string out;
  out.reserve(prefix.size() + 13);
  out.append(prefix);
  out.push_back(kList);
  AppendInt64(&out, pos);
  if (count != 1) AppendU32(&out, count);
  return out;
}

std::string ListTrimKey(std::string_view prefix) {
  return std::string(prefix) + static_cast<char>(kList);
}

bool DecodeListRunSuffix(std::string_view suffix, int64_t* pos, uint32_t* count) {
  if (suffix.size() != 8 && suffix.size() != 12) return false;
  *pos = DecodeInt64(suffix);
  *count =
      suffix.size() == 8 ? 1 : ReadU32(reinterpret_cast<const unsigned char*>(suffix.data() + 8));
  return *count >= 1;
}

std::string EncodeListRun(const std::deque<std::string_view>& elements) {
  if (elements.size() == 1) return std::string(elements.front());
  std::string out;
  size_t bytes = 0;
  for (std::string_view e : elements) bytes += e.size() + 5;
  out.reserve(bytes);
  for (std::string_view e : elements) record::PutString(&out, e);
  return out;
}

bool DecodeListRun(std::string_view value, uint32_t count, std::vector<std::string_view>* out) {
  out->clear();
  if (count == 1) {
    out->push_back(value);
    return true;
  }
  record::Reader in(value);
  for (uint32_t i = 0; i < count; i++) out->push_back(in.View());
  return in.done();
}

std::string EncodeHashField(uint64_t seq, std::string_view value) {
  std::string out;
  record::PutVarint(&out, seq);
  out.append(value);
  return out;
}

bool DecodeHashField(std::string_view record, uint64_t* seq, std::string_view* value) {
  record::Reader in(record);
  *seq = in.Varint();
  *value = in.Rest();
  return in.ok();
}

std::string EncodeListTrim(uint32_t dead_front, uint32_t dead_back) {
  std::string out;
  record::PutVarint(&out, dead_front);
  record::PutVarint(&out, dead_back);
  return out;
}

bool DecodeListTrim(std::string_view value, uint32_t* dead_front, uint32_t* dead_back) {
  record::Reader in(value);
  uint64_t front = in.Varint(), back = in.Varint();
  if (!in.done() || front > UINT32_MAX || back > UINT32_MAX) return false;
  *dead_front = static_cast<uint32_t>(front);
  *dead_back = static_cast<uint32_t>(back);
  return true;
}

std::string FunctionLibraryKey(std::string_view name) {
  std::string key(kFunctionLibraryPrefix);
  key.append(name);
  return key;
}

bool DecodeFunctionLibraryKey(std::string_view record, std::string_view* name) {
  if (!record.starts_with(kFunctionLibraryPrefix)) return false;
  *name = record.substr(kFunctionLibraryPrefix.size());
  return true;
}

std::string ScheduleKey(int db, std::string_view name) { return KeyRecord('c', db, name); }

std::string WorkerKey(int db, std::string_view id) { return KeyRecord('w', db, id); }

std::string MasterTermKey(int64_t epoch) {
  std::string key(1, 'm');  // appended: GCC 12 at -O3 warns (-Wrestrict) about "m" + std::string
  return key + EncodeInt64(epoch);
}

std::string EncodeMasterTerm(std::string_view node, std::string_view address,
                             std::string_view since_ms) {
  std::string out;
  for (std::string_view s : {node, address, since_ms}) record::PutString(&out, s);
  return out;
}

bool DecodeMasterTerm(std::string_view record, std::string_view value, Mutation* out) {
  if (record.size() != 9 || record[0] != 'm') return false;
  record::Reader r(value);
  out->op = Mutation::Op::kMasterTerm;
  out->num = DecodeInt64(record.substr(1));
  out->key = r.String();
  out->arg = r.String();
  out->arg2 = r.String();
  return r.done();
}

std::string IdRecordKey(char kind, int db, uint64_t id) {
  return DatabasePrefix(kind, db) + EncodeInt64(static_cast<int64_t>(id));
}

std::string DatabasePrefix(char kind, int db) {
  std::string out(1, kind);
  AppendU16(&out, static_cast<uint16_t>(db));
  return out;
}

std::string EncodeInt64(int64_t v) {
  std::string out;
  AppendInt64(&out, v);
  return out;
}

void AppendInt64(std::string* out, int64_t v) {
  uint64_t u = static_cast<uint64_t>(v) ^ (uint64_t{1} << 63);  // sign flip: signed order
  for (int shift = 56; shift >= 0; shift -= 8)
    out->push_back(static_cast<char>((u >> shift) & 0xff));
}

int64_t DecodeInt64(std::string_view s) {
  uint64_t u = 0;
  for (size_t i = 0; i < 8 && i < s.size(); i++) u = (u << 8) | static_cast<unsigned char>(s[i]);
  return static_cast<int64_t>(u ^ (uint64_t{1} << 63));
}

std::string EncodeScore(double score) {
  std::string out(sizeof(score), '\0');
  memcpy(out.data(), &score, sizeof(score));
  return out;
}

double DecodeScore(std::string_view s) {
  double score = 0;
  if (s.size() == sizeof(score)) memcpy(&score, s.data(), sizeof(score));
  return score;
}

bool DecodeElementKey(std::string_view record, ElementKey* out) {
  std::string_view rest;
  if (!DecodeKeyRecord(record, 'e', &out->db, &out->key, &rest) || rest.empty()) return false;
  out->tag = rest[0];
  out->suffix = rest.substr(1);
  return true;
}

bool DecodeQueueKey(std::string_view record, QueueKey* out) {
  std::string_view rest;
  if (!DecodeKeyRecord(record, 'q', &out->db, &out->key, &rest) || rest.empty()) return false;
  out->prefix_size = record.size() - rest.size();
  out->id = rest.size() >= 9 ? static_cast<uint64_t>(DecodeInt64(rest.substr(1, 8))) : 0;
  if (rest == std::string_view("\0", 1)) {
    out->kind = QueueKey::kConfig;
  } else if (rest.size() == 9 && rest[0] == '\1') {
    out->kind = QueueKey::kJob;
  } else if (rest.size() == 10 && rest[0] == '\1' && (rest[9] == 'r' || rest[9] == 'd')) {
    out->kind = rest[9] == 'r' ? QueueKey::kRun : QueueKey::kRunDeadMap;
  } else {
    return false;
  }
  return true;
}

bool DecodeIdRecordKey(char kind, std::string_view record, int* db, uint64_t* id) {
  if (record.size() != 11 || record[0] != kind) return false;
  *db = (static_cast<unsigned char>(record[1]) << 8) | static_cast<unsigned char>(record[2]);
  *id = static_cast<uint64_t>(DecodeInt64(record.substr(3)));
  return true;
}

namespace {

// A record whose key is all of it: kind, database, the key or name.
bool DecodeWholeKeyRecord(std::string_view record, char kind, int* db, std::string_view* key) {
  std::string_view rest;
  return DecodeKeyRecord(record, kind, db, key, &rest) && rest.empty();
}

}  // namespace

bool DecodeScheduleKey(std::string_view record, int* db, std::string_view* name) {
  return DecodeWholeKeyRecord(record, 'c', db, name);
}

bool DecodeWorkerKey(std::string_view record, int* db, std::string_view* id) {
  return DecodeWholeKeyRecord(record, 'w', db, id);
}

bool DecodeExpireKey(std::string_view record, int* db, std::string_view* key) {
  return DecodeWholeKeyRecord(record, 'x', db, key);
}

std::string MetricKey(int db, std::string_view series, std::string_view tag, int64_t start_ms) {
  std::string out = KeyRecord('t', db, series, tag.size() + 8);
  out.append(tag);
  AppendInt64(&out, start_ms);
  return out;
}

bool DecodeMetricKey(std::string_view record, int* db, std::string_view* series,
                     std::string_view* tag, int64_t* start_ms) {
  std::string_view rest;
  if (!DecodeKeyRecord(record, 't', db, series, &rest) || rest.size() != 10) return false;
  *tag = rest.substr(0, 2);
  *start_ms = DecodeInt64(rest.substr(2));
  return true;
}

}  // namespace desaster::store
