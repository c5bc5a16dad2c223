// HyperLogLog commands (PFADD, PFCOUNT, PFMERGE, PFDEBUG, PFSELFTEST) on strings in Redis' own
// representation, byte for byte: a 16-byte header ("HYLL", the encoding, a cached cardinality)
// and 16384 registers of 6 bits, dense or run-length coded (sparse), changed by the same steps
// as in Redis. So an HLL restored or migrated from a Redis counts the same here, GET shows what
// Redis would show, and PFCOUNT answers what Redis answers.
#include <array>
#include <bit>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <random>

#include "server/command/context.h"
#include "server/command/registry.h"

namespace desaster {
namespace {

constexpr int kIndexBits = 14;
constexpr size_t kRegisters = size_t{1} << kIndexBits;
constexpr int kHashBits = 64 - kIndexBits;  // the bits that count zeros
constexpr int kRegisterBits = 6;
constexpr size_t kHeaderSize = 16;  // magic(4) encoding(1) unused(3) cached cardinality(8)
constexpr size_t kDenseSize = kHeaderSize + (kRegisters * kRegisterBits + 7) / 8;
constexpr uint8_t kDense = 0, kSparse = 1;
constexpr size_t kCacheOffset = 8;

// The sparse opcodes: ZERO 00xxxxxx (1-64 zero registers), XZERO 01xxxxxx xxxxxxxx (1-16384 zero
// registers), VAL 1vvvvvxx (1-4 registers of value 1-32).
constexpr int kValMax = 32, kValRunMax = 4, kZeroRunMax = 64, kXZeroRunMax = 16384;
bool IsZero(uint8_t op) { return (op & 0xc0) == 0; }
bool IsXZero(uint8_t op) { return (op & 0xc0) == 0x40; }
bool IsVal(uint8_t op) { return (op & 0x80) != 0; }
int ZeroRun(uint8_t op) { return (op & 0x3f) + 1; }
int XZeroRun(uint8_t op, uint8_t next) { return (((op & 0x3f) << 8) | next) + 1; }
int ValValue(uint8_t op) { return ((op >> 2) & 0x1f) + 1; }
int ValRun(uint8_t op) { return (op & 0x3) + 1; }
char Val(int value, int run) { return static_cast<char>(0x80 | (value - 1) << 2 | (run - 1)); }
// A run of zero registers as the shortest opcode that holds it, appended to `out`.
void AppendZeros(std::string* out, int run) {
  if (run > kZeroRunMax) {
    out->push_back(static_cast<char>(0x40 | (run - 1) >> 8));
    out->push_back(static_cast<char>((run - 1) & 0xff));
  } else {
    out->push_back(static_cast<char>(run - 1));
  }
}

constexpr std::string_view kCorrupt = "INVALIDOBJ Corrupted HLL object detected";
constexpr std::string_view kNotHll = "WRONGTYPE Key is not a valid HyperLogLog string value.";

// MurmurHash2, 64-bit version (Austin Appleby's MurmurHash64A), the hash Redis' HLLs use.
uint64_t MurmurHash64A(std::string_view data, uint64_t seed) {
  constexpr uint64_t m = 0xc6a4a7935bd1e995ULL;
  constexpr int r = 47;
  uint64_t h = seed ^ (data.size() * m);
  size_t whole = data.size() & ~size_t{7};
  for (size_t i = 0; i < whole; i += 8) {
    uint64_t k;
    std::memcpy(&k, data.data() + i, 8);  // little-endian, as on the machines Redis runs on
    k *= m;
    k ^= k >> r;
    k *= m;
    h ^= k;
    h *= m;
  }
  size_t rest = data.size() & 7;
  if (rest) {
    for (size_t i = rest; i-- > 0;) {
      h ^= static_cast<uint64_t>(static_cast<uint8_t>(data[whole + i])) << (8 * i);
    }
    h *= m;
  }
  h ^= h >> r;
  h *= m;
  h ^= h >> r;
  return h;
}

// The register an element falls in, and the count it offers: its hash's run of zero bits past
// the index bits, plus one.
std::pair<size_t, uint8_t> Observe(std::string_view element) {
  uint64_t hash = MurmurHash64A(element, 0xadc83b19ULL);
  size_t index = hash & (kRegisters - 1);
  hash >>= kIndexBits;
  hash |= uint64_t{1} << kHashBits;  // a run ends there at the latest
  return {index, static_cast<uint8_t>(std::countr_zero(hash) + 1)};
}

using Histogram = std::array<int, 64>;  // how many registers hold each value

// The cardinality estimate of registers with this histogram (Otmar Ertl's improved estimator,
// "New cardinality estimation algorithms for HyperLogLog sketches", as Redis computes it).
uint64_t Estimate(const Histogram& h) {
  const double m = kRegisters;
  auto tau = [](double x) -> double {
    if (x == 0. || x == 1.) return 0.;
    double y = 1.0, z = 1 - x, previous;
    do {
      x = std::sqrt(x);
      previous = z;
      y *= 0.5;
      z -= std::pow(1 - x, 2) * y;
    } while (previous != z);
    return z / 3;
  };
  auto sigma = [](double x) -> double {
    if (x == 1.) return INFINITY;
    double y = 1, z = x, previous;
    do {
      x *= x;
      previous = z;
      z += x * y;
      y += y;
    } while (previous != z);
    return z;
  };
  double z = m * tau((m - h[static_cast<size_t>(kHashBits) + 1]) / m);
  for (int j = kHashBits; j >= 1; --j) {
    z += h[static_cast<size_t>(j)];
    z *= 0.5;
  }
  z += m * sigma(h[0] / m);
  constexpr double kAlphaInf = 0.721347520444481703680;  // 0.5 / ln(2)
  return static_cast<uint64_t>(std::llround(kAlphaInf * m * m / z));
}

// An HLL value: the bytes of its string, read and changed in place as Redis changes its own.
class Hll {
 public:
  // A new HLL: sparse, every register zero, the cached cardinality 0 and valid.
  static Hll Empty() {
    std::string b(kHeaderSize, '\0');
    std::memcpy(b.data(), "HYLL", 4);
    b[4] = static_cast<char>(kSparse);
    AppendZeros(&b, kXZeroRunMax);
    return Hll(std::move(b));
  }
  explicit Hll(std::string bytes) : b_(std::move(bytes)) {}

