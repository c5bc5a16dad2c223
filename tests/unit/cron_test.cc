#include "server/queue/cron.h"

#include <date/date.h>

#include <catch2/catch.hpp>

using namespace desaster;

namespace {

// ms since the epoch of a UTC civil time.
int64_t Utc(int y, unsigned mo, unsigned d, int h = 0, int mi = 0, int s = 0) {
  using namespace std::chrono;
  auto day = date::sys_days(date::year(y) / date::month(mo) / date::day(d));
  return duration_cast<milliseconds>((day + hours(h) + minutes(mi) + seconds(s)).time_since_epoch())
      .count();
}

int64_t Next(std::string_view expr, int64_t after, std::string_view tz = "") {
  std::string error;
  auto c = CronExpression::Parse(expr, tz, &error);
  INFO(error);
  REQUIRE(c);
  return c->NextAfter(after);
}

}  // namespace

TEST_CASE("cron fields: values, ranges, steps, lists and names") {
  int64_t t = Utc(2026, 11, 30, 10, 7, 30);  // a Monday
  CHECK(Next("* * * * *", t) == Utc(2026, 11, 30, 10, 8));
  CHECK(Next("*/15 * * * *", t) == Utc(2026, 11, 30, 10, 15));
  CHECK(Next("5,50 9-17 * * *", t) == Utc(2026, 11, 30, 10, 50));
  CHECK(Next("0 0 1 JAN *", t) == Utc(2027, 1, 1));
  CHECK(Next("0 12 * * SAT,SUN", t) == Utc(2026, 12, 5, 12));
  CHECK(Next("0 12 * * 7", t) == Utc(2026, 12, 6, 12));
  CHECK(Next("*/10 * * * * *", t) == Utc(2026, 11, 30, 10, 7, 40));  // six fields: seconds
  CHECK(Next("@daily", t) == Utc(2026, 12, 1));
  CHECK(Next("0 0 29 2 *", t) == Utc(2028, 2, 29));
  // Both day fields restricted: either one matches (Vixie cron).
  CHECK(Next("0 0 15 * MON", t) == Utc(2026, 12, 7));
  CHECK(Next("0 0 31 2 *", t) == 0);  // never
}

TEST_CASE("cron in a time zone follows its daylight saving changes") {
  // Europe/Berlin: 2026-03-29 02:00 local does not exist; 2026-10-25 02:30 happens twice.
  int64_t before_spring = Utc(2026, 3, 28, 12);
  CHECK(Next("30 2 * * *", before_spring, "Europe/Berlin") == Utc(2026, 3, 30, 0, 30));
  int64_t before_fall = Utc(2026, 10, 24, 12);
  int64_t first = Next("30 2 * * *", before_fall, "Europe/Berlin");
  CHECK(first == Utc(2026, 10, 25, 0, 30));                                       // 02:30 CEST
  CHECK(Next("30 2 * * *", first, "Europe/Berlin") == Utc(2026, 10, 26, 1, 30));  // not again
  CHECK(Next("0 9 * * *", Utc(2026, 11, 30), "America/New_York") == Utc(2026, 11, 30, 14));
}

TEST_CASE("bad cron expressions and zones are refused with a reason") {
  std::string error;
  CHECK_FALSE(CronExpression::Parse("* * *", "", &error));
  CHECK(error.find("5 fields") != std::string::npos);
  CHECK_FALSE(CronExpression::Parse("61 * * * *", "", &error));
  CHECK(error.find("minute") != std::string::npos);
  CHECK_FALSE(CronExpression::Parse("* * * FOO *", "", &error));
  CHECK_FALSE(CronExpression::Parse("*/0 * * * *", "", &error));
  CHECK_FALSE(CronExpression::Parse("5-1 * * * *", "", &error));
  CHECK_FALSE(CronExpression::Parse("* * * * *", "Mars/Olympus", &error));
  CHECK(error.find("unknown time zone") != std::string::npos);
}
