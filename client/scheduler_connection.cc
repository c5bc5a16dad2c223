#include "client/scheduler_connection.h"

#include <hiredis/adapters/libev.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include <memory>

namespace desaster::client {

namespace {

struct Pending {
  SchedulerConnection::ReplyFn on_reply;
};

void OnReply(redisAsyncContext*, void* reply, void* data) {
  std::unique_ptr<Pending> p(static_cast<Pending*>(data));
  if (p->on_reply) p->on_reply(static_cast<redisReply*>(reply));
}

}  // namespace

SchedulerConnection::~SchedulerConnection() { Drop(); }

void SchedulerConnection::Drop() {
  if (ctx_) {
    ctx_->data = nullptr;  // no callbacks into a connection that is gone
    redisAsyncFree(ctx_);
    ctx_ = nullptr;
  }
  connected_ = false;
}

void SchedulerConnection::Connect(const std::string& host, int port, const std::string& password,
                                  UpFn on_up, DownFn on_down) {
  Drop();
  password_ = password;
  on_up_ = std::move(on_up);
  on_down_ = std::move(on_down);
  ctx_ = redisAsyncConnect(host.c_str(), port);
  if (!ctx_ || ctx_->err) {
    std::string error = ctx_ ? ctx_->errstr : "out of memory";
    if (ctx_) redisAsyncFree(ctx_);
    ctx_ = nullptr;
    return on_up_(false, error);
  }
  ctx_->data = this;
  redisLibevAttach(loop_.raw_loop, ctx_);
  redisAsyncSetConnectCallback(ctx_, [](const redisAsyncContext* ctx, int status) {
    auto* self = static_cast<SchedulerConnection*>(ctx->data);
    if (!self) return;
    if (status != REDIS_OK) {
      self->ctx_ = nullptr;  // hiredis frees a context whose connect failed
      return self->on_up_(false, ctx->errstr);
    }
    self->connected_ = true;
    if (!self->password_.empty()) self->Send({"AUTH", self->password_}, nullptr);
    self->on_up_(true, "");
  });
  redisAsyncSetDisconnectCallback(ctx_, [](const redisAsyncContext* ctx, int) {
    auto* self = static_cast<SchedulerConnection*>(ctx->data);
    if (!self) return;
    self->connected_ = false;
    self->ctx_ = nullptr;  // hiredis frees it after this callback
    self->on_down_();
  });
}

void SchedulerConnection::Send(const std::vector<std::string>& argv, ReplyFn on_reply) {
  if (!connected_ || !ctx_) {
    if (on_reply) on_reply(nullptr);
    return;
  }
  std::vector<const char*> args;
  std::vector<size_t> lens;
  for (const auto& a : argv) {
    args.push_back(a.data());
    lens.push_back(a.size());
  }
  auto* pending = new Pending{std::move(on_reply)};
  if (redisAsyncCommandArgv(ctx_, OnReply, pending, static_cast<int>(args.size()), args.data(),
                            lens.data()) != REDIS_OK) {
    std::unique_ptr<Pending> drop(pending);
    if (drop->on_reply) drop->on_reply(nullptr);
  }
}

bool ParseHostPort(const std::string& s, std::string* host, int* port) {
  size_t colon = s.rfind(':');
  if (colon == std::string::npos || colon == 0) return false;
  try {
    size_t used;
    *port = std::stoi(s.substr(colon + 1), &used);
    if (used != s.size() - colon - 1 || *port < 0 || *port > 65535) return false;
  } catch (const std::exception&) {
    return false;
  }
  *host = s.substr(0, colon);
  return true;
}

}  // namespace desaster::client
