// Client-side caching (CLIENT TRACKING), as Redis 7.0 does it. A tracking client is told when a
// key it may have cached changes: in the default mode, the keys its read-only commands read
// (each told once, then forgotten until read again); in BCAST mode, every key under the prefixes
// it follows, gathered and sent once per loop iteration. Keys are tracked by name, across
// databases, as in Redis; a flush invalidates everything (a null instead of keys).
//
// Messages go to the client itself as RESP3 pushes ("invalidate" [keys]), or to the client it
// redirects to: a RESP3 push there too, or for a RESP2 client subscribed to anything a message on
// __redis__:invalidate. A client's own changes are announced to it after its reply (or not at
// all with NOLOOP).
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "server/command/client.h"

namespace desaster {

struct CommandSpec;
struct ServerState;

class Tracking {
 public:
  explicit Tracking(ServerState* server) : server_(server) {}

  // CLIENT TRACKING ON for `c` with the options of `mode` (the caller checked that they go
  // together and with the client's current mode). A BCAST client follows `prefixes` (none:
  // every key) besides those it followed; false with *error when one overlaps another.
  bool Enable(Client& c, const TrackingMode& mode, const std::vector<std::string>& prefixes,
              std::string* error);
  // CLIENT TRACKING OFF, RESET, and a client that leaves.
  void Disable(Client& c);

  // `c` ran read-only `spec` with `argv` (itself, or through a script it runs): in the default
  // mode, and as OPTIN/OPTOUT and CLIENT CACHING say, it may now cache the call's keys.
  void Remember(const Client& c, const CommandSpec& spec, const std::vector<std::string>& argv);

  // `key` changed (in any database): the clients that may hold it are told; BCAST clients
  // whose prefixes cover it are told at the next Broadcast.
  void KeyChanged(std::string_view key) {
    if (!table_.empty() || !prefixes_.empty()) Invalidate(key, true);
  }
  // Every key changed (FLUSHDB, FLUSHALL).
  void AllChanged();

  // The client whose command runs (nullptr: none): what it changes is announced to it only once
  // its reply is out (SendDeferred), and with NOLOOP not at all.
  void set_current(Client* c) { current_ = c; }
  Client* current() const { return current_; }
  void SendDeferred();
  // Once per loop iteration: BCAST clients hear of the keys under their prefixes that changed.
  void Broadcast();

  // tracking-table-max-keys: past it, keys are forgotten (their clients told, as if the keys
  // changed) until it holds again; 0: no limit.
  void set_max_keys(size_t n) { max_keys_ = n; }

  // INFO: tracking clients, keys in the table, (key, client) pairs, prefixes followed.
  size_t clients() const { return clients_; }
  size_t keys() const { return table_.size(); }
  size_t items() const { return items_; }
  size_t prefixes() const { return prefixes_.size(); }

 private:
  // Sends `value` (a RESP reply: the keys, or a null) to `c`'s invalidation channel.
  void Send(Client& c, std::string_view value);
  // Tells the clients that hold `key` and forgets them; `broadcast`: BCAST clients hear too.
  void Invalidate(std::string_view key, bool broadcast);

  struct Prefix {
    std::set<uint64_t> clients;
    std::map<std::string, uint64_t> changed;  // key -> the client that last changed it (0: none)
  };

  ServerState* server_;
  std::unordered_map<std::string, std::vector<uint64_t>> table_;  // key -> clients that read it
  size_t items_ = 0;
  std::map<std::string, Prefix> prefixes_;
  size_t clients_ = 0;
  size_t max_keys_ = 1000000;
  Client* current_ = nullptr;
  std::vector<std::string> deferred_;  // values for current_, sent after its reply
};

}  // namespace desaster
