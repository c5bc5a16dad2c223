#include "server/command/server_state.h"

#include <fmt/format.h>
#include <malloc.h>
#include <strings.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#ifdef __SANITIZE_ADDRESS__
// The sanitizer runtime's allocator interface (its header ships with clang only).
extern "C" size_t __sanitizer_get_current_allocated_bytes();
#endif

#include "server/command/dispatch.h"
#include "server/command/script_engine.h"
#include "server/data/notify.h"

namespace desaster {

std::pair<std::string, std::string> SplitAddress(const std::string& address) {
  size_t colon = address.rfind(':');
  if (colon == std::string::npos) return {address, ""};
  return {address.substr(0, colon), address.substr(colon + 1)};
}

ServerState::ServerState(Options* options, int64_t now_ms)
    : options(*options), keyspace(options->databases) {
  if (now_ms == 0) {
    now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                 std::chrono::system_clock::now().time_since_epoch())
                 .count();
  }
  start_ms = now_ms;
  last_save_unix_s = now_ms / 1000;
  keyspace.set_now_ms(now_ms);
  scripts = std::make_unique<ScriptEngine>(this);
  keyspace.set_notifier([this](int db, std::string_view event, std::string_view key) {
    int classes = keyspace.notify_classes();
    if (classes & event::kKeyspace) {
      PublishMessage(*this, fmt::format("__keyspace@{}__:{}", db, key), std::string(event));
    }
    if (classes & event::kKeyevent) {
      PublishMessage(*this, fmt::format("__keyevent@{}__:{}", db, event), std::string(key));
    }
  });
  keyspace.set_change_listener([this](const std::string_view* key) {
    key ? tracking.KeyChanged(*key) : tracking.AllChanged();
  });
  ApplyOptions();
}

void ServerState::ApplyOptions() {
  keyspace.set_notify_classes(options.notify_keyspace_events);
  keyspace.set_default_max_attempts(static_cast<uint32_t>(options.retry + 1));
  for (int i = 0; i < keyspace.databases(); i++) {
    keyspace.db(i).set_failed_max(options.failed_max);
    keyspace.db(i).set_completed_policy({.max = options.completed_max,
                                         .ttl_ms = options.completed_ttl_s * 1000,
                                         .redactor = Redactor(options.completed_redact)});
    keyspace.db(i).metrics().set_top(options.metrics_top);
  }
  auto parameter = [&](const char* name, uint64_t absent) -> uint64_t {
    auto it = options.redis_parameters.find(name);
    return it == options.redis_parameters.end() ? absent
                                                : std::strtoull(it->second.c_str(), nullptr, 10);
  };
  keyspace.set_encoding_limits({.max_entries = parameter("hash-max-listpack-entries", 512),
                                .max_value = parameter("hash-max-listpack-value", 64)},
                               {.max_intset_entries = parameter("set-max-intset-entries", 512)});
  tracking.set_max_keys(parameter("tracking-table-max-keys", 1000000));
  maxmemory = parameter("maxmemory", 0);
  CheckMemory();
  // requirepass is the default user's password, as in Redis: set when it changes, so that ACL
  // rules given the default user since stay until it does.
  if (options.requirepass != applied_requirepass) {
    acl.SetDefaultPassword(options.requirepass);
    applied_requirepass = options.requirepass;
  }
}

void ServerState::DisconnectUser(const AclUser* user) {
  for (auto& [id, c] : clients) {
    if (c->user != user) continue;
    c->user = acl.default_user();
    c->authenticated = false;
    c->close_after_reply = true;
    if (on_output) on_output(c);
  }
}

void ServerState::DisconnectRevokedSubscribers(const AclUser* user) {
  const CommandSpec* subscribe = registry.Find("subscribe");
  const CommandSpec* psubscribe = registry.Find("psubscribe");
  for (auto& [id, c] : clients) {
    if (c->user != user || c->subscriptions() == 0) continue;
    size_t ignored;
    auto revoked = [&](const CommandSpec* spec, const std::set<std::string>& names) {
      return std::any_of(names.begin(), names.end(), [&](const std::string& name) {
        return acl.Check(*user, *spec, {spec->name, name}, &ignored) != AclDenial::kNone;
      });
    };
    if (revoked(subscribe, c->channels) || revoked(psubscribe, c->patterns)) {
      c->close_after_reply = true;
      if (on_output) on_output(c);
    }
  }
}

bool ServerState::ReplaceUsers(const std::string& text, std::string* error) {
  auto removed = acl.Sync(text, error);
  if (!removed) return false;
  for (const auto& user : *removed) DisconnectUser(user.get());
  for (const auto& [name, user] : acl.users()) DisconnectRevokedSubscribers(user.get());
  return true;
}

bool ServerState::ApplyTls(std::string* error) {
  if (options.tls_port == 0) return true;
  net::TlsSettings client = options.tls_cluster ? ClusterClientTls(options) : net::TlsSettings();
  bool server_changed = !tls_context || options.tls != applied_tls;
  bool client_changed = options.tls_cluster && (!cluster_tls || client != applied_cluster_tls);
  // Both are made before either is used: a change that breaks one changes neither.
  auto server_context =
      server_changed ? net::TlsContext::ForServer(options.tls, error) : tls_context;
  if (!server_context) return false;
  auto client_context = client_changed ? net::TlsContext::ForClient(client, error) : cluster_tls;
  if (options.tls_cluster && !client_context) return false;
  tls_context = std::move(server_context);
  applied_tls = options.tls;
  cluster_tls = std::move(client_context);
  applied_cluster_tls = client;
  return true;
}

uint64_t ServerState::UsedMemory() const {
  if (allocated_bytes) return allocated_bytes();
#ifdef __SANITIZE_ADDRESS__
  return __sanitizer_get_current_allocated_bytes();  // the sanitizer's allocator replaces malloc's
#else
  struct mallinfo2 mi = mallinfo2();
  return mi.uordblks + mi.hblkhd;
#endif
}

void ServerState::CheckMemory() { over_maxmemory = maxmemory != 0 && UsedMemory() > maxmemory; }

bool ServerState::Postponed(const Client& client, const std::vector<std::string>& argv,
                            int64_t now_ms) const {
  if (!Paused(now_ms)) return false;
  if (pause == Pause::kAll) return true;
  auto may_write = [this](const std::vector<std::string>& command) {
    std::string ignored;
    const CommandSpec* spec = ResolveCommand(*this, command, &ignored);
    return spec && (spec->Has(cmd::kWrite) || spec->Has(cmd::kMayReplicate));
  };
  if (may_write(argv)) return true;
  bool exec = !argv.empty() && strcasecmp(argv[0].c_str(), "exec") == 0;
  return exec && client.in_multi &&
         std::any_of(client.queued.begin(), client.queued.end(), may_write);
}

ServerState::~ServerState() = default;

}  // namespace desaster
