#include "server/data/keyspace.h"

#include <algorithm>
#include <cassert>

#include "server/data/notify.h"
#include "server/queue/record.h"

namespace desaster {

std::string_view TypeName(ValueType t) {
  switch (t) {
    case ValueType::kString:
      return "string";
    case ValueType::kList:
    case ValueType::kQueue:  // a queue answers the list commands
      return "list";
    case ValueType::kHash:
      return "hash";
    case ValueType::kSet:
      return "set";
    case ValueType::kZSet:
      return "zset";
    case ValueType::kStream:
      return "stream";
  }
  return "none";
}

// ---- Database: reads ----

bool Database::IsLive(std::string_view, const Value& v) const {
  return v.expire_at_ms == 0 || v.expire_at_ms > keyspace_->now_ms();
}

const Value* Database::Peek(std::string_view key) const {
  const Value* v = keys_.Find(key);
  return v && IsLive(key, *v) ? v : nullptr;
}

bool Database::HasExpired(std::string_view key) const {
  const Value* v = keys_.Find(key);
  return v && !IsLive(key, *v);
}

void Database::SetIdle(std::string_view key, int64_t idle_ms) {
  keys_.Find(key)->last_access_ms = keyspace_->now_ms() - idle_ms;
}

const Value* Database::Find(std::string_view key) {
  Value* v = keys_.Find(key);
  if (v == nullptr) return keyspace_->Missed(index_, key);
  if (!IsLive(key, *v)) {
    if (keyspace_->holding_expired()) return keyspace_->Missed(index_, key);
    keyspace_->expired_keys_++;
    Delete(key);
    keyspace_->Notify(index_, event::kExpired, "expired", key);
    return keyspace_->Missed(index_, key);
  }
  v->last_access_ms = keyspace_->now_ms();
  return v;
}

Value* Database::FindForWrite(std::string_view key) {
  // Find expires first, so a write never revives an expired value; what it returns is ours.
  return const_cast<Value*>(Find(key));
}

bool Database::RandomKey(std::string* out) {
  for (int tries = 0; tries < 100 && !keys_.empty(); tries++) {
    const auto* node = keys_.Random(keyspace_->rng());
    std::string key(node->key());
    if (Find(key)) {
      *out = std::move(key);
      return true;
    }
  }
  return false;
}

size_t Database::ExpireDue(size_t budget) {
  size_t n = 0;
  while (n < budget && !expires_.empty() && expires_.begin()->first <= keyspace_->now_ms()) {
    std::string key = expires_.begin()->second;
    keyspace_->expired_keys_++;
    Delete(key);
    keyspace_->Notify(index_, event::kExpired, "expired", key);
    n++;
  }
  return n;
}

// ---- Database: bookkeeping shared by all writes ----

void Database::Record(Mutation::Op op, std::string_view key, std::string_view arg,
                      std::string_view arg2, int64_t num, bool flag, double score) {
  if (!keyspace_->recording_) return;
  Mutation m;
  m.op = op;
  m.flag = flag;
  m.db = stored_as_;
  m.num = num;
  m.score = score;
  m.key = key;
  m.arg = arg;
  m.arg2 = arg2;
  keyspace_->pending_.push_back(std::move(m));
}

void Database::Changed(std::string_view key) { keyspace_->Touched(index_, key); }

Value& Database::Upsert(std::string_view key, ValueType type) {
  // A queue owns its key even while it has no ready job (and so no key): a value put there
  // (SET, a STORE destination) replaces the queue, as SET replaces a list, rather than hide
  // the jobs it would get next under a key of another type.
  if (Queue* q = FindQueue(key)) DropQueue(q);
  bool inserted;
  Value* v = keys_.Insert(key, &inserted);
  if (inserted) {
    switch (type) {
      case ValueType::kString:
        v->data.emplace<std::string>();
        break;
      case ValueType::kList:
        v->data.emplace<Boxed<List>>();
        break;
      case ValueType::kHash:
        v->data.emplace<Hash>();
        break;
      case ValueType::kSet:
        v->data.emplace<Set>();
        break;
      case ValueType::kZSet:
        v->data.emplace<Boxed<ZSet>>();
        break;
      case ValueType::kStream:
        v->data.emplace<Boxed<Stream>>();
        break;
      case ValueType::kQueue:  // queue keys appear through SyncQueueKey, never here
        assert(false);
        break;
    }
    v->last_access_ms = keyspace_->now_ms();
    keyspace_->NotifyNew(index_, key);
  }
  assert(v->type() == type);
  return *v;
}

void Database::EraseKey(std::string_view key) {
  Value* v = keys_.Find(key);
  if (v == nullptr) return;
  if (v->type() == ValueType::kQueue) {
    // Deleting or overwriting a queue key deletes its ready jobs, as with a Redis list; the
    // queue (configuration, scheduled jobs) stays. The last removal drops the key itself.
    ClearQueue(v->queue(), JobsOf::kReady);
    return;
  }
  if (v->expire_at_ms) expires_.erase({v->expire_at_ms, std::string(key)});
  keys_.Erase(key);
}

void Database::SetExpireIndex(std::string_view key, int64_t old_at, int64_t new_at) {
  if (old_at) expires_.erase({old_at, std::string(key)});
  if (new_at) expires_.emplace(new_at, std::string(key));
}

void Database::DropIfEmpty(std::string_view key, const Value& v) {
  // Strings are never empty containers, and an empty stream stays (it keeps its last ID).
  if (v.type() == ValueType::kString || v.type() == ValueType::kStream || v.Length() != 0) return;
  // Recorded so the store also forgets the key's TTL; replaying it finds the key gone already.
  Record(Mutation::Op::kDelete, key);
  EraseKey(key);
}

// ---- Database: writes ----

void Database::SetString(std::string_view key, std::string value, bool keep_ttl) {
  Value* old = FindForWrite(key);
  int64_t ttl = 0;
  bool replaced = false;                           // a value of another type: the key is not new
  if (old && old->type() != ValueType::kString) {  // replaced, keeping its TTL for KEEPTTL
    ttl = keep_ttl ? old->expire_at_ms : 0;
    EraseKey(key);
    old = nullptr;
    replaced = true;
  }
  Record(Mutation::Op::kSetString, key, value, {}, 0, keep_ttl);
  if (old) {
    // A string over a string is written in place: erasing and inserting the key walked its
    // hash chain three more times and freed and made its node (SET of existing keys).
    if (!keep_ttl && old->expire_at_ms) {
      SetExpireIndex(key, old->expire_at_ms, 0);
      old->expire_at_ms = 0;
    }
    old->str() = std::move(value);
  } else {
    bool announce = keyspace_->announce_new();
    keyspace_->set_announce_new(announce && !replaced);
    Value& v = Upsert(key, ValueType::kString);
    keyspace_->set_announce_new(announce);
    v.str() = std::move(value);
    if (ttl) {
      v.expire_at_ms = ttl;
      SetExpireIndex(key, 0, ttl);
    }
  }
  Changed(key);
}

size_t Database::WriteRange(std::string_view key, size_t offset, std::string_view bytes) {
  Value* v = FindForWrite(key);
  if (v && v->type() != ValueType::kString) {  // only a damaged store's records get here
    EraseKey(key);
    v = nullptr;
  }
  if (!v) v = &Upsert(key, ValueType::kString);
  std::string& s = v->str();
  size_t size = offset + bytes.size();
  if (size > s.capacity()) {
    // Room to grow as Redis' sdsMakeRoomFor leaves it: double a small string, but give a big one
    // 1 MB more, not its size again (a 512 MB string grown by a byte took a 1 GB block).
    constexpr size_t kGreedyLimit = 1 << 20;
    s.reserve(size < kGreedyLimit ? 2 * size : size + kGreedyLimit);
  }
  if (s.size() < size) s.resize(size, '\0');
  s.replace(offset, bytes.size(), bytes);
  if (s.size() <= kStringChunk) {
    Record(Mutation::Op::kSetString, key, s, {}, 0, true);
  } else {
    // The whole chunks the edit touches, up to the string's end.
    size_t first = offset / kStringChunk * kStringChunk;
    size_t end = std::min(s.size(),
                          (offset + bytes.size() + kStringChunk - 1) / kStringChunk * kStringChunk);
    Record(Mutation::Op::kSetRange, key, std::string_view(s).substr(first, end - first), {},
           static_cast<int64_t>(first));
  }
  Changed(key);
  return s.size();
}

bool Database::Delete(std::string_view key) {
  if (keys_.Find(key) == nullptr) return false;
  Record(Mutation::Op::kDelete, key);
  EraseKey(key);
  Changed(key);
  return true;
}

void Database::ExpireAt(std::string_view key, int64_t at_ms) {
  if (at_ms <= keyspace_->now_ms() && keyspace_->recording_) {
    Delete(key);
    return;
  }
  Value* v = keys_.Find(key);
  if (v == nullptr) return;
  Record(Mutation::Op::kExpireAt, key, {}, {}, at_ms);
  SetExpireIndex(key, v->expire_at_ms, at_ms);
  v->expire_at_ms = at_ms;
  Changed(key);
}

bool Database::Persist(std::string_view key) {
  Value* v = FindForWrite(key);
  if (v == nullptr || v->expire_at_ms == 0) return false;
  Record(Mutation::Op::kPersist, key);
  SetExpireIndex(key, v->expire_at_ms, 0);
  v->expire_at_ms = 0;
  Changed(key);
  return true;
}

void Database::ListPush(std::string_view key, bool left, std::string_view element) {
  FindForWrite(key);
  Record(Mutation::Op::kListPush, key, element, {}, 0, left);
  List& l = Upsert(key, ValueType::kList).list();
  left ? l.emplace_front(element) : l.emplace_back(element);
  Changed(key);
}

std::string Database::ListPop(std::string_view key, bool left) {
  Value* v = FindForWrite(key);
  assert(v && !v->list().empty());
  Record(Mutation::Op::kListPop, key, {}, {}, 0, left);
  List& l = v->list();
  std::string out;
  if (left) {
    out = std::move(l.front());
    l.pop_front();
  } else {
    out = std::move(l.back());
    l.pop_back();
  }
  DropIfEmpty(key, *v);
  Changed(key);
  return out;
}

void Database::ListSet(std::string_view key, size_t index, std::string_view element) {
  Value* v = FindForWrite(key);
  Record(Mutation::Op::kListSet, key, element, {}, static_cast<int64_t>(index));
  v->list()[index] = element;
  Changed(key);
}

void Database::ListInsert(std::string_view key, size_t index, std::string_view element) {
  FindForWrite(key);
  Record(Mutation::Op::kListInsert, key, element, {}, static_cast<int64_t>(index));
  List& l = Upsert(key, ValueType::kList).list();
  l.emplace(l.begin() + static_cast<ptrdiff_t>(index), element);
  Changed(key);
}

void Database::ListRemove(std::string_view key, size_t index) {
  Value* v = FindForWrite(key);
  Record(Mutation::Op::kListRemove, key, {}, {}, static_cast<int64_t>(index));
  List& l = v->list();
  l.erase(l.begin() + static_cast<ptrdiff_t>(index));
  DropIfEmpty(key, *v);
  Changed(key);
}

bool Database::HashSet(std::string_view key, std::string_view field, std::string_view value,
                       uint64_t seq) {
  FindForWrite(key);
  uint64_t assigned;
  bool inserted = Upsert(key, ValueType::kHash)
                      .hash()
                      .Set(field, value, keyspace_->hash_limits(), seq, &assigned);
  Record(Mutation::Op::kHashSet, key, field, value, static_cast<int64_t>(assigned));
  Changed(key);
  return inserted;
}

bool Database::HashDelete(std::string_view key, std::string_view field) {
  Value* v = FindForWrite(key);
  if (v == nullptr || !v->hash().Erase(field)) return false;
  Record(Mutation::Op::kHashDelete, key, field);
  DropIfEmpty(key, *v);
  Changed(key);
  return true;
}

bool Database::SetAdd(std::string_view key, std::string_view member) {
  Value* v = FindForWrite(key);
  if (v && v->set().Contains(member)) return false;
  Record(Mutation::Op::kSetAdd, key, member);
  Upsert(key, ValueType::kSet).set().Insert(member, keyspace_->set_limits());
  Changed(key);
  return true;
}

bool Database::SetRemove(std::string_view key, std::string_view member) {
  Value* v = FindForWrite(key);
  if (v == nullptr || !v->set().Erase(member)) return false;
  Record(Mutation::Op::kSetRemove, key, member);
  DropIfEmpty(key, *v);
  Changed(key);
  return true;
}

void Database::ZAdd(std::string_view key, std::string_view member, double score) {
  FindForWrite(key);
  Record(Mutation::Op::kZAdd, key, member, {}, 0, false, score);
  Upsert(key, ValueType::kZSet).zset().Set(member, score);
  Changed(key);
}

bool Database::ZRemove(std::string_view key, std::string_view member) {
  Value* v = FindForWrite(key);
  if (v == nullptr || !v->zset().Erase(member)) return false;
  Record(Mutation::Op::kZRemove, key, member);
  DropIfEmpty(key, *v);
  Changed(key);
  return true;
}

void Database::StreamAdd(std::string_view key, StreamId id, std::vector<std::string> fields) {
  FindForWrite(key);
  Record(Mutation::Op::kStreamAdd, key, id.Encode(), EncodeFields(fields));
  Stream& s = Upsert(key, ValueType::kStream).stream();
  s.entries[id] = std::move(fields);
  if (id > s.meta.last_id) s.meta.last_id = id;
  s.meta.entries_added++;
  Changed(key);
}

bool Database::StreamDelete(std::string_view key, StreamId id) {
  Value* v = FindForWrite(key);
  if (v == nullptr || !v->stream().entries.erase(id)) return false;
  Record(Mutation::Op::kStreamDelete, key, id.Encode());
  if (id > v->stream().meta.max_deleted) v->stream().meta.max_deleted = id;
  Changed(key);
  return true;
}

void Database::StreamSetMeta(std::string_view key, const StreamMeta& meta) {
  FindForWrite(key);
  Record(Mutation::Op::kStreamSetMeta, key, meta.Encode());
  Upsert(key, ValueType::kStream).stream().meta = meta;
  Changed(key);
}

StreamGroup& Database::Group(std::string_view key, std::string_view group) {
  Value* v = FindForWrite(key);
  assert(v && v->type() == ValueType::kStream);
  auto it = v->stream().groups.find(group);
  assert(it != v->stream().groups.end());
  return it->second;
}

void Database::StreamGroupSet(std::string_view key, std::string_view group, StreamId last_delivered,
                              int64_t entries_read) {
  Value* v = FindForWrite(key);
  assert(v && v->type() == ValueType::kStream);
  auto [it, created] = v->stream().groups.try_emplace(std::string(group));
  it->second.last_delivered = last_delivered;
  it->second.entries_read = entries_read;
  Record(Mutation::Op::kStreamGroupPut, key, group, it->second.EncodeState());
  Changed(key);
}

void Database::StreamGroupDelete(std::string_view key, std::string_view group) {
  Group(key, group);
  Record(Mutation::Op::kStreamGroupDelete, key, group);
  Stream& s = keys_.Find(key)->stream();
  s.groups.erase(s.groups.find(group));
  Changed(key);  // a blocked XREADGROUP of the group learns it is gone
}

bool Database::StreamConsumerAdd(std::string_view key, std::string_view group,
                                 std::string_view consumer) {
  auto [it, created] = Group(key, group).consumers.try_emplace(std::string(consumer));
  if (!created) return false;
  it->second.seen_ms = keyspace_->now_ms();
  Record(Mutation::Op::kStreamConsumerPut, key, group, consumer);
  return true;
}

size_t Database::StreamConsumerDelete(std::string_view key, std::string_view group,
                                      std::string_view consumer) {
  StreamGroup& g = Group(key, group);
  auto it = g.consumers.find(consumer);
  if (it == g.consumers.end()) return 0;
  std::set<StreamId> pending = it->second.pending;
  for (const StreamId& id : pending) StreamPendingDelete(key, group, id);
  Record(Mutation::Op::kStreamConsumerDelete, key, group, consumer);
  g.consumers.erase(it);
  return pending.size();
}

void Database::StreamConsumerSeen(std::string_view key, std::string_view group,
                                  std::string_view consumer) {
  StreamGroup& g = Group(key, group);
  if (auto it = g.consumers.find(consumer); it != g.consumers.end()) {
    it->second.seen_ms = keyspace_->now_ms();
  }
}

void Database::StreamPendingSet(std::string_view key, std::string_view group, StreamId id,
                                StreamPending p) {
  StreamGroup& g = Group(key, group);
  auto consumer = g.consumers.find(p.consumer);
  assert(consumer != g.consumers.end());
  Record(Mutation::Op::kStreamPendingPut, key, group, id.Encode() + p.Encode());
  auto [it, created] = g.pending.try_emplace(id);
  if (!created && it->second.consumer != p.consumer) {
    if (auto old = g.consumers.find(it->second.consumer); old != g.consumers.end()) {
      old->second.pending.erase(id);
    }
  }
  consumer->second.pending.insert(id);
  it->second = std::move(p);
}

bool Database::StreamPendingDelete(std::string_view key, std::string_view group, StreamId id) {
  StreamGroup& g = Group(key, group);
  auto it = g.pending.find(id);
  if (it == g.pending.end()) return false;
  Record(Mutation::Op::kStreamPendingDelete, key, group, id.Encode());
  if (auto c = g.consumers.find(it->second.consumer); c != g.consumers.end()) {
    c->second.pending.erase(id);
  }
  g.pending.erase(it);
  return true;
}

void Database::Rename(std::string_view from, std::string_view to) {
  Value* v = FindForWrite(from);
  assert(v);
  if (from == to) return;
  FindForWrite(to);  // expires a stale `to` (recording its delete) before the rename is recorded
  v = keys_.Find(from);
  Record(Mutation::Op::kRename, from, to);
  Value moved = std::move(*v);
  EraseKey(from);
  EraseKey(to);
  bool inserted;
  Value* dst = keys_.Insert(to, &inserted);
  *dst = std::move(moved);
  keyspace_->NotifyNew(index_, to);
  SetExpireIndex(to, 0, dst->expire_at_ms);
  Changed(from);
  Changed(to);
}

void Database::CopyTo(std::string_view from, Database& dst, std::string_view to) {
  Value* v = FindForWrite(from);
  assert(v);
  if (&dst == this && from == to) return;  // as Rename: the value is already there
  dst.FindForWrite(to);
  v = keys_.Find(from);
  Record(Mutation::Op::kCopy, from, to, {}, dst.stored_as_);
  Value copy = *v;
  dst.EraseKey(to);
  bool inserted;
  Value* target = dst.keys_.Insert(to, &inserted);
  *target = std::move(copy);
  keyspace_->NotifyNew(dst.index_, to);
  dst.SetExpireIndex(to, 0, target->expire_at_ms);
  dst.Changed(to);
}

void Database::Flush() {
  Record(Mutation::Op::kFlushDb, {});
  keyspace_->TouchedAll(index_);  // before the keys go: it asks which existed
  DropAllQueues();
  keys_.Clear();
  expires_.clear();
}

void Database::ApplyGroupChange(const Mutation& m) {
  // Checked although the master recorded it: a damaged record must not break what the methods
  // assert (the stream, the group and the consumer exist).
  const Value* v = Peek(m.key);
  const Stream* s = v && v->type() == ValueType::kStream ? &v->stream() : nullptr;
  if (m.op == Mutation::Op::kStreamGroupPut) {
    StreamGroup state;
    if (!StreamGroup::DecodeState(m.arg2, &state)) return;
    if (!s) StreamSetMeta(m.key, StreamMeta{});  // the store loads groups before entries
    StreamGroupSet(m.key, m.arg, state.last_delivered, state.entries_read);
    return;
  }
  if (!s || !s->groups.contains(m.arg)) return;
  StreamId id = m.arg2.size() >= 16 ? StreamId::Decode(m.arg2) : StreamId{};
  StreamPending p;
  switch (m.op) {
    case Mutation::Op::kStreamGroupDelete:
      StreamGroupDelete(m.key, m.arg);
      break;
    case Mutation::Op::kStreamConsumerPut:
      StreamConsumerAdd(m.key, m.arg, m.arg2);
      break;
    case Mutation::Op::kStreamConsumerDelete:
      StreamConsumerDelete(m.key, m.arg, m.arg2);
      break;
    case Mutation::Op::kStreamPendingPut:
      if (m.arg2.size() < 16 || !StreamPending::Decode(std::string_view(m.arg2).substr(16), &p)) {
        break;
      }
      StreamConsumerAdd(m.key, m.arg, p.consumer);  // there already, unless damaged
      StreamPendingSet(m.key, m.arg, id, std::move(p));
      break;
    case Mutation::Op::kStreamPendingDelete:
      StreamPendingDelete(m.key, m.arg, id);
      break;
    default:
      break;
  }
}

// ---- Keyspace ----

Keyspace::Keyspace(int databases) : dialects_(Dialects::Default()) {
  for (int i = 0; i < databases; i++) {
    dbs_.push_back(std::make_unique<Database>(this, i));
    stored_.push_back(dbs_.back().get());
  }
}

void Keyspace::RunDueWork(size_t jobs, size_t schedules) {
  if (import_.active) return;  // the source's workers and schedulers still do this work
  for (auto& db : dbs_) {
    db->PromoteDue(jobs);
    db->FireDueSchedules(schedules);
    db->ExpireLeases(jobs);
    db->TrimCompletions(jobs);
    db->WakeThrottled();
  }
}

std::string Keyspace::Import::Encode() const {
  std::string out;
  record::PutVarint(&out, (active ? 1 : 0) | (retry_imported ? 2 : 0));
  record::PutString(&out, source);
  record::PutSigned(&out, offset);
  record::PutSigned(&out, finished_ms);
  return out;
}

bool Keyspace::Import::Decode(std::string_view data, Import* out) {
  record::Reader r(data);
  uint64_t flags = r.Varint();
  Import in;
  in.active = (flags & 1) != 0;
  in.retry_imported = (flags & 2) != 0;
  in.source = r.String();
  in.offset = r.Signed();
  in.finished_ms = r.Signed();
  if (!r.done()) return false;
  *out = std::move(in);
  return true;
}

void Keyspace::SetImport(Import import) {
  db(0).Record(Mutation::Op::kImportState, "", import.Encode());
  import_ = std::move(import);
}

void Keyspace::RecordMasterTerm(MasterTerm term) {
  db(0).Record(Mutation::Op::kMasterTerm, term.node, term.address, std::to_string(term.since_ms),
               term.epoch);
  master_history_.push_back(std::move(term));
  if (master_history_.size() > kMasterHistory) master_history_.pop_front();
}

void Keyspace::SetFunctionLibrary(std::string_view name, std::string_view code) {
  db(0).Record(Mutation::Op::kFunctionLoad, name, code);
  function_libraries_.insert_or_assign(std::string(name), std::string(code));
}

void Keyspace::DeleteFunctionLibrary(std::string_view name) {
  db(0).Record(Mutation::Op::kFunctionDelete, name);
  function_libraries_.erase(std::string(name));
}

void Keyspace::FlushFunctionLibraries() {
  db(0).Record(Mutation::Op::kFunctionFlush, {});
  function_libraries_.clear();
}

void Keyspace::FlushAll() {
  flushing_all_ = true;
  for (auto& db : dbs_) {
    bool was = recording_;
    recording_ = false;  // recorded once below, not per database
    db->Flush();
    recording_ = was;
  }
  flushing_all_ = false;
  if (change_listener_) change_listener_(nullptr);
  if (recording_) {
    Mutation m;
    m.op = Mutation::Op::kFlushAll;
    pending_.push_back(std::move(m));
  }
}

void Keyspace::Apply(const Mutation& m) {
  recording_ = false;
  Database& d = StoredAs(m.db);
  switch (m.op) {
    case Mutation::Op::kSetString:
      d.SetString(m.key, m.arg, m.flag);
      break;
    case Mutation::Op::kSetRange:
      d.WriteRange(m.key, static_cast<size_t>(m.num), m.arg);
      break;
    case Mutation::Op::kDelete:
      d.Delete(m.key);
      break;
    case Mutation::Op::kExpireAt:
      d.ExpireAt(m.key, m.num);
      break;
    case Mutation::Op::kPersist:
      d.Persist(m.key);
      break;
    case Mutation::Op::kListPush:
      d.ListPush(m.key, m.flag, m.arg);
      break;
    case Mutation::Op::kListPop:
      d.ListPop(m.key, m.flag);
      break;
    case Mutation::Op::kListSet:
      d.ListSet(m.key, static_cast<size_t>(m.num), m.arg);
      break;
    case Mutation::Op::kListInsert:
      d.ListInsert(m.key, static_cast<size_t>(m.num), m.arg);
      break;
    case Mutation::Op::kListRemove:
      d.ListRemove(m.key, static_cast<size_t>(m.num));
      break;
    case Mutation::Op::kHashSet:
      d.HashSet(m.key, m.arg, m.arg2, static_cast<uint64_t>(m.num));
      break;
    case Mutation::Op::kHashDelete:
      d.HashDelete(m.key, m.arg);
      break;
    case Mutation::Op::kSetAdd:
      d.SetAdd(m.key, m.arg);
      break;
    case Mutation::Op::kSetRemove:
      d.SetRemove(m.key, m.arg);
      break;
    case Mutation::Op::kZAdd:
      d.ZAdd(m.key, m.arg, m.score);
      break;
    case Mutation::Op::kStreamAdd:
      d.StreamAdd(m.key, StreamId::Decode(m.arg), DecodeFields(m.arg2));
      break;
    case Mutation::Op::kStreamDelete:
      d.StreamDelete(m.key, StreamId::Decode(m.arg));
      break;
    case Mutation::Op::kStreamSetMeta:
      d.StreamSetMeta(m.key, StreamMeta::Decode(m.arg));
      break;
    case Mutation::Op::kZRemove:
      d.ZRemove(m.key, m.arg);
      break;
    case Mutation::Op::kRename:
      d.Rename(m.key, m.arg);
      break;
    case Mutation::Op::kCopy:
      d.CopyTo(m.key, StoredAs(static_cast<int>(m.num)), m.arg);
      break;
    case Mutation::Op::kFlushDb:
      d.Flush();
      break;
    case Mutation::Op::kFlushAll:
      FlushAll();
      break;
    case Mutation::Op::kQueueConfig: {
      QueueConfig config;
      std::string error;
      if (QueueConfig::Decode(m.arg, &config)) d.CreateQueue(m.key, std::move(config), &error);
      break;
    }
    case Mutation::Op::kQueueDrop:
      if (Queue* q = d.FindQueue(m.key)) d.DropQueue(q);
      break;
    case Mutation::Op::kJobPut:
      d.ApplyJobPut(m.key, static_cast<uint64_t>(m.num), m.arg);
      break;
    case Mutation::Op::kJobDelete:
      if (Job* job = d.FindJob(static_cast<uint64_t>(m.num))) d.RemoveJob(job);
      break;
    case Mutation::Op::kJobsDelete: {
      std::vector<uint64_t> ids;
      DecodeJobIds(m.arg, &ids);
      // RemoveJobs takes each job once: an id listed twice (a damaged entry) must not be freed
      // twice.
      std::sort(ids.begin(), ids.end());
      ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
      std::vector<Job*> jobs;
      for (uint64_t id : ids) {
        if (Job* job = d.FindJob(id)) jobs.push_back(job);
      }
      d.RemoveJobs(jobs);
      break;
    }
    case Mutation::Op::kScheduleSet: {
      Schedule s;
      if (Schedule::Decode(m.arg, &s)) {
        s.name = m.key;
        d.PutSchedule(std::move(s));
      }
      break;
    }
    case Mutation::Op::kScheduleDelete:
      d.DeleteSchedule(m.key);
      break;
    case Mutation::Op::kFailurePut: {
      Failure f;
      if (Failure::Decode(m.arg, &f)) {
        f.id = static_cast<uint64_t>(m.num);
        d.PutFailure(std::move(f));
        d.per_run_failures_ |= Failure::IsPerRunRecord(m.arg);
      }
      break;
    }
    case Mutation::Op::kFailureDelete:
      if (Failure* f = d.FindFailure(static_cast<uint64_t>(m.num))) d.RemoveFailure(f);
      break;
    case Mutation::Op::kScriptLoad:
    case Mutation::Op::kScriptFlush:
      break;  // the script engine's (the network layer hands them to it)
    case Mutation::Op::kWorkerPut: {
      Worker w;
      if (Worker::Decode(m.arg, &w)) {
        w.id = m.key;
        w.db = d.index();
        w.last_seen_ms = now_ms_;
        workers_.insert_or_assign(m.key, std::move(w));
      }
      break;
    }
    case Mutation::Op::kMasterTerm:
      master_history_.push_back({m.num, m.key, m.arg, std::atoll(m.arg2.c_str())});
      if (master_history_.size() > kMasterHistory) master_history_.pop_front();
      break;
    case Mutation::Op::kCompletionPut: {
      Completion c;
      c.archived = m.flag && completion_archive_;  // loaded: the store has the body to read
      if (Completion::Decode(m.arg, &c, !c.archived)) {
        c.job = static_cast<uint64_t>(m.num);
        d.PutCompletion(std::move(c));
      }
      break;
    }
    case Mutation::Op::kCompletionDelete:
      d.RemoveCompletion(static_cast<uint64_t>(m.num));
      break;
    case Mutation::Op::kMetricPut:
    case Mutation::Op::kMetricDelete: {
      MetricCellKey key{.name = m.key, .start_ms = m.num};
      MetricCell cell;
      if (!MetricCellKey::FromTag(m.arg2, &key)) break;
      if (m.op == Mutation::Op::kMetricDelete) {
        d.metrics().Apply(key, nullptr);
      } else if (MetricCell::Decode(m.arg, &cell)) {
        d.metrics().Apply(key, &cell);
      }
      break;
    }
    case Mutation::Op::kWorkerDelete:
      if (auto it = workers_.find(m.key); it != workers_.end()) workers_.erase(it);
      break;
    case Mutation::Op::kImportState:
      Import::Decode(m.arg, &import_);
      break;
    case Mutation::Op::kAclUsers:
      acl_users_ = m.arg;
      break;
    case Mutation::Op::kFunctionLoad:
      function_libraries_.insert_or_assign(m.key, m.arg);
      break;
    case Mutation::Op::kFunctionDelete:
      function_libraries_.erase(m.key);
      break;
    case Mutation::Op::kFunctionFlush:
      function_libraries_.clear();
      break;
    case Mutation::Op::kSwapDb:  // `db` and `num` are the numbers clients use here
      if (m.db >= 0 && m.db < databases() && m.num >= 0 && m.num < databases()) {
        SwapDatabases(m.db, static_cast<int>(m.num));
      }
      break;
    case Mutation::Op::kStreamGroupPut:
    case Mutation::Op::kStreamGroupDelete:
    case Mutation::Op::kStreamConsumerPut:
    case Mutation::Op::kStreamConsumerDelete:
    case Mutation::Op::kStreamPendingPut:
    case Mutation::Op::kStreamPendingDelete:
      d.ApplyGroupChange(m);
      break;
  }
  recording_ = true;
}

void Keyspace::ArchiveStoredCompletions() {
  if (!completion_archive_) return;
  for (auto [db, job] : completion_archive_->TakeStored()) {
    if (db < databases()) StoredAs(db).CompletionStored(job);
  }
}

Database& Keyspace::StoredAs(int stored_as) {
  // Callers check stored_as < databases(): the loader skips records of databases it lacks.
  return *stored_[static_cast<size_t>(stored_as)];
}

void Keyspace::SwapDatabases(int a, int b) {
  if (a == b) return;
  std::swap(dbs_[static_cast<size_t>(a)], dbs_[static_cast<size_t>(b)]);
  std::swap(dbs_[static_cast<size_t>(a)]->index_, dbs_[static_cast<size_t>(b)]->index_);
  for (auto& [id, w] : workers_) {  // a worker stays with its queues
    if (w.db == a || w.db == b) w.db = w.db == a ? b : a;
  }
  if (recording_) {
    Mutation m;
    m.op = Mutation::Op::kSwapDb;
    m.db = a;
    m.num = b;
    m.arg = DatabaseMap();
    pending_.push_back(std::move(m));
  }
  // As Redis: a watched key of either database that exists in either has changed, and the
  // clients blocked on keys of either look again.
  auto exists = [&](const std::string& key) {
    return dbs_[static_cast<size_t>(a)]->keys_.Find(key) ||
           dbs_[static_cast<size_t>(b)]->keys_.Find(key);
  };
  for (auto& [k, flags] : watched_) {
    if ((k.first == a || k.first == b) && exists(k.second)) {
      for (WatchFlag* f : flags) f->dirty = true;
    }
  }
  for (const auto& [k, clients] : blocked_) {
    if ((k.first == a || k.first == b) &&
        std::find(ready_.begin(), ready_.end(), k) == ready_.end()) {
      ready_.push_back(k);
    }
  }
}

std::string Keyspace::DatabaseMap() const {
  std::string map;
  for (const auto& d : dbs_) {  // u16 each, big-endian, as the store numbers databases
    map.push_back(static_cast<char>(d->stored_as_ >> 8));
    map.push_back(static_cast<char>(d->stored_as_ & 0xff));
  }
  return map;
}

bool Keyspace::SetDatabaseMap(std::string_view map) {
  if (map.size() != 2 * dbs_.size()) return false;
  std::vector<int> stored(dbs_.size());
  std::vector<bool> seen(dbs_.size());
  for (size_t i = 0; i < dbs_.size(); i++) {
    stored[i] =
        static_cast<unsigned char>(map[2 * i]) << 8 | static_cast<unsigned char>(map[2 * i + 1]);
    if (static_cast<size_t>(stored[i]) >= seen.size() || seen[static_cast<size_t>(stored[i])]) {
      return false;
    }
    seen[static_cast<size_t>(stored[i])] = true;
  }
  for (size_t i = 0; i < dbs_.size(); i++) {
    dbs_[i]->stored_as_ = stored[i];
    stored_[static_cast<size_t>(stored[i])] = dbs_[i].get();
  }
  return true;
}

void Keyspace::Touched(int db, std::string_view key) {
  if (change_listener_) change_listener_(&key);
  if (!watched_.empty()) {
    auto it = watched_.find(Key(db, std::string(key)));
    if (it != watched_.end()) {
      for (WatchFlag* f : it->second) f->dirty = true;
    }
  }
  if (!blocked_.empty()) {
    Key k(db, std::string(key));
    if (blocked_.count(k) && std::find(ready_.begin(), ready_.end(), k) == ready_.end()) {
      ready_.push_back(std::move(k));
    }
  }
}

void Keyspace::TouchedAll(int db) {
  if (change_listener_ && !flushing_all_) change_listener_(nullptr);
  // As in Redis 7.0, a flush changes only the watched keys it removes: a transaction that
  // watched an absent key still runs.
  for (auto& [k, flags] : watched_) {
    if (k.first == db && dbs_[db]->keys_.Find(k.second) != nullptr) {
      for (WatchFlag* f : flags) f->dirty = true;
    }
  }
}

void Keyspace::Watch(int db, std::string_view key, WatchFlag* flag) {
  auto& flags = watched_[Key(db, std::string(key))];
  if (std::find(flags.begin(), flags.end(), flag) == flags.end()) flags.push_back(flag);
}

void Keyspace::Unwatch(int db, std::string_view key, WatchFlag* flag) {
  auto it = watched_.find(Key(db, std::string(key)));
  if (it == watched_.end()) return;
  std::erase(it->second, flag);
  if (it->second.empty()) watched_.erase(it);
}

void Keyspace::Block(int db, std::string_view key, uint64_t client) {
  blocked_[Key(db, std::string(key))].push_back(client);
}

void Keyspace::Unblock(int db, std::string_view key, uint64_t client) {
  auto it = blocked_.find(Key(db, std::string(key)));
  if (it == blocked_.end()) return;
  std::erase(it->second, client);
  if (it->second.empty()) blocked_.erase(it);
}

std::vector<uint64_t> Keyspace::Waiters(int db, std::string_view key) const {
  auto it = blocked_.find(Key(db, std::string(key)));
  return it == blocked_.end() ? std::vector<uint64_t>{} : it->second;
}

}  // namespace desaster
