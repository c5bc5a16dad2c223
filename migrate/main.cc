// desaster-migrate: moves a live Redis into desaster (docs/MIGRATE.md). It attaches to the
// source as a replica, loads its snapshot through desaster's normal write path, then applies
// the source's command stream, recording in desaster how far it got so that a stopped run
// resumes where it stopped; --cutover pauses the source's writes and ends the import once
// desaster holds everything the source acknowledged.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <map>

#include "client/command_line.h"
#include "migrate/progress.h"
#include "migrate/source.h"
#include "migrate/target.h"
#include "migrate/verify.h"

namespace desaster::migrate {
namespace {

namespace po = boost::program_options;
using Clock = std::chrono::steady_clock;

std::atomic<bool> g_stop{false};

struct Options {
  std::string from, to, rdb_file, spool;
  bool cutover = false, kill_clients = false, scan = false, retry_imported = false;
  bool verify = false, dry_run = false, flush_target = false;
  long long pause_ms = 3600 * 1000;
  std::string progress = "auto";
};

// A finished or failed run: what the user reads last.
int Fail(Progress& progress, const std::string& what, bool resumable) {
  progress.Event({{"event", "error"}, {"error", what}});
  if (resumable) {
    std::cerr << "desaster-migrate: stopped; desaster keeps the offset it reached: run the same "
                 "command again to resume.\n";
  }
  return 1;
}

// The RDB file at `path`, mapped.
class MappedFile {
 public:
  bool Open(const std::string& path, std::string* error) {
    fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    struct stat st {};
    if (fd_ < 0 || ::fstat(fd_, &st) != 0) {
      *error = "cannot open " + path;
      return false;
    }
    size_ = static_cast<size_t>(st.st_size);
    if (size_ == 0) return true;
    data_ = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd_, 0);
    if (data_ == MAP_FAILED) {
      data_ = nullptr;
      *error = "cannot map " + path;
      return false;
    }
    ::madvise(data_, size_, MADV_SEQUENTIAL);
    return true;
  }
  ~MappedFile() {
    if (data_) ::munmap(data_, size_);
    if (fd_ >= 0) ::close(fd_);
  }
  std::string_view bytes() const { return {static_cast<const char*>(data_), data_ ? size_ : 0}; }

