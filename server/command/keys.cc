// Generic key commands: existence, type, renames, expiry, iteration, databases.
#include <climits>

#include "server/command/context.h"
#include "server/command/registry.h"

namespace desaster {
namespace {

void Del(CommandContext& ctx) {
  long long n = 0;
  for (size_t i = 1; i < ctx.args.size(); i++) {
    if (ctx.db().Find(ctx.args[i]) && ctx.db().Delete(ctx.args[i])) {
      ctx.Notify(event::kGeneric, "del", ctx.args[i]);
      n++;
    }
  }
  ctx.reply.Integer(n);
}

// EXISTS and TOUCH: how many of the keys exist (a key named twice counts twice); only TOUCH
// counts as an access (OBJECT IDLETIME).
void CountExisting(CommandContext& ctx, bool touch) {
  long long n = 0;
  for (size_t i = 1; i < ctx.args.size(); i++) {
    n += (touch ? ctx.db().Find(ctx.args[i]) : ctx.db().Peek(ctx.args[i])) ? 1 : 0;
  }
  ctx.reply.Integer(n);
}
void Exists(CommandContext& ctx) { CountExisting(ctx, false); }
void Touch(CommandContext& ctx) { CountExisting(ctx, true); }

void Type(CommandContext& ctx) {
  const Value* v = ctx.db().Find(ctx.args[1]);
  ctx.reply.Simple(v ? TypeName(v->type()) : "none");
}

// A queue's jobs live in the queue, not in a value that could be renamed or copied: RENAME,
// COPY and MOVE refuse queue keys (registered or claimed by a dialect) on either side.
bool RefuseQueueKeys(CommandContext& ctx, std::string_view from, Database& dst,
                     std::string_view to) {
  auto is_queue = [&](Database& db, std::string_view key) {
    return db.FindQueue(key) != nullptr || ctx.keyspace().dialects().Match(key) != nullptr;
  };
  if (!is_queue(ctx.db(), from) && !is_queue(dst, to)) return false;
  ctx.Error("ERR " + Lower(ctx.args[0]) +
            " does not apply to queue keys: a queue's jobs move with JOB.MOVE");
  return true;
}

void RenameGeneric(CommandContext& ctx, bool nx) {
  const std::string &from = ctx.args[1], &to = ctx.args[2];
  if (!ctx.db().Find(from)) return ctx.Error(err::kNoSuchKey);
  if (RefuseQueueKeys(ctx, from, ctx.db(), to)) return;
  if (nx && ctx.db().Find(to)) return ctx.reply.Integer(0);
  ctx.db().Rename(from, to);
  if (from != to) {
    ctx.Notify(event::kGeneric, "rename_from", from);
    ctx.Notify(event::kGeneric, "rename_to", to);
  }
  nx ? ctx.reply.Integer(1) : ctx.reply.Ok();
}
void Rename(CommandContext& ctx) { RenameGeneric(ctx, false); }
void RenameNx(CommandContext& ctx) { RenameGeneric(ctx, true); }

void Keys(CommandContext& ctx) {
  std::vector<std::string> out;
  const std::string& pattern = ctx.args[1];
  bool all = pattern == "*";
  Database& db = ctx.db();
  db.ForEach([&](std::string_view key, const Value& v) {
    if (db.IsLive(key, v) && (all || GlobMatch(pattern, key))) out.emplace_back(key);
  });
  ctx.reply.Array(out.size());
  for (const auto& k : out) ctx.reply.Bulk(k);
}

void Scan(CommandContext& ctx) {
  auto o = ParseScanOptions(ctx, 1, true);
  if (!o) return;
  Database& db = ctx.db();
  std::vector<std::string> keys;
  uint64_t cursor = o->cursor;
  size_t steps = 0;
  do {
    cursor = db.Scan(cursor, [&](std::string_view key, const Value&) { keys.emplace_back(key); });
  } while (cursor != 0 && keys.size() < o->count && ++steps < o->count * 10);
  std::vector<std::string> out;
  for (auto& k : keys) {
    const Value* v = db.Find(k);  // lazily expires what it meets, as Redis' SCAN does
    if (!v) continue;
    if (!o->pattern.empty() && !GlobMatch(o->pattern, k)) continue;
    if (!o->type.empty() && TypeName(v->type()) != o->type) continue;
    out.push_back(std::move(k));
  }
  ReplyScan(ctx, cursor, out);
}

void RandomKey(CommandContext& ctx) {
  std::string key;
  if (ctx.db().RandomKey(&key)) return ctx.reply.Bulk(key);
  ctx.reply.NullBulk();
}

// EXPIRE, PEXPIRE, EXPIREAT, PEXPIREAT with NX/XX/GT/LT, as Redis 7.0's expireGenericCommand.
void ExpireGeneric(CommandContext& ctx, bool seconds, bool absolute) {
  bool nx = false, xx = false, gt = false, lt = false;
  for (size_t i = 3; i < ctx.args.size(); i++) {
    if (ctx.Is(i, "NX")) {
      nx = true;
    } else if (ctx.Is(i, "XX")) {
      xx = true;
    } else if (ctx.Is(i, "GT")) {
      gt = true;
    } else if (ctx.Is(i, "LT")) {
      lt = true;
    } else {
      return ctx.Error("ERR Unsupported option " + ctx.args[i]);
    }
  }
  if (nx && (xx || gt || lt)) {
    return ctx.Error("ERR NX and XX, GT or LT options at the same time are not compatible");
  }
  if (gt && lt) return ctx.Error("ERR GT and LT options at the same time are not compatible");
  auto when = ctx.Int(2);
  if (!when) return;
  long long ms = *when;
  std::string invalid = "ERR invalid expire time in '" + Lower(ctx.args[0]) + "' command";
  if (seconds) {
    if (ms > LLONG_MAX / 1000 || ms < LLONG_MIN / 1000) return ctx.Error(invalid);
    ms *= 1000;
  }
  if (!absolute) {
    if (ms > LLONG_MAX - ctx.now_ms()) return ctx.Error(invalid);
    ms += ctx.now_ms();
  }
  const Value* v = ctx.db().Find(ctx.args[1]);
  if (!v) return ctx.reply.Integer(0);
  if (v->type() == ValueType::kQueue && ms > ctx.now_ms()) {
    return ctx.Error(
        "ERR queue keys do not expire: their jobs are kept until taken (QUEUE.CLEAR "
        "empties a queue)");
  }
  int64_t current = v->expire_at_ms;  // 0: persistent, an infinite TTL for GT/LT
  if ((nx && current) || (xx && !current) || (gt && (!current || ms <= current)) ||
      (lt && current && ms >= current)) {
    return ctx.reply.Integer(0);
  }
  ctx.db().ExpireAt(ctx.args[1], ms);
  ctx.Notify(event::kGeneric, ctx.db().Peek(ctx.args[1]) ? "expire" : "del", ctx.args[1]);
  ctx.reply.Integer(1);
}
void Expire(CommandContext& ctx) { ExpireGeneric(ctx, true, false); }
void PExpire(CommandContext& ctx) { ExpireGeneric(ctx, false, false); }
void ExpireAt(CommandContext& ctx) { ExpireGeneric(ctx, true, true); }
void PExpireAt(CommandContext& ctx) { ExpireGeneric(ctx, false, true); }

// TTL, PTTL, EXPIRETIME, PEXPIRETIME.
void TtlGeneric(CommandContext& ctx, bool ms, bool absolute) {
  const Value* v = ctx.db().Find(ctx.args[1]);
  if (!v) return ctx.reply.Integer(-2);
  if (!v->expire_at_ms) return ctx.reply.Integer(-1);
  if (absolute) return ctx.reply.Integer(ms ? v->expire_at_ms : v->expire_at_ms / 1000);
  long long ttl = v->expire_at_ms - ctx.now_ms();
  if (ttl < 0) ttl = 0;
  ctx.reply.Integer(ms ? ttl : (ttl + 500) / 1000);
}
void Ttl(CommandContext& ctx) { TtlGeneric(ctx, false, false); }
void PTtl(CommandContext& ctx) { TtlGeneric(ctx, true, false); }
void ExpireTime(CommandContext& ctx) { TtlGeneric(ctx, false, true); }
void PExpireTime(CommandContext& ctx) { TtlGeneric(ctx, true, true); }

void Persist(CommandContext& ctx) {
  bool removed = ctx.db().Persist(ctx.args[1]);
  if (removed) ctx.Notify(event::kGeneric, "persist", ctx.args[1]);
  ctx.reply.Integer(removed ? 1 : 0);
}

void DbSize(CommandContext& ctx) { ctx.reply.Integer(static_cast<long long>(ctx.db().size())); }

// FLUSHDB/FLUSHALL [ASYNC|SYNC]: both run synchronously; the options are accepted.
bool FlushOptionsOk(CommandContext& ctx) {
  if (ctx.args.size() > 2 || (ctx.args.size() == 2 && !ctx.Is(1, "ASYNC") && !ctx.Is(1, "SYNC"))) {
    ctx.Error(err::kSyntax);
    return false;
  }
  return true;
}
void FlushDb(CommandContext& ctx) {
  if (!FlushOptionsOk(ctx)) return;
  ctx.db().Flush();
  ctx.reply.Ok();
}
void FlushAll(CommandContext& ctx) {
  if (!FlushOptionsOk(ctx)) return;
  ctx.keyspace().FlushAll();
  ctx.reply.Ok();
}

std::optional<int> DbIndex(CommandContext& ctx, size_t i) {
  long long idx;
  if (!ParseInt64(ctx.args[i], &idx)) {
    ctx.Error(err::kNotInteger);
    return std::nullopt;
  }
  if (idx < 0 || idx >= ctx.keyspace().databases()) {
    ctx.Error(err::kDbIndex);
    return std::nullopt;
  }
  return static_cast<int>(idx);
}

void Move(CommandContext& ctx) {
  auto dst = DbIndex(ctx, 2);
  if (!dst) return;
  if (*dst == ctx.client.db) return ctx.Error("ERR source and destination objects are the same");
  const std::string& key = ctx.args[1];
  Database& target = ctx.keyspace().db(*dst);
  if (!ctx.db().Find(key) || target.Find(key)) return ctx.reply.Integer(0);
  if (RefuseQueueKeys(ctx, key, target, key)) return;
  ctx.db().CopyTo(key, target, key);
  ctx.db().Delete(key);
  ctx.Notify(event::kGeneric, "move_from", key);
  ctx.keyspace().Notify(*dst, event::kGeneric, "move_to", key);
  ctx.reply.Integer(1);
}

// SWAPDB a b: the two databases trade numbers, at once: no key is copied or rewritten.
void SwapDb(CommandContext& ctx) {
  int index[2];
  for (int i = 0; i < 2; i++) {
    long long v;
    if (!ParseInt64(ctx.args[1 + static_cast<size_t>(i)], &v) || v < INT_MIN || v > INT_MAX) {
      return ctx.Error(i == 0 ? "ERR invalid first DB index" : "ERR invalid second DB index");
    }
    index[i] = static_cast<int>(v);
  }
  int n = ctx.keyspace().databases();
  if (index[0] < 0 || index[0] >= n || index[1] < 0 || index[1] >= n) {
    return ctx.Error(err::kDbIndex);
  }
  ctx.keyspace().SwapDatabases(index[0], index[1]);
  ctx.reply.Ok();
}

void Copy(CommandContext& ctx) {
  int dst_db = ctx.client.db;
  bool replace = false;
  for (size_t i = 3; i < ctx.args.size(); i++) {
    if (ctx.Is(i, "REPLACE")) {
      replace = true;
    } else if (ctx.Is(i, "DB") && i + 1 < ctx.args.size()) {
      auto d = DbIndex(ctx, ++i);
      if (!d) return;
      dst_db = *d;
    } else {
      return ctx.Error(err::kSyntax);
    }
  }
  const std::string &from = ctx.args[1], &to = ctx.args[2];
  if (dst_db == ctx.client.db && from == to) {
    return ctx.Error("ERR source and destination objects are the same");
  }
  Database& target = ctx.keyspace().db(dst_db);
  if (!ctx.db().Find(from)) return ctx.reply.Integer(0);
  if (target.Find(to) && !replace) return ctx.reply.Integer(0);
  if (RefuseQueueKeys(ctx, from, target, to)) return;
  ctx.db().CopyTo(from, target, to);
  ctx.keyspace().Notify(dst_db, event::kGeneric, "copy_to", to);
  ctx.reply.Integer(1);
}

// The encoding Redis 7.0 would report, so tools that ask get a plausible answer.
std::string_view EncodingOf(const Value& v) {
  switch (v.type()) {
    case ValueType::kString: {
      long long n;
      if (v.str().size() <= 20 && ParseInt64(v.str(), &n)) return "int";
      return v.str().size() <= 44 ? "embstr" : "raw";
    }
    case ValueType::kList:
      return "quicklist";
    case ValueType::kHash:
      return v.hash().compact() ? "listpack" : "hashtable";
    case ValueType::kSet:
      return v.set().intset() ? "intset" : "hashtable";
    case ValueType::kZSet:
      return v.zset().size() <= 128 ? "listpack" : "skiplist";
    case ValueType::kStream:
      return "stream";
    case ValueType::kQueue:
      return "queue";
  }
  return "raw";
}

void ObjectCmd(CommandContext& ctx) {
  const Value* v = ctx.db().Peek(ctx.args[2]);  // looking is not an access, as in Redis
  if (!v) return ctx.reply.NullBulk();
  if (ctx.Is(1, "ENCODING")) return ctx.reply.Bulk(EncodingOf(*v));
  if (ctx.Is(1, "REFCOUNT")) return ctx.reply.Integer(1);
  if (ctx.Is(1, "IDLETIME")) return ctx.reply.Integer((ctx.now_ms() - v->last_access_ms) / 1000);
  // FREQ: only meaningful under an LFU policy, which desaster never evicts with.
  ctx.Error(
      "ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note "
      "that when switching between policies at runtime LRU and LFU data will take some time to "
      "adjust.");
}

void ObjectHelp(CommandContext& ctx) {
  ctx.ReplyHelp({"ENCODING <key>",
                 "    Return the kind of internal representation used to store the value.",
                 "FREQ <key>", "    Return the access frequency index of the key.",
                 "IDLETIME <key>", "    Return the idle time of the key.", "REFCOUNT <key>",
                 "    Return the reference count of the object stored at <key>."});
}

}  // namespace

void RegisterKeyCommands(CommandRegistry* r) {
  using namespace cmd;
  KeySpec one{1, 1, 1}, all{1, -1, 1}, two{1, 2, 1}, sub{2, 2, 1};
  r->Group("generic")
      .Add("del", -2, kWrite, all, Del, "Delete keys")
      .Args("key...")
      .Keys("RM DELETE")
      .Add("unlink", -2, kWrite | kFast, all, Del, "Delete keys")
      .Args("key...")
      .Keys("RM DELETE")
      .Add("exists", -2, kReadOnly | kFast, all, Exists, "Count the keys that exist")
      .Args("key...")
      .Keys("RO")
      .Add("touch", -2, kReadOnly | kFast, all, Touch, "Count the keys that exist, as an access")
      .Args("key...")
      .Keys("RO")
      .Add("type", 2, kReadOnly | kFast, one, Type, "Type of a key's value")
      .Args("key")
      .Keys("RO")
      .Add("rename", 3, kWrite, two, Rename, "Rename a key")
      .Args("key newkey:key")
      .Keys("RW ACCESS DELETE | OW UPDATE")
      .Add("renamenx", 3, kWrite | kFast, two, RenameNx, "Rename a key if the new name is free")
      .Args("key newkey:key")
      .Keys("RW ACCESS DELETE | OW INSERT")
      .Add("keys", 2, kReadOnly, {}, Keys, "Keys matching a pattern")
      .Args("pattern:pattern")
      .Categories("keyspace dangerous")
      .Add("scan", -2, kReadOnly, {}, Scan, "Iterate over keys")
      .Args("cursor:integer [MATCH pattern:pattern] [COUNT count:integer] [TYPE type]")
      .Add("randomkey", 1, kReadOnly, {}, RandomKey, "A random key")
      .Args("")
      .Add("expire", -3, kWrite | kFast, one, Expire, "Set a key's time to live in seconds")
      .Args("key seconds:integer [NX|XX|GT|LT]")
      .Keys("RW UPDATE")
      .Add("pexpire", -3, kWrite | kFast, one, PExpire, "Set a key's time to live in ms")
      .Args("key milliseconds:integer [NX|XX|GT|LT]")
      .Keys("RW UPDATE")
      .Add("expireat", -3, kWrite | kFast, one, ExpireAt, "Expire a key at a unix time")
      .Args("key unix-time-seconds:unix-time [NX|XX|GT|LT]")
      .Keys("RW UPDATE")
      .Add("pexpireat", -3, kWrite | kFast, one, PExpireAt, "Expire a key at a unix time in ms")
      .Args("key unix-time-milliseconds:unix-time [NX|XX|GT|LT]")
      .Keys("RW UPDATE")
      .Add("ttl", 2, kReadOnly | kFast, one, Ttl, "Time to live in seconds")
      .Args("key")
      .Add("pttl", 2, kReadOnly | kFast, one, PTtl, "Time to live in ms")
      .Args("key")
      .Add("expiretime", 2, kReadOnly | kFast, one, ExpireTime, "Expiry as a unix time")
      .Args("key")
      .Add("pexpiretime", 2, kReadOnly | kFast, one, PExpireTime, "Expiry as a unix time in ms")
      .Args("key")
      .Add("persist", 2, kWrite | kFast, one, Persist, "Remove a key's expiry")
      .Args("key")
      .Keys("RW UPDATE")
      .Add("dbsize", 1, kReadOnly | kFast, {}, DbSize, "Number of keys in the database")
      .Args("")
      .Add("flushdb", -1, kWrite, {}, FlushDb, "Delete every key of the database")
      .Args("[ASYNC|SYNC]")
      .Categories("keyspace dangerous")
      .Add("flushall", -1, kWrite, {}, FlushAll, "Delete every key of every database")
      .Args("[ASYNC|SYNC]")
      .Categories("keyspace dangerous")
      .Add("move", 3, kWrite | kFast, one, Move, "Move a key to another database")
      .Args("key db:integer")
      .Keys("RW ACCESS UPDATE")
      .Add("swapdb", 3, kWrite | kFast, {}, SwapDb, "Swap two databases")
      .Args("index1:integer index2:integer")
      .Categories("keyspace dangerous")
      .Add("copy", -3, kWrite | kDenyOom, two, Copy, "Copy a key")
      .Args("source:key destination:key [DB destination-db:integer] [REPLACE]")
      .Keys("RO ACCESS | OW UPDATE")
      .Add("object", -2, kReadOnly, {}, nullptr, "Inspect a key's internals")
      .Sub("encoding", 3, kReadOnly, sub, ObjectCmd, "Internal encoding of a value")
      .Args("key")
      .Keys("RO")
      .Sub("refcount", 3, kReadOnly, sub, ObjectCmd, "Reference count of a value")
      .Args("key")
      .Keys("RO")
      .Sub("idletime", 3, kReadOnly, sub, ObjectCmd, "Seconds since last access")
      .Args("key")
      .Keys("RO")
      .Sub("freq", 3, kReadOnly, sub, ObjectCmd, "Access frequency (LFU only)")
      .Args("key")
      .Keys("RO")
      .Sub("help", 2, kLoading, {}, ObjectHelp, "Show help")
      .Args("");
}

}  // namespace desaster
