// One connection to a scheduler on a libev loop, shared by desaster-worker and desaster-web:
// plain or TLS, logged in as a user, replies as hiredis' redisReply. It says when it is up or
// down; reconnecting is the owner's policy.
#pragma once

#include <ev++.h>

#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "net/stream.h"

struct redisReader;
struct redisReply;

namespace desaster::client {

// Who a connection logs in as, and how it reaches the scheduler.
struct SchedulerAccess {
  std::string user;                      // empty: the default user
  std::string password;                  // empty: no AUTH
  std::shared_ptr<net::TlsContext> tls;  // nullptr: plain TCP
};

class SchedulerConnection {
 public:
  // The reply of a command, or nullptr when the connection dropped before it came.
  using ReplyFn = std::function<void(redisReply*)>;
  // Called once per Connect(): ok, or why not (error names the cause, e.g. "Connection refused",
  // or the scheduler's answer to AUTH).
  using UpFn = std::function<void(bool ok, const std::string& error)>;
  // Called when an established connection drops (not after the owner destroys it).
  using DownFn = std::function<void()>;

  explicit SchedulerConnection(ev::loop_ref loop);
  // Closes the connection: commands waiting for replies get nullptr, on_up and on_down are not
  // called.
  ~SchedulerConnection();
  SchedulerConnection(const SchedulerConnection&) = delete;
  SchedulerConnection& operator=(const SchedulerConnection&) = delete;

  // Starts connecting to host:port. The connection is up once the scheduler accepted the
  // login (AUTH [user] password) or, over TLS without one, answered a PING.
  void Connect(const std::string& host, int port, const SchedulerAccess& access, UpFn on_up,
               DownFn on_down);
  // Sends a command; on_reply (may be empty) gets its reply, or nullptr at once when not connected.
  void Send(const std::vector<std::string>& argv, ReplyFn on_reply);
  bool connected() const { return connected_; }
  // Where the last Connect() went.
  const std::string& host() const { return host_; }
  int port() const { return port_; }

 private:
  void OnReadable(ev::io&, int);
  void OnWritable(ev::io&, int);
  // The socket connected: the stream starts, with the login first.
  void Start();
  // Queues a command whatever the state (the login goes before the connection is up).
  void Queue(const std::vector<std::string>& argv, ReplyFn on_reply);
  void Write();
  // The connection failed: pending replies get nullptr, then the owner hears of it.
  void Fail(const std::string& why);
  // Closes the connection; commands waiting for replies get nullptr. Returns the generation it
  // ended (a callback may have started another since).
  uint64_t Drop();

  ev::loop_ref loop_;
  ev::io read_watcher_, write_watcher_;
  int fd_ = -1;
  std::string host_;
  int port_ = 0;
  SchedulerAccess access_;
  std::unique_ptr<net::Stream> stream_;
  redisReader* reader_ = nullptr;
  std::string output_;
  size_t written_ = 0;
  std::deque<ReplyFn> waiting_;  // one per command sent, in order
  bool socket_connected_ = false;
  bool connected_ = false;  // up: logged in
  // Changes whenever the connection is dropped, and on destruction: a callback that dropped or
  // destroyed it stops the loop that called it.
  std::shared_ptr<uint64_t> generation_ = std::make_shared<uint64_t>(0);
  UpFn on_up_;
  DownFn on_down_;
};

// Splits "host:port" (the last colon separates, so "::1:6379" works); false when malformed.
bool ParseHostPort(const std::string& s, std::string* host, int* port);

}  // namespace desaster::client
