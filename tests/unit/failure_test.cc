#include "server/queue/failure.h"

#include <catch2/catch.hpp>

#include "compat/failures.h"

using namespace desaster;

TEST_CASE("messages normalise what varies between occurrences") {
  CHECK(NormalizeMessage("User 42 not found") == "User N not found");
  CHECK(NormalizeMessage("invoice 17 has no customer") ==
        NormalizeMessage("invoice 9 has no customer"));
  CHECK(NormalizeMessage("key 'abc' missing") == "key '?' missing");
  CHECK(NormalizeMessage("id 5f3a9c timed out") == "id N timed out");
  CHECK(NormalizeMessage("Couldn't find User with 'id'=42") ==
        NormalizeMessage("Couldn't find User with 'id'=7"));
}

TEST_CASE("failures of one error share a fingerprint; others do not") {
  Failure a;
  a.queue = "q";
  a.klass = "Job";
  a.error_class = "E";
  a.message = "row 1 locked";
  Failure b = a;
  b.message = "row 99 locked";
  Failure c = a;
  c.error_class = "Other";
  CHECK(a.Fingerprint() == b.Fingerprint());
  CHECK(a.Fingerprint() != c.Fingerprint());
}

TEST_CASE("failure records round trip") {
  Failure f;
  f.queue = "resque:queue:q";
  f.payload = R"({"class":"J"})";
  f.klass = "J";
  f.args = "[1]";
  f.error_class = "E";
  f.message = "m";
  f.backtrace = "a:1\nb:2";
  f.worker = "w";
  f.started_at_ms = 100;
  f.failed_at_ms = 123;
  f.attempt = 3;
  f.state = FailureState::kRetrying;
  f.retry_job = 77;
  f.retry_at_ms = 456;
  f.job = 77;
  Failure earlier = f;
  earlier.attempt = 2;
  earlier.error_class = "Timeout";
  earlier.started_at_ms = 50;
  f.Follow(std::move(earlier));
  REQUIRE(f.history.size() == 1);
  CHECK((f.history[0].attempt == 2 && f.history[0].error_class == "Timeout" &&
         f.history[0].started_at_ms == 50));
  Failure g;
  REQUIRE(Failure::Decode(f.Encode(), &g));
  CHECK(g.Encode() == f.Encode());
  CHECK((g.history.size() == 1 && g.history[0].started_at_ms == 50 && g.started_at_ms == 100));
  CHECK_FALSE(Failure::Decode(f.Encode().substr(0, 10), &g));
  // Records of version 2 (before start times) and 1 (before histories) still load: each is
  // the newer encoding without what that version added (an unknown start time, 0, is one
  // byte; so is an empty history's count).
  Failure plain = f;
  plain.history.clear();
  plain.started_at_ms = 0;
  std::string v2 = plain.Encode();
  v2[0] = 2;
  v2.pop_back();
  REQUIRE(Failure::Decode(v2, &g));
  CHECK((g.history.empty() && g.started_at_ms == 0 && g.job == 77 && g.attempt == 3));
  std::string v1 = v2;
  v1[0] = 1;
  v1.pop_back();
  REQUIRE(Failure::Decode(v1, &g));
  CHECK((g.history.empty() && g.job == 77 && g.attempt == 3));
}

TEST_CASE("a job's failures share one key: its id, or for resque's reports queue and payload") {
  Failure native;
  native.queue = "q";
  native.payload = "p";
  native.job = 5;
  Failure reported = native;
  reported.job = 0;
  Failure other = reported;
  other.payload = "p ";
  CHECK(native.JobKey() != reported.JobKey());
  CHECK(reported.JobKey() != other.JobKey());
  Failure again = native;
  again.payload = "changed";
  CHECK(again.JobKey() == native.JobKey());
}

TEST_CASE("retry policies: polynomial, exponential and fixed backoff") {
  std::mt19937_64 rng(1);
  RetryPolicy poly;
  for (uint32_t attempt : {1u, 2u, 5u, 25u}) {
    double n = attempt - 1;
    int64_t d = poly.DelayMs(attempt, rng);
    CHECK(d >= static_cast<int64_t>((n * n * n * n + 15) * 1000));
    CHECK(d <= static_cast<int64_t>((n * n * n * n + 15 + 9 * (n + 1)) * 1000));
  }
  RetryPolicy exp;
  REQUIRE(exp.ParseBackoff("exp"));
  CHECK(exp.DelayMs(1, rng) >= 16000);
  CHECK(exp.DelayMs(11, rng) >= (15 + 1024) * 1000);
  RetryPolicy fixed;
  REQUIRE(fixed.ParseBackoff("0.25"));
  CHECK(fixed.DelayMs(7, rng) == 250);
  CHECK(fixed.BackoffName() == "0.25");
  CHECK_FALSE(fixed.ParseBackoff("soon"));
  CHECK_FALSE(fixed.ParseBackoff("-1"));
}

