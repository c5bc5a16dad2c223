#include "server/command/context.h"

#include <openssl/evp.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cmath>
#include <cstdlib>
#include <cstring>

#include "resp/parser.h"

namespace desaster {

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(tolower(static_cast<unsigned char>(c)));
  return out;
}

bool ParseInt64(std::string_view s, long long* out) {
  if (s.empty() || s.size() > 20) return false;
  // Redis' string2ll: no leading '+', no leading zeros, no spaces.
  if (s.size() > 1 && s[0] == '0') return false;
  if (s[0] == '-' && (s.size() == 1 || s[1] == '0')) return false;
  char buf[32];
  memcpy(buf, s.data(), s.size());
  buf[s.size()] = '\0';
  if (!(buf[0] == '-' || (buf[0] >= '0' && buf[0] <= '9'))) return false;
  errno = 0;
  char* end = nullptr;
  long long v = strtoll(buf, &end, 10);
  if (errno == ERANGE || end != buf + s.size()) return false;
  *out = v;
  return true;
}

bool ParseDouble(std::string_view s, double* out) {
  if (s.empty() || s.size() > 5000) return false;
  if (isspace(static_cast<unsigned char>(s[0]))) return false;
  std::string buf(s);
  errno = 0;
  char* end = nullptr;
  double v = strtod(buf.c_str(), &end);
  if (end != buf.c_str() + buf.size() || std::isnan(v)) return false;
  // As Redis' getDoubleFromObject: "inf" is a number, but a value that overflows to it (1e400)
  // or underflows to zero is out of range; a subnormal result is kept.
  if (errno == ERANGE && (std::isinf(v) || v == 0)) return false;
  *out = v;
  return true;
}

std::string FormatInt(long long v) { return std::to_string(v); }

bool ParseLongDouble(std::string_view s, long double* out) {
  if (s.empty() || s.size() > 5000 || isspace(static_cast<unsigned char>(s[0]))) return false;
  std::string buf(s);
  errno = 0;
  char* end = nullptr;
  long double v = strtold(buf.c_str(), &end);
  if (end != buf.c_str() + buf.size() || std::isnan(v) || errno == ERANGE) return false;
  *out = v;
  return true;
}

std::string FormatLongDouble(long double v) {
  char buf[5600];
  int n = snprintf(buf, sizeof(buf), "%.17Lf", v);
  std::string out(buf, static_cast<size_t>(n));
  if (out.find('.') != std::string::npos) {
    while (!out.empty() && out.back() == '0') out.pop_back();
    if (!out.empty() && out.back() == '.') out.pop_back();
  }
  if (out == "-0") out = "0";
  return out;
}

namespace {

// Whether the one-byte token of pattern `p` at `pi` ('?', a class, an escape or a literal)
// matches `c`, by Redis' stringmatchlen rules; *next is the index after the token.
bool MatchToken(std::string_view p, size_t pi, char c, bool nocase, size_t* next) {
  auto fold = [nocase](char x) {
    return nocase ? static_cast<char>(tolower(static_cast<unsigned char>(x))) : x;
  };
  switch (p[pi]) {
    case '?':
      *next = pi + 1;
      return true;
    case '[': {
      pi++;
      bool negate = pi < p.size() && p[pi] == '^';
      if (negate) pi++;
      bool match = false;
      while (pi < p.size() && p[pi] != ']') {
        if (p[pi] == '\\' && pi + 1 < p.size()) {
          pi++;
          if (p[pi] == c) match = true;
        } else if (pi + 2 < p.size() && p[pi + 1] == '-') {
          char lo = fold(p[pi]), hi = fold(p[pi + 2]);
          if (lo > hi) std::swap(lo, hi);
          if (fold(c) >= lo && fold(c) <= hi) match = true;
          pi += 2;
        } else if (fold(p[pi]) == fold(c)) {
          match = true;
        }
        pi++;
      }
      *next = pi < p.size() ? pi + 1 : p.size();  // an unterminated class ends with the pattern
      return match != negate;
    }
    case '\\':
      if (pi + 1 < p.size()) pi++;
      [[fallthrough]];
    default:
      *next = pi + 1;
      return fold(p[pi]) == fold(c);
  }
}

}  // namespace

