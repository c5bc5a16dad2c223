#include "server/command/arguments.h"

#include <strings.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <optional>
#include <stdexcept>

namespace desaster {
namespace {

// A word without lower-case letters is a token: NX, BYSCORE, LIB-NAME, *, =, ~.
bool IsToken(std::string_view word) {
  if (word.empty() || word.find(':') != std::string_view::npos) return false;
  return std::none_of(word.begin(), word.end(), [](char c) { return c >= 'a' && c <= 'z'; });
}

bool IsValue(const ArgSpec& a) {
  return a.type != ArgSpec::Type::kPureToken && a.type != ArgSpec::Type::kOneOf &&
         a.type != ArgSpec::Type::kBlock;
}

class SyntaxParser {
 public:
  explicit SyntaxParser(std::string_view syntax) : s_(syntax) {}

  std::vector<ArgSpec> Parse() {
    std::vector<ArgSpec> out = Sequence();
    if (!Peek().empty()) Fail("unexpected '" + std::string(Peek()) + "'");
    return out;
  }

 private:
  [[noreturn]] void Fail(const std::string& what) {
    throw std::invalid_argument("argument syntax \"" + std::string(s_) + "\": " + what);
  }

  // The next lexeme: [ ] ( ) | ... or a word; empty at the end.
  std::string_view Peek() {
    while (pos_ < s_.size() && s_[pos_] == ' ') pos_++;
    if (pos_ >= s_.size()) return {};
    if (s_.compare(pos_, 3, "...") == 0) return s_.substr(pos_, 3);
    if (std::string_view("[]()|").find(s_[pos_]) != std::string_view::npos) {
      return s_.substr(pos_, 1);
    }
    size_t end = pos_;
    while (end < s_.size() && std::string_view(" []()|").find(s_[end]) == std::string_view::npos &&
           s_.compare(end, 3, "...") != 0) {
      end++;
    }
    return s_.substr(pos_, end - pos_);
  }
  std::string_view Take() {
    std::string_view t = Peek();
    pos_ += t.size();
    return t;
  }

  std::vector<ArgSpec> Sequence() {
    std::vector<ArgSpec> items;
    for (std::string_view t = Peek(); !t.empty() && t != "]" && t != ")" && t != "|"; t = Peek()) {
      items.push_back(Item());
    }
    return items;
  }

  ArgSpec Item() {
    std::string_view t = Take();
    ArgSpec item;
    if (t == "[" || t == "(") {
      item = Alternatives(t == "[" ? "]" : ")");
      if (t == "[") item.optional = true;
    } else if (t == "..." || t == "]" || t == ")" || t == "|") {
      Fail("unexpected '" + std::string(t) + "'");
    } else {
      item = Word(t);
    }
    if (Peek() == "...") {
      Take();
      item.multiple = true;
    }
    return item;
  }

  ArgSpec Alternatives(std::string_view close) {
    std::vector<ArgSpec> alternatives{Fold(Sequence())};
    while (Peek() == "|") {
      Take();
      alternatives.push_back(Fold(Sequence()));
    }
    if (Take() != close) Fail("expected '" + std::string(close) + "'");
    if (alternatives.size() == 1) return std::move(alternatives[0]);
    ArgSpec oneof;
    oneof.type = ArgSpec::Type::kOneOf;
    for (const ArgSpec& a : alternatives) oneof.name += (oneof.name.empty() ? "" : "-") + a.name;
    oneof.children = std::move(alternatives);
    return oneof;
  }

  // A group's sequence as one argument: itself when alone, "TOKEN value" as a value with a
  // token, anything else as a block (named by its token, or by its first argument).
  ArgSpec Fold(std::vector<ArgSpec> seq) {
    if (seq.empty()) Fail("an empty group");
    if (seq.size() == 1) return std::move(seq[0]);
    bool led = seq[0].type == ArgSpec::Type::kPureToken;
    if (led && seq.size() == 2 && IsValue(seq[1]) && !seq[1].multiple && !seq[1].optional) {
      seq[1].token = seq[0].token;
      return std::move(seq[1]);
    }
    ArgSpec block;
    block.type = ArgSpec::Type::kBlock;
    block.name = seq[0].name;
    if (led) {
      block.token = seq[0].token;
      seq.erase(seq.begin());
    }
    block.children = std::move(seq);
    return block;
  }

