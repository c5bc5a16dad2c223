// The durable store: the keyspace in LevelDB, one WriteBatch per committed batch of mutations.
// See encoding.h for the layout.
#pragma once

#include <leveldb/cache.h>
#include <leveldb/db.h>
#include <leveldb/filter_policy.h>
#include <leveldb/write_batch.h>

#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "server/data/stream.h"
#include "server/queue/completion.h"
#include "server/store/commit.h"
#include "server/store/encoding.h"
#include "server/store/log_space.h"

namespace desaster {

struct StoreOptions {
  std::string dir;
  size_t block_cache_mb = 32;
  size_t write_buffer_mb = 4;
  size_t block_kb = 16;
  bool compression = true;
};

class LevelStore : public CommitPipeline, public CompletionArchive {
 public:
  // Opens the store in options.dir, creating it when the directory is absent or empty. Refuses a
  // directory that holds something else, or corrupt data, with *error saying what to do; it
  // never wipes anything.
  static std::unique_ptr<LevelStore> Open(const StoreOptions& options, std::string* error);
  ~LevelStore() override;

  // Records batches.back().log_index with the batches when it is set (cluster mode).
  bool Commit(std::span<const Batch> batches, bool sync, std::string* error) override;
  // Commits `batches` recording `log_index` (> 0) as the last log entry they complete.
  bool CommitAt(std::span<const Batch> batches, uint64_t log_index, bool sync, std::string* error);
  bool Flush(std::string* error) override;
  bool Probe(std::string* error) override;
  std::unique_ptr<StateLoader> NewLoader() override;
  std::string engine() const override { return "leveldb"; }
  std::unique_ptr<StoreSnapshot> Snapshot() override;

  // The completed store's records, read back (any thread; not while Probe reopens the DB).
  bool Read(int db, uint64_t job, std::string* record) override;
  void Scan(int db, const std::function<bool(uint64_t, std::string_view)>& visit) override;
  std::vector<std::pair<int, uint64_t>> TakeStored() override;

 private:
  class Loader;
  class BatchView;
  class Snapshotter;

  // Whether the last write failed, so the DB must be reopened before it is trusted again.
  bool failed_ = false;
  // The durable LSN reservation (encoding.h): no batch numbered above it is committed yet.
  uint64_t lsn_reserved_ = 0;

  // A list's runs (encoding.h), in order.
  struct ListRun {
    int64_t pos = 0;
    uint32_t stored = 0;  // elements in its record; 0 while open: made by this commit, unwritten
    uint32_t open = 0;    // an open run's elements: open_runs_[open]
  };
  struct ListShadow {
    std::deque<ListRun> runs;
    // Elements popped from the front of the first run's record and from the back of the last's
    // (the record keeps them until the run is gone), and those counts as the trim record holds
    // them.
    uint32_t dead_front = 0, dead_back = 0;
    uint32_t trim_front = 0, trim_back = 0;
    bool touched = false;  // listed in touched_lists_
  };
  struct OpenRun {
    std::deque<std::string_view> elements;  // into the mutations of the commit
    size_t bytes = 0;
  };

  // What the store remembers of a key so that pushes, pops and overwrites need no reads. A plain
  // string without a TTL, the most common key, has no shadow: a key without one is such a string
  // or absent (an entry per key would cost about 100 bytes and a hash insert per new key).
  struct KeyShadow {
    char tag = store::kString;
    bool expires = false;
    uint64_t length = 0;  // a chunked string's
    // Lists only, so a string or hash key does not carry an empty std::deque (about 600 bytes
    // allocated on construction).
    std::unique_ptr<ListShadow> list;
    ListShadow& runs() {
      if (!list) list = std::make_unique<ListShadow>();
      return *list;
    }
  };

  // A queue's written job runs (encoding.h), so that taking or changing a job needs no read.
  struct JobRun {
    // A run of `jobs` (ids ascending), all live.
    explicit JobRun(std::span<const store::RunJob> jobs);
    uint32_t count = 0, live = 0;
    std::vector<uint32_t> offsets;  // each job's id minus the first's; empty: 0, 1, ... count-1
    store::DeadMap dead;
    bool dead_stored = false;  // its dead map has a record
    bool touched = false;      // listed in its queue's touched_runs
  };
  struct QueueShadow {
    std::map<uint64_t, JobRun> runs;  // by first id
    // No record of the queue has a higher id (encoding.h): a job above it is new to the store.
    uint64_t watermark = 0;
    // Of the commit being built: its new jobs, ids ascending, records in its mutations; and the
    // runs whose dead maps changed.
    std::vector<store::RunJob> open;
    size_t open_bytes = 0;
    std::vector<uint64_t> touched_runs;
    bool touched = false;  // listed in touched_queues_

    // This commit's new job `id`, or nullptr.
    store::RunJob* FindOpen(uint64_t id);
  };