bool GlobMatch(std::string_view p, std::string_view s, bool nocase) {
  // Every token but '*' matches exactly one byte, so when a match fails it is enough to let the
  // most recent '*' take one more byte and go on from there: the earlier stars' choices cannot
  // help. That bounds the work by pattern x string (Redis' recursive matcher backtracks into
  // every star and takes exponential time on patterns like a*a*a*...b).
  size_t pi = 0, si = 0;
  size_t resume_p = std::string_view::npos, resume_s = 0;
  while (si < s.size()) {
    if (pi < p.size() && p[pi] == '*') {
      while (pi < p.size() && p[pi] == '*') pi++;
      if (pi == p.size()) return true;
      resume_p = pi;
      resume_s = si;
      continue;
    }
    size_t next;
    if (pi < p.size() && MatchToken(p, pi, s[si], nocase, &next)) {
      pi = next;
      si++;
    } else if (resume_p != std::string_view::npos) {
      pi = resume_p;
      si = ++resume_s;
    } else {
      return false;
    }
  }
  while (pi < p.size() && p[pi] == '*') pi++;
  return pi == p.size();
}

bool CommandContext::MayAccess(std::string_view key, bool write) const {
  return !client.user || !spec || server.acl.KeyAllowed(*client.user, *spec, args, key, write);
}

bool CommandContext::Is(size_t i, std::string_view keyword) const {
  return i < args.size() && EqualIgnoringCase(args[i], keyword);
}

bool EqualIgnoringCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && strncasecmp(a.data(), b.data(), a.size()) == 0;
}

std::string HexString(std::string_view bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char b : bytes) {
    out.push_back(kHex[b >> 4]);
    out.push_back(kHex[b & 15]);
  }
  return out;
}

namespace {
std::string HexDigest(const EVP_MD* md, std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), digest, &len, md, nullptr);
  return HexString(std::string_view(reinterpret_cast<const char*>(digest), len));
}
}  // namespace

std::string Sha1Hex(std::string_view data) { return HexDigest(EVP_sha1(), data); }
std::string Sha256Hex(std::string_view data) { return HexDigest(EVP_sha256(), data); }

std::optional<long long> CommandContext::Int(size_t i, std::string_view error) {
  long long v;
  if (!ParseInt64(args[i], &v)) {
    reply.Error(error);
    return std::nullopt;
  }
  return v;
}

std::optional<double> CommandContext::Double(size_t i, std::string_view error) {
  double v;
  if (!ParseDouble(args[i], &v)) {
    reply.Error(error);
    return std::nullopt;
  }
  return v;
}

std::optional<int64_t> CommandContext::TimeoutDeadline(size_t i) {
  double seconds;
  if (!ParseDouble(args[i], &seconds) || std::isinf(seconds) || seconds * 1000 > 9.2e18) {
    reply.Error(err::kTimeout);
    return std::nullopt;
  }
  if (seconds < 0) {
    reply.Error(err::kTimeoutNegative);
    return std::nullopt;
  }
  long long ms = static_cast<long long>(seconds * 1000.0);
  if (ms == 0 && seconds > 0) ms = 1;  // 0.0001 s still means "a short while", not forever
  return DeadlineAfterMs(ms);
}

int64_t CommandContext::DeadlineAfterMs(long long ms) const {
  if (ms <= 0 || ms > INT64_MAX - now_ms()) return 0;
  return now_ms() + ms;
}

std::optional<long long> CommandContext::OptionInt(size_t i, long long min, long long max) {
  long long v;
  if (i + 1 < args.size() && ParseInt64(args[i + 1], &v) && v >= min && v <= max) return v;
  Error("ERR " + args[i] + " must be an integer " +
        (max == LLONG_MAX ? ">= " + FormatInt(min)
                          : "from " + FormatInt(min) + " to " + FormatInt(max)));
  return std::nullopt;
}

