// The command table: every command's name, arity, flags and key positions, declared once per
// family (Register*Commands in each family's file), as in Redis' command table.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "server/command/arguments.h"

namespace desaster {

class CommandContext;
using CommandHandler = void (*)(CommandContext&);

namespace cmd {
enum Flag : uint32_t {
  kWrite = 1 << 0,       // may change the keyspace
  kReadOnly = 1 << 1,    // never changes the keyspace
  kAdmin = 1 << 2,       // server administration
  kPubSub = 1 << 3,      // pub/sub related
  kNoScript = 1 << 4,    // not allowed from scripts
  kBlocking = 1 << 5,    // may block the client
  kFast = 1 << 6,        // O(1) or O(log n)
  kNoAuth = 1 << 7,      // allowed before AUTH
  kNoMulti = 1 << 8,     // executed immediately even inside MULTI (MULTI, EXEC, DISCARD, WATCH...)
  kSubscribed = 1 << 9,  // allowed on a RESP2 connection in subscribed state
  kLoading = 1 << 10,    // allowed while loading the dataset
  kAllowBusy = 1 << 11,  // allowed while a script is busy (transactions answer EXECABORT later)
  kLocal = 1 << 12,  // a cluster replica answers it itself instead of forwarding it to the master
  kSentinel = 1 << 13,      // answered on the sentinel port too (the only ones there)
  kMayReplicate = 1 << 14,  // not a write, yet may change state (EVAL, PUBLISH, PFCOUNT)
  kDenyOom = 1 << 15,       // may grow memory: refused while used memory is over maxmemory
  kProtected = 1 << 16,     // only for connections enable-debug-command allows (DEBUG)
};
}  // namespace cmd

// ACL categories (ACL CAT): Redis 7.0's, in its order (ACL LIST's descriptions depend on it),
// then desaster's families and `runner`, what a worker process needs to take and finish jobs.
namespace category {
inline constexpr std::string_view kNames[] = {
    "keyspace",   "read",        "write",     "set",         "sortedset", "list",
    "hash",       "string",      "bitmap",    "hyperloglog", "geo",       "stream",
    "pubsub",     "admin",       "fast",      "slow",        "blocking",  "dangerous",
    "connection", "transaction", "scripting", "queue",       "job",       "schedule",
    "worker",     "failed",      "runner",    "completed",   "metrics"};
// The bit of category `name` (case-insensitive); 0 when there is none.
uint64_t ByName(std::string_view name);
}  // namespace category

// Redis' legacy key positions, as COMMAND INFO reports them (last < 0 counts from the end).
// Where the keys really are is the argument grammar's business (FindKeys).
struct KeySpec {
  int first = 0, last = 0, step = 0;
};

struct CommandSpec {
  std::string name;  // lower case; "config|get" for subcommands
  int arity = 0;     // > 0: exact argument count (with the name); < 0: at least -arity
  uint32_t flags = 0;
  KeySpec keys;
  CommandHandler handler = nullptr;
  std::string group;       // "string", "list", ... for COMMAND DOCS
  std::string summary;     // one line for COMMAND DOCS
  bool described = false;  // Args() declared the arguments (containers of subcommands have none)
  std::string syntax;      // the arguments in Redis' documentation syntax (arguments.h)
  std::vector<ArgSpec> args;
  // How it uses each key argument of `args`, in order, as Redis 7's key spec flags say it
  // ("RW ACCESS DELETE"); empty: "RO ACCESS" each, what a read-only command does.
  std::vector<std::string> key_flags;
  std::vector<CommandSpec> subcommands;
  // Its ACL categories, as bits of category::kNames: those declared (Categories) or else its
  // group's, and those its flags imply, as Redis derives them (CommandRegistry::Finish).
  std::string declared_categories;
  uint64_t categories = 0;
  // Its index in the ACL's command bitmaps (CommandRegistry::Finish).
  uint32_t id = 0;

  bool Has(cmd::Flag f) const { return (flags & f) != 0; }
  // The positions in `argv` (a call of this command) of its keys, as FindKeys finds them from
  // the first argument after the name words; `key_args` as FindKeys gives them.
  std::vector<size_t> KeyPositions(const std::vector<std::string>& argv,
                                   std::vector<size_t>* key_args = nullptr) const;
};

class CommandRegistry {
 public:
  // Declares a command; returns *this so families read as one table.
  CommandRegistry& Add(std::string_view name, int arity, uint32_t flags, KeySpec keys,
                       CommandHandler handler, std::string_view summary = {});
  // Declares a subcommand of the most recently added command ("config" -> "config|get").
  CommandRegistry& Sub(std::string_view name, int arity, uint32_t flags, KeySpec keys,
                       CommandHandler handler, std::string_view summary = {});
  // Declares the arguments of the most recently added command or subcommand, in Redis'
  // documentation syntax (ParseArgSyntax); the line must parse.
  CommandRegistry& Args(std::string_view syntax);
  // Declares how the most recently described command uses its key arguments: one group of
  // Redis key spec flags per key argument, in order, separated by '|'
  // ("RW ACCESS DELETE | RW INSERT"). The count must match; a wrong table throws.
  CommandRegistry& Keys(std::string_view flags);
  // Declares the ACL categories of the most recently added command or subcommand ("keyspace
  // dangerous"), in place of its group's: those Redis declares beyond what its flags imply.
  CommandRegistry& Categories(std::string_view names);
  // Sets the group of every command added from now on.
  CommandRegistry& Group(std::string_view group);

  // Case-insensitive lookup; nullptr when unknown.
  const CommandSpec* Find(std::string_view name) const;
  const CommandSpec* FindSub(const CommandSpec& parent, std::string_view sub) const;
  const std::vector<CommandSpec>& all() const { return commands_; }
  // Calls `f` with every command and subcommand, each container before its subcommands.
  template <typename F>
  void ForEach(F&& f) const {
    for (const auto& c : commands_) {
      f(c);
      for (const auto& s : c.subcommands) f(s);
    }
  }
  // Numbers every command and subcommand and settles its ACL categories; called once, when
  // every family is declared. Throws std::invalid_argument for an unknown category, or for
  // more commands than kMaxCommands.
  void Finish();
  // ACL bitmaps have a bit for each command and subcommand, and one more for commands to come.
  static constexpr uint32_t kMaxCommands = 1023;

 private:
  CommandSpec Make(std::string name, int arity, uint32_t flags, KeySpec keys,
                   CommandHandler handler, std::string_view summary) const;

  std::vector<CommandSpec> commands_;
  std::unordered_map<std::string, size_t> index_;
  std::string group_;
};

// How command `c` uses its key argument `i` (the grammar's), as declared, in Redis' words
// ("RW", "access", "update"; "RO", "access" unless declared).
std::vector<std::string> DeclaredKeyFlags(const CommandSpec& c, size_t i);
// How the call `argv` of `c` uses its key argument `key_arg`: as declared, or where the flags
// vary (VARIABLE_FLAGS: SET, BITFIELD) as Redis decides them from the arguments.
std::vector<std::string> CallKeyFlags(const CommandSpec& c, size_t key_arg,
                                      const std::vector<std::string>& argv);

// Declares every command family.
void RegisterAllCommands(CommandRegistry* registry);

}  // namespace desaster
