// The ACL family: users, their rules, the refusal log and the ACL file (Redis 7.0's ACL).
#include <openssl/rand.h>

#include "server/clock.h"
#include "server/command/context.h"
#include "server/command/dispatch.h"
#include "server/command/registry.h"
#include "server/log.h"

namespace desaster {
namespace {

// A cluster master passes its users on to the replicas, through the log (after a change
// that took effect).
void Replicate(CommandContext& ctx) {
  if (ctx.server.cluster.enabled && ctx.server.cluster.master) {
    ctx.keyspace().RecordNodeState(Mutation::Op::kAclUsers, ctx.server.acl.Text());
  }
}

void AclSetUser(CommandContext& ctx) {
  const std::string& name = ctx.args[2];
  if (std::any_of(name.begin(), name.end(),
                  [](char c) { return c == '\0' || isspace(static_cast<unsigned char>(c)); })) {
    return ctx.Error("ERR Usernames can't contain spaces or null characters");
  }
  std::string error;
  if (!ctx.server.acl.SetUser(name, {ctx.args.begin() + 3, ctx.args.end()}, &error)) {
    return ctx.Error("ERR " + error);
  }
  ctx.server.DisconnectRevokedSubscribers(ctx.server.acl.Find(name));
  Replicate(ctx);
  ctx.reply.Ok();
}

void AclDelUser(CommandContext& ctx) {
  for (size_t i = 2; i < ctx.args.size(); i++) {
    if (ctx.args[i] == "default") return ctx.Error("ERR The 'default' user cannot be removed");
  }
  long long deleted = 0;
  for (size_t i = 2; i < ctx.args.size(); i++) {
    if (auto user = ctx.server.acl.DeleteUser(ctx.args[i])) {
      ctx.server.DisconnectUser(user.get());
      deleted++;
    }
  }
  if (deleted > 0) Replicate(ctx);
  ctx.reply.Integer(deleted);
}

void ReplySelector(CommandContext& ctx, const AclSelector& s) {
  ctx.reply.Field("commands", s.DescribeCommands(ctx.server.registry));
  ctx.reply.Field("keys", s.DescribeKeys());
  ctx.reply.Field("channels", s.DescribeChannels());
}

void AclGetUser(CommandContext& ctx) {
  const AclUser* user = ctx.server.acl.Find(ctx.args[2]);
  if (user == nullptr) return ctx.reply.NullBulk();
  auto& r = ctx.reply;
  r.Map(6);
  r.Bulk("flags");
  r.Set(1 + user->nopass + !user->payload_rule.empty());
  r.Bulk(user->enabled ? "on" : "off");
  if (user->nopass) r.Bulk("nopass");
  if (!user->payload_rule.empty()) r.Bulk(user->payload_rule);
  r.Bulk("passwords");
  r.Array(user->passwords.size());
  for (const auto& p : user->passwords) r.Bulk(p);
  ReplySelector(ctx, user->selectors.front());
  r.Bulk("selectors");
  r.Array(user->selectors.size() - 1);
  for (size_t i = 1; i < user->selectors.size(); i++) {
    r.Map(3);
    ReplySelector(ctx, user->selectors[i]);
  }
}

void AclList(CommandContext& ctx) {
  const auto& users = ctx.server.acl.users();
  ctx.reply.Array(users.size());
  for (const auto& [name, user] : users) {
    ctx.reply.Bulk("user " + name + " " + ctx.server.acl.Describe(*user));
  }
}

void AclUsers(CommandContext& ctx) {
  const auto& users = ctx.server.acl.users();
  ctx.reply.Array(users.size());
  for (const auto& [name, user] : users) ctx.reply.Bulk(name);
}

void AclWhoAmI(CommandContext& ctx) {
  ctx.reply.Bulk(ctx.client.user ? ctx.client.user->name : "default");
}

bool HasAclFile(CommandContext& ctx) {
  if (!ctx.server.options.aclfile.empty()) return true;
  ctx.Error(
      "ERR This Redis instance is not configured to use an ACL file. You may want to specify "
      "users via the ACL SETUSER command and then issue a CONFIG REWRITE (assuming you have a "
      "Redis configuration file set) in order to store users in the Redis configuration.");
  return false;
}

void AclLoad(CommandContext& ctx) {
  if (!HasAclFile(ctx)) return;
  std::string error;
  auto replaced = ctx.server.acl.LoadFile(ctx.server.options.aclfile, &error);
  if (!replaced) return ctx.Error("ERR " + error);
  for (const auto& user : *replaced) ctx.server.DisconnectUser(user.get());
  Replicate(ctx);
  ctx.reply.Ok();
}

void AclSave(CommandContext& ctx) {
  if (!HasAclFile(ctx)) return;
  std::string error;
  if (!ctx.server.acl.SaveFile(ctx.server.options.aclfile, &error)) {
    Log(LogLevel::kWarning, "{}", error);
    return ctx.Error(
        "ERR There was an error trying to save the ACLs. Please check the server logs for more "
        "information");
  }
  ctx.reply.Ok();
}

void AclCat(CommandContext& ctx) {
  if (ctx.args.size() == 2) {
    ctx.reply.Array(std::size(category::kNames));
    for (auto name : category::kNames) ctx.reply.Bulk(name);
    return;
  }
  uint64_t bit = category::ByName(ctx.args[2]);
  if (bit == 0) return ctx.Error("ERR Unknown category '" + ctx.args[2].substr(0, 128) + "'");
  std::vector<std::string_view> names;
  ctx.server.registry.ForEach([&](const CommandSpec& c) {
    if (c.categories & bit) names.push_back(c.name);
  });
  ctx.reply.Array(names.size());
  for (auto name : names) ctx.reply.Bulk(name);
}

void AclGenPass(CommandContext& ctx) {
  constexpr long long kMaxBits = 4096;
  long long bits = 256;
  if (ctx.args.size() == 3 && !ParseInt64(ctx.args[2], &bits)) {
    return ctx.Error(err::kNotInteger);
  }
  if (bits <= 0 || bits > kMaxBits) {
    return ctx.Error(
        "ERR ACL GENPASS argument must be the number of bits for the output password, a "
        "positive number up to 4096");
  }
  size_t chars = static_cast<size_t>((bits + 3) / 4);
  std::string random((chars + 1) / 2, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(random.data()),
                 static_cast<int>(random.size())) != 1) {
    return ctx.Error("ERR no random bytes available");
  }
  std::string password = HexString(random);
  password.resize(chars);
  ctx.reply.Bulk(password);
}

std::string_view ReasonName(AclDenial reason) {
  switch (reason) {
    case AclDenial::kCommand:
      return "command";
    case AclDenial::kKey:
      return "key";
    case AclDenial::kChannel:
      return "channel";
    case AclDenial::kAuth:
      return "auth";
    default:
      return "unknown";
  }
}

void AclLog(CommandContext& ctx) {
  long long count = 10;
  if (ctx.args.size() == 3) {
    if (ctx.Is(2, "RESET")) {
      ctx.server.acl.ResetLog();
      return ctx.reply.Ok();
    }
    if (!ParseInt64(ctx.args[2], &count)) return ctx.Error(err::kNotInteger);
    count = std::max(count, 0LL);
  }
  const auto& log = ctx.server.acl.log();
  size_t n = std::min(static_cast<size_t>(count), log.size());
  int64_t now = UnixMs();
  auto& r = ctx.reply;
  r.Array(n);
  for (size_t i = 0; i < n; i++) {
    const AclLogEntry& e = log[i];
    r.Map(7);
    r.Field("count", e.count);
    r.Field("reason", ReasonName(e.reason));
    r.Field("context", e.context);
    r.Field("object", e.object);
    r.Field("username", e.username);
    r.Bulk("age-seconds");
    r.Double(static_cast<double>(now - e.updated_ms) / 1000);
    r.Field("client-info", e.client_info);
  }
}

void AclDryRun(CommandContext& ctx) {
  const AclUser* user = ctx.server.acl.Find(ctx.args[2]);
  if (user == nullptr) return ctx.Error("ERR User '" + ctx.args[2] + "' not found");
  std::vector<std::string> argv(ctx.args.begin() + 3, ctx.args.end());
  const CommandSpec* spec = ctx.server.registry.Find(argv[0]);
  if (spec && !spec->subcommands.empty() && argv.size() >= 2) {
    spec = ctx.server.registry.FindSub(*spec, argv[1]);
  }
  if (spec == nullptr) return ctx.Error("ERR Command '" + argv[0] + "' not found");
  int argc = static_cast<int>(argv.size());
  if ((spec->arity > 0 && spec->arity != argc) || argc < -spec->arity) {
    return ctx.Error("ERR wrong number of arguments for '" + spec->name + "' command");
  }
  size_t position = 0;
  switch (ctx.server.acl.Check(*user, *spec, argv, &position)) {
    case AclDenial::kNone:
      return ctx.reply.Ok();
    case AclDenial::kCommand:
      return ctx.reply.Bulk("This user has no permissions to run the '" + spec->name + "' command");
    case AclDenial::kKey:
      return ctx.reply.Bulk("This user has no permissions to access the '" + argv[position] +
                            "' key");
    default:
      return ctx.reply.Bulk("This user has no permissions to access the '" + argv[position] +
                            "' channel");
  }
}

void AclHelp(CommandContext& ctx) {
  ctx.ReplyHelp({"CAT [<category>]",
                 "    List all commands that belong to <category>, or all command categories",
                 "    when no category is specified.",
                 "DELUSER <username> [<username> ...]",
                 "    Delete a list of users.",
                 "DRYRUN <username> <command> [<arg> ...]",
                 "    Returns whether the user can execute the given command without executing "
                 "the command.",
                 "GETUSER <username>",
                 "    Get the user's details.",
                 "GENPASS [<bits>]",
                 "    Generate a secure 256-bit user password. The optional `bits` argument can",
                 "    be used to specify a different size.",
                 "LIST",
                 "    Show users details in config file format.",
                 "LOAD",
                 "    Reload users from the ACL file.",
                 "LOG [<count> | RESET]",
                 "    Show the ACL log entries.",
                 "SAVE",
                 "    Save the current config to the ACL file.",
                 "SETUSER <username> <attribute> [<attribute> ...]",
                 "    Create or modify a user with the specified attributes.",
                 "USERS",
                 "    List all the registered usernames.",
                 "WHOAMI",
                 "    Return the current connection username."});
}

}  // namespace