const Value* CommandContext::Lookup(std::string_view key, ValueType t, bool* wrong) {
  *wrong = false;
  const Value* v = db().Find(key);
  if (v == nullptr) {
    server.stats.keyspace_misses++;
    // A queue with no ready job has no key, but the key is still the queue's: a value of
    // another type written there would hide the jobs the queue gets next.
    if (writes && t != ValueType::kList && db().FindQueue(key)) {
      *wrong = true;
      reply.Error(err::kWrongType);
    }
    return nullptr;
  }
  server.stats.keyspace_hits++;
  bool queue_as_list = t == ValueType::kList && v->type() == ValueType::kQueue;
  if (v->type() != t && !queue_as_list) {
    // A key a blocked client waits on may hold another type for a while (MULTI, LPUSH, DEL,
    // SET, EXEC): as in Redis, it is not ready then, and the client keeps waiting.
    if (block_mode == BlockMode::kRetrying &&
        std::find(client.block.keys.begin(), client.block.keys.end(), key) !=
            client.block.keys.end()) {
      return nullptr;
    }
    *wrong = true;
    reply.Error(err::kWrongType);
    return nullptr;
  }
  return v;
}

void CommandContext::Block(const std::vector<std::string>& keys, int64_t deadline_ms,
                           TimeoutReply on_timeout, const std::vector<std::string>* retry_argv) {
  switch (block_mode) {
    case BlockMode::kNever:
      on_timeout == TimeoutReply::kNullArray ? reply.NullArray() : reply.NullBulk();
      return;  // (a kRunAgain command answers itself in this mode: it never gets here)
    case BlockMode::kRetrying:
      blocked = true;  // keep waiting with the original deadline
      return;
    case BlockMode::kAllowed:
      blocked = true;
      client.blocked = true;
      client.block =
          BlockState{client.db, keys, retry_argv ? *retry_argv : args, deadline_ms, on_timeout};
      for (const auto& k : keys) server.keyspace.Block(client.db, k, client.id);
      return;
  }
}

std::optional<uint64_t> ParseScanCursor(CommandContext& ctx, size_t cursor_index) {
  // As Redis reads it, with strtoul: a sign is allowed ("-1" wraps), leading space is not.
  const std::string& c = ctx.args[cursor_index];
  char* end = nullptr;
  errno = 0;
  unsigned long long cursor = strtoull(c.c_str(), &end, 10);
  if ((!c.empty() && isspace(static_cast<unsigned char>(c[0]))) || *end != '\0' || errno) {
    ctx.Error("ERR invalid cursor");
    return std::nullopt;
  }
  return cursor;
}

std::optional<ScanOptions> ParseScanOptions(CommandContext& ctx, size_t cursor_index,
                                            bool allow_type) {
  ScanOptions o;
  auto cursor = ParseScanCursor(ctx, cursor_index);
  if (!cursor) return std::nullopt;
  o.cursor = *cursor;
  for (size_t i = cursor_index + 1; i < ctx.args.size(); i += 2) {
    if (i + 1 >= ctx.args.size()) {
      ctx.Error(err::kSyntax);
      return std::nullopt;
    }
    if (ctx.Is(i, "COUNT")) {
      auto n = ctx.Int(i + 1);
      if (!n) return std::nullopt;
      if (*n < 1) {
        ctx.Error(err::kSyntax);
        return std::nullopt;
      }
      o.count = static_cast<size_t>(*n);
    } else if (ctx.Is(i, "MATCH")) {
      o.pattern = ctx.args[i + 1] == "*" ? "" : ctx.args[i + 1];
    } else if (allow_type && ctx.Is(i, "TYPE")) {
      o.type = Lower(ctx.args[i + 1]);
    } else {
      ctx.Error(err::kSyntax);
      return std::nullopt;
    }
  }
  return o;
}

std::optional<MPopOptions> ParseMPopOptions(CommandContext& ctx, size_t numkeys_index,
                                            std::string_view first, std::string_view second) {
  MPopOptions o;
  long long numkeys;
  if (!ParseInt64(ctx.args[numkeys_index], &numkeys) || numkeys < 1) {
    ctx.Error("ERR numkeys should be greater than 0");
    return std::nullopt;
  }
  size_t where = numkeys_index + 1;
  if (static_cast<unsigned long long>(numkeys) >= ctx.args.size() - where) {
    ctx.Error(err::kSyntax);
    return std::nullopt;
  }
  where += static_cast<size_t>(numkeys);
  if (ctx.Is(where, first)) {
    o.from_first = true;
  } else if (ctx.Is(where, second)) {
    o.from_first = false;
  } else {
    ctx.Error(err::kSyntax);
    return std::nullopt;
  }
  bool has_count = false;
  for (size_t i = where + 1; i < ctx.args.size(); i++) {
    if (!has_count && ctx.Is(i, "COUNT") && i + 1 < ctx.args.size()) {
      i++;
      if (!ParseInt64(ctx.args[i], &o.count) || o.count < 1) {
        ctx.Error("ERR count should be greater than 0");
        return std::nullopt;
      }
      has_count = true;
    } else {
      ctx.Error(err::kSyntax);
      return std::nullopt;
    }
  }
  o.keys.assign(ctx.args.begin() + static_cast<ptrdiff_t>(numkeys_index + 1),
                ctx.args.begin() + static_cast<ptrdiff_t>(where));
  return o;
}

