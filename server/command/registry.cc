#include "server/command/registry.h"

#include <stdexcept>

#include "server/command/context.h"

namespace desaster {

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
void RegisterSentinelCommands(CommandRegistry* r);
void RegisterScriptingCommands(CommandRegistry* r);
void RegisterStreamCommands(CommandRegistry* r);
void RegisterBitmapCommands(CommandRegistry* r);
void RegisterSortCommands(CommandRegistry* r);
void RegisterQueueCommands(CommandRegistry* r);
void RegisterJobCommands(CommandRegistry* r);
void RegisterScheduleCommands(CommandRegistry* r);
void RegisterWorkerCommands(CommandRegistry* r);
void RegisterFailedCommands(CommandRegistry* r);
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
  RegisterSentinelCommands(r);
  RegisterScriptingCommands(r);
  RegisterStreamCommands(r);
  RegisterBitmapCommands(r);
  RegisterSortCommands(r);
  RegisterQueueCommands(r);
  RegisterJobCommands(r);
  RegisterScheduleCommands(r);
  RegisterWorkerCommands(r);
  RegisterFailedCommands(r);
  RegisterSnapshotCommands(r);
  RegisterImportCommands(r);
}

}  // namespace desaster
