#include "server/data/notify.h"

namespace desaster {
namespace {

// Each class's letter, in the order CONFIG GET lists them.
constexpr std::pair<char, int> kLetters[] = {
    {'g', event::kGeneric},  {'$', event::kString},  {'l', event::kList},
    {'s', event::kSet},      {'h', event::kHash},    {'z', event::kZSet},
    {'x', event::kExpired},  {'e', event::kEvicted}, {'t', event::kStream},
    {'d', event::kModule},   {'n', event::kNew},     {'K', event::kKeyspace},
    {'E', event::kKeyevent}, {'m', event::kKeyMiss},
};

}  // namespace

std::optional<int> ParseEventClasses(std::string_view letters) {
  int classes = 0;
  for (char c : letters) {
    if (c == 'A') {
      classes |= event::kAll;
      continue;
    }
    int found = 0;
    for (auto [letter, cls] : kLetters) found |= letter == c ? cls : 0;
    if (!found) return std::nullopt;
    classes |= found;
  }
  return classes;
}

std::string EventClassesString(int classes) {
  std::string out;
  bool all = (classes & event::kAll) == event::kAll;
  if (all) out.push_back('A');
  constexpr int kAlwaysListed = event::kKeyspace | event::kKeyevent | event::kKeyMiss;
  for (auto [letter, cls] : kLetters) {
    // With "A", Redis lists only K, E and m after it ("n" too is left out).
    bool listed = !all || (cls & kAlwaysListed);
    if ((classes & cls) && listed) out.push_back(letter);
  }
  return out;
}

}  // namespace desaster
