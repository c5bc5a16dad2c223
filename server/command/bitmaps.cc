// Bitmap commands: strings addressed bit by bit (SETBIT, GETBIT, BITCOUNT, BITPOS, BITOP) and
// as packed integers of 1 to 64 bits (BITFIELD), with Redis' bit order: bit 0 is the most
// significant bit of the first byte. Writes touch only the bytes they change (WriteRange), so a
// SETBIT costs the same on a 512 MB bitmap as on a small one.
#include <algorithm>
#include <bit>
#include <climits>
#include <cstring>

#include "server/command/context.h"
#include "server/command/registry.h"

namespace desaster {
namespace {

// As Redis' proto-max-bulk-len: a bitmap is a string of at most 512 MB.
constexpr uint64_t kMaxBytes = 512ULL * 1024 * 1024;

// A bit offset argument; with `unit` (BITFIELD), "#n" means n * unit. Replies the error.
std::optional<uint64_t> BitOffset(CommandContext& ctx, size_t i, int unit = 0) {
  std::string_view arg = ctx.args[i];
  bool scaled = unit > 0 && !arg.empty() && arg[0] == '#';
  long long offset;
  if (!ParseInt64(arg.substr(scaled ? 1 : 0), &offset) ||
      (scaled && (offset > LLONG_MAX / unit || offset < LLONG_MIN / unit))) {
    ctx.Error("ERR bit offset is not an integer or out of range");
    return std::nullopt;
  }
  if (scaled) offset *= unit;
  if (offset < 0 || static_cast<uint64_t>(offset) >> 3 >= kMaxBytes) {
    ctx.Error("ERR bit offset is not an integer or out of range");
    return std::nullopt;
  }
  return static_cast<uint64_t>(offset);
}

void SetBit(CommandContext& ctx) {
  auto offset = BitOffset(ctx, 2);
  if (!offset) return;
  auto on = ctx.Int(3, "ERR bit is not an integer or out of range");
  if (!on) return;
  if (*on != 0 && *on != 1) return ctx.Error("ERR bit is not an integer or out of range");
  bool wrong;
  const std::string* s = ctx.StringAt(ctx.args[1], &wrong);
  if (wrong) return;
  size_t byte = *offset >> 3;
  int shift = 7 - static_cast<int>(*offset & 7);
  bool grows = !s || byte >= s->size();
  auto old = static_cast<unsigned char>(grows ? 0 : (*s)[byte]);
  bool was = (old >> shift) & 1;
  if (grows || was != (*on == 1)) {
    char now = static_cast<char>((old & ~(1 << shift)) | (*on << shift));
    ctx.db().WriteRange(ctx.args[1], byte, std::string_view(&now, 1));
    ctx.Notify(event::kString, "setbit", ctx.args[1]);
  }
  ctx.reply.Integer(was ? 1 : 0);
}

void GetBit(CommandContext& ctx) {
  auto offset = BitOffset(ctx, 2);
  if (!offset) return;
  bool wrong;
  const std::string* s = ctx.StringAt(ctx.args[1], &wrong);
  if (wrong) return;
  size_t byte = *offset >> 3;
  bool bit = s && byte < s->size() &&
             ((static_cast<unsigned char>((*s)[byte]) >> (7 - (*offset & 7))) & 1);
  ctx.reply.Integer(bit ? 1 : 0);
}

// A BITCOUNT/BITPOS range over a string of `len` bytes: start and end (bytes, or bits with
// BIT), negative counting from the end, clamped as Redis clamps them. Empty when start > end.
struct BitRange {
  long long start = 0, end = -1;  // bytes
  // With BIT: the bits of the first and last byte that lie outside the range.
  unsigned char first_outside = 0, last_outside = 0;
  bool empty() const { return start > end; }
};

BitRange Clamp(long long start, long long end, long long len, bool bits) {
  long long total = bits ? len * 8 : len;
  if (start < 0) start += total;
  if (end < 0) end += total;
  start = std::max(start, 0LL);
  end = std::max(end, 0LL);
  end = std::min(end, total - 1);
  BitRange r{start, end};
  if (bits && start <= end) {
    r.first_outside = static_cast<unsigned char>(~((1 << (8 - (start & 7))) - 1));
    r.last_outside = static_cast<unsigned char>((1 << (7 - (end & 7))) - 1);
    r.start = start >> 3;
    r.end = end >> 3;
  }
  return r;
}

// Parses the optional BYTE|BIT argument at `i` (true: BIT). Replies the error.
std::optional<bool> Unit(CommandContext& ctx, size_t i) {
  if (i >= ctx.args.size() || ctx.Is(i, "BYTE")) return false;
  if (ctx.Is(i, "BIT")) return true;
  ctx.Error(err::kSyntax);
  return std::nullopt;
}

// Set bits in `bytes`, eight bytes at a time (a BITCOUNT may cover 512 MB).
long long Popcount(std::string_view bytes) {
  long long count = 0;
  size_t i = 0;
  for (; i + 8 <= bytes.size(); i += 8) {
    uint64_t word;
    std::memcpy(&word, bytes.data() + i, 8);
    count += std::popcount(word);
  }
  for (; i < bytes.size(); i++) count += std::popcount(static_cast<unsigned char>(bytes[i]));
  return count;
}

void BitCount(CommandContext& ctx) {
  bool wrong;
  const std::string* s = ctx.StringAt(ctx.args[1], &wrong);
  if (wrong) return;
  if (!s) return ctx.reply.Integer(0);
  size_t argc = ctx.args.size();
  BitRange r{0, static_cast<long long>(s->size()) - 1};
  if (argc == 4 || argc == 5) {
    auto start = ctx.Int(2);
    if (!start) return;
    auto end = ctx.Int(3);
    if (!end) return;
    if (*start < 0 && *end < 0 && *start > *end) return ctx.reply.Integer(0);
    auto bits = Unit(ctx, 4);
    if (!bits) return;
    r = Clamp(*start, *end, static_cast<long long>(s->size()), *bits);
  } else if (argc != 2) {
    return ctx.Error(err::kSyntax);
  }
  if (r.empty()) return ctx.reply.Integer(0);
  long long count = Popcount(std::string_view(*s).substr(static_cast<size_t>(r.start),
                                                         static_cast<size_t>(r.end - r.start + 1)));
  auto at = [&](long long i) { return static_cast<unsigned char>((*s)[static_cast<size_t>(i)]); };
  count -= std::popcount(static_cast<unsigned char>(at(r.start) & r.first_outside));
  count -= std::popcount(static_cast<unsigned char>(at(r.end) & r.last_outside));
  ctx.reply.Integer(count);
}

void BitPos(CommandContext& ctx) {
  auto bit = ctx.Int(2);
  if (!bit) return;
  if (*bit != 0 && *bit != 1) return ctx.Error("ERR The bit argument must be 1 or 0.");
  bool wrong;
  const std::string* s = ctx.StringAt(ctx.args[1], &wrong);
  if (wrong) return;
  if (!s) return ctx.reply.Integer(*bit ? -1 : 0);
  size_t argc = ctx.args.size();
  auto len = static_cast<long long>(s->size());
  BitRange r{0, len - 1};
  bool end_given = argc >= 5;
  if (argc >= 4 && argc <= 6) {
    auto start = ctx.Int(3);
    if (!start) return;
    auto bits = Unit(ctx, 5);
    if (!bits) return;
    long long end = *bits ? len * 8 + 7 : len - 1;
    if (end_given) {
      auto e = ctx.Int(4);
      if (!e) return;
      end = *e;
    }
    r = Clamp(*start, end, len, *bits);
  } else if (argc != 3) {
    return ctx.Error(err::kSyntax);
  }
  if (r.empty()) return ctx.reply.Integer(-1);
  // The bytes of the range, the bits outside it set to what is not sought; whole words of
  // what is not sought are passed over eight bytes at a time.
  const uint64_t skip = *bit ? 0 : ~uint64_t{0};
  for (long long i = r.start; i <= r.end; i++) {
    uint64_t word;
    while (i > r.start && i + 8 <= r.end && (std::memcpy(&word, s->data() + i, 8), word == skip)) {
      i += 8;
    }
    auto byte = static_cast<unsigned char>((*s)[static_cast<size_t>(i)]);
    unsigned char outside =
        (i == r.start ? r.first_outside : 0) | (i == r.end ? r.last_outside : 0);
    byte = *bit ? byte & ~outside : byte | outside;
    if (byte != (*bit ? 0 : 0xff)) {
      int in_byte = std::countl_zero(static_cast<unsigned char>(*bit ? byte : ~byte));
      return ctx.reply.Integer(i * 8 + in_byte);
    }
  }
  // No such bit in the range. A 0 is found past a string's end, unless an end was given.
  if (*bit || end_given) return ctx.reply.Integer(-1);
  ctx.reply.Integer((r.end + 1) * 8);
}

void BitOp(CommandContext& ctx) {
  enum { kAnd, kOr, kXor, kNot } op;
  if (ctx.Is(1, "AND")) {
    op = kAnd;
  } else if (ctx.Is(1, "OR")) {
    op = kOr;
  } else if (ctx.Is(1, "XOR")) {
    op = kXor;
  } else if (ctx.Is(1, "NOT")) {
    op = kNot;
  } else {
    return ctx.Error(err::kSyntax);
  }
  if (op == kNot && ctx.args.size() != 4) {
    return ctx.Error("ERR BITOP NOT must be called with a single source key.");
  }
  std::vector<const std::string*> sources;
  size_t longest = 0;
  for (size_t i = 3; i < ctx.args.size(); i++) {
    bool wrong;
    const std::string* s = ctx.StringAt(ctx.args[i], &wrong);
    if (wrong) return;
    sources.push_back(s);
    longest = std::max(longest, s ? s->size() : 0);
  }
  const std::string& dest = ctx.args[2];
  if (longest == 0) {
    ctx.StoreResult(event::kString, "set", dest, true, [] {});
    return ctx.reply.Integer(0);
  }
  auto byte = [](const std::string* s, size_t i) -> unsigned char {
    return s && i < s->size() ? static_cast<unsigned char>((*s)[i]) : 0;
  };
  std::string out(longest, '\0');
  for (size_t i = 0; i < longest; i++) {
    unsigned char v = byte(sources[0], i);
    if (op == kNot) v = static_cast<unsigned char>(~v);
    for (size_t k = 1; k < sources.size(); k++) {
      unsigned char b = byte(sources[k], i);
      v = op == kAnd ? v & b : op == kOr ? v | b : v ^ b;
    }
    out[i] = static_cast<char>(v);
  }
  ctx.db().SetString(dest, std::move(out), false);
  ctx.Notify(event::kString, "set", dest);
  ctx.reply.Integer(static_cast<long long>(longest));
}

// ---- BITFIELD ----

enum class Overflow { kWrap, kSat, kFail };

struct FieldOp {
  enum { kGet, kSet, kIncrBy } kind;
  uint64_t offset;
  int bits;
  bool is_signed;
  long long value;  // SET's value, INCRBY's increment
  Overflow overflow;
};

// The bitmap a BITFIELD reads and writes: the stored string, with the bytes it changed.
class FieldBytes {
 public:
  FieldBytes(const std::string* stored, uint64_t first, uint64_t last) : stored_(stored) {
    first_ = first;
    window_.resize(last >= first ? last - first + 1 : 0);
    for (size_t i = 0; i < window_.size(); i++) window_[i] = Stored(first_ + i);
  }
  uint64_t Get(uint64_t offset, int bits) const {
    uint64_t v = 0;
    for (int j = 0; j < bits; j++, offset++)
      v = (v << 1) | ((Byte(offset >> 3) >> (7 - (offset & 7))) & 1);
    return v;
  }
  void Set(uint64_t offset, int bits, uint64_t v) {
    for (int j = 0; j < bits; j++, offset++) {
      char& b = window_[(offset >> 3) - first_];
      int shift = 7 - static_cast<int>(offset & 7);
      int bit = static_cast<int>((v >> (bits - 1 - j)) & 1);
      b = static_cast<char>((static_cast<unsigned char>(b) & ~(1 << shift)) | (bit << shift));
    }
  }
  uint64_t first() const { return first_; }
  const std::string& window() const { return window_; }

