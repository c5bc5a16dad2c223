#include "server/command/dispatch.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <cstring>

#include "resp/parser.h"
#include "server/clock.h"
#include "server/command/script_engine.h"

namespace desaster {
namespace {

// Quotes an argument as Redis' sdscatrepr does, for MONITOR and SLOWLOG-like output.
void AppendRepr(std::string* out, std::string_view s) {
  out->push_back('"');
  for (unsigned char c : s) {
    switch (c) {
      case '\\':
        out->append("\\\\");
        break;
      case '"':
        out->append("\\\"");
        break;
      case '\n':
        out->append("\\n");
        break;
      case '\r':
        out->append("\\r");
        break;
      case '\t':
        out->append("\\t");
        break;
      case '\a':
        out->append("\\a");
        break;
      case '\b':
        out->append("\\b");
        break;
      default:
        if (isprint(c)) {
          out->push_back(static_cast<char>(c));
        } else {
          char buf[8];
          snprintf(buf, sizeof(buf), "\\x%02x", c);
          out->append(buf);
        }
    }
  }
  out->push_back('"');
}

void FeedMonitors(ServerState& server, const Client& client, const std::vector<std::string>& argv) {
  if (server.monitors.empty()) return;
  auto now = std::chrono::system_clock::now().time_since_epoch();
  double ts = std::chrono::duration<double>(now).count();
  char head[96];
  snprintf(head, sizeof(head), "%.6f [%d ", ts, client.db);
  std::string line = head;
  line += client.addr.empty() ? "unix" : client.addr;
  line += "]";
  for (const auto& a : argv) {
    line.push_back(' ');
    AppendRepr(&line, a);
  }
  for (Client* m : server.monitors) {
    resp::ReplyWriter(&m->output, m->protocol).Simple(line);
    if (server.on_output) server.on_output(m);
  }
}

// The arguments as MONITOR and SLOWLOG show them: passwords and ACL rules become "(redacted)",
// as in Redis.
std::vector<std::string> Redacted(const CommandSpec& spec, std::vector<std::string> argv) {
  constexpr std::string_view kRedacted = "(redacted)";
  auto redact = [&](size_t from, size_t to) {
    for (size_t i = from; i < to && i < argv.size(); i++) argv[i] = kRedacted;
  };
  if (spec.name == "auth") {
    redact(1, argv.size());
  } else if (spec.name == "acl|setuser") {
    redact(2, argv.size());
  } else if (spec.name == "hello") {
    for (size_t i = 2; i + 2 < argv.size(); i++) {
      if (strcasecmp(argv[i].c_str(), "AUTH") == 0) redact(i + 1, i + 3);
    }
  } else if (spec.name == "config|set") {
    for (size_t i = 2; i + 1 < argv.size(); i += 2) {
      // Redis redacts the first three; a key's passphrase is no less secret.
      for (const char* secret : {"requirepass", "masterauth", "masteruser", "tls-key-file-pass",
                                 "tls-client-key-file-pass"}) {
        if (strcasecmp(argv[i].c_str(), secret) == 0) redact(i + 1, i + 2);
      }
    }
  }
  return argv;
}

// What the slow log keeps of a command's arguments, as Redis does: redacted, at most 32, the
// last of them saying how many more there were, each cut to 128 bytes saying how many more it
// had. Only what is kept is copied (a slow command with a huge argument, or a million of them,
// must not cost their copy, nor hold their memory while the log remembers it); redacting the
// cut copy redacts what Redis would (no secret's name is that long, and the positions stay).
std::vector<std::string> SlowLogArguments(const CommandSpec& spec,
                                          const std::vector<std::string>& argv) {
  constexpr size_t kMaxArguments = 32, kMaxBytes = 128;
  std::vector<std::string> kept;
  kept.reserve(std::min(argv.size(), kMaxArguments));
  for (size_t i = 0; i < argv.size() && i < kMaxArguments; i++) {
    const std::string& arg = argv[i];
    kept.push_back(arg.size() <= kMaxBytes
                       ? arg
                       : arg.substr(0, kMaxBytes) +
                             fmt::format("... ({} more bytes)", arg.size() - kMaxBytes));
  }
  kept = Redacted(spec, std::move(kept));
  if (argv.size() > kMaxArguments) {
    kept.back() = fmt::format("... ({} more arguments)", argv.size() - kMaxArguments + 1);
  }
  return kept;
}

// enable-debug-command: DEBUG for everyone, nobody, or connections from this host.
bool DebugAllowed(const ServerState& server, const Client& client) {
  const std::string& allowed = server.options.enable_debug_command;
  return allowed == "yes" || (allowed == "local" && client.local);
}

bool AllowedWhileSubscribed(const CommandSpec& spec) { return spec.Has(cmd::kSubscribed); }

// Over maxmemory: a command that may grow memory is refused, so is queueing any command in a
// transaction (a queue grows too), and an EXEC whose transaction holds one, as in Redis.
bool DeniedWhenOutOfMemory(const ServerState& server, const Client& client,
                           const CommandSpec& spec) {
  if (spec.Has(cmd::kDenyOom)) return true;
  if (!client.in_multi) return false;
  if (spec.name != "exec") {
    return spec.name != "discard" && spec.name != "quit" && spec.name != "reset";
  }
  return std::any_of(client.queued.begin(), client.queued.end(), [&](const auto& argv) {
    std::string ignored;
    const CommandSpec* queued = ResolveCommand(server, argv, &ignored);
    return queued && queued->Has(cmd::kDenyOom);
  });
}

std::string UnknownCommandError(const std::vector<std::string>& argv) {
  // Redis formats these with %s, so each argument shows only up to its first NUL byte.
  auto c_str = [](const std::string& s) { return s.substr(0, s.find('\0')); };
  std::string args;
  for (size_t i = 1; i < argv.size() && args.size() < 128; i++) {
    // Appended piece by piece: GCC 12 at -O3 warns (-Wrestrict) about "'" + std::string.
    args.append("'").append(c_str(argv[i]).substr(0, 128 - args.size())).append("' ");
  }
  return "ERR unknown command '" + c_str(argv[0]).substr(0, 128) +
         "', with args beginning with: " + args;
}

}  // namespace

const CommandSpec* ResolveCommand(const ServerState& server, const std::vector<std::string>& argv,
                                  std::string* error) {
  const CommandSpec* spec = server.registry.Find(argv[0]);
  if (spec == nullptr) {
    *error = UnknownCommandError(argv);
    return nullptr;
  }
  if (!spec->subcommands.empty() && argv.size() >= 2) {
    const CommandSpec* sub = server.registry.FindSub(*spec, argv[1]);
    if (sub == nullptr) {
      std::string upper = spec->name;
      for (char& c : upper) c = static_cast<char>(toupper(static_cast<unsigned char>(c)));
      *error = "ERR unknown subcommand '" + argv[1].substr(0, 128) + "'. Try " + upper + " HELP.";
      return nullptr;
    }
    spec = sub;
  }
  int argc = static_cast<int>(argv.size());
  if ((spec->arity > 0 && argc != spec->arity) || (spec->arity < 0 && argc < -spec->arity)) {
    *error = "ERR wrong number of arguments for '" + spec->name + "' command";
    return nullptr;
  }
  return spec;
}

bool CallCommand(ServerState& server, Client& client, const CommandSpec& spec,
                 const std::vector<std::string>& argv, BlockMode mode) {
  // CLIENT REPLY OFF/SKIP: run the command but throw its reply away.
  std::string discarded;
  bool silent = client.reply_mode == ReplyMode::kOff || client.reply_mode == ReplyMode::kSkipThis;
  std::string* out = silent ? &discarded : &client.output;
  size_t before = out->size();
  resp::ReplyWriter writer(out, client.protocol);
  CommandContext ctx(server, client, argv, writer, mode);
  ctx.writes = spec.Has(cmd::kWrite);
  ctx.spec = &spec;

  int64_t start = MonotonicUs();
  server.keyspace.set_reading(spec.Has(cmd::kReadOnly));
  spec.handler(ctx);
  server.keyspace.set_reading(false);
  int64_t elapsed = MonotonicUs() - start;
  // A read-only command's keys may now be cached by a tracking client; a read-only script's
  // are not (what its redis.call reads is: ScriptEngine).
  if (client.tracking.on && spec.Has(cmd::kReadOnly) && spec.name != "eval_ro" &&
      spec.name != "evalsha_ro" && spec.name != "fcall_ro") {
    server.tracking.Remember(client, spec, argv);
  }

  if (ctx.blocked) return true;
  CommandStats& st = server.stats.commands[&spec];
  st.calls++;
  st.usec += static_cast<uint64_t>(elapsed);
  if (out->size() > before && (*out)[before] == '-') {
    st.failed++;
    server.stats.error_replies++;
  }
  server.stats.commands_processed++;
  if (mode != BlockMode::kRetrying && !spec.Has(cmd::kAdmin) && !server.monitors.empty()) {
    FeedMonitors(server, client, Redacted(spec, argv));  // a copy only when someone watches
  }

  if (elapsed >= server.options.slowlog_log_slower_than_us &&
      server.options.slowlog_log_slower_than_us >= 0) {
    SlowLogEntry e{server.slowlog_next_id++,
                   std::chrono::duration_cast<std::chrono::seconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count(),
                   elapsed,
                   SlowLogArguments(spec, argv),
                   client.addr,
                   client.name};
    server.slowlog.push_front(std::move(e));
    while (server.slowlog.size() > static_cast<size_t>(server.options.slowlog_max_len)) {
      server.slowlog.pop_back();
    }
  }
  if (client.reply_mode == ReplyMode::kSkipThis) client.reply_mode = ReplyMode::kOn;
  return false;
}

AclDenial CheckAccess(ServerState& server, const Client& client, const CommandSpec& spec,
                      const std::vector<std::string>& argv, std::string_view context,
                      const Client* caller) {
  if (client.user == nullptr) return AclDenial::kNone;
  size_t position = 0;
  AclDenial denial = server.acl.Check(*client.user, spec, argv, &position);
  if (denial == AclDenial::kNone) return denial;
  int64_t now = UnixMs();
  server.acl.Log({.reason = denial,
                  .context = std::string(context),
                  .object = denial == AclDenial::kCommand ? spec.name : argv[position],
                  .username = client.user->name,
                  .updated_ms = now,
                  .client_info = ClientLine(caller ? *caller : client)},
                 static_cast<size_t>(server.options.acllog_max_len));
  return denial;
}

void PrefetchKeys(const ServerState& server, const Client& client, std::string_view input) {
  // In a big keyspace every lookup of a pipeline's keys misses the cache, one after another.
  // Asking for them all first lets the misses overlap (as Redis 8 does for its IO threads):
  // SET of 1M random keys, 16 per pipeline, spent 16% of the loop in Dict::Find, and 4% with
  // this. A small keyspace stays in the cache, and the look-ahead would cost 4% of the loop
  // (LPUSH to one list, 16 per pipeline).
  constexpr size_t kMinKeys = 1 << 16;
  const Database& db = server.keyspace.db(client.db);
  if (db.size() < kMinKeys) return;
  std::array<std::string_view, 16> keys;
  size_t n = resp::PeekKeys(input.data(), input.size(), keys);
  if (n > 1) db.Prefetch(std::span(keys.data(), n));
}

namespace {

// ProcessCommand but for what follows every command.
void Process(ServerState& server, Client& client, const std::vector<std::string>& argv) {
  if (client.reply_mode == ReplyMode::kSkipNext) client.reply_mode = ReplyMode::kSkipThis;
  resp::ReplyWriter reply(&client.output, client.protocol);
  auto reject = [&](const std::string& error, const CommandSpec* spec) {
    if (spec) server.stats.commands[spec].rejected++;
    server.stats.error_replies++;
    std::string text = error;
    if (client.in_multi && strcasecmp(argv[0].c_str(), "exec") == 0) {
      // A refused EXEC ends the transaction, and says why (Redis' execCommandAbort).
      DiscardTransaction(server, client);
      text = "EXECABORT Transaction discarded because of: " + error;
    } else if (client.in_multi) {
      client.multi_error = true;
    }
    if (client.reply_mode == ReplyMode::kOn) reply.Error(text);
    if (client.reply_mode == ReplyMode::kSkipThis) client.reply_mode = ReplyMode::kOn;
  };

  std::string error;
  const CommandSpec* spec = ResolveCommand(server, argv, &error);
  if (spec == nullptr) return reject(error, nullptr);
  // The sentinel port knows Redis Sentinel's commands only, as a Sentinel does.
  if (client.sentinel && !spec->Has(cmd::kSentinel)) return reject(UnknownCommandError(argv), spec);
  client.last_command = spec->name;

  if (spec->Has(cmd::kProtected) && !DebugAllowed(server, client)) {
    return reject(
        "ERR DEBUG command not allowed. If the enable-debug-command option is set to \"local\", "
        "you can run it from a local connection, otherwise you need to set this option in the "
        "configuration file, and then restart the server.",
        spec);
  }
  if (!client.authenticated && server.acl.AuthRequired() && !spec->Has(cmd::kNoAuth)) {
    return reject("NOAUTH Authentication required.", spec);
  }
  switch (CheckAccess(server, client, *spec, argv, client.in_multi ? "multi" : "toplevel")) {
    case AclDenial::kNone:
      break;
    case AclDenial::kCommand:
      return reject("NOPERM this user has no permissions to run the '" + spec->name + "' command",
                    spec);
    case AclDenial::kKey:
      return reject(std::string(err::kNoKeyPermission), spec);
    default:
      return reject(
          "NOPERM this user has no permissions to access one of the channels used as arguments",
          spec);
  }
  if (server.loading && !spec->Has(cmd::kLoading)) {
    return reject("LOADING Redis is loading the dataset in memory", spec);
  }
  if (server.script_busy && !spec->Has(cmd::kAllowBusy) &&
      !(spec->name == "shutdown" && argv.size() == 2 &&
        strcasecmp(argv[1].c_str(), "NOSAVE") == 0)) {
    return reject(
        server.scripts->running_function().empty() ? kBusyScriptError : kBusyFunctionError, spec);
  }
  if (server.read_only() && spec->Has(cmd::kWrite)) {
    return reject(kReadOnlyError, spec);
  }
  if (server.over_maxmemory && DeniedWhenOutOfMemory(server, client, *spec)) {
    return reject(kOomError, spec);
  }
  if (!server.write_error.empty() && spec->Has(cmd::kWrite)) {
    return reject("MISCONF Errors writing to the data directory (" + server.write_error +
                      "). Writes are refused until it is writable again; nothing acknowledged "
                      "has been lost.",
                  spec);
  }
  if (client.protocol == 2 && client.subscriptions() > 0 && !AllowedWhileSubscribed(*spec)) {
    return reject("ERR Can't execute '" + spec->name +
                      "': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are "
                      "allowed in this context",
                  spec);
  }
  if (client.in_multi && !spec->Has(cmd::kNoMulti)) {
    client.queued.push_back(argv);
    if (client.reply_mode == ReplyMode::kOn) reply.Simple("QUEUED");
    if (client.reply_mode == ReplyMode::kSkipThis) client.reply_mode = ReplyMode::kOn;
    return;
  }
  CallCommand(server, client, *spec, argv, BlockMode::kAllowed);
}

}  // namespace

void ProcessCommand(ServerState& server, Client& client, const std::vector<std::string>& argv) {
  if (argv.empty()) return;
  server.tracking.set_current(&client);
  Process(server, client, argv);
  server.tracking.SendDeferred();
  server.tracking.set_current(nullptr);
  // CLIENT CACHING holds for the next command (or transaction) only.
  if (!client.in_multi && !EqualIgnoringCase(argv[0], "client")) client.tracking.caching = false;
  if (server.keyspace.HasReadyKeys()) ServeReadyKeys(server);
}

void UnblockClient(ServerState& server, Client& client, bool timed_out) {
  if (!client.blocked) return;
  for (const auto& k : client.block.keys) server.keyspace.Unblock(client.block.db, k, client.id);
  client.blocked = false;
  BlockState block = std::exchange(client.block, BlockState{});
  if (!timed_out) return;
  if (block.timeout_reply == TimeoutReply::kRunAgain) {
    std::string error;
    if (const CommandSpec* spec = ResolveCommand(server, block.argv, &error)) {
      CallCommand(server, client, *spec, block.argv, BlockMode::kNever);
    }
  } else {
    resp::ReplyWriter w(&client.output, client.protocol);
    block.timeout_reply == TimeoutReply::kNullArray ? w.NullArray() : w.NullBulk();
  }
  if (server.on_output) server.on_output(&client);
}

void ServeReadyKeys(ServerState& server) {
  // A served client may make more keys ready (BLMOVE pushes), so loop until quiet.
  while (server.keyspace.HasReadyKeys()) {
    for (const auto& [db, key] : server.keyspace.TakeReadyKeys()) {
      for (uint64_t id : server.keyspace.Waiters(db, key)) {
        Client* c = server.FindClient(id);
        if (c == nullptr || !c->blocked) continue;
        std::string error;
        const CommandSpec* spec = ResolveCommand(server, c->block.argv, &error);
        if (spec == nullptr) continue;
        int saved_db = c->db;
        c->db = c->block.db;
        std::vector<std::string> argv = c->block.argv;
        Client* running = server.tracking.current();
        server.tracking.set_current(c);
        bool still_blocked = CallCommand(server, *c, *spec, argv, BlockMode::kRetrying);
        server.tracking.SendDeferred();
        server.tracking.set_current(running);
        c->db = saved_db;
        if (!still_blocked) {
          UnblockClient(server, *c, false);
          if (server.on_output) server.on_output(c);
        }
      }
    }
  }
}

void DiscardTransaction(ServerState& server, Client& client) {
  client.in_multi = false;
  client.multi_error = false;
  client.queued.clear();
  UnwatchAll(server, client);
}

void UnwatchAll(ServerState& server, Client& client) {
  for (const auto& [db, key] : client.watched) server.keyspace.Unwatch(db, key, &client.watch);
  client.watched.clear();
  client.watched_expired.clear();
  client.watch.dirty = false;
}

void ForgetClient(ServerState& server, Client& client) {
  UnblockClient(server, client, false);
  server.snapshots.erase(client.id);
  // A search dropped frees a turn for the clients waiting for one.
  if (server.completed_searches.erase(client.id) && server.completed_search_done) {
    server.completed_search_done();
  }
  UnwatchAll(server, client);
  auto drop = [&](std::map<std::string, std::vector<Client*>>& registry,
                  const std::set<std::string>& names) {
    for (const auto& n : names) {
      auto it = registry.find(n);
      if (it == registry.end()) continue;
      std::erase(it->second, &client);
      if (it->second.empty()) registry.erase(it);
    }
  };
  drop(server.channels, client.channels);
  drop(server.patterns, client.patterns);
  std::erase(server.monitors, &client);
  server.tracking.Disable(client);
  server.clients.erase(client.id);
}

}  // namespace desaster
