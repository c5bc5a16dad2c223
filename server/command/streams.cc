// Stream commands with Redis 7.0's semantics, consumer groups included: a group's position,
// consumers and pending entries are durable like the entries (Database's StreamGroup methods).
#include <climits>

#include "server/command/context.h"
#include "server/command/registry.h"

namespace desaster {
namespace {

constexpr std::string_view kInvalidId =
    "ERR Invalid stream ID specified as stream command argument";
// Redis trims "~" streams by whole nodes of this many entries (stream-node-max-entries).
constexpr size_t kNodeEntries = 100;

const Stream* StreamAt(CommandContext& ctx, std::string_view key, bool* wrong) {
  const Value* v = ctx.Lookup(key, ValueType::kStream, wrong);
  return v ? &v->stream() : nullptr;
}

// The stream at `key`; nullptr when there is none (replied "no such key") or the key holds
// another type (replied WRONGTYPE).
const Stream* ExistingStream(CommandContext& ctx, std::string_view key) {
  bool wrong;
  const Stream* s = StreamAt(ctx, key, &wrong);
  if (!s && !wrong) ctx.Error(err::kNoSuchKey);
  return s;
}

// "ms-seq" or "ms" (seq = `missing_seq`). False when malformed.
bool ParseId(std::string_view s, uint64_t missing_seq, StreamId* out) {
  auto number = [](std::string_view t, uint64_t* v) {
    if (t.empty() || t.size() > 20) return false;
    uint64_t n = 0;
    for (char c : t) {
      if (c < '0' || c > '9') return false;
      uint64_t next = n * 10 + static_cast<uint64_t>(c - '0');
      if (next / 10 != n) return false;
      n = next;
    }
    *v = n;
    return true;
  };
  size_t dash = s.find('-');
  if (dash == std::string_view::npos) {
    out->seq = missing_seq;
    return number(s, &out->ms);
  }
  return number(s.substr(0, dash), &out->ms) && number(s.substr(dash + 1), &out->seq);
}

// A range bound for XRANGE/XREVRANGE: "-", "+", "(id" (exclusive), "id", "ms".
bool ParseBound(std::string_view s, bool is_start, StreamId* out) {
  if (s == "-") return *out = StreamId{0, 0}, true;
  if (s == "+") return *out = StreamId{UINT64_MAX, UINT64_MAX}, true;
  bool exclusive = !s.empty() && s[0] == '(';
  if (exclusive) s.remove_prefix(1);
  if (!ParseId(s, is_start ? 0 : UINT64_MAX, out)) return false;
  if (exclusive) {
    if (is_start) {
      if (out->seq == UINT64_MAX) {
        if (out->ms == UINT64_MAX) return false;
        *out = StreamId{out->ms + 1, 0};
      } else {
        out->seq++;
      }
    } else {
      if (out->seq == 0) {
        if (out->ms == 0) return false;
        *out = StreamId{out->ms - 1, UINT64_MAX};
      } else {
        out->seq--;
      }
    }
  }
  return true;
}

void ReplyEntry(CommandContext& ctx, const StreamId& id, const std::vector<std::string>& fields) {
  ctx.reply.Array(2);
  ctx.reply.Bulk(id.ToString());
  ctx.reply.Array(fields.size());
  for (const auto& f : fields) ctx.reply.Bulk(f);
}

struct TrimSpec {
  bool active = false;
  bool by_minid = false;  // else MAXLEN
  bool approx = false;
  long long maxlen = 0;
  StreamId minid;
  long long limit = -1;  // entries removed at most (approximate trimming only)
};

// Parses MAXLEN|MINID [=|~] threshold [LIMIT count] at args[*i]; advances *i past it.
bool ParseTrim(CommandContext& ctx, size_t* i, TrimSpec* t) {
  t->active = true;
  t->by_minid = ctx.Is(*i, "MINID");
  size_t j = *i + 1;
  if (j < ctx.args.size() && (ctx.args[j] == "~" || ctx.args[j] == "=")) {
    t->approx = ctx.args[j] == "~";
    j++;
  }
  if (j >= ctx.args.size()) return ctx.Error(err::kSyntax), false;
  if (t->by_minid) {
    if (!ParseId(ctx.args[j], 0, &t->minid)) return ctx.Error(kInvalidId), false;
  } else {
    if (!ParseInt64(ctx.args[j], &t->maxlen)) return ctx.Error(err::kNotInteger), false;
    if (t->maxlen < 0) return ctx.Error("ERR The MAXLEN argument must be >= 0."), false;
  }
  j++;
  if (j + 1 < ctx.args.size() && ctx.Is(j, "LIMIT")) {
    if (!ParseInt64(ctx.args[j + 1], &t->limit) || t->limit < 0) {
      return ctx.Error("ERR The LIMIT argument must be >= 0."), false;
    }
    if (!t->approx) {
      return ctx.Error("ERR syntax error, LIMIT cannot be used without the special ~ option"),
             false;
    }
    j += 2;
  }
  *i = j;
  return true;
}

// Removes entries from the head as `t` says; returns how many. Approximate trimming removes
// whole nodes only (as Redis does), so it may leave more entries than asked.
long long Trim(CommandContext& ctx, const std::string& key, const TrimSpec& t) {
  bool wrong;
  const Stream* s = StreamAt(ctx, key, &wrong);
  if (!s) return 0;
  long long limit =
      t.approx ? (t.limit < 0 ? static_cast<long long>(kNodeEntries) * 100 : t.limit) : LLONG_MAX;
  std::vector<StreamId> doomed;
  size_t size = s->entries.size();
  for (auto it = s->entries.begin(); it != s->entries.end(); ++it) {
    bool excess =
        t.by_minid ? it->first < t.minid : size - doomed.size() > static_cast<size_t>(t.maxlen);
    if (!excess) break;
    doomed.push_back(it->first);
  }
  if (t.approx) {
    // Only whole nodes go, and at most `limit` entries. The last node is partly filled: it
    // goes only with all the others.
    size_t whole = doomed.size() == size ? size : doomed.size() / kNodeEntries * kNodeEntries;
    if (static_cast<long long>(whole) > limit)
      whole = static_cast<size_t>(limit) / kNodeEntries * kNodeEntries;
    doomed.resize(whole);
  }
  for (const auto& id : doomed) ctx.db().StreamDelete(key, id);
  return static_cast<long long>(doomed.size());
}

void XAdd(CommandContext& ctx) {
  const std::string& key = ctx.args[1];
  bool nomkstream = false;
  TrimSpec trim;
  size_t i = 2;
  for (; i < ctx.args.size(); i++) {
    if (ctx.Is(i, "NOMKSTREAM")) {
      nomkstream = true;
    } else if (ctx.Is(i, "MAXLEN") || ctx.Is(i, "MINID")) {
      if (!ParseTrim(ctx, &i, &trim)) return;
      i--;
    } else {
      break;
    }
  }
  if (i >= ctx.args.size()) return ctx.WrongArgs();
  const std::string& id_arg = ctx.args[i];
  bool auto_seq = false, auto_all = id_arg == "*";
  StreamId id;
  if (!auto_all) {
    std::string_view text = id_arg;
    if (text.size() > 2 && text.substr(text.size() - 2) == "-*") {
      auto_seq = true;
      text.remove_suffix(2);
    }
    if (!ParseId(text, 0, &id)) return ctx.Error(kInvalidId);
  }
  // As Redis: the ID's syntax, then the number of field/value arguments, then 0-0.
  if ((ctx.args.size() - i - 1) < 2 || (ctx.args.size() - i - 1) % 2) return ctx.WrongArgs();
  if (!auto_all && !auto_seq && id == StreamId{0, 0}) {
    return ctx.Error("ERR The ID specified in XADD must be greater than 0-0");
  }
  bool wrong;
  const Stream* s = StreamAt(ctx, key, &wrong);
  if (wrong) return;
  if (!s && nomkstream) return ctx.reply.NullBulk();
  StreamId last = s ? s->meta.last_id : StreamId{};
  if (auto_all) {
    uint64_t now = static_cast<uint64_t>(ctx.now_ms());
    id = now > last.ms ? StreamId{now, 0} : StreamId{last.ms, last.seq + 1};
  } else if (auto_seq) {
    if (id.ms < last.ms || (id.ms == last.ms && last.seq == UINT64_MAX && s)) {
      return ctx.Error(
          "ERR The ID specified in XADD is equal or smaller than the target stream top item");
    }
    id.seq = (s && id.ms == last.ms) ? last.seq + 1 : 0;
  }
  if (s && !(id > last)) {
    return ctx.Error(
        "ERR The ID specified in XADD is equal or smaller than the target stream top item");
  }
  std::vector<std::string> fields(ctx.args.begin() + static_cast<ptrdiff_t>(i + 1), ctx.args.end());
  ctx.db().StreamAdd(key, id, std::move(fields));
  ctx.Notify(event::kStream, "xadd", key);
  if (trim.active && Trim(ctx, key, trim) > 0) ctx.Notify(event::kStream, "xtrim", key);
  ctx.reply.Bulk(id.ToString());
}

void XLen(CommandContext& ctx) { ctx.ReplyLength(ValueType::kStream); }

void RangeGeneric(CommandContext& ctx, bool rev) {
  StreamId start, end;
  if (!ParseBound(ctx.args[rev ? 3 : 2], true, &start) ||
      !ParseBound(ctx.args[rev ? 2 : 3], false, &end)) {
    return ctx.Error(kInvalidId);
  }
  long long count = -1;
  if (ctx.args.size() > 4) {
    if (ctx.args.size() != 6 || !ctx.Is(4, "COUNT")) return ctx.Error(err::kSyntax);
    auto c = ctx.Int(5);
    if (!c) return;
    count = *c < 0 ? 0 : *c;
  }
  bool wrong;
  const Stream* s = StreamAt(ctx, ctx.args[1], &wrong);
  if (wrong) return;
  if (s && count == 0) return ctx.reply.NullArray();  // as Redis, after the key's lookup
  std::vector<std::pair<StreamId, const std::vector<std::string>*>> out;
  if (s && start <= end) {
    if (!rev) {
      for (auto it = s->entries.lower_bound(start); it != s->entries.end() && it->first <= end;
           ++it) {
        out.emplace_back(it->first, &it->second);
        if (count > 0 && static_cast<long long>(out.size()) >= count) break;
      }
    } else {
      for (auto it = s->entries.upper_bound(end); it != s->entries.begin();) {
        --it;
        if (it->first < start) break;
        out.emplace_back(it->first, &it->second);
        if (count > 0 && static_cast<long long>(out.size()) >= count) break;
      }
    }
  }
  ctx.reply.Array(out.size());
  for (const auto& [id, fields] : out) ReplyEntry(ctx, id, *fields);
}
void XRange(CommandContext& ctx) { RangeGeneric(ctx, false); }
void XRevRange(CommandContext& ctx) { RangeGeneric(ctx, true); }

void XDel(CommandContext& ctx) {
  bool wrong;
  const Stream* s = StreamAt(ctx, ctx.args[1], &wrong);
  if (wrong) return;
  if (!s) return ctx.reply.Integer(0);  // as Redis: the key before the IDs
  std::vector<StreamId> ids;
  for (size_t i = 2; i < ctx.args.size(); i++) {
    StreamId id;
    if (!ParseId(ctx.args[i], 0, &id)) return ctx.Error(kInvalidId);
    ids.push_back(id);
  }
  long long n = 0;
  for (const auto& id : ids) n += ctx.db().StreamDelete(ctx.args[1], id) ? 1 : 0;
  if (n) ctx.Notify(event::kStream, "xdel", ctx.args[1]);
  ctx.reply.Integer(n);
}

void XTrim(CommandContext& ctx) {
  if (!ctx.Is(2, "MAXLEN") && !ctx.Is(2, "MINID")) return ctx.Error(err::kSyntax);
  TrimSpec trim;
  size_t i = 2;
  if (!ParseTrim(ctx, &i, &trim)) return;
  if (i != ctx.args.size()) return ctx.Error(err::kSyntax);
  bool wrong;
  StreamAt(ctx, ctx.args[1], &wrong);
  if (wrong) return;
  long long trimmed = Trim(ctx, ctx.args[1], trim);
  if (trimmed) ctx.Notify(event::kStream, "xtrim", ctx.args[1]);
  ctx.reply.Integer(trimmed);
}

// ---- consumer groups ----

// "-" and "+" as well as "ms-seq" and "ms" (Redis' non-strict IDs: XGROUP SETID, ranges).
bool ParseIdOrEdge(std::string_view s, uint64_t missing_seq, StreamId* out) {
  if (s == "-") return *out = StreamId{0, 0}, true;
  if (s == "+") return *out = StreamId{UINT64_MAX, UINT64_MAX}, true;
  return ParseId(s, missing_seq, out);
}

// An interval bound of XPENDING and XAUTOCLAIM: "(id" excludes it. Replies the error.
bool ParseInterval(CommandContext& ctx, size_t i, bool is_start, StreamId* out) {
  std::string_view s = ctx.args[i];
  bool exclusive = s.size() > 1 && s[0] == '(';
  if (exclusive ? !ParseId(s.substr(1), is_start ? 0 : UINT64_MAX, out)
                : !ParseIdOrEdge(s, is_start ? 0 : UINT64_MAX, out)) {
    return ctx.Error(kInvalidId), false;
  }
  if (!exclusive) return true;
  StreamId edge = is_start ? StreamId{UINT64_MAX, UINT64_MAX} : StreamId{0, 0};
  if (*out == edge) {
    return ctx.Error(is_start ? "ERR invalid start ID for the interval"
                              : "ERR invalid end ID for the interval"),
           false;
  }
  if (is_start) {
    *out = out->seq == UINT64_MAX ? StreamId{out->ms + 1, 0} : StreamId{out->ms, out->seq + 1};
  } else {
    *out = out->seq == 0 ? StreamId{out->ms - 1, UINT64_MAX} : StreamId{out->ms, out->seq - 1};
  }
  return true;
}

const StreamGroup* GroupOf(const Stream* s, std::string_view name) {
  if (!s) return nullptr;
  auto it = s->groups.find(name);
  return it == s->groups.end() ? nullptr : &it->second;
}

// A name in an error text, as Redis formats it (with %s: up to a NUL byte).
std::string AsCString(std::string_view name) {
  return std::string(name.substr(0, name.find('\0')));
}

// How long ago `then` was, never negative; a delivery time a RESTORE payload brought may be
// anything, so the difference saturates instead of overflowing.
long long IdleMs(int64_t now, int64_t then) {
  long long idle;
  if (__builtin_sub_overflow(now, then, &idle)) return then < 0 ? LLONG_MAX : 0;
  return std::max(idle, 0LL);
}

void ReplyNoGroup(CommandContext& ctx, std::string_view key, std::string_view group,
                  std::string_view context = {}) {
  ctx.Error("NOGROUP No such key '" + AsCString(key) + "' or consumer group '" + AsCString(group) +
            "'" + std::string(context));
}

void ReplyNoSuchGroup(CommandContext& ctx, std::string_view key, std::string_view group) {
  ctx.Error("NOGROUP No such consumer group '" + AsCString(group) + "' for key name '" +
            AsCString(key) + "'");
}

// Whether an entry deleted from the middle (XDEL) may lie at or after `from`, so that counting
// entries from a group's position is no longer exact.
bool HasTombstonesFrom(const Stream& s, StreamId from) {
  if (s.entries.empty() || s.meta.max_deleted == StreamId{}) return false;
  if (s.entries.begin()->first > s.meta.max_deleted) return false;
  return from <= s.meta.max_deleted;
}

// The "entries-read" and "lag" fields of XINFO's group descriptions.
void ReplyEntriesReadAndLag(CommandContext& ctx, const Stream& s, const StreamGroup& g) {
  ctx.reply.Bulk("entries-read");
  g.entries_read == -1 ? ctx.reply.NullBulk() : ctx.reply.Integer(g.entries_read);
  ctx.reply.Bulk("lag");
  if (s.meta.entries_added == 0) return ctx.reply.Integer(0);
  int64_t read = g.entries_read != -1 && !HasTombstonesFrom(s, g.last_delivered)
                     ? g.entries_read
                     : EntriesUpTo(s, g.last_delivered);
  if (read == -1) return ctx.reply.NullBulk();
  ctx.reply.Integer(static_cast<long long>(s.meta.entries_added) - read);
}

void ReplyEntryOrId(CommandContext& ctx, const Stream& s, StreamId id, bool just_id) {
  if (just_id) return ctx.reply.Bulk(id.ToString());
  ReplyEntry(ctx, id, s.entries.at(id));
}

// Delivers entries to `consumer` of `group`, as XREADGROUP: its own pending entries after
// `after` (history), or the entries the group has not delivered yet (">"), at most `count` (0:
// all). Replies the entries.
void Deliver(CommandContext& ctx, const std::string& key, const Stream& s, const std::string& group,
             const std::string& consumer, bool history, StreamId after, long long count,
             bool noack) {
  Database& db = ctx.db();
  const StreamGroup& g = s.groups.find(group)->second;
  if (db.StreamConsumerAdd(key, group, consumer)) {
    ctx.Notify(event::kStream, "xgroup-createconsumer", key);
  } else {
    db.StreamConsumerSeen(key, group, consumer);
  }
  auto limit = count > 0 ? static_cast<size_t>(count) : SIZE_MAX;
  int64_t now = ctx.now_ms();
  if (history) {
    // The consumer's pending entries; one deleted since shows as its ID and a null.
    std::vector<StreamId> ids;
    const std::set<StreamId>& mine = g.consumers.find(consumer)->second.pending;
    for (auto it = mine.upper_bound(after); it != mine.end() && ids.size() < limit; ++it) {
      ids.push_back(*it);
    }
    ctx.reply.Array(ids.size());
    for (const StreamId& id : ids) {
      auto entry = s.entries.find(id);
      if (entry == s.entries.end()) {
        ctx.reply.Array(2);
        ctx.reply.Bulk(id.ToString());
        ctx.reply.NullArray();
        continue;
      }
      ReplyEntry(ctx, id, entry->second);
      StreamPending p = g.pending.at(id);
      p.delivery_ms = now;
      p.deliveries++;
      db.StreamPendingSet(key, group, id, std::move(p));
    }
    return;
  }
  StreamId last = g.last_delivered;
  int64_t read = g.entries_read;
  std::vector<StreamId> ids;
  for (auto it = s.entries.upper_bound(after); it != s.entries.end() && ids.size() < limit; ++it) {
    ids.push_back(it->first);
    if (it->first > last) {
      if (read != -1 && !HasTombstonesFrom(s, it->first)) {
        read++;
      } else if (s.meta.entries_added) {
        read = EntriesUpTo(s, it->first);
      }
      last = it->first;
    }
  }
  ctx.reply.Array(ids.size());
  for (const StreamId& id : ids) {
    ReplyEntry(ctx, id, s.entries.at(id));
    if (!noack) db.StreamPendingSet(key, group, id, StreamPending{consumer, now, 1});
  }
  if (last != g.last_delivered || read != g.entries_read) {
    db.StreamGroupSet(key, group, last, read);
  }
}

// XREAD [COUNT n] [BLOCK ms] STREAMS key... id...
// XREADGROUP GROUP group consumer [COUNT n] [BLOCK ms] [NOACK] STREAMS key... id...
// Checks in Redis' order: the options, then each key's type, group and ID in turn.
void ReadGeneric(CommandContext& ctx, bool xreadgroup) {
  long long count = 0;
  int64_t deadline = -1;  // -1: do not block
  size_t streams = 0;
  const std::string *group = nullptr, *consumer = nullptr;
  bool noack = false;
  for (size_t i = 1; i < ctx.args.size(); i++) {
    size_t more = ctx.args.size() - i - 1;
    if (ctx.Is(i, "BLOCK") && more) {
      long long ms;
      if (!ParseInt64(ctx.args[++i], &ms)) {
        return ctx.Error("ERR timeout is not an integer or out of range");
      }
      if (ms < 0) return ctx.Error(err::kTimeoutNegative);
      deadline = ctx.DeadlineAfterMs(ms);
    } else if (ctx.Is(i, "COUNT") && more) {
      auto c = ctx.Int(++i);
      if (!c) return;
      count = std::max(*c, 0LL);
    } else if (ctx.Is(i, "STREAMS") && more) {
      streams = i + 1;
      if (more % 2) {
        return ctx.Error(  // "XREAD" for XREADGROUP too, as Redis words it
            "ERR Unbalanced XREAD list of streams: for each stream key an ID or '$' must be "
            "specified.");
      }
      break;
    } else if (ctx.Is(i, "GROUP") && more >= 2) {
      if (!xreadgroup) {
        return ctx.Error(
            "ERR The GROUP option is only supported by XREADGROUP. You called "
            "XREAD instead.");
      }
      group = &ctx.args[i + 1];
      consumer = &ctx.args[i + 2];
      i += 2;
    } else if (ctx.Is(i, "NOACK")) {
      if (!xreadgroup) {
        return ctx.Error(
            "ERR The NOACK option is only supported by XREADGROUP. You called "
            "XREAD instead.");
      }
      noack = true;
    } else {
      return ctx.Error(err::kSyntax);
    }
  }
  if (streams == 0) return ctx.Error(err::kSyntax);
  if (xreadgroup && !group) return ctx.Error("ERR Missing GROUP option for XREADGROUP");
  size_t n = (ctx.args.size() - streams) / 2;
  std::vector<std::string> keys(ctx.args.begin() + static_cast<ptrdiff_t>(streams),
                                ctx.args.begin() + static_cast<ptrdiff_t>(streams + n));
  // The ID each read starts after; for ">" (new entries of the group) that is the group's
  // last delivered ID, looked up when served.
  std::vector<StreamId> after(n);
  std::vector<bool> fresh(n);
  std::vector<std::string> argv = ctx.args;  // with '$' resolved, for blocking
  for (size_t k = 0; k < n; k++) {
    const std::string& id = ctx.args[streams + n + k];
    if (xreadgroup && ctx.block_mode == BlockMode::kRetrying) {
      // Blocked, it waits for a stream at the key (deleted or replaced meanwhile, as Redis
      // 7.0 does), and fails once that stream has no such group.
      const Value* v = ctx.db().Find(keys[k]);
      if (!v || v->type() != ValueType::kStream) continue;
      if (!GroupOf(&v->stream(), *group)) {
        return ctx.Error("NOGROUP the consumer group this client was blocked on no longer exists");
      }
    }
    bool wrong;
    const Stream* s = StreamAt(ctx, keys[k], &wrong);
    if (wrong) return;
    if (group && !GroupOf(s, *group)) {
      return ReplyNoGroup(ctx, keys[k], *group, " in XREADGROUP with GROUP option");
    }
    if (id == "$") {
      if (xreadgroup) {
        return ctx.Error(
            "ERR The $ ID is meaningless in the context of XREADGROUP: you want to read the "
            "history of this consumer by specifying a proper ID, or use the > ID to get new "
            "messages. The $ ID would just return an empty result set.");
      }
      after[k] = s ? s->meta.last_id : StreamId{};
      argv[streams + n + k] = after[k].ToString();
    } else if (id == ">") {
      if (!xreadgroup) {
        return ctx.Error(
            "ERR The > ID can be specified only when calling XREADGROUP using the "
            "GROUP <group> <consumer> option.");
      }
      fresh[k] = true;
    } else if (!ParseId(id, 0, &after[k])) {
      return ctx.Error(kInvalidId);
    }
  }
  // The streams it can serve now: history always, otherwise entries after the ID.
  std::vector<size_t> ready;
  for (size_t k = 0; k < n; k++) {
    bool wrong;
    const Stream* s = StreamAt(ctx, keys[k], &wrong);
    if (!s) continue;
    if (group && fresh[k]) after[k] = GroupOf(s, *group)->last_delivered;
    bool has_new = !s->entries.empty() && s->entries.rbegin()->first > after[k];
    if ((group && !fresh[k]) || has_new) ready.push_back(k);
  }
  if (ready.empty()) {
    if (deadline < 0) return ctx.reply.NullArray();
    return ctx.Block(keys, deadline, TimeoutReply::kNullArray, &argv);
  }
  ctx.reply.protocol() >= 3 ? ctx.reply.Map(ready.size()) : ctx.reply.Array(ready.size());
  for (size_t k : ready) {
    bool wrong;
    const Stream* s = StreamAt(ctx, keys[k], &wrong);
    if (ctx.reply.protocol() < 3) ctx.reply.Array(2);
    ctx.reply.Bulk(keys[k]);
    if (group) {
      Deliver(ctx, keys[k], *s, *group, *consumer, !fresh[k], after[k], count, noack);
      continue;
    }
    std::vector<std::pair<StreamId, const std::vector<std::string>*>> out;
    for (auto it = s->entries.upper_bound(after[k]); it != s->entries.end(); ++it) {
      out.emplace_back(it->first, &it->second);
      if (count > 0 && static_cast<long long>(out.size()) >= count) break;
    }
    ctx.reply.Array(out.size());
    for (const auto& [id, fields] : out) ReplyEntry(ctx, id, *fields);
  }
}
void XRead(CommandContext& ctx) { ReadGeneric(ctx, false); }
void XReadGroup(CommandContext& ctx) { ReadGeneric(ctx, true); }

// XGROUP CREATE|SETID|DESTROY|CREATECONSUMER|DELCONSUMER key group ...: one handler, as in
// Redis, so the options, the key and the group are checked in its order for every subcommand.
void XGroup(CommandContext& ctx) {
  bool create = ctx.Is(1, "CREATE"), setid = ctx.Is(1, "SETID");
  bool mkstream = false;
  long long entries_read = -1;
  for (size_t i = 5; i < ctx.args.size();) {
    if (create && ctx.Is(i, "MKSTREAM")) {
      mkstream = true;
      i++;
    } else if ((create || setid) && ctx.Is(i, "ENTRIESREAD") && i + 1 < ctx.args.size()) {
      auto n = ctx.Int(i + 1);
      if (!n) return;
      if (*n < -1) return ctx.Error("ERR value for ENTRIESREAD must be positive or -1");
      entries_read = *n;
      i += 2;
    } else {
      return ctx.SubcommandSyntaxError();
    }
  }
  const std::string &key = ctx.args[2], &group = ctx.args[3];
  bool wrong;
  const Stream* s = StreamAt(ctx, key, &wrong);
  if (wrong) return;
  const StreamGroup* g = GroupOf(s, group);
  if (!mkstream) {
    if (!s) {
      return ctx.Error(
          "ERR The XGROUP subcommand requires the key to exist. Note that for CREATE you may "
          "want to use the MKSTREAM option to create an empty stream automatically.");
    }
    if (!g && !create && !ctx.Is(1, "DESTROY")) {
      return ReplyNoSuchGroup(ctx, key, group);
    }
  }
  Database& db = ctx.db();
  size_t argc = ctx.args.size();
  if (create && argc <= 8) {
    StreamId id;
    if (ctx.args[4] == "$") {
      id = s ? s->meta.last_id : StreamId{};
    } else if (!ParseId(ctx.args[4], 0, &id)) {
      return ctx.Error(kInvalidId);
    }
    if (!s) db.StreamSetMeta(key, StreamMeta{});  // MKSTREAM: an empty stream
    if (g) return ctx.Error("BUSYGROUP Consumer Group name already exists");
    db.StreamGroupSet(key, group, id, entries_read);
    ctx.Notify(event::kStream, "xgroup-create", key);
    ctx.reply.Ok();
  } else if (setid && (argc == 5 || argc == 7)) {
    StreamId id;
    if (ctx.args[4] == "$") {
      id = s->meta.last_id;
    } else if (!ParseIdOrEdge(ctx.args[4], 0, &id)) {
      return ctx.Error(kInvalidId);
    }
    db.StreamGroupSet(key, group, id, entries_read);
    ctx.Notify(event::kStream, "xgroup-setid", key);
    ctx.reply.Ok();
  } else if (ctx.Is(1, "DESTROY") && argc == 4) {
    if (g) {
      db.StreamGroupDelete(key, group);
      ctx.Notify(event::kStream, "xgroup-destroy", key);
    }
    ctx.reply.Integer(g ? 1 : 0);
  } else if (ctx.Is(1, "CREATECONSUMER") && argc == 5) {
    bool created = db.StreamConsumerAdd(key, group, ctx.args[4]);
    if (created) ctx.Notify(event::kStream, "xgroup-createconsumer", key);
    ctx.reply.Integer(created ? 1 : 0);
  } else if (ctx.Is(1, "DELCONSUMER") && argc == 5) {
    bool existed = g->consumers.contains(ctx.args[4]);
    size_t pending = db.StreamConsumerDelete(key, group, ctx.args[4]);
    if (existed) ctx.Notify(event::kStream, "xgroup-delconsumer", key);
    ctx.reply.Integer(static_cast<long long>(pending));
  } else {
    ctx.SubcommandSyntaxError();
  }
}

void XGroupHelp(CommandContext& ctx) {
  ctx.ReplyHelp({"CREATE <key> <groupname> <id|$> [option]",
                 "    Create a new consumer group. Options are:", "    * MKSTREAM",
                 "      Create the empty stream if it does not exist.",
                 "    * ENTRIESREAD entries_read",
                 "      Set the group's entries_read counter (internal use).",
                 "CREATECONSUMER <key> <groupname> <consumer>",
                 "    Create a new consumer in the specified group.",
                 "DELCONSUMER <key> <groupname> <consumer>", "    Remove the specified consumer.",
                 "DESTROY <key> <groupname>", "    Remove the specified group.",
                 "SETID <key> <groupname> <id|$> [ENTRIESREAD entries_read]",
                 "    Set the current group ID and entries_read counter."});
}

// XACK key group id...: how many of the IDs were pending (all IDs are parsed first, so a bad
// one acknowledges nothing).
void XAck(CommandContext& ctx) {
  bool wrong;
  const Stream* s = StreamAt(ctx, ctx.args[1], &wrong);
  if (wrong) return;
  if (!GroupOf(s, ctx.args[2])) return ctx.reply.Integer(0);
  std::vector<StreamId> ids(ctx.args.size() - 3);
  for (size_t i = 3; i < ctx.args.size(); i++) {
    if (!ParseId(ctx.args[i], 0, &ids[i - 3])) return ctx.Error(kInvalidId);
  }
  long long acked = 0;
  for (const StreamId& id : ids) {
    acked += ctx.db().StreamPendingDelete(ctx.args[1], ctx.args[2], id) ? 1 : 0;
  }
  ctx.reply.Integer(acked);
}

// XPENDING key group [[IDLE min-idle] start end count [consumer]]
void XPending(CommandContext& ctx) {
  size_t argc = ctx.args.size();
  if (argc != 3 && (argc < 6 || argc > 9)) return ctx.Error(err::kSyntax);
  long long min_idle = 0, count = 0;
  StreamId start, end;
  const std::string* consumer = nullptr;
  if (argc >= 6) {
    size_t at = 3;
    if (ctx.Is(3, "IDLE")) {
      auto idle = ctx.Int(4);
      if (!idle) return;
      min_idle = *idle;
      if (argc < 8) return ctx.Error(err::kSyntax);
      at += 2;
    }
    auto c = ctx.Int(at + 2);
    if (!c) return;
    count = std::max(*c, 0LL);
    if (!ParseInterval(ctx, at, true, &start) || !ParseInterval(ctx, at + 1, false, &end)) return;
    if (at + 3 < argc) consumer = &ctx.args[at + 3];
  }
  bool wrong;
  const Stream* s = StreamAt(ctx, ctx.args[1], &wrong);
  if (wrong) return;
  const StreamGroup* g = GroupOf(s, ctx.args[2]);
  if (!g) return ReplyNoGroup(ctx, ctx.args[1], ctx.args[2]);
  if (argc == 3) {
    ctx.reply.Array(4);
    ctx.reply.Integer(static_cast<long long>(g->pending.size()));
    if (g->pending.empty()) {
      ctx.reply.NullBulk();
      ctx.reply.NullBulk();
      return ctx.reply.NullArray();
    }
    ctx.reply.Bulk(g->pending.begin()->first.ToString());
    ctx.reply.Bulk(g->pending.rbegin()->first.ToString());
    size_t owners = 0;
    for (const auto& [name, c] : g->consumers) owners += c.pending.empty() ? 0 : 1;
    ctx.reply.Array(owners);
    for (const auto& [name, c] : g->consumers) {
      if (c.pending.empty()) continue;
      ctx.reply.Array(2);
      ctx.reply.Bulk(name);
      ctx.reply.Bulk(std::to_string(c.pending.size()));
    }
    return;
  }
  std::vector<StreamId> ids;
  if (consumer) {
    auto c = g->consumers.find(*consumer);
    if (c == g->consumers.end()) return ctx.reply.Array(0);
    for (auto it = c->second.pending.lower_bound(start); it != c->second.pending.end(); ++it) {
      ids.push_back(*it);
    }
  } else {
    for (auto it = g->pending.lower_bound(start); it != g->pending.end(); ++it) {
      ids.push_back(it->first);
    }
  }
  int64_t now = ctx.now_ms();
  std::vector<std::pair<StreamId, const StreamPending*>> out;
  for (const StreamId& id : ids) {
    if (static_cast<long long>(out.size()) >= count || id > end) break;
    const StreamPending& p = g->pending.at(id);
    if (min_idle && IdleMs(now, p.delivery_ms) < min_idle) continue;
    out.emplace_back(id, &p);
  }
  ctx.reply.Array(out.size());
  for (const auto& [id, p] : out) {
    ctx.reply.Array(4);
    ctx.reply.Bulk(id.ToString());
    ctx.reply.Bulk(p->consumer);
    ctx.reply.Integer(IdleMs(now, p->delivery_ms));
    ctx.reply.Integer(static_cast<long long>(p->deliveries));
  }
}

// Gives the pending entry `id` to `consumer` (created when needed), delivered at `when`, as
// XCLAIM and XAUTOCLAIM do; `p` is its entry (a new one for XCLAIM FORCE).
void Claim(CommandContext& ctx, const std::string& key, const std::string& group,
           const std::string& consumer, StreamId id, StreamPending p, int64_t when,
           long long retry_count, bool just_id) {
  Database& db = ctx.db();
  if (db.StreamConsumerAdd(key, group, consumer)) {
    ctx.Notify(event::kStream, "xgroup-createconsumer", key);
  } else {
    db.StreamConsumerSeen(key, group, consumer);
  }
  p.consumer = consumer;
  p.delivery_ms = when;
  if (retry_count >= 0) {
    p.deliveries = static_cast<uint64_t>(retry_count);
  } else if (!just_id) {
    p.deliveries++;
  }
  db.StreamPendingSet(key, group, id, std::move(p));
}

// XCLAIM key group consumer min-idle-time id... [IDLE ms] [TIME unix-ms] [RETRYCOUNT n]
// [FORCE] [JUSTID] [LASTID id]
void XClaim(CommandContext& ctx) {
  const std::string &key = ctx.args[1], &group = ctx.args[2], &consumer = ctx.args[3];
  bool wrong;
  const Stream* s = StreamAt(ctx, key, &wrong);
  if (wrong) return;
  const StreamGroup* g = GroupOf(s, group);
  if (!g) return ReplyNoGroup(ctx, key, group);
  auto min_idle = ctx.Int(4, "ERR Invalid min-idle-time argument for XCLAIM");
  if (!min_idle) return;
  std::vector<StreamId> ids;
  size_t i = 5;
  for (StreamId id; i < ctx.args.size() && ParseId(ctx.args[i], 0, &id); i++) ids.push_back(id);
  int64_t now = ctx.now_ms(), when = -1;
  long long retry_count = -1;
  bool force = false, just_id = false;
  StreamId last_id;
  for (; i < ctx.args.size(); i++) {
    bool more = i + 1 < ctx.args.size();
    if (ctx.Is(i, "FORCE")) {
      force = true;
    } else if (ctx.Is(i, "JUSTID")) {
      just_id = true;
    } else if (ctx.Is(i, "IDLE") && more) {
      auto idle = ctx.Int(++i, "ERR Invalid IDLE option argument for XCLAIM");
      if (!idle) return;
      // As Redis: a delivery time before 0 or after now (a negative or huge IDLE) is now.
      when = *idle < 0 || *idle > now ? now : now - *idle;
    } else if (ctx.Is(i, "TIME") && more) {
      auto time = ctx.Int(++i, "ERR Invalid TIME option argument for XCLAIM");
      if (!time) return;
      when = *time;
    } else if (ctx.Is(i, "RETRYCOUNT") && more) {
      auto n = ctx.Int(++i, "ERR Invalid RETRYCOUNT option argument for XCLAIM");
      if (!n) return;
      retry_count = *n;
    } else if (ctx.Is(i, "LASTID") && more) {
      if (!ParseId(ctx.args[++i], 0, &last_id)) return ctx.Error(kInvalidId);
    } else {
      return ctx.Error("ERR Unrecognized XCLAIM option '" + ctx.args[i] + "'");
    }
  }
  Database& db = ctx.db();
  if (last_id > g->last_delivered) db.StreamGroupSet(key, group, last_id, g->entries_read);
  if (when < 0 || when > now) when = now;  // as Redis, -1 (no option given) too
  std::vector<StreamId> claimed;
  for (const StreamId& id : ids) {
    auto pending = g->pending.find(id);
    if (!s->entries.contains(id)) {  // deleted: it leaves the pending list
      if (pending != g->pending.end()) db.StreamPendingDelete(key, group, id);
      continue;
    }
    if (pending == g->pending.end() && !force) continue;
    StreamPending p = pending == g->pending.end() ? StreamPending{} : pending->second;
    if (pending != g->pending.end() && *min_idle > 0 && IdleMs(now, p.delivery_ms) < *min_idle) {
      continue;
    }
    Claim(ctx, key, group, consumer, id, std::move(p), when, retry_count, just_id);
    claimed.push_back(id);
  }
  ctx.reply.Array(claimed.size());
  for (const StreamId& id : claimed) ReplyEntryOrId(ctx, *s, id, just_id);
}

// XAUTOCLAIM key group consumer min-idle-time start [COUNT count] [JUSTID]: claims up to
// `count` entries idle that long from `start` on, examining at most ten times as many; replies
// where to go on (0-0: the end), the claimed entries, and the IDs of deleted entries it dropped
// from the pending list.
void XAutoClaim(CommandContext& ctx) {
  const std::string &key = ctx.args[1], &group = ctx.args[2], &consumer = ctx.args[3];
  auto min_idle = ctx.Int(4, "ERR Invalid min-idle-time argument for XAUTOCLAIM");
  if (!min_idle) return;
  StreamId start;
  if (!ParseInterval(ctx, 5, true, &start)) return;
  long long count = 100;
  bool just_id = false;
  for (size_t i = 6; i < ctx.args.size(); i++) {
    if (ctx.Is(i, "COUNT") && i + 1 < ctx.args.size()) {
      auto n = ctx.Int(++i, "ERR COUNT must be > 0");
      if (!n) return;
      if (*n < 1 || *n > LONG_MAX / 16) return ctx.Error("ERR COUNT must be > 0");
      count = *n;
    } else if (ctx.Is(i, "JUSTID")) {
      just_id = true;
    } else {
      return ctx.Error(err::kSyntax);
    }
  }
  bool wrong;
  const Stream* s = StreamAt(ctx, key, &wrong);
  if (wrong) return;
  const StreamGroup* g = GroupOf(s, group);
  if (!g) return ReplyNoGroup(ctx, key, group);
  int64_t now = ctx.now_ms();
  long long attempts = count * 10;
  std::vector<StreamId> claimed, deleted;
  auto it = g->pending.lower_bound(start);
  while (attempts-- > 0 && count > 0 && it != g->pending.end()) {
    StreamId id = it->first;
    StreamPending p = it->second;
    ++it;  // before the entry changes or goes
    if (!s->entries.contains(id)) {
      ctx.db().StreamPendingDelete(key, group, id);
      deleted.push_back(id);
      count--;
      continue;
    }
    if (*min_idle > 0 && IdleMs(now, p.delivery_ms) < *min_idle) continue;
    Claim(ctx, key, group, consumer, id, std::move(p), now, -1, just_id);
    claimed.push_back(id);
    count--;
  }
  ctx.reply.Array(3);
  ctx.reply.Bulk(it == g->pending.end() ? "0-0" : it->first.ToString());
  ctx.reply.Array(claimed.size());
  for (const StreamId& id : claimed) ReplyEntryOrId(ctx, *s, id, just_id);
  ctx.reply.Array(deleted.size());
  for (const StreamId& id : deleted) ctx.reply.Bulk(id.ToString());
}

// XSETID key last-id [ENTRIESADDED entries-added] [MAXDELETEDID max-deleted-id]
void XSetId(CommandContext& ctx) {
  StreamId id, max_deleted;
  if (!ParseId(ctx.args[2], 0, &id)) return ctx.Error(kInvalidId);
  long long entries_added = -1;
  for (size_t i = 3; i < ctx.args.size(); i += 2) {
    bool more = i + 1 < ctx.args.size();
    if (ctx.Is(i, "ENTRIESADDED") && more) {
      auto n = ctx.Int(i + 1);
      if (!n) return;
      if (*n < 0) return ctx.Error("ERR entries_added must be positive");
      entries_added = *n;
    } else if (ctx.Is(i, "MAXDELETEDID") && more) {
      if (!ParseId(ctx.args[i + 1], 0, &max_deleted)) return ctx.Error(kInvalidId);
      if (id < max_deleted) {
        return ctx.Error(
            "ERR The ID specified in XSETID is smaller than the provided max_deleted_entry_id");
      }
    } else {
      return ctx.Error(err::kSyntax);
    }
  }
  const Stream* s = ExistingStream(ctx, ctx.args[1]);
  if (!s) return;
  if (!s->entries.empty()) {
    if (id < s->entries.rbegin()->first) {
      return ctx.Error("ERR The ID specified in XSETID is smaller than the target stream top item");
    }
    if (entries_added != -1 && s->entries.size() > static_cast<size_t>(entries_added)) {
      return ctx.Error(
          "ERR The entries_added specified in XSETID is smaller than the target stream length");
    }
  }
  StreamMeta meta = s->meta;
  meta.last_id = id;
  if (entries_added != -1) meta.entries_added = static_cast<uint64_t>(entries_added);
  if (max_deleted != StreamId{}) meta.max_deleted = max_deleted;
  ctx.db().StreamSetMeta(ctx.args[1], meta);
  ctx.Notify(event::kStream, "xsetid", ctx.args[1]);
  ctx.reply.Ok();
}

// XINFO STREAM key [FULL [COUNT count]]: FULL lists the first `count` entries (10 by default, 0
// for all) instead of the first and last, and the consumer groups with as many pending entries
// each.
void XInfoStream(CommandContext& ctx) {
  bool full = ctx.args.size() > 3;
  long long count = 10;
  if (full) {
    if (!ctx.Is(3, "FULL") || ctx.args.size() == 5 ||
        (ctx.args.size() == 6 && !ctx.Is(4, "COUNT")) || ctx.args.size() > 6) {
      return ctx.SubcommandSyntaxError();
    }
    if (ctx.args.size() == 6) {
      auto n = ctx.Int(5);
      if (!n) return;
      count = *n < 0 ? 10 : *n;  // as Redis: a negative count is the default
    }
  }
  const Stream* s = ExistingStream(ctx, ctx.args[2]);
  if (!s) return;
  ctx.reply.Map(full ? 9 : 10);
  ctx.reply.Bulk("length");
  ctx.reply.Integer(static_cast<long long>(s->entries.size()));
  ctx.reply.Bulk("radix-tree-keys");
  ctx.reply.Integer(static_cast<long long>((s->entries.size() + kNodeEntries - 1) / kNodeEntries));
  ctx.reply.Bulk("radix-tree-nodes");
  ctx.reply.Integer(
      static_cast<long long>((s->entries.size() + kNodeEntries - 1) / kNodeEntries + 1));
  ctx.reply.Bulk("last-generated-id");
  ctx.reply.Bulk(s->meta.last_id.ToString());
  ctx.reply.Bulk("max-deleted-entry-id");
  ctx.reply.Bulk(s->meta.max_deleted.ToString());
  ctx.reply.Bulk("entries-added");
  ctx.reply.Integer(static_cast<long long>(s->meta.entries_added));
  ctx.reply.Bulk("recorded-first-entry-id");
  ctx.reply.Bulk(s->entries.empty() ? "0-0" : s->entries.begin()->first.ToString());
  if (full) {
    size_t n =
        count == 0 ? s->entries.size() : std::min(s->entries.size(), static_cast<size_t>(count));
    ctx.reply.Bulk("entries");
    ctx.reply.Array(n);
    auto it = s->entries.begin();
    for (size_t i = 0; i < n; i++, ++it) ReplyEntry(ctx, it->first, it->second);
    ctx.reply.Bulk("groups");
    ctx.reply.Array(s->groups.size());
    auto limit = count == 0 ? SIZE_MAX : static_cast<size_t>(count);
    for (const auto& [name, g] : s->groups) {
      ctx.reply.Map(7);
      ctx.reply.Bulk("name");
      ctx.reply.Bulk(name);
      ctx.reply.Bulk("last-delivered-id");
      ctx.reply.Bulk(g.last_delivered.ToString());
      ReplyEntriesReadAndLag(ctx, *s, g);
      ctx.reply.Bulk("pel-count");
      ctx.reply.Integer(static_cast<long long>(g.pending.size()));
      ctx.reply.Bulk("pending");
      ctx.reply.Array(std::min(limit, g.pending.size()));
      size_t shown = 0;
      for (auto it = g.pending.begin(); it != g.pending.end() && shown < limit; ++it, ++shown) {
        ctx.reply.Array(4);
        ctx.reply.Bulk(it->first.ToString());
        ctx.reply.Bulk(it->second.consumer);
        ctx.reply.Integer(it->second.delivery_ms);
        ctx.reply.Integer(static_cast<long long>(it->second.deliveries));
      }
      ctx.reply.Bulk("consumers");
      ctx.reply.Array(g.consumers.size());
      for (const auto& [consumer, c] : g.consumers) {
        ctx.reply.Map(4);
        ctx.reply.Bulk("name");
        ctx.reply.Bulk(consumer);
        ctx.reply.Bulk("seen-time");
        ctx.reply.Integer(c.seen_ms);
        ctx.reply.Bulk("pel-count");
        ctx.reply.Integer(static_cast<long long>(c.pending.size()));
        ctx.reply.Bulk("pending");
        ctx.reply.Array(std::min(limit, c.pending.size()));
        shown = 0;
        for (auto id = c.pending.begin(); id != c.pending.end() && shown < limit; ++id, ++shown) {
          const StreamPending& p = g.pending.at(*id);
          ctx.reply.Array(3);
          ctx.reply.Bulk(id->ToString());
          ctx.reply.Integer(p.delivery_ms);
          ctx.reply.Integer(static_cast<long long>(p.deliveries));
        }
      }
    }
    return;
  }
  ctx.reply.Bulk("groups");
  ctx.reply.Integer(static_cast<long long>(s->groups.size()));
  for (bool first : {true, false}) {
    ctx.reply.Bulk(first ? "first-entry" : "last-entry");
    if (s->entries.empty()) {
      ctx.reply.NullBulk();
    } else {
      const auto& e = first ? *s->entries.begin() : *s->entries.rbegin();
      ReplyEntry(ctx, e.first, e.second);
    }
  }
}

// XINFO GROUPS key
void XInfoGroups(CommandContext& ctx) {
  const Stream* s = ExistingStream(ctx, ctx.args[2]);
  if (!s) return;
  ctx.reply.Array(s->groups.size());
  for (const auto& [name, g] : s->groups) {
    ctx.reply.Map(6);
    ctx.reply.Bulk("name");
    ctx.reply.Bulk(name);
    ctx.reply.Bulk("consumers");
    ctx.reply.Integer(static_cast<long long>(g.consumers.size()));
    ctx.reply.Bulk("pending");
    ctx.reply.Integer(static_cast<long long>(g.pending.size()));
    ctx.reply.Bulk("last-delivered-id");
    ctx.reply.Bulk(g.last_delivered.ToString());
    ReplyEntriesReadAndLag(ctx, *s, g);
  }
}

// XINFO CONSUMERS key group
void XInfoConsumers(CommandContext& ctx) {
  const Stream* s = ExistingStream(ctx, ctx.args[2]);
  if (!s) return;
  const StreamGroup* g = GroupOf(s, ctx.args[3]);
  if (!g) return ReplyNoSuchGroup(ctx, ctx.args[2], ctx.args[3]);
  ctx.reply.Array(g->consumers.size());
  for (const auto& [name, c] : g->consumers) {
    ctx.reply.Map(3);
    ctx.reply.Bulk("name");
    ctx.reply.Bulk(name);
    ctx.reply.Bulk("pending");
    ctx.reply.Integer(static_cast<long long>(c.pending.size()));
    ctx.reply.Bulk("idle");
    ctx.reply.Integer(IdleMs(ctx.now_ms(), c.seen_ms));
  }
}

void XInfoHelp(CommandContext& ctx) {
  ctx.ReplyHelp({"CONSUMERS <key> <groupname>", "    Show consumers of <groupname>.",
                 "GROUPS <key>", "    Show the stream consumer groups.",
                 "STREAM <key> [FULL [COUNT <count>]", "    Show information about the stream."});
}

}  // namespace

void RegisterStreamCommands(CommandRegistry* r) {
  using namespace cmd;
  KeySpec one{1, 1, 1};
  r->Group("stream")
      .Add("xadd", -5, kWrite | kFast | kDenyOom, one, XAdd, "Append an entry to a stream")
      .Args(
          "key [NOMKSTREAM] [(MAXLEN|MINID) [=|~] threshold [LIMIT count:integer]] (*|id) (field "
          "value)...")
      .Keys("RW UPDATE")
      .Add("xlen", 2, kReadOnly | kFast, one, XLen, "Number of entries in a stream")
      .Args("key")
      .Keys("RO")
      .Add("xrange", -4, kReadOnly, one, XRange, "Entries in an ID range")
      .Args("key start end [COUNT count:integer]")
      .Add("xrevrange", -4, kReadOnly, one, XRevRange, "Entries in an ID range, newest first")
      .Args("key end start [COUNT count:integer]")
      .Add("xdel", -3, kWrite | kFast, one, XDel, "Delete entries")
      .Args("key id...")
      .Keys("RW DELETE")
      .Add("xtrim", -4, kWrite, one, XTrim, "Trim a stream by length or minimum ID")
      .Args("key (MAXLEN|MINID) [=|~] threshold [LIMIT count:integer]")
      .Keys("RW DELETE")
      .Add("xread", -4, kReadOnly | kBlocking, {}, XRead, "Read new entries, optionally blocking")
      .Args("[COUNT count:integer] [BLOCK milliseconds:integer] STREAMS key... id...")
      .Add("xreadgroup", -7, kWrite | kBlocking, {}, XReadGroup,
           "Read entries as a consumer of a group, optionally blocking")
      .Args(
          "(GROUP group consumer) [COUNT count:integer] [BLOCK milliseconds:integer] [NOACK] "
          "STREAMS key... id...")
      .Keys("RO ACCESS")  // as Redis says: the group's state is not the key's data
      .Add("xgroup", -2, kWrite, {}, nullptr, "Manage consumer groups")
      .Sub("create", -5, kWrite | kDenyOom, {2, 2, 1}, XGroup, "Create a consumer group")
      .Args("key group (id|$) [MKSTREAM] [ENTRIESREAD entries-read:integer]")
      .Keys("RW INSERT")
      .Sub("setid", -5, kWrite, {2, 2, 1}, XGroup, "Set a group's last delivered ID")
      .Args("key group (id|$) [ENTRIESREAD entries-read:integer]")
      .Keys("RW UPDATE")
      .Sub("destroy", 4, kWrite, {2, 2, 1}, XGroup, "Delete a consumer group")
      .Args("key group")
      .Keys("RW DELETE")
      .Sub("createconsumer", 5, kWrite | kDenyOom, {2, 2, 1}, XGroup, "Add a consumer to a group")
      .Args("key group consumer")
      .Keys("RW INSERT")
      .Sub("delconsumer", 5, kWrite, {2, 2, 1}, XGroup, "Delete a consumer and its pending entries")
      .Args("key group consumer")
      .Keys("RW DELETE")
      .Sub("help", 2, kLoading, {}, XGroupHelp, "Show help")
      .Args("")
      .Add("xack", -4, kWrite | kFast, one, XAck, "Acknowledge entries of a group")
      .Args("key group id...")
      .Keys("RW UPDATE")
      .Add("xpending", -3, kReadOnly, one, XPending, "A group's pending entries")
      .Args("key group [[IDLE min-idle-time:integer] start end count:integer [consumer]]")
      .Add("xclaim", -6, kWrite | kFast, one, XClaim, "Take pending entries over")
      .Args(
          "key group consumer min-idle-time:integer id... [IDLE ms:integer] "
          "[TIME unix-time-milliseconds:integer] [RETRYCOUNT count:integer] [FORCE] [JUSTID] "
          "[LASTID lastid]")
      .Keys("RW UPDATE")
      .Add("xautoclaim", -6, kWrite | kFast, one, XAutoClaim,
           "Take over pending entries idle for long enough")
      .Args("key group consumer min-idle-time:integer start [COUNT count:integer] [JUSTID]")
      .Keys("RW DELETE")
      .Add("xsetid", -3, kWrite | kFast | kDenyOom, one, XSetId,
           "Set a stream's last ID and counters")
      .Args("key last-id [ENTRIESADDED entries-added:integer] [MAXDELETEDID max-deleted-id]")
      .Keys("RW UPDATE")
      .Add("xinfo", -2, kReadOnly, {}, nullptr, "Inspect streams")
      .Sub("stream", -3, kReadOnly, {2, 2, 1}, XInfoStream, "A stream's details")
      .Args("key [FULL [COUNT count:integer]]")
      .Sub("groups", 3, kReadOnly, {2, 2, 1}, XInfoGroups, "A stream's consumer groups")
      .Args("key")
      .Sub("consumers", 4, kReadOnly, {2, 2, 1}, XInfoConsumers, "A group's consumers")
      .Args("key group")
      .Sub("help", 2, kLoading, {}, XInfoHelp, "Show help")
      .Args("");
}

}  // namespace desaster
