// What a command handler sees: its arguments, the reply writer, the calling client and the
// shared server state, plus the argument parsers and checks every family needs, with Redis'
// exact error texts.
#pragma once

#include <algorithm>
#include <climits>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "resp/writer.h"
#include "server/command/client.h"
#include "server/command/server_state.h"
#include "server/data/notify.h"

namespace desaster {

namespace err {
inline constexpr std::string_view kNotInteger = "ERR value is not an integer or out of range";
inline constexpr std::string_view kNotFloat = "ERR value is not a valid float";
inline constexpr std::string_view kWrongType =
    "WRONGTYPE Operation against a key holding the wrong kind of value";
inline constexpr std::string_view kSyntax = "ERR syntax error";
inline constexpr std::string_view kNoKeyPermission =
    "NOPERM this user has no permissions to access one of the keys used as arguments";
inline constexpr std::string_view kNoSuchKey = "ERR no such key";
inline constexpr std::string_view kOutOfRange = "ERR index out of range";
inline constexpr std::string_view kOverflow = "ERR increment or decrement would overflow";
inline constexpr std::string_view kNanOrInf = "ERR increment would produce NaN or Infinity";
inline constexpr std::string_view kTimeout = "ERR timeout is not a float or out of range";
inline constexpr std::string_view kTimeoutNegative = "ERR timeout is negative";
inline constexpr std::string_view kPositive = "ERR value is out of range, must be positive";
inline constexpr std::string_view kDbIndex = "ERR DB index is out of range";
}  // namespace err

// How a handler that would block is treated.
enum class BlockMode {
  kAllowed,   // a normal call: the client blocks
  kNever,     // inside MULTI or a script: answer the timeout reply at once
  kRetrying,  // a blocked client re-run because a key became ready: stay blocked
};

class CommandContext {
 public:
  CommandContext(ServerState& server, Client& client, const std::vector<std::string>& args,
                 resp::ReplyWriter& reply, BlockMode block_mode)
      : server(server), client(client), args(args), reply(reply), block_mode(block_mode) {}

  ServerState& server;
  Client& client;
  const std::vector<std::string>& args;
  // The command may write (kWrite): an empty queue's key is still the queue's to it.
  bool writes = false;
  // The command's table entry (nullptr for a context made inside another command).
  const CommandSpec* spec = nullptr;
  resp::ReplyWriter& reply;
  const BlockMode block_mode;
  bool blocked = false;  // set by Block(): the handler replied nothing

  Database& db() { return server.keyspace.db(client.db); }
  Keyspace& keyspace() { return server.keyspace; }
  int64_t now_ms() const { return server.keyspace.now_ms(); }

  // Whether the client's user may read (`write`: write) `key`, a key the command finds itself
  // (QUEUE.LIST, searches, jobs and failures named by id): such commands act only on the keys
  // their user may access, as if the others were not there.
  bool MayAccess(std::string_view key, bool write) const;
  // Whether MayAccess may say no: a fast path that skips it needs this false.
  bool KeysRestricted() const { return client.user && !client.user->unrestricted(); }

  // Case-insensitive comparison of args[i] with an upper-case keyword.
  bool Is(size_t i, std::string_view keyword) const;

  // Parsers that reply with Redis' error and return nullopt on bad input.
  std::optional<long long> Int(size_t i, std::string_view error = err::kNotInteger);
  std::optional<double> Double(size_t i, std::string_view error = err::kNotFloat);
  // The integer value args[i + 1] of the option args[i], within [min, max]; otherwise replies
  // "ERR <option> must be an integer >= min" (or "from min to max") and returns nullopt.
  std::optional<long long> OptionInt(size_t i, long long min, long long max = LLONG_MAX);
  // A blocking timeout in seconds (fractions allowed) -> absolute deadline in ms (0: forever).
  std::optional<int64_t> TimeoutDeadline(size_t i);
  // The deadline `ms` milliseconds from now for a blocking command: 0 (no deadline) for 0, and
  // for a wait so long that the deadline would pass the end of time (BLOCK 2^63-1), as Redis
  // blocks for good then.
  int64_t DeadlineAfterMs(long long ms) const;

  // The value at `key` if it has type `t`; nullptr when absent (*wrong stays false) or of
  // another type (replies WRONGTYPE and sets *wrong). A queue key passes for kList.
  const Value* Lookup(std::string_view key, ValueType t, bool* wrong);
  // Lookup() of a string: its bytes, or nullptr (absent, or WRONGTYPE replied).
  const std::string* StringAt(std::string_view key, bool* wrong) {
    const Value* v = Lookup(key, ValueType::kString, wrong);
    return v ? &v->str() : nullptr;
  }

