#include "cluster/log_entry.h"

#include <bit>
#include <utility>

#include "server/queue/record.h"

namespace desaster {

std::string EncodeLogEntry(const LogEntry& entry) {
  std::string out;
  out.push_back(static_cast<char>(entry.format));
  out.push_back(entry.final ? 1 : 0);
  record::PutVarint(&out, entry.epoch);
  out.append(entry.payload);
  return out;
}

std::optional<LogEntry> DecodeLogEntry(std::string_view bytes) {
  if (bytes.size() < 3) return std::nullopt;
  LogEntry entry;
  entry.format = static_cast<uint8_t>(bytes[0]);
  if (entry.format != kLogFormat || static_cast<uint8_t>(bytes[1]) > 1) return std::nullopt;
  entry.final = bytes[1] == 1;
  record::Reader r(bytes.substr(2));
  entry.epoch = r.Varint();
  if (!r.ok() || entry.epoch == 0) return std::nullopt;
  entry.payload = std::string(bytes.substr(bytes.size() - r.remaining()));
  return entry;
}

std::string EncodeMutations(std::span<const Batch> batches) {
  std::string out;
  for (const Batch& batch : batches) {
    for (const Mutation& m : batch.mutations) {
      out.push_back(static_cast<char>(m.op));
      out.push_back(m.flag ? 1 : 0);
      record::PutVarint(&out, static_cast<uint64_t>(m.db));
      record::PutSigned(&out, m.num);
      record::PutVarint(&out, std::bit_cast<uint64_t>(m.score));
      record::PutString(&out, m.key);
      record::PutString(&out, m.arg);
      record::PutString(&out, m.arg2);
    }
  }
  return out;
}

std::optional<std::vector<Mutation>> DecodeMutations(std::string_view payload, int databases) {
  std::vector<Mutation> mutations;
  while (!payload.empty()) {
    if (payload.size() < 2) return std::nullopt;
    auto op = static_cast<uint8_t>(payload[0]);
    auto flag = static_cast<uint8_t>(payload[1]);
    if (op > static_cast<uint8_t>(Mutation::kLastOp) || flag > 1) return std::nullopt;
    record::Reader r(payload.substr(2));
    Mutation m;
    m.op = static_cast<Mutation::Op>(op);
    m.flag = flag == 1;
    uint64_t db = r.Varint();
    m.num = r.Signed();
    m.score = std::bit_cast<double>(r.Varint());
    m.key = r.String();
    m.arg = r.String();
    m.arg2 = r.String();
    if (!r.ok() || db >= static_cast<uint64_t>(databases)) return std::nullopt;
    m.db = static_cast<int>(db);
    payload = payload.substr(payload.size() - r.remaining());
    mutations.push_back(std::move(m));
  }
  return mutations;
}

std::vector<LogEntry> SplitGroup(std::string payload, uint64_t epoch, size_t max_bytes) {
  std::vector<LogEntry> entries;
  if (payload.size() <= max_bytes) {
    entries.push_back(LogEntry{kLogFormat, true, epoch, std::move(payload)});
    return entries;
  }
  for (size_t at = 0; at < payload.size(); at += max_bytes) {
    bool last = at + max_bytes >= payload.size();
    entries.push_back(LogEntry{kLogFormat, last, epoch, payload.substr(at, max_bytes)});
  }
  return entries;
}

std::optional<std::string> GroupAssembler::Add(LogEntry entry) {
  if (!parts_.empty() && entry.epoch != epoch_) parts_.clear();  // an abandoned group
  epoch_ = entry.epoch;
  if (entry.final && parts_.empty()) return std::move(entry.payload);
  parts_.append(entry.payload);
  if (!entry.final) return std::nullopt;
  return std::exchange(parts_, {});
}

}  // namespace desaster
