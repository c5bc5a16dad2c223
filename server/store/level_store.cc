#include "server/store/level_store.h"

#include <leveldb/write_batch.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <unordered_set>

#include "server/store/encoding.h"
#include "server/store/files.h"

namespace desaster {

namespace fs = std::filesystem;
using namespace store;

namespace {

// Lists `item` in `list` (what the end of the commit settles) unless `*listed` says it is there.
template <class T>
void ListOnce(bool* listed, std::vector<T>* list, const T& item) {
  if (*listed) return;
  *listed = true;
  list->push_back(item);
}

}  // namespace

// ---- BatchView: the batch being built, layered over what LevelDB already holds ----

// Writes go straight into the WriteBatch. A few mutations (deleting a container, RENAME, COPY,
// FLUSHDB, renumbering a list) must read records, possibly ones written earlier in the same
// batch; only then is an ordered overlay of the batch built, and kept up to date after that.
class LevelStore::BatchView {
 public:
  // Builds into `batch`, which it clears first: the store reuses one WriteBatch so its buffer's
  // capacity carries over and a big batch does not regrow (and page-fault) its buffer each time.
  BatchView(leveldb::DB* db, leveldb::WriteBatch* batch) : db_(db), batch_(*batch) {
    batch_.Clear();
  }

  void Put(const std::string& key, std::string_view value) {
    batch_.Put(key, leveldb::Slice(value.data(), value.size()));
    if (overlay_) (*overlay_)[key] = std::string(value);
  }
  void Delete(const std::string& key) {
    batch_.Delete(key);
    if (overlay_) (*overlay_)[key] = std::nullopt;
  }

  std::optional<std::string> Get(const std::string& key) {
    auto& overlay = Overlay();
    auto it = overlay.find(key);
    if (it != overlay.end()) return it->second;
    std::string value;
    if (db_->Get(leveldb::ReadOptions(), key, &value).ok()) return value;
    return std::nullopt;
  }

  // Every live record under `prefix`, in key order, as (key, value).
  std::map<std::string, std::string> WithPrefix(const std::string& prefix) {
    std::map<std::string, std::string> out;
    std::unique_ptr<leveldb::Iterator> it(db_->NewIterator(leveldb::ReadOptions()));
    for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
      out.emplace(it->key().ToString(), it->value().ToString());
    }
    auto& overlay = Overlay();
    for (auto o = overlay.lower_bound(prefix);
         o != overlay.end() && o->first.compare(0, prefix.size(), prefix) == 0; ++o) {
      if (o->second) {
        out[o->first] = *o->second;
      } else {
        out.erase(o->first);
      }
    }
    return out;
  }

  void DeletePrefix(const std::string& prefix) {
    for (auto& [key, value] : WithPrefix(prefix)) Delete(key);
  }

  leveldb::WriteBatch* batch() { return &batch_; }

 private:
  using OverlayMap = std::map<std::string, std::optional<std::string>>;

  OverlayMap& Overlay() {
    if (!overlay_) {
      struct Collect : leveldb::WriteBatch::Handler {
        OverlayMap* map;
        void Put(const leveldb::Slice& k, const leveldb::Slice& v) override {
          (*map)[k.ToString()] = v.ToString();
        }
        void Delete(const leveldb::Slice& k) override { (*map)[k.ToString()] = std::nullopt; }
      } collect;
      overlay_.emplace();
      collect.map = &*overlay_;
      batch_.Iterate(&collect);
    }
    return *overlay_;
  }

  leveldb::DB* db_;
  leveldb::WriteBatch& batch_;
  std::optional<OverlayMap> overlay_;
};

// ---- opening ----

std::unique_ptr<LevelStore> LevelStore::Open(const StoreOptions& options, std::string* error) {
  std::error_code ec;
  bool exists = fs::exists(options.dir, ec);
  if (exists && !fs::is_directory(options.dir, ec)) {
    *error = "data directory " + options.dir + " is not a directory";
    return nullptr;
  }
  bool empty = !exists || fs::is_empty(options.dir, ec);
  if (!empty && !fs::exists(fs::path(options.dir) / "CURRENT", ec)) {
    *error = "data directory " + options.dir +
             " is not empty and holds no desaster data; point --data-dir at an empty directory "
             "or at one desaster created";
    return nullptr;
  }
  fs::create_directories(options.dir, ec);
  if (ec) {
    *error = "cannot create data directory " + options.dir + ": " + ec.message();
    return nullptr;
  }

  std::unique_ptr<LevelStore> store(new LevelStore(options));
  store->cache_.reset(leveldb::NewLRUCache(options.block_cache_mb * 1024 * 1024));
  store->filter_.reset(leveldb::NewBloomFilterPolicy(10));
  // A log holds about one write buffer's worth before LevelDB starts the next.
  store->env_ = std::make_unique<LogSpaceEnv>(options.dir, options.write_buffer_mb * 1024 * 1024);
  if (!store->OpenDb(empty, error)) return nullptr;
  leveldb::DB* db = store->db_.get();
  leveldb::Status st;

  std::string format;
  const leveldb::Slice format_key(kFormatKey.data(), kFormatKey.size());
  st = db->Get(leveldb::ReadOptions(), format_key, &format);
  bool older = st.ok() && (format == kFormatValueV1 || format == kFormatValueV2 ||
                           format == kFormatValueV3 || format == kFormatValueV4);
  if (older && !store->RewriteHashFields(error)) return nullptr;
  if ((st.IsNotFound() && empty) || older) {
    leveldb::WriteOptions wo;
    wo.sync = true;
    st = db->Put(wo, format_key, leveldb::Slice(kFormatValue.data(), kFormatValue.size()));
    if (!st.ok()) {
      *error = "cannot write to " + options.dir + ": " + st.ToString();
      return nullptr;
    }
    // The format record in a table of its own (encoding.h): at open the memtable holds nothing
    // else, and only the table with the old record is compacted with it.
    db->CompactRange(&format_key, &format_key);
  } else if (!st.ok() || format != kFormatValue) {
    *error = "data directory " + options.dir + " holds a LevelDB database that is not desaster's" +
             (st.ok() ? " (format '" + format + "')" : "") +
             "; point --data-dir at an empty directory or at one desaster created";
    return nullptr;
  }
  if (!store->ReadLsnReservation(error)) return nullptr;
  return store;
}

// Before format 5 a hash field's record held its value alone, under kHashV4. Each becomes a
// kHash record with seq 0 (a compact hash then loads in field order, as it did). Batches are
// atomic and a record is under one tag or the other, so a crash here leaves a store the next
// open finishes rewriting.
bool LevelStore::RewriteHashFields(std::string* error) {
  leveldb::ReadOptions scan;
  scan.fill_cache = false;
  std::unique_ptr<leveldb::Iterator> it(db_->NewIterator(scan));
  leveldb::WriteBatch batch;
  auto write = [&](bool sync) {
    leveldb::WriteOptions options;
    options.sync = sync;
    leveldb::Status st = db_->Write(options, &batch);
    batch.Clear();
    if (!st.ok()) *error = "cannot rewrite hash fields in " + options_.dir + ": " + st.ToString();
    return st.ok();
  };
  for (it->Seek("e"); it->Valid() && it->key().starts_with("e"); it->Next()) {
    std::string_view record(it->key().data(), it->key().size());
    ElementKey e;
    if (!DecodeElementKey(record, &e) || e.tag != kHashV4) continue;
    std::string renamed(record);
    renamed[record.size() - e.suffix.size() - 1] = kHash;
    batch.Delete(it->key());
    batch.Put(renamed,
              EncodeHashField(0, std::string_view(it->value().data(), it->value().size())));
    if (batch.ApproximateSize() >= (4 << 20) && !write(false)) return false;
  }
  if (!it->status().ok()) {
    *error = "cannot read " + options_.dir + ": " + it->status().ToString();
    return false;
  }
  return write(true);
}