  explicit LevelStore(const StoreOptions& options) : options_(options) {}
  leveldb::Options DbOptions(bool create) const;
  // Opens the DB, or reports why not.
  bool OpenDb(bool create, std::string* error);
  // Sets lsn_reserved_ from DESASTER-LSN and from the record older stores kept it in; false with
  // *error set when the file is there but unreadable.
  bool ReadLsnReservation(std::string* error);
  // Rewrites the hash fields of a store from before format 5 (kHashV4) as kHash records.
  bool RewriteHashFields(std::string* error);
  // Makes `reserve` the durable reservation (write, sync, rename, sync the directory).
  bool ReserveLsns(uint64_t reserve, std::string* error);
  // Adds `m`, of the batch numbered `lsn`, to the batch being built.
  void Translate(const Mutation& m, uint64_t lsn, BatchView* view);
  // Marks in superseded_ (one flag per mutation of `batches`, or empty for none) each string,
  // hash field, zset member or job write that a later one in the same commit makes redundant.
  void FindSuperseded(std::span<const Batch> batches);
  void DropKey(int db, const std::string& key, BatchView* view);
  // A chunked string's bytes from `offset` (a chunk boundary) are `bytes`: the chunks they
  // cover are written whole, and the length record if it grew.
  void WriteChunks(const std::string& prefix, uint64_t offset, std::string_view bytes, KeyShadow* s,
                   BatchView* view);
  void CopyKey(int db, const std::string& from, int dst_db, const std::string& to, BatchView* view);
  // The list operations on the list at `prefix` (its ElementPrefix). A push extends the open run
  // at that end or opens one; a list without records starts at ListBase(lsn) (encoding.h).
  void ListPush(const std::string& prefix, ListShadow* l, bool left, std::string_view value,
                uint64_t lsn, BatchView* view);
  void ListPop(const std::string& prefix, ListShadow* l, bool left, BatchView* view);
  // Sets, inserts before or removes the element at `index` by rewriting the run that holds it.
  enum class ListEdit { kSet, kInsert, kRemove };
  void ListChange(const std::string& prefix, ListShadow* l, ListEdit edit, size_t index,
                  std::string_view value, uint64_t lsn, BatchView* view);
  // Writes `elements` as the record of `run`.
  void PutRun(const std::string& prefix, ListRun* run, const std::deque<std::string_view>& elements,
              BatchView* view);
  // Writes the list's open runs and its trim, so that its records say all there is.
  void SettleList(const std::string& prefix, ListShadow* l, BatchView* view);
  // Replaces run i's record by one holding `elements` (none: the run is gone), dropping its
  // dead elements; splits a run grown past the limits.
  void RewriteRun(const std::string& prefix, ListShadow* l, size_t i,
                  std::vector<std::string> elements, uint64_t lsn, BatchView* view);
  // The live elements of run i (a written one), read from its record.
  std::vector<std::string> ReadRun(const std::string& prefix, const ListShadow& l, size_t i,
                                   BatchView* view);
  size_t LiveSize(const ListShadow& l, size_t i) const;
  // The job operations on the queue at `prefix` (its QueuePrefix).
  void PutJob(const std::string& prefix, uint64_t id, std::string_view record, BatchView* view);
  void DeleteJob(const std::string& prefix, uint64_t id, BatchView* view);
  // Marks job `id` dead in the run that holds it live; false if none does.
  bool KillInRun(const std::string& prefix, QueueShadow* q, uint64_t id, BatchView* view);
  // Writes the queue's open jobs: as a run, or as records of their own when they are few.
  void WriteOpenRun(const std::string& prefix, QueueShadow* q, BatchView* view);
  // Writes the open jobs and the changed dead maps, so that the queue's records say all there is.
  void SettleQueue(const std::string& prefix, QueueShadow* q, BatchView* view);
  bool Write(leveldb::WriteBatch* batch, bool sync, std::string* error);

  StoreOptions options_;
  std::unique_ptr<LogSpaceEnv> env_;  // outlives db_
  std::unique_ptr<leveldb::Cache> cache_;
  std::unique_ptr<const leveldb::FilterPolicy> filter_;
  std::unique_ptr<leveldb::DB> db_;
  leveldb::WriteBatch batch_;                          // reused by every Commit
  std::vector<char> superseded_;                       // FindSuperseded's, reused
  std::unordered_map<std::string, KeyShadow> shadow_;  // by ElementPrefix(db, key)
  const KeyShadow plain_string_;  // what a key without an entry in shadow_ is, if anything
  std::unordered_map<std::string, StreamMeta> stream_meta_;  // streams only, same keys
  // Of the commit being built: the elements of open list runs, and the lists it changed.
  std::vector<OpenRun> open_runs_;
  std::vector<std::string> touched_lists_;
  std::unordered_map<std::string, QueueShadow> queues_;  // by QueuePrefix(db, key)
  std::vector<std::string> touched_queues_;
  // The completions the commit being built writes, and those written since TakeStored.
  std::vector<std::pair<int, uint64_t>> writing_completions_;
  std::mutex stored_mu_;
  std::vector<std::pair<int, uint64_t>> stored_completions_;  // guarded by stored_mu_
};

}  // namespace desaster