 private:
  int fd_ = -1;
  void* data_ = nullptr;
  size_t size_ = 0;
};

// Loads an RDB file into desaster. With `link`, the event at the end says how much of the
// source's stream arrived meanwhile (spooled, not left in the source's output buffer).
bool LoadRdb(const std::string& path, Target& target, Progress& progress, std::string* error,
             const ReplicaLink* link = nullptr) {
  MappedFile file;
  if (!file.Open(path, error)) return false;
  rdb::FileReader reader(file.bytes());
  SnapshotWriter writer(&target);
  rdb::Record record;
  auto start = Clock::now();
  while (reader.Next(&record)) {
    if (record.kind == rdb::Record::Kind::kKey && !writer.Write(record, error)) return false;
    progress.Snapshot("snapshot", writer.keys(), reader.offset(), file.bytes().size());
    if (g_stop) {
      *error = "interrupted while loading the snapshot";
      return false;
    }
  }
  if (!reader.error().empty()) {
    *error = "the snapshot is not a valid RDB file: " + reader.error();
    return false;
  }
  if (!target.Drain(error)) return false;
  double seconds = std::chrono::duration<double>(Clock::now() - start).count() + 1e-9;
  for (const auto& w : reader.warnings()) progress.Event({{"event", "warning"}, {"warning", w}});
  if (writer.dropped_field_expiries()) {
    progress.Event({{"event", "warning"},
                    {"warning", std::to_string(writer.dropped_field_expiries()) +
                                    " hashes had field expiries, which desaster does not keep"}});
  }
  char rates[64];
  std::snprintf(rates, sizeof rates, "%.0f", writer.keys() / seconds);
  char mbs[64];
  std::snprintf(mbs, sizeof mbs, "%.1f", file.bytes().size() / seconds / 1e6);
  progress.Event({{"event", "snapshot loaded"},
                  {"keys", std::to_string(writer.keys())},
                  {"bytes", std::to_string(file.bytes().size())},
                  {"rdb_version", std::to_string(reader.version())},
                  {"seconds", std::to_string(seconds)},
                  {"keys_per_s", rates},
                  {"mb_per_s", mbs},
                  {"stream_spooled_bytes", link ? std::to_string(link->received()) : "0"}});
  return true;
}

// Reads one "field:value" line of an INFO reply.
std::string InfoField(const std::string& info, const std::string& field) {
  size_t at = info.find("\r\n" + field + ":");
  if (at == std::string::npos) at = info.find(field + ":") == 0 ? 0 : std::string::npos;
  if (at == std::string::npos) return "";
  size_t start = info.find(':', at) + 1;
  return info.substr(start, info.find("\r\n", start) - start);
}

std::string Text(const Reply& r) { return ReplyText(r.get()); }

struct ImportStatus {
  bool active = false;
  std::string source;
  long long offset = -1;
};

bool ReadImportStatus(Target& target, ImportStatus* out, std::string* error) {
  Reply r = target.Call({"IMPORT.STATUS"}, error);
  if (!r) return false;
  if (r->type != REDIS_REPLY_ARRAY) {
    *error = "the target does not answer IMPORT.STATUS (" + Text(r) + "): is it desaster?";
    return false;
  }
  for (size_t i = 0; i + 1 < r->elements; i += 2) {
    std::string k(r->element[i]->str, r->element[i]->len);
    const redisReply* v = r->element[i + 1];
    if (k == "active") out->active = v->integer == 1;
    if (k == "source") out->source.assign(v->str, v->len);
    if (k == "offset") out->offset = v->integer;
  }
  return true;
}

// Keys in desaster, over all databases.
long long TargetKeys(Target& target, std::string* error) {
  auto dbs = target.Keyspace(error);
  if (!dbs) return -1;
  long long keys = 0;
  for (const auto& [db, n] : *dbs) keys += n;
  return keys;
}

bool Ok(Target& target, const std::vector<std::string>& argv, std::string* error) {
  Reply r = target.Call(argv, error);
  if (!r) return false;
  if (r->type == REDIS_REPLY_ERROR) {
    *error = argv[0] + " at desaster: " + Text(r);
    return false;
  }
  return true;
}

// Pauses the source's writes (all commands on Redis before 6.2, which cannot pause only
// writes) and returns its replication offset once paused.
bool PauseSource(Target& source, long long pause_ms, long long* offset, std::string* error) {
  Reply r = source.Call({"CLIENT", "PAUSE", std::to_string(pause_ms), "WRITE"}, error);
  if (!r) return false;
  if (r->type == REDIS_REPLY_ERROR) {
    r = source.Call({"CLIENT", "PAUSE", std::to_string(pause_ms)}, error);
    if (!r || r->type == REDIS_REPLY_ERROR) {
      *error = "the source refused CLIENT PAUSE: " + Text(r);
      return false;
    }
  }
  r = source.Call({"INFO", "replication"}, error);
  if (!r) return false;
  *offset = std::atoll(InfoField(Text(r), "master_repl_offset").c_str());
  return true;
}

// The source's keys by SCAN and DUMP while its writes are paused: for sources that refuse to
// serve replicas. The pause is the cutover.
int CopyByScan(const Options& o, const Address& from, const Address& target_address, Target& target,
               Progress& progress) {
  std::string error;
  Target source;
  if (!source.Connect(from, &error)) return Fail(progress, error, false);
  auto paused = Clock::now();
  long long ignored;
  if (!PauseSource(source, o.pause_ms, &ignored, &error)) return Fail(progress, error, false);
  std::vector<std::string> start = {"IMPORT.START", "scan:" + from.ToString()};
  if (o.retry_imported) start.push_back("RETRY-IMPORTED");
  if (!Ok(target, start, &error)) return Fail(progress, error, false);
  auto dbs = source.Keyspace(&error);
  if (!dbs) return Fail(progress, error, false);
  SnapshotWriter writer(&target);
  for (const auto& [db, count] : *dbs) {
    if (!Ok(source, {"SELECT", std::to_string(db)}, &error)) return Fail(progress, error, false);
    bool copied = source.ScanKeys(
        [&](const std::string& key) {
          Reply dump = source.Call({"DUMP", key}, &error);
          Reply pttl = dump ? source.Call({"PTTL", key}, &error) : nullptr;
          if (!dump || !pttl) return false;
          if (dump->type != REDIS_REPLY_STRING) return true;  // expired between SCAN and DUMP
          rdb::Record record;
          record.db = db;
          record.key = key;
          if (!rdb::DecodeDump(std::string_view(dump->str, dump->len), &record.value, &error)) {
            error = "DUMP of '" + key + "': " + error;
            return false;
          }
          if (pttl->integer > 0) {
            record.expire_at_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                                      std::chrono::system_clock::now().time_since_epoch())
                                      .count() +
                                  pttl->integer;
          }
          progress.Snapshot("scan", writer.keys(), 0, 0);
          return writer.Write(record, &error);
        },
        &error);
    if (!copied) return Fail(progress, error, false);
  }
  if (!target.Drain(&error) || !Ok(target, {"IMPORT.FINISH"}, &error)) {
    return Fail(progress, error, false);
  }
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - paused).count();
  progress.Event({{"event", "cutover"},
                  {"keys", std::to_string(writer.keys())},
                  {"pause_to_ready_ms", std::to_string(ms)}});
  int verified = o.verify ? Verify(from, target_address, progress) : 0;
  if (o.kill_clients) source.Call({"CLIENT", "KILL", "TYPE", "normal"}, &error);
  return verified;
}

