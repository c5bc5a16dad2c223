#include "server/store/log_space.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string_view>

#include "server/store/files.h"

namespace desaster {

namespace {

constexpr char kSpareName[] = "DESASTER-LOG-SPARE";

leveldb::Status IoError(const std::string& context, int error) {
  return leveldb::Status::IOError(context, std::strerror(error));
}

// A log written through a buffer, as LevelDB's own writable file. Its first `reserved` bytes
// are a spare's zeros, which writes overwrite until one is unsynced.
class Log : public leveldb::WritableFile {
 public:
  Log(std::string path, int fd, size_t reserved, const std::atomic<bool>* synced)
      : path_(std::move(path)), fd_(fd), reserved_(reserved), synced_(synced) {}
  ~Log() override {
    if (fd_ >= 0) Close();
  }

  leveldb::Status Append(const leveldb::Slice& slice) override {
    std::string_view data(slice.data(), slice.size());
    size_t fits = std::min(data.size(), kBufferSize - buffer_.size());
    buffer_.append(data.substr(0, fits));
    data.remove_prefix(fits);
    if (data.empty()) return leveldb::Status::OK();
    if (leveldb::Status s = WriteBuffer(); !s.ok()) return s;
    if (data.size() < kBufferSize) {
      buffer_.assign(data);
      return leveldb::Status::OK();
    }
    return WriteOut(data);
  }

  leveldb::Status Flush() override { return WriteBuffer(); }

  leveldb::Status Sync() override {
    if (leveldb::Status s = WriteBuffer(); !s.ok()) return s;
    if (fdatasync(fd_) != 0) return IoError(path_, errno);
    return leveldb::Status::OK();
  }

  // The zeros past the data stay: LevelDB removes the log once its memtable is in a table.
  leveldb::Status Close() override {
    leveldb::Status s = WriteBuffer();
    if (close(fd_) != 0 && s.ok()) s = IoError(path_, errno);
    fd_ = -1;
    return s;
  }

 private:
  static constexpr size_t kBufferSize = 64 * 1024;  // LevelDB's own

  leveldb::Status WriteBuffer() {
    leveldb::Status s = WriteOut(buffer_);
    buffer_.clear();
    return s;
  }

  leveldb::Status WriteOut(std::string_view data) {
    if (data.empty()) return leveldb::Status::OK();
    if (written_ < reserved_ && !synced_->load(std::memory_order_relaxed)) {
      // From here on the file ends at its data, so what the OS writes back extends it in order.
      if (ftruncate(fd_, static_cast<off_t>(written_)) != 0) return IoError(path_, errno);
      reserved_ = 0;
    }
    if (!WriteAll(fd_, data)) return IoError(path_, errno);
    written_ += data.size();
    return leveldb::Status::OK();
  }

  const std::string path_;
  int fd_;
  size_t reserved_;
  const std::atomic<bool>* synced_;
  std::string buffer_;
  size_t written_ = 0;
};

}  // namespace

LogSpaceEnv::LogSpaceEnv(std::string dir, size_t size)
    : leveldb::EnvWrapper(leveldb::Env::Default()),
      dir_(std::move(dir)),
      spare_path_(dir_ + "/" + kSpareName),
      size_(size) {
  std::remove(spare_path_.c_str());
  helper_ = std::thread([this] { Run(); });
}

LogSpaceEnv::~LogSpaceEnv() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  wanted_.notify_one();
  helper_.join();
  std::remove(spare_path_.c_str());
}

void LogSpaceEnv::SetWritesSynced(bool synced) {
  if (synced_.exchange(synced, std::memory_order_relaxed) == synced || !synced) return;
  std::lock_guard<std::mutex> lock(mu_);
  if (!ready_) want_ = true;
  wanted_.notify_one();
}

bool LogSpaceEnv::SpareReady() const {
  std::lock_guard<std::mutex> lock(mu_);
  return ready_;
}

void LogSpaceEnv::Run() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    wanted_.wait(lock, [this] { return want_ || stopping_; });
    if (stopping_) return;
    want_ = false;
    if (ready_) continue;
    // ready_ stays false while the spare is written, so TakeSpare leaves the file alone.
    lock.unlock();
    bool made = MakeSpare();
    lock.lock();
    ready_ = made;
  }
}

bool LogSpaceEnv::MakeSpare() {
  static const char zeros[64 * 1024] = {};
  int fd = open(spare_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return false;
  bool ok = true;
  for (size_t left = size_; ok && left > 0; left -= std::min(left, sizeof(zeros))) {
    ok = WriteAll(fd, std::string_view(zeros, std::min(left, sizeof(zeros))));
  }
  // Synced whole, so that a log's own syncs find its size and blocks already on disk.
  ok = ok && fdatasync(fd) == 0;
  close(fd);
  if (!ok) std::remove(spare_path_.c_str());  // a full disk needs the space more
  return ok;
}

int LogSpaceEnv::TakeSpare(const std::string& name) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!ready_) return -1;
  ready_ = false;
  if (std::rename(spare_path_.c_str(), name.c_str()) != 0) return -1;
  return open(name.c_str(), O_WRONLY | O_CLOEXEC);
}

leveldb::Status LogSpaceEnv::NewWritableFile(const std::string& name,
                                             leveldb::WritableFile** file) {
  *file = nullptr;
  if (!IsWriteAheadLog(name)) return target()->NewWritableFile(name, file);
  bool synced = synced_.load(std::memory_order_relaxed);
  int fd = synced ? TakeSpare(name) : -1;
  size_t reserved = 0;
  if (fd >= 0) {
    // The log's name must last: its own syncs write only its data.
    if (!SyncDirectory(dir_)) {
      int error = errno;
      close(fd);
      return IoError(dir_, error);
    }
    reserved = size_;
  } else {
    fd = open(name.c_str(), O_TRUNC | O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return IoError(name, errno);
  }
  if (synced) {
    std::lock_guard<std::mutex> lock(mu_);
    want_ = true;
    wanted_.notify_one();
  }
  *file = new Log(name, fd, reserved, &synced_);
  return leveldb::Status::OK();
}

bool LogSpaceEnv::IsWriteAheadLog(const std::string& name) {
  std::string_view base(name);
  base.remove_prefix(std::min(base.size(), base.rfind('/') + 1));
  constexpr std::string_view kSuffix = ".log";
  if (base.size() <= kSuffix.size() || !base.ends_with(kSuffix)) return false;
  base.remove_suffix(kSuffix.size());
  return std::all_of(base.begin(), base.end(), [](char c) { return c >= '0' && c <= '9'; });
}

}  // namespace desaster
