// One hiredis async connection to a scheduler on a libev loop, shared by desaster-worker and
// desaster-web. It says when it is up or down; reconnecting is the owner's policy.
#pragma once

#include <ev++.h>

#include <functional>
#include <string>
#include <vector>

struct redisAsyncContext;
struct redisReply;

namespace desaster::client {

class SchedulerConnection {
 public:
  // The reply of a command, or nullptr when the connection dropped before it came.
  using ReplyFn = std::function<void(redisReply*)>;
  // Called once per Connect(): ok, or why not (error names the cause, e.g. "Connection refused").
  using UpFn = std::function<void(bool ok, const std::string& error)>;
  // Called when an established connection drops (not after the owner destroys it).
  using DownFn = std::function<void()>;

  explicit SchedulerConnection(ev::loop_ref loop) : loop_(loop) {}
  // Closes the connection without calling back.
  ~SchedulerConnection();
  SchedulerConnection(const SchedulerConnection&) = delete;
  SchedulerConnection& operator=(const SchedulerConnection&) = delete;

  // Starts connecting to host:port; with a password, AUTH is the first command sent.
  void Connect(const std::string& host, int port, const std::string& password, UpFn on_up,
               DownFn on_down);
  // Sends a command; on_reply (may be empty) gets its reply, or nullptr at once when not connected.
  void Send(const std::vector<std::string>& argv, ReplyFn on_reply);
  bool connected() const { return connected_; }

 private:
  void Drop();

  ev::loop_ref loop_;
  redisAsyncContext* ctx_ = nullptr;
  bool connected_ = false;
  std::string password_;
  UpFn on_up_;
  DownFn on_down_;
};

// Splits "host:port" (the last colon separates, so "::1:6379" works); false when malformed.
bool ParseHostPort(const std::string& s, std::string* host, int* port);

}  // namespace desaster::client
