#include "server/queue/cron.h"

#include <date/tz.h>

#include <array>
#include <cctype>
#include <vector>

namespace desaster {
namespace {

using namespace std::chrono;

std::vector<std::string_view> Split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  while (true) {
    size_t at = s.find(sep);
    out.push_back(s.substr(0, at));
    if (at == std::string_view::npos) return out;
    s.remove_prefix(at + 1);
  }
}

struct FieldSpec {
  const char* name;
  int min, max;
  std::vector<std::string_view> names;  // names[i] means min + i
};

bool ParseValue(std::string_view s, const FieldSpec& f, int* out) {
  for (size_t i = 0; i < f.names.size(); i++) {
    if (s.size() == 3 && std::equal(s.begin(), s.end(), f.names[i].begin(),
                                    [](char a, char b) { return std::toupper(a) == b; })) {
      return *out = f.min + static_cast<int>(i), true;
    }
  }
  if (s.empty() || s.size() > 2) return false;
  int v = 0;
  for (char c : s) {
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
    v = v * 10 + (c - '0');
  }
  *out = v;
  return v >= f.min && v <= f.max;
}

// One field into `bits`; *any says whether it was "*" (for the two day fields).
template <size_t N>
bool ParseField(std::string_view text, const FieldSpec& f, std::bitset<N>* bits, bool* any,
                std::string* error) {
  *any = text == "*" || text == "?";
  for (std::string_view part : Split(text, ',')) {
    int step = 1;
    if (size_t slash = part.find('/'); slash != std::string_view::npos) {
      FieldSpec steps{f.name, 1, f.max + 1, {}};
      if (!ParseValue(part.substr(slash + 1), steps, &step)) {
        *error = std::string("bad step in the ") + f.name + " field: '" + std::string(part) + "'";
        return false;
      }
      part = part.substr(0, slash);
    }
    int lo = f.min, hi = f.max;
    if (part != "*" && part != "?") {
      size_t dash = part.find('-');
      bool ok = ParseValue(part.substr(0, dash), f, &lo);
      if (ok && dash != std::string_view::npos) {
        ok = ParseValue(part.substr(dash + 1), f, &hi) && lo <= hi;
      } else if (ok && step == 1) {
        hi = lo;
      }
      if (!ok) {
        *error = std::string("bad value in the ") + f.name + " field: '" + std::string(part) +
                 "' (allowed " + std::to_string(f.min) + "-" + std::to_string(f.max) + ")";
        return false;
      }
    }
    for (int v = lo; v <= hi; v += step) bits->set(static_cast<size_t>(v % static_cast<int>(N)));
  }
  return true;
}

}  // namespace

std::optional<CronExpression> CronExpression::Parse(std::string_view expr, std::string_view tz,
                                                    std::string* error) {
  static const std::array<std::pair<std::string_view, std::string_view>, 6> kMacros = {{
      {"@yearly", "0 0 1 1 *"},
      {"@annually", "0 0 1 1 *"},
      {"@monthly", "0 0 1 * *"},
      {"@weekly", "0 0 * * 0"},
      {"@daily", "0 0 * * *"},
      {"@hourly", "0 * * * *"},
  }};
  for (const auto& [macro, expansion] : kMacros) {
    if (expr == macro) expr = expansion;
  }
  std::vector<std::string_view> fields;
  for (std::string_view f : Split(expr, ' ')) {
    if (!f.empty()) fields.push_back(f);
  }
  if (fields.size() == 5) fields.insert(fields.begin(), "0");
  if (fields.size() != 6) {
    *error =
        "a cron expression has 5 fields (min hour day month weekday), 6 with seconds "
        "first, or is @hourly/@daily/@weekly/@monthly/@yearly";
    return std::nullopt;
  }
  static const FieldSpec kSecond{"second", 0, 59, {}}, kMinute{"minute", 0, 59, {}},
      kHour{"hour", 0, 23, {}}, kDay{"day-of-month", 1, 31, {}},
      kMonth{"month",
             1,
             12,
             {"JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"}},
      kWeekday{"day-of-week", 0, 7, {"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"}};
  CronExpression c;
  bool any;
  if (!ParseField(fields[0], kSecond, &c.seconds_, &any, error) ||
      !ParseField(fields[1], kMinute, &c.minutes_, &any, error) ||
      !ParseField(fields[2], kHour, &c.hours_, &any, error) ||
      !ParseField(fields[3], kDay, &c.days_, &c.any_day_, error) ||
      !ParseField(fields[4], kMonth, &c.months_, &any, error) ||
      !ParseField(fields[5], kWeekday, &c.weekdays_, &c.any_weekday_, error)) {
    return std::nullopt;
  }
  if (!tz.empty() && tz != "UTC") {
    try {
      c.zone_ = date::locate_zone(tz);
    } catch (const std::exception&) {
      *error = "unknown time zone '" + std::string(tz) + "' (an IANA name like Europe/Berlin)";
      return std::nullopt;
    }
  }
  return c;
}

int64_t CronExpression::NextAfter(int64_t after_ms) const {
  using date::days;
  sys_seconds after{seconds(after_ms >= 0 ? after_ms / 1000 : (after_ms - 999) / 1000)};
  auto to_local = [&](sys_seconds t) {
    return zone_ ? zone_->to_local(t) : date::local_seconds(t.time_since_epoch());
  };
  date::local_seconds t = to_local(after) + seconds(1);
  date::local_seconds end = t + days(5 * 366);
  while (t < end) {
    date::local_days day = floor<days>(t);
    date::year_month_day ymd(day);
    auto tod = t - day;
    unsigned month = static_cast<unsigned>(ymd.month());
    if (!months_[month]) {
      date::year_month next = date::year_month(ymd.year(), ymd.month()) + date::months(1);
      t = date::local_days(next / 1);
      continue;
    }
    bool dom = days_[static_cast<unsigned>(ymd.day())];
    bool dow = weekdays_[date::weekday(day).c_encoding()];
    bool day_ok = any_day_ && any_weekday_ ? true
                  : any_day_               ? dow
                  : any_weekday_           ? dom
                                           : dom || dow;
    if (!day_ok) {
      t = day + days(1);
      continue;
    }
    auto h = floor<hours>(tod);
    if (!hours_[static_cast<size_t>(h.count())]) {
      t = day + h + hours(1);
      continue;
    }
    auto m = floor<minutes>(tod - h);
    if (!minutes_[static_cast<size_t>(m.count())]) {
      t = day + h + m + minutes(1);
      continue;
    }
    auto s = duration_cast<seconds>(tod - h - m);
    if (!seconds_[static_cast<size_t>(s.count())]) {
      t += seconds(1);
      continue;
    }
    sys_seconds when;
    if (zone_) {
      date::local_info info = zone_->get_info(t);
      if (info.result == date::local_info::nonexistent) {
        t += seconds(1);
        continue;
      }
      when = sys_seconds(t.time_since_epoch()) - info.first.offset;
    } else {
      when = sys_seconds(t.time_since_epoch());
    }
    if (when > after) return duration_cast<milliseconds>(when.time_since_epoch()).count();
    t += seconds(1);
  }
  return 0;
}

}  // namespace desaster
