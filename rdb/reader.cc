#include "rdb/reader.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <stdexcept>

#include "rdb/crc64.h"

extern "C" {
#include <liblzf/lzf.h>
}

namespace desaster::rdb {
namespace {

// Type bytes and opcodes, as the format defines them.
enum : uint8_t {
  kTypeString = 0,
  kTypeList = 1,
  kTypeSet = 2,
  kTypeZSet = 3,
  kTypeHash = 4,
  kTypeZSet2 = 5,
  kTypeModule = 6,
  kTypeModule2 = 7,
  kTypeHashZipmap = 9,
  kTypeListZiplist = 10,
  kTypeSetIntset = 11,
  kTypeZSetZiplist = 12,
  kTypeHashZiplist = 13,
  kTypeListQuicklist = 14,
  kTypeStreamListpacks = 15,
  kTypeHashListpack = 16,
  kTypeZSetListpack = 17,
  kTypeListQuicklist2 = 18,
  kTypeStreamListpacks2 = 19,
  kTypeSetListpack = 20,
  kTypeStreamListpacks3 = 21,
  kTypeHashMetadataPreGa = 22,
  kTypeHashListpackExPreGa = 23,
  kTypeHashMetadata = 24,
  kTypeHashListpackEx = 25,

  kOpSlotInfo = 244,
  kOpFunction2 = kOpcodeFunction,
  kOpFunctionPreGa = 246,
  kOpModuleAux = 247,
  kOpIdle = 248,
  kOpFreq = 249,
  kOpAux = 250,
  kOpResizeDb = 251,
  kOpExpireTimeMs = 252,
  kOpExpireTime = 253,
  kOpSelectDb = 254,
  kOpEof = 255,
};

// A string's or a value's size may not exceed Redis' own limit for one bulk string.
constexpr uint64_t kMaxStringLength = 512ull << 20;

struct Corrupt : std::runtime_error {
  using std::runtime_error::runtime_error;
};

uint64_t LittleEndian(std::string_view b) {
  uint64_t v = 0;
  for (size_t i = b.size(); i-- > 0;) v = (v << 8) | static_cast<uint8_t>(b[i]);
  return v;
}
uint64_t BigEndian(std::string_view b) {
  uint64_t v = 0;
  for (char c : b) v = (v << 8) | static_cast<uint8_t>(c);
  return v;
}
// Sign-extends the low `bits` bits of `v`.
int64_t Signed(uint64_t v, int bits) {
  if (bits == 64) return static_cast<int64_t>(v);
  uint64_t sign = uint64_t{1} << (bits - 1);
  return static_cast<int64_t>((v ^ sign) - sign);
}

// Bytes of one encoding, consumed front to back.
class Input {
 public:
  explicit Input(std::string_view data, size_t pos = 0) : data_(data), pos_(pos) {}
  size_t pos() const { return pos_; }
  size_t remaining() const { return data_.size() - pos_; }
  bool empty() const { return pos_ == data_.size(); }

  std::string_view Take(uint64_t n, const char* what) {
    if (n > remaining()) throw Corrupt(std::string("truncated ") + what);
    std::string_view out = data_.substr(pos_, n);
    pos_ += n;
    return out;
  }
  uint8_t Byte(const char* what) { return static_cast<uint8_t>(Take(1, what)[0]); }
  uint64_t Le(int n, const char* what) { return LittleEndian(Take(n, what)); }
  uint64_t Be(int n, const char* what) { return BigEndian(Take(n, what)); }

  // The format's variable-length number. `special` (if given) is set when the number is a
  // string encoding (integer or LZF) rather than a length.
  uint64_t Length(bool* special = nullptr) {
    uint8_t b = Byte("length");
    if (special) *special = false;
    switch (b >> 6) {
      case 0:
        return b & 0x3f;
      case 1:
        return (uint64_t{b & 0x3fu} << 8) | Byte("length");
      case 2:
        if (b == 0x80) return Be(4, "length");
        if (b == 0x81) return Be(8, "length");
        throw Corrupt("unknown length encoding");
      default:
        if (!special) throw Corrupt("string encoding where a length belongs");
        *special = true;
        return b & 0x3f;
    }
  }
  // A count of things that each take at least `min_bytes` bytes: a count the input cannot
  // hold is corrupt (and never sizes an allocation).
  uint64_t Count(const char* what, uint64_t min_bytes = 1) {
    uint64_t n = Length();
    if (n > remaining() / min_bytes) throw Corrupt(std::string("impossible ") + what + " count");
    return n;
  }

