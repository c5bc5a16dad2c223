// A sorted set: member -> score lookups in a Dict, and an order-statistics tree over
// (score, member) for O(log n) rank, range-by-score and range-by-lex queries.
#pragma once

#include <ext/pb_ds/assoc_container.hpp>
#include <ext/pb_ds/tree_policy.hpp>
#include <string>
#include <string_view>
#include <utility>

#include "server/data/dict.h"

namespace desaster {

class ZSet {
 public:
  using Entry = std::pair<double, std::string>;
  using Index =
      __gnu_pbds::tree<Entry, __gnu_pbds::null_type, std::less<Entry>, __gnu_pbds::rb_tree_tag,
                       __gnu_pbds::tree_order_statistics_node_update>;
  using Iterator = Index::const_iterator;

  size_t size() const { return scores_.size(); }
  const double* Score(std::string_view member) const { return scores_.Find(member); }

  // Inserts `member` or moves it to `score`.
  void Set(std::string_view member, double score) {
    bool inserted;
    double* s = scores_.Insert(member, &inserted);
    if (!inserted) {
      if (*s == score) return;
      index_.erase(Entry(*s, std::string(member)));
    }
    *s = score;
    index_.insert(Entry(score, std::string(member)));
  }

  bool Erase(std::string_view member) {
    const double* s = scores_.Find(member);
    if (!s) return false;
    index_.erase(Entry(*s, std::string(member)));
    scores_.Erase(member);
    return true;
  }

  // 0-based position of an existing member in ascending order.
  size_t Rank(std::string_view member, double score) const {
    return index_.order_of_key(Entry(score, std::string(member)));
  }
  Iterator AtRank(size_t rank) const { return index_.find_by_order(rank); }
  Iterator begin() const { return index_.begin(); }
  Iterator end() const { return index_.end(); }
  // First entry with score >= min (or > min when `exclusive`).
  Iterator FirstAtOrAfter(double min, bool exclusive) const {
    auto it = index_.lower_bound(Entry(min, std::string()));
    if (exclusive) {
      while (it != index_.end() && it->first == min) ++it;
    }
    return it;
  }
  // First entry whose member is >= `member` (or > when `exclusive`); assumes equal scores, as
  // Redis' lex commands do.
  Iterator FirstLexAtOrAfter(std::string_view member, bool exclusive) const {
    if (index_.empty()) return index_.end();
    double score = index_.begin()->first;
    auto it = index_.lower_bound(Entry(score, std::string(member)));
    if (exclusive && it != index_.end() && it->second == member) ++it;
    return it;
  }
  const Dict<double>& scores() const { return scores_; }

 private:
  Dict<double> scores_;
  Index index_;
};

}  // namespace desaster
