// SORT and SORT_RO: the elements of a list, set or sorted set, ordered by their own value or by
// other keys' (BY weight_*, BY h_*->field), with the values of other keys fetched for each
// (GET), and optionally stored as a list (STORE), in Redis' rules.
#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <optional>

#include "server/command/context.h"
#include "server/command/lists.h"
#include "server/command/registry.h"

namespace desaster {
namespace {

// What a BY or GET pattern names for `element`: "#" is the element itself; otherwise the first
// '*' is replaced by it, and "key->field" reads a hash field. nullopt when there is no such
// string (or field), or the pattern has no '*'.
std::optional<std::string> Lookup(CommandContext& ctx, std::string_view pattern,
                                  std::string_view element) {
  if (pattern == "#") return std::string(element);
  size_t star = pattern.find('*');
  if (star == std::string_view::npos) return std::nullopt;
  std::string_view field;
  size_t arrow = pattern.find("->", star + 1);
  if (arrow != std::string_view::npos && arrow + 2 < pattern.size()) {
    field = pattern.substr(arrow + 2);
    pattern = pattern.substr(0, arrow);
  }
  std::string key = std::string(pattern.substr(0, star)) + std::string(element) +
                    std::string(pattern.substr(star + 1));
  const Value* v = ctx.db().Find(key);
  if (!v) return std::nullopt;
  if (!field.empty()) {
    if (v->type() != ValueType::kHash) return std::nullopt;
    const std::string* value = v->hash().Find(field);
    return value ? std::optional<std::string>(*value) : std::nullopt;
  }
  if (v->type() != ValueType::kString) return std::nullopt;
  return v->str();
}

struct SortItem {
  std::string element;
  double score = 0;
  std::optional<std::string> by = std::nullopt;  // ALPHA with BY: the value sorted by (none: first)
};

void SortGeneric(CommandContext& ctx, bool read_only) {
  bool desc = false, alpha = false, dont_sort = false;
  long long offset = 0, count = -1;
  const std::string *by = nullptr, *store = nullptr;
  std::vector<const std::string*> gets;
  for (size_t j = 2; j < ctx.args.size(); j++) {
    size_t rest = ctx.args.size() - j - 1;
    if (ctx.Is(j, "ASC")) {
      desc = false;
    } else if (ctx.Is(j, "DESC")) {
      desc = true;
    } else if (ctx.Is(j, "ALPHA")) {
      alpha = true;
    } else if (ctx.Is(j, "LIMIT") && rest >= 2) {
      auto o = ctx.Int(j + 1);
      if (!o) return;
      auto c = ctx.Int(j + 2);
      if (!c) return;
      offset = *o;
      count = *c;
      j += 2;
    } else if (!read_only && ctx.Is(j, "STORE") && rest >= 1) {
      store = &ctx.args[++j];
    } else if (ctx.Is(j, "BY") && rest >= 1) {
      by = &ctx.args[++j];
      dont_sort = by->find('*') == std::string::npos;  // BY nosort: the stored order
    } else if (ctx.Is(j, "GET") && rest >= 1) {
      gets.push_back(&ctx.args[++j]);
    } else {
      return ctx.Error(err::kSyntax);
    }
  }
  const Value* v = ctx.db().Find(ctx.args[1]);
  bool is_list = v && (v->type() == ValueType::kList || v->type() == ValueType::kQueue);
  if (v && !is_list && v->type() != ValueType::kSet && v->type() != ValueType::kZSet) {
    return ctx.Error(err::kWrongType);
  }
  std::vector<SortItem> items;
  if (is_list) {
    for (std::string_view e : ListElements(ctx, ctx.args[1])) items.push_back({std::string(e)});
  } else if (v && v->type() == ValueType::kSet) {
    v->set().ForEach([&](std::string_view m, const Unit&) { items.push_back({std::string(m)}); });
    if (dont_sort && store) {  // a set has no order of its own to store: by value, as Redis
      dont_sort = false;
      alpha = true;
      by = nullptr;
    }
  } else if (v) {
    for (const auto& [score, member] : v->zset()) items.push_back({member});
  }
  // The window LIMIT asks for, clamped as Redis clamps it.
  auto length = static_cast<long long>(items.size());
  long long start = std::clamp(offset, 0LL, length);
  count = std::clamp(count, -1LL, length);
  long long end = count < 0 ? length - 1 : start + count - 1;
  if (start >= length) {
    start = length - 1;
    end = length - 2;
  }
  end = std::min(end, length - 1);
  if (dont_sort) {
    if (desc && v && v->type() != ValueType::kSet) std::reverse(items.begin(), items.end());
  } else {
    bool bad_number = false;
    for (SortItem& item : items) {
      std::optional<std::string> key_value;
      if (by) {
        key_value = Lookup(ctx, *by, item.element);
        if (!key_value) continue;  // no such key: sorts as 0, or first
      }
      const std::string& text = by ? *key_value : item.element;
      if (alpha) {
        if (by) item.by = text;
        continue;
      }
      char* end_ptr = nullptr;
      errno = 0;
      item.score = strtod(text.c_str(), &end_ptr);
      // As Redis reads it: as a C string, so a value is read up to a NUL byte.
      if (*end_ptr != '\0' || errno == ERANGE || std::isnan(item.score)) {
        bad_number = true;
      }
    }
    if (bad_number) return ctx.Error("ERR One or more scores can't be converted into double");
    auto less = [&](const SortItem& a, const SortItem& b) {
      int cmp;
      if (!alpha) {
        cmp = a.score < b.score ? -1 : a.score > b.score ? 1 : a.element.compare(b.element);
      } else if (by) {
        cmp = !a.by || !b.by ? (a.by ? 1 : 0) - (b.by ? 1 : 0) : a.by->compare(*b.by);
      } else {
        cmp = a.element.compare(b.element);
      }
      return desc ? cmp > 0 : cmp < 0;
    };
    std::stable_sort(items.begin(), items.end(), less);
  }
  // The reply: each element, or for each element what its GET patterns name (nil: nothing).
  std::vector<std::optional<std::string>> out;
  for (long long j = start; j <= end; j++) {
    const std::string& element = items[static_cast<size_t>(j)].element;
    if (gets.empty()) out.emplace_back(element);
    for (const std::string* pattern : gets) out.push_back(Lookup(ctx, *pattern, element));
  }
  if (store) {
    std::vector<std::string> list;
    for (auto& o : out) list.push_back(o.value_or(""));  // a stored list has no nils
    ctx.StoreResult(event::kList, "sortstore", *store, list.empty(),
                    [&] { RightPushAll(ctx, *store, list); });
    return ctx.reply.Integer(static_cast<long long>(list.size()));
  }
  ctx.reply.Array(out.size());
  for (const auto& o : out) ctx.reply.BulkOrNull(o ? &*o : nullptr);
}

void Sort(CommandContext& ctx) { SortGeneric(ctx, false); }
void SortRo(CommandContext& ctx) { SortGeneric(ctx, true); }

}  // namespace

void RegisterSortCommands(CommandRegistry* r) {
  using namespace cmd;
  r->Group("generic")
      .Add("sort", -2, kWrite | kDenyOom, {1, 1, 1}, Sort,
           "Sort a list, set or sorted set, by its elements or by other keys")
      .Args(
          "key [BY pattern:pattern] [LIMIT offset:integer count:integer] [GET pattern:pattern]... "
          "[ASC|DESC] [ALPHA] [STORE destination:key]")
      .Keys("RO ACCESS | OW UPDATE")
      .Categories("set sortedset list dangerous")
      .Add("sort_ro", -2, kReadOnly, {1, 1, 1}, SortRo, "SORT without STORE")
      .Args(
          "key [BY pattern:pattern] [LIMIT offset:integer count:integer] [GET pattern:pattern]... "
          "[ASC|DESC] [ALPHA]")
      .Categories("set sortedset list dangerous");
}

}  // namespace desaster
