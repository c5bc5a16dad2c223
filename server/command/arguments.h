// The arguments a command takes, as Redis 7's COMMAND DOCS describes them: one tree per command,
// declared in the command table with a line of Redis' documentation syntax. It is the one
// grammar of every command: COMMAND DOCS serves it, COMMAND GETKEYS finds movable keys with it,
// and the command fuzzer (tests/integration/fuzz_commands.py) reads it from COMMAND DOCS.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace desaster {

struct ArgSpec {
  enum class Type {
    kString,
    kInteger,
    kDouble,
    kKey,
    kPattern,
    kUnixTime,
    kPureToken,
    kOneOf,
    kBlock
  };
  std::string name;
  Type type = Type::kString;
  std::string token;  // the keyword before the value (EX seconds), or the pure token itself
  bool optional = false;
  bool multiple = false;          // one or more (zero or more with `optional`)
  std::vector<ArgSpec> children;  // kOneOf: the alternatives; kBlock: the sequence

  // Redis' type name ("string", "integer", "pure-token", "oneof", ...).
  std::string_view TypeName() const;
};

// Parses a syntax line such as
//   "key value [NX|XX] [GET] [EX seconds:integer|PX milliseconds:integer|KEEPTTL]"
// An upper-case word is a token; a lower-case word is a value, `name:type` with type one of
// string (the default), integer, double, key, pattern, unix-time (`key` alone is a key named
// key); `[...]` is optional, `(...)` groups, `|` separates alternatives, `...` right after an
// item repeats it. Inside a group, a token followed by values is one argument with that token,
// as Redis documents "EX seconds". An integer value named numkeys counts the key... after it.
// Throws std::invalid_argument for a malformed line: the table is wrong, not a client.
std::vector<ArgSpec> ParseArgSyntax(std::string_view syntax);

// How many arguments a command with these specs takes at the least, and at the most
// (SIZE_MAX when an argument repeats).
size_t MinArgs(const std::vector<ArgSpec>& args);
size_t MaxArgs(const std::vector<ArgSpec>& args);

// The positions in `argv` (argv[first] is the first argument after the command's name words)
// of the keys of a call of a command with `args`; false when argv does not follow the grammar,
// with the keys found before the point where it stops following it (none at all when a numkeys
// does not fit the arguments, as Redis counts). `key_args` (optional) gets, for each key, which
// of the grammar's key arguments it is (0 for the first declared), to look up its key flags.
bool FindKeys(const std::vector<ArgSpec>& args, const std::vector<std::string>& argv, size_t first,
              std::vector<size_t>* positions, std::vector<size_t>* key_args = nullptr);

// Where a key argument's keys are, as a Redis 7 key spec says it (COMMAND INFO): where the
// search begins (an index, or after a keyword), then how keys are found from there (a range,
// or a count of keys in the arguments).
struct KeySearch {
  std::string keyword;  // begin_search: after this token; empty: at `index`
  int index = 0;        // begin_search index, or the keyword search's startfrom
  bool keynum = false;  // find_keys: a count (numkeys) at `keynumidx`, the keys `firstkey` on
  int lastkey = 0, keystep = 1, limit = 0;  // find_keys range
  int keynumidx = 0, firstkey = 1;          // find_keys keynum (with keystep)
};
// One search per key argument of `args`, in the grammar's order; `first` is the argv index of
// the first argument (1, or 2 after a subcommand's name).
std::vector<KeySearch> KeySearches(const std::vector<ArgSpec>& args, int first);
// How many key arguments `args` declares (a repeated one counts once).
size_t KeyArguments(const std::vector<ArgSpec>& args);

}  // namespace desaster
