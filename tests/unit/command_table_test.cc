#include <catch2/catch.hpp>
#include <cstdint>
#include <sstream>
#include <string>
#include <vector>

#include "server/command/registry.h"

using desaster::ArgSpec;
using desaster::CommandRegistry;
using desaster::CommandSpec;

namespace {

// Every command of the table with its subcommands, and how many words name it.
std::vector<std::pair<const CommandSpec*, size_t>> EveryCommand(const CommandRegistry& r) {
  std::vector<std::pair<const CommandSpec*, size_t>> out;
  for (const CommandSpec& c : r.all()) {
    out.emplace_back(&c, 1);
    for (const CommandSpec& sub : c.subcommands) out.emplace_back(&sub, 2);
  }
  return out;
}

}  // namespace

TEST_CASE("every command declares its arguments, and they agree with its arity") {
  CommandRegistry registry;
  RegisterAllCommands(&registry);  // a malformed syntax line throws here
  for (auto [spec, words] : EveryCommand(registry)) {
    INFO(spec->name << ": " << spec->syntax);
    if (spec->handler == nullptr) continue;  // a container of subcommands
    REQUIRE(spec->described);
    size_t least = desaster::MinArgs(spec->args), most = desaster::MaxArgs(spec->args);
    if (spec->arity > 0) {
      CHECK(least == static_cast<size_t>(spec->arity) - words);
      CHECK(most == least);
    } else {
      CHECK(least == static_cast<size_t>(-spec->arity) - words);
      CHECK(most >= least);
    }
  }
}

TEST_CASE("every command that may write says how it uses each of its keys") {
  CommandRegistry registry;
  RegisterAllCommands(&registry);  // a count of flag groups that does not fit throws here
  for (auto [spec, words] : EveryCommand(registry)) {
    INFO(spec->name << ": " << spec->syntax);
    size_t keys = desaster::KeyArguments(spec->args);
    // A read-only command reads its keys (the default); anything else must say.
    if (!spec->Has(desaster::cmd::kReadOnly)) CHECK(spec->key_flags.size() == keys);
    for (const std::string& group : spec->key_flags) {
      INFO(group);
      std::istringstream words(group);
      int access = 0;
      for (std::string w; words >> w;) {
        bool known = w == "RW" || w == "RO" || w == "OW" || w == "RM";
        access += known;
        known |= w == "ACCESS" || w == "UPDATE" || w == "INSERT" || w == "DELETE" ||
                 w == "NOT_KEY" || w == "INCOMPLETE" || w == "VARIABLE_FLAGS";
        CHECK(known);
      }
      CHECK(access == 1);  // exactly one of RW, RO, OW, RM
    }
  }
}

TEST_CASE("key searches follow the grammar: an index, a keyword, a range, a count") {
  using desaster::KeySearches;
  using desaster::ParseArgSyntax;
  auto one = [](std::string_view syntax, int first = 1) {
    auto searches = KeySearches(ParseArgSyntax(syntax), first);
    REQUIRE(searches.size() == 1);
    return searches[0];
  };
  auto blpop = one("key... timeout:double");
  CHECK((blpop.keyword.empty() && blpop.index == 1 && blpop.lastkey == -2 && blpop.keystep == 1));
  auto mset = one("(key value)...");
  CHECK((mset.lastkey == -1 && mset.keystep == 2));
  auto eval = one("script numkeys:integer [key...] [arg...]");
  CHECK((eval.index == 2 && eval.keynum && eval.keynumidx == 0 && eval.firstkey == 1));
  auto xread = one("[COUNT count:integer] [BLOCK ms:integer] STREAMS key... id...");
  CHECK(
      (xread.keyword == "STREAMS" && xread.index == 1 && xread.lastkey == -1 && xread.limit == 2));
  auto object = one("key", 2);  // after a subcommand's name
  CHECK((object.index == 2 && object.lastkey == 0));
  auto copy = KeySearches(ParseArgSyntax("source:key destination:key [REPLACE]"), 1);
  REQUIRE(copy.size() == 2);
  CHECK((copy[0].index == 1 && copy[1].index == 2));
}

TEST_CASE("the argument syntax reads as Redis documents it") {
  auto args = desaster::ParseArgSyntax(
      "key value [NX|XX] [EX seconds:integer|KEEPTTL] [LIMIT offset:integer count:integer] "
      "(field value)...");
  REQUIRE(args.size() == 6);
  CHECK(args[0].type == ArgSpec::Type::kKey);
  CHECK(args[1].type == ArgSpec::Type::kString);
  CHECK(args[2].type == ArgSpec::Type::kOneOf);
  CHECK(args[2].optional);
  CHECK(args[2].children[1].token == "XX");
  CHECK(args[3].children[0].token == "EX");  // "EX seconds" is one argument with a token
  CHECK(args[3].children[0].type == ArgSpec::Type::kInteger);
  CHECK(args[4].type == ArgSpec::Type::kBlock);
  CHECK(args[4].token == "LIMIT");
  CHECK(args[4].children.size() == 2);
  CHECK(args[5].multiple);
  CHECK(desaster::MinArgs(args) == 4);
  CHECK(desaster::MaxArgs(args) == SIZE_MAX);
  CHECK_THROWS(desaster::ParseArgSyntax("key [NX"));
  CHECK_THROWS(desaster::ParseArgSyntax("key count:number"));
  CHECK_THROWS(desaster::ParseArgSyntax("key ]"));
}

TEST_CASE("keys that move are found by the grammar") {
  CommandRegistry registry;
  RegisterAllCommands(&registry);
  auto keys = [&](std::vector<std::string> argv) {
    const CommandSpec* spec = registry.Find(argv[0]);
    std::vector<size_t> positions;
    desaster::FindKeys(spec->args, argv, 1, &positions);
    std::vector<std::string> out;
    for (size_t p : positions) out.push_back(argv[p]);
    return out;
  };
  using V = std::vector<std::string>;
  CHECK(keys({"eval", "return 1", "2", "a", "b", "x"}) == V{"a", "b"});
  CHECK(keys({"eval", "return 1", "0", "x", "y"}).empty());
  CHECK(keys({"zunionstore", "d", "2", "a", "b", "WEIGHTS", "1", "2"}) == V{"d", "a", "b"});
  CHECK(keys({"lmpop", "2", "a", "b", "LEFT", "COUNT", "3"}) == V{"a", "b"});
  CHECK(keys({"blmpop", "0", "1", "a", "RIGHT"}) == V{"a"});
  CHECK(keys({"xread", "COUNT", "2", "STREAMS", "a", "b", "0", "0"}) == V{"a", "b"});
  CHECK(keys({"sintercard", "2", "a", "b", "LIMIT", "1"}) == V{"a", "b"});
  CHECK(keys({"set", "k", "v", "EX", "10"}) == V{"k"});
  CHECK(keys({"mset", "a", "1", "b", "2"}) == V{"a", "b"});
  // A count that does not fit means no keys at all, as Redis answers (not even a destination).
  CHECK(keys({"lmpop", "3", "a", "LEFT"}).empty());
  CHECK(keys({"zunionstore", "d", "x", "a"}).empty());
  // Keys before options that do not follow the grammar are still found, as by Redis' key specs.
  CHECK(keys({"set", "k", "v", "NOSUCHOPTION"}) == V{"k"});
  std::vector<size_t> positions;
  CHECK_FALSE(
      desaster::FindKeys(registry.Find("set")->args, {"set", "k", "v", "BAD"}, 1, &positions));
}