bool LevelStore::ReadLsnReservation(std::string* error) {
  std::string legacy;
  if (db_->Get(leveldb::ReadOptions(), std::string(kLsnKey), &legacy).ok()) {
    lsn_reserved_ = static_cast<uint64_t>(DecodeInt64(legacy));
  }
  fs::path path = fs::path(options_.dir) / kLsnFile;
  std::error_code ec;
  if (!fs::exists(path, ec)) return true;
  std::ifstream in(path);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  uint64_t reserve = 0;
  auto [end, parsed] = std::from_chars(text.data(), text.data() + text.size(), reserve);
  if (!in || parsed != std::errc() || std::string_view(end, text.data() + text.size()) != "\n") {
    *error = path.string() + " is damaged: it should hold one number, the LSN reservation. " +
             "Restore it from the backup the directory came from, or delete it to number " +
             "batches from the start again (harmless while no replica follows this data)";
    return false;
  }
  lsn_reserved_ = std::max(lsn_reserved_, reserve);
  return true;
}

bool LevelStore::ReserveLsns(uint64_t reserve, std::string* error) {
  std::string path = (fs::path(options_.dir) / kLsnFile).string();
  if (!ReplaceFile(path, std::to_string(reserve) + "\n", 0644, error)) return false;
  lsn_reserved_ = reserve;
  return true;
}

LevelStore::~LevelStore() = default;

leveldb::Options LevelStore::DbOptions(bool create) const {
  leveldb::Options lo;
  lo.create_if_missing = create;
  // A torn final log record (power loss, a full disk) is dropped on recovery instead of refusing
  // to start; it was never acknowledged. A corrupt table or manifest still fails to open.
  lo.paranoid_checks = false;
  lo.block_cache = cache_.get();
  lo.filter_policy = filter_.get();
  lo.env = env_.get();
  lo.write_buffer_size = options_.write_buffer_mb * 1024 * 1024;
  lo.block_size = options_.block_kb * 1024;
  lo.compression = options_.compression ? leveldb::kSnappyCompression : leveldb::kNoCompression;
  return lo;
}

bool LevelStore::OpenDb(bool create, std::string* error) {
  leveldb::DB* db = nullptr;
  leveldb::Status st = leveldb::DB::Open(DbOptions(create), options_.dir, &db);
  if (!st.ok()) {
    *error = "cannot open the data in " + options_.dir + ": " + st.ToString() +
             (st.IsCorruption() ? ". The data is corrupt: restore the directory from a backup or "
                                  "a replica, or move it away to start empty; desaster never "
                                  "deletes it"
                                : "");
    return false;
  }
  db_.reset(db);
  return true;
}

// ---- committing ----

bool LevelStore::Write(leveldb::WriteBatch* batch, bool sync, std::string* error) {
  if (failed_) {
    *error = "the last write to " + options_.dir + " failed";
    return false;
  }
  leveldb::WriteOptions wo;
  wo.sync = sync;
  env_->SetWritesSynced(sync);
  leveldb::Status st = db_->Write(wo, batch);
  if (!st.ok()) {
    *error = st.ToString();
    failed_ = true;
    return false;
  }
  return true;
}

bool LevelStore::Commit(std::span<const Batch> batches, bool sync, std::string* error) {
  return batches.empty() || CommitAt(batches, batches.back().log_index, sync, error);
}

bool LevelStore::CommitAt(std::span<const Batch> batches, uint64_t log_index, bool sync,
                          std::string* error) {
  BatchView view(db_.get(), &batch_);
  FindSuperseded(batches);
  open_runs_.clear();
  touched_lists_.clear();
  touched_queues_.clear();
  writing_completions_.clear();
  size_t i = 0;
  for (const Batch& batch : batches) {
    for (const Mutation& m : batch.mutations) {
      if (superseded_.empty() || !superseded_[i]) Translate(m, batch.lsn, &view);
      i++;
    }
  }
  for (const std::string& prefix : touched_lists_) {
    auto it = shadow_.find(prefix);
    if (it == shadow_.end() || !it->second.list) continue;  // dropped since
    SettleList(prefix, it->second.list.get(), &view);
    it->second.list->touched = false;
  }
  for (const std::string& prefix : touched_queues_) {
    auto it = queues_.find(prefix);
    if (it != queues_.end()) SettleQueue(prefix, &it->second, &view);  // else dropped since
  }
  uint64_t last = batches.back().lsn;
  if (last > lsn_reserved_ && !ReserveLsns(last + kLsnReserve, error)) return false;
  if (log_index > 0)
    view.Put(std::string(kLogIndexKey), EncodeInt64(static_cast<int64_t>(log_index)));
  if (!Write(view.batch(), sync, error)) return false;
  if (!writing_completions_.empty()) {
    std::lock_guard lock(stored_mu_);
    stored_completions_.insert(stored_completions_.end(), writing_completions_.begin(),
                               writing_completions_.end());
  }
  return true;
}

// A record written again before anything else touches it needs only its last write:
// - a string key SET or INCRed many times in a commit (counters that every job bumps, such as
//   resque's and Sidekiq's stat:processed) costs one record, not one per command;
// - a hash field or zset member set many times (HINCRBY, ZINCRBY on a hot element) likewise;
// - a job pushed and popped in the same commit (a worker was waiting for it) costs a delete
//   only, not also the put of its whole payload.
// Walks the mutations backwards, remembering the later writes of each string key (and whether
// one replaces the TTL too, as SET does, or keeps it, as KEEPTTL, INCR and APPEND do), of each
// hash field and zset member, and of each job record.
void LevelStore::FindSuperseded(std::span<const Batch> batches) {
  using Op = Mutation::Op;
  superseded_.clear();
  size_t total = 0, string_writes = 0, element_writes = 0, job_puts = 0, job_deletes = 0;
  for (const Batch& batch : batches) {
    total += batch.mutations.size();
    for (const Mutation& m : batch.mutations) {
      string_writes += m.op == Op::kSetString;
      element_writes += m.op == Op::kHashSet || m.op == Op::kZAdd;
      job_puts += m.op == Op::kJobPut;
      job_deletes += m.op == Op::kJobDelete || m.op == Op::kJobsDelete;
    }
  }
  // A commit of pushes only (a bulk load, a pipelined RPUSH) has nothing to find: new job ids
  // never repeat, so it skips the pass (1% of the loop's time under RPUSH -P 16).
  if (string_writes < 2 && element_writes < 2 && (job_puts == 0 || job_deletes == 0)) return;
  superseded_.assign(total, 0);
  struct LaterString {
    int db;
    bool replaces_ttl;
  };
  std::unordered_map<std::string_view, LaterString> strings;  // by key name, in any database
  struct LaterElements {
    int db;
    std::unordered_set<std::string_view> fields, members;
  };
  std::unordered_map<std::string_view, LaterElements> elements;        // hashes and zsets, likewise
  std::unordered_map<int64_t, std::pair<int, std::string_view>> jobs;  // id -> (db, queue key)
  size_t i = total;
  for (auto batch = batches.rbegin(); batch != batches.rend(); ++batch) {
    for (auto m = batch->mutations.rbegin(); m != batch->mutations.rend(); ++m) {
      i--;
      switch (m->op) {
        case Op::kSetString: {
          elements.erase(m->key);  // a write of one kind ends the search of the others
          auto it = strings.find(m->key);
          if (it == strings.end() || it->second.db != m->db) {
            strings[m->key] = {m->db, !m->flag};
          } else if (it->second.replaces_ttl || m->flag) {
            superseded_[i] = 1;  // what it writes, the later write writes again
          } else {
            it->second.replaces_ttl = true;  // kept: it removes a TTL the later write keeps
          }
          break;
        }
        case Op::kHashSet:
        case Op::kZAdd: {
          strings.erase(m->key);
          auto it = elements.find(m->key);
          if (it == elements.end() || it->second.db != m->db) {
            it = elements.insert_or_assign(m->key, LaterElements{m->db, {}, {}}).first;
          }
          auto& written = m->op == Op::kHashSet ? it->second.fields : it->second.members;
          if (!written.insert(m->arg).second) superseded_[i] = 1;  // set again later
          break;
        }
        case Op::kJobPut:
        case Op::kJobDelete: {
          auto record = std::make_pair(m->db, std::string_view(m->key));
          auto [it, fresh] = jobs.try_emplace(m->num, record);
          if (!fresh && it->second == record && m->op == Op::kJobPut) {
            superseded_[i] = 1;  // the same record is written or deleted later
          }
          it->second = record;
          break;
        }
        case Op::kJobsDelete: {
          std::vector<uint64_t> ids;
          DecodeJobIds(m->arg, &ids);
          for (uint64_t id : ids) jobs[static_cast<int64_t>(id)] = {m->db, m->key};
          break;
        }
        case Op::kRename:
        case Op::kCopy:
        case Op::kFlushDb:
        case Op::kFlushAll:
        case Op::kQueueDrop:
          // They touch records they do not name: nothing before them is superseded by a write
          // after them.
          strings.clear();
          elements.clear();
          jobs.clear();
          break;
        default:
          strings.erase(m->key);
          elements.erase(m->key);
          break;
      }
    }
  }
}

