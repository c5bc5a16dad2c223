#include "migrate/target.h"

#include <cmath>
#include <cstdio>

#include "rdb/writer.h"

namespace desaster::migrate {
namespace {

constexpr size_t kChunk = 1000;                   // elements per RPUSH/SADD/HSET/ZADD
constexpr size_t kMaxOutstanding = 4096;          // pipelined commands awaiting replies
constexpr size_t kMaxOutstandingBytes = 8 << 20;  // and their bytes
constexpr size_t kSendBytes = 1 << 20;            // formatted bytes sent at once

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// A score as text that parses back to the same double ("inf" and "-inf" included).
std::string ScoreText(double d) {
  if (std::isinf(d)) return d > 0 ? "inf" : "-inf";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.17g", d);
  return buf;
}

std::string ReplyError(const redisReply* r) { return std::string(r->str, r->len); }

}  // namespace

std::string ReplyText(const redisReply* r) {
  bool text = r && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS ||
                    r->type == REDIS_REPLY_ERROR);
  return text ? std::string(r->str, r->len) : "";
}

void Refusals::Add(const std::string& command, const std::string& error) {
  auto& [count, first] = by_command[Lower(command)];
  if (count++ == 0) first = error;
  total++;
}

std::string Refusals::Summary() const {
  std::string out;
  for (const auto& [name, entry] : by_command) {
    if (!out.empty()) out += ", ";
    out += name + " x" + std::to_string(entry.first) + " (" + entry.second + ")";
  }
  return out;
}

// ---- Target ----

Target::~Target() {
  if (ctx_) redisFree(ctx_);
}

bool Target::Connect(const Address& a, std::string* error) {
  ctx_ = redisConnect(a.host.c_str(), a.port);
  if (!ctx_ || ctx_->err) {
    *error = "desaster at " + a.ToString() + ": " + (ctx_ ? ctx_->errstr : "out of memory");
    return false;
  }
  if (!a.password.empty()) {
    std::vector<std::string> auth = {"AUTH"};
    if (!a.user.empty()) auth.push_back(a.user);
    auth.push_back(a.password);
    Reply r = Call(auth, error);
    if (!r) return false;
    if (r->type == REDIS_REPLY_ERROR) {
      *error = "AUTH at desaster: " + ReplyError(r.get());
      return false;
    }
  }
  return true;
}

Reply Target::Call(const std::vector<std::string>& argv, std::string* error) {
  std::vector<Reply> replies;
  if (!Pipeline({argv}, &replies, error)) return nullptr;
  return std::move(replies[0]);
}

bool Target::Send(const std::vector<std::string>& argv, std::string* error) {
  std::vector<const char*> args;
  std::vector<size_t> lens;
  for (const auto& a : argv) {
    args.push_back(a.data());
    lens.push_back(a.size());
  }
  if (redisAppendCommandArgv(ctx_, static_cast<int>(argv.size()), args.data(), lens.data()) !=
      REDIS_OK) {
    *error = std::string("desaster: ") + ctx_->errstr;
    return false;
  }
  return true;
}

bool Target::Append(const std::vector<std::string>& argv, std::string* error) {
  if (!Send(argv, error)) return false;
  size_t bytes = 0;
  for (const auto& a : argv) bytes += a.size();
  pending_.push_back({argv[0], bytes});
  outstanding_bytes_ += bytes;
  unsent_bytes_ += bytes;
  // A sliding window: what is formatted goes out in pieces of a megabyte, and replies are read
  // only to keep the window's size, so desaster always has commands to work on.
  if (unsent_bytes_ >= kSendBytes && !Flush(error)) return false;
  while (pending_.size() > kMaxOutstanding || outstanding_bytes_ > kMaxOutstandingBytes) {
    if (!ReadOne(error)) return false;
  }
  return true;
}

bool Target::Flush(std::string* error) {
  for (int done = 0; !done;) {
    if (redisBufferWrite(ctx_, &done) != REDIS_OK) {
      *error = std::string("desaster: ") + ctx_->errstr;
      return false;
    }
  }
  unsent_bytes_ = 0;
  return true;
}

bool Target::ReadOne(std::string* error) {
  void* raw = nullptr;
  if (redisGetReply(ctx_, &raw) != REDIS_OK) {  // sends what is still buffered first
    *error = std::string("desaster: ") + ctx_->errstr;
    return false;
  }
  unsent_bytes_ = 0;
  Reply r(static_cast<redisReply*>(raw));
  if (r->type == REDIS_REPLY_ERROR) refusals_.Add(pending_.front().first, ReplyError(r.get()));
  outstanding_bytes_ -= pending_.front().second;
  pending_.pop_front();
  return true;
}