  ArgSpec Word(std::string_view word) {
    ArgSpec a;
    if (IsToken(word)) {
      a.type = ArgSpec::Type::kPureToken;
      a.token = word;
      for (char c : word)
        a.name.push_back(static_cast<char>(tolower(static_cast<unsigned char>(c))));
      return a;
    }
    size_t colon = word.find(':');
    a.name = word.substr(0, colon);
    std::string_view type = colon == std::string_view::npos
                                ? std::string_view(a.name == "key" ? "key" : "string")
                                : word.substr(colon + 1);
    static const std::pair<std::string_view, ArgSpec::Type> kTypes[] = {
        {"string", ArgSpec::Type::kString},   {"integer", ArgSpec::Type::kInteger},
        {"double", ArgSpec::Type::kDouble},   {"key", ArgSpec::Type::kKey},
        {"pattern", ArgSpec::Type::kPattern}, {"unix-time", ArgSpec::Type::kUnixTime}};
    auto it = std::find_if(std::begin(kTypes), std::end(kTypes),
                           [&](const auto& t) { return t.first == type; });
    if (it == std::end(kTypes)) Fail("unknown type '" + std::string(type) + "'");
    if (a.name.empty() || IsToken(a.name)) Fail("bad value name '" + std::string(word) + "'");
    a.type = it->second;
    return a;
  }

  std::string_view s_;
  size_t pos_ = 0;
};

size_t Add(size_t a, size_t b) { return a > SIZE_MAX - b ? SIZE_MAX : a + b; }

size_t MinOf(const ArgSpec& a);
size_t MaxOf(const ArgSpec& a);

// How many arguments one occurrence of `a` takes, at the least or at the most, its optional and
// multiple flags aside.
size_t CountOnce(const ArgSpec& a, bool most) {
  switch (a.type) {
    case ArgSpec::Type::kPureToken:
      return 1;
    case ArgSpec::Type::kOneOf: {
      size_t n = most ? 0 : SIZE_MAX;
      for (const ArgSpec& c : a.children) {
        size_t m = most ? MaxOf(c) : MinOf(c);
        n = most ? std::max(n, m) : std::min(n, m);
      }
      return n;
    }
    case ArgSpec::Type::kBlock:
      return Add(a.token.empty() ? 0 : 1, most ? MaxArgs(a.children) : MinArgs(a.children));
    default:
      return a.token.empty() ? 1 : 2;
  }
}

size_t MinOf(const ArgSpec& a) { return a.optional ? 0 : CountOnce(a, false); }
size_t MaxOf(const ArgSpec& a) { return a.multiple ? SIZE_MAX : CountOnce(a, true); }

// Matches argv against a sequence of specs, greedily, noting key positions: what COMMAND
// GETKEYS needs for commands whose keys move (numkeys, STREAMS key... id...).
class KeyMatcher {
 public:
  // `key_args` (optional) gets, for each key found, the ordinal of its key argument among the
  // grammar's key arguments in declaration order (`numbering`: each one's ordinal).
  KeyMatcher(const std::vector<std::string>& argv, std::vector<size_t>* keys,
             std::vector<size_t>* key_args, const std::map<const ArgSpec*, size_t>& numbering)
      : argv_(argv), keys_(keys), key_args_(key_args), numbering_(numbering) {}

  // Whether a numkeys did not fit the arguments: then the call has no keys.
  bool bad_count() const { return bad_count_; }

  bool Sequence(const std::vector<ArgSpec>& seq, size_t* i) {
    for (size_t n = 0; n < seq.size(); n++) {
      const ArgSpec& a = seq[n];
      size_t rest_min = MinArgs({seq.begin() + static_cast<ptrdiff_t>(n) + 1, seq.end()});
      if (!a.multiple) {
        if (a.optional && !Starts(a, *i, rest_min)) continue;
        if (!One(a, i)) return false;
        continue;
      }
      size_t left = argv_.size() - std::min(*i, argv_.size());
      size_t times = 0;
      if (counted_ && a.type == ArgSpec::Type::kKey) {
        times = *counted_;
        counted_.reset();
      } else if (n + 2 == seq.size() && seq[n + 1].multiple) {
        times = left / 2;  // key... id...: as many of each
      } else if (Tokened(a)) {
        while (Starts(a, *i, rest_min)) {
          if (!One(a, i)) return false;
          times++;
        }
        if (times == 0 && !a.optional) return false;
        continue;
      } else {
        size_t each = std::max<size_t>(CountOnce(a, false), 1);
        times = left > rest_min ? (left - rest_min) / each : 0;
      }
      if (times == 0 && !a.optional) return false;
      for (size_t t = 0; t < times; t++) {
        if (!One(a, i)) return false;
      }
    }
    return true;
  }