bool LevelStore::Flush(std::string* error) {
  leveldb::WriteBatch empty;
  return Write(&empty, true, error);
}

bool LevelStore::Probe(std::string* error) {
  if (failed_) {
    // After a failed sync LevelDB refuses every write, and a failed append may have left a torn
    // record: reopening recovers from both (the torn record was never acknowledged).
    db_.reset();
    if (!OpenDb(false, error)) return false;
    failed_ = false;
  }
  const std::string key("\0probe", 6);
  leveldb::WriteBatch probe;
  probe.Put(key, std::string(4096, 'p'));
  probe.Delete(key);
  return Write(&probe, true, error);
}

void LevelStore::DropKey(int db, const std::string& key, BatchView* view) {
  std::string prefix = ElementPrefix(db, key);
  auto it = shadow_.find(prefix);
  const KeyShadow& s = it == shadow_.end() ? plain_string_ : it->second;
  switch (s.tag) {
    case kString:
      view->Delete(prefix + static_cast<char>(kString));
      break;
    case kChunkedString:  // by name: a read of every chunk only to delete it would cost more
      for (uint64_t i = 0; i * kStringChunk < s.length; i++) {
        view->Delete(StringChunkKey(prefix, static_cast<uint32_t>(i)));
      }
      view->Delete(StringLengthKey(prefix));
      break;
    case kList:
      if (s.list) {
        for (const ListRun& run : s.list->runs) {
          if (run.stored) view->Delete(ListRunKey(prefix, run.pos, run.stored));
        }
        if (s.list->trim_front || s.list->trim_back) view->Delete(ListTrimKey(prefix));
      }
      break;
    default:
      view->DeletePrefix(prefix);
      break;
  }
  if (s.expires) view->Delete(ExpireKey(db, key));
  if (it != shadow_.end()) shadow_.erase(it);
  stream_meta_.erase(prefix);
}

void LevelStore::CopyKey(int db, const std::string& from, int dst_db, const std::string& to,
                         BatchView* view) {
  std::string src = ElementPrefix(db, from), dst = ElementPrefix(dst_db, to);
  DropKey(dst_db, to, view);
  auto it = shadow_.find(src);
  const KeyShadow& s = it == shadow_.end() ? plain_string_ : it->second;
  if (s.list) SettleList(src, s.list.get(), view);  // its records then say all there is
  if (s.tag == kString) {  // one record: read it, rather than scan the key's range
    std::string record = src + static_cast<char>(kString);
    if (auto value = view->Get(record)) view->Put(dst + static_cast<char>(kString), *value);
  } else {
    for (const auto& [record, value] : view->WithPrefix(src)) {
      view->Put(dst + record.substr(src.size()), value);
    }
  }
  if (s.expires) {
    if (auto at = view->Get(ExpireKey(db, from))) view->Put(ExpireKey(dst_db, to), *at);
  }
  if (it != shadow_.end()) {  // a plain string's copy needs no shadow either
    KeyShadow copy{s.tag, s.expires, s.length, nullptr};
    if (s.list) {
      copy.list = std::make_unique<ListShadow>(*s.list);
      copy.list->touched = false;
    }
    shadow_[dst] = std::move(copy);
  }
  auto meta = stream_meta_.find(src);
  if (meta != stream_meta_.end()) stream_meta_[dst] = meta->second;
}

void LevelStore::WriteChunks(const std::string& prefix, uint64_t offset, std::string_view bytes,
                             KeyShadow* s, BatchView* view) {
  for (uint64_t done = 0; done < bytes.size(); done += kStringChunk) {
    view->Put(StringChunkKey(prefix, static_cast<uint32_t>((offset + done) / kStringChunk)),
              bytes.substr(done, kStringChunk));
  }
  if (offset + bytes.size() > s->length) {
    s->length = std::max<uint64_t>(s->length, offset + bytes.size());
    view->Put(StringLengthKey(prefix), EncodeInt64(static_cast<int64_t>(s->length)));
  }
}

size_t LevelStore::LiveSize(const ListShadow& l, size_t i) const {
  const ListRun& run = l.runs[i];
  if (!run.stored) return open_runs_[run.open].elements.size();
  size_t n = run.stored;
  if (i == 0) n -= l.dead_front;
  if (i + 1 == l.runs.size()) n -= l.dead_back;
  return n;
}

void LevelStore::ListPush(const std::string& prefix, ListShadow* l, bool left,
                          std::string_view value, uint64_t lsn, BatchView* view) {
  ListOnce(&l->touched, &touched_lists_, prefix);
  if (!l->runs.empty()) {
    ListRun& end = left ? l->runs.front() : l->runs.back();
    if (!end.stored) {
      OpenRun& run = open_runs_[end.open];
      if (run.elements.size() < kRunMaxElements && run.bytes < kRunMaxBytes) {
        left ? run.elements.push_front(value) : run.elements.push_back(value);
        run.bytes += value.size();
        return;
      }
    } else if (left ? l->dead_front : l->dead_back) {
      // The trim counts the dead elements of the outer runs only, and this one is to be inner.
      size_t i = left ? 0 : l->runs.size() - 1;
      RewriteRun(prefix, l, i, ReadRun(prefix, *l, i, view), lsn, view);
    }
  }
  int64_t pos = l->runs.empty() ? ListBase(lsn)
                : left          ? l->runs.front().pos - kListGap
                                : l->runs.back().pos + kListGap;
  open_runs_.push_back(OpenRun{{value}, value.size()});
  ListRun run{pos, 0, static_cast<uint32_t>(open_runs_.size() - 1)};
  left ? l->runs.push_front(run) : l->runs.push_back(run);
}

