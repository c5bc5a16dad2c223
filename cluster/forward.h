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

#include "resp/reply_scanner.h"

namespace desaster {

class ForwardLink {
 public:
  struct Handler {
    // A reply (or, once streaming, anything the master sent, e.g. a pub/sub message) to relay.
    std::function<void(std::string_view reply)> reply;
    // The link has room again: fewer requests unanswered or unsent.
    std::function<void()> progress;
    // The link is gone (the master closed it, refused it, or could not be reached): no
    // callback follows. Replies that arrived before were relayed.
    std::function<void(const std::string& why)> closed;
  };

  ForwardLink(struct ev_loop* loop, Handler handler);
  ~ForwardLink();
  ForwardLink(const ForwardLink&) = delete;
  ForwardLink& operator=(const ForwardLink&) = delete;

  // Starts connecting to `address` ("host:port"; the name is resolved here, blocking, so give
  // addresses). Requests sent meanwhile wait for the connection. False with *error when the
  // address cannot be used at all.
  bool Open(const std::string& address, std::string* error);
  // Queues a request. Its reply is relayed, or (relay false: the link's own set-up, such as
  // the hand-shake that proves the master's epoch) checked and dropped: an error reply to such
  // a request closes the link.
  void Send(const std::vector<std::string>& argv, bool relay);
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
  void Write();

  struct ev_loop* loop_;
  Handler handler_;
  int fd_ = -1;
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
