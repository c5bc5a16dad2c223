#include "server/command/registry.h"

#include <algorithm>
#include <stdexcept>

#include "server/command/context.h"

namespace desaster {

uint64_t category::ByName(std::string_view name) {
  for (size_t i = 0; i < std::size(kNames); i++) {
    if (EqualIgnoringCase(name, kNames[i])) return uint64_t{1} << i;
  }
  return 0;
}

namespace {

uint64_t Bit(std::string_view name) {
  uint64_t bit = category::ByName(name);
  if (bit == 0) throw std::invalid_argument("unknown ACL category " + std::string(name));
  return bit;
}

// The category every command of a group belongs to, unless it declares its own.
std::string_view GroupCategory(std::string_view group) {
  static const std::pair<std::string_view, std::string_view> kGroups[] = {
      {"generic", "keyspace"},
      {"sorted-set", "sortedset"},
      {"transactions", "transaction"},
      {"string", "string"},
      {"list", "list"},
      {"hash", "hash"},
      {"set", "set"},
      {"stream", "stream"},
      {"connection", "connection"},
      {"scripting", "scripting"},
      {"bitmap", "bitmap"},
      {"hyperloglog", "hyperloglog"},
      {"geo", "geo"},
      {"queue", "queue"},
      {"job", "job"},
      {"schedule", "schedule"},
      {"worker", "worker"},
      {"failed", "failed"},
      {"completed", "completed"},
      {"metrics", "metrics"}};
  for (const auto& [g, category] : kGroups) {
    if (g == group) return category;
  }
  return {};
}

// Redis' categories of a command: those declared (its acl_categories), or else its group's,
// and those its flags imply (setImplicitACLCategories). A container has no flags of its own
// there: it is in its declared categories and @slow only.
uint64_t CategoriesOf(const CommandSpec& c) {
  uint64_t bits = 0;
  std::string_view declared = c.declared_categories;
  if (declared.empty() && c.subcommands.empty()) declared = GroupCategory(c.group);
  while (!declared.empty()) {
    size_t space = declared.find(' ');
    if (space != 0) bits |= Bit(declared.substr(0, space));
    declared = space == std::string_view::npos ? std::string_view() : declared.substr(space + 1);
  }
  if (c.subcommands.empty()) {
    if (c.Has(cmd::kWrite)) bits |= Bit("write");
    if (c.Has(cmd::kReadOnly) && !(bits & Bit("scripting"))) bits |= Bit("read");
    if (c.Has(cmd::kAdmin)) bits |= Bit("admin") | Bit("dangerous");
    if (c.Has(cmd::kPubSub)) bits |= Bit("pubsub");
    if (c.Has(cmd::kFast)) bits |= Bit("fast");
    if (c.Has(cmd::kBlocking)) bits |= Bit("blocking");
  }
  if (!(bits & Bit("fast"))) bits |= Bit("slow");
  return bits;
}

}  // namespace

void CommandRegistry::Finish() {
  uint32_t id = 0;
  for (auto& c : commands_) {
    c.id = id++;
    c.categories = CategoriesOf(c);
    for (auto& s : c.subcommands) {
      s.id = id++;
      s.categories = CategoriesOf(s);
    }
  }
  if (id > kMaxCommands) {
    throw std::invalid_argument(std::to_string(id) + " commands: ACL bitmaps hold " +
                                std::to_string(kMaxCommands));
  }
}

std::vector<std::string> DeclaredKeyFlags(const CommandSpec& c, size_t i) {
  std::vector<std::string> flags;
  std::string_view words =
      i < c.key_flags.size() ? std::string_view(c.key_flags[i]) : std::string_view("RO ACCESS");
  while (!words.empty()) {
    size_t space = words.find(' ');
    std::string word(words.substr(0, space));
    if (!word.empty()) flags.push_back(word.size() == 2 ? word : Lower(word));
    words = space == std::string_view::npos ? std::string_view() : words.substr(space + 1);
  }
  return flags;
}

std::vector<std::string> CallKeyFlags(const CommandSpec& spec, size_t key_arg,
                                      const std::vector<std::string>& argv) {
  std::vector<std::string> declared = DeclaredKeyFlags(spec, key_arg);
  if (std::find(declared.begin(), declared.end(), "variable_flags") == declared.end()) {
    return declared;
  }
  auto is = [&](size_t i, const char* word) { return EqualIgnoringCase(argv[i], word); };
  bool reads = true, writes = true;
  if (spec.name == "set") {  // SET ... GET reads the old value; a plain SET overwrites
    reads = false;
    for (size_t i = 3; i < argv.size() && !reads; i++) reads = is(i, "get");
  } else if (spec.name == "bitfield") {  // only GETs (and OVERFLOWs): a read
    writes = false;
    for (size_t i = 2; i < argv.size() && !writes; i++) {
      size_t rest = argv.size() - i - 1;
      if (is(i, "get") && rest >= 2) {
        i += 2;
      } else if (is(i, "overflow") && rest >= 1) {
        i += 1;
      } else {
        writes = true;  // SET, INCRBY, or a syntax error: assumed to write, as Redis does
      }
    }
  }
  if (!writes) return {"RO", "access"};
  if (!reads) return {"OW", "update"};
  return {"RW", "access", "update"};
}

CommandRegistry& CommandRegistry::Categories(std::string_view names) {
  CommandSpec& last =
      commands_.back().subcommands.empty() ? commands_.back() : commands_.back().subcommands.back();
  last.declared_categories = names;
  return *this;
}

CommandRegistry& CommandRegistry::Group(std::string_view group) {
  group_ = group;
  return *this;
}

CommandSpec CommandRegistry::Make(std::string name, int arity, uint32_t flags, KeySpec keys,
                                  CommandHandler handler, std::string_view summary) const {
  CommandSpec spec;
  spec.name = std::move(name);
  spec.arity = arity;
  spec.flags = flags;
  spec.keys = keys;
  spec.handler = handler;
  spec.group = group_;
  spec.summary = summary;
  return spec;
}

CommandRegistry& CommandRegistry::Add(std::string_view name, int arity, uint32_t flags,
                                      KeySpec keys, CommandHandler handler,
                                      std::string_view summary) {
  index_[std::string(name)] = commands_.size();
  commands_.push_back(Make(std::string(name), arity, flags, keys, handler, summary));
  return *this;
}

CommandRegistry& CommandRegistry::Sub(std::string_view name, int arity, uint32_t flags,
                                      KeySpec keys, CommandHandler handler,
                                      std::string_view summary) {
  CommandSpec& parent = commands_.back();
  parent.subcommands.push_back(
      Make(parent.name + "|" + std::string(name), arity, flags, keys, handler, summary));
  return *this;
}

CommandRegistry& CommandRegistry::Args(std::string_view syntax) {
  CommandSpec& last =
      commands_.back().subcommands.empty() ? commands_.back() : commands_.back().subcommands.back();
  last.described = true;
  last.syntax = syntax;
  last.args = ParseArgSyntax(syntax);
  return *this;
}

CommandRegistry& CommandRegistry::Keys(std::string_view flags) {
  CommandSpec& last =
      commands_.back().subcommands.empty() ? commands_.back() : commands_.back().subcommands.back();
  last.key_flags.clear();
  while (!flags.empty()) {
    size_t bar = flags.find('|');
    std::string_view group = flags.substr(0, bar);
    group.remove_prefix(std::min(group.find_first_not_of(' '), group.size()));
    group.remove_suffix(group.size() - std::min(group.find_last_not_of(' ') + 1, group.size()));
    last.key_flags.emplace_back(group);
    flags = bar == std::string_view::npos ? std::string_view() : flags.substr(bar + 1);
  }
  if (last.key_flags.size() != KeyArguments(last.args)) {
    throw std::invalid_argument(last.name + ": " + std::to_string(last.key_flags.size()) +
                                " key flag groups for " + std::to_string(KeyArguments(last.args)) +
                                " key arguments");
  }
  return *this;
}

const CommandSpec* CommandRegistry::Find(std::string_view name) const {
  auto it = index_.find(Lower(name));
  return it == index_.end() ? nullptr : &commands_[it->second];
}

std::vector<size_t> CommandSpec::KeyPositions(const std::vector<std::string>& argv,
                                              std::vector<size_t>* key_args) const {
  std::vector<size_t> positions;
  FindKeys(args, argv, name.find('|') == std::string::npos ? 1 : 2, &positions, key_args);
  return positions;
}

const CommandSpec* CommandRegistry::FindSub(const CommandSpec& parent, std::string_view sub) const {
  std::string full = parent.name + "|" + Lower(sub);
  for (const auto& s : parent.subcommands) {
    if (s.name == full) return &s;
  }
  return nullptr;
}

}  // namespace desaster