void LevelStore::ListPop(const std::string& prefix, ListShadow* l, bool left, BatchView* view) {
  if (l->runs.empty()) return;  // nothing recorded to pop (cannot happen with a sound keyspace)
  ListOnce(&l->touched, &touched_lists_, prefix);
  size_t i = left ? 0 : l->runs.size() - 1;
  ListRun& run = l->runs[i];
  if (!run.stored) {
    std::deque<std::string_view>& elements = open_runs_[run.open].elements;
    left ? elements.pop_front() : elements.pop_back();
    if (elements.empty()) left ? l->runs.pop_front() : l->runs.pop_back();
    return;
  }
  uint32_t& dead = left ? l->dead_front : l->dead_back;
  dead++;
  if (LiveSize(*l, i) > 0) return;
  view->Delete(ListRunKey(prefix, run.pos, run.stored));
  left ? l->runs.pop_front() : l->runs.pop_back();
  dead = 0;
  if (l->runs.empty()) l->dead_front = l->dead_back = 0;
}

void LevelStore::PutRun(const std::string& prefix, ListRun* run,
                        const std::deque<std::string_view>& elements, BatchView* view) {
  run->stored = static_cast<uint32_t>(elements.size());
  view->Put(ListRunKey(prefix, run->pos, run->stored), EncodeListRun(elements));
}

void LevelStore::SettleList(const std::string& prefix, ListShadow* l, BatchView* view) {
  auto write = [&](ListRun& run) { PutRun(prefix, &run, open_runs_[run.open].elements, view); };
  // Open runs sit at the ends: a change inside a list settles it first.
  size_t front = 0;
  for (; front < l->runs.size() && !l->runs[front].stored; front++) write(l->runs[front]);
  for (size_t i = l->runs.size(); i > front && !l->runs[i - 1].stored; i--) write(l->runs[i - 1]);
  if (l->dead_front != l->trim_front || l->dead_back != l->trim_back) {
    if (l->dead_front || l->dead_back) {
      view->Put(ListTrimKey(prefix), EncodeListTrim(l->dead_front, l->dead_back));
    } else {
      view->Delete(ListTrimKey(prefix));
    }
    l->trim_front = l->dead_front;
    l->trim_back = l->dead_back;
  }
}

std::vector<std::string> LevelStore::ReadRun(const std::string& prefix, const ListShadow& l,
                                             size_t i, BatchView* view) {
  const ListRun& run = l.runs[i];
  std::string value = view->Get(ListRunKey(prefix, run.pos, run.stored)).value_or("");
  std::vector<std::string_view> all;
  DecodeListRun(value, run.stored, &all);
  size_t from = i == 0 ? l.dead_front : 0;
  size_t to = std::min(all.size(), from + LiveSize(l, i));
  std::vector<std::string> live;
  for (size_t k = from; k < to; k++) live.emplace_back(all[k]);
  return live;
}

void LevelStore::RewriteRun(const std::string& prefix, ListShadow* l, size_t i,
                            std::vector<std::string> elements, uint64_t lsn, BatchView* view) {
  ListOnce(&l->touched, &touched_lists_, prefix);
  view->Delete(ListRunKey(prefix, l->runs[i].pos, l->runs[i].stored));
  if (i == 0) l->dead_front = 0;
  if (i + 1 == l->runs.size()) l->dead_back = 0;
  if (elements.empty()) {
    l->runs.erase(l->runs.begin() + static_cast<ptrdiff_t>(i));
    return;
  }
  auto put = [&](size_t at, std::span<const std::string> part) {
    PutRun(prefix, &l->runs[at], std::deque<std::string_view>(part.begin(), part.end()), view);
  };
  size_t bytes = 0;
  for (const std::string& e : elements) bytes += e.size();
  if (elements.size() == 1 || (elements.size() <= kRunMaxElements && bytes <= 2 * kRunMaxBytes)) {
    put(i, elements);
    return;
  }
  // Grown past the limits: the second half moves to a run of its own after this one.
  bool last = i + 1 == l->runs.size();
  if (!last && l->runs[i + 1].pos - l->runs[i].pos < 2) {
    // No position left between the neighbours: renumber every run, reading them all first so
    // that no new record is written where an old one is still to be deleted. Open runs have no
    // record yet; run i's is deleted already.
    std::vector<std::string> values(l->runs.size());
    for (size_t k = 0; k < l->runs.size(); k++) {
      if (k == i || !l->runs[k].stored) continue;
      std::string key = ListRunKey(prefix, l->runs[k].pos, l->runs[k].stored);
      values[k] = view->Get(key).value_or("");
      view->Delete(key);
    }
    for (size_t k = 0; k < l->runs.size(); k++) {
      l->runs[k].pos = ListBase(lsn) + static_cast<int64_t>(2 * k) * kListGap;
      if (k != i && l->runs[k].stored) {
        view->Put(ListRunKey(prefix, l->runs[k].pos, l->runs[k].stored), values[k]);
      }
    }
  }
  int64_t pos =
      last ? l->runs[i].pos + kListGap : l->runs[i].pos + (l->runs[i + 1].pos - l->runs[i].pos) / 2;
  l->runs.insert(l->runs.begin() + static_cast<ptrdiff_t>(i + 1), ListRun{pos, 0, 0});
  size_t half = elements.size() / 2;
  put(i, std::span<const std::string>(elements).first(half));
  put(i + 1, std::span<const std::string>(elements).subspan(half));
}

void LevelStore::ListChange(const std::string& prefix, ListShadow* l, ListEdit edit, size_t index,
                            std::string_view value, uint64_t lsn, BatchView* view) {
  if (edit == ListEdit::kInsert && index == 0) {
    ListPush(prefix, l, true, value, lsn, view);
    return;
  }
  SettleList(prefix, l, view);
  size_t i = 0;
  for (; i < l->runs.size(); i++) {
    size_t n = LiveSize(*l, i);
    if (index < n) break;
    index -= n;
  }
  if (i == l->runs.size()) {  // past the last element: an insert there appends
    if (edit == ListEdit::kInsert && index == 0) ListPush(prefix, l, false, value, lsn, view);
    return;
  }
  std::vector<std::string> elements = ReadRun(prefix, *l, i, view);
  auto at = elements.begin() + static_cast<ptrdiff_t>(index);
  switch (edit) {
    case ListEdit::kSet:
      *at = value;
      break;
    case ListEdit::kInsert:
      elements.insert(at, std::string(value));
      break;
    case ListEdit::kRemove:
      elements.erase(at);
      break;
  }
  RewriteRun(prefix, l, i, std::move(elements), lsn, view);
}

LevelStore::JobRun::JobRun(std::span<const RunJob> jobs)
    : count(static_cast<uint32_t>(jobs.size())), live(count) {
  uint64_t first = jobs.front().id;
  if (jobs.back().id - first + 1 == jobs.size()) return;  // consecutive ids: no offsets needed
  for (const RunJob& j : jobs) offsets.push_back(static_cast<uint32_t>(j.id - first));
}

RunJob* LevelStore::QueueShadow::FindOpen(uint64_t id) {
  auto it = std::lower_bound(open.begin(), open.end(), id,
                             [](const RunJob& j, uint64_t i) { return j.id < i; });
  return it != open.end() && it->id == id ? &*it : nullptr;
}