  std::string String() {
    bool special;
    uint64_t n = Length(&special);
    if (!special) return std::string(Take(n, "string"));
    switch (n) {
      case 0:
        return std::to_string(Signed(Le(1, "integer"), 8));
      case 1:
        return std::to_string(Signed(Le(2, "integer"), 16));
      case 2:
        return std::to_string(Signed(Le(4, "integer"), 32));
      case 3: {
        uint64_t clen = Length(), len = Length();
        std::string_view in = Take(clen, "compressed string");
        if (len == 0 || len > kMaxStringLength) throw Corrupt("bad compressed string length");
        std::string out(len, '\0');
        if (clen > std::numeric_limits<unsigned>::max() ||
            lzf_decompress(in.data(), static_cast<unsigned>(clen), out.data(),
                           static_cast<unsigned>(len)) != len) {
          throw Corrupt("invalid LZF data");
        }
        return out;
      }
      default:
        throw Corrupt("unknown string encoding");
    }
  }
  // RDB_TYPE_ZSET's scores: a length byte and the number as text (253..255: nan, +inf, -inf).
  double TextDouble() {
    uint8_t n = Byte("score");
    if (n == 253) return std::nan("");
    if (n == 254) return std::numeric_limits<double>::infinity();
    if (n == 255) return -std::numeric_limits<double>::infinity();
    std::string text(Take(n, "score"));
    char* end = nullptr;
    double d = std::strtod(text.c_str(), &end);
    if (end != text.c_str() + text.size()) throw Corrupt("bad score");
    return d;
  }
  double BinaryDouble() {
    uint64_t bits = Le(8, "score");
    double d;
    std::memcpy(&d, &bits, sizeof d);
    return d;
  }
  int64_t Milliseconds() { return static_cast<int64_t>(Le(8, "time")); }

