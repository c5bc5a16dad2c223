#include "server/command/store_query.h"

namespace desaster {

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
