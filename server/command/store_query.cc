#include "server/command/store_query.h"

#include <unordered_set>

namespace desaster {

std::optional<std::vector<uint64_t>> NamedIds(CommandContext& ctx, size_t first, size_t end,
                                              std::string_view noun) {
  std::vector<uint64_t> ids;
  std::unordered_set<uint64_t> named;
  for (size_t i = first; i < end; i++) {
    uint64_t id;
    if (!ParseJobId(ctx.args[i], &id)) {
      ctx.Error("ERR invalid " + std::string(noun) + " id '" + ctx.args[i] + "'");
      return std::nullopt;
    }
    if (named.insert(id).second) ids.push_back(id);
  }
  return ids;
}

OptionRead ReadPagingOption(CommandContext& ctx, size_t* i, size_t end,
                            std::span<const std::string_view> sorts, RecordPaging* p) {
  if (*i + 1 >= end) return OptionRead::kNone;
  if (ctx.Is(*i, "SORT")) {
    std::string name = Lower(ctx.args[*i + 1]);
    auto it = std::find(sorts.begin(), sorts.end(), name);
    if (it == sorts.end()) {
      std::string list;
      for (size_t k = 0; k < sorts.size(); k++) {
        list += k == 0 ? "" : k + 1 == sorts.size() ? " or " : ", ";
        for (char c : sorts[k]) list += static_cast<char>(toupper(static_cast<unsigned char>(c)));
      }
      ctx.Error("ERR SORT must be " + list);
      return OptionRead::kError;
    }
    p->sort = static_cast<size_t>(it - sorts.begin());
    p->descending = false;
    (*i)++;
    if (*i + 1 < end && (ctx.Is(*i + 1, "ASC") || ctx.Is(*i + 1, "DESC"))) {
      p->descending = ctx.Is(*i + 1, "DESC");
      (*i)++;
    }
    return OptionRead::kRead;
  }
  bool offset = ctx.Is(*i, "OFFSET");
  if (!offset && !ctx.Is(*i, "LIMIT")) return OptionRead::kNone;
  auto n = offset ? ctx.OptionInt(*i, 0) : ctx.OptionInt(*i, 0, 10000);
  if (!n) return OptionRead::kError;
  (offset ? p->offset : p->limit) = static_cast<size_t>(*n);
  (*i)++;
  return OptionRead::kRead;
}

std::optional<std::pair<long long, long long>> ReadRange(CommandContext& ctx, size_t i, size_t end,
                                                         long long max, std::string_view unit) {
  long long lo, hi;
  if (i + 2 >= end || !ParseInt64(ctx.args[i + 1], &lo) || !ParseInt64(ctx.args[i + 2], &hi) ||
      lo < 0 || hi < lo || hi > max) {
    std::string name = ctx.args[i];
    for (char& c : name) c = static_cast<char>(toupper(static_cast<unsigned char>(c)));
    ctx.Error("ERR " + name + " takes min max" + std::string(unit) + " (0 <= min <= max)");
    return std::nullopt;
  }
  return std::pair(lo, hi);
}

}  // namespace desaster
