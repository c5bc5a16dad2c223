#include "net/stream.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>

namespace desaster::net {

std::string Stream::error() const { return strerror(errno); }

namespace {

class Plain : public Stream {
 public:
  explicit Plain(int fd) : fd_(fd) {}
  ssize_t Read(char* buffer, size_t n) override { return read(fd_, buffer, n); }
  ssize_t Write(const char* data, size_t n) override { return write(fd_, data, n); }

 private:
  int fd_;
};

class Tls : public Stream {
 public:
  Tls(int fd, std::shared_ptr<TlsContext> context, bool server)
      : context_(std::move(context)), ssl_(SSL_new(context_->raw())) {
    SSL_set_fd(ssl_, fd);
    server ? SSL_set_accept_state(ssl_) : SSL_set_connect_state(ssl_);
  }
  ~Tls() override { SSL_free(ssl_); }

  SSL* ssl() { return ssl_; }

  ssize_t Read(char* buffer, size_t n) override {
    // One record at a time: OpenSSL takes no more than a record from the socket, so what
    // follows it still makes the socket readable (and buffered() tells of a record's rest).
    return Call([&](int len) { return SSL_read(ssl_, buffer, len); }, n, true);
  }

  ssize_t Write(const char* data, size_t n) override {
    return Call([&](int len) { return SSL_write(ssl_, data, len); }, n, false);
  }

  bool wants_write() const override { return read_wants_write_; }
  bool write_wants_read() const override { return write_wants_read_; }
  bool buffered() const override { return !failed_ && SSL_has_pending(ssl_); }
  std::string error() const override { return error_; }
  bool tls() const override { return true; }

  void Shutdown() override {
    if (!failed_ && SSL_is_init_finished(ssl_)) {
      ERR_clear_error();
      SSL_shutdown(ssl_);
    }
  }

 private:
  // Runs SSL_read or SSL_write (`reading`) for up to `n` bytes and says what came of it as
  // read(2) and write(2) do.
  template <class Io>
  ssize_t Call(Io io, size_t n, bool reading) {
    bool& waits_for_other = reading ? read_wants_write_ : write_wants_read_;
    waits_for_other = false;
    if (failed_) {
      errno = reading ? ECONNRESET : EPIPE;
      return -1;
    }
    ERR_clear_error();
    int r = io(static_cast<int>(std::min<size_t>(n, INT_MAX)));
    if (r > 0) return r;
    int status = SSL_get_error(ssl_, r);
    if (status == SSL_ERROR_WANT_READ || status == SSL_ERROR_WANT_WRITE) {
      waits_for_other = status == (reading ? SSL_ERROR_WANT_WRITE : SSL_ERROR_WANT_READ);
      errno = EAGAIN;
      return -1;
    }
    if (status == SSL_ERROR_ZERO_RETURN && reading) return 0;  // the peer's close_notify
    Fail(status);
    errno = reading ? ECONNRESET : EPIPE;
    return -1;
  }

  void Fail(int status) {
    failed_ = true;
    int saved = errno;
    if (status == SSL_ERROR_SYSCALL) {
      error_ = TakeTlsError(saved ? strerror(saved) : "connection reset");
    } else {
      error_ = TakeTlsError("TLS error " + std::to_string(status));
    }
  }

  std::shared_ptr<TlsContext> context_;  // outlives ssl_, which refers to it
  SSL* ssl_;
  bool read_wants_write_ = false;
  bool write_wants_read_ = false;
  bool failed_ = false;
  std::string error_;
};

}  // namespace

int StartConnect(const std::string& host, const std::string& port, std::string* error) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (int rc = getaddrinfo(host.c_str(), port.c_str(), &hints, &found); rc != 0) {
    *error = "cannot resolve " + host + ": " + gai_strerror(rc);
    return -1;
  }
  int fd = socket(found->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int rc = fd < 0 ? -1 : connect(fd, found->ai_addr, found->ai_addrlen);
  int err = errno;
  freeaddrinfo(found);
  if (rc != 0 && err != EINPROGRESS) {
    *error = strerror(err);
    if (fd >= 0) close(fd);
    return -1;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  return fd;
}

std::string ConnectError(int fd) {
  int err = 0;
  socklen_t len = sizeof(err);
  getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
  return err == 0 ? "" : strerror(err);
}

std::optional<bool> WriteQueued(Stream& stream, std::string* queued, size_t* written) {
  while (*written < queued->size()) {
    ssize_t n = stream.Write(queued->data() + *written, queued->size() - *written);
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) break;
      return std::nullopt;
    }
    *written += static_cast<size_t>(n);
  }
  if (*written == queued->size()) {
    queued->clear();
    *written = 0;
  }
  return (*written < queued->size() && !stream.write_wants_read()) || stream.wants_write();
}

void CloseStream(std::unique_ptr<Stream>* stream, int* fd) {
  if (*stream) (*stream)->Shutdown();
  stream->reset();
  if (*fd >= 0) close(*fd);
  *fd = -1;
}

std::unique_ptr<Stream> PlainStream(int fd) { return std::make_unique<Plain>(fd); }

std::unique_ptr<Stream> TlsServerStream(int fd, std::shared_ptr<TlsContext> context) {
  return std::make_unique<Tls>(fd, std::move(context), true);
}

std::unique_ptr<Stream> TlsClientStream(int fd, std::shared_ptr<TlsContext> context,
                                        const std::string& host) {
  auto stream = std::make_unique<Tls>(fd, std::move(context), false);
  SSL* ssl = stream->ssl();
  X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
  unsigned char ip[sizeof(in6_addr)];
  bool is_ip =
      inet_pton(AF_INET, host.c_str(), ip) == 1 || inet_pton(AF_INET6, host.c_str(), ip) == 1;
  if (is_ip) {
    X509_VERIFY_PARAM_set1_ip_asc(param, host.c_str());
  } else {
    SSL_set_tlsext_host_name(ssl, host.c_str());  // SNI: names only
    X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    X509_VERIFY_PARAM_set1_host(param, host.c_str(), 0);
  }
  return stream;
}

}  // namespace desaster::net
