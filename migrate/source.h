// The source Redis, seen as one of its replicas: the replication handshake, the snapshot saved
// to a file, then the command stream appended to a spool file by a thread of its own, so that
// a big, busy source never finds this replica behind (and drops it over its output buffer
// limit) while the snapshot loads into desaster.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

namespace desaster::migrate {

// redis://[[user]:password@]host[:port][/db], or host:port.
struct Address {
  std::string host = "127.0.0.1";
  int port = 6379;
  std::string user, password;
  int db = 0;
  static std::optional<Address> Parse(std::string_view url, std::string* error);
  std::string ToString() const;  // host:port, without the password
};

// A blocking TCP connection with a deadline on every wait, read through a buffer.
class Connection {
 public:
  Connection() = default;
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  bool Open(const Address& a, std::string* error);
  bool Send(std::string_view bytes, std::string* error);
  bool SendCommand(std::initializer_list<std::string_view> argv, std::string* error);
  // A reply line without its CRLF, skipping the empty lines a source sends to keep a replica
  // waiting for its snapshot alive.
  bool ReadLine(std::string* line, int timeout_ms, std::string* error);
  // Up to `max` bytes (at least one), from the buffer first.
  bool ReadSome(std::string* out, size_t max, int timeout_ms, std::string* error);
  void Close();

 private:
  bool Fill(int timeout_ms, std::string* error);
  int fd_ = -1;
  std::string buffer_;
};

class ReplicaLink {
 public:
  ReplicaLink() = default;
  ~ReplicaLink() { Stop(); }

  // Connects, authenticates and asks for the stream after `offset` of the history `replid`
  // (empty: a full snapshot). On a refusal the error names what the source said and what that
  // means (a managed Redis that forbids SYNC and PSYNC).
  bool Start(const Address& a, const std::string& replid, int64_t offset, std::string* error);
  // Whether the source sends a snapshot first (else it continues after `offset`).
  bool full() const { return full_; }
  const std::string& replid() const { return replid_; }
  // The source's offset at the snapshot, or the offset the stream continues after.
  int64_t offset() const { return offset_; }
  // True when Start failed because the source refuses to serve replicas at all.
  bool refused() const { return refused_; }

  // After a full sync: receives the snapshot into `path`, calling `progress(bytes, total)` as it
  // goes (total 0: unknown, a diskless transfer).
  bool ReceiveSnapshot(const std::string& path,
                       const std::function<void(uint64_t, uint64_t)>& progress, std::string* error);

  // Starts the thread that appends the stream to `path` and acknowledges what it received
  // every second.
  bool StartStreaming(const std::string& path, std::string* error);
  // Stream bytes received so far (the source's offset is offset() + received()).
  uint64_t received() const { return received_.load(); }
  // Waits until more than `have` bytes arrived, the link failed, or `timeout_ms` passed.
  uint64_t WaitForMore(uint64_t have, int timeout_ms);
  // The reason the stream ended, empty while it runs.
  std::string failure() const;
  void Stop();

 private:
  void Stream(int spool_fd);

  Connection conn_;
  bool full_ = false, refused_ = false;
  std::string replid_;
  int64_t offset_ = 0;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> received_{0};
  mutable std::mutex mu_;
  std::condition_variable more_;
  std::string failure_;
};

}  // namespace desaster::migrate
