#include "rdb/writer.h"

#include <charconv>
#include <cstring>

#include "rdb/crc64.h"

namespace desaster::rdb {
namespace {

void AppendLe(std::string* out, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; i++) out->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
void AppendBe(std::string* out, uint64_t v, int bytes) {
  for (int i = bytes - 1; i >= 0; i--) out->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

// The integer a string is, when it is one written canonically ("12", not "012" or "+12").
bool CanonicalInteger(std::string_view s, int64_t* v) {
  if (s.empty() || s.size() > 20) return false;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), *v);
  return ec == std::errc() && end == s.data() + s.size() && std::to_string(*v) == s;
}

// One listpack entry: its encoding, then its own length backwards (so a listpack can be
// walked from the end).
void AppendListpackEntry(std::string* out, std::string_view item) {
  std::string entry;
  int64_t v;
  if (CanonicalInteger(item, &v)) {
    if (v >= 0 && v <= 127) {
      entry.push_back(static_cast<char>(v));
    } else if (v >= -4096 && v <= 4095) {
      uint64_t u = static_cast<uint64_t>(v) & 0x1fff;
      entry.push_back(static_cast<char>(0xc0 | (u >> 8)));
      entry.push_back(static_cast<char>(u & 0xff));
    } else if (v >= INT16_MIN && v <= INT16_MAX) {
      entry.push_back(static_cast<char>(0xf1));
      AppendLe(&entry, static_cast<uint64_t>(v), 2);
    } else if (v >= -(1 << 23) && v < (1 << 23)) {
      entry.push_back(static_cast<char>(0xf2));
      AppendLe(&entry, static_cast<uint64_t>(v), 3);
    } else if (v >= INT32_MIN && v <= INT32_MAX) {
      entry.push_back(static_cast<char>(0xf3));
      AppendLe(&entry, static_cast<uint64_t>(v), 4);
    } else {
      entry.push_back(static_cast<char>(0xf4));
      AppendLe(&entry, static_cast<uint64_t>(v), 8);
    }
  } else if (item.size() < 64) {
    entry.push_back(static_cast<char>(0x80 | item.size()));
    entry.append(item);
  } else if (item.size() < 4096) {
    entry.push_back(static_cast<char>(0xe0 | (item.size() >> 8)));
    entry.push_back(static_cast<char>(item.size() & 0xff));
    entry.append(item);
  } else {
    entry.push_back(static_cast<char>(0xf0));
    AppendLe(&entry, item.size(), 4);
    entry.append(item);
  }
  out->append(entry);
  // The back-length: 7 bits per byte, most significant first, every byte after the first with
  // bit 7 set (a reader walking backwards stops at the byte without it).
  uint64_t n = entry.size();
  char back[5];
  int k = 0;
  do {
    back[k++] = static_cast<char>(n & 0x7f);
    n >>= 7;
  } while (n > 0);
  for (int i = k - 1; i >= 0; i--)
    out->push_back(static_cast<char>(back[i] | (i < k - 1 ? 0x80 : 0)));
}

void AppendStreamId(std::string* out, StreamId id) {
  AppendLength(out, id.ms);
  AppendLength(out, id.seq);
}

// A version-1 stream (RDB_TYPE_STREAM_LISTPACKS): one node holding every entry, its master
// entry naming the first entry's fields.
std::string StreamValue(const Stream& s) {
  std::string out;
  if (s.entries.empty()) {
    AppendLength(&out, 0);
  } else {
    AppendLength(&out, 1);
    const StreamId node = s.entries.front().id;
    std::string key;
    for (uint64_t part : {node.ms, node.seq}) AppendBe(&key, part, 8);
    AppendString(&out, key);
    const auto& first = s.entries.front().fields;
    std::vector<std::string> items = {std::to_string(s.entries.size()), "0",
                                      std::to_string(first.size() / 2)};
    for (size_t i = 0; i < first.size(); i += 2) items.push_back(first[i]);
    items.push_back("0");
    for (const StreamEntry& e : s.entries) {
      bool same = e.fields.size() == first.size();
      for (size_t i = 0; same && i < first.size(); i += 2) same = e.fields[i] == first[i];
      size_t before = items.size();
      items.push_back(same ? "2" : "0");
      items.push_back(std::to_string(e.id.ms - node.ms));
      // The sequence delta wraps for an entry with a later ms and a lower sequence; readers
      // add it back modulo 2^64, as Redis computes it.
      items.push_back(std::to_string(static_cast<int64_t>(e.id.seq - node.seq)));
      if (!same) items.push_back(std::to_string(e.fields.size() / 2));
      for (size_t i = same ? 1 : 0; i < e.fields.size(); i += same ? 2 : 1) {
        items.push_back(e.fields[i]);
      }
      items.push_back(std::to_string(items.size() - before));  // the entry's item count
    }
    AppendString(&out, EncodeListpack(items));
  }
  AppendLength(&out, s.entries.size());
  AppendStreamId(&out, s.last_id);
  // Consumer groups, in version 1's form: no entries-read (a reader estimates it, as Redis
  // does), and consumers' pending entries as IDs of the group's.
  auto raw_id = [&out](StreamId id) {
    AppendBe(&out, id.ms, 8);
    AppendBe(&out, id.seq, 8);
  };
  auto milliseconds = [&out](int64_t ms) {
    for (int i = 0; i < 8; i++)
      out.push_back(static_cast<char>(static_cast<uint64_t>(ms) >> (8 * i)));
  };
  AppendLength(&out, s.groups.size());
  for (const StreamGroup& g : s.groups) {
    AppendString(&out, g.name);
    AppendStreamId(&out, g.last_delivered);
    AppendLength(&out, g.pending.size());
    for (const StreamPending& p : g.pending) {
      raw_id(p.id);
      milliseconds(p.delivery_ms);
      AppendLength(&out, p.deliveries);
    }
    AppendLength(&out, g.consumers.size());
    for (const StreamConsumer& c : g.consumers) {
      AppendString(&out, c.name);
      milliseconds(c.seen_ms);
      std::vector<StreamId> mine;
      for (const StreamPending& p : g.pending) {
        if (p.consumer == c.name) mine.push_back(p.id);
      }
      AppendLength(&out, mine.size());
      for (StreamId id : mine) raw_id(id);
    }
  }
  return out;
}

}  // namespace