 private:
  char Stored(uint64_t i) const { return stored_ && i < stored_->size() ? (*stored_)[i] : '\0'; }
  unsigned char Byte(uint64_t i) const {
    bool in = i >= first_ && i - first_ < window_.size();
    return static_cast<unsigned char>(in ? window_[i - first_] : Stored(i));
  }
  const std::string* stored_;
  uint64_t first_ = 0;
  std::string window_;
};

int64_t SignExtend(uint64_t v, int bits) {
  if (bits < 64 && (v >> (bits - 1)) & 1) v |= ~uint64_t{0} << bits;
  return static_cast<int64_t>(v);
}

// `value` + `incr` in a field of `bits` bits, as the overflow policy says; nullopt when it does
// not fit and the policy is FAIL. Unsigned fields hold 1 to 63 bits, signed ones 1 to 64.
std::optional<uint64_t> Fit(bool is_signed, int bits, uint64_t value, long long incr,
                            Overflow policy) {
  uint64_t sum = value + static_cast<uint64_t>(incr);  // modulo 2^64: the wrapped result
  uint64_t mask = bits == 64 ? ~uint64_t{0} : (uint64_t{1} << bits) - 1;
  bool over, under;
  if (is_signed) {
    __int128 max = bits == 64 ? INT64_MAX : (int64_t{1} << (bits - 1)) - 1, min = -max - 1;
    __int128 exact = static_cast<__int128>(static_cast<int64_t>(value)) + incr;
    over = exact > max;
    under = exact < min;
    if (!over && !under) return sum;
    if (policy == Overflow::kFail) return std::nullopt;
    if (policy == Overflow::kSat)
      return static_cast<uint64_t>(static_cast<int64_t>(over ? max : min));
    return static_cast<uint64_t>(SignExtend(sum & mask, bits));
  }
  __int128 exact = static_cast<__int128>(value) + incr;
  over = exact > static_cast<__int128>(mask);
  under = exact < 0;
  if (!over && !under) return sum;
  if (policy == Overflow::kFail) return std::nullopt;
  if (policy == Overflow::kSat) return over ? mask : 0;
  return sum & mask;
}

void BitFieldGeneric(CommandContext& ctx, bool read_only) {
  std::vector<FieldOp> ops;
  Overflow overflow = Overflow::kWrap;
  bool writes = false;
  uint64_t lowest_write = UINT64_MAX, highest_write = 0;
  for (size_t j = 2; j < ctx.args.size(); j++) {
    size_t rest = ctx.args.size() - j - 1;
    FieldOp op{};
    if (ctx.Is(j, "GET") && rest >= 2) {
      op.kind = FieldOp::kGet;
    } else if (ctx.Is(j, "SET") && rest >= 3) {
      op.kind = FieldOp::kSet;
    } else if (ctx.Is(j, "INCRBY") && rest >= 3) {
      op.kind = FieldOp::kIncrBy;
    } else if (ctx.Is(j, "OVERFLOW") && rest >= 1) {
      j++;
      if (ctx.Is(j, "WRAP")) {
        overflow = Overflow::kWrap;
      } else if (ctx.Is(j, "SAT")) {
        overflow = Overflow::kSat;
      } else if (ctx.Is(j, "FAIL")) {
        overflow = Overflow::kFail;
      } else {
        return ctx.Error("ERR Invalid OVERFLOW type specified");
      }
      continue;
    } else {
      return ctx.Error(err::kSyntax);
    }
    std::string_view type = ctx.args[j + 1];
    long long bits = 0;
    op.is_signed = !type.empty() && type[0] == 'i';
    if (type.empty() || (type[0] != 'i' && type[0] != 'u') || !ParseInt64(type.substr(1), &bits) ||
        bits < 1 || bits > (op.is_signed ? 64 : 63)) {
      return ctx.Error(
          "ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported "
          "but i64 is.");
    }
    op.bits = static_cast<int>(bits);
    auto offset = BitOffset(ctx, j + 2, op.bits);
    if (!offset) return;
    op.offset = *offset;
    if (op.kind != FieldOp::kGet) {
      writes = true;
      lowest_write = std::min(lowest_write, op.offset >> 3);
      highest_write = std::max(highest_write, op.offset + op.bits - 1);
      auto v = ctx.Int(j + 3);
      if (!v) return;
      op.value = *v;
    }
    op.overflow = overflow;
    ops.push_back(op);
    j += op.kind == FieldOp::kGet ? 2 : 3;
  }
  if (writes && read_only) return ctx.Error("ERR BITFIELD_RO only supports the GET subcommand");
  bool wrong;
  const std::string* s = ctx.StringAt(ctx.args[1], &wrong);
  if (wrong) return;
  FieldBytes bytes(s, writes ? lowest_write : 1, writes ? highest_write >> 3 : 0);
  ctx.reply.Array(ops.size());
  // The string grows to the highest field written (Redis' "dirty": every write counts then).
  const uint64_t size = s ? s->size() : 0;
  const bool grows = writes && (!s || (highest_write >> 3) >= size);
  size_t changes = 0;  // writes that grew the string or changed a field
  for (const FieldOp& op : ops) {
    uint64_t old = bytes.Get(op.offset, op.bits);
    auto as_reply = [&](uint64_t v) {
      ctx.reply.Integer(op.is_signed ? SignExtend(v, op.bits) : static_cast<long long>(v));
    };
    if (op.kind == FieldOp::kGet) {
      as_reply(old);
      continue;
    }
    uint64_t start = op.is_signed ? static_cast<uint64_t>(SignExtend(old, op.bits)) : old;
    std::optional<uint64_t> now =
        op.kind == FieldOp::kIncrBy
            ? Fit(op.is_signed, op.bits, start, op.value, op.overflow)
            : Fit(op.is_signed, op.bits, static_cast<uint64_t>(op.value), 0, op.overflow);
    if (!now) {
      ctx.reply.NullBulk();
      continue;
    }
    as_reply(op.kind == FieldOp::kIncrBy ? *now : old);
    bytes.Set(op.offset, op.bits, *now);
    uint64_t mask = op.bits == 64 ? ~uint64_t{0} : (uint64_t{1} << op.bits) - 1;
    if (grows || ((old ^ *now) & mask) != 0) changes++;
  }
  if (!writes) return;
  // Written even when no value changed: a write pads the string to its highest field, as in
  // Redis. A window that changes nothing and adds nothing is left alone.
  bool changed = grows || std::memcmp(bytes.window().data(), s->data() + bytes.first(),
                                      bytes.window().size()) != 0;
  if (changed) ctx.db().WriteRange(ctx.args[1], bytes.first(), bytes.window());
  if (changes) ctx.Notify(event::kString, "setbit", ctx.args[1]);
}

void BitField(CommandContext& ctx) { BitFieldGeneric(ctx, false); }
void BitFieldRo(CommandContext& ctx) { BitFieldGeneric(ctx, true); }

}  // namespace

void RegisterBitmapCommands(CommandRegistry* r) {
  using namespace cmd;
  KeySpec one{1, 1, 1};
  r->Group("bitmap")
      .Add("setbit", 4, kWrite | kDenyOom, one, SetBit,
           "Set or clear one bit, returning its old value")
      .Args("key offset:integer value:integer")
      .Keys("RW ACCESS UPDATE")
      .Add("getbit", 3, kReadOnly | kFast, one, GetBit, "One bit of a string")
      .Args("key offset:integer")
      .Add("bitcount", -2, kReadOnly, one, BitCount, "Number of set bits in a range")
      .Args("key [start:integer end:integer [BYTE|BIT]]")
      .Add("bitpos", -3, kReadOnly, one, BitPos, "Position of the first set or clear bit")
      .Args("key bit:integer [start:integer [end:integer [BYTE|BIT]]]")
      .Add("bitop", -4, kWrite | kDenyOom, {2, -1, 1}, BitOp,
           "AND, OR, XOR or NOT of strings into a key")
      .Args("(AND|OR|XOR|NOT) destkey:key key...")
      .Keys("OW UPDATE | RO ACCESS")
      .Add("bitfield", -2, kWrite | kDenyOom, one, BitField,
           "Read and write integers packed in a string")
      .Args(
          "key [GET encoding offset:integer | SET encoding offset:integer value:integer | INCRBY "
          "encoding offset:integer increment:integer | OVERFLOW (WRAP|SAT|FAIL)]...")
      .Keys("RW ACCESS UPDATE VARIABLE_FLAGS")
      .Add("bitfield_ro", -2, kReadOnly | kFast, one, BitFieldRo,
           "Read integers packed in a string")
      .Args("key [GET encoding offset:integer]...");
}

}  // namespace desaster