void LevelStore::PutJob(const std::string& prefix, uint64_t id, std::string_view record,
                        BatchView* view) {
  QueueShadow& q = queues_[prefix];
  if (RunJob* open = q.FindOpen(id)) {  // new in this commit, changed again
    q.open_bytes = q.open_bytes - open->record.size() + record.size();
    open->record = record;
    return;
  }
  if (id <= q.watermark) {  // a job the store has: the change is its own record from now on
    KillInRun(prefix, &q, id, view);
    view->Put(JobKey(prefix, id), record);
    return;
  }
  ListOnce(&q.touched, &touched_queues_, prefix);
  // Offsets in a run are 32 bits (ids grow by 2^16 a millisecond: a commit that took a minute).
  if (!q.open.empty() && id - q.open.front().id > UINT32_MAX) WriteOpenRun(prefix, &q, view);
  q.open.push_back({id, record});
  q.open_bytes += record.size();
  q.watermark = id;
  if (q.open.size() == kJobRunMaxJobs || q.open_bytes >= kJobRunMaxBytes) {
    WriteOpenRun(prefix, &q, view);
  }
}

void LevelStore::DeleteJob(const std::string& prefix, uint64_t id, BatchView* view) {
  auto it = queues_.find(prefix);
  // The store has loaded or written no job of this queue (its first was pushed and taken in
  // this commit, and FindSuperseded dropped the push): this job has no record either.
  if (it == queues_.end()) return;
  QueueShadow& q = it->second;
  if (RunJob* open = q.FindOpen(id)) {  // taken in the commit that added it
    q.open_bytes -= open->record.size();
    q.open.erase(q.open.begin() + (open - q.open.data()));
    return;
  }
  if (id > q.watermark) return;  // never written: added and taken before a commit saw it
  if (!KillInRun(prefix, &q, id, view)) view->Delete(JobKey(prefix, id));
}

bool LevelStore::KillInRun(const std::string& prefix, QueueShadow* q, uint64_t id,
                           BatchView* view) {
  auto it = q->runs.upper_bound(id);
  if (it == q->runs.begin()) return false;
  --it;
  JobRun& run = it->second;
  uint64_t offset = id - it->first;
  size_t index = offset;
  if (run.offsets.empty()) {
    if (offset >= run.count) return false;
  } else {
    auto at = std::lower_bound(run.offsets.begin(), run.offsets.end(), offset);
    if (at == run.offsets.end() || *at != offset) return false;
    index = static_cast<size_t>(at - run.offsets.begin());
  }
  if (run.dead[index]) return false;
  run.dead.set(index);
  if (--run.live == 0) {
    view->Delete(JobRunKey(prefix, it->first));
    if (run.dead_stored) view->Delete(JobRunDeadKey(prefix, it->first));
    q->runs.erase(it);
    return true;
  }
  ListOnce(&run.touched, &q->touched_runs, it->first);
  ListOnce(&q->touched, &touched_queues_, prefix);
  return true;
}

void LevelStore::WriteOpenRun(const std::string& prefix, QueueShadow* q, BatchView* view) {
  if (q->open.size() < kJobRunMinJobs) {
    for (const RunJob& j : q->open) view->Put(JobKey(prefix, j.id), j.record);
  } else {
    uint64_t first = q->open.front().id;
    view->Put(JobRunKey(prefix, first), EncodeJobRun(q->open));
    q->runs.emplace(first, JobRun(q->open));
  }
  q->open.clear();
  q->open_bytes = 0;
}

void LevelStore::SettleQueue(const std::string& prefix, QueueShadow* q, BatchView* view) {
  WriteOpenRun(prefix, q, view);
  for (uint64_t first : q->touched_runs) {
    auto it = q->runs.find(first);
    if (it == q->runs.end()) continue;  // its last job was taken since
    JobRun& run = it->second;
    view->Put(JobRunDeadKey(prefix, first), EncodeDeadMap(run.dead, run.count));
    run.dead_stored = true;
    run.touched = false;
  }
  q->touched_runs.clear();
  q->touched = false;
}

