// Write-ahead logs that are written into space made ahead of them, so that a synced write does
// not grow its file.
//
// fdatasync after a write past the end of a file also commits the file's new size, which on ext4
// is a journal commit; after a write into blocks the file already has it writes only the data.
// With appendfsync always every batch waits for one such sync: docs/PERSISTENCE.md ("Log space")
// has the measurements.
#pragma once

#include <leveldb/env.h>

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <string>
#include <thread>

namespace desaster {

// A LevelDB Env that passes everything to the default one, except that it keeps a spare log in
// the database's directory: `size` zero bytes, written and synced by a helper thread. A new
// write-ahead log takes the spare's place (a rename), so its writes land inside the file until
// they pass `size`; the helper then makes the next spare. LevelDB's log reader skips the zero
// blocks that follow the last record after a crash.
class LogSpaceEnv : public leveldb::EnvWrapper {
 public:
  // Keeps its spare in `dir`, removing one a previous process left.
  LogSpaceEnv(std::string dir, size_t size);
  // Stops the helper and removes the spare.
  ~LogSpaceEnv() override;
  LogSpaceEnv(const LogSpaceEnv&) = delete;
  LogSpaceEnv& operator=(const LogSpaceEnv&) = delete;

  // Says whether the writes that follow are each synced before the next one starts (the store
  // says so before each write; until then they are taken to be). The OS writes the blocks of a
  // file back in no particular order, so after unsynced writes into a spare a crash of the machine
  // could keep a later write and lose an earlier one. An unsynced write therefore first cuts the
  // open log back to its data, and no spare is used or made until writes are synced again.
  void SetWritesSynced(bool synced);
  // Whether a spare is ready for the next log.
  bool SpareReady() const;

  leveldb::Status NewWritableFile(const std::string& name, leveldb::WritableFile** file) override;

  // Whether `name` (a path) is one of LevelDB's write-ahead logs: digits, then ".log".
  static bool IsWriteAheadLog(const std::string& name);

 private:
  void Run();
  // Writes the spare and syncs it; false (and no spare left behind) when the disk refuses.
  bool MakeSpare();
  // The spare renamed to `name`, open for writing; -1 when no spare is ready or it cannot move.
  int TakeSpare(const std::string& name);

  const std::string dir_, spare_path_;
  const size_t size_;
  std::atomic<bool> synced_{true};
  mutable std::mutex mu_;
  std::condition_variable wanted_;
  bool want_ = false;   // a spare should be made
  bool ready_ = false;  // the spare is in place
  bool stopping_ = false;
  std::thread helper_;
};

}  // namespace desaster
