#include "server/command/registry.h"

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
void RegisterListCommands(CommandRegistry* r);
void RegisterHashCommands(CommandRegistry* r);
void RegisterSetCommands(CommandRegistry* r);
void RegisterZSetCommands(CommandRegistry* r);
void RegisterTransactionCommands(CommandRegistry* r);
void RegisterPubSubCommands(CommandRegistry* r);
void RegisterServerCommands(CommandRegistry* r);
void RegisterScriptingCommands(CommandRegistry* r);
void RegisterStreamCommands(CommandRegistry* r);
void RegisterQueueCommands(CommandRegistry* r);
void RegisterJobCommands(CommandRegistry* r);
void RegisterScheduleCommands(CommandRegistry* r);
void RegisterWorkerCommands(CommandRegistry* r);
void RegisterFailedCommands(CommandRegistry* r);

void RegisterAllCommands(CommandRegistry* r) {
  RegisterStringCommands(r);
  RegisterKeyCommands(r);
  RegisterListCommands(r);
  RegisterHashCommands(r);
  RegisterSetCommands(r);
  RegisterZSetCommands(r);
  RegisterTransactionCommands(r);
  RegisterPubSubCommands(r);
  RegisterServerCommands(r);
  RegisterScriptingCommands(r);
  RegisterStreamCommands(r);
  RegisterQueueCommands(r);
  RegisterJobCommands(r);
  RegisterScheduleCommands(r);
  RegisterWorkerCommands(r);
  RegisterFailedCommands(r);
}

}  // namespace desaster