void LevelStore::Translate(const Mutation& m, uint64_t lsn, BatchView* view) {
  using Op = Mutation::Op;
  std::string prefix = ElementPrefix(m.db, m.key);
  auto element = [&](char tag, std::string_view suffix) {
    return prefix + tag + std::string(suffix);
  };
  auto shadow = [&](char tag) -> KeyShadow& {
    KeyShadow& s = shadow_[prefix];
    s.tag = tag;
    return s;
  };
  switch (m.op) {
    case Op::kSetString: {
      auto it = shadow_.find(prefix);
      if (it == shadow_.end()) {  // a plain string or no key: the new value replaces it all
        view->Put(element(kString, ""), m.arg);
        break;
      }
      bool keep_ttl = m.flag && it->second.expires;  // SET replaces any type; KEEPTTL keeps TTL
      if (it->second.tag != kString) {
        if (keep_ttl) it->second.expires = false;  // so DropKey leaves the TTL record alone
        DropKey(m.db, m.key, view);
      } else if (!keep_ttl && it->second.expires) {
        view->Delete(ExpireKey(m.db, m.key));
      }
      view->Put(element(kString, ""), m.arg);
      if (keep_ttl) {
        shadow_[prefix] = KeyShadow{kString, true, 0, nullptr};
      } else {
        shadow_.erase(prefix);
      }
      break;
    }
    case Op::kSetRange: {
      KeyShadow& s = shadow_[prefix];  // a new entry: a plain string, or none
      if (s.tag != kChunkedString) {
        // A plain string becomes chunked: its record is split, once.
        std::optional<std::string> whole = view->Get(element(kString, ""));
        if (whole) view->Delete(element(kString, ""));
        s.tag = kChunkedString;
        s.length = 0;
        WriteChunks(prefix, 0, whole.value_or(""), &s, view);
      }
      WriteChunks(prefix, static_cast<uint64_t>(m.num), m.arg, &s, view);
      break;
    }
    case Op::kDelete:
      DropKey(m.db, m.key, view);
      break;
    case Op::kExpireAt:
      view->Put(ExpireKey(m.db, m.key), EncodeInt64(m.num));
      shadow_[prefix].expires = true;
      break;
    case Op::kPersist: {
      view->Delete(ExpireKey(m.db, m.key));
      auto it = shadow_.find(prefix);
      if (it == shadow_.end()) break;
      it->second.expires = false;
      if (it->second.tag == kString) shadow_.erase(it);  // a plain string again
      break;
    }
    case Op::kListPush:
      ListPush(prefix, &shadow(kList).runs(), m.flag, m.arg, lsn, view);
      break;
    case Op::kListPop:
      ListPop(prefix, &shadow(kList).runs(), m.flag, view);
      break;
    case Op::kListSet:
      ListChange(prefix, &shadow(kList).runs(), ListEdit::kSet, static_cast<size_t>(m.num), m.arg,
                 lsn, view);
      break;
    case Op::kListInsert:
      ListChange(prefix, &shadow(kList).runs(), ListEdit::kInsert, static_cast<size_t>(m.num),
                 m.arg, lsn, view);
      break;
    case Op::kListRemove:
      ListChange(prefix, &shadow(kList).runs(), ListEdit::kRemove, static_cast<size_t>(m.num), {},
                 lsn, view);
      break;
    case Op::kHashSet:
      shadow(kHash);
      view->Put(element(kHash, m.arg), EncodeHashField(static_cast<uint64_t>(m.num), m.arg2));
      break;
    case Op::kHashDelete:
      view->Delete(element(kHash, m.arg));
      break;
    case Op::kSetAdd:
      shadow(kSet);
      view->Put(element(kSet, m.arg), "");
      break;
    case Op::kSetRemove:
      view->Delete(element(kSet, m.arg));
      break;
    case Op::kZAdd:
      shadow(kZSet);
      view->Put(element(kZSet, m.arg), EncodeScore(m.score));
      break;
    case Op::kZRemove:
      view->Delete(element(kZSet, m.arg));
      break;
    case Op::kStreamAdd: {
      shadow(kStream);
      StreamMeta& meta = stream_meta_[prefix];
      StreamId id = StreamId::Decode(m.arg);
      if (id > meta.last_id) meta.last_id = id;
      meta.entries_added++;
      view->Put(element(kStream, m.arg), m.arg2);
      view->Put(element(kStream, ""), meta.Encode());
      break;
    }
    case Op::kStreamDelete: {
      StreamMeta& meta = stream_meta_[prefix];
      StreamId id = StreamId::Decode(m.arg);
      if (id > meta.max_deleted) meta.max_deleted = id;
      view->Delete(element(kStream, m.arg));
      view->Put(element(kStream, ""), meta.Encode());
      break;
    }
    case Op::kStreamSetMeta:
      shadow(kStream);
      stream_meta_[prefix] = StreamMeta::Decode(m.arg);
      view->Put(element(kStream, ""), m.arg);
      break;
    case Op::kStreamGroupPut:
      shadow(kStream);
      view->Put(StreamGroupKey(prefix, m.arg, GroupRecord::kState), m.arg2);
      break;
    case Op::kStreamGroupDelete:
      view->DeletePrefix(StreamGroupKey(prefix, m.arg));
      break;
    case Op::kStreamConsumerPut:
      view->Put(StreamGroupKey(prefix, m.arg, GroupRecord::kConsumer, m.arg2), "");
      break;
    case Op::kStreamConsumerDelete:
      view->Delete(StreamGroupKey(prefix, m.arg, GroupRecord::kConsumer, m.arg2));
      break;
    case Op::kStreamPendingPut: {
      std::string_view id_and_pending = m.arg2;
      view->Put(StreamGroupKey(prefix, m.arg, GroupRecord::kPending, id_and_pending.substr(0, 16)),
                id_and_pending.substr(16));
      break;
    }
    case Op::kStreamPendingDelete:
      view->Delete(StreamGroupKey(prefix, m.arg, GroupRecord::kPending, m.arg2));
      break;
    case Op::kRename:
      if (m.key == m.arg) break;
      CopyKey(m.db, m.key, m.db, m.arg, view);
      DropKey(m.db, m.key, view);
      break;
    case Op::kCopy:
      CopyKey(m.db, m.key, static_cast<int>(m.num), m.arg, view);
      break;
    case Op::kQueueConfig:
      view->Put(QueueConfigKey(m.db, m.key), m.arg);
      break;
    case Op::kQueueDrop: {
      std::string queue = QueuePrefix(m.db, m.key);
      view->DeletePrefix(queue);
      queues_.erase(queue);
      break;
    }
    case Op::kJobPut:
      PutJob(QueuePrefix(m.db, m.key), static_cast<uint64_t>(m.num), m.arg, view);
      break;
    case Op::kJobDelete:
      DeleteJob(QueuePrefix(m.db, m.key), static_cast<uint64_t>(m.num), view);
      break;
    case Op::kJobsDelete: {
      std::string queue = QueuePrefix(m.db, m.key);
      std::vector<uint64_t> ids;
      DecodeJobIds(m.arg, &ids);  // well-formed: made here, or checked by DecodeMutations
      for (uint64_t id : ids) DeleteJob(queue, id, view);
      break;
    }
    case Op::kScheduleSet:
      view->Put(ScheduleKey(m.db, m.key), m.arg);
      break;
    case Op::kScheduleDelete:
      view->Delete(ScheduleKey(m.db, m.key));
      break;
    case Op::kFailurePut:
      view->Put(IdRecordKey('f', m.db, static_cast<uint64_t>(m.num)), m.arg);
      break;
    case Op::kFailureDelete:
      view->Delete(IdRecordKey('f', m.db, static_cast<uint64_t>(m.num)));
      break;
    case Op::kCompletionPut:
      view->Put(IdRecordKey('d', m.db, static_cast<uint64_t>(m.num)), m.arg);
      writing_completions_.emplace_back(m.db, static_cast<uint64_t>(m.num));
      break;
    case Op::kCompletionDelete:
      view->Delete(IdRecordKey('d', m.db, static_cast<uint64_t>(m.num)));
      break;
    case Op::kMetricPut:
      view->Put(MetricKey(m.db, m.key, m.arg2, m.num), m.arg);
      break;
    case Op::kMetricDelete:
      view->Delete(MetricKey(m.db, m.key, m.arg2, m.num));
      break;
    case Op::kScriptLoad:
    case Op::kScriptFlush:
      break;  // replicated, not stored
    case Op::kWorkerPut:
      view->Put(WorkerKey(m.db, m.key), m.arg);
      break;
    case Op::kWorkerDelete:
      view->Delete(WorkerKey(m.db, m.key));
      break;
    case Op::kMasterTerm:
      view->Put(MasterTermKey(m.num), EncodeMasterTerm(m.key, m.arg, m.arg2));
      break;
    case Op::kImportState:
      view->Put(std::string(kImportKey), m.arg);
      break;
    case Op::kAclUsers:
      view->Put(std::string(kAclUsersKey), m.arg);
      break;
    case Op::kFunctionLoad:
      view->Put(FunctionLibraryKey(m.key), m.arg);
      break;
    case Op::kFunctionDelete:
      view->Delete(FunctionLibraryKey(m.key));
      break;
    case Op::kFunctionFlush:
      view->DeletePrefix(std::string(kFunctionLibraryPrefix));
      break;
    case Op::kSwapDb:  // records are stored by database, not by number: only the map changes
      view->Put(std::string(kDatabaseMapKey), m.arg);
      break;
    case Op::kFlushDb: {
      for (char kind : kDatabaseRecordKinds) view->DeletePrefix(DatabasePrefix(kind, m.db));
      std::string db_prefix = DatabasePrefix('e', m.db);
      std::erase_if(shadow_, [&](const auto& entry) { return entry.first.starts_with(db_prefix); });
      std::erase_if(stream_meta_,
                    [&](const auto& entry) { return entry.first.starts_with(db_prefix); });
      std::string queues = DatabasePrefix('q', m.db);
      std::erase_if(queues_, [&](const auto& entry) { return entry.first.starts_with(queues); });
      break;
    }
    case Op::kFlushAll:
      for (char kind : kDatabaseRecordKinds) view->DeletePrefix(std::string(1, kind));
      shadow_.clear();
      stream_meta_.clear();
      queues_.clear();
      break;
  }
}

// ---- loading ----

// Longer than any string a server makes (proto-max-bulk-len's own bound): a length record that
// says more is damaged, and allocating it would take the server down.
constexpr int64_t kMaxChunkedString = int64_t{1} << 40;

class LevelStore::Loader : public StateLoader {
 public:
  explicit Loader(LevelStore* store) : store_(store) {
    store_->shadow_.clear();
    store_->stream_meta_.clear();
    store_->queues_.clear();
    lsn_ = store_->lsn_reserved_;
    std::string index;
    if (store_->db_->Get(leveldb::ReadOptions(), std::string(kLogIndexKey), &index).ok()) {
      log_index_ = static_cast<uint64_t>(DecodeInt64(index));
    }
    store_->db_->Get(leveldb::ReadOptions(), std::string(kDatabaseMapKey), &database_map_);
    // A scan of everything once: its blocks would only push the useful ones out of the cache.
    leveldb::ReadOptions scan;
    scan.fill_cache = false;
    it_.reset(store_->db_->NewIterator(scan));
    it_->Seek("c");  // the first record kind: schedules, then elements, queues, expiries
  }

