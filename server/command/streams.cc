// Stream commands: the subset queue libraries use (RQ results, BullMQ events), with Redis'
// semantics. Consumer groups are not implemented.
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
  if (trim.active) Trim(ctx, key, trim);
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
  ctx.reply.Integer(Trim(ctx, ctx.args[1], trim));
}

void XRead(CommandContext& ctx) {
  long long count = -1;
  int64_t deadline = -1;  // -1: do not block
  size_t i = 1;
  for (; i < ctx.args.size(); i++) {
    if (ctx.Is(i, "COUNT") && i + 1 < ctx.args.size()) {
      auto c = ctx.Int(++i);
      if (!c) return;
      count = *c <= 0 ? -1 : *c;
    } else if (ctx.Is(i, "BLOCK") && i + 1 < ctx.args.size()) {
      long long ms;
      if (!ParseInt64(ctx.args[++i], &ms))
        return ctx.Error("ERR timeout is not an integer or out of range");
      if (ms < 0) return ctx.Error(err::kTimeoutNegative);
      deadline = ctx.DeadlineAfterMs(ms);
    } else if (ctx.Is(i, "STREAMS")) {
      break;
    } else {
      return ctx.Error(err::kSyntax);
    }
  }
  size_t rest = ctx.args.size() - i - 1;
  if (i >= ctx.args.size() || rest == 0 || rest % 2) {
    return ctx.Error(
        "ERR Unbalanced XREAD list of streams: for each stream key an ID or '$' must be "
        "specified.");
  }
  size_t n = rest / 2;
  std::vector<std::string> keys(ctx.args.begin() + static_cast<ptrdiff_t>(i + 1),
                                ctx.args.begin() + static_cast<ptrdiff_t>(i + 1 + n));
  std::vector<StreamId> after(n);
  std::vector<std::string> argv = ctx.args;  // with '$' resolved, for blocking
  for (size_t k = 0; k < n; k++) {
    const std::string& id = ctx.args[i + 1 + n + k];
    bool wrong;
    const Stream* s = StreamAt(ctx, keys[k], &wrong);
    if (wrong) return;
    if (id == "$") {
      after[k] = s ? s->meta.last_id : StreamId{};
      argv[i + 1 + n + k] = after[k].ToString();
    } else if (!ParseId(id, 0, &after[k])) {
      return ctx.Error(kInvalidId);
    }
  }
  // Streams with entries after their ID.
  std::vector<size_t> ready;
  for (size_t k = 0; k < n; k++) {
    bool wrong;
    const Stream* s = StreamAt(ctx, keys[k], &wrong);
    if (s && s->entries.upper_bound(after[k]) != s->entries.end()) ready.push_back(k);
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
    std::vector<std::pair<StreamId, const std::vector<std::string>*>> out;
    for (auto it = s->entries.upper_bound(after[k]); it != s->entries.end(); ++it) {
      out.emplace_back(it->first, &it->second);
      if (count > 0 && static_cast<long long>(out.size()) >= count) break;
    }
    ctx.reply.Array(out.size());
    for (const auto& [id, fields] : out) ReplyEntry(ctx, id, *fields);
  }
}

// XINFO STREAM key [FULL [COUNT count]]: FULL lists the first `count` entries (10 by default, 0
// for all) instead of the first and last, and the consumer groups (there are none yet).
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
  bool wrong;
  const Stream* s = StreamAt(ctx, ctx.args[2], &wrong);
  if (wrong) return;
  if (!s) return ctx.Error(err::kNoSuchKey);
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
    ctx.reply.Array(0);
    return;
  }
  ctx.reply.Bulk("groups");
  ctx.reply.Integer(0);
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

}  // namespace

void RegisterStreamCommands(CommandRegistry* r) {
  using namespace cmd;
  KeySpec one{1, 1, 1};
  r->Group("stream")
      .Add("xadd", -5, kWrite | kFast, one, XAdd, "Append an entry to a stream")
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
      .Add("xinfo", -2, kReadOnly, {}, nullptr, "Inspect streams")
      .Sub("stream", -3, kReadOnly, {2, 2, 1}, XInfoStream, "A stream's details")
      .Args("key [FULL [COUNT count:integer]]");
}

}  // namespace desaster
