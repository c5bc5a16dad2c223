#include "client/scheduler_connection.h"

#include <hiredis/hiredis.h>

#include <cerrno>

#include "resp/writer.h"

namespace desaster::client {

SchedulerConnection::SchedulerConnection(ev::loop_ref loop) : loop_(loop) {
  read_watcher_.set(loop_);
  read_watcher_.set<SchedulerConnection, &SchedulerConnection::OnReadable>(this);
  write_watcher_.set(loop_);
  write_watcher_.set<SchedulerConnection, &SchedulerConnection::OnWritable>(this);
}

SchedulerConnection::~SchedulerConnection() { Drop(); }

uint64_t SchedulerConnection::Drop() {
  uint64_t dropped = ++*generation_;
  read_watcher_.stop();
  write_watcher_.stop();
  net::CloseStream(&stream_, &fd_);
  if (reader_) redisReaderFree(reader_);
  reader_ = nullptr;
  output_.clear();
  written_ = 0;
  socket_connected_ = connected_ = false;
  // Last: a callback may connect anew, or destroy this.
  std::deque<ReplyFn> waiting = std::move(waiting_);
  waiting_.clear();
  for (ReplyFn& on_reply : waiting) {
    if (on_reply) on_reply(nullptr);
  }
  return dropped;
}

void SchedulerConnection::Connect(const std::string& host, int port, const SchedulerAccess& access,
                                  UpFn on_up, DownFn on_down) {
  Drop();
  host_ = host;
  port_ = port;
  access_ = access;
  on_up_ = std::move(on_up);
  on_down_ = std::move(on_down);
  std::string error;
  fd_ = net::StartConnect(host, std::to_string(port), &error);
  if (fd_ < 0) return on_up_(false, error);
  read_watcher_.set(fd_, ev::READ);
  write_watcher_.set(fd_, ev::WRITE);
  write_watcher_.start();  // connected once writable
}

void SchedulerConnection::Start() {
  socket_connected_ = true;
  stream_ = access_.tls ? net::TlsClientStream(fd_, access_.tls, host_) : net::PlainStream(fd_);
  reader_ = redisReaderCreate();
  read_watcher_.start();
  auto up = [this](redisReply* reply) {
    if (!reply) return;  // Fail reported it
    if (reply->type == REDIS_REPLY_ERROR) {
      return Fail(std::string(reply->str, reply->len));
    }
    connected_ = true;
    on_up_(true, "");
  };
  if (!access_.password.empty()) {
    std::vector<std::string> auth = {"AUTH", access_.password};
    if (!access_.user.empty()) auth.insert(auth.begin() + 1, access_.user);
    Queue(auth, up);
  } else if (access_.tls) {
    Queue({"PING"}, up);  // up once the handshake is done and the scheduler answers
  } else {
    connected_ = true;
    on_up_(true, "");
  }
}

void SchedulerConnection::Send(const std::vector<std::string>& argv, ReplyFn on_reply) {
  if (!connected_) {
    if (on_reply) on_reply(nullptr);
    return;
  }
  Queue(argv, std::move(on_reply));
}

void SchedulerConnection::Queue(const std::vector<std::string>& argv, ReplyFn on_reply) {
  resp::AppendRequest(&output_, argv);
  waiting_.push_back(std::move(on_reply));
  Write();
}

void SchedulerConnection::Write() {
  std::optional<bool> wait = net::WriteQueued(*stream_, &output_, &written_);
  if (!wait) return Fail(stream_->error());
  *wait ? write_watcher_.start() : write_watcher_.stop();
}

void SchedulerConnection::OnWritable(ev::io&, int) {
  if (!socket_connected_) {
    if (std::string error = net::ConnectError(fd_); !error.empty()) return Fail(error);
    write_watcher_.stop();
    return Start();
  }
  if (stream_->wants_write()) return OnReadable(read_watcher_, 0);  // a TLS read waited for this
  Write();
}

void SchedulerConnection::OnReadable(ev::io&, int) {
  char buffer[64 * 1024];
  ssize_t n;
  do {
    n = stream_->Read(buffer, sizeof(buffer));
    if (n > 0) redisReaderFeed(reader_, buffer, static_cast<size_t>(n));
  } while (n > 0 && stream_->buffered());
  if (n == 0) return Fail("the scheduler closed the connection");
  if (n < 0 && errno != EAGAIN && errno != EINTR) return Fail(stream_->error());
  std::shared_ptr<uint64_t> generation = generation_;
  uint64_t current = *generation;
  if (stream_->write_wants_read() || stream_->wants_write() || written_ < output_.size()) Write();
  while (*generation == current) {
    void* reply = nullptr;
    if (redisReaderGetReply(reader_, &reply) != REDIS_OK) {
      return Fail(std::string("the scheduler's reply is not RESP: ") + reader_->errstr);
    }
    if (!reply) break;
    if (waiting_.empty()) {
      freeReplyObject(reply);
      return Fail("the scheduler sent a reply nobody asked for");
    }
    ReplyFn on_reply = std::move(waiting_.front());
    waiting_.pop_front();
    if (on_reply) on_reply(static_cast<redisReply*>(reply));
    freeReplyObject(reply);
  }
}

void SchedulerConnection::Fail(const std::string& why) {
  bool was_up = connected_;
  std::shared_ptr<uint64_t> generation = generation_;
  if (Drop() != *generation) return;  // a reply's callback connected anew, or destroyed this
  was_up ? on_down_() : on_up_(false, why);
}

bool ParseHostPort(const std::string& s, std::string* host, int* port) {
  size_t colon = s.rfind(':');
  if (colon == std::string::npos || colon == 0) return false;
  try {
    size_t used;
    *port = std::stoi(s.substr(colon + 1), &used);
    if (used != s.size() - colon - 1 || *port < 0 || *port > 65535) return false;
  } catch (const std::exception&) {
    return false;
  }
  *host = s.substr(0, colon);
  return true;
}

}  // namespace desaster::client
