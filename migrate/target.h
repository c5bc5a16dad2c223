// desaster, written to through RESP like any client: a single node, a cluster's master or a
// replica that forwards all take the writes on their durable path.
#pragma once

#include <hiredis/hiredis.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "migrate/source.h"
#include "rdb/reader.h"
#include "resp/parser.h"

namespace desaster::migrate {

// A string, status or error reply's text ("" for other replies).
std::string ReplyText(const redisReply* r);

struct ReplyDeleter {
  void operator()(redisReply* r) const { freeReplyObject(r); }
};
using Reply = std::unique_ptr<redisReply, ReplyDeleter>;

// Commands desaster refused, by name, with the first refusal's words.
struct Refusals {
  std::map<std::string, std::pair<uint64_t, std::string>> by_command;
  uint64_t total = 0;
  void Add(const std::string& command, const std::string& error);
  std::string Summary() const;  // "XGROUP x3 (ERR unknown command ...), ..."
};

class Target {
 public:
  Target() = default;
  ~Target();
  Target(const Target&) = delete;
  Target& operator=(const Target&) = delete;

  bool Connect(const Address& a, std::string* error);
  // Sends one command and waits for its reply (nullptr with *error when the link failed).
  Reply Call(const std::vector<std::string>& argv, std::string* error);
  // Queues a command whose reply only counts (an error reply goes to refusals()); replies are
  // read when many are outstanding and at Drain().
  bool Append(const std::vector<std::string>& argv, std::string* error);
  bool Drain(std::string* error);
  // Sends `commands` in one write and returns every reply, in order.
  bool Pipeline(const std::vector<std::vector<std::string>>& commands, std::vector<Reply>* replies,
                std::string* error);
  Refusals& refusals() { return refusals_; }
  // The server's databases that hold keys, with how many (INFO keyspace); nullopt on an error.
  std::optional<std::map<int, long long>> Keyspace(std::string* error);
  // Calls `fn` with every key of the selected database (SCAN); false on an error, or when
  // `fn` returned false (then *error is what it set).
  bool ScanKeys(const std::function<bool(const std::string& key)>& fn, std::string* error);

 private:
  bool Send(const std::vector<std::string>& argv, std::string* error);  // into hiredis' buffer

  bool Flush(std::string* error);    // writes what hiredis has formatted
  bool ReadOne(std::string* error);  // the oldest outstanding reply

  redisContext* ctx_ = nullptr;
  std::deque<std::pair<std::string, size_t>> pending_;  // outstanding commands: name, bytes
  size_t outstanding_bytes_ = 0, unsent_bytes_ = 0;
  Refusals refusals_;
};

// Writes the snapshot's keys as commands a client would send: SET, RPUSH (so a list a dialect
// claims becomes that queue's jobs, and a resque failure list the failed store's records),
// SADD, HSET, ZADD in chunks, RESTORE for streams, PEXPIREAT for expiries.
class SnapshotWriter {
 public:
  explicit SnapshotWriter(Target* target) : target_(target) {}
  bool Write(rdb::Record& record, std::string* error);
  uint64_t keys() const { return keys_; }
  // Hash fields' own expiries (Redis 7.4) are not kept: desaster has no field TTLs.
  uint64_t dropped_field_expiries() const { return dropped_field_expiries_; }

 private:
  Target* target_;
  int db_ = 0;
  uint64_t keys_ = 0;
  uint64_t dropped_field_expiries_ = 0;
};

// Applies the source's command stream, in batches that each end with the offset they reach:
// MULTI, the commands, IMPORT.OFFSET, EXEC, committed by desaster as one. A source's own
// transaction is never split; its MULTI/EXEC are dropped (the batch is one already). Pings
// and REPLCONF only move the offset.
class StreamApplier {
 public:
  StreamApplier(Target* target, std::string source, int64_t offset)
      : target_(target), source_(std::move(source)), applied_(offset), parsed_(offset) {}

  // Takes more stream bytes (any split); false on a stream that is not RESP.
  bool Feed(std::string_view bytes, std::string* error);
  // Applies the complete, committable commands taken so far; false when desaster failed.
  bool Flush(std::string* error);
  // The source offset desaster has committed.
  int64_t applied() const { return applied_; }
  // Commands (not pings) applied.
  uint64_t commands() const { return commands_; }

 private:
  Target* target_;
  std::string source_;
  int64_t applied_;                  // committed in desaster
  int64_t parsed_;                   // every complete command up to here is in pending_ or applied
  int64_t committable_offset_ = -1;  // the offset after the last command outside a transaction
  size_t committable_ = 0;           // pending_[0, committable_) may be committed
  bool in_transaction_ = false;
  int db_ = 0;              // the database the parsed stream is in
  int batch_db_ = 0;        // ... at the start of pending_
  int committable_db_ = 0;  // ... after pending_[committable_ - 1]
  int64_t command_bytes_ = 0;
  std::vector<std::vector<std::string>> pending_;
  resp::RequestParser parser_;
  std::string unparsed_;           // bytes the parser has not consumed yet
  std::vector<std::string> argv_;  // the command being parsed
  uint64_t commands_ = 0;
};

}  // namespace desaster::migrate
