#include "web/http_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <http_parser.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "net/stream.h"

namespace desaster::web {

namespace {

// The address part of a peer's socket address ("127.0.0.1", "::1").
std::string PeerAddress(const sockaddr_storage& addr) {
  char text[INET6_ADDRSTRLEN] = "";
  if (addr.ss_family == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&addr)->sin_addr, text, sizeof(text));
  } else if (addr.ss_family == AF_INET6) {
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&addr)->sin6_addr, text,
              sizeof(text));
  }
  return text;
}

// An event stream whose client reads slower than this much output is dropped.
constexpr size_t kMaxPendingOutput = 8 * 1024 * 1024;

std::string Lower(std::string s) {
  for (char& ch : s) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return s;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::map<std::string, std::string> ParseQuery(std::string_view q) {
  std::map<std::string, std::string> out;
  while (!q.empty()) {
    size_t amp = q.find('&');
    std::string_view pair = q.substr(0, amp);
    q = amp == std::string_view::npos ? std::string_view() : q.substr(amp + 1);
    if (pair.empty()) continue;
    size_t eq = pair.find('=');
    std::string name = PercentDecode(pair.substr(0, eq), true);
    out[name] = eq == std::string_view::npos ? "" : PercentDecode(pair.substr(eq + 1), true);
  }
  return out;
}

const std::string kEmpty;

}  // namespace

std::string PercentDecode(std::string_view s, bool plus_is_space) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); i++) {
    int hi, lo;
    if (s[i] == '%' && i + 2 < s.size() && (hi = HexValue(s[i + 1])) >= 0 &&
        (lo = HexValue(s[i + 2])) >= 0) {
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    } else {
      out += plus_is_space && s[i] == '+' ? ' ' : s[i];
    }
  }
  return out;
}

const std::string& HttpRequest::Header(const std::string& name) const {
  auto it = headers.find(name);
  return it == headers.end() ? kEmpty : it->second;
}

std::string HttpRequest::Cookie(std::string_view name) const {
  std::string_view all = Header("cookie");
  while (!all.empty()) {
    size_t semi = all.find(';');
    std::string_view part = all.substr(0, semi);
    all = semi == std::string_view::npos ? std::string_view() : all.substr(semi + 1);
    while (!part.empty() && part.front() == ' ') part.remove_prefix(1);
    size_t eq = part.find('=');
    if (eq != std::string_view::npos && part.substr(0, eq) == name) {
      return std::string(part.substr(eq + 1));
    }
  }
  return "";
}

const char* HttpServer::StatusText(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 204:
      return "No Content";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 413:
      return "Payload Too Large";
    case 415:
      return "Unsupported Media Type";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    default:
      return "Unknown";
  }
}

struct HttpServer::Connection {
  Connection(HttpServer* s, uint64_t i, int f, ev::loop_ref loop)
      : server(s), id(i), fd(f), read(loop), write(loop) {}

  HttpServer* server;
  uint64_t id;
  int fd;
  std::string peer;
  std::unique_ptr<net::Stream> stream;
  ev::io read, write;
  http_parser parser{};
  std::string in, out;
  HttpRequest request;
  std::string url, field, value;
  size_t header_bytes = 0;
  int reject = 0;        // a status to refuse the request with (set by a parser callback)
  bool busy = false;     // a request waits for its response
  bool parsing = false;  // inside ParseInput (responses that come now do not re-enter it)
  bool events = false;   // an event stream: open until the client leaves
  bool keep_alive = false;
  bool close_when_flushed = false;
  bool closed = false;
  bool complete = false;  // the parser finished a request in this ParseInput step
  bool in_value = false;  // the parser's last header callback was a value
  const HttpLimits* server_limits = nullptr;

  void OnRead(ev::io&, int) { server->OnReadable(this); }
  void OnWrite(ev::io&, int) { server->OnWriteEvent(this); }
};

