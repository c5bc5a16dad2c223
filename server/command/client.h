// What the command layer knows about a connected client: identity, selected database,
// protocol, transaction, subscriptions and blocking state, and its pending output. The network
// layer owns one Client per connection and writes `output` to the socket after each commit.
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "server/data/keyspace.h"

namespace desaster {

struct CommandSpec;
struct AclUser;

enum class ReplyMode { kOn, kOff, kSkipNext, kSkipThis };

// What a blocked client answers when its timeout expires.
// What a blocked client gets when its time is up: a null, or (kRunAgain) what its command
// answers when run once more without blocking (WAIT: how many replicas got there).
enum class TimeoutReply { kNullArray, kNullBulk, kRunAgain };

struct BlockState {
  int db = 0;
  std::vector<std::string> keys;
  std::vector<std::string> argv;  // the command, re-executed when a key becomes ready
  int64_t deadline_ms = 0;        // 0: wait forever
  TimeoutReply timeout_reply = TimeoutReply::kNullArray;
};

// CLIENT TRACKING: a client's client-side caching mode (server/command/tracking.h).
struct TrackingMode {
  bool on = false;
  bool bcast = false;
  bool optin = false;
  bool optout = false;
  bool noloop = false;
  bool caching = false;          // CLIENT CACHING YES (OPTIN) or NO (OPTOUT), for the next command
  bool broken_redirect = false;  // the client it redirects to has left
  uint64_t redirect = 0;         // where invalidations go; 0: to the client itself
  std::set<std::string> prefixes;  // BCAST: the prefixes it follows
};

struct Client {
  uint64_t id = 0;
  std::string name;
  std::string addr, laddr;  // "ip:port"
  int fd = -1;
  int db = 0;
  int protocol = 2;
  bool authenticated = false;
  // The ACL user it runs as (AccessControl owns it); nullptr: an internal client, unrestricted.
  AclUser* user = nullptr;
  bool local = false;     // connected from 127.0.0.1, ::1 or a unix socket
  bool sentinel = false;  // connected to the sentinel port: Redis Sentinel's commands only
  std::string lib_name, lib_ver;
  int64_t created_ms = 0;
  int64_t last_interaction_ms = 0;
  std::string last_command = "NULL";
  uint64_t wait_index = 0;  // the log entry a WAIT waits for replicas to apply
  ReplyMode reply_mode = ReplyMode::kOn;

  // MULTI/EXEC
  bool in_multi = false;
  bool multi_error = false;  // a queued command was rejected: EXEC answers EXECABORT
  std::vector<std::vector<std::string>> queued;
  WatchFlag watch;
  std::vector<std::pair<int, std::string>> watched;  // (db, key)
  std::vector<bool> watched_expired;  // was each watched key already expired/absent-by-TTL?

  // pub/sub
  std::set<std::string> channels, patterns;
  size_t subscriptions() const { return channels.size() + patterns.size(); }

  TrackingMode tracking;

  bool monitor = false;
  bool blocked = false;
  BlockState block;

  // Output waiting to be written; the network layer drains it after the batch is committed.
  std::string output;
  bool close_after_reply = false;  // QUIT, protocol errors, CLIENT KILL
};

}  // namespace desaster
