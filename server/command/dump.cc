// DUMP and RESTORE: a key's value in Redis' serialisation (rdb/), so that values move between
// Redis and desaster both ways (MIGRATE from a Redis sends RESTORE; a DUMP restores into any
// Redis from 5.0 on). A queue dumps as the plain list its clients see, and a list restored into
// a key a dialect claims becomes that queue's jobs, as if its clients had pushed them.
#include <climits>

#include "rdb/reader.h"
#include "rdb/writer.h"
#include "server/command/context.h"
#include "server/command/lists.h"
#include "server/command/registry.h"

namespace desaster {
namespace {

rdb::Object ObjectOf(CommandContext& ctx, std::string_view key, const Value& v) {
  rdb::Object o;
  switch (v.type()) {
    case ValueType::kString:
      o.string = v.str();
      break;
    case ValueType::kList:
    case ValueType::kQueue:
      o.type = rdb::Type::kList;
      for (std::string_view e : ListElements(ctx, key)) o.elements.emplace_back(e);
      break;
    case ValueType::kHash:
      o.type = rdb::Type::kHash;
      v.hash().ForEach([&](std::string_view f, const std::string& value) {
        o.fields.emplace_back(std::string(f), value);
      });
      break;
    case ValueType::kSet:
      o.type = rdb::Type::kSet;
      v.set().ForEach([&](std::string_view m, const Unit&) { o.elements.emplace_back(m); });
      break;
    case ValueType::kZSet:
      o.type = rdb::Type::kZSet;
      for (const auto& [score, member] : v.zset()) o.members.emplace_back(member, score);
      break;
    case ValueType::kStream: {
      o.type = rdb::Type::kStream;
      const Stream& s = v.stream();
      for (const auto& [id, fields] : s.entries) {
        o.stream.entries.push_back({{id.ms, id.seq}, fields});
      }
      o.stream.last_id = {s.meta.last_id.ms, s.meta.last_id.seq};
      o.stream.max_deleted = {s.meta.max_deleted.ms, s.meta.max_deleted.seq};
      o.stream.entries_added = s.meta.entries_added;
      for (const auto& [name, g] : s.groups) {
        rdb::StreamGroup& out = o.stream.groups.emplace_back();
        out.name = name;
        out.last_delivered = {g.last_delivered.ms, g.last_delivered.seq};
        out.entries_read = g.entries_read;
        for (const auto& [id, p] : g.pending) {
          out.pending.push_back({{id.ms, id.seq}, p.delivery_ms, p.deliveries, p.consumer});
        }
        for (const auto& [consumer, c] : g.consumers)
          out.consumers.push_back({consumer, c.seen_ms});
      }
      break;
    }
  }
  return o;
}

// Creates `key` holding `o` through the database's mutating methods (so the write is recorded,
// replicated and wakes blocked clients like any other).
void Create(CommandContext& ctx, std::string_view key, rdb::Object&& o) {
  Database& db = ctx.db();
  switch (o.type) {
    case rdb::Type::kString:
      db.SetString(key, std::move(o.string), false);
      break;
    case rdb::Type::kList:
      RightPushAll(ctx, key, o.elements);
      break;
    case rdb::Type::kSet:
      for (const auto& m : o.elements) db.SetAdd(key, m);
      break;
    case rdb::Type::kHash:
      for (const auto& [f, v] : o.fields) db.HashSet(key, f, v);
      break;
    case rdb::Type::kZSet:
      for (const auto& [m, score] : o.members) db.ZAdd(key, m, score);
      break;
    case rdb::Type::kStream: {
      for (auto& e : o.stream.entries) {
        db.StreamAdd(key, {e.id.ms, e.id.seq}, std::move(e.fields));
      }
      StreamMeta meta;
      meta.last_id = {o.stream.last_id.ms, o.stream.last_id.seq};
      meta.max_deleted = {o.stream.max_deleted.ms, o.stream.max_deleted.seq};
      meta.entries_added = o.stream.entries_added;
      db.StreamSetMeta(key, meta);
      const Stream& s = db.Find(key)->stream();
      for (rdb::StreamGroup& g : o.stream.groups) {
        StreamId last{g.last_delivered.ms, g.last_delivered.seq};
        // A version-1 stream has no entries-read: estimated from the stream, as Redis loads it.
        db.StreamGroupSet(key, g.name, last, g.entries_read.value_or(EntriesUpTo(s, last)));
        for (const rdb::StreamConsumer& c : g.consumers) db.StreamConsumerAdd(key, g.name, c.name);
        for (rdb::StreamPending& p : g.pending) {
          db.StreamPendingSet(key, g.name, {p.id.ms, p.id.seq},
                              StreamPending{std::move(p.consumer), p.delivery_ms, p.deliveries});
        }
      }
      break;
    }
  }
}

void Dump(CommandContext& ctx) {
  const Value* v = ctx.db().Find(ctx.args[1]);
  if (!v) return ctx.reply.NullBulk();
  ctx.reply.Bulk(rdb::EncodeDump(ObjectOf(ctx, ctx.args[1], *v)));
}

// RESTORE key ttl payload [REPLACE] [ABSTTL] [IDLETIME seconds] [FREQ frequency], checking in
// Redis' order so that each bad input gets Redis' error.
void Restore(CommandContext& ctx) {
  bool replace = false, absttl = false, idle_given = false, freq_given = false;
  long long idle = 0;
  for (size_t i = 4; i < ctx.args.size(); i++) {
    bool has_value = i + 1 < ctx.args.size();
    if (ctx.Is(i, "REPLACE")) {
      replace = true;
    } else if (ctx.Is(i, "ABSTTL")) {
      absttl = true;
    } else if (ctx.Is(i, "IDLETIME") && has_value && !freq_given) {
      auto n = ctx.Int(++i);
      if (!n) return;
      if (*n < 0) return ctx.Error("ERR Invalid IDLETIME value, must be >= 0");
      idle = *n;
      idle_given = true;
    } else if (ctx.Is(i, "FREQ") && has_value && !idle_given) {
      auto n = ctx.Int(++i);  // LFU counters: desaster keeps none, so only checked
      if (!n) return;
      if (*n < 0 || *n > 255) return ctx.Error("ERR Invalid FREQ value, must be >= 0 and <= 255");
      freq_given = true;
    } else {
      return ctx.Error(err::kSyntax);
    }
  }
  const std::string& key = ctx.args[1];
  Database& db = ctx.db();
  if (!replace && db.Find(key)) return ctx.Error("BUSYKEY Target key name already exists.");
  auto ttl = ctx.Int(2);
  if (!ttl) return;
  if (*ttl < 0) return ctx.Error("ERR Invalid TTL value, must be >= 0");
  rdb::Object o;
  std::string error;
  if (!rdb::DecodeDump(ctx.args[3], &o, &error)) return ctx.Error("ERR " + error);
  // A registered queue holds jobs, so only a list (its jobs' payloads) restores into it.
  if (o.type != rdb::Type::kList && db.FindQueue(key)) {
    return ctx.Error("ERR the key is a queue: only a list payload restores into it");
  }
  int64_t at = *ttl;
  // A relative TTL past the end of time wraps around in Redis and counts as expired already.
  bool expired = !absttl && at > LLONG_MAX - ctx.now_ms();
  if (at != 0 && !absttl && !expired) at += ctx.now_ms();
  bool deleted = replace && db.Find(key) && db.Delete(key);
  if (expired || (at != 0 && at <= ctx.now_ms())) {  // nothing to keep
    if (deleted) ctx.Notify(event::kGeneric, "del", key);
    return ctx.reply.Ok();
  }
  Create(ctx, key, std::move(o));
  if (at != 0) db.ExpireAt(key, at);
  if (idle_given && db.Peek(key))
    db.SetIdle(key, std::min<long long>(idle, LLONG_MAX / 2000) * 1000);
  ctx.Notify(event::kGeneric, "restore", key);
  ctx.reply.Ok();
}

}  // namespace

void RegisterDumpCommands(CommandRegistry* r) {
  using namespace cmd;
  KeySpec one{1, 1, 1};
  r->Group("generic")
      .Add("dump", 2, kReadOnly, one, Dump, "A key's value in Redis' serialisation")
      .Args("key")
      .Keys("RO ACCESS")
      .Add("restore", -4, kWrite | kDenyOom, one, Restore, "Create a key from a DUMP payload")
      .Args(
          "key ttl:integer serialized-value:string [REPLACE] [ABSTTL] [IDLETIME seconds:integer] "
          "[FREQ frequency:integer]")
      .Keys("OW UPDATE")
      .Categories("keyspace dangerous");
}

}  // namespace desaster