void AppendLength(std::string* out, uint64_t n) {
  if (n < (1 << 6)) {
    out->push_back(static_cast<char>(n));
  } else if (n < (1 << 14)) {
    out->push_back(static_cast<char>(0x40 | (n >> 8)));
    out->push_back(static_cast<char>(n & 0xff));
  } else if (n <= UINT32_MAX) {
    out->push_back(static_cast<char>(0x80));
    AppendBe(out, n, 4);
  } else {
    out->push_back(static_cast<char>(0x81));
    AppendBe(out, n, 8);
  }
}

void AppendString(std::string* out, std::string_view s) {
  AppendLength(out, s.size());
  out->append(s);
}

std::string EncodeListpack(const std::vector<std::string>& items) {
  std::string body;
  for (const auto& item : items) AppendListpackEntry(&body, item);
  std::string lp;
  AppendLe(&lp, 4 + 2 + body.size() + 1, 4);
  AppendLe(&lp, items.size() < 65535 ? items.size() : 65535, 2);  // 65535: count unknown
  lp.append(body);
  lp.push_back(static_cast<char>(0xff));
  return lp;
}

namespace {

// The DUMP footer: the RDB version, then the CRC-64 of everything before it.
void AppendFooter(std::string* out, int version) {
  AppendLe(out, static_cast<uint64_t>(version), 2);
  AppendLe(out, Crc64(0, *out), 8);
}

}  // namespace

std::string DumpFrame(uint8_t type, std::string_view value, int version) {
  std::string out(1, static_cast<char>(type));
  out.append(value);
  AppendFooter(&out, version);
  return out;
}

std::string EncodeFunctions(const std::vector<std::string_view>& codes) {
  std::string out;
  for (std::string_view code : codes) {
    out.push_back(static_cast<char>(kOpcodeFunction));
    AppendString(&out, code);
  }
  AppendFooter(&out, 10);
  return out;
}

std::string EncodeDump(const Object& o) {
  std::string value;
  uint8_t type = 0;
  switch (o.type) {
    case Type::kString:
      type = 0;
      AppendString(&value, o.string);
      break;
    case Type::kList:
    case Type::kSet:
      type = o.type == Type::kList ? 1 : 2;
      AppendLength(&value, o.elements.size());
      for (const auto& e : o.elements) AppendString(&value, e);
      break;
    case Type::kZSet:
      type = 5;
      AppendLength(&value, o.members.size());
      for (const auto& [member, score] : o.members) {
        AppendString(&value, member);
        uint64_t bits;
        std::memcpy(&bits, &score, sizeof bits);
        AppendLe(&value, bits, 8);
      }
      break;
    case Type::kHash:
      type = 4;
      AppendLength(&value, o.fields.size());
      for (const auto& [field, v] : o.fields) {
        AppendString(&value, field);
        AppendString(&value, v);
      }
      break;
    case Type::kStream:
      type = 15;
      value = StreamValue(o.stream);
      break;
  }
  return DumpFrame(type, value);
}

}  // namespace desaster::rdb