bool Target::Pipeline(const std::vector<std::vector<std::string>>& commands,
                      std::vector<Reply>* replies, std::string* error) {
  if (!Drain(error)) return false;
  for (const auto& argv : commands) {
    if (!Send(argv, error)) return false;
  }
  for (size_t i = 0; i < commands.size(); i++) {
    void* raw = nullptr;
    if (redisGetReply(ctx_, &raw) != REDIS_OK) {
      *error = std::string("desaster: ") + ctx_->errstr;
      return false;
    }
    replies->emplace_back(static_cast<redisReply*>(raw));
  }
  return true;
}

std::optional<std::map<int, long long>> Target::Keyspace(std::string* error) {
  Reply r = Call({"INFO", "keyspace"}, error);
  if (!r) return std::nullopt;
  std::string info = ReplyText(r.get());
  std::map<int, long long> dbs;  // lines "db3:keys=12,expires=0,avg_ttl=0"
  for (size_t at = info.find("\r\ndb"); at != std::string::npos; at = info.find("\r\ndb", at + 1)) {
    size_t keys = info.find("keys=", at);
    if (keys != std::string::npos)
      dbs[std::atoi(info.c_str() + at + 4)] = std::atoll(info.c_str() + keys + 5);
  }
  return dbs;
}

bool Target::ScanKeys(const std::function<bool(const std::string& key)>& fn, std::string* error) {
  std::string cursor = "0";
  do {
    Reply page = Call({"SCAN", cursor, "COUNT", "1000"}, error);
    if (!page) return false;
    if (page->type != REDIS_REPLY_ARRAY || page->elements != 2) {
      *error = "SCAN: " + ReplyText(page.get());
      return false;
    }
    cursor = ReplyText(page->element[0]);
    for (size_t i = 0; i < page->element[1]->elements; i++) {
      if (!fn(ReplyText(page->element[1]->element[i]))) return false;
    }
  } while (cursor != "0");
  return true;
}

bool Target::Drain(std::string* error) {
  while (!pending_.empty()) {
    if (!ReadOne(error)) return false;
  }
  return true;
}

// ---- SnapshotWriter ----

bool SnapshotWriter::Write(rdb::Record& record, std::string* error) {
  if (record.db != db_) {
    if (!target_->Append({"SELECT", std::to_string(record.db)}, error)) return false;
    db_ = record.db;
  }
  const std::string& key = record.key;
  rdb::Object& o = record.value;
  // Containers go in chunks: a million-job queue is a thousand RPUSHes, not one huge command.
  auto chunked = [&](const char* command, size_t n, auto&& add) {
    for (size_t i = 0; i < n; i += kChunk) {
      std::vector<std::string> argv = {command, key};
      for (size_t j = i; j < std::min(n, i + kChunk); j++) add(j, argv);
      if (!target_->Append(argv, error)) return false;
    }
    return true;
  };
  bool ok = true;
  switch (o.type) {
    case rdb::Type::kString:
      ok = target_->Append({"SET", key, o.string}, error);
      break;
    case rdb::Type::kList:
    case rdb::Type::kSet:
      ok = chunked(o.type == rdb::Type::kList ? "RPUSH" : "SADD", o.elements.size(),
                   [&](size_t j, auto& argv) { argv.push_back(std::move(o.elements[j])); });
      break;
    case rdb::Type::kHash:
      dropped_field_expiries_ += o.field_expires.size() > 0;
      ok = chunked("HSET", o.fields.size(), [&](size_t j, auto& argv) {
        argv.push_back(std::move(o.fields[j].first));
        argv.push_back(std::move(o.fields[j].second));
      });
      break;
    case rdb::Type::kZSet:
      ok = chunked("ZADD", o.members.size(), [&](size_t j, auto& argv) {
        argv.push_back(ScoreText(o.members[j].second));
        argv.push_back(std::move(o.members[j].first));
      });
      break;
    case rdb::Type::kStream:
      ok = target_->Append({"RESTORE", key, "0", rdb::EncodeDump(o), "REPLACE"}, error);
      break;
  }
  if (ok && record.expire_at_ms != 0) {
    ok = target_->Append({"PEXPIREAT", key, std::to_string(record.expire_at_ms)}, error);
  }
  keys_++;
  return ok;
}