TEST_CASE("resque failure entries parse, keeping the payload's bytes; payloads carry a limit") {
  std::string error;
  auto dialects = Dialects::Default();
  const Dialect* resque = dialects.MatchFailedList("resque:failed");
  REQUIRE(resque);
  auto f = ParseResqueFailure(
      R"({"failed_at":"2026/11/30 03:40:00 UTC","payload":{"class":"Mailer","args":[7],"retry_count":2},)"
      R"("exception":"Net::ReadTimeout","error":"timed out","backtrace":["a.rb:1","b.rb:2"],)"
      R"("worker":"host:1:mail","queue":"mail"})",
      *resque, 1000);
  REQUIRE(f);
  CHECK(f->queue == "resque:queue:mail");
  CHECK(f->klass == "Mailer");
  CHECK(f->args == "[7]");
  CHECK(f->attempt == 3);  // an older server's "retry_count" still counts
  CHECK(f->backtrace == "a.rb:1\nb.rb:2");
  // Resque.encode's key order and spacing, not a re-encoding's: a retry pushes these bytes.
  auto exact = ParseResqueFailure(
      R"({"payload":{ "class":"Zed", "args":[1, {"b":2,"a":1}] },"exception":"E","queue":"q"})",
      *resque, 0);
  REQUIRE(exact);
  CHECK(exact->payload == R"({ "class":"Zed", "args":[1, {"b":2,"a":1}] })");
  CHECK(exact->attempt == 1);
  CHECK_FALSE(ParseResqueFailure("not json", *resque, 0));
  CHECK_FALSE(ParseResqueFailure(R"({"payload":"x"})", *resque, 0));
  CHECK(WithoutRetryCount(R"({"class":"A","retry_count":4})") == R"({"class":"A"})");
  CHECK(WithoutRetryCount("plain retry_count") == "plain retry_count");
  CHECK(PayloadMaxAttempts(R"({"retry":false})") == 1u);
  CHECK(PayloadMaxAttempts(R"({"retry":3})") == 4u);
  CHECK_FALSE(PayloadMaxAttempts(R"({"class":"A"})"));
}

TEST_CASE("times as client libraries write them") {
  const int64_t t = 1796010000000;                          // 2026-11-30 03:40:00 UTC
  CHECK(ParseLibraryTime("2026/11/30 03:40:00 UTC") == t);  // resque's failed_at
  CHECK(ParseLibraryTime("2026-11-30T03:40:00Z") == t);
  CHECK(ParseLibraryTime("2026-11-30T04:40:00+01:00") == t);  // Time#iso8601 (resque heartbeats)
  CHECK(ParseLibraryTime("2026-11-30 01:40:00 -0200") == t);  // Time#to_s
  CHECK(ParseLibraryTime("2026-11-30T03:40:00.250+00:00") == t + 250);
  CHECK_FALSE(ParseLibraryTime("2026/11/30 03:40:00 CET"));  // a zone name is ambiguous
  CHECK_FALSE(ParseLibraryTime("2026-13-30T03:40:00Z"));
  CHECK_FALSE(ParseLibraryTime("2026-11-30T03:40Z"));
  CHECK_FALSE(ParseLibraryTime("2026-11-30T03:40:00+01:00 trailing"));
  CHECK_FALSE(ParseLibraryTime(""));
  auto dialects = Dialects::Default();
  const std::string entry =
      R"({"failed_at":"2026/11/30 03:40:00 UTC","payload":{"class":"A","args":[]},"queue":"q"})";
  // An imported failure keeps its own time; a failure reported now happens now.
  CHECK(ParseResqueFailure(entry, *dialects.MatchFailedList("resque:failed"), 5, true)
            ->failed_at_ms == t);
  CHECK(ParseResqueFailure(entry, *dialects.MatchFailedList("resque:failed"), 5)->failed_at_ms ==
        5);
}

TEST_CASE("a JSON value's digest is the same however it is written") {
  auto digest = [](std::string_view json) { return JsonDigest(json); };
  // What node-resque's Lua script writes back (cjson): members in another order, "/" escaped.
  CHECK(digest(R"({"class":"add","queue":"q","args":[1,"a/b"]})") ==
        digest(R"({"queue":"q","args":[1,"a\/b"],"class":"add"})"));
  CHECK(digest("[1, 2.0, 3e0, -0]") == digest("[1,2,3,0]"));
  CHECK(digest(R"({"a": {"b": [true, null]}})") == digest(R"({"a":{"b":[true,null]}})"));
  // Different values differ: array order, member values, nesting, types.
  CHECK(digest("[1,2]") != digest("[2,1]"));
  CHECK(digest(R"({"a":1,"b":2})") != digest(R"({"a":2,"b":1})"));
  CHECK(digest(R"({"a":[1]})") != digest(R"({"a":1})"));
  CHECK(digest(R"("1")") != digest("1"));
  CHECK(digest("true") != digest("1"));
  CHECK(digest("{}") != digest("[]"));
  // Not JSON, or deeper than the parser goes.
  CHECK_FALSE(digest("{\"a\":"));
  CHECK_FALSE(digest(""));
  CHECK_FALSE(digest(std::string(5000, '[') + std::string(5000, ']')));
}
