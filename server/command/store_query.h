// Listing and acting on a store's records (the failed and the completed store): the SORT, OFFSET
// and LIMIT options and the page they select, and the records an action names.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "server/command/context.h"

namespace desaster {

struct RecordPaging {
  size_t sort = 0;         // index into the command's sort names; 0 is its default order
  bool descending = true;  // without SORT: newest first; with SORT: ascending unless DESC
  size_t offset = 0;
  size_t limit = 100;
};

// Reads the paging option at args[*i] ("SORT name [ASC|DESC]", "OFFSET n", "LIMIT n", names
// from `sorts`, lower case) into *p and leaves *i at its last argument. kNone: args[*i] is no
// paging option; kError: the error is replied.
enum class OptionRead { kNone, kRead, kError };
OptionRead ReadPagingOption(CommandContext& ctx, size_t* i, size_t end,
                            std::span<const std::string_view> sorts, RecordPaging* p);

// Reads a list command's options from args[first] on: SORT, OFFSET and LIMIT into *paging
// (unless it is nullptr: a bulk action takes no paging), the rest through `filter(i)`. A filter
// reads args[i] and its value args[i + 1] (one taking more values advances i past the extra
// ones) and returns kNone for an option it does not know, kError after replying an error.
// False after replying an error (an unknown option, one without its value).
template <class Filter>
bool ReadStoreOptions(CommandContext& ctx, size_t first, std::span<const std::string_view> sorts,
                      RecordPaging* paging, Filter filter) {
  size_t end = ctx.args.size();
  for (size_t i = first; i < end; i++) {
    if (i + 1 >= end) return ctx.Error(err::kSyntax), false;
    OptionRead read = paging ? ReadPagingOption(ctx, &i, end, sorts, paging) : OptionRead::kNone;
    if (read == OptionRead::kNone) {
      read = filter(i);
      if (read == OptionRead::kNone) {
        return ctx.Error("ERR unknown option '" + ctx.args[i] + "'"), false;
      }
      i++;  // past its value (ReadPagingOption leaves i at the last argument it took)
    }
    if (read == OptionRead::kError) return false;
  }
  return true;
}

// The "NAME min max" option at args[i] (0 <= min <= max <= `max`), or nullopt after replying
// "ERR NAME takes min max<unit> (0 <= min <= max)".
std::optional<std::pair<long long, long long>> ReadRange(CommandContext& ctx, size_t i, size_t end,
                                                         long long max, std::string_view unit = "");

// The page `p` selects of `rows` ordered by `key` (a value with operator<), ascending or not.
template <class Row, class Key>
std::vector<Row> SortedPage(std::vector<Row> rows, const RecordPaging& p, Key key) {
  if (p.offset >= rows.size()) return {};
  size_t end = std::min(rows.size(), p.offset + std::min(p.limit, rows.size()));
  auto middle = rows.begin() + static_cast<ptrdiff_t>(end);
  std::partial_sort(rows.begin(), middle, rows.end(), [&](const Row& x, const Row& y) {
    return p.descending ? key(y) < key(x) : key(x) < key(y);
  });
  return std::vector<Row>(rows.begin() + static_cast<ptrdiff_t>(p.offset), middle);
}

// The page `p` selects of records already in order (oldest first), walked from the end it
// starts at: no sort, no copy of the rest.
template <class Row, class Range, class Get>
std::vector<Row> WalkPage(const Range& ordered, const RecordPaging& p, Get get) {
  std::vector<Row> page;
  auto take = [&](auto it, auto end) {
    for (size_t skip = p.offset; it != end && page.size() < p.limit; ++it) {
      if (skip > 0) {
        skip--;
        continue;
      }
      page.push_back(get(*it));
    }
  };
  p.descending ? take(ordered.rbegin(), ordered.rend()) : take(ordered.begin(), ordered.end());
  return page;
}

// The ids in args[first, end), each once however often it is named (a record the first mention
// removes would be read again under the second). nullopt, with the error replied, when one is
// not an id: the message names it as a `noun` id.
std::optional<std::vector<uint64_t>> NamedIds(CommandContext& ctx, size_t first, size_t end,
                                              std::string_view noun);

// The records an action applies to, from args[1] on: "WHERE filters", the ids `where` returns,
// or "id [id ...]" (NamedIds): each id whose record `queue_of` finds (its queue key; nullptr:
// none) in a queue the user may write; unknown ids are skipped.
template <class QueueOf, class Where>
std::optional<std::vector<uint64_t>> RecordTargets(CommandContext& ctx, std::string_view noun,
                                                   QueueOf queue_of, Where where) {
  if (ctx.Is(1, "WHERE")) return where();
  auto named = NamedIds(ctx, 1, ctx.args.size(), noun);
  if (!named) return std::nullopt;
  std::vector<uint64_t> ids;
  for (uint64_t id : *named) {
    const std::string* queue = queue_of(id);
    if (queue && ctx.MayAccess(*queue, true)) ids.push_back(id);
  }
  return ids;
}

}  // namespace desaster
