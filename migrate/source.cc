#include "migrate/source.h"

#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstring>

namespace desaster::migrate {
namespace {

bool ParseInt(std::string_view s, long long* out) {
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && end == s.data() + s.size();
}

std::string Errno(const char* what) { return std::string(what) + ": " + std::strerror(errno); }

bool WriteAll(int fd, std::string_view bytes, std::string* error) {
  while (!bytes.empty()) {
    ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      *error = Errno("write");
      return false;
    }
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

}  // namespace

std::optional<Address> Address::Parse(std::string_view url, std::string* error) {
  Address a;
  std::string_view rest = url;
  if (rest.starts_with("redis://")) {
    rest.remove_prefix(8);
  } else if (rest.find("://") != std::string_view::npos) {
    *error = "only redis:// URLs are supported (TLS comes with desaster's own TLS)";
    return std::nullopt;
  }
  if (size_t at = rest.rfind('@'); at != std::string_view::npos) {
    std::string_view auth = rest.substr(0, at);
    rest.remove_prefix(at + 1);
    if (size_t colon = auth.find(':'); colon != std::string_view::npos) {
      a.user = auth.substr(0, colon);
      a.password = auth.substr(colon + 1);
    } else {
      a.password = auth;
    }
  }
  if (size_t slash = rest.find('/'); slash != std::string_view::npos) {
    long long db;
    std::string_view d = rest.substr(slash + 1);
    if (!d.empty() && (!ParseInt(d, &db) || db < 0 || db > 65535)) {
      *error = "bad database number in '" + std::string(url) + "'";
      return std::nullopt;
    }
    if (!d.empty()) a.db = static_cast<int>(db);
    rest = rest.substr(0, slash);
  }
  if (size_t colon = rest.rfind(':'); colon != std::string_view::npos) {
    long long port;
    if (!ParseInt(rest.substr(colon + 1), &port) || port < 1 || port > 65535) {
      *error = "bad port in '" + std::string(url) + "'";
      return std::nullopt;
    }
    a.port = static_cast<int>(port);
    rest = rest.substr(0, colon);
  }
  if (!rest.empty()) a.host = rest;
  return a;
}

std::string Address::ToString() const { return host + ":" + std::to_string(port); }

// ---- Connection ----

Connection::~Connection() { Close(); }

void Connection::Close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  buffer_.clear();
}

bool Connection::Open(const Address& a, std::string* error) {
  addrinfo hints{}, *res = nullptr;
  hints.ai_socktype = SOCK_STREAM;
  if (int rc = getaddrinfo(a.host.c_str(), std::to_string(a.port).c_str(), &hints, &res)) {
    *error = a.ToString() + ": " + gai_strerror(rc);
    return false;
  }
  for (addrinfo* p = res; p; p = p->ai_next) {
    int fd = ::socket(p->ai_family, p->ai_socktype | SOCK_CLOEXEC, p->ai_protocol);
    if (fd < 0) continue;
    if (::connect(fd, p->ai_addr, p->ai_addrlen) == 0) {
      fd_ = fd;
      break;
    }
    ::close(fd);
  }
  freeaddrinfo(res);
  if (fd_ < 0) *error = Errno(("connect to " + a.ToString()).c_str());
  return fd_ >= 0;
}

bool Connection::Send(std::string_view bytes, std::string* error) {
  return WriteAll(fd_, bytes, error);
}

bool Connection::SendCommand(std::initializer_list<std::string_view> argv, std::string* error) {
  // Appended piece by piece: GCC 12 at -O3 warns (-Wrestrict) about "*" + std::string.
  std::string out(1, '*');
  out += std::to_string(argv.size());
  out += "\r\n";
  for (std::string_view a : argv) {
    out += '$';
    out += std::to_string(a.size());
    out += "\r\n";
    out.append(a);
    out += "\r\n";
  }
  return Send(out, error);
}

bool Connection::Fill(int timeout_ms, std::string* error) {
  pollfd p{fd_, POLLIN, 0};
  int rc = ::poll(&p, 1, timeout_ms);
  if (rc == 0) {
    *error = "the source sent nothing for " + std::to_string(timeout_ms / 1000) + " s";
    return false;
  }
  if (rc < 0) {
    *error = Errno("poll");
    return false;
  }
  char chunk[1 << 16];
  ssize_t n = ::read(fd_, chunk, sizeof chunk);
  if (n <= 0) {
    *error = n == 0 ? "the source closed the connection" : Errno("read");
    return false;
  }
  buffer_.append(chunk, static_cast<size_t>(n));
  return true;
}

bool Connection::ReadLine(std::string* line, int timeout_ms, std::string* error) {
  for (;;) {
    while (!buffer_.empty() && buffer_[0] == '\n') buffer_.erase(0, 1);  // keep-alives
    if (size_t end = buffer_.find("\r\n"); end != std::string::npos) {
      *line = buffer_.substr(0, end);
      buffer_.erase(0, end + 2);
      return true;
    }
    if (buffer_.size() > (1 << 20)) {
      *error = "a reply line longer than 1 MB";
      return false;
    }
    if (!Fill(timeout_ms, error)) return false;
  }
}

bool Connection::ReadSome(std::string* out, size_t max, int timeout_ms, std::string* error) {
  if (buffer_.empty() && !Fill(timeout_ms, error)) return false;
  size_t n = std::min(max, buffer_.size());
  out->assign(buffer_, 0, n);
  buffer_.erase(0, n);
  return true;
}

// ---- ReplicaLink ----

bool ReplicaLink::Start(const Address& a, const std::string& replid, int64_t offset,
                        std::string* error) {
  constexpr int kTimeoutMs = 60000;
  if (!conn_.Open(a, error)) return false;
  std::string line;
  auto call = [&](std::initializer_list<std::string_view> argv) {
    return conn_.SendCommand(argv, error) && conn_.ReadLine(&line, kTimeoutMs, error);
  };
  if (!a.password.empty()) {
    bool sent = a.user.empty() ? call({"AUTH", a.password}) : call({"AUTH", a.user, a.password});
    if (!sent) return false;
    if (line[0] == '-') {
      *error = "AUTH: " + line.substr(1);
      return false;
    }
  }
  if (!call({"PING"})) return false;
  if (line[0] == '-') {
    *error = "PING: " + line.substr(1);
    return false;
  }
  // Both are hints (the port shows in the source's INFO; capabilities let it send a diskless
  // snapshot and keep its history across its own failovers): a refusal is not fatal.
  if (!call({"REPLCONF", "listening-port", "0"}) ||
      !call({"REPLCONF", "capa", "eof", "capa", "psync2"})) {
    return false;
  }
  std::string next = std::to_string(offset + 1);
  if (!call({"PSYNC", replid.empty() ? "?" : replid, replid.empty() ? "-1" : next})) return false;
  if (line.starts_with("+FULLRESYNC ")) {
    std::string_view rest = std::string_view(line).substr(12);
    size_t space = rest.find(' ');
    long long off;
    if (space == std::string_view::npos || !ParseInt(rest.substr(space + 1), &off)) {
      *error = "unexpected PSYNC reply: " + line;
      return false;
    }
    full_ = true;
    replid_ = rest.substr(0, space);
    offset_ = off;
    return true;
  }
  if (line.starts_with("+CONTINUE")) {
    full_ = false;
    // A source that changed its history id (its own failover) names the new one.
    replid_ = line.size() > 10 ? line.substr(10) : replid;
    offset_ = offset;
    return true;
  }
  refused_ = line[0] == '-';
  *error = "the source refused PSYNC (" + line.substr(refused_ ? 1 : 0) +
           "): it does not serve replicas (managed Redis services forbid SYNC and PSYNC). "
           "Copy it with --scan instead: SCAN and DUMP while its writes are paused";
  return false;
}

bool ReplicaLink::ReceiveSnapshot(const std::string& path,
                                  const std::function<void(uint64_t, uint64_t)>& progress,
                                  std::string* error) {
  std::string header;
  if (!conn_.ReadLine(&header, 600000, error)) return false;  // a big BGSAVE takes its time
  if (header.empty() || header[0] != '$') {
    *error = "unexpected snapshot header: " + header.substr(0, 80);
    return false;
  }
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    *error = Errno(("create " + path).c_str());
    return false;
  }
  // "$<length>", or "$EOF:<40 bytes>" for a diskless transfer that ends with those 40 bytes.
  bool diskless = header.starts_with("$EOF:") && header.size() == 45;
  std::string mark = diskless ? header.substr(5) : "";
  long long total = 0;
  if (!diskless && (!ParseInt(std::string_view(header).substr(1), &total) || total < 0)) {
    ::close(fd);
    *error = "bad snapshot length: " + header;
    return false;
  }
  uint64_t got = 0;
  std::string chunk, tail;  // diskless: the last 40 bytes are held back until more arrive
  bool ok = true;
  while (ok) {
    if (!diskless && got == static_cast<uint64_t>(total)) break;
    size_t want = diskless ? (1 << 16) : std::min<uint64_t>(1 << 16, total - got);
    if (!conn_.ReadSome(&chunk, want, 600000, error)) {
      ok = false;
      break;
    }
    if (diskless) {
      tail += chunk;
      if (tail.size() >= 40 && tail.compare(tail.size() - 40, 40, mark) == 0) {
        ok = WriteAll(fd, std::string_view(tail).substr(0, tail.size() - 40), error);
        got += tail.size() - 40;
        break;
      }
      if (tail.size() > 40) {
        size_t flush = tail.size() - 40;
        ok = WriteAll(fd, std::string_view(tail).substr(0, flush), error);
        got += flush;
        tail.erase(0, flush);
      }
    } else {
      ok = WriteAll(fd, chunk, error);
      got += chunk.size();
    }
    progress(got, static_cast<uint64_t>(total));
  }
  ::close(fd);
  return ok;
}