 private:
  // Whether every form of `a` starts with a token.
  static bool Tokened(const ArgSpec& a) {
    if (!a.token.empty()) return true;
    if (a.type == ArgSpec::Type::kOneOf) {
      return std::all_of(a.children.begin(), a.children.end(), Tokened);
    }
    return a.type == ArgSpec::Type::kBlock && !a.children.empty() && Tokened(a.children[0]);
  }
  // Whether the optional or repeated `a` begins at argv[i], leaving rest_min for what follows.
  bool Starts(const ArgSpec& a, size_t i, size_t rest_min) const {
    if (i >= argv_.size()) return false;
    const std::string& word = argv_[i];
    auto is = [&](const std::string& token) {
      return !token.empty() && strcasecmp(word.c_str(), token.c_str()) == 0;
    };
    if (!a.token.empty()) return is(a.token);
    if (a.type == ArgSpec::Type::kOneOf) {
      for (const ArgSpec& c : a.children) {
        if (Starts(c, i, rest_min)) return true;
      }
      return false;
    }
    if (a.type == ArgSpec::Type::kBlock && !a.children.empty()) {
      return Starts(a.children[0], i, rest_min);
    }
    return argv_.size() - i > rest_min;  // an untokened value: when there is room for it
  }

  bool One(const ArgSpec& a, size_t* i) {
    if (!a.token.empty()) {
      if (*i >= argv_.size() || strcasecmp(argv_[*i].c_str(), a.token.c_str()) != 0) return false;
      ++*i;
      if (a.type == ArgSpec::Type::kPureToken) return true;
    }
    switch (a.type) {
      case ArgSpec::Type::kOneOf:
        for (const ArgSpec& c : a.children) {
          if (Starts(c, *i, 0)) return One(c, i);
        }
        // A word that must be one of some tokens (BITOP's operation) but is none: Redis' key
        // specs find the keys after it by position all the same.
        if (*i < argv_.size() && std::all_of(a.children.begin(), a.children.end(), [](auto& c) {
              return c.type == ArgSpec::Type::kPureToken;
            })) {
          ++*i;
          return true;
        }
        return false;
      case ArgSpec::Type::kBlock:
        return Sequence(a.children, i);
      default:
        if (*i >= argv_.size()) return false;
        if (a.type == ArgSpec::Type::kKey) {
          keys_->push_back(*i);
          if (key_args_) key_args_->push_back(numbering_.at(&a));
        }
        if (a.name == "numkeys") {
          // As Redis counts for COMMAND GETKEYS: atoi, and no keys unless the count fits.
          long long n = atoll(argv_[*i].c_str());
          bool fits = n >= 1 && static_cast<size_t>(n) < argv_.size() - *i;
          counted_ = fits ? static_cast<size_t>(n) : 0;
          bad_count_ |= !fits;
        }
        ++*i;
        return true;
    }
  }

  const std::vector<std::string>& argv_;
  std::vector<size_t>* keys_;
  std::vector<size_t>* key_args_;
  const std::map<const ArgSpec*, size_t>& numbering_;
  std::optional<size_t> counted_;  // the keys the last numkeys announced
  bool bad_count_ = false;         // a numkeys that does not fit: the call has no keys
};

}  // namespace

std::string_view ArgSpec::TypeName() const {
  switch (type) {
    case Type::kString:
      return "string";
    case Type::kInteger:
      return "integer";
    case Type::kDouble:
      return "double";
    case Type::kKey:
      return "key";
    case Type::kPattern:
      return "pattern";
    case Type::kUnixTime:
      return "unix-time";
    case Type::kPureToken:
      return "pure-token";
    case Type::kOneOf:
      return "oneof";
    case Type::kBlock:
      return "block";
  }
  return "string";
}

std::vector<ArgSpec> ParseArgSyntax(std::string_view syntax) {
  return SyntaxParser(syntax).Parse();
}

size_t MinArgs(const std::vector<ArgSpec>& args) {
  size_t n = 0;
  for (const ArgSpec& a : args) n = Add(n, MinOf(a));
  return n;
}

size_t MaxArgs(const std::vector<ArgSpec>& args) {
  size_t n = 0;
  for (const ArgSpec& a : args) n = Add(n, MaxOf(a));
  return n;
}

// Numbers the key arguments of `args` in declaration order (the order of key_flags).
void NumberKeyArguments(const std::vector<ArgSpec>& args, std::map<const ArgSpec*, size_t>* out) {
  for (const ArgSpec& a : args) {
    if (a.type == ArgSpec::Type::kKey) {
      out->emplace(&a, out->size());
    } else {
      NumberKeyArguments(a.children, out);
    }
  }
}

bool FindKeys(const std::vector<ArgSpec>& args, const std::vector<std::string>& argv, size_t first,
              std::vector<size_t>* positions, std::vector<size_t>* key_args) {
  positions->clear();
  if (key_args) key_args->clear();
  std::map<const ArgSpec*, size_t> numbering;
  NumberKeyArguments(args, &numbering);
  size_t i = first;
  KeyMatcher matcher(argv, positions, key_args, numbering);
  bool matched = matcher.Sequence(args, &i) && i == argv.size();
  if (matcher.bad_count()) {
    positions->clear();
    if (key_args) key_args->clear();
  }
  return matched && !matcher.bad_count();
}

}  // namespace desaster