// ---- StreamApplier ----

bool StreamApplier::Feed(std::string_view more, std::string* error) {
  // The parser may leave the tail of an incomplete command unconsumed: it is kept for the next
  // call, with the bytes that complete it.
  unparsed_.append(more);
  std::string_view bytes = unparsed_;
  while (!bytes.empty()) {
    size_t consumed = 0;
    std::string parse_error;
    // The arguments of a command build up across calls, as the parser's state does.
    auto status = parser_.Parse(bytes.data(), bytes.size(), &consumed, &argv_, &parse_error);
    bytes.remove_prefix(consumed);
    command_bytes_ += static_cast<int64_t>(consumed);
    if (status == resp::RequestParser::Status::kError) {
      *error = "the source's stream is not RESP: " + parse_error;
      return false;
    }
    if (status == resp::RequestParser::Status::kIncomplete) break;
    parsed_ += command_bytes_;
    command_bytes_ = 0;
    std::vector<std::string> argv = std::move(argv_);
    argv_.clear();
    if (argv.empty()) continue;
    std::string name = Lower(argv[0]);
    if (name == "multi") {
      in_transaction_ = true;
    } else if (name == "exec") {
      in_transaction_ = false;
    } else if (name != "ping" && name != "replconf") {
      if (name == "select" && argv.size() == 2) db_ = std::atoi(argv[1].c_str());
      pending_.push_back(std::move(argv));
    }
    if (!in_transaction_) {
      committable_ = pending_.size();
      committable_offset_ = parsed_;
      committable_db_ = db_;
    }
  }
  unparsed_.erase(0, unparsed_.size() - bytes.size());
  return true;
}

bool StreamApplier::Flush(std::string* error) {
  if (committable_offset_ <= applied_) return true;
  auto end = pending_.begin() + static_cast<ptrdiff_t>(committable_);
  std::vector<std::vector<std::string>> batch(std::make_move_iterator(pending_.begin()),
                                              std::make_move_iterator(end));
  pending_.erase(pending_.begin(), end);
  committable_ = 0;
  // Commands desaster refuses while queueing abort the whole EXEC: a second try leaves them
  // out, counted as refusals. Errors while executing (WRONGTYPE) are counted the same way.
  for (int attempt = 0;; attempt++) {
    std::vector<std::vector<std::string>> sent = {{"MULTI"}, {"SELECT", std::to_string(batch_db_)}};
    sent.insert(sent.end(), batch.begin(), batch.end());
    sent.push_back({"IMPORT.OFFSET", source_, std::to_string(committable_offset_)});
    sent.push_back({"EXEC"});
    std::vector<Reply> replies;
    if (!target_->Pipeline(sent, &replies, error)) return false;
    const redisReply* exec = replies.back().get();
    if (exec->type == REDIS_REPLY_ARRAY && exec->elements == batch.size() + 2) {
      for (size_t i = 0; i < batch.size(); i++) {
        if (exec->element[i + 1]->type == REDIS_REPLY_ERROR) {
          target_->refusals().Add(batch[i][0], ReplyError(exec->element[i + 1]));
        }
      }
      const redisReply* recorded = exec->element[batch.size() + 1];
      if (recorded->type == REDIS_REPLY_ERROR) {
        *error = "desaster refused the import offset: " + ReplyError(recorded);
        return false;
      }
      break;
    }
    const redisReply* offset_queued = replies[replies.size() - 2].get();
    if (attempt > 0 || offset_queued->type == REDIS_REPLY_ERROR ||
        replies[0]->type == REDIS_REPLY_ERROR) {
      *error = "desaster did not take a batch: " +
               (exec->type == REDIS_REPLY_ERROR ? ReplyError(exec) : std::string("bad EXEC reply"));
      return false;
    }
    std::vector<std::vector<std::string>> kept;
    for (size_t i = 0; i < batch.size(); i++) {
      const redisReply* queued = replies[i + 2].get();
      if (queued->type == REDIS_REPLY_ERROR) {
        target_->refusals().Add(batch[i][0], ReplyError(queued));
      } else {
        kept.push_back(std::move(batch[i]));
      }
    }
    batch = std::move(kept);
  }
  applied_ = committable_offset_;
  commands_ += batch.size();
  batch_db_ = committable_db_;
  return true;
}

}  // namespace desaster::migrate