  // Keyspace notifications: announces `event` of class `cls` (server/data/notify.h) on `key`
  // in the client's database.
  // Also how the metrics see a resque worker's job start and end (its running key).
  void Notify(int cls, std::string_view event, std::string_view key) {
    keyspace().Notify(client.db, cls, event, key);
    Dialects::WorkerKey kind;
    if (const Dialect* d = keyspace().dialects().MatchWorkerKey(key, &kind)) {
      NoteLibraryRun(*d, kind, event, key);
    }
  }
  // The same after a write that may have removed its key's last element: then "del" follows,
  // as in Redis.
  void NotifyWrite(int cls, std::string_view event, std::string_view key);
  void NoteLibraryRun(const Dialect& d, Dialects::WorkerKey kind, std::string_view event,
                      std::string_view key);

  // The STORE destinations (SINTERSTORE, ZUNIONSTORE, SORT ... STORE, ...): replaces `key` by
  // what `fill` writes and announces `event`, or, when the result is `empty`, removes `key`
  // and announces "del" if there was one. A replaced key is not announced as new, as Redis
  // overwrites it.
  template <class Fill>
  void StoreResult(int cls, std::string_view event, const std::string& key, bool empty, Fill fill) {
    bool existed = db().Peek(key) != nullptr;
    db().Delete(key);
    if (empty) {
      if (existed) Notify(event::kGeneric, "del", key);
      return;
    }
    keyspace().set_announce_new(!existed);
    fill();
    keyspace().set_announce_new(true);
    Notify(cls, event, key);
  }

  // Blocks the client on `keys` until one is ready or `deadline_ms` passes (see BlockMode).
  // `retry_argv` replaces the command to re-run when a key becomes ready (XREAD resolves "$").
  void Block(const std::vector<std::string>& keys, int64_t deadline_ms, TimeoutReply on_timeout,
             const std::vector<std::string>* retry_argv = nullptr);

  // LLEN, HLEN, SCARD, ZCARD, STRLEN: the length of args[1] if it has type `t` (0 if absent).
  void ReplyLength(ValueType t);
  // SADD, SREM, HDEL, ZREM: after checking args[1]'s type, applies `op(key, arg)` to every
  // argument from args[2] on, announces `event` (of class `cls`) when a call returned true,
  // and replies how many did.
  template <class Op>
  void ReplyCountOfEach(ValueType t, int cls, std::string_view event, Op op) {
    bool wrong;
    Lookup(args[1], t, &wrong);
    if (wrong) return;
    long long n = 0;
    for (size_t i = 2; i < args.size(); i++) n += op(args[1], args[i]) ? 1 : 0;
    if (n) NotifyWrite(cls, event, args[1]);
    reply.Integer(n);
  }
  // A HELP subcommand's reply, as Redis words it: a line naming the command, `lines`, and a
  // line for HELP itself; one status line each.
  void ReplyHelp(std::initializer_list<const char*> lines);