namespace desaster {
namespace {

bool HasKey(const ArgSpec& a) {
  return a.type == ArgSpec::Type::kKey || std::any_of(a.children.begin(), a.children.end(), HasKey);
}

}  // namespace

size_t KeyArguments(const std::vector<ArgSpec>& args) {
  size_t n = 0;
  for (const ArgSpec& a : args) {
    n += a.type == ArgSpec::Type::kKey ? 1 : KeyArguments(a.children);
  }
  return n;
}

std::vector<KeySearch> KeySearches(const std::vector<ArgSpec>& args, int first) {
  std::vector<KeySearch> out;
  int pos = first;    // the argument's index in argv, while every one before it is fixed
  bool fixed = true;  // no optional or repeated argument came before
  int loose = 0;      // where the first argument of no fixed position is
  std::string after;  // the last token before the argument, once positions are not fixed
  for (size_t n = 0; n < args.size(); n++) {
    const ArgSpec& a = args[n];
    std::vector<ArgSpec> rest(args.begin() + static_cast<ptrdiff_t>(n) + 1, args.end());
    KeySearch k;
    if (fixed) {
      k.index = pos;
    } else {
      k.keyword = after;
      k.index = loose;
    }
    if (a.type == ArgSpec::Type::kInteger && a.name == "numkeys" && !rest.empty() &&
        rest[0].type == ArgSpec::Type::kKey && rest[0].multiple) {
      k.keynum = true;  // numkeys key...: the count, then the keys
      out.push_back(k);
      n++;
      if (fixed) loose = pos;
      fixed = false;
      continue;
    }
    if (a.type == ArgSpec::Type::kKey && !a.multiple) {
      out.push_back(k);
    } else if (a.type == ArgSpec::Type::kKey) {
      // key... to the end, but for the fixed arguments after it; key... id...: half of the rest.
      bool paired = rest.size() == 1 && rest[0].multiple;
      k.lastkey = paired ? -1 : -1 - static_cast<int>(MinArgs(rest));
      k.limit = paired ? 2 : 0;
      out.push_back(k);
    } else if (a.type == ArgSpec::Type::kBlock && a.multiple && !a.children.empty() &&
               a.children[0].type == ArgSpec::Type::kKey) {
      k.lastkey = -1;  // (key value)...
      k.keystep = static_cast<int>(CountOnce(a, false));
      out.push_back(k);
    } else if (HasKey(a)) {
      // Inside a group: found after the group's token, or after the token of the alternative
      // that holds it ([STORE key|STOREDIST key]).
      auto after_token = [&](const std::string& token) {
        KeySearch s = k;
        if (!token.empty()) {
          s.keyword = token;
          s.index = fixed ? pos : loose;
        }
        return s;
      };
      bool by_alternative = a.type == ArgSpec::Type::kOneOf && a.token.empty();
      for (const ArgSpec& holder : by_alternative ? a.children : std::vector<ArgSpec>{a}) {
        for (size_t i = 0; i < KeyArguments({holder}); i++)
          out.push_back(after_token(holder.token));
      }
    }
    if (a.type == ArgSpec::Type::kPureToken) after = a.token;
    if (fixed && (a.optional || a.multiple || MinOf(a) != MaxOf(a))) {
      fixed = false;
      loose = pos;
    }
    pos += static_cast<int>(MinOf(a));
  }
  return out;
}

}  // namespace desaster
