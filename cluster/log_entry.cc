#include "cluster/log_entry.h"

#include <zstd.h>

#include <bit>
#include <memory>
#include <utility>

#include "server/queue/record.h"

namespace desaster {

namespace {

// The header's flags (format 2; format 1 knew only kFinal).
constexpr uint8_t kFinal = 1, kCompressed = 2;

// Level 1: the commit thread compresses a group of a few hundred kB in well under a
// millisecond, where its append takes tens of them.
constexpr int kCompressionLevel = 1;
// A damaged header cannot make a replica allocate more than this for one group.
constexpr unsigned long long kMaxGroupBytes = 4ull << 30;

}  // namespace

std::string EncodeLogEntry(const LogEntry& entry) {
  std::string out;
  out.push_back(static_cast<char>(entry.format));
  out.push_back(
      static_cast<char>((entry.final ? kFinal : 0) | (entry.compressed ? kCompressed : 0)));
  record::PutVarint(&out, entry.epoch);
  out.append(entry.payload);
  return out;
}

std::optional<LogEntry> DecodeLogEntry(std::string_view bytes) {
  if (bytes.size() < 3) return std::nullopt;
  LogEntry entry;
  entry.format = static_cast<uint8_t>(bytes[0]);
  auto flags = static_cast<uint8_t>(bytes[1]);
  uint8_t known = entry.format == 1 ? kFinal : kFinal | kCompressed;
  if (entry.format < 1 || entry.format > kLogFormat || (flags & ~known) != 0) return std::nullopt;
  entry.final = (flags & kFinal) != 0;
  entry.compressed = (flags & kCompressed) != 0;
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
  std::vector<uint64_t> ids;  // kJobsDelete's, checked
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
    // A list of ids cut short would delete some of the jobs: the entry is refused whole.
    if (m.op == Mutation::Op::kJobsDelete) {
      ids.clear();
      if (!DecodeJobIds(m.arg, &ids)) return std::nullopt;
    }
    m.db = static_cast<int>(db);
    payload = payload.substr(payload.size() - r.remaining());
    mutations.push_back(std::move(m));
  }
  return mutations;
}

std::vector<LogEntry> EncodeGroup(std::span<const Batch> batches, uint64_t epoch,
                                  size_t max_bytes) {
  std::string payload = EncodeMutations(batches);
  // One context for the commit thread's whole life: making one costs more than a small group.
  thread_local std::unique_ptr<ZSTD_CCtx, size_t (*)(ZSTD_CCtx*)> context = [] {
    std::unique_ptr<ZSTD_CCtx, size_t (*)(ZSTD_CCtx*)> made(ZSTD_createCCtx(), ZSTD_freeCCtx);
    ZSTD_CCtx_setParameter(made.get(), ZSTD_c_compressionLevel, kCompressionLevel);
    // A damaged frame is refused by its checksum, never applied as other mutations.
    ZSTD_CCtx_setParameter(made.get(), ZSTD_c_checksumFlag, 1);
    return made;
  }();
  // (Not zero-filled: the bound is larger than the group, and only `size` bytes are kept.)
  size_t bound = ZSTD_compressBound(payload.size());
  auto packed = std::make_unique_for_overwrite<char[]>(bound);
  size_t size = ZSTD_compress2(context.get(), packed.get(), bound, payload.data(), payload.size());
  bool compressed = !ZSTD_isError(size) && size < payload.size();
  if (compressed) payload.assign(packed.get(), size);
  std::vector<LogEntry> entries;
  if (payload.size() <= max_bytes) {
    entries.push_back(LogEntry{kLogFormat, true, compressed, epoch, std::move(payload)});
    return entries;
  }
  for (size_t at = 0; at < payload.size(); at += max_bytes) {
    bool last = at + max_bytes >= payload.size();
    entries.push_back(LogEntry{kLogFormat, last, compressed, epoch, payload.substr(at, max_bytes)});
  }
  return entries;
}

std::optional<std::vector<Mutation>> DecodeGroup(const LogGroup& group, int databases) {
  if (!group.compressed) return DecodeMutations(group.payload, databases);
  unsigned long long size = ZSTD_getFrameContentSize(group.payload.data(), group.payload.size());
  if (size == ZSTD_CONTENTSIZE_UNKNOWN || size == ZSTD_CONTENTSIZE_ERROR || size > kMaxGroupBytes) {
    return std::nullopt;
  }
  // Not zero-filled first: the loop decompresses every group a replica applies.
  auto mutations = std::make_unique_for_overwrite<char[]>(size);
  size_t got = ZSTD_decompress(mutations.get(), size, group.payload.data(), group.payload.size());
  if (ZSTD_isError(got) || got != size) return std::nullopt;
  return DecodeMutations(std::string_view(mutations.get(), size), databases);
}

std::optional<LogGroup> GroupAssembler::Add(LogEntry entry) {
  if (!parts_.empty() && entry.epoch != epoch_) parts_.clear();  // an abandoned group
  epoch_ = entry.epoch;
  if (entry.final && parts_.empty()) return LogGroup{entry.compressed, std::move(entry.payload)};
  parts_.append(entry.payload);
  if (!entry.final) return std::nullopt;
  return LogGroup{entry.compressed, std::exchange(parts_, {})};
}

}  // namespace desaster
