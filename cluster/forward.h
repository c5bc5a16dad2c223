// A replica's connection to the master on behalf of one of its clients (DESIGN.md §10). The
// client's commands go to the master in order over this one connection, so everything Redis
// keeps per connection (MULTI and WATCH, SELECT, blocking pops, subscriptions, the client name)
// lives on the master as if the client were connected there; the master's replies come back
// whole and in order, to be relayed byte for byte.
#pragma once

#include <ev++.h>
#include <sys/socket.h>

#include <deque>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "net/stream.h"
#include "resp/reply_scanner.h"

namespace desaster {

class ForwardLink {
 public:
  struct Handler {
    // A reply (or, once streaming, anything the master sent, e.g. a pub/sub message) to relay.
    std::function<void(std::string_view reply)> reply;
    // After the replies of one read, or when queued requests were written: a moment to pass
    // the replies on, and to send more.
    std::function<void()> progress;
    // Connected: the requests that set the link up (the hand-shake that proves the master's
    // epoch, ...), sent before all others; their replies are checked and dropped.
    std::function<std::vector<std::vector<std::string>>()> hello;
    // The master could not be reached, and nothing was sent: the link waits for Retarget.
    std::function<void(const std::string& why)> unreachable;
    // The link is gone (the master closed it, or refused it): no callback follows. Replies
    // that arrived before were relayed.
    std::function<void(const std::string& why)> closed;
  };

  // With `tls`, the link speaks TLS (the master's certificate must name its address's host).
  ForwardLink(struct ev_loop* loop, Handler handler, std::shared_ptr<net::TlsContext> tls);
  ~ForwardLink();
  ForwardLink(const ForwardLink&) = delete;
  ForwardLink& operator=(const ForwardLink&) = delete;

  // Starts connecting to `address` ("host:port"; the name is resolved here, blocking, so give
  // addresses). Requests sent meanwhile wait for the connection. A connection that fails calls
  // `unreachable` (now, or later from the loop).
  void Open(const std::string& address);
  // Not connected yet: connects to `address` instead (the master changed), keeping what was
  // queued.
  void Retarget(const std::string& address);
  bool connected() const { return connected_; }
  const std::string& address() const { return address_; }
  // Queues a request. Its reply is relayed, or (relay false: the link's own set-up, such as
  // the hand-shake that proves the master's epoch) checked and dropped: an error reply to such
  // a request closes the link. Written by the next Flush: a pipeline goes out in one write.
  void Send(const std::vector<std::string>& argv, bool relay);
  // Writes what was queued (the rest as the socket takes it).
  void Flush();
  // From now on the master may speak unasked (SUBSCRIBE, CLIENT REPLY): every reply is relayed
  // as it comes, and outstanding() no longer says when the master is done answering.
  void Stream() { streaming_ = true; }
  bool streaming() const { return streaming_; }
  // Requests whose replies have not arrived.
  size_t outstanding() const { return expected_.size(); }
  // Bytes queued for the master and not written yet.
  size_t unsent() const { return output_.size() - written_; }
  // The owner's client reads slowly: replies wait in the socket meanwhile.
  void PauseReading(bool pause);
  // Closes the connection without calling back.
  void Stop();

 private:
  void OnReadable(ev::io&, int);
  void OnWritable(ev::io&, int);
  void Fail(const std::string& why);
  void Unreachable(const std::string& why);
  void Write();

  struct ev_loop* loop_;
  Handler handler_;
  std::shared_ptr<net::TlsContext> tls_;
  std::string address_, host_;
  int fd_ = -1;
  std::unique_ptr<net::Stream> stream_;  // once connected
  bool connected_ = false;
  bool streaming_ = false;
  bool paused_ = false;
  ev::io read_watcher_, write_watcher_;
  std::string output_;
  size_t written_ = 0;
  std::string input_;
  resp::ReplyScanner scanner_;
  std::deque<bool> expected_;  // per request sent: relay its reply?
};

}  // namespace desaster