namespace {

using Conn = HttpServer::Connection;

Conn* Of(http_parser* p) { return static_cast<Conn*>(p->data); }

void CommitHeader(Conn* c) {
  if (!c->field.empty()) c->request.headers[Lower(c->field)] = c->value;
  c->field.clear();
  c->value.clear();
}

int CountHeaderBytes(Conn* c, size_t n, size_t limit) {
  c->header_bytes += n;
  if (c->header_bytes > limit) {
    c->reject = 431;
    return 1;
  }
  return 0;
}

}  // namespace

HttpServer::HttpServer(ev::loop_ref loop, HttpHandler handler, HttpLimits limits)
    : loop_(loop), handler_(std::move(handler)), limits_(limits), accept_(loop) {}

HttpServer::~HttpServer() {
  accept_.stop();
  for (auto& [id, c] : connections_) {
    c->read.stop();
    c->write.stop();
    ::close(c->fd);
  }
  if (fd_ >= 0) ::close(fd_);
}

bool HttpServer::Listen(const std::string& host, int port, std::shared_ptr<net::TlsContext> tls,
                        std::string* error) {
  tls_ = std::move(tls);
  addrinfo hints{}, *res = nullptr;
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  std::string service = std::to_string(port);
  if (int rc = getaddrinfo(host.c_str(), service.c_str(), &hints, &res); rc != 0) {
    *error = "cannot resolve " + host + ": " + gai_strerror(rc);
    return false;
  }
  fd_ = ::socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  bool ok = fd_ >= 0 && ::bind(fd_, res->ai_addr, res->ai_addrlen) == 0 && ::listen(fd_, 512) == 0;
  freeaddrinfo(res);
  if (!ok) {
    *error = "cannot listen on " + host + ":" + service + ": " + std::strerror(errno);
    return false;
  }
  sockaddr_storage addr{};
  socklen_t len = sizeof(addr);
  getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = ntohs(addr.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port
                                           : reinterpret_cast<sockaddr_in*>(&addr)->sin_port);
  accept_.set<HttpServer, &HttpServer::OnAccept>(this);
  accept_.start(fd_, ev::READ);
  return true;
}