int Run(const Options& o) {
  Progress progress(o.progress == "json" || (o.progress == "auto" && !isatty(STDERR_FILENO))
                        ? Progress::Style::kJson
                        : Progress::Style::kBar);
  std::string error;
  auto to = Address::Parse(o.to, &error);
  if (!to) return Fail(progress, "--to: " + error, false);
  Target target;
  if (!target.Connect(*to, &error)) return Fail(progress, error, false);
  // A target with keys of its own is refused, unless they are to go.
  auto refuse_data = [&](long long keys) {
    return keys > 0 && !o.flush_target
               ? Fail(progress,
                      "desaster at " + to->ToString() + " holds " + std::to_string(keys) +
                          " keys; --flush-target deletes them before the import",
                      false)
               : 0;
  };

  if (!o.rdb_file.empty()) {  // an RDB file, offline: load it and end the import at once
    long long keys = TargetKeys(target, &error);
    if (keys < 0) return Fail(progress, error, false);
    if (int refused = refuse_data(keys)) return refused;
    std::vector<std::string> start = {"IMPORT.START", "rdb"};
    if (o.retry_imported) start.push_back("RETRY-IMPORTED");
    if ((keys > 0 && !Ok(target, {"FLUSHALL"}, &error)) || !Ok(target, start, &error) ||
        !LoadRdb(o.rdb_file, target, progress, &error) || !Ok(target, {"IMPORT.FINISH"}, &error)) {
      return Fail(progress, error, false);
    }
    progress.Event({{"event", "done"}, {"refused", target.refusals().Summary()}});
    return 0;
  }

  auto from = Address::Parse(o.from, &error);
  if (!from) return Fail(progress, "--from: " + error, false);
  if (o.verify && !o.cutover && !o.scan) return Verify(*from, *to, progress);

  ImportStatus status;
  if (!ReadImportStatus(target, &status, &error)) return Fail(progress, error, false);
  bool resume = status.active && !status.source.empty() && status.offset >= 0 &&
                !status.source.starts_with("scan:") && status.source != "rdb";
  long long keys = TargetKeys(target, &error);
  if (keys < 0) return Fail(progress, error, false);
  if (o.dry_run) {
    Target source;
    if (!source.Connect(*from, &error)) return Fail(progress, error, false);
    Reply info = source.Call({"INFO"}, &error);
    std::string text = Text(info);
    Reply psync = source.Call({"COMMAND", "INFO", "PSYNC"}, &error);
    bool serves = psync && psync->type == REDIS_REPLY_ARRAY && psync->elements == 1 &&
                  psync->element[0]->type == REDIS_REPLY_ARRAY;
    progress.Event({{"event", "dry run"},
                    {"source", from->ToString()},
                    {"source_version", InfoField(text, "redis_version")},
                    {"source_keys_db0", InfoField(text, "db0")},
                    {"source_memory", InfoField(text, "used_memory_human")},
                    {"method", serves ? "replica (PSYNC)" : "SCAN and DUMP (no PSYNC: use --scan)"},
                    {"target_keys", std::to_string(keys)},
                    {"plan", resume ? "resume after offset " + std::to_string(status.offset)
                             : keys > 0 && !o.flush_target
                                 ? "refuse: the target holds data (--flush-target replaces it)"
                                 : "copy the snapshot, then follow the stream"}});
    return 0;
  }
  // An interrupted snapshot, or a target with data of its own, starts from empty.
  bool ours = status.active && !resume;
  if (int refused = !resume && !ours ? refuse_data(keys) : 0) return refused;
  if (o.scan) {
    if (keys > 0 && !Ok(target, {"FLUSHALL"}, &error)) return Fail(progress, error, false);
    return CopyByScan(o, *from, *to, target, progress);
  }

  ReplicaLink link;
  if (!link.Start(*from, resume ? status.source : "", resume ? status.offset : -1, &error)) {
    return Fail(progress, error, false);
  }
  std::filesystem::create_directories(o.spool);
  std::string rdb_path = o.spool + "/snapshot.rdb", stream_path = o.spool + "/stream.resp";
  std::vector<std::string> start = {"IMPORT.START", link.replid()};
  if (o.retry_imported) start.push_back("RETRY-IMPORTED");
  if (link.full()) {
    progress.Event(
        {{"event", resume ? "full resync (the source no longer has the offset)" : "full sync"},
         {"source", from->ToString()},
         {"replid", link.replid()},
         {"offset", std::to_string(link.offset())}});
    if ((keys > 0 || resume) && !Ok(target, {"FLUSHALL"}, &error)) {
      return Fail(progress, error, false);
    }
    if (!Ok(target, start, &error)) return Fail(progress, error, false);
    uint64_t received = 0;
    if (!link.ReceiveSnapshot(
            rdb_path,
            [&](uint64_t bytes, uint64_t total) {
              received = bytes;
              progress.Snapshot("transfer", 0, bytes, total);
            },
            &error)) {
      return Fail(progress, "receiving the snapshot: " + error, false);
    }
    if (!link.StartStreaming(stream_path, &error)) return Fail(progress, error, false);
    if (!LoadRdb(rdb_path, target, progress, &error, &link)) return Fail(progress, error, false);
    std::filesystem::remove(rdb_path);
    if (!Ok(target, {"IMPORT.OFFSET", link.replid(), std::to_string(link.offset())}, &error)) {
      return Fail(progress, error, false);
    }
  } else {
    progress.Event({{"event", "resumed"},
                    {"source", from->ToString()},
                    {"replid", link.replid()},
                    {"offset", std::to_string(link.offset())}});
    if (link.replid() != status.source) {  // the source's history got a new id (a failover)
      start.push_back("OFFSET");
      start.push_back(std::to_string(link.offset()));
      if (!Ok(target, start, &error)) return Fail(progress, error, false);
    }
    if (!link.StartStreaming(stream_path, &error)) return Fail(progress, error, false);
  }

  // The stream, from the spool file as it grows.
  StreamApplier applier(&target, link.replid(), link.offset());
  int spool = ::open(stream_path.c_str(), O_RDONLY | O_CLOEXEC);
  if (spool < 0) return Fail(progress, "cannot read " + stream_path, false);
  uint64_t consumed = 0;
  std::string chunk(1 << 20, '\0');
  long long final_offset = -1;  // the source's offset once paused (cutover)
  Target control;               // the cutover's own connection to the source
  auto paused_at = Clock::now();
  for (;;) {
    uint64_t available = link.WaitForMore(consumed, 100);
    while (consumed < available) {
      ssize_t n =
          ::pread(spool, chunk.data(), std::min<uint64_t>(chunk.size(), available - consumed),
                  static_cast<off_t>(consumed));
      if (n <= 0) return Fail(progress, "reading the spool file failed", true);
      consumed += static_cast<uint64_t>(n);
      if (!applier.Feed(std::string_view(chunk.data(), static_cast<size_t>(n)), &error) ||
          !applier.Flush(&error)) {
        return Fail(progress, error, true);
      }
    }
    int64_t received = link.offset() + static_cast<int64_t>(available);
    progress.Stream(applier.applied(), received, applier.commands());
    if (g_stop) {
      link.Stop();
      progress.Event({{"event", "stopped"}, {"offset", std::to_string(applier.applied())}});
      std::cerr << "desaster-migrate: stopped at offset " << applier.applied()
                << "; run the same command again to resume.\n";
      return 130;
    }
    if (std::string why = link.failure(); !why.empty() && consumed == link.received()) {
      return Fail(progress, "the replication link ended: " + why, true);
    }
    // Cutover once caught up: pause the source, then wait for its last offset.
    if (o.cutover && final_offset < 0 && applier.applied() == received) {
      if (!control.Connect(*from, &error)) return Fail(progress, error, true);
      paused_at = Clock::now();
      if (!PauseSource(control, o.pause_ms, &final_offset, &error)) {
        return Fail(progress, error, true);
      }
    }
    if (final_offset >= 0 && applier.applied() >= final_offset) break;
  }
  if (!Ok(target, {"IMPORT.FINISH"}, &error)) return Fail(progress, error, true);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - paused_at).count();
  link.Stop();
  progress.Event({{"event", "cutover"},
                  {"offset", std::to_string(applier.applied())},
                  {"commands", std::to_string(applier.commands())},
                  {"pause_to_ready_ms", std::to_string(ms)},
                  {"refused", target.refusals().Summary()}});
  int verified = o.verify ? Verify(*from, *to, progress) : 0;
  if (o.kill_clients) control.Call({"CLIENT", "KILL", "TYPE", "normal"}, &error);
  return verified;
}

}  // namespace
}  // namespace desaster::migrate