  // Whether `s` has an HLL's header and, if dense, its size (what Redis checks).
  static bool Valid(const std::string& s) {
    return s.size() >= kHeaderSize && s.compare(0, 4, "HYLL") == 0 &&
           static_cast<uint8_t>(s[4]) <= kSparse &&
           (static_cast<uint8_t>(s[4]) != kDense || s.size() == kDenseSize);
  }

  const std::string& bytes() const { return b_; }
  uint8_t encoding() const { return byte(4); }

  bool CacheValid() const { return (byte(kCacheOffset + 7) & 0x80) == 0; }
  uint64_t Cached() const {
    uint64_t v;
    std::memcpy(&v, b_.data() + kCacheOffset, 8);
    return v;
  }
  void SetCache(uint64_t v) { std::memcpy(b_.data() + kCacheOffset, &v, 8); }
  void InvalidateCache() {
    b_[kCacheOffset + 7] = static_cast<char>(byte(kCacheOffset + 7) | 0x80);
  }

  // Raises register `index` to `count` if that is more: 1 when it did, 0 when not, -1 when the
  // sparse form is corrupt. A sparse HLL becomes dense when `count` is too big for it or the
  // sparse form would grow past `sparse_max` bytes.
  int Set(size_t index, uint8_t count, size_t sparse_max) {
    return encoding() == kDense ? DenseSet(index, count) : SparseSet(index, count, sparse_max);
  }

  // Converts a sparse HLL to dense (the cache kept); false, and unchanged, when corrupt.
  bool ToDense() {
    if (encoding() == kDense) return true;
    std::string dense(kDenseSize, '\0');
    std::memcpy(dense.data(), b_.data(), kHeaderSize);
    dense[4] = static_cast<char>(kDense);
    size_t covered = ForEachRun([&](size_t first, int run, int value) {
      for (int i = 0; i < run; i++) DenseWrite(&dense, first + static_cast<size_t>(i), value);
    });
    if (covered != kRegisters) return false;
    b_ = std::move(dense);
    return true;
  }

  // Raises each max[i] to register i; false when the sparse form is corrupt.
  bool MergeInto(uint8_t* max) const {
    if (encoding() == kDense) {
      for (size_t i = 0; i < kRegisters; i++) max[i] = std::max(max[i], DenseGet(i));
      return true;
    }
    return ForEachRun([&](size_t first, int run, int value) {
             for (int i = 0; i < run; i++) {
               uint8_t& m = max[first + static_cast<size_t>(i)];
               m = std::max(m, static_cast<uint8_t>(value));
             }
           }) == kRegisters;
  }