bool ReplicaLink::StartStreaming(const std::string& path, std::string* error) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    *error = Errno(("create " + path).c_str());
    return false;
  }
  thread_ = std::thread([this, fd] { Stream(fd); });
  return true;
}

void ReplicaLink::Stream(int spool_fd) {
  using Clock = std::chrono::steady_clock;
  auto last_ack = Clock::now() - std::chrono::seconds(1);
  std::string chunk, error;
  while (!stop_.load()) {
    // A source starts the stream on the first acknowledgement after it has put this replica
    // online, which may be a moment after the snapshot's last byte: until the stream flows,
    // acknowledge every 100 ms rather than every second.
    auto every = received_.load() == 0 ? std::chrono::milliseconds(100) : std::chrono::seconds(1);
    if (Clock::now() - last_ack >= every) {
      // What arrived is acknowledged, as a replica does: the source shows the lag and keeps
      // the link (it drops replicas silent for repl-timeout).
      std::string ack = std::to_string(offset_ + static_cast<int64_t>(received_.load()));
      if (!conn_.SendCommand({"REPLCONF", "ACK", ack}, &error)) break;
      last_ack = Clock::now();
    }
    if (!conn_.ReadSome(&chunk, 1 << 16, 100, &error)) {
      if (error.starts_with("the source sent nothing")) {
        error.clear();
        continue;
      }
      break;
    }
    if (!WriteAll(spool_fd, chunk, &error)) break;
    {
      std::lock_guard lock(mu_);
      received_ += chunk.size();
    }
    more_.notify_all();
  }
  ::close(spool_fd);
  std::lock_guard lock(mu_);
  failure_ = stop_.load() ? "stopped" : error.empty() ? "the stream ended" : error;
  more_.notify_all();
}

uint64_t ReplicaLink::WaitForMore(uint64_t have, int timeout_ms) {
  std::unique_lock lock(mu_);
  more_.wait_for(lock, std::chrono::milliseconds(timeout_ms),
                 [&] { return received_.load() > have || !failure_.empty(); });
  return received_.load();
}

std::string ReplicaLink::failure() const {
  std::lock_guard lock(mu_);
  return failure_;
}

void ReplicaLink::Stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
  conn_.Close();
}

}  // namespace desaster::migrate
