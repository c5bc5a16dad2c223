#include "server/command/access_control.h"

#include <openssl/crypto.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <fstream>
#include <sstream>

#include "server/command/context.h"
#include "server/store/files.h"

namespace desaster {
namespace {

bool HasSpaces(std::string_view s) {
  return std::any_of(s.begin(), s.end(),
                     [](char c) { return c == '\0' || isspace(static_cast<unsigned char>(c)); });
}

bool ValidHash(std::string_view hash) {
  return hash.size() == 64 && std::all_of(hash.begin(), hash.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

// Redis' texts for a refused rule (ACLSetUserStringError).
constexpr std::string_view kUnknownName = "Unknown command or category name in ACL";
constexpr std::string_view kSyntax = "Syntax error";
constexpr std::string_view kKeyAfterAll =
    "Adding a pattern after the * pattern (or the 'allkeys' flag) is not valid and does not have "
    "any effect. Try 'resetkeys' to start with an empty list of patterns";
constexpr std::string_view kChannelAfterAll =
    "Adding a pattern after the * pattern (or the 'allchannels' flag) is not valid and does not "
    "have any effect. Try 'resetchannels' to start with an empty list of channels";
constexpr std::string_view kNoSuchPassword =
    "The password you are trying to remove from the user does not exist";
constexpr std::string_view kBadHash =
    "The password hash must be exactly 64 characters and contain only lowercase hexadecimal "
    "characters";
constexpr std::string_view kFirstArgOfSubcommand =
    "Allowing first-arg of a subcommand is not supported";

bool Fail(std::string* error, std::string_view text) {
  error->assign(text);
  return false;
}

// A command or subcommand by its full name ("get", "config|get"), as ACL rules name them.
const CommandSpec* Lookup(const CommandRegistry& registry, std::string_view name) {
  size_t bar = name.find('|');
  const CommandSpec* spec = registry.Find(name.substr(0, bar));
  if (spec == nullptr || bar == std::string_view::npos) return spec;
  if (name.find('|', bar + 1) != std::string_view::npos) return nullptr;
  return registry.FindSub(*spec, name.substr(bar + 1));
}

// The channels a command names, and whether they are patterns: what Redis 7.0's channel specs
// flag as published to or subscribed to (unsubscribing is always allowed).
struct ChannelArgs {
  size_t first = 0, last = 0;  // argv positions; none when first == 0
  bool patterns = false;
};
ChannelArgs ChannelsOf(const CommandSpec& spec, size_t argc) {
  if (spec.name == "publish") return {1, 1, false};
  if (spec.name == "subscribe") return {1, argc - 1, false};
  if (spec.name == "psubscribe") return {1, argc - 1, true};
  return {};
}

// What a key's flags (CallKeyFlags) ask of a key pattern: read access for a key whose value
// the command reads, write access for one it inserts, updates or deletes.
int KeyAccessOf(const std::vector<std::string>& flags) {
  auto has = [&](std::string_view word) {
    return std::find(flags.begin(), flags.end(), word) != flags.end();
  };
  return (has("access") ? 1 : 0) | (has("insert") || has("delete") || has("update") ? 2 : 0);
}

std::vector<std::string> SplitSpaces(std::string_view s) {
  std::vector<std::string> out;
  std::istringstream in{std::string(s)};
  for (std::string word; in >> word;) out.push_back(word);
  return out;
}

// ACL SETUSER's arguments with each "(...)" selector spread over several joined into one.
bool MergeSelectors(const std::vector<std::string>& rules, std::vector<std::string>* merged,
                    std::string* error) {
  std::string open;
  bool opened = false;
  for (const auto& rule : rules) {
    if (!opened && !rule.empty() && rule.front() == '(' && rule.back() != ')') {
      open = rule;
      opened = true;
      continue;
    }
    if (opened) {
      open += " " + rule;
      if (!rule.empty() && rule.back() == ')') {
        merged->push_back(std::move(open));
        opened = false;
      }
      continue;
    }
    merged->push_back(rule);
  }
  if (opened) {
    *error = "Unmatched parenthesis in acl selector starting at '" +
             open.substr(0, open.find(' ')) + "'.";
    return false;
  }
  return true;
}

}  // namespace

// ---- AclSelector ----

void AclSelector::Allow(const CommandSpec& spec, bool allow) {
  commands_.set(spec.id, allow);
  if (!allow) all_commands_ = false;
  first_args_.erase(spec.id);
  for (const auto& sub : spec.subcommands) {
    commands_.set(sub.id, allow);
  }
}

void AclSelector::ApplyCategory(const CommandRegistry& registry, uint64_t category, bool allow) {
  registry.ForEach([&](const CommandSpec& c) {
    if (c.categories & category) Allow(c, allow);
  });
}

bool AclSelector::Apply(std::string_view rule, const CommandRegistry& registry,
                        std::string* error) {
  if (EqualIgnoringCase(rule, "allkeys") || rule == "~*") {
    all_keys_ = true;
    keys_.clear();
  } else if (EqualIgnoringCase(rule, "resetkeys")) {
    all_keys_ = false;
    keys_.clear();
  } else if (EqualIgnoringCase(rule, "allchannels") || rule == "&*") {
    all_channels_ = true;
    channels_.clear();
  } else if (EqualIgnoringCase(rule, "resetchannels")) {
    all_channels_ = false;
    channels_.clear();
  } else if (EqualIgnoringCase(rule, "allcommands") || EqualIgnoringCase(rule, "+@all")) {
    commands_.set();
    all_commands_ = true;
    first_args_.clear();
  } else if (EqualIgnoringCase(rule, "nocommands") || EqualIgnoringCase(rule, "-@all")) {
    commands_.reset();
    all_commands_ = false;
    first_args_.clear();
  } else if (rule[0] == '~' || rule[0] == '%') {
    if (all_keys_) return Fail(error, kKeyAfterAll);
    int access = kReadWrite;
    size_t offset = 1;
    if (rule[0] == '%') {
      access = 0;
      for (; offset < rule.size(); offset++) {
        char c = static_cast<char>(toupper(static_cast<unsigned char>(rule[offset])));
        if (c == 'R' && !(access & kRead)) {
          access |= kRead;
        } else if (c == 'W' && !(access & kWrite)) {
          access |= kWrite;
        } else if (rule[offset] == '~') {
          offset++;
          break;
        } else {
          return Fail(error, kSyntax);
        }
      }
      if (access == 0) return Fail(error, kSyntax);  // "%~k" grants nothing: Redis refuses it
    }
    std::string_view pattern = rule.substr(std::min(offset, rule.size()));
    if (HasSpaces(pattern)) return Fail(error, kSyntax);
    auto same = std::find_if(keys_.begin(), keys_.end(),
                             [&](const KeyPattern& k) { return k.pattern == pattern; });
    if (same == keys_.end()) {
      keys_.push_back({std::string(pattern), access});
    } else {
      same->access |= access;
    }
    all_keys_ = false;
  } else if (rule[0] == '&') {
    if (all_channels_) return Fail(error, kChannelAfterAll);
    std::string_view pattern = rule.substr(1);
    if (HasSpaces(pattern)) return Fail(error, kSyntax);
    if (std::find(channels_.begin(), channels_.end(), pattern) == channels_.end()) {
      channels_.emplace_back(pattern);
    }
    all_channels_ = false;
  } else if ((rule[0] == '+' || rule[0] == '-') && rule.size() > 1 && rule[1] == '@') {
    uint64_t category = category::ByName(rule.substr(2));
    if (category == 0) return Fail(error, kUnknownName);
    ApplyCategory(registry, category, rule[0] == '+');
  } else if (rule[0] == '-') {
    const CommandSpec* spec = Lookup(registry, rule.substr(1));
    if (spec == nullptr) return Fail(error, kUnknownName);
    Allow(*spec, false);
  } else if (rule[0] == '+') {
    std::string_view name = rule.substr(1);
    size_t bar = name.rfind('|');
    if (bar == std::string_view::npos) {
      const CommandSpec* spec = Lookup(registry, name);
      if (spec == nullptr) return Fail(error, kUnknownName);
      Allow(*spec, true);
      return true;
    }
    const CommandSpec* spec = Lookup(registry, name.substr(0, bar));
    if (spec == nullptr) return Fail(error, kUnknownName);
    if (spec->name.find('|') != std::string::npos) return Fail(error, kFirstArgOfSubcommand);
    std::string_view sub = name.substr(bar + 1);
    if (sub.empty()) return Fail(error, kSyntax);
    if (!spec->subcommands.empty()) {
      const CommandSpec* subcommand = registry.FindSub(*spec, sub);
      if (subcommand == nullptr) return Fail(error, kUnknownName);
      Allow(*subcommand, true);
      return true;
    }
    // A first argument of a command without subcommands (SELECT|0): allowed with it only.
    auto& args = first_args_[spec->id];
    if (std::none_of(args.begin(), args.end(),
                     [&](const std::string& a) { return EqualIgnoringCase(a, sub); })) {
      args.emplace_back(sub);
    }
  } else {
    return Fail(error, kSyntax);
  }
  return true;
}

bool AclSelector::KeyAllowed(std::string_view key, int access) const {
  if (all_keys_) return true;
  return std::any_of(keys_.begin(), keys_.end(), [&](const KeyPattern& k) {
    return (k.access & access) == access && GlobMatch(k.pattern, key);
  });
}

bool AclSelector::CommandAllowed(const CommandSpec& spec,
                                 const std::vector<std::string>& argv) const {
  if (all_commands_ || spec.Has(cmd::kNoAuth) || commands_.test(spec.id)) return true;
  auto it = first_args_.find(spec.id);
  return argv.size() >= 2 && it != first_args_.end() &&
         std::any_of(it->second.begin(), it->second.end(),
                     [&](const std::string& a) { return EqualIgnoringCase(a, argv[1]); });
}

AclDenial AclSelector::Check(const CommandSpec& spec, const std::vector<std::string>& argv,
                             size_t* position) const {
  if (!CommandAllowed(spec, argv)) return AclDenial::kCommand;
  if (!all_keys_) {
    std::vector<size_t> key_args;
    std::vector<size_t> positions = spec.KeyPositions(argv, &key_args);
    for (size_t i = 0; i < positions.size(); i++) {
      if (!KeyAllowed(argv[positions[i]], KeyAccessOf(CallKeyFlags(spec, key_args[i], argv)))) {
        *position = positions[i];
        return AclDenial::kKey;
      }
    }
  }
  ChannelArgs channels = ChannelsOf(spec, argv.size());
  if (!all_channels_ && channels.first != 0) {
    for (size_t i = channels.first; i <= channels.last && i < argv.size(); i++) {
      bool allowed = std::any_of(channels_.begin(), channels_.end(), [&](const std::string& p) {
        return channels.patterns ? p == argv[i] : GlobMatch(p, argv[i]);
      });
      if (!allowed) {
        *position = i;
        return AclDenial::kChannel;
      }
    }
  }
  return AclDenial::kNone;
}

std::string AclSelector::DescribeCommands(const CommandRegistry& registry) const {
  // As Redis describes them: start from +@all or -@all, add (or remove) the category that
  // best matches what is left, while one matches better than not, then single commands. The
  // rules are applied to a selector as they are chosen, so the result rebuilds this one.
  std::string rules;
  AclSelector rebuilt, left;
  std::string ignored;
  bool additive = !commands_.test(kFutureBit);
  rules = additive ? "-@all " : "+@all ";
  rebuilt.Apply(additive ? "-@all" : "+@all", registry, &ignored);
  left.commands_ = commands_;
  std::vector<bool> applied(std::size(category::kNames));
  for (;;) {
    int best = -1;
    uint64_t min_diff = UINT64_MAX, max_same = 0;
    for (size_t j = 0; j < std::size(category::kNames); j++) {
      if (applied[j]) continue;
      uint64_t on = 0, off = 0;
      registry.ForEach([&](const CommandSpec& c) {
        if (c.categories & (uint64_t{1} << j)) (left.commands_.test(c.id) ? on : off)++;
      });
      uint64_t diff = additive ? off : on, same = additive ? on : off;
      if (same > diff && (diff < min_diff || (diff == min_diff && same > max_same))) {
        best = static_cast<int>(j);
        min_diff = diff;
        max_same = same;
      }
    }
    if (best < 0) break;
    std::string name(category::kNames[best]);
    rules += (additive ? "+@" : "-@") + name + " ";
    rebuilt.Apply((additive ? "+@" : "-@") + name, registry, &ignored);
    left.Apply((additive ? "-@" : "+@") + name, registry, &ignored);
    applied[static_cast<size_t>(best)] = true;
  }
  registry.ForEach([&](const CommandSpec& c) {
    bool mine = commands_.test(c.id);
    if (mine != rebuilt.commands_.test(c.id)) {
      rules += (mine ? "+" : "-") + c.name + " ";
      rebuilt.Allow(c, mine);
    }
    auto it = first_args_.find(c.id);
    if (!mine && it != first_args_.end()) {
      for (const auto& arg : it->second) rules += "+" + c.name + "|" + arg + " ";
    }
  });
  rules.pop_back();
  return rules;
}

std::string AclSelector::DescribeKeys() const {
  if (all_keys_) return "~*";
  std::string out;
  for (const auto& k : keys_) {
    if (!out.empty()) out += ' ';
    out += k.access == kReadWrite ? "~" : k.access == kRead ? "%R~" : "%W~";
    out += k.pattern;
  }
  return out;
}

std::string AclSelector::DescribeChannels() const {
  if (all_channels_) return "&*";
  std::string out;
  for (const auto& c : channels_) {
    if (!out.empty()) out += ' ';
    out += "&" + c;
  }
  return out;
}

std::string AclSelector::Describe(const CommandRegistry& registry) const {
  std::string out = DescribeKeys();
  if (!out.empty()) out += ' ';
  // "resetchannels" first, as Redis writes it: the rules then do not depend on
  // acl-pubsub-default.
  if (!all_channels_) out += "resetchannels ";
  std::string channels = DescribeChannels();
  if (!channels.empty()) out += channels + ' ';
  return out + DescribeCommands(registry);
}

// ---- AclUser ----

bool AclUser::unrestricted() const {
  return std::any_of(selectors.begin(), selectors.end(),
                     [](const AclSelector& s) { return s.unrestricted(); });
}

// ---- AccessControl ----

AccessControl::AccessControl(const CommandRegistry* registry) : registry_(registry) {
  auto user = NewDefaultUser();
  default_user_ = user.get();
  users_["default"] = std::move(user);
}

std::unique_ptr<AclUser> AccessControl::NewDefaultUser() const {
  auto user = NewUser("default");
  std::string ignored;
  ApplyRules(user.get(), {"+@all", "~*", "&*", "on", "nopass"}, &ignored);
  return user;
}

std::unique_ptr<AclUser> AccessControl::NewUser(std::string_view name) const {
  auto user = std::make_unique<AclUser>();
  user->name = name;
  user->selectors.emplace_back();
  return user;
}

AclUser* AccessControl::Find(std::string_view name) const {
  auto it = users_.find(name);
  return it == users_.end() ? nullptr : it->second.get();
}

bool AccessControl::ApplyUserRule(AclUser* user, std::string_view rule, std::string* error) const {
  if (rule.empty()) return true;
  if (EqualIgnoringCase(rule, "on")) {
    user->enabled = true;
  } else if (EqualIgnoringCase(rule, "off")) {
    user->enabled = false;
  } else if (EqualIgnoringCase(rule, "skip-sanitize-payload") ||
             EqualIgnoringCase(rule, "sanitize-payload")) {
    user->payload_rule =
        EqualIgnoringCase(rule, "sanitize-payload") ? "sanitize-payload" : "skip-sanitize-payload";
  } else if (EqualIgnoringCase(rule, "nopass")) {
    user->nopass = true;
    user->passwords.clear();
  } else if (EqualIgnoringCase(rule, "resetpass")) {
    user->nopass = false;
    user->passwords.clear();
  } else if (rule[0] == '>' || rule[0] == '#' || rule[0] == '<' || rule[0] == '!') {
    bool cleartext = rule[0] == '>' || rule[0] == '<';
    std::string hash = cleartext ? Sha256Hex(rule.substr(1)) : std::string(rule.substr(1));
    if (!cleartext && !ValidHash(hash)) return Fail(error, kBadHash);
    auto& passwords = user->passwords;
    auto it = std::find(passwords.begin(), passwords.end(), hash);
    if (rule[0] == '>' || rule[0] == '#') {
      if (it == passwords.end()) passwords.push_back(hash);
      user->nopass = false;
    } else {
      if (it == passwords.end()) return Fail(error, kNoSuchPassword);
      passwords.erase(it);
    }
  } else if (rule.front() == '(' && rule.back() == ')' && rule.size() >= 2) {
    AclSelector selector;
    for (const auto& r : SplitSpaces(rule.substr(1, rule.size() - 2))) {
      if (!selector.Apply(r, *registry_, error)) return false;
    }
    user->selectors.push_back(std::move(selector));
  } else if (EqualIgnoringCase(rule, "clearselectors")) {
    user->selectors.resize(1);
  } else if (EqualIgnoringCase(rule, "reset")) {
    user->passwords.clear();
    user->nopass = false;
    user->enabled = false;
    user->payload_rule = "sanitize-payload";
    user->selectors.assign(1, AclSelector());
  } else {
    return user->selectors.front().Apply(rule, *registry_, error);
  }
  return true;
}

bool AccessControl::ApplyRules(AclUser* user, const std::vector<std::string>& rules,
                               std::string* error) const {
  std::vector<std::string> merged;
  if (!MergeSelectors(rules, &merged, error)) return false;
  for (const auto& rule : merged) {
    std::string why;
    if (!ApplyUserRule(user, rule, &why)) {
      *error = "Error in ACL SETUSER modifier '" + rule + "': " + why;
      return false;
    }
  }
  return true;
}

bool AccessControl::SetUser(std::string_view name, const std::vector<std::string>& rules,
                            std::string* error) {
  AclUser* existing = Find(name);
  auto staged = existing ? std::make_unique<AclUser>(*existing) : NewUser(name);
  if (!ApplyRules(staged.get(), rules, error)) return false;
  if (existing) {
    *existing = std::move(*staged);
  } else {
    users_[std::string(name)] = std::move(staged);
  }
  return true;
}

std::unique_ptr<AclUser> AccessControl::DeleteUser(std::string_view name) {
  auto it = users_.find(name);
  if (it == users_.end() || name == "default") return nullptr;
  auto user = std::move(it->second);
  users_.erase(it);
  return user;
}

void AccessControl::SetDefaultPassword(const std::string& password) {
  std::string ignored;
  ApplyRules(default_user(), {"resetpass", password.empty() ? "nopass" : ">" + password}, &ignored);
}

bool AccessControl::AuthRequired() const {
  return !default_user_->nopass || !default_user_->enabled;
}

AclUser* AccessControl::Authenticate(std::string_view name, std::string_view password) const {
  AclUser* user = Find(name);
  if (user == nullptr || !user->enabled) return nullptr;
  if (user->nopass) return user;
  std::string hash = Sha256Hex(password);
  bool match = false;
  for (const auto& p : user->passwords) {  // every hash is compared, each in constant time
    match |= CRYPTO_memcmp(p.data(), hash.data(), hash.size()) == 0;
  }
  return match ? user : nullptr;
}

bool AccessControl::KeyAllowed(const AclUser& user, const CommandSpec& spec,
                               const std::vector<std::string>& argv, std::string_view key,
                               bool write) const {
  if (user.unrestricted()) return true;
  return std::any_of(user.selectors.begin(), user.selectors.end(), [&](const AclSelector& s) {
    return s.CommandAllowed(spec, argv) && s.KeyAllowed(key, write);
  });
}

AclDenial AccessControl::Check(const AclUser& user, const CommandSpec& spec,
                               const std::vector<std::string>& argv, size_t* position) const {
  if (user.unrestricted()) return AclDenial::kNone;
  // As Redis picks the refusal to report: a command refusal only when no selector allows the
  // command, otherwise the key or channel refusal with the latest argument.
  AclDenial relevant = AclDenial::kCommand;
  size_t last = 0;
  for (const auto& selector : user.selectors) {
    size_t at = 0;
    AclDenial denial = selector.Check(spec, argv, &at);
    if (denial == AclDenial::kNone) return denial;
    if (denial > relevant || (denial == relevant && at > last)) {
      relevant = denial;
      last = at;
    }
  }
  *position = last;
  return relevant;
}

std::string AccessControl::Describe(const AclUser& user) const {
  std::string out = user.enabled ? "on " : "off ";
  if (user.nopass) out += "nopass ";
  if (!user.payload_rule.empty()) out += user.payload_rule + " ";
  for (const auto& p : user.passwords) out += "#" + p + " ";
  out += user.selectors.front().Describe(*registry_);
  for (size_t i = 1; i < user.selectors.size(); i++) {
    out += " (" + user.selectors[i].Describe(*registry_) + ")";
  }
  return out;
}

std::optional<std::vector<std::unique_ptr<AclUser>>> AccessControl::LoadFile(
    const std::string& path, std::string* error) {
  std::ifstream in(path);
  if (!in) {
    *error = "Error loading ACLs, opening file '" + path + "': " + strerror(errno);
    return std::nullopt;
  }
  std::stringstream text;
  text << in.rdbuf();
  return LoadText(text.str(), path, error);
}

std::optional<std::vector<std::unique_ptr<AclUser>>> AccessControl::LoadText(
    const std::string& text, const std::string& origin, std::string* error) {
  std::istringstream in(text);
  std::map<std::string, std::unique_ptr<AclUser>, std::less<>> loaded;
  std::string errors, line;
  for (int number = 1; std::getline(in, line); number++) {
    auto trimmed = line.find_first_not_of(" \t\r\n");
    if (trimmed == std::string::npos) continue;
    line = line.substr(trimmed, line.find_last_not_of(" \t\r\n") - trimmed + 1);
    std::vector<std::string> words = SplitSpaces(line);
    std::string at = origin + ":" + std::to_string(number);
    if (words.size() < 2 || words[0] != "user") {
      errors += at + " should start with user keyword followed by the username. ";
      continue;
    }
    if (loaded.count(words[1])) {
      errors += "WARNING: Duplicate user '" + words[1] + "' found on line " +
                std::to_string(number) + ". ";
      continue;
    }
    auto user = NewUser(words[1]);
    std::vector<std::string> rules;
    std::string unmatched;
    if (!MergeSelectors({words.begin() + 2, words.end()}, &rules, &unmatched)) {
      errors += at + ": Unmatched parenthesis in selector definition.";
      continue;
    }
    bool syntax_error = false;
    for (const auto& rule : rules) {
      std::string why;
      if (ApplyUserRule(user.get(), rule, &why)) continue;
      if (why == kUnknownName) {
        errors += at + ": Error in applying operation '" + rule + "': " + why + ". ";
      } else if (!syntax_error) {
        errors += at + ": " + why + ". ";
        syntax_error = true;
      }
    }
    loaded[words[1]] = std::move(user);
  }
  if (!errors.empty()) {
    *error = errors +
             "WARNING: ACL errors detected, no change to the previously active ACL rules was "
             "performed";
    return std::nullopt;
  }
  // Connections hold the default user by address: it takes the loaded rules in place.
  auto it = loaded.find("default");
  *default_user_ = std::move(it != loaded.end() ? *it->second : *NewDefaultUser());
  loaded["default"] = std::move(users_["default"]);
  std::vector<std::unique_ptr<AclUser>> replaced;
  for (auto& [name, user] : users_) {
    if (user) replaced.push_back(std::move(user));
  }
  users_ = std::move(loaded);
  return replaced;
}

std::optional<std::vector<std::unique_ptr<AclUser>>> AccessControl::Sync(const std::string& text,
                                                                         std::string* error) {
  AccessControl wanted(registry_);
  if (!wanted.LoadText(text, "the ACL users", error)) return std::nullopt;
  for (const auto& [name, user] : wanted.users_) {
    std::vector<std::string> rules = SplitSpaces(wanted.Describe(*user));
    rules.insert(rules.begin(), "reset");
    if (!SetUser(name, rules, error)) return std::nullopt;  // cannot fail: `wanted` took them
  }
  std::vector<std::unique_ptr<AclUser>> removed;
  std::vector<std::string> gone;
  for (const auto& [name, user] : users_) {
    if (!wanted.Find(name)) gone.push_back(name);
  }
  for (const std::string& name : gone) {
    if (auto user = DeleteUser(name)) removed.push_back(std::move(user));
  }
  return removed;
}

std::string AccessControl::Text() const {
  std::string text;
  for (const auto& [name, user] : users_) text += "user " + name + " " + Describe(*user) + "\n";
  return text;
}

bool AccessControl::SaveFile(const std::string& path, std::string* error) const {
  return ReplaceFile(path, Text(), 0600, error);
}

void AccessControl::Log(AclLogEntry entry, size_t max_len) {
  constexpr int64_t kGroupingMs = 60000;
  for (size_t i = 0; i < log_.size() && i < 10; i++) {
    AclLogEntry& e = log_[i];
    if (e.reason == entry.reason && e.context == entry.context && e.object == entry.object &&
        e.username == entry.username && std::abs(e.updated_ms - entry.updated_ms) <= kGroupingMs) {
      AclLogEntry updated = std::move(e);
      log_.erase(log_.begin() + static_cast<std::ptrdiff_t>(i));
      updated.count++;
      updated.updated_ms = entry.updated_ms;
      updated.client_info = std::move(entry.client_info);
      log_.push_front(std::move(updated));
      return;
    }
  }
  log_.push_front(std::move(entry));
  while (log_.size() > max_len) log_.pop_back();
}

}  // namespace desaster