  // The histogram of the registers; false when a sparse form does not cover them exactly.
  bool Count(Histogram* h) const {
    h->fill(0);
    if (encoding() == kDense) {
      for (size_t i = 0; i < kRegisters; i++) (*h)[DenseGet(i)]++;
      return true;
    }
    size_t covered = 0;
    ForOpcodes([&](size_t, int run, int value) {
      (*h)[static_cast<size_t>(value)] += run;
      covered += static_cast<size_t>(run);
      return true;
    });
    return covered == kRegisters;
  }

  uint8_t Register(size_t i) const { return DenseGet(i); }  // dense only

  // PFDEBUG DECODE's text of the sparse opcodes.
  std::string Decode() const {
    std::string out;
    for (size_t p = kHeaderSize; p < b_.size();) {
      uint8_t op = byte(p);
      char buf[32];
      if (IsZero(op)) {
        snprintf(buf, sizeof(buf), "z:%d ", ZeroRun(op));
        p++;
      } else if (IsXZero(op)) {
        snprintf(buf, sizeof(buf), "Z:%d ", XZeroRun(op, byte(p + 1)));
        p += 2;
      } else {
        snprintf(buf, sizeof(buf), "v:%d,%d ", ValValue(op), ValRun(op));
        p++;
      }
      out += buf;
    }
    if (!out.empty()) out.pop_back();
    return out;
  }

 private:
  // A byte of the string; past its end, the terminator Redis' strings have there.
  uint8_t byte(size_t i) const { return i < b_.size() ? static_cast<uint8_t>(b_[i]) : 0; }

  uint8_t DenseGet(size_t i) const {
    size_t at = kHeaderSize + i * kRegisterBits / 8;
    unsigned shift = (i * kRegisterBits) & 7;
    unsigned v = (byte(at) >> shift) | (byte(at + 1) << (8 - shift));
    return static_cast<uint8_t>(v & 63);
  }
  static void DenseWrite(std::string* b, size_t i, int value) {
    size_t at = kHeaderSize + i * kRegisterBits / 8;
    unsigned shift = (i * kRegisterBits) & 7;
    auto v = static_cast<unsigned>(value);
    auto* p = reinterpret_cast<unsigned char*>(b->data());
    p[at] = static_cast<unsigned char>((p[at] & ~(63u << shift)) | (v << shift));
    if (at + 1 < b->size()) {
      p[at + 1] =
          static_cast<unsigned char>((p[at + 1] & ~(63u >> (8 - shift))) | (v >> (8 - shift)));
    }
  }
  int DenseSet(size_t index, uint8_t count) {
    if (count <= DenseGet(index)) return 0;
    DenseWrite(&b_, index, count);
    return 1;
  }

  // Calls fn(first register, run, value) for each sparse opcode (zeros too), to the end;
  // fn returns false to stop early.
  template <class Fn>
  void ForOpcodes(Fn fn) const {
    size_t index = 0;
    for (size_t p = kHeaderSize; p < b_.size();) {
      uint8_t op = byte(p);
      int run, value = 0;
      if (IsZero(op)) {
        run = ZeroRun(op);
        p++;
      } else if (IsXZero(op)) {
        run = XZeroRun(op, byte(p + 1));
        p += 2;
      } else {
        run = ValRun(op);
        value = ValValue(op);
        p++;
      }
      if (!fn(index, run, value)) return;
      index += static_cast<size_t>(run);
    }
  }
  // Calls fn(first, run, value) for each run of non-zero registers; returns how many registers
  // the opcodes cover, or npos when a run passes the last register (corrupt: Redis stops there).
  template <class Fn>
  size_t ForEachRun(Fn fn) const {
    size_t covered = 0;
    bool overflow = false;
    ForOpcodes([&](size_t first, int run, int value) {
      covered = first + static_cast<size_t>(run);
      if (value == 0) return true;
      if (covered > kRegisters) return !(overflow = true);
      fn(first, run, value);
      return true;
    });
    return overflow ? std::string::npos : covered;
  }

