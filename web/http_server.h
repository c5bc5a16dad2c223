// A small HTTP/1.1 server on libev (requests parsed by Debian's http-parser): keep-alive, one
// request at a time per connection, bounded headers and bodies, and server-sent event streams.
// Handlers answer asynchronously through an Exchange, so a reply can wait for the scheduler.
#pragma once

#include <ev++.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "net/tls.h"

namespace desaster::web {

struct HttpRequest {
  std::string method;  // "GET", "POST", ...
  std::string path;    // the target before '?', still percent-encoded (routes decode segments)
  std::map<std::string, std::string> query;    // decoded; a repeated name keeps the last value
  std::map<std::string, std::string> headers;  // names in lower case
  std::string body;
  std::string peer;  // the client's address (no port)

  // The header's value, or "" when absent (`name` in lower case).
  const std::string& Header(const std::string& name) const;
  // The value of a cookie from the Cookie header, or "".
  std::string Cookie(std::string_view name) const;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers = {};
  std::string body = {};
};

struct HttpLimits {
  size_t max_header_bytes = 64 * 1024;
  size_t max_body_bytes = 1024 * 1024;
  size_t max_connections = 1024;
};

class HttpServer;

// One request and the right to answer it. Answering after the client left does nothing.
class Exchange {
 public:
  Exchange(HttpServer* server, uint64_t connection, HttpRequest request)
      : server_(server), connection_(connection), request_(std::move(request)) {}

  const HttpRequest& request() const { return request_; }
  // Sends the response (once; later calls are ignored).
  void Respond(HttpResponse response);
  // Turns the exchange into an event stream (text/event-stream, kept open).
  void StartEvents();
  // Sends one event on a started stream; false once the client is gone.
  bool SendEvent(std::string_view event, std::string_view data);
  // Ends a started stream: the connection closes once what was sent is out.
  void EndEvents();
  // False once the client closed the connection.
  bool open() const;

 private:
  HttpServer* server_;
  uint64_t connection_;
  HttpRequest request_;
  bool answered_ = false;
};

using HttpHandler = std::function<void(std::shared_ptr<Exchange>)>;

class HttpServer {
 public:
  struct Connection;  // internal, named here so the parser callbacks can reach it

  HttpServer(ev::loop_ref loop, HttpHandler handler, HttpLimits limits = {});
  ~HttpServer();

  // Binds and listens on host:port (port 0: any free port), speaking HTTPS with `tls` (else
  // plain HTTP); false with *error otherwise.
  bool Listen(const std::string& host, int port, std::shared_ptr<net::TlsContext> tls,
              std::string* error);
  int port() const { return port_; }

  // Reason phrase of a status code ("Not Found").
  static const char* StatusText(int status);

 private:
  friend class Exchange;

  void OnAccept(ev::io& w, int);
  void OnReadable(Connection* c);
  // Writes what is queued.
  void OnWritable(Connection* c);
  // The socket is writable: a TLS read that waited for it goes on, then OnWritable.
  void OnWriteEvent(Connection* c);
  // Parses buffered input while no request is in flight, dispatching each complete request.
  void Parse(Connection* c);
  void Dispatch(Connection* c);
  void Write(Connection* c, std::string data);
  // Finishes the current request: more input is parsed, or the connection closes.
  void Finish(Connection* c, bool keep_alive);
  void Reject(Connection* c, int status, std::string_view message);
  void Close(Connection* c);
  void Reap(Connection* c);  // frees a closed connection
  // The open connection `id`, or nullptr.
  Connection* Find(uint64_t id);

  ev::loop_ref loop_;
  HttpHandler handler_;
  HttpLimits limits_;
  int fd_ = -1, port_ = 0;
  std::shared_ptr<net::TlsContext> tls_;
  ev::io accept_;
  uint64_t next_id_ = 1;
  std::map<uint64_t, std::unique_ptr<Connection>> connections_;
};

// Percent-decoding ('+' stays '+': only query strings treat it as a space).
std::string PercentDecode(std::string_view s, bool plus_is_space = false);

}  // namespace desaster::web
