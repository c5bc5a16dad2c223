#include "cluster/forward.h"

#include <cerrno>

#include "resp/writer.h"

namespace desaster {

ForwardLink::ForwardLink(struct ev_loop* loop, Handler handler,
                         std::shared_ptr<net::TlsContext> tls)
    : loop_(loop), handler_(std::move(handler)), tls_(std::move(tls)) {
  read_watcher_.set(loop_);
  read_watcher_.set<ForwardLink, &ForwardLink::OnReadable>(this);
  write_watcher_.set(loop_);
  write_watcher_.set<ForwardLink, &ForwardLink::OnWritable>(this);
}

ForwardLink::~ForwardLink() { Stop(); }

void ForwardLink::Stop() {
  read_watcher_.stop();
  write_watcher_.stop();
  net::CloseStream(&stream_, &fd_);
}

void ForwardLink::Open(const std::string& address) {
  address_ = address;
  size_t colon = address.rfind(':');
  if (colon == std::string::npos) return Unreachable("no port in " + address);
  std::string host = address.substr(0, colon), port = address.substr(colon + 1);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  host_ = host;
  std::string error;
  fd_ = net::StartConnect(host, port, &error);
  if (fd_ < 0) return Unreachable("cannot connect to " + address + ": " + error);
  read_watcher_.set(fd_, ev::READ);
  write_watcher_.set(fd_, ev::WRITE);
  // Connected once the socket is writable; requests wait in output_ until then.
  write_watcher_.start();
}

void ForwardLink::Retarget(const std::string& address) {
  if (connected_) return;
  Stop();
  Open(address);
}

void ForwardLink::Send(const std::vector<std::string>& argv, bool relay) {
  resp::AppendRequest(&output_, argv);
  expected_.push_back(relay);
}

void ForwardLink::Flush() {
  if (connected_ && fd_ >= 0) Write();
}

void ForwardLink::PauseReading(bool pause) {
  if (pause == paused_) return;
  paused_ = pause;
  if (!connected_) return;
  pause ? read_watcher_.stop() : read_watcher_.start();
}

void ForwardLink::Write() {
  std::optional<bool> wait = net::WriteQueued(*stream_, &output_, &written_);
  if (!wait) return Fail("writing to the master: " + stream_->error());
  if (!*wait) {
    write_watcher_.stop();
  } else if (!write_watcher_.is_active()) {
    write_watcher_.start();
  }
}

void ForwardLink::OnWritable(ev::io&, int) {
  if (!connected_) {
    if (std::string error = net::ConnectError(fd_); !error.empty()) {
      return Unreachable("cannot connect to " + address_ + ": " + error);
    }
    connected_ = true;
    stream_ = tls_ ? net::TlsClientStream(fd_, tls_, host_) : net::PlainStream(fd_);
    if (!paused_) read_watcher_.start();
    // The set-up goes first, ahead of what was queued meanwhile.
    std::vector<std::vector<std::string>> setup = handler_.hello();
    std::string queued = std::move(output_);
    output_.clear();
    for (auto it = setup.rbegin(); it != setup.rend(); ++it) expected_.push_front(false);
    for (const auto& argv : setup) resp::AppendRequest(&output_, argv);
    output_ += queued;
  }
  if (stream_->wants_write()) {
    OnReadable(read_watcher_, 0);  // a TLS read waited for this
    if (fd_ < 0) return;
  }
  size_t before = unsent();
  Write();
  if (fd_ >= 0 && unsent() < before) handler_.progress();
}

void ForwardLink::OnReadable(ev::io&, int) {
  char buffer[64 * 1024];
  ssize_t n;
  bool arrived = false;
  do {
    n = stream_->Read(buffer, sizeof(buffer));
    if (n > 0) {
      input_.append(buffer, static_cast<size_t>(n));
      arrived = true;
    }
  } while (n > 0 && stream_->buffered());
  if (n == 0) return Fail("the master closed the connection");
  if (n < 0 && errno != EAGAIN && errno != EINTR) {
    return Fail("reading from the master: " + stream_->error());
  }
  if (stream_->wants_write() || stream_->write_wants_read()) {
    Write();
    if (fd_ < 0) return;
  }
  if (!arrived) return;
  size_t start = 0;
  while (true) {
    size_t length = 0;
    bool push = false;
    auto status = scanner_.Scan(std::string_view(input_).substr(start), &length, &push);
    if (status == resp::ReplyScanner::Status::kIncomplete) break;
    if (status == resp::ReplyScanner::Status::kError) {
      return Fail("the master's reply is not RESP");
    }
    std::string_view reply(input_.data() + start, length);
    start += length;
    // A push (RESP3 pub/sub) answers no request; in RESP2 a subscribed connection's messages
    // look like replies, but then the link is streaming and counts nothing that matters.
    bool relay = true;
    if (!push && !expected_.empty()) {
      relay = expected_.front();
      expected_.pop_front();
    }
    if (relay) {
      handler_.reply(reply);
    } else if (reply.front() == '-') {
      return Fail("the master refused the link: " +
                  std::string(reply.substr(1, reply.find('\r') - 1)));
    }
    if (fd_ < 0) return;  // the handler stopped the link
  }
  input_.erase(0, start);
  if (start > 0) handler_.progress();
}

void ForwardLink::Fail(const std::string& why) {
  Stop();
  handler_.closed(why);
}

void ForwardLink::Unreachable(const std::string& why) {
  Stop();
  handler_.unreachable(why);
}

}  // namespace desaster