void HttpServer::OnAccept(ev::io&, int) {
  for (;;) {
    sockaddr_storage addr{};
    socklen_t len = sizeof(addr);
    int fd = ::accept4(fd_, reinterpret_cast<sockaddr*>(&addr), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) return;
    if (connections_.size() >= limits_.max_connections) {
      ::close(fd);
      continue;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    auto c = std::make_unique<Connection>(this, next_id_++, fd, loop_);
    c->peer = PeerAddress(addr);
    c->stream = tls_ ? net::TlsServerStream(fd, tls_) : net::PlainStream(fd);
    http_parser_init(&c->parser, HTTP_REQUEST);
    c->parser.data = c.get();
    c->server_limits = &limits_;
    c->read.set<Connection, &Connection::OnRead>(c.get());
    c->write.set<Connection, &Connection::OnWrite>(c.get());
    c->read.start(fd, ev::READ);
    connections_.emplace(c->id, std::move(c));
  }
}

namespace {

// The callbacks build the connection's request; they reach its limits through the connection.
const http_parser_settings& ParserSettings() {
  static const http_parser_settings settings = [] {
    http_parser_settings s;
    http_parser_settings_init(&s);
    s.on_message_begin = [](http_parser* p) {
      Conn* c = Of(p);
      c->request = HttpRequest();
      c->url.clear();
      c->field.clear();
      c->value.clear();
      c->header_bytes = 0;
      return 0;
    };
    s.on_url = [](http_parser* p, const char* at, size_t n) {
      Conn* c = Of(p);
      c->url.append(at, n);
      return CountHeaderBytes(c, n, c->server_limits->max_header_bytes);
    };
    s.on_header_field = [](http_parser* p, const char* at, size_t n) {
      Conn* c = Of(p);
      if (!c->value.empty() || c->in_value) CommitHeader(c);
      c->in_value = false;
      c->field.append(at, n);
      return CountHeaderBytes(c, n, c->server_limits->max_header_bytes);
    };
    s.on_header_value = [](http_parser* p, const char* at, size_t n) {
      Conn* c = Of(p);
      c->in_value = true;
      c->value.append(at, n);
      return CountHeaderBytes(c, n, c->server_limits->max_header_bytes);
    };
    s.on_headers_complete = [](http_parser* p) {
      Conn* c = Of(p);
      CommitHeader(c);
      c->in_value = false;
      if (p->http_major != 1) {
        c->reject = 505;
        return -1;
      }
      if (p->content_length != ULLONG_MAX && p->content_length > c->server_limits->max_body_bytes) {
        c->reject = 413;
        return -1;
      }
      return 0;
    };
    s.on_body = [](http_parser* p, const char* at, size_t n) {
      Conn* c = Of(p);
      if (c->request.body.size() + n > c->server_limits->max_body_bytes) {
        c->reject = 413;
        return 1;
      }
      c->request.body.append(at, n);
      return 0;
    };
    s.on_message_complete = [](http_parser* p) {
      Conn* c = Of(p);
      c->request.method = http_method_str(static_cast<http_method>(p->method));
      size_t q = c->url.find('?');
      c->request.path = c->url.substr(0, q);
      if (q != std::string::npos)
        c->request.query = ParseQuery(std::string_view(c->url).substr(q + 1));
      c->keep_alive = http_should_keep_alive(p) != 0;
      c->complete = true;
      http_parser_pause(p, 1);  // one request at a time: the rest waits in `in`
      return 0;
    };
    return s;
  }();
  return settings;
}

}  // namespace

void HttpServer::OnReadable(Connection* c) {
  char buf[16384];
  for (;;) {
    ssize_t n = c->stream->Read(buf, sizeof(buf));
    if (n > 0) {
      c->in.append(buf, static_cast<size_t>(n));
      if (c->in.size() > limits_.max_header_bytes + limits_.max_body_bytes + sizeof(buf)) break;
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    if (n < 0 && errno == EINTR) continue;
    return Close(c);  // end of input or an error: nobody is left to answer
  }
  // A TLS read that waits to write (a handshake), or a write that waited for this read.
  if (c->stream->wants_write() && !c->write.is_active()) c->write.start(c->fd, ev::WRITE);
  if (c->stream->write_wants_read() && !c->out.empty()) OnWritable(c);
  if (c->closed) return;
  if (c->events) return c->in.clear();  // a stream's client has nothing more to say
  Parse(c);
}

void HttpServer::Parse(Connection* c) {
  if (c->parsing) return;
  c->parsing = true;
  while (!c->closed && !c->busy && !c->close_when_flushed && !c->in.empty()) {
    c->complete = false;
    size_t used = http_parser_execute(&c->parser, &ParserSettings(), c->in.data(), c->in.size());
    c->in.erase(0, used);
    http_errno err = HTTP_PARSER_ERRNO(&c->parser);
    if (c->complete) {
      http_parser_pause(&c->parser, 0);
      c->busy = true;
      Dispatch(c);
    } else if (err != HPE_OK && err != HPE_PAUSED) {
      int status = c->reject ? c->reject : 400;
      Reject(c, status, c->reject ? StatusText(status) : http_errno_description(err));
    } else if (c->parser.upgrade) {
      Reject(c, 400, "protocol upgrades are not supported");
    }
  }
  c->parsing = false;
  if (c->closed) Reap(c);
}

void HttpServer::Dispatch(Connection* c) {
  c->request.peer = c->peer;
  auto exchange = std::make_shared<Exchange>(this, c->id, std::move(c->request));
  c->request = HttpRequest();
  handler_(std::move(exchange));
}

void HttpServer::Reject(Connection* c, int status, std::string_view message) {
  std::string body = "{\"error\":\"" + std::string(message) + "\"}";
  Write(c, "HTTP/1.1 " + std::to_string(status) + " " + StatusText(status) +
               "\r\nContent-Type: application/json\r\nContent-Length: " +
               std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body);
  c->close_when_flushed = true;
  if (c->out.empty()) Close(c);
}

void HttpServer::Write(Connection* c, std::string data) {
  if (c->closed) return;
  c->out += data;
  OnWritable(c);
}

void HttpServer::OnWriteEvent(Connection* c) {
  if (c->stream->wants_write()) {
    OnReadable(c);  // a TLS read waited for this
    if (c->closed) return;
  }
  OnWritable(c);
}

void HttpServer::OnWritable(Connection* c) {
  while (!c->out.empty()) {
    ssize_t n = c->stream->Write(c->out.data(), c->out.size());
    if (n > 0) {
      c->out.erase(0, static_cast<size_t>(n));
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      // A TLS write that waits to read goes on from OnReadable.
      if (!c->stream->write_wants_read() && !c->write.is_active()) c->write.start(c->fd, ev::WRITE);
      return;
    } else {
      return Close(c);
    }
  }
  if (c->stream->wants_write()) {
    if (!c->write.is_active()) c->write.start(c->fd, ev::WRITE);
    return;
  }
  c->write.stop();
  if (c->close_when_flushed) Close(c);
}

void HttpServer::Finish(Connection* c, bool keep_alive) {
  c->busy = false;
  if (!keep_alive) {
    c->close_when_flushed = true;
    if (c->out.empty()) Close(c);
    return;
  }
  Parse(c);
}

void HttpServer::Close(Connection* c) {
  if (c->closed) return;
  c->closed = true;
  c->read.stop();
  c->write.stop();
  net::CloseStream(&c->stream, &c->fd);
  if (!c->parsing) Reap(c);
}

void HttpServer::Reap(Connection* c) { connections_.erase(c->id); }

HttpServer::Connection* HttpServer::Find(uint64_t id) {
  auto it = connections_.find(id);
  return it == connections_.end() || it->second->closed ? nullptr : it->second.get();
}

// ---- Exchange ----

void Exchange::Respond(HttpResponse response) {
  if (answered_) return;
  answered_ = true;
  HttpServer::Connection* c = server_->Find(connection_);
  if (!c) return;
  bool keep_alive = c->keep_alive;
  std::string head = "HTTP/1.1 " + std::to_string(response.status) + " " +
                     HttpServer::StatusText(response.status) +
                     "\r\nContent-Type: " + response.content_type +
                     "\r\nContent-Length: " + std::to_string(response.body.size()) +
                     "\r\nX-Content-Type-Options: nosniff\r\n";
  for (const auto& [name, value] : response.headers) head += name + ": " + value + "\r\n";
  head += keep_alive ? "Connection: keep-alive\r\n\r\n" : "Connection: close\r\n\r\n";
  if (request_.method != "HEAD") head += response.body;
  server_->Write(c, std::move(head));
  if (server_->Find(connection_)) server_->Finish(c, keep_alive);
}

void Exchange::StartEvents() {
  if (answered_) return;
  answered_ = true;
  HttpServer::Connection* c = server_->Find(connection_);
  if (!c) return;
  c->events = true;
  server_->Write(c,
                 "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-store\r\n"
                 "X-Content-Type-Options: nosniff\r\nConnection: close\r\n\r\n");
}

bool Exchange::SendEvent(std::string_view event, std::string_view data) {
  HttpServer::Connection* c = server_->Find(connection_);
  if (!c || !c->events) return false;
  if (c->out.size() > kMaxPendingOutput) {
    server_->Close(c);
    return false;
  }
  std::string frame = "event: " + std::string(event) + "\n";
  while (true) {
    size_t nl = data.find('\n');
    frame += "data: " + std::string(data.substr(0, nl)) + "\n";
    if (nl == std::string_view::npos) break;
    data.remove_prefix(nl + 1);
  }
  server_->Write(c, frame + "\n");
  return server_->Find(connection_) != nullptr;
}

void Exchange::EndEvents() {
  HttpServer::Connection* c = server_->Find(connection_);
  if (!c || !c->events) return;
  c->close_when_flushed = true;
  if (c->out.empty()) server_->Close(c);
}

bool Exchange::open() const { return server_->Find(connection_) != nullptr; }

}  // namespace desaster::web