 private:
  std::string_view data_;
  size_t pos_;
};

int64_t ParseInteger(std::string_view s, const char* what) {
  int64_t v;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size()) {
    throw Corrupt(std::string("bad ") + what);
  }
  return v;
}
double ParseScore(std::string_view s) {
  std::string text(s);
  char* end = nullptr;
  double d = std::strtod(text.c_str(), &end);
  if (text.empty() || end != text.c_str() + text.size() || std::isnan(d)) {
    throw Corrupt("bad score");
  }
  return d;
}

// ---- Compact encodings carried as one string: listpack, ziplist, intset ----

// How many bytes a listpack entry's trailing back-length takes for an entry of `n` bytes.
size_t BacklenSize(size_t n) {
  if (n <= 127) return 1;
  if (n < 16383) return 2;
  if (n < 2097151) return 3;
  if (n < 268435455) return 4;
  return 5;
}

std::vector<std::string> ListpackItems(std::string_view lp) {
  Input in(lp);
  if (in.Le(4, "listpack header") != lp.size()) throw Corrupt("listpack size mismatch");
  in.Le(2, "listpack header");  // the element count, 65535 when unknown: not trusted
  std::vector<std::string> items;
  for (;;) {
    size_t start = in.pos();
    uint8_t b = in.Byte("listpack entry");
    if (b == 0xff) break;
    if ((b & 0x80) == 0) {
      items.push_back(std::to_string(b & 0x7f));
    } else if ((b & 0xc0) == 0x80) {
      items.emplace_back(in.Take(b & 0x3f, "listpack string"));
    } else if ((b & 0xe0) == 0xc0) {
      items.push_back(std::to_string(Signed(((b & 0x1fu) << 8) | in.Byte("listpack int"), 13)));
    } else if ((b & 0xf0) == 0xe0) {
      items.emplace_back(
          in.Take(((b & 0x0fu) << 8) | in.Byte("listpack string"), "listpack string"));
    } else if (b == 0xf0) {
      items.emplace_back(in.Take(in.Le(4, "listpack string"), "listpack string"));
    } else if (b >= 0xf1 && b <= 0xf4) {
      static constexpr int kBytes[] = {2, 3, 4, 8};
      int n = kBytes[b - 0xf1];
      items.push_back(std::to_string(Signed(in.Le(n, "listpack int"), n * 8)));
    } else {
      throw Corrupt("unknown listpack encoding");
    }
    in.Take(BacklenSize(in.pos() - start), "listpack back-length");
  }
  if (!in.empty()) throw Corrupt("bytes after the listpack's end");
  return items;
}

std::vector<std::string> ZiplistItems(std::string_view zl) {
  Input in(zl);
  if (in.Le(4, "ziplist header") != zl.size()) throw Corrupt("ziplist size mismatch");
  in.Le(4, "ziplist header");  // offset of the tail
  in.Le(2, "ziplist header");  // entry count, not trusted
  std::vector<std::string> items;
  for (;;) {
    uint8_t prev = in.Byte("ziplist entry");
    if (prev == 0xff) break;
    if (prev == 0xfe) in.Take(4, "ziplist entry");
    uint8_t enc = in.Byte("ziplist entry");
    switch (enc >> 6) {
      case 0:
        items.emplace_back(in.Take(enc & 0x3f, "ziplist string"));
        break;
      case 1:
        items.emplace_back(in.Take(((enc & 0x3fu) << 8) | in.Byte("ziplist"), "ziplist string"));
        break;
      case 2:
        if (enc != 0x80) throw Corrupt("unknown ziplist encoding");
        items.emplace_back(in.Take(in.Be(4, "ziplist string"), "ziplist string"));
        break;
      default:
        if (enc == 0xc0) {
          items.push_back(std::to_string(Signed(in.Le(2, "ziplist int"), 16)));
        } else if (enc == 0xd0) {
          items.push_back(std::to_string(Signed(in.Le(4, "ziplist int"), 32)));
        } else if (enc == 0xe0) {
          items.push_back(std::to_string(Signed(in.Le(8, "ziplist int"), 64)));
        } else if (enc == 0xf0) {
          items.push_back(std::to_string(Signed(in.Le(3, "ziplist int"), 24)));
        } else if (enc == 0xfe) {
          items.push_back(std::to_string(Signed(in.Le(1, "ziplist int"), 8)));
        } else if (enc >= 0xf1 && enc <= 0xfd) {
          items.push_back(std::to_string((enc & 0x0f) - 1));
        } else {
          throw Corrupt("unknown ziplist encoding");
        }
    }
  }
  if (!in.empty()) throw Corrupt("bytes after the ziplist's end");
  return items;
}

std::vector<std::string> IntsetItems(std::string_view is) {
  Input in(is);
  uint64_t width = in.Le(4, "intset header"), n = in.Le(4, "intset header");
  if (width != 2 && width != 4 && width != 8) throw Corrupt("bad intset encoding");
  if (in.remaining() != width * n) throw Corrupt("intset size mismatch");
  std::vector<std::string> items;
  items.reserve(n);
  for (uint64_t i = 0; i < n; i++) {
    items.push_back(std::to_string(Signed(in.Le(static_cast<int>(width), "intset"), width * 8)));
  }
  return items;
}

// ---- Values ----

void HashFromTuples(const std::vector<std::string>& items, size_t tuple, Object* o) {
  if (items.size() % tuple != 0) throw Corrupt("incomplete hash entry");
  o->type = Type::kHash;
  for (size_t i = 0; i < items.size(); i += tuple) {
    o->fields.emplace_back(items[i], items[i + 1]);
    if (tuple == 3) o->field_expires.push_back(ParseInteger(items[i + 2], "field expiry"));
  }
  if (tuple == 3 && std::all_of(o->field_expires.begin(), o->field_expires.end(),
                                [](int64_t at) { return at == 0; })) {
    o->field_expires.clear();
  }
}

void ZSetFromPairs(const std::vector<std::string>& items, Object* o) {
  if (items.size() % 2 != 0) throw Corrupt("incomplete sorted set entry");
  o->type = Type::kZSet;
  for (size_t i = 0; i < items.size(); i += 2) {
    o->members.emplace_back(items[i], ParseScore(items[i + 1]));
  }
}

StreamId RawStreamId(Input& in) {
  std::string_view raw = in.Take(16, "stream ID");
  return {BigEndian(raw.substr(0, 8)), BigEndian(raw.substr(8))};
}
StreamId LengthStreamId(Input& in) {
  uint64_t ms = in.Length();
  return {ms, in.Length()};
}

// The entries of one stream node: a listpack of a "master entry" (counts and the field names
// most entries share) followed by entries whose IDs are deltas from the node's ID.
void ReadStreamNode(StreamId node, const std::vector<std::string>& items, Stream* s) {
  size_t i = 0;
  auto next = [&](const char* what) -> const std::string& {
    if (i >= items.size()) throw Corrupt(std::string("truncated stream node: ") + what);
    return items[i++];
  };
  auto integer = [&](const char* what) { return ParseInteger(next(what), what); };
  int64_t count = integer("entry count"), deleted = integer("deleted count");
  int64_t nfields = integer("field count");
  if (count < 0 || deleted < 0 || nfields < 0 || static_cast<uint64_t>(nfields) > items.size()) {
    throw Corrupt("bad stream node header");
  }
  std::vector<std::string> master_fields;
  for (int64_t f = 0; f < nfields; f++) master_fields.push_back(next("field name"));
  if (integer("master terminator") != 0) throw Corrupt("bad stream master entry");
  constexpr int64_t kDeleted = 1, kSameFields = 2;
  for (int64_t e = 0; e < count + deleted; e++) {
    int64_t flags = integer("entry flags");
    StreamEntry entry;
    entry.id.ms = node.ms + static_cast<uint64_t>(integer("entry ID"));
    entry.id.seq = node.seq + static_cast<uint64_t>(integer("entry ID"));
    if (flags & kSameFields) {
      for (const auto& f : master_fields) {
        entry.fields.push_back(f);
        entry.fields.push_back(next("value"));
      }
    } else {
      int64_t n = integer("field count");
      if (n < 0 || static_cast<uint64_t>(n) > items.size()) throw Corrupt("bad field count");
      for (int64_t f = 0; f < 2 * n; f++) entry.fields.push_back(next("field"));
    }
    integer("entry length");
    if (!(flags & kDeleted)) s->entries.push_back(std::move(entry));
  }
  if (i != items.size()) throw Corrupt("bytes after a stream node's entries");
}

void ReadStream(Input& in, uint8_t type, Object* o) {
  o->type = Type::kStream;
  Stream& s = o->stream;
  for (uint64_t n = in.Count("stream node", 2); n > 0; n--) {
    std::string key = in.String();
    if (key.size() != 16) throw Corrupt("bad stream node ID");
    Input raw(key);
    StreamId node = RawStreamId(raw);
    std::string lp = in.String();
    ReadStreamNode(node, ListpackItems(lp), &s);
  }
  uint64_t length = in.Length();
  s.last_id = LengthStreamId(in);
  if (type >= kTypeStreamListpacks2) {
    LengthStreamId(in);  // the first entry's ID: the entries say it
    s.max_deleted = LengthStreamId(in);
    s.entries_added = in.Length();
  } else {
    s.entries_added = length;
  }
  if (length != s.entries.size()) throw Corrupt("stream length does not match its entries");
  if (!std::is_sorted(s.entries.begin(), s.entries.end(),
                      [](const auto& a, const auto& b) { return a.id < b.id; }) ||
      (!s.entries.empty() && s.last_id < s.entries.back().id)) {
    throw Corrupt("stream entries out of order");
  }
  std::set<std::string> group_names;
  for (uint64_t g = in.Count("consumer group", 3); g > 0; g--) {
    StreamGroup group;
    group.name = in.String();
    if (!group_names.insert(group.name).second) throw Corrupt("a consumer group twice");
    group.last_delivered = LengthStreamId(in);
    if (type >= kTypeStreamListpacks2) group.entries_read = static_cast<int64_t>(in.Length());
    std::map<StreamId, size_t> owners;  // pending ID -> its place in group.pending
    for (uint64_t p = in.Count("pending entry", 17); p > 0; p--) {
      StreamPending entry;
      entry.id = RawStreamId(in);
      entry.delivery_ms = in.Milliseconds();
      entry.deliveries = in.Length();
      if (!owners.emplace(entry.id, group.pending.size()).second) {
        throw Corrupt("a pending entry twice");
      }
      group.pending.push_back(std::move(entry));
    }
    std::vector<bool> owned(group.pending.size());
    std::set<std::string> consumer_names;
    for (uint64_t c = in.Count("consumer", 9); c > 0; c--) {
      StreamConsumer consumer{in.String(), in.Milliseconds()};
      if (!consumer_names.insert(consumer.name).second) throw Corrupt("a consumer twice");
      if (type >= kTypeStreamListpacks3) in.Milliseconds();  // active time (Redis 7.2)
      for (uint64_t p = in.Count("consumer pending entry", 16); p > 0; p--) {
        auto owner = owners.find(RawStreamId(in));
        if (owner == owners.end() || owned[owner->second]) {
          throw Corrupt("a consumer's pending entry is not the group's, or another's");
        }
        owned[owner->second] = true;
        group.pending[owner->second].consumer = consumer.name;
      }
      group.consumers.push_back(std::move(consumer));
    }
    if (std::find(owned.begin(), owned.end(), false) != owned.end()) {
      throw Corrupt("a pending entry without a consumer");
    }
    std::sort(group.pending.begin(), group.pending.end(),
              [](const auto& a, const auto& b) { return a.id < b.id; });
    s.groups.push_back(std::move(group));
  }
}

// The opcodes of a module's serialised value, passed over without the module.
void SkipModuleValue(Input& in) {
  for (;;) {
    switch (in.Length()) {
      case 0:
        return;
      case 1:
      case 2:
        in.Length();
        break;
      case 3:
        in.Take(4, "module float");
        break;
      case 4:
        in.Take(8, "module double");
        break;
      case 5:
        in.String();
        break;
      default:
        throw Corrupt("unknown module value opcode");
    }
  }
}

// Reads a value of RDB type `type`; false when it was a module value (skipped).
bool ReadObject(Input& in, uint8_t type, Object* o) {
  switch (type) {
    case kTypeString:
      o->type = Type::kString;
      o->string = in.String();
      return true;
    case kTypeList:
    case kTypeSet:
      o->type = type == kTypeList ? Type::kList : Type::kSet;
      for (uint64_t n = in.Count("element"); n > 0; n--) o->elements.push_back(in.String());
      return true;
    case kTypeZSet:
    case kTypeZSet2:
      o->type = Type::kZSet;
      for (uint64_t n = in.Count("member", 2); n > 0; n--) {
        std::string member = in.String();
        double score = type == kTypeZSet ? in.TextDouble() : in.BinaryDouble();
        if (std::isnan(score)) throw Corrupt("NaN score");
        o->members.emplace_back(std::move(member), score);
      }
      return true;
    case kTypeHash:
      o->type = Type::kHash;
      for (uint64_t n = in.Count("field", 2); n > 0; n--) {
        std::string field = in.String();
        o->fields.emplace_back(std::move(field), in.String());
      }
      return true;
    case kTypeModule2:
      in.Length();  // the module's id (name and encoding version)
      SkipModuleValue(in);
      return false;
    case kTypeListZiplist:
      o->type = Type::kList;
      o->elements = ZiplistItems(in.String());
      return true;
    case kTypeSetIntset:
      o->type = Type::kSet;
      o->elements = IntsetItems(in.String());
      return true;
    case kTypeSetListpack:
      o->type = Type::kSet;
      o->elements = ListpackItems(in.String());
      return true;
    case kTypeZSetZiplist:
      ZSetFromPairs(ZiplistItems(in.String()), o);
      return true;
    case kTypeZSetListpack:
      ZSetFromPairs(ListpackItems(in.String()), o);
      return true;
    case kTypeHashZiplist:
      HashFromTuples(ZiplistItems(in.String()), 2, o);
      return true;
    case kTypeHashListpack:
      HashFromTuples(ListpackItems(in.String()), 2, o);
      return true;
    case kTypeHashListpackEx:
      in.Milliseconds();  // the earliest field expiry: the fields say it
      [[fallthrough]];
    case kTypeHashListpackExPreGa:
      HashFromTuples(ListpackItems(in.String()), 3, o);
      return true;
    case kTypeHashMetadata:
    case kTypeHashMetadataPreGa: {
      // Expiries are relative to the earliest one (+1, so that 0 means none), or absolute in
      // the 7.4 release candidates.
      int64_t base = type == kTypeHashMetadata ? in.Milliseconds() - 1 : 0;
      o->type = Type::kHash;
      bool any = false;
      for (uint64_t n = in.Count("field", 3); n > 0; n--) {
        uint64_t ttl = in.Length();
        std::string field = in.String();
        o->fields.emplace_back(std::move(field), in.String());
        o->field_expires.push_back(ttl == 0 ? 0 : static_cast<int64_t>(ttl) + base);
        any |= ttl != 0;
      }
      if (!any) o->field_expires.clear();
      return true;
    }
    case kTypeListQuicklist:
    case kTypeListQuicklist2: {
      o->type = Type::kList;
      for (uint64_t n = in.Count("list node", 2); n > 0; n--) {
        uint64_t container = type == kTypeListQuicklist2 ? in.Length() : 2;
        std::string node = in.String();
        std::vector<std::string> items;
        if (container == 1) {  // a plain node: one big element
          o->elements.push_back(std::move(node));
          continue;
        }
        if (container != 2) throw Corrupt("unknown quicklist container");
        items = type == kTypeListQuicklist ? ZiplistItems(node) : ListpackItems(node);
        for (auto& item : items) o->elements.push_back(std::move(item));
      }
      return true;
    }
    case kTypeStreamListpacks:
    case kTypeStreamListpacks2:
    case kTypeStreamListpacks3:
      ReadStream(in, type, o);
      return true;
    case kTypeHashZipmap:
      throw Corrupt("zipmap-encoded hashes (written by Redis before 2.6) are not supported");
    case kTypeModule:
      throw Corrupt("module values of Redis 4.0 release candidates cannot be skipped");
    default:
      throw Corrupt("unknown value type " + std::to_string(type));
  }
}

bool IsEmpty(const Object& o) {
  switch (o.type) {
    case Type::kString:
    case Type::kStream:
      return false;
    case Type::kList:
    case Type::kSet:
      return o.elements.empty();
    case Type::kZSet:
      return o.members.empty();
    case Type::kHash:
      return o.fields.empty();
  }
  return false;
}

}  // namespace

