// Access control as Redis 7.0 has it: users with passwords and selectors (which commands, keys
// and pub/sub channels each may use), the check every command passes before it runs, the log of
// refusals (ACL LOG) and the ACL file. Rules use Redis' syntax ("on >secret ~app:* +@read").
#pragma once

#include <bitset>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "server/command/registry.h"

namespace desaster {

// What a check refused, in Redis' order of relevance (a command refusal is the least).
enum class AclDenial { kNone, kCommand, kKey, kChannel, kAuth };

// One set of permissions: a user's root selector, or one of its "(...)" selectors. A command is
// allowed when one selector allows the command itself and every key and channel it names.
class AclSelector {
 public:
  // Applies one rule ("+get", "-@admin", "~app:*", "%R~ro:*", "&news.*", "allkeys", ...).
  // False (with a Redis error text in *error) when the rule is unknown or malformed; the
  // selector may then be half changed, so callers apply rules to a copy.
  bool Apply(std::string_view rule, const CommandRegistry& registry, std::string* error);
  // Whether this selector lets `argv` run as `spec`; on a key or channel refusal *position is
  // the argument refused.
  AclDenial Check(const CommandSpec& spec, const std::vector<std::string>& argv,
                  size_t* position) const;
  // Whether this selector lets `argv` run as `spec`, leaving its keys and channels aside.
  bool CommandAllowed(const CommandSpec& spec, const std::vector<std::string>& argv) const;
  // Whether this selector may read (`write`: write) `key`.
  bool KeyAllowed(std::string_view key, bool write) const {
    return KeyAllowed(key, write ? kWrite : kRead);
  }
  // The rules that rebuild this selector, as ACL LIST shows them (keys, channels, commands).
  std::string Describe(const CommandRegistry& registry) const;
  // The three parts ACL GETUSER shows.
  std::string DescribeCommands(const CommandRegistry& registry) const;
  std::string DescribeKeys() const;
  std::string DescribeChannels() const;
  // Allows every command, key and channel: nothing to check.
  bool unrestricted() const { return all_commands_ && all_keys_ && all_channels_; }

 private:
  // Set by +@all and allcommands only: the rules start from +@all, and allow commands to come.
  static constexpr size_t kFutureBit = CommandRegistry::kMaxCommands;
  enum KeyAccess { kRead = 1, kWrite = 2, kReadWrite = 3 };
  struct KeyPattern {
    std::string pattern;
    int access;
  };

  void Allow(const CommandSpec& spec, bool allow);
  void ApplyCategory(const CommandRegistry& registry, uint64_t category, bool allow);
  bool KeyAllowed(std::string_view key, int access) const;

  std::bitset<kFutureBit + 1> commands_;
  std::map<uint32_t, std::vector<std::string>> first_args_;  // +select|0: by command id
  std::vector<KeyPattern> keys_;
  std::vector<std::string> channels_;
  bool all_commands_ = false, all_keys_ = false, all_channels_ = false;
};

struct AclUser {
  std::string name;
  bool enabled = false;
  bool nopass = false;
  // "sanitize-payload", "skip-sanitize-payload" or "": shown as given (RESTORE always checks
  // a payload in full).
  std::string payload_rule;
  std::vector<std::string> passwords;  // SHA-256, lower-case hex
  std::vector<AclSelector> selectors;  // the root selector first

  // Whether this user may run anything: the check is skipped.
  bool unrestricted() const;
};

// One refusal in ACL LOG; repeats within a minute update the entry instead of adding one.
struct AclLogEntry {
  uint64_t count = 1;
  AclDenial reason = AclDenial::kNone;
  std::string context;  // "toplevel", "multi" or "lua"
  std::string object;   // the command, key, channel, or for AUTH "AUTH"
  std::string username;
  int64_t updated_ms = 0;  // when it last happened
  std::string client_info;
};

class AccessControl {
 public:
  explicit AccessControl(const CommandRegistry* registry);

