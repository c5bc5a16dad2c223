// List commands, including the blocking pops and moves.
#include "server/command/lists.h"

#include <algorithm>
#include <climits>

#include "compat/failures.h"
#include "server/command/registry.h"

namespace desaster {
namespace {

// Turns Redis-style start/stop (negative from the end) into a clamped [a, b]; false if empty.
bool NormalizeRange(long long start, long long stop, long long len, long long* a, long long* b) {
  if (start < 0) start = len + start;
  if (stop < 0) stop = len + stop;
  if (start < 0) start = 0;
  if (start > stop || start >= len) return false;
  if (stop >= len) stop = len - 1;
  *a = start;
  *b = stop;
  return true;
}

// ---- Queue keys ----
// A key backed by a queue answers the list commands. Its left-to-right order is the dispatch
// order read from the dialect's head end: resque pops the left, so index 0 is the next job;
// Sidekiq pops the right, so the last index is. A push at the head end is a requeue (ahead of its
// flow), a push at the other end an enqueue; a pop at the head end takes the discipline's pick.

// What a key holds for the list commands: a list, a queue, or nothing (both null).
struct ListOrQueue {
  const List* list = nullptr;
  Queue* queue = nullptr;
  size_t size() const { return list ? list->size() : queue ? queue->ready() : 0; }
  bool empty() const { return size() == 0; }
};

// Resolves `key`, replying WRONGTYPE (nullopt) for other types. With `for_push`, an absent key
// that is a registered queue or that a dialect claims resolves to its queue.
std::optional<ListOrQueue> Resolve(CommandContext& ctx, std::string_view key, bool for_push) {
  bool wrong;
  const Value* v = ctx.Lookup(key, ValueType::kList, &wrong);
  if (wrong) return std::nullopt;
  ListOrQueue t;
  if (v && v->type() == ValueType::kQueue) {
    t.queue = v->queue();
  } else if (v) {
    t.list = &v->list();
  } else if (for_push) {
    t.queue = ctx.db().QueueForPush(key);
  }
  return t;
}

// The ready jobs of `q` at left-to-right indices [a, b] (valid indices).
std::vector<Job*> QueueRange(const Queue& q, size_t a, size_t b) {
  size_t n = q.ready();
  bool reversed = !q.dialect().head_left;
  size_t first = reversed ? n - 1 - b : a;
  std::vector<Job*> out;
  out.reserve(b - a + 1);
  q.discipline().ForEachInOrder(
      [&](Job* job) {
        out.push_back(job);
        return out.size() < b - a + 1;
      },
      first);
  if (reversed) std::reverse(out.begin(), out.end());
  return out;
}

// Elements at left-to-right indices [a, b] of a non-empty list or queue.
std::vector<std::string_view> Elements(const ListOrQueue& t, size_t a, size_t b) {
  std::vector<std::string_view> out;
  if (t.list) {
    for (size_t i = a; i <= b; i++) out.emplace_back((*t.list)[i]);
  } else {
    for (Job* job : QueueRange(*t.queue, a, b)) out.emplace_back(job->payload);
  }
  return out;
}

void Push(CommandContext& ctx, const ListOrQueue& t, std::string_view key, bool left,
          std::string_view element) {
  if (!t.queue) {
    ctx.db().ListPush(key, left, element);
    // A failure record a resque worker writes: the failed store learns of it and retries it.
    if (const Dialect* d = ctx.keyspace().dialects().MatchFailedList(key)) {
      // During an import the record is history from the source: at its own time, and retried
      // only when the import asked for that.
      const Keyspace::Import& import = ctx.keyspace().import();
      if (auto failure = ParseResqueFailure(element, *d, ctx.now_ms(), import.active)) {
        if (!import.active) failure->started_at_ms = ctx.db().LibraryRunFailed(*d, failure->worker);
        ctx.db().RecordFailure(std::move(*failure), !import.active || import.retry_imported);
      }
    }
    return;
  }
  Database::JobSpec spec;
  spec.payload = element;
  spec.front = left == t.queue->dialect().head_left;
  ctx.db().PushJob(t.queue, std::move(spec));
}

// Pops one element from a non-empty list or queue; nullopt when a queue hands out nothing now
// (paused or rate-limited).
std::optional<std::string> Pop(CommandContext& ctx, const ListOrQueue& t, std::string_view key,
                               bool left) {
  if (!t.queue) return ctx.db().ListPop(key, left);
  Queue* q = t.queue;
  std::unique_ptr<Job> job;
  if (left == q->dialect().head_left) {
    job = ctx.db().PopJob(q);
  } else if (!q->paused()) {  // the far end: the job that would go last
    job =
        ctx.db().RemoveJob(QueueRange(*q, left ? 0 : q->ready() - 1, left ? 0 : q->ready() - 1)[0]);
  }
  if (!job) return std::nullopt;
  return job->payload.str();
}

void PushGeneric(CommandContext& ctx, bool left, bool only_existing) {
  auto t = Resolve(ctx, ctx.args[1], !only_existing);
  if (!t) return;
  if (only_existing && t->empty()) return ctx.reply.Integer(0);
  for (size_t i = 2; i < ctx.args.size(); i++) Push(ctx, *t, ctx.args[1], left, ctx.args[i]);
  ctx.Notify(event::kList, left ? "lpush" : "rpush", ctx.args[1]);
  ctx.reply.Integer(static_cast<long long>(Resolve(ctx, ctx.args[1], true)->size()));
}
void LPush(CommandContext& ctx) { PushGeneric(ctx, true, false); }
void RPush(CommandContext& ctx) { PushGeneric(ctx, false, false); }
void LPushX(CommandContext& ctx) { PushGeneric(ctx, true, true); }
void RPushX(CommandContext& ctx) { PushGeneric(ctx, false, true); }

// Pops up to `count` elements from `key` (a list or queue).
std::vector<std::string> PopSome(CommandContext& ctx, const std::string& key, bool left,
                                 long long count) {
  std::vector<std::string> out;
  while (count-- > 0) {
    auto t = Resolve(ctx, key, false);
    if (!t || t->empty()) break;
    auto e = Pop(ctx, *t, key, left);
    if (!e) break;
    out.push_back(std::move(*e));
  }
  return out;
}

// The event of a pop from `key` (and "del" when it took the last element).
void NotifyPop(CommandContext& ctx, const std::string& key, bool left) {
  ctx.NotifyWrite(event::kList, left ? "lpop" : "rpop", key);
}

void PopGeneric(CommandContext& ctx, bool left) {
  if (ctx.args.size() > 3) return ctx.WrongArgs();
  bool has_count = ctx.args.size() == 3;
  long long count = 1;
  if (has_count) {
    auto n = ctx.Int(2, err::kPositive);
    if (!n) return;
    if (*n < 0) return ctx.Error(err::kPositive);
    count = *n;
  }
  auto t = Resolve(ctx, ctx.args[1], false);
  if (!t) return;
  if (t->empty()) return has_count ? ctx.reply.NullArray() : ctx.reply.NullBulk();
  auto popped = PopSome(ctx, ctx.args[1], left, has_count ? count : 1);
  if (!popped.empty()) NotifyPop(ctx, ctx.args[1], left);
  if (!has_count) return popped.empty() ? ctx.reply.NullBulk() : ctx.reply.Bulk(popped[0]);
  if (popped.empty() && count > 0) return ctx.reply.NullArray();
  ctx.reply.Array(popped.size());
  for (const auto& e : popped) ctx.reply.Bulk(e);
}
void LPop(CommandContext& ctx) { PopGeneric(ctx, true); }
void RPop(CommandContext& ctx) { PopGeneric(ctx, false); }

void LLen(CommandContext& ctx) { ctx.ReplyLength(ValueType::kList); }

void LRange(CommandContext& ctx) {
  auto start = ctx.Int(2);
  if (!start) return;
  auto stop = ctx.Int(3);
  if (!stop) return;
  auto t = Resolve(ctx, ctx.args[1], false);
  if (!t) return;
  long long a, b;
  if (!NormalizeRange(*start, *stop, static_cast<long long>(t->size()), &a, &b)) {
    return ctx.reply.Array(0);
  }
  auto elements = Elements(*t, static_cast<size_t>(a), static_cast<size_t>(b));
  ctx.reply.Array(elements.size());
  for (std::string_view e : elements) ctx.reply.Bulk(e);
}

// Resolves a possibly negative index; false when out of range.
bool ResolveIndex(long long index, size_t len, size_t* out) {
  if (index < 0) index += static_cast<long long>(len);
  if (index < 0 || index >= static_cast<long long>(len)) return false;
  *out = static_cast<size_t>(index);
  return true;
}

void LIndex(CommandContext& ctx) {
  auto t = Resolve(ctx, ctx.args[1], false);
  if (!t) return;
  if (t->empty()) return ctx.reply.NullBulk();  // Redis looks at the key before the index
  auto index = ctx.Int(2);
  if (!index) return;
  size_t i;
  if (!ResolveIndex(*index, t->size(), &i)) return ctx.reply.NullBulk();
  ctx.reply.Bulk(Elements(*t, i, i)[0]);
}

void LSet(CommandContext& ctx) {
  auto t = Resolve(ctx, ctx.args[1], false);
  if (!t) return;
  if (t->empty()) return ctx.Error(err::kNoSuchKey);
  auto index = ctx.Int(2);
  if (!index) return;
  size_t i;
  if (!ResolveIndex(*index, t->size(), &i)) return ctx.Error(err::kOutOfRange);
  if (t->queue) {
    ctx.db().UpdateJob(QueueRange(*t->queue, i, i)[0], [&](Job& job) {
      job.payload = ctx.args[3];
      if (t->queue->config().unique) job.set_unique_key(t->queue->UniqueKeyOf(job.payload));
    });
  } else {
    ctx.db().ListSet(ctx.args[1], i, ctx.args[3]);
  }
  ctx.Notify(event::kList, "lset", ctx.args[1]);
  ctx.reply.Ok();
}

void LInsert(CommandContext& ctx) {
  bool after;
  if (ctx.Is(2, "AFTER")) {
    after = true;
  } else if (ctx.Is(2, "BEFORE")) {
    after = false;
  } else {
    return ctx.Error(err::kSyntax);
  }
  auto t = Resolve(ctx, ctx.args[1], false);
  if (!t) return;
  if (t->empty()) return ctx.reply.Integer(0);
  if (t->queue) {
    return ctx.Error(
        "ERR LINSERT is not supported on a queue key: its discipline decides the order (use "
        "JOB.PUSH with PRIORITY or FRONT)");
  }
  const List* l = t->list;
  for (size_t i = 0; i < l->size(); i++) {
    if ((*l)[i] == ctx.args[3]) {
      ctx.db().ListInsert(ctx.args[1], after ? i + 1 : i, ctx.args[4]);
      ctx.Notify(event::kList, "linsert", ctx.args[1]);
      return ctx.reply.Integer(static_cast<long long>(l->size()));
    }
  }
  ctx.reply.Integer(-1);
}

void LRem(CommandContext& ctx) {
  auto count = ctx.Int(2);
  if (!count) return;
  auto t = Resolve(ctx, ctx.args[1], false);
  if (!t) return;
  if (t->empty()) return ctx.reply.Integer(0);
  const std::string& element = ctx.args[3];
  auto elements = Elements(*t, 0, t->size() - 1);
  // |count| as unsigned: -2^63 has no signed magnitude.
  unsigned long long magnitude = *count < 0 ? 0ULL - static_cast<unsigned long long>(*count)
                                            : static_cast<unsigned long long>(*count);
  unsigned long long limit = *count == 0 ? ULLONG_MAX : magnitude;
  std::vector<size_t> hits;  // indices to remove, in the direction of the scan
  if (*count >= 0) {
    for (size_t i = 0; i < elements.size() && hits.size() < limit; i++) {
      if (elements[i] == element) hits.push_back(i);
    }
  } else {
    for (size_t i = elements.size(); i-- > 0 && hits.size() < limit;) {
      if (elements[i] == element) hits.push_back(i);
    }
  }
  // Remove from the highest index down so earlier indices stay valid.
  std::sort(hits.rbegin(), hits.rend());
  if (t->queue) {
    std::vector<Job*> jobs = QueueRange(*t->queue, 0, t->size() - 1), doomed;
    for (size_t i : hits) doomed.push_back(jobs[i]);
    ctx.db().RemoveJobs(doomed);
  } else {
    for (size_t i : hits) ctx.db().ListRemove(ctx.args[1], i);
  }
  if (!hits.empty()) ctx.NotifyWrite(event::kList, "lrem", ctx.args[1]);
  ctx.reply.Integer(static_cast<long long>(hits.size()));
}

void LTrim(CommandContext& ctx) {
  auto start = ctx.Int(2);
  if (!start) return;
  auto stop = ctx.Int(3);
  if (!stop) return;
  auto t = Resolve(ctx, ctx.args[1], false);
  if (!t) return;
  if (t->empty()) return ctx.reply.Ok();
  long long len = static_cast<long long>(t->size()), a = 0, b = -1;
  long long left, right;
  if (NormalizeRange(*start, *stop, len, &a, &b)) {
    left = a;
    right = len - b - 1;
  } else {
    left = len;
    right = 0;
  }
  if (t->queue) {  // removes, not pops: a trimmed job was not handed out
    std::vector<Job*> jobs = QueueRange(*t->queue, 0, t->size() - 1), doomed;
    for (long long i = 0; i < len; i++) {
      if (i < left || i >= len - right) doomed.push_back(jobs[static_cast<size_t>(i)]);
    }
    ctx.db().RemoveJobs(doomed);
  } else {
    PopSome(ctx, ctx.args[1], true, left);
    PopSome(ctx, ctx.args[1], false, right);
  }
  ctx.NotifyWrite(event::kList, "ltrim", ctx.args[1]);
  ctx.reply.Ok();
}

void LPos(CommandContext& ctx) {
  long long rank = 1, count = -1, maxlen = 0;
  for (size_t i = 3; i < ctx.args.size(); i += 2) {
    if (i + 1 >= ctx.args.size()) return ctx.Error(err::kSyntax);
    if (ctx.Is(i, "RANK")) {
      auto v = ctx.Int(i + 1);
      if (!v) return;
      if (*v == 0) {
        return ctx.Error(
            "ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... "
            "or use negative to start from the end of the list");
      }
      rank = *v;
    } else if (ctx.Is(i, "COUNT")) {
      auto v = ctx.Int(i + 1);
      if (!v) return;
      if (*v < 0) return ctx.Error("ERR COUNT can't be negative");
      count = *v;
    } else if (ctx.Is(i, "MAXLEN")) {
      auto v = ctx.Int(i + 1);
      if (!v) return;
      if (*v < 0) return ctx.Error("ERR MAXLEN can't be negative");
      maxlen = *v;
    } else {
      return ctx.Error(err::kSyntax);
    }
  }
  auto t = Resolve(ctx, ctx.args[1], false);
  if (!t) return;
  if (t->empty()) return count >= 0 ? ctx.reply.Array(0) : ctx.reply.NullBulk();
  auto elements = Elements(*t, 0, t->size() - 1);
  std::vector<long long> found;
  long long want = count == 0 ? LLONG_MAX : (count < 0 ? 1 : count);
  // |rank| - 1 matches to pass over, computed without negating LLONG_MIN.
  long long skip = rank > 0 ? rank - 1 : -(rank + 1);
  long long len = static_cast<long long>(elements.size());
  for (long long step = 0; step < len && (maxlen == 0 || step < maxlen); step++) {
    long long i = rank > 0 ? step : len - 1 - step;
    if (elements[static_cast<size_t>(i)] != ctx.args[2]) continue;
    if (skip > 0) {
      skip--;
      continue;
    }
    found.push_back(i);
    if (static_cast<long long>(found.size()) >= want) break;
  }
  if (count < 0) return found.empty() ? ctx.reply.NullBulk() : ctx.reply.Integer(found[0]);
  ctx.reply.Array(found.size());
  for (long long i : found) ctx.reply.Integer(i);
}

bool ParseSide(CommandContext& ctx, size_t i, bool* left) {
  if (ctx.Is(i, "LEFT")) {
    *left = true;
  } else if (ctx.Is(i, "RIGHT")) {
    *left = false;
  } else {
    ctx.Error(err::kSyntax);
    return false;
  }
  return true;
}

// LMOVE and its relatives: pops from `src` and pushes onto `dst`. Replies the element, or
// blocks / replies null when `src` is empty.
void MoveGeneric(CommandContext& ctx, bool from_left, bool to_left, int64_t deadline,
                 bool blocking) {
  const std::string &src = ctx.args[1], &dst = ctx.args[2];
  auto from = Resolve(ctx, src, false);
  if (!from) return;
  if (!from->empty()) {
    if (!Resolve(ctx, dst, true)) return;
    std::optional<std::string> element;
    if (src == dst && from->list && from->list->size() == 1) {
      // Moving a list's only element onto itself changes nothing: the key (and its TTL) lives
      // on, as in Redis, where popping and pushing would delete it and make it anew.
      element = from->list->front();
      ctx.db().Touch(src);
    } else if ((element = Pop(ctx, *from, src, from_left))) {
      Push(ctx, *Resolve(ctx, dst, true), dst, to_left, *element);
    }
    if (element) {
      ctx.Notify(event::kList, to_left ? "lpush" : "rpush", dst);
      NotifyPop(ctx, src, from_left);
      return ctx.reply.Bulk(*element);
    }
  }
  // Redis answers a timeout with a null array, but a move that may not block (in MULTI or a
  // script) with a null bulk.
  if (blocking && ctx.block_mode != BlockMode::kNever) {
    return ctx.Block({src}, deadline, TimeoutReply::kNullArray);
  }
  ctx.reply.NullBulk();
}

void LMove(CommandContext& ctx) {
  bool from, to;
  if (ParseSide(ctx, 3, &from) && ParseSide(ctx, 4, &to)) MoveGeneric(ctx, from, to, 0, false);
}
void RPopLPush(CommandContext& ctx) { MoveGeneric(ctx, false, true, 0, false); }
void BLMove(CommandContext& ctx) {
  bool from, to;
  if (!ParseSide(ctx, 3, &from) || !ParseSide(ctx, 4, &to)) return;
  if (auto deadline = ctx.TimeoutDeadline(5)) MoveGeneric(ctx, from, to, *deadline, true);
}
void BRPopLPush(CommandContext& ctx) {
  if (auto deadline = ctx.TimeoutDeadline(3)) MoveGeneric(ctx, false, true, *deadline, true);
}

// BLPOP/BRPOP: the first non-empty key in argument order wins.
void BPopGeneric(CommandContext& ctx, bool left) {
  auto deadline = ctx.TimeoutDeadline(ctx.args.size() - 1);
  if (!deadline) return;
  std::vector<std::string> keys(ctx.args.begin() + 1, ctx.args.end() - 1);
  for (const auto& key : keys) {
    auto t = Resolve(ctx, key, false);
    if (!t) return;
    if (t->empty()) continue;
    auto element = Pop(ctx, *t, key, left);
    if (!element) continue;  // a paused or rate-limited queue
    NotifyPop(ctx, key, left);
    ctx.reply.Array(2);
    ctx.reply.Bulk(key);
    ctx.reply.Bulk(*element);
    return;
  }
  ctx.Block(keys, *deadline, TimeoutReply::kNullArray);
}
void BLPop(CommandContext& ctx) { BPopGeneric(ctx, true); }
void BRPop(CommandContext& ctx) { BPopGeneric(ctx, false); }

// LMPOP/BLMPOP: [key, [elements]] from the first non-empty key.
void MPopGeneric(CommandContext& ctx, size_t numkeys_index, int64_t deadline, bool blocking) {
  auto o = ParseMPopOptions(ctx, numkeys_index, "LEFT", "RIGHT");
  if (!o) return;
  for (const auto& key : o->keys) {
    auto t = Resolve(ctx, key, false);
    if (!t) return;
    if (t->empty()) continue;
    auto popped = PopSome(ctx, key, o->from_first, o->count);
    if (popped.empty()) continue;  // a paused or rate-limited queue
    NotifyPop(ctx, key, o->from_first);
    ctx.reply.Array(2);
    ctx.reply.Bulk(key);
    ctx.reply.Array(popped.size());
    for (const auto& e : popped) ctx.reply.Bulk(e);
    return;
  }
  if (blocking) return ctx.Block(o->keys, deadline, TimeoutReply::kNullArray);
  ctx.reply.NullArray();
}
void LMPop(CommandContext& ctx) { MPopGeneric(ctx, 1, 0, false); }
void BLMPop(CommandContext& ctx) {
  if (auto deadline = ctx.TimeoutDeadline(1)) MPopGeneric(ctx, 2, *deadline, true);
}

}  // namespace

std::vector<std::string_view> ListElements(CommandContext& ctx, std::string_view key) {
  auto t = Resolve(ctx, key, false);
  if (!t || t->empty()) return {};
  return Elements(*t, 0, t->size() - 1);
}

void RightPushAll(CommandContext& ctx, std::string_view key,
                  const std::vector<std::string>& elements) {
  auto t = Resolve(ctx, key, true);
  for (const auto& e : elements) Push(ctx, *t, key, false, e);
}

void RegisterListCommands(CommandRegistry* r) {
  using namespace cmd;
  KeySpec one{1, 1, 1}, two{1, 2, 1}, blocking_keys{1, -2, 1};
  r->Group("list")
      .Add("lpush", -3, kWrite | kFast | kDenyOom, one, LPush, "Prepend elements to a list")
      .Args("key element...")
      .Keys("RW INSERT")
      .Add("rpush", -3, kWrite | kFast | kDenyOom, one, RPush, "Append elements to a list")
      .Args("key element...")
      .Keys("RW INSERT")
      .Add("lpushx", -3, kWrite | kFast | kDenyOom, one, LPushX, "Prepend to an existing list")
      .Args("key element...")
      .Keys("RW INSERT")
      .Add("rpushx", -3, kWrite | kFast | kDenyOom, one, RPushX, "Append to an existing list")
      .Args("key element...")
      .Keys("RW INSERT")
      .Add("lpop", -2, kWrite | kFast, one, LPop, "Remove and return the first elements")
      .Args("key [count:integer]")
      .Keys("RW ACCESS DELETE")
      .Add("rpop", -2, kWrite | kFast, one, RPop, "Remove and return the last elements")
      .Args("key [count:integer]")
      .Keys("RW ACCESS DELETE")
      .Add("llen", 2, kReadOnly | kFast, one, LLen, "Length of a list")
      .Args("key")
      .Keys("RO")
      .Add("lrange", 4, kReadOnly, one, LRange, "A range of elements")
      .Args("key start:integer stop:integer")
      .Add("lindex", 3, kReadOnly, one, LIndex, "The element at an index")
      .Args("key index:integer")
      .Add("lset", 4, kWrite | kDenyOom, one, LSet, "Set the element at an index")
      .Args("key index:integer element")
      .Keys("RW UPDATE")
      .Add("linsert", 5, kWrite | kDenyOom, one, LInsert, "Insert before or after an element")
      .Args("key (BEFORE|AFTER) pivot element")
      .Keys("RW INSERT")
      .Add("lrem", 4, kWrite, one, LRem, "Remove elements equal to a value")
      .Args("key count:integer element")
      .Keys("RW DELETE")
      .Add("ltrim", 4, kWrite, one, LTrim, "Trim a list to a range")
      .Args("key start:integer stop:integer")
      .Keys("RW DELETE")
      .Add("lpos", -3, kReadOnly, one, LPos, "Positions of matching elements")
      .Args("key element [RANK rank:integer] [COUNT num-matches:integer] [MAXLEN len:integer]")
      .Add("rpoplpush", 3, kWrite | kDenyOom, two, RPopLPush,
           "Move the last element to another list")
      .Args("source:key destination:key")
      .Keys("RW ACCESS DELETE | RW INSERT")
      .Add("lmove", 5, kWrite | kDenyOom, two, LMove, "Move an element between lists")
      .Args("source:key destination:key (LEFT|RIGHT) (LEFT|RIGHT)")
      .Keys("RW ACCESS DELETE | RW INSERT")
      .Add("lmpop", -4, kWrite, {}, LMPop, "Pop elements from the first non-empty list")
      .Args("numkeys:integer key... (LEFT|RIGHT) [COUNT count:integer]")
      .Keys("RW ACCESS DELETE")
      .Add("blpop", -3, kWrite | kBlocking, blocking_keys, BLPop, "Blocking LPOP")
      .Args("key... timeout:double")
      .Keys("RW ACCESS DELETE")
      .Add("brpop", -3, kWrite | kBlocking, blocking_keys, BRPop, "Blocking RPOP")
      .Args("key... timeout:double")
      .Keys("RW ACCESS DELETE")
      .Add("brpoplpush", 4, kWrite | kBlocking | kDenyOom, two, BRPopLPush, "Blocking RPOPLPUSH")
      .Args("source:key destination:key timeout:double")
      .Keys("RW ACCESS DELETE | RW INSERT")
      .Add("blmove", 6, kWrite | kBlocking | kDenyOom, two, BLMove, "Blocking LMOVE")
      .Args("source:key destination:key (LEFT|RIGHT) (LEFT|RIGHT) timeout:double")
      .Keys("RW ACCESS DELETE | RW INSERT")
      .Add("blmpop", -5, kWrite | kBlocking, {}, BLMPop, "Blocking LMPOP")
      .Args("timeout:double numkeys:integer key... (LEFT|RIGHT) [COUNT count:integer]")
      .Keys("RW ACCESS DELETE");
}

}  // namespace desaster