  int SparseSet(size_t index, uint8_t count, size_t sparse_max) {
    if (count > kValMax) return Promote(index, count);
    // The opcode covering the register, and the one before it.
    const size_t npos = std::string::npos;
    size_t p = kHeaderSize, prev = npos, first = 0, span = 0;
    while (p < b_.size()) {
      uint8_t op = byte(p);
      size_t length = IsXZero(op) ? 2 : 1;
      span = static_cast<size_t>(IsZero(op)  ? ZeroRun(op)
                                 : IsVal(op) ? ValRun(op)
                                             : XZeroRun(op, byte(p + 1)));
      if (index <= first + span - 1) break;
      prev = p;
      p += length;
      first += span;
    }
    if (span == 0 || p >= b_.size()) return -1;
    const uint8_t op = byte(p);
    const size_t last = first + span - 1;
    if (IsVal(op)) {
      if (ValValue(op) >= count) return 0;
      if (ValRun(op) == 1) {
        b_[p] = Val(count, 1);
        return Updated(prev);
      }
    }
    if (IsZero(op) && ZeroRun(op) == 1) {
      b_[p] = Val(count, 1);
      return Updated(prev);
    }
    // Split the opcode into up to three: before the register, the register, after it.
    std::string seq;
    if (IsVal(op)) {
      if (index != first) seq.push_back(Val(ValValue(op), static_cast<int>(index - first)));
      seq.push_back(Val(count, 1));
      if (index != last) seq.push_back(Val(ValValue(op), static_cast<int>(last - index)));
    } else {
      if (index != first) AppendZeros(&seq, static_cast<int>(index - first));
      seq.push_back(Val(count, 1));
      if (index != last) AppendZeros(&seq, static_cast<int>(last - index));
    }
    size_t old_length = IsXZero(op) ? 2 : 1;
    if (seq.size() > old_length && b_.size() + seq.size() - old_length > sparse_max) {
      return Promote(index, count);
    }
    b_.replace(p, old_length, seq);
    return Updated(prev);
  }

  // After a sparse change: merges adjacent VAL opcodes of one value where the run fits, over
  // the five opcodes from the one before the change, and invalidates the cache.
  int Updated(size_t prev) {
    size_t p = prev == std::string::npos ? kHeaderSize : prev;
    int scan = 5;
    while (p < b_.size() && scan--) {
      uint8_t op = byte(p);
      if (IsXZero(op)) {
        p += 2;
        continue;
      }
      if (IsZero(op)) {
        p++;
        continue;
      }
      if (p + 1 < b_.size() && IsVal(byte(p + 1)) && ValValue(op) == ValValue(byte(p + 1))) {
        int run = ValRun(op) + ValRun(byte(p + 1));
        if (run <= kValRunMax) {
          b_[p + 1] = Val(ValValue(op), run);
          b_.erase(p, 1);
          continue;  // and try the merged one with the next
        }
      }
      p++;
    }
    InvalidateCache();
    return 1;
  }

  int Promote(size_t index, uint8_t count) {
    if (!ToDense()) return -1;
    return DenseSet(index, count);
  }

