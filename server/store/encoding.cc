#include "server/store/encoding.h"

#include <cstring>

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

std::string KeyRecord(char kind, int db, std::string_view key) {
  std::string out;
  out.reserve(7 + key.size());
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
std::string JobKey(int db, std::string_view queue, uint64_t id) {
  // Ids are below 2^63, so the signed encoding keeps their order.
  return QueuePrefix(db, queue) + '\1' + EncodeInt64(static_cast<int64_t>(id));
}

std::string ScheduleKey(int db, std::string_view name) { return KeyRecord('c', db, name); }

std::string FailureKey(int db, uint64_t id) {
  return DatabasePrefix('f', db) + EncodeInt64(static_cast<int64_t>(id));
}

std::string DatabasePrefix(char kind, int db) {
  std::string out(1, kind);
  AppendU16(&out, static_cast<uint16_t>(db));
  return out;
}

std::string EncodeInt64(int64_t v) {
  uint64_t u = static_cast<uint64_t>(v) ^ (uint64_t{1} << 63);  // sign flip: signed order
  std::string out(8, '\0');
  for (int i = 7; i >= 0; i--, u >>= 8) out[static_cast<size_t>(i)] = static_cast<char>(u & 0xff);
  return out;
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

bool DecodeQueueKey(std::string_view record, int* db, std::string_view* key, uint64_t* id) {
  std::string_view rest;
  if (!DecodeKeyRecord(record, 'q', db, key, &rest) || rest.empty()) return false;
  if (rest == std::string_view("\0", 1)) {
    *id = 0;
    return true;
  }
  if (rest.size() != 9 || rest[0] != '\1') return false;
  *id = static_cast<uint64_t>(DecodeInt64(rest.substr(1)));
  return true;
}

bool DecodeFailureKey(std::string_view record, int* db, uint64_t* id) {
  if (record.size() != 11 || record[0] != 'f') return false;
  *db = (static_cast<unsigned char>(record[1]) << 8) | static_cast<unsigned char>(record[2]);
  *id = static_cast<uint64_t>(DecodeInt64(record.substr(3)));
  return true;
}

bool DecodeScheduleKey(std::string_view record, int* db, std::string_view* name) {
  std::string_view rest;
  return DecodeKeyRecord(record, 'c', db, name, &rest) && rest.empty();
}

bool DecodeExpireKey(std::string_view record, int* db, std::string_view* key) {
  std::string_view rest;
  return DecodeKeyRecord(record, 'x', db, key, &rest) && rest.empty();
}

}  // namespace desaster::store