bool FileReader::Next(Record* out) {
  if (done_ || !error_.empty()) return false;
  Input in(data_, pos_);
  try {
    if (pos_ == 0) {
      std::string_view magic = in.Take(9, "header");
      if (magic.substr(0, 5) != "REDIS") throw Corrupt("not an RDB file");
      version_ = static_cast<int>(ParseInteger(magic.substr(5), "RDB version"));
      if (version_ < 1 || version_ > kMaxVersion) {
        throw Corrupt("RDB version " + std::to_string(version_) + " is not supported (1 to " +
                      std::to_string(kMaxVersion) + ")");
      }
    }
    int64_t expire_at = 0;
    for (;;) {
      pos_ = in.pos();
      uint8_t op = in.Byte("opcode");
      switch (op) {
        case kOpEof: {
          size_t body = in.pos();
          if (version_ >= 5) {
            uint64_t stored = in.Le(8, "checksum");
            if (stored != 0 && stored != Crc64(0, data_.substr(0, body))) {
              throw Corrupt("checksum mismatch");
            }
          }
          pos_ = in.pos();
          done_ = true;
          *out = Record{};
          return true;
        }
        case kOpSelectDb:
          db_ = static_cast<int>(std::min<uint64_t>(in.Length(), std::numeric_limits<int>::max()));
          continue;
        case kOpResizeDb:
          in.Length();
          in.Length();
          continue;
        case kOpSlotInfo:
          in.Length();
          in.Length();
          in.Length();
          continue;
        case kOpExpireTimeMs:
          expire_at = in.Milliseconds();
          continue;
        case kOpExpireTime:
          expire_at = static_cast<int64_t>(in.Le(4, "expire time")) * 1000;
          continue;
        case kOpIdle:
          in.Length();
          continue;
        case kOpFreq:
          in.Byte("frequency");
          continue;
        case kOpAux:
          *out = Record{};
          out->kind = Record::Kind::kAux;
          out->key = in.String();
          out->aux = in.String();
          pos_ = in.pos();
          return true;
        case kOpModuleAux:
          in.Length();  // module id
          in.Length();  // when opcode
          in.Length();  // when
          SkipModuleValue(in);
          warnings_.push_back("module auxiliary data skipped");
          continue;
        case kOpFunction2:
          in.String();
          warnings_.push_back("a function library skipped (load it with FUNCTION LOAD)");
          continue;
        case kOpFunctionPreGa:
          throw Corrupt("function records of Redis 7.0 release candidates are not supported");
        default: {
          *out = Record{};
          out->db = db_;
          out->key = in.String();
          out->expire_at_ms = expire_at;
          expire_at = 0;
          if (!ReadObject(in, op, &out->value)) {
            warnings_.push_back("module value of key '" + out->key + "' skipped");
            continue;
          }
          if (IsEmpty(out->value)) {
            warnings_.push_back("empty key '" + out->key + "' skipped");
            continue;
          }
          out->kind = Record::Kind::kKey;
          pos_ = in.pos();
          return true;
        }
      }
    }
  } catch (const Corrupt& e) {
    error_ = std::string(e.what()) + " at byte " + std::to_string(in.pos());
    return false;
  }
}

