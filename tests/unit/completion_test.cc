#include "server/queue/completion.h"

#include <catch2/catch.hpp>

#include "compat/redact.h"

using namespace desaster;

TEST_CASE("completion records round trip, and damaged ones are refused") {
  Completion c;
  c.job = 42;
  c.queue = "mail";
  c.payload = R"({"class":"Mailer","args":[1]})";
  c.klass = "Mailer";
  c.worker = "box-1";
  c.result = "sent";
  c.enqueued_ms = -5;  // signed: a clock before the epoch survives too
  c.started_ms = 1000;
  c.finished_ms = 1250;
  c.attempt = 3;
  c.redacted = true;
  Completion d;
  REQUIRE(Completion::Decode(c.Encode(), &d));
  CHECK(d.Encode() == c.Encode());
  CHECK((d.job == 0 && d.duration_ms() == 250 && d.redacted && d.enqueued_ms == -5));
  std::string record = c.Encode();
  for (size_t n = 0; n < record.size(); n++)
    CHECK_FALSE(Completion::Decode(record.substr(0, n), &d));
  CHECK_FALSE(Completion::Decode(record + "x", &d));
  // A version 1 record, which kept the arguments after the class, still loads.
  std::string v1 = record;
  v1[0] = 1;
  size_t after_class = 1 + 1 + c.queue.size() + 1 + c.payload.size() + 1 + c.klass.size();
  v1.insert(after_class, std::string("\x03[1]"));
  REQUIRE(Completion::Decode(v1, &d));
  CHECK(d.Encode() == c.Encode());
  std::string newer = record;
  newer[0] = 3;
  CHECK_FALSE(Completion::Decode(newer, &d));
  std::string flags = record;
  flags.back() = 7;  // the flags: only "redacted" is known
  CHECK_FALSE(Completion::Decode(flags, &d));
}

TEST_CASE("secrets are redacted by the names they are given under") {
  Redactor r(" Password, token ,,");
  bool changed;
  CHECK(r.Redact(R"({"user":"ann","PassWord":"x","nested":[{"api_token":{"a":1}}],"n":2})",
                 &changed) ==
        R"({"user":"ann","PassWord":"[REDACTED]","nested":[{"api_token":"[REDACTED]"}],"n":2})");
  CHECK(changed);
  // Nothing secret: the text stays byte for byte (no re-serialised JSON).
  std::string plain = R"({ "user" : "ann",  "n": 1.50 })";
  CHECK(r.Redact(plain, &changed) == plain);
  CHECK_FALSE(changed);
  // Member names and strings with quotes and control characters are written back escaped.
  CHECK(r.Redact("{\"a\\\"b\":\"x\\ny\",\"token\":1}", &changed) ==
        "{\"a\\\"b\":\"x\\ny\",\"token\":\"[REDACTED]\"}");
  // Text: what follows a secret name and = or : up to a space, quote, comma, semicolon or &.
  CHECK(r.Redact("login password=hunter2 user=ann; token: 'a b' x", &changed) ==
        "login password=[REDACTED] user=ann; token: '[REDACTED]' x");
  CHECK(r.Redact("GET /?access_token=abc&x=1", &changed) == "GET /?access_token=[REDACTED]&x=1");
  CHECK(r.Redact("password= ", &changed) == "password= ");  // nothing to take out
  CHECK_FALSE(changed);
  CHECK(r.Redact("a password: \"unterminated", &changed) == "a password: \"[REDACTED]");
  // Too deep for the JSON parser: redacted as text, not a crash.
  std::string deep = std::string(5000, '[') + "\"password=p\"" + std::string(5000, ']');
  CHECK(r.Redact(deep, &changed).find("password=[REDACTED]") != std::string::npos);
  CHECK(changed);
  // No words: nothing is secret.
  Redactor none("");
  CHECK_FALSE(none.enabled());
  CHECK(none.Redact("password=x", &changed) == "password=x");
  CHECK_FALSE(changed);
}