std::optional<RandomRequest> ParseRandomRequest(CommandContext& ctx, std::string_view with_word) {
  // Redis' order: the count, then the syntax, then the count's range with values or scores.
  RandomRequest q;
  if (ctx.args.size() < 3) return q;
  q.has_count = true;
  if (!ParseInt64(ctx.args[2], &q.count)) {
    ctx.Error(err::kNotInteger);
    return std::nullopt;
  }
  if (q.count == LLONG_MIN) {
    ctx.Error(
        "ERR value is out of range, value must between -9223372036854775807 and "
        "9223372036854775807");
    return std::nullopt;
  }
  size_t max_args = with_word.empty() ? 3 : 4;
  if (ctx.args.size() > max_args || (ctx.args.size() == 4 && !ctx.Is(3, with_word))) {
    ctx.Error(err::kSyntax);
    return std::nullopt;
  }
  q.with = ctx.args.size() == 4;
  if (q.with && (q.count < -LONG_MAX / 2 || q.count > LONG_MAX / 2)) {
    ctx.Error("ERR value is out of range");
    return std::nullopt;
  }
  return q;
}

void ReplyScan(CommandContext& ctx, uint64_t next, const std::vector<std::string>& items) {
  ctx.reply.Array(2);
  ctx.reply.Bulk(std::to_string(next));
  ctx.reply.Array(items.size());
  for (const auto& s : items) ctx.reply.Bulk(s);
}

void CommandContext::ReplyLength(ValueType t) {
  bool wrong;
  const Value* v = Lookup(args[1], t, &wrong);
  if (!wrong) reply.Integer(v ? static_cast<long long>(v->Length()) : 0);
}

void CommandContext::ReplyHelp(std::initializer_list<const char*> lines) {
  std::string command = args[0];
  for (char& c : command) c = static_cast<char>(toupper(static_cast<unsigned char>(c)));
  reply.Array(lines.size() + 3);
  reply.Simple(command + " <subcommand> [<arg> [value] [opt] ...]. Subcommands are:");
  for (const char* l : lines) reply.Simple(l);
  reply.Simple("HELP");
  reply.Simple("    Prints this help.");
}

void CommandContext::NotifyWrite(int cls, std::string_view event, std::string_view key) {
  Notify(cls, event, key);
  if (!db().Peek(key)) Notify(event::kGeneric, "del", key);
}

void CommandContext::NoteLibraryRun(const Dialect& d, Dialects::WorkerKey kind,
                                    std::string_view event, std::string_view key) {
  using enum Dialects::WorkerKey;
  if (kind != kRunning) {
    // (INCR, INCRBY, DECR and DECRBY are all announced as "incrby".)
    if (event != "incrby") return;
    std::string_view worker =
        key.substr((kind == kFailed ? d.failed_prefix : d.processed_prefix).size());
    db().LibraryRunCounted(d, worker, kind == kFailed);
  } else if (event == "set") {
    const Value* v = db().Peek(key);
    if (v && v->type() == ValueType::kString) db().LibraryRunStarted(d, key, v->str());
  } else if (event == "del") {
    db().LibraryRunEnded(key);
  }
}

void CommandContext::WrongArgs() {
  reply.Error("ERR wrong number of arguments for '" + Lower(args[0]) + "' command");
}

void CommandContext::SubcommandSyntaxError() {
  std::string command = args[0];
  for (char& c : command) c = static_cast<char>(toupper(static_cast<unsigned char>(c)));
  reply.Error("ERR unknown subcommand or wrong number of arguments for '" + args[1].substr(0, 128) +
              "'. Try " + command + " HELP.");
}

}  // namespace desaster