  bool Step(Keyspace* keyspace, size_t budget) override {
    // SWAPDB's map first: records name the database they are stored under. A map for another
    // number of databases (--databases changed) is left aside: each loads under its own.
    if (!std::exchange(map_taken_, true) && !database_map_.empty()) {
      keyspace->SetDatabaseMap(database_map_);
    }
    // One Mutation for every record: its strings keep their capacity, so loading a million
    // 300-byte jobs does not allocate and free two buffers per job.
    Mutation m;
    for (; budget > 0 && it_->Valid(); budget--, it_->Next()) {
      std::string_view record(it_->key().data(), it_->key().size());
      std::string_view value(it_->value().data(), it_->value().size());
      if (!pending_.empty() && !record.starts_with(pending_prefix_)) ApplyPending(keyspace);
      m.flag = false;
      m.num = 0;
      m.score = 0;
      m.arg.clear();
      m.arg2.clear();
      ElementKey e;
      int db;
      std::string_view key;
      if (DecodeElementKey(record, &e)) {
        if (e.db >= keyspace->databases()) continue;  // started with fewer --databases
        m.db = e.db;
        m.key = e.key;
        std::string prefix = ElementPrefix(e.db, e.key);
        if (prefix != last_prefix_) {
          keys_++;
          last_prefix_ = prefix;
        }
        // Plain strings have no shadow; one with a TTL gets it from its expiry record.
        KeyShadow* s = e.tag == kString ? nullptr : &store_->shadow_[prefix];
        if (s) s->tag = e.tag;
        switch (e.tag) {
          case kString:
            m.op = Mutation::Op::kSetString;
            m.arg = value;
            break;
          case kChunkedString:
            // Its length first (the empty suffix sorts first) makes the whole string, zeros;
            // each chunk then writes its bytes into it.
            // A damaged record (a chunk past the length, a length no string has) is skipped.
            m.op = Mutation::Op::kSetRange;
            if (uint32_t index; DecodeStringChunkSuffix(e.suffix, &index)) {
              uint64_t from = uint64_t{index} * kStringChunk;
              if (from >= s->length) continue;
              m.num = static_cast<int64_t>(from);
              m.arg = value.substr(0, s->length - from);
            } else if (e.suffix.empty() && value.size() == 8 && DecodeInt64(value) >= 0 &&
                       DecodeInt64(value) <= kMaxChunkedString) {
              s->length = static_cast<uint64_t>(DecodeInt64(value));
              m.num = static_cast<int64_t>(s->length);
            } else {
              continue;
            }
            break;
          case kList:
            LoadListRecord(keyspace, &m, prefix, &s->runs(), e.suffix, value);
            records_++;
            continue;
          case kHash: {
            // A compact hash's fields load in their insertion order: those numbered wait
            // until the loader leaves the key, then go in by number (Hash::Set). A table's
            // (0) go in now, so that a big hash is not held twice.
            uint64_t seq;
            std::string_view field_value;
            if (!DecodeHashField(value, &seq, &field_value)) continue;
            m.op = Mutation::Op::kHashSet;
            m.arg = e.suffix;
            m.arg2 = field_value;
            m.num = static_cast<int64_t>(seq);
            if (seq == 0) break;
            if (pending_.empty()) pending_prefix_ = prefix;
            pending_.push_back(m);
            records_++;
            continue;
          }
          case kSet:
            m.op = Mutation::Op::kSetAdd;
            m.arg = e.suffix;
            break;
          case kStream:
            if (e.suffix.empty()) {
              // A stream's counters come first but must be applied after its entries (adding
              // an entry counts it); they wait until the loader leaves this key.
              Mutation& meta = pending_.emplace_back();
              meta.op = Mutation::Op::kStreamSetMeta;
              meta.db = e.db;
              meta.key = e.key;
              meta.arg = value;
              pending_prefix_ = prefix;
              store_->stream_meta_[prefix] = StreamMeta::Decode(value);
              continue;
            }
            m.op = Mutation::Op::kStreamAdd;
            m.arg = e.suffix;
            m.arg2 = value;
            break;
          case kStreamGroup: {
            s->tag = kStream;
            std::string_view group, rest;
            GroupRecord kind;
            if (!DecodeStreamGroupSuffix(e.suffix, &group, &kind, &rest)) continue;
            m.arg = group;
            if (kind == GroupRecord::kState) {
              m.op = Mutation::Op::kStreamGroupPut;
              m.arg2 = value;
            } else if (kind == GroupRecord::kConsumer) {
              m.op = Mutation::Op::kStreamConsumerPut;
              m.arg2 = rest;
            } else {
              m.op = Mutation::Op::kStreamPendingPut;
              m.arg2 = rest;
              m.arg2 += value;
            }
            break;
          }
          case kZSet:
            m.op = Mutation::Op::kZAdd;
            m.arg = e.suffix;
            m.score = DecodeScore(value);
            break;
          default:
            continue;
        }
      } else if (QueueKey q; DecodeQueueKey(record, &q)) {
        if (q.db >= keyspace->databases()) continue;
        m.db = q.db;
        m.key = q.key;
        if (q.kind == QueueKey::kConfig) {
          m.op = Mutation::Op::kQueueConfig;
          m.arg = value;
        } else if (LoadJobRecord(keyspace, &m, record.substr(0, q.prefix_size), q, value)) {
          records_++;
          continue;
        }
      } else if (uint64_t id; DecodeIdRecordKey('f', record, &db, &id) ||
                              DecodeIdRecordKey('d', record, &db, &id)) {
        if (db >= keyspace->databases()) continue;
        m.op = record[0] == 'f' ? Mutation::Op::kFailurePut : Mutation::Op::kCompletionPut;
        m.flag = true;  // a completion read from the store: its body is there to read again
        m.db = db;
        m.num = static_cast<int64_t>(id);
        m.arg = value;
      } else if (std::string_view tag; DecodeMetricKey(record, &db, &key, &tag, &m.num)) {
        if (db >= keyspace->databases()) continue;
        m.op = Mutation::Op::kMetricPut;
        m.db = db;
        m.key = key;
        m.arg = value;
        m.arg2 = tag;
      } else if (DecodeScheduleKey(record, &db, &key)) {
        if (db >= keyspace->databases()) continue;
        m.op = Mutation::Op::kScheduleSet;
        m.db = db;
        m.key = key;
        m.arg = value;
      } else if (DecodeMasterTerm(record, value, &m)) {
        // the term, as its record holds it
      } else if (record == kImportKey) {
        m.op = Mutation::Op::kImportState;
        m.arg = value;
      } else if (record == kAclUsersKey) {
        m.op = Mutation::Op::kAclUsers;
        m.arg = value;
      } else if (std::string_view library; DecodeFunctionLibraryKey(record, &library)) {
        m.op = Mutation::Op::kFunctionLoad;
        m.key = library;
        m.arg = value;
      } else if (DecodeWorkerKey(record, &db, &key)) {
        if (db >= keyspace->databases()) continue;
        m.op = Mutation::Op::kWorkerPut;
        m.db = db;
        m.key = key;
        m.arg = value;
      } else if (DecodeExpireKey(record, &db, &key)) {
        if (db >= keyspace->databases()) continue;
        m.op = Mutation::Op::kExpireAt;
        m.db = db;
        m.key = key;
        m.num = DecodeInt64(value);
        store_->shadow_[ElementPrefix(db, key)].expires = true;
      } else {
        continue;
      }
      keyspace->Apply(m);
      records_++;
    }
    if (it_->Valid()) return false;
    ApplyPending(keyspace);
    return true;
  }