int main(int argc, char** argv) {
  using namespace desaster::migrate;
  Options o;
  po::options_description desc(
      "desaster-migrate: moves a live Redis into desaster. It attaches to the source as a "
      "replica,\n"
      "loads its snapshot and follows its writes until --cutover; a stopped run resumes where it\n"
      "stopped (desaster keeps the offset). Lists that resque, Sidekiq and RQ use as queues "
      "become\n"
      "desaster queues; resque's failures become history that is not retried.\n\n"
      "Usage: desaster-migrate --from redis://source:6379 --to redis://desaster:6379 "
      "[--cutover]\n\n"
      "Options");
  desc.add_options()("help,h", "show this help")(
      "from", po::value(&o.from), "the source Redis: redis://[[user]:password@]host[:port]")(
      "to", po::value(&o.to)->default_value("redis://127.0.0.1:6379"), "desaster")(
      "cutover", po::bool_switch(&o.cutover),
      "once caught up, pause the source's writes, apply the rest, end the import and exit; "
      "the source stays paused for --pause-ms")(
      "pause-ms", po::value(&o.pause_ms)->default_value(o.pause_ms),
      "how long the cutover pauses the source (CLIENT PAUSE ... WRITE)")(
      "kill-clients", po::bool_switch(&o.kill_clients),
      "after the cutover, disconnect the source's clients so that they reconnect elsewhere")(
      "scan", po::bool_switch(&o.scan),
      "for sources that refuse PSYNC (managed services): pause their writes, copy every key "
      "with SCAN and DUMP, end the import")("rdb", po::value(&o.rdb_file),
                                            "load this RDB file instead of a live source")(
      "retry-imported", po::bool_switch(&o.retry_imported),
      "retry imported resque failures as desaster retries its own (default: history only)")(
      "verify", po::bool_switch(&o.verify),
      "compare every key of source and desaster (after --cutover, or on its own)")(
      "dry-run", po::bool_switch(&o.dry_run), "say what would be done, change nothing")(
      "flush-target", po::bool_switch(&o.flush_target),
      "delete the keys desaster holds before importing (otherwise a target with data is refused)")(
      "spool", po::value(&o.spool)->default_value("desaster-migrate.spool"),
      "directory for the snapshot and the spooled stream")(
      "progress", po::value(&o.progress)->default_value("auto"),
      "bar, json, or auto (a bar on a terminal, JSON lines otherwise), on stderr");
  if (auto exit_status = desaster::client::ParseCommandLine("desaster-migrate", argc, argv, desc)) {
    return *exit_status;
  }
  if (o.from.empty() && o.rdb_file.empty()) {
    std::cerr
        << "desaster-migrate: --from (a source Redis) or --rdb (a file) is required\nTry --help.\n";
    return 1;
  }
  if (o.progress != "auto" && o.progress != "bar" && o.progress != "json") {
    std::cerr << "desaster-migrate: --progress is bar, json or auto\nTry --help.\n";
    return 1;
  }
  std::signal(SIGINT, [](int) { g_stop = true; });
  std::signal(SIGTERM, [](int) { g_stop = true; });
  std::signal(SIGPIPE, SIG_IGN);
  return Run(o);
}