namespace desaster {

void RegisterStringCommands(CommandRegistry* r);
void RegisterKeyCommands(CommandRegistry* r);
void RegisterDumpCommands(CommandRegistry* r);
void RegisterListCommands(CommandRegistry* r);
void RegisterHashCommands(CommandRegistry* r);
void RegisterSetCommands(CommandRegistry* r);
void RegisterZSetCommands(CommandRegistry* r);
void RegisterGeoCommands(CommandRegistry* r);
void RegisterHyperLogLogCommands(CommandRegistry* r);
void RegisterTransactionCommands(CommandRegistry* r);
void RegisterPubSubCommands(CommandRegistry* r);
void RegisterServerCommands(CommandRegistry* r);
void RegisterAclCommands(CommandRegistry* r);
void RegisterSentinelCommands(CommandRegistry* r);
void RegisterScriptingCommands(CommandRegistry* r);
void RegisterFunctionCommands(CommandRegistry* r);
void RegisterStreamCommands(CommandRegistry* r);
void RegisterBitmapCommands(CommandRegistry* r);
void RegisterSortCommands(CommandRegistry* r);
void RegisterQueueCommands(CommandRegistry* r);
void RegisterJobCommands(CommandRegistry* r);
void RegisterScheduleCommands(CommandRegistry* r);
void RegisterWorkerCommands(CommandRegistry* r);
void RegisterFailedCommands(CommandRegistry* r);
void RegisterCompletedCommands(CommandRegistry* r);
void RegisterMetricsCommands(CommandRegistry* r);
void RegisterSnapshotCommands(CommandRegistry* r);
void RegisterImportCommands(CommandRegistry* r);

void RegisterAllCommands(CommandRegistry* r) {
  RegisterStringCommands(r);
  RegisterKeyCommands(r);
  RegisterDumpCommands(r);
  RegisterListCommands(r);
  RegisterHashCommands(r);
  RegisterSetCommands(r);
  RegisterZSetCommands(r);
  RegisterGeoCommands(r);
  RegisterHyperLogLogCommands(r);
  RegisterTransactionCommands(r);
  RegisterPubSubCommands(r);
  RegisterServerCommands(r);
  RegisterAclCommands(r);
  RegisterSentinelCommands(r);
  RegisterScriptingCommands(r);
  RegisterFunctionCommands(r);
  RegisterStreamCommands(r);
  RegisterBitmapCommands(r);
  RegisterSortCommands(r);
  RegisterQueueCommands(r);
  RegisterJobCommands(r);
  RegisterScheduleCommands(r);
  RegisterWorkerCommands(r);
  RegisterFailedCommands(r);
  RegisterCompletedCommands(r);
  RegisterMetricsCommands(r);
  RegisterSnapshotCommands(r);
  RegisterImportCommands(r);
  r->Finish();
}

}  // namespace desaster