  // The user every connection starts as (it may run anything until told otherwise). It is
  // never removed, and keeps its address through ACL LOAD.
  AclUser* default_user() const { return default_user_; }
  AclUser* Find(std::string_view name) const;
  const std::map<std::string, std::unique_ptr<AclUser>, std::less<>>& users() const {
    return users_;
  }

  // ACL SETUSER: applies `rules` to the user `name` (created when new), all or none; *error
  // gets Redis' text when one is refused.
  bool SetUser(std::string_view name, const std::vector<std::string>& rules, std::string* error);
  // Removes a user (not "default") and hands it back: connections using it must be closed.
  std::unique_ptr<AclUser> DeleteUser(std::string_view name);
  // Sets the default user's password (requirepass); empty: nopass.
  void SetDefaultPassword(const std::string& password);
  // Whether a connection that has not authenticated must do so before anything else.
  bool AuthRequired() const;
  // The user that `name` and `password` identify; nullptr if none (or disabled).
  AclUser* Authenticate(std::string_view name, std::string_view password) const;

  // Whether `user`, running `argv` as `spec`, may read (`write`: write) `key`, a key the
  // command finds itself (a listing, a search, a job named by its id): one selector must allow
  // both the command and the key.
  bool KeyAllowed(const AclUser& user, const CommandSpec& spec,
                  const std::vector<std::string>& argv, std::string_view key, bool write) const;
  // Whether `user` may run `argv` as `spec`; *position as AclSelector::Check. Records nothing.
  AclDenial Check(const AclUser& user, const CommandSpec& spec,
                  const std::vector<std::string>& argv, size_t* position) const;

  // The rules of `user` as ACL LIST shows them, without "user <name> ".
  std::string Describe(const AclUser& user) const;

  // ACL LOAD: replaces every user with those of the file (the default user keeps its identity);
  // returns the users replaced, whose connections must be closed, or nullopt with *error.
  std::optional<std::vector<std::unique_ptr<AclUser>>> LoadFile(const std::string& path,
                                                                std::string* error);
  // Replaces every user with those of `text`, lines as an ACL file holds them (`origin` names
  // it in errors), as LoadFile does.
  std::optional<std::vector<std::unique_ptr<AclUser>>> LoadText(const std::string& text,
                                                                const std::string& origin,
                                                                std::string* error);
  // Makes the users those of `text` (as LoadText reads it) the way ACL SETUSER and DELUSER
  // change them: a user keeps its identity (and its connections) when its rules change, and
  // the users no longer there are handed back, to close their connections. All or nothing;
  // nullopt with *error when `text` is refused.
  std::optional<std::vector<std::unique_ptr<AclUser>>> Sync(const std::string& text,
                                                            std::string* error);
  // Every user as an ACL file holds them: "user <name> <rules>" lines.
  std::string Text() const;
  // ACL SAVE: writes every user, durably (a new file renamed over the old one).
  bool SaveFile(const std::string& path, std::string* error) const;

  // Records a refusal for ACL LOG (at most `max_len` entries are kept).
  void Log(AclLogEntry entry, size_t max_len);
  const std::deque<AclLogEntry>& log() const { return log_; }
  void ResetLog() { log_.clear(); }

 private:
  std::unique_ptr<AclUser> NewUser(std::string_view name) const;
  // The default user as a server starts with it: on, no password, everything allowed.
  std::unique_ptr<AclUser> NewDefaultUser() const;
  bool ApplyUserRule(AclUser* user, std::string_view rule, std::string* error) const;
  bool ApplyRules(AclUser* user, const std::vector<std::string>& rules, std::string* error) const;

  const CommandRegistry* registry_;
  std::map<std::string, std::unique_ptr<AclUser>, std::less<>> users_;
  AclUser* default_user_;
  std::deque<AclLogEntry> log_;
};

}  // namespace desaster