  uint64_t keys() const override { return keys_; }
  uint64_t records() const override { return records_; }
  uint64_t lsn() const override { return lsn_; }
  uint64_t log_index() const override { return log_index_; }

 private:
  // A list's records: its trim first (the empty suffix sorts first), then its runs in order,
  // pushed on the right but for the trim's dead elements. Those at the back are known to be the
  // last run's only when the loader leaves the key: they are popped then.
  void LoadListRecord(Keyspace* keyspace, Mutation* m, const std::string& prefix, ListShadow* l,
                      std::string_view suffix, std::string_view value) {
    int64_t pos;
    uint32_t count;
    if (!DecodeListRunSuffix(suffix, &pos, &count)) {
      if (!suffix.empty() || !DecodeListTrim(value, &l->dead_front, &l->dead_back)) return;
      l->trim_front = l->dead_front;
      l->trim_back = l->dead_back;
      Mutation pop;
      pop.op = Mutation::Op::kListPop;  // from the right
      pop.db = m->db;
      pop.key = m->key;
      pending_.assign(l->dead_back, pop);
      pending_prefix_ = prefix;
      return;
    }
    if (!DecodeListRun(value, count, &elements_)) return;
    size_t skip = l->runs.empty() ? std::min<size_t>(l->dead_front, count) : 0;
    l->runs.push_back(ListRun{pos, count, 0});
    m->op = Mutation::Op::kListPush;  // right push, in position order
    for (size_t k = skip; k < count; k++) {
      m->arg = elements_[k];
      keyspace->Apply(*m);
    }
  }

  // A job's own record becomes a kJobPut in *m for the caller to apply (false). A run's live jobs
  // are applied here, with its dead map, which sorts just before it (true).
  bool LoadJobRecord(Keyspace* keyspace, Mutation* m, std::string_view prefix, const QueueKey& key,
                     std::string_view value) {
    if (!queue_ || prefix != queue_prefix_) {
      queue_prefix_ = prefix;
      queue_ = &store_->queues_[queue_prefix_];
      dead_first_ = 0;
    }
    m->op = Mutation::Op::kJobPut;
    switch (key.kind) {
      case QueueKey::kJob:
        queue_->watermark = std::max(queue_->watermark, key.id);
        m->num = static_cast<int64_t>(key.id);
        m->arg = value;
        return false;
      case QueueKey::kRunDeadMap:
        dead_first_ = key.id;
        dead_ = DecodeDeadMap(value);
        return true;
      default:
        break;
    }
    if (!DecodeJobRun(value, key.id, &jobs_)) return true;  // malformed: skipped
    JobRun run(jobs_);
    if (dead_first_ == key.id) {
      run.dead = dead_;
      run.dead_stored = true;
    }
    for (size_t i = 0; i < jobs_.size(); i++) {
      if (run.dead[i]) {
        run.live--;
        continue;
      }
      m->num = static_cast<int64_t>(jobs_[i].id);
      m->arg = jobs_[i].record;
      keyspace->Apply(*m);
    }
    queue_->watermark = std::max(queue_->watermark, jobs_.back().id);
    if (run.live > 0) queue_->runs.emplace(key.id, std::move(run));
    return true;
  }

  void ApplyPending(Keyspace* keyspace) {
    if (!pending_.empty() && pending_.front().op == Mutation::Op::kHashSet) {
      std::stable_sort(pending_.begin(), pending_.end(),
                       [](const Mutation& a, const Mutation& b) { return a.num < b.num; });
    }
    for (const Mutation& m : pending_) {
      // A trim that counts more dead elements than the runs hold is damaged: the list ends
      // empty rather than the load popping from nothing.
      if (m.op == Mutation::Op::kListPop && !keyspace->StoredAs(m.db).Find(m.key)) break;
      keyspace->Apply(m);
    }
    pending_.clear();
  }

  // Mutations that wait until the loader leaves the key at pending_prefix_: a stream's counters
  // (adding its entries counts them), the pops of a list's dead elements at its back, and a
  // compact hash's fields (to go in in insertion order).
  std::vector<Mutation> pending_;
  std::string pending_prefix_;
  std::vector<std::string_view> elements_;  // a run's, reused
  // The queue whose records are being read, and the dead map of its next run.
  std::string queue_prefix_;
  QueueShadow* queue_ = nullptr;
  uint64_t dead_first_ = 0;
  DeadMap dead_;
  std::vector<RunJob> jobs_;  // a job run's, reused

  LevelStore* store_;
  std::unique_ptr<leveldb::Iterator> it_;
  std::string last_prefix_;
  uint64_t keys_ = 0, records_ = 0, lsn_ = 0, log_index_ = 0;
  std::string database_map_;  // SWAPDB's map, as stored (empty: none)
  bool map_taken_ = false;
};

std::unique_ptr<StateLoader> LevelStore::NewLoader() { return std::make_unique<Loader>(this); }

// ---- snapshots ----

class LevelStore::Snapshotter : public StoreSnapshot {
 public:
  explicit Snapshotter(leveldb::DB* db) : db_(db), snapshot_(db->GetSnapshot()) {
    options_.snapshot = snapshot_;
    options_.fill_cache = false;
    std::string index;
    if (db_->Get(options_, std::string(kLogIndexKey), &index).ok()) {
      log_index_ = static_cast<uint64_t>(DecodeInt64(index));
    }
  }
  ~Snapshotter() override { db_->ReleaseSnapshot(snapshot_); }

  uint64_t log_index() const override { return log_index_; }

  bool Read(const std::string& after, size_t max_bytes,
            std::vector<std::pair<std::string, std::string>>* records) override {
    std::unique_ptr<leveldb::Iterator> it(db_->NewIterator(options_));
    if (after.empty()) {
      it->SeekToFirst();
    } else {
      it->Seek(after);
      if (it->Valid() && it->key() == leveldb::Slice(after)) it->Next();
    }
    size_t bytes = 0;
    bool any = false;
    for (; it->Valid() && bytes < max_bytes; it->Next()) {
      records->emplace_back(it->key().ToString(), it->value().ToString());
      bytes += it->key().size() + it->value().size();
      any = true;
    }
    return any;
  }

 private:
  leveldb::DB* db_;
  const leveldb::Snapshot* snapshot_;
  leveldb::ReadOptions options_;
  uint64_t log_index_ = 0;
};

std::unique_ptr<StoreSnapshot> LevelStore::Snapshot() {
  return std::make_unique<Snapshotter>(db_.get());
}

// ---- the completed store's archive ----

bool LevelStore::Read(int db, uint64_t job, std::string* record) {
  return db_->Get(leveldb::ReadOptions(), IdRecordKey('d', db, job), record).ok();
}

void LevelStore::Scan(int db, const std::function<bool(uint64_t, std::string_view)>& visit) {
  leveldb::ReadOptions options;
  options.fill_cache = false;  // a search reads them all once: keep the cache for the rest
  std::unique_ptr<leveldb::Iterator> it(db_->NewIterator(options));
  int record_db;
  uint64_t id;
  for (it->Seek(DatabasePrefix('d', db)); it->Valid(); it->Next()) {
    leveldb::Slice key = it->key(), value = it->value();
    if (!DecodeIdRecordKey('d', {key.data(), key.size()}, &record_db, &id) || record_db != db ||
        !visit(id, {value.data(), value.size()})) {
      break;
    }
  }
}

std::vector<std::pair<int, uint64_t>> LevelStore::TakeStored() {
  std::lock_guard lock(stored_mu_);
  return std::exchange(stored_completions_, {});
}

}  // namespace desaster
