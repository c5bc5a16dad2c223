// Cron expressions for recurring schedules, evaluated in a time zone.
#pragma once

#include <bitset>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace date {
class time_zone;
}

namespace desaster {

class CronExpression {
 public:
  // "min hour day-of-month month day-of-week", or six fields with seconds first, or one of
  // @yearly @monthly @weekly @daily @hourly. Fields take *, n, a-b, */s, a-b/s and lists;
  // months and weekdays also names (JAN, MON); 0 and 7 are Sunday. When both day fields are
  // restricted a day matching either runs, as in Vixie cron. `tz` is an IANA zone ("" = UTC).
  static std::optional<CronExpression> Parse(std::string_view expr, std::string_view tz,
                                             std::string* error);

  // The first fire time strictly after `after_ms` (ms since the epoch), or 0 when none comes
  // within five years. Local times a DST change skips do not fire; repeated ones fire once.
  int64_t NextAfter(int64_t after_ms) const;

 private:
  std::bitset<60> seconds_, minutes_;
  std::bitset<24> hours_;
  std::bitset<32> days_;     // 1..31
  std::bitset<13> months_;   // 1..12
  std::bitset<7> weekdays_;  // 0 = Sunday
  bool any_day_ = true, any_weekday_ = true;
  const date::time_zone* zone_ = nullptr;  // nullptr: UTC
};

}  // namespace desaster