void RegisterAclCommands(CommandRegistry* r) {
  using namespace cmd;
  constexpr uint32_t admin = kAdmin | kNoScript | kLoading | kLocal;
  // Changes of the users: a cluster replica passes them on to the master, whose log takes them
  // to every node.
  constexpr uint32_t change = kAdmin | kNoScript | kLoading;
  r->Group("server")
      .Add("acl", -2, 0, {}, nullptr, "Users, their permissions, and refusals")
      .Sub("cat", -2, kNoScript | kLoading | kLocal, {}, AclCat,
           "Categories, or the commands in one")
      .Args("[category]")
      .Sub("deluser", -3, change, {}, AclDelUser, "Remove users and close their connections")
      .Args("username...")
      .Sub("dryrun", -4, admin, {}, AclDryRun, "Whether a user may run a command")
      .Args("username command [arg...]")
      .Sub("genpass", -2, kNoScript | kLoading | kLocal, {}, AclGenPass, "A random password")
      .Args("[bits:integer]")
      .Sub("getuser", 3, admin, {}, AclGetUser, "A user's rules")
      .Args("username")
      .Sub("help", 2, kLoading | kLocal, {}, AclHelp, "Show help")
      .Args("")
      .Sub("list", 2, admin, {}, AclList, "Every user's rules, as the ACL file has them")
      .Args("")
      .Sub("load", 2, change, {}, AclLoad, "Replace the users with those of the ACL file")
      .Args("")
      .Sub("log", -2, admin, {}, AclLog, "Recent refusals")
      .Args("[count:integer|RESET]")
      .Sub("save", 2, admin, {}, AclSave, "Write the users to the ACL file")
      .Args("")
      .Sub("setuser", -3, change, {}, AclSetUser, "Create or change a user")
      .Args("username [rule...]")
      .Sub("users", 2, admin, {}, AclUsers, "User names")
      .Args("")
      .Sub("whoami", 2, kNoScript | kLoading | kLocal, {}, AclWhoAmI,
           "The user this connection runs as")
      .Args("");
}

}  // namespace desaster