  std::string b_;
};

// The HLL at `key` (nullopt: absent, or the error was replied: *wrong set).
std::optional<Hll> HllAt(CommandContext& ctx, std::string_view key, bool* wrong) {
  const std::string* s = ctx.StringAt(key, wrong);
  if (*wrong || !s) return std::nullopt;
  if (!Hll::Valid(*s)) {
    *wrong = true;
    ctx.Error(kNotHll);
    return std::nullopt;
  }
  return Hll(*s);
}

// Writes `after` to `key`, whose value was `before` (nullptr: no key): only the bytes that
// changed when the length stayed (a dense PFADD changes one or two of 12 kB).
void Store(CommandContext& ctx, const std::string& key, const std::string* before,
           const std::string& after) {
  if (before && before->size() == after.size()) {
    size_t first = 0, last = after.size();
    while (first < last && (*before)[first] == after[first]) first++;
    while (last > first && (*before)[last - 1] == after[last - 1]) last--;
    if (first < last) {
      ctx.db().WriteRange(key, first, std::string_view(after).substr(first, last - first));
    }
    return;
  }
  ctx.db().SetString(key, after, true);
}

size_t SparseMaxBytes(CommandContext& ctx) {
  const auto& params = ctx.server.options.redis_parameters;
  auto it = params.find("hll-sparse-max-bytes");
  return it == params.end() ? 3000 : std::strtoull(it->second.c_str(), nullptr, 10);
}

void PfAdd(CommandContext& ctx) {
  bool wrong;
  std::optional<Hll> hll = HllAt(ctx, ctx.args[1], &wrong);
  if (wrong) return;
  const std::string* before = ctx.StringAt(ctx.args[1], &wrong);
  int updated = hll ? 0 : 1;
  if (!hll) hll = Hll::Empty();
  const size_t sparse_max = SparseMaxBytes(ctx);
  for (size_t i = 2; i < ctx.args.size(); i++) {
    auto [index, count] = Observe(ctx.args[i]);
    int r = hll->Set(index, count, sparse_max);
    if (r < 0) {
      // Redis keeps what the elements before changed, unannounced.
      Store(ctx, ctx.args[1], before, hll->bytes());
      return ctx.Error(kCorrupt);
    }
    updated += r;
  }
  if (updated) hll->InvalidateCache();
  Store(ctx, ctx.args[1], before, hll->bytes());
  if (updated) ctx.Notify(event::kString, "pfadd", ctx.args[1]);
  ctx.reply.Integer(updated ? 1 : 0);
}

void PfCount(CommandContext& ctx) {
  bool wrong;
  if (ctx.args.size() > 2) {  // the cardinality of the union
    std::vector<uint8_t> max(kRegisters, 0);
    for (size_t i = 1; i < ctx.args.size(); i++) {
      std::optional<Hll> hll = HllAt(ctx, ctx.args[i], &wrong);
      if (wrong) return;
      if (hll && !hll->MergeInto(max.data())) return ctx.Error(kCorrupt);
    }
    Histogram h{};
    for (uint8_t v : max) h[v]++;
    return ctx.reply.Integer(static_cast<long long>(Estimate(h)));
  }
  std::optional<Hll> hll = HllAt(ctx, ctx.args[1], &wrong);
  if (wrong) return;
  if (!hll) return ctx.reply.Integer(0);
  if (hll->CacheValid()) return ctx.reply.Integer(static_cast<long long>(hll->Cached()));
  Histogram h;
  if (!hll->Count(&h)) return ctx.Error(kCorrupt);
  uint64_t card = Estimate(h);
  // The estimate is cached in the value, as Redis does; but not by a replica, whose values
  // only the master changes (the cache is an optimisation, not data).
  if (!ctx.server.read_only() && ctx.server.write_error.empty()) {
    hll->SetCache(card);
    ctx.db().WriteRange(ctx.args[1], kCacheOffset,
                        std::string_view(hll->bytes()).substr(kCacheOffset, 8));
  }
  ctx.reply.Integer(static_cast<long long>(card));
}

void PfMerge(CommandContext& ctx) {
  std::vector<uint8_t> max(kRegisters, 0);
  bool dense = false, wrong;
  for (size_t i = 1; i < ctx.args.size(); i++) {
    std::optional<Hll> hll = HllAt(ctx, ctx.args[i], &wrong);
    if (wrong) return;
    if (!hll) continue;
    dense = dense || hll->encoding() == kDense;
    if (!hll->MergeInto(max.data())) return ctx.Error(kCorrupt);
  }
  std::optional<Hll> target = HllAt(ctx, ctx.args[1], &wrong);
  const std::string* before = ctx.StringAt(ctx.args[1], &wrong);
  if (!target) target = Hll::Empty();
  if (dense && !target->ToDense()) return ctx.Error(kCorrupt);
  const size_t sparse_max = SparseMaxBytes(ctx);
  for (size_t i = 0; i < kRegisters; i++) {
    if (max[i]) target->Set(i, max[i], sparse_max);
  }
  target->InvalidateCache();
  Store(ctx, ctx.args[1], before, target->bytes());
  ctx.Notify(event::kString, "pfadd", ctx.args[1]);  // a merge is a mass-add, as Redis says
  ctx.reply.Ok();
}

void PfDebug(CommandContext& ctx) {
  const std::string& sub = ctx.args[1];
  bool wrong;
  std::optional<Hll> hll = HllAt(ctx, ctx.args[2], &wrong);
  if (wrong) return;
  if (!hll) return ctx.Error("ERR The specified key does not exist");
  const std::string* before = ctx.StringAt(ctx.args[2], &wrong);
  bool getreg = ctx.Is(1, "GETREG"), decode = ctx.Is(1, "DECODE");
  bool encoding = ctx.Is(1, "ENCODING"), todense = ctx.Is(1, "TODENSE");
  if (!getreg && !decode && !encoding && !todense) {
    return ctx.Error("ERR Unknown PFDEBUG subcommand '" + sub + "'");
  }
  if (encoding) return ctx.reply.Simple(hll->encoding() == kDense ? "dense" : "sparse");
  if (decode) {
    if (hll->encoding() != kSparse) return ctx.Error("ERR HLL encoding is not sparse");
    return ctx.reply.Bulk(hll->Decode());
  }
  bool converted = hll->encoding() == kSparse;
  if (converted) {
    if (!hll->ToDense()) return ctx.Error(kCorrupt);
    Store(ctx, ctx.args[2], before, hll->bytes());
  }
  if (todense) return ctx.reply.Integer(converted ? 1 : 0);
  ctx.reply.Array(kRegisters);
  for (size_t i = 0; i < kRegisters; i++) ctx.reply.Integer(hll->Register(i));
}

// Checks the registers and the estimator on HLLs of its own: every register keeps what is set
// in it, and a sparse and a dense HLL fed the same elements agree and stay within the error
// HyperLogLog promises.
void PfSelfTest(CommandContext& ctx) {
  std::mt19937_64 rng(std::random_device{}());
  Hll dense = Hll::Empty();
  dense.ToDense();
  std::vector<uint8_t> expected(kRegisters);
  for (int cycle = 0; cycle < 10; cycle++) {
    Hll fresh = Hll::Empty();
    fresh.ToDense();
    for (size_t i = 0; i < kRegisters; i++) {
      expected[i] = static_cast<uint8_t>(rng() % 64);
      if (expected[i]) fresh.Set(i, expected[i], 0);
    }
    for (size_t i = 0; i < kRegisters; i++) {
      if (fresh.Register(i) != expected[i]) {
        return ctx.Error("TESTFAILED Register error at register " + std::to_string(i));
      }
    }
  }
  Hll sparse = Hll::Empty();
  const size_t sparse_max = SparseMaxBytes(ctx);
  const double relative_error = 1.04 / std::sqrt(static_cast<double>(kRegisters));
  uint64_t seed = rng();
  // Bounded so that the loop is not held long (tens of milliseconds even under a sanitizer).
  for (uint64_t n = 1; n <= 20000; n++) {
    std::string element = std::to_string(seed + n);
    auto [index, count] = Observe(element);
    sparse.Set(index, count, sparse_max);
    dense.Set(index, count, 0);
    if (n % 1000 != 0 && n > 10) continue;
    Histogram a, b;
    sparse.Count(&a);
    dense.Count(&b);
    uint64_t estimate = Estimate(a);
    if (estimate != Estimate(b)) {
      return ctx.Error("TESTFAILED sparse and dense disagree after " + std::to_string(n));
    }
    double bound = n < 1000 ? relative_error * 5 : relative_error * 6;
    if (std::fabs(static_cast<double>(n) - static_cast<double>(estimate)) > n * bound + 1) {
      return ctx.Error("TESTFAILED too big error. card:" + std::to_string(n) +
                       " card:" + std::to_string(estimate));
    }
  }
  ctx.reply.Ok();
}

}  // namespace

void RegisterHyperLogLogCommands(CommandRegistry* r) {
  using namespace cmd;
  r->Group("hyperloglog")
      .Add("pfadd", -2, kWrite | kFast | kDenyOom, {1, 1, 1}, PfAdd,
           "Add elements to a HyperLogLog")
      .Args("key [element...]")
      .Keys("RW INSERT")
      // Read-only as in Redis, though it caches the estimate in the value (not on a replica).
      .Add("pfcount", -2, kReadOnly | kMayReplicate, {1, -1, 1}, PfCount,
           "Estimated number of distinct elements (of the union of several HyperLogLogs)")
      .Args("key...")
      .Keys("RW ACCESS")
      .Add("pfmerge", -2, kWrite | kDenyOom, {1, -1, 1}, PfMerge,
           "Merge HyperLogLogs into the first")
      .Args("destkey:key [sourcekey:key...]")
      .Keys("RW ACCESS INSERT | RO ACCESS")
      .Add("pfdebug", 3, kWrite | kAdmin | kDenyOom, {2, 2, 1}, PfDebug,
           "Registers, encoding and opcodes of a HyperLogLog")
      .Args("subcommand key")
      .Keys("RW ACCESS")
      .Add("pfselftest", 1, kAdmin, {}, PfSelfTest, "Test the HyperLogLog implementation")
      .Args("");
}

}  // namespace desaster