  void Error(std::string_view msg) { reply.Error(msg); }
  void WrongArgs();  // "wrong number of arguments for '<name>' command"
  // A subcommand called with arguments it does not take, in Redis' words ("unknown subcommand
  // or wrong number of arguments for 'get'. Try SLOWLOG HELP.").
  void SubcommandSyntaxError();
};

// Glob matching as Redis' stringmatchlen (*, ?, [...], \ escapes), optionally case-folding.
bool GlobMatch(std::string_view pattern, std::string_view s, bool nocase = false);

// Options of SCAN, HSCAN, SSCAN and ZSCAN: cursor MATCH pattern COUNT n [TYPE t].
struct ScanOptions {
  uint64_t cursor = 0;
  std::string pattern;  // empty: everything
  size_t count = 10;
  std::string type;  // SCAN only
};
// Parses the cursor at args[cursor_index]; replies the error and returns nullopt.
std::optional<uint64_t> ParseScanCursor(CommandContext& ctx, size_t cursor_index);
// Parses args[cursor_index] and the options after it; replies the error and returns nullopt.
std::optional<ScanOptions> ParseScanOptions(CommandContext& ctx, size_t cursor_index,
                                            bool allow_type);
// Replies [next cursor, [elements...]].
void ReplyScan(CommandContext& ctx, uint64_t next, const std::vector<std::string>& items);

// HSCAN, SSCAN, ZSCAN key cursor [options], after the cursor was checked (ParseScanCursor) and
// the key looked up: one page over `dict` (a Dict, Hash or Set; nullptr for an absent key, which
// answers an empty page whatever the options say, as in Redis). For each element whose key matches,
// `emit(key, value, &out)` appends what the reply shows for it.
template <class Container, class Emit>
void ReplyDictScan(CommandContext& ctx, const Container* dict, Emit emit) {
  std::vector<std::string> out;
  uint64_t cursor = 0;
  if (dict) {
    auto o = ParseScanOptions(ctx, 2, false);
    if (!o) return;
    cursor = o->cursor;
    size_t matched = 0, steps = 0;
    do {
      cursor = dict->Scan(cursor, [&](std::string_view key, const auto& value) {
        if (!o->pattern.empty() && !GlobMatch(o->pattern, key)) return;
        emit(key, value, &out);
        matched++;
      });
    } while (cursor != 0 && matched < o->count && ++steps < o->count * 10);
  }
  ReplyScan(ctx, cursor, out);
}

// Arguments of LMPOP/BLMPOP/ZMPOP/BZMPOP: numkeys key... WHERE [COUNT n]. `first`/`second`
// are the two accepted WHERE words (LEFT/RIGHT, MIN/MAX).
struct MPopOptions {
  std::vector<std::string> keys;
  bool from_first = true;  // LEFT or MIN
  long long count = 1;
};
std::optional<MPopOptions> ParseMPopOptions(CommandContext& ctx, size_t numkeys_index,
                                            std::string_view first, std::string_view second);

// HRANDFIELD, SRANDMEMBER, ZRANDMEMBER: key [count [<with_word>]] (no word for SRANDMEMBER).
struct RandomRequest {
  bool has_count = false;
  long long count = 0;
  bool with = false;  // WITHVALUES / WITHSCORES
};
std::optional<RandomRequest> ParseRandomRequest(CommandContext& ctx, std::string_view with_word);

// A negative count asks for that many elements with repeats. Redis builds any such reply (-2^63
// + 1 stalls it for good); desaster refuses one of more than this many elements.
inline constexpr long long kMaxRandomRepeats = 1LL << 24;

// A random element of a non-empty container, as (key, value pointer).
template <class V>
std::pair<std::string_view, const V*> RandomEntry(const Dict<V>& dict, std::mt19937_64& rng) {
  const auto* node = dict.Random(rng);
  return {node->key(), &node->value};
}
inline auto RandomEntry(const Hash& hash, std::mt19937_64& rng) { return hash.Random(rng); }
inline auto RandomEntry(const Set& set, std::mt19937_64& rng) { return set.Random(rng); }

// `count` random elements of `c` (a Dict, Hash or Set) as (key, value pointer) pairs into *out:
// distinct ones (at most all) when count > 0, with repeats when count < 0. False (the error
// replied) past kMaxRandomRepeats.
template <class Container, class V>
bool PickRandom(CommandContext& ctx, const Container& c, long long count,
                std::vector<std::pair<std::string_view, const V*>>* out) {
  auto& rng = ctx.keyspace().rng();
  if (count < 0) {
    if (count < -kMaxRandomRepeats) {
      ctx.Error("ERR value is out of range: a reply with repeats holds at most 16777216 elements");
      return false;
    }
    for (long long i = 0; i < -count; i++) out->push_back(RandomEntry(c, rng));
    return true;
  }
  c.ForEach([&](std::string_view k, const V& v) { out->emplace_back(k, &v); });
  std::shuffle(out->begin(), out->end(), rng);
  if (static_cast<long long>(out->size()) > count) out->resize(static_cast<size_t>(count));
  return true;
}

// Strict integer/float parsing in Redis' rules (no spaces, no trailing garbage).
bool ParseInt64(std::string_view s, long long* out);
bool ParseDouble(std::string_view s, double* out);  // accepts inf/-inf/+inf, rejects nan
std::string FormatInt(long long v);
// INCRBYFLOAT/HINCRBYFLOAT arithmetic: long double, printed as Redis does ("%.17Lf" without
// trailing zeros).
bool ParseLongDouble(std::string_view s, long double* out);
std::string FormatLongDouble(long double v);
std::string Lower(std::string_view s);
// Whether `a` and `b` are the same ASCII text but for case (keywords, ACL rules, categories).
bool EqualIgnoringCase(std::string_view a, std::string_view b);
// `bytes` in lower-case hex.
std::string HexString(std::string_view bytes);
// The SHA-1 (script names) or SHA-256 (ACL passwords) of `data`, in lower-case hex.
std::string Sha1Hex(std::string_view data);
std::string Sha256Hex(std::string_view data);

}  // namespace desaster