namespace {

// The payload before its footer (2-byte RDB version, 8-byte CRC-64), when the footer is right.
std::optional<std::string_view> CheckedBody(std::string_view payload, int max_version,
                                            std::string* error) {
  if (payload.size() < 10) {
    *error = "DUMP payload version or checksum are wrong";
    return std::nullopt;
  }
  size_t body = payload.size() - 10;
  uint64_t version = LittleEndian(payload.substr(body, 2));
  uint64_t crc = LittleEndian(payload.substr(body + 2));
  if (version > static_cast<uint64_t>(max_version) ||
      crc != Crc64(0, payload.substr(0, body + 2))) {
    *error = "DUMP payload version or checksum are wrong";
    return std::nullopt;
  }
  return payload.substr(0, body);
}

}  // namespace

bool DecodeFunctions(std::string_view payload, std::vector<std::string>* codes,
                     std::string* error) {
  // Redis 7.0 (RDB 10) checks against its own version: a newer payload is refused as it is.
  auto body = CheckedBody(payload, 10, error);
  if (!body) return false;
  try {
    Input in(*body);
    while (!in.empty()) {
      uint8_t type = in.Byte("type");
      if (type == kOpFunctionPreGa) {
        *error = "Pre-GA function format not supported";
        return false;
      }
      if (type != kOpFunction2) {
        *error = "given type is not a function";
        return false;
      }
      codes->push_back(in.String());
    }
    return true;
  } catch (const Corrupt&) {
    *error = "Failed loading library payload";
    return false;
  }
}

bool DecodeDump(std::string_view payload, Object* out, std::string* error) {
  // type byte + value + footer
  if (payload.size() < 11) {
    *error = "DUMP payload version or checksum are wrong";
    return false;
  }
  auto body = CheckedBody(payload, kMaxVersion, error);
  if (!body) return false;
  try {
    Input in(*body);
    *out = Object{};
    uint8_t type = in.Byte("type");
    if (!ReadObject(in, type, out) || !in.empty() || IsEmpty(*out)) throw Corrupt("bad payload");
    return true;
  } catch (const Corrupt&) {
    *error = "Bad data format";
    return false;
  }
}

}  // namespace desaster::rdb
