#include "compat/failures.h"

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <nlohmann/json.hpp>

namespace desaster {

using nlohmann::json;

namespace {

// resque's failed_at: "2026/11/30 03:40:00 UTC" (Time#strftime "%Y/%m/%d %H:%M:%S %Z"). A zone
// abbreviation other than UTC/GMT is ambiguous ("CST"); a numeric offset ("+0100") is not.
std::optional<int64_t> ParseFailedAt(const std::string& text) {
  int y, mo, d, h, mi, s;
  char zone[16] = {};
  if (std::sscanf(text.c_str(), "%d/%d/%d %d:%d:%d %15s", &y, &mo, &d, &h, &mi, &s, zone) != 7) {
    return std::nullopt;
  }
  std::string_view z(zone);
  int offset_s = 0;
  if (z.size() == 5 && (z[0] == '+' || z[0] == '-') &&
      std::all_of(z.begin() + 1, z.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    offset_s = ((z[1] - '0') * 10 + (z[2] - '0')) * 3600 + ((z[3] - '0') * 10 + (z[4] - '0')) * 60;
    if (z[0] == '-') offset_s = -offset_s;
  } else if (z != "UTC" && z != "GMT" && z != "Z") {
    return std::nullopt;
  }
  std::tm tm{};
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = s;
  time_t t = timegm(&tm);
  if (t == -1 || mo < 1 || mo > 12 || d < 1 || d > 31) return std::nullopt;
  return (static_cast<int64_t>(t) - offset_s) * 1000;
}

}  // namespace

std::optional<Failure> ParseResqueFailure(std::string_view entry, const Dialect& dialect,
                                          int64_t now_ms, bool keep_failed_at) {
  json j = json::parse(entry, nullptr, false);
  if (!j.is_object() || !j.contains("payload") || !j["payload"].is_object()) return std::nullopt;
  auto text = [&](const char* field) {
    auto it = j.find(field);
    return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  Failure f;
  const json& payload = j["payload"];
  f.payload = JsonField(entry, "payload").value_or(payload.dump());
  if (auto c = payload.find("class"); c != payload.end() && c->is_string()) f.klass = *c;
  if (auto a = payload.find("args"); a != payload.end()) f.args = a->dump();
  std::string queue = text("queue");
  f.queue = dialect.queue_prefix + queue;
  f.error_class = text("exception");
  f.message = text("error");
  f.worker = text("worker");
  if (auto bt = j.find("backtrace"); bt != j.end() && bt->is_array()) {
    for (const auto& frame : *bt) {
      if (!frame.is_string()) continue;
      if (!f.backtrace.empty()) f.backtrace += '\n';
      f.backtrace += frame.get<std::string>();
    }
  }
  // resque's failed_at is a local-time string; the server's clock is the one every other time
  // it shows comes from, except for failures imported from elsewhere.
  f.failed_at_ms = now_ms;
  if (keep_failed_at) f.failed_at_ms = ParseFailedAt(text("failed_at")).value_or(now_ms);
  uint32_t retries = 0;
  if (auto rc = payload.find("retry_count"); rc != payload.end() && rc->is_number_unsigned()) {
    retries = rc->get<uint32_t>();
  }
  f.attempt = retries + 1;
  return f;
}

std::string WithoutRetryCount(std::string_view payload) {
  if (payload.find("\"retry_count\"") == std::string_view::npos) return std::string(payload);
  json j = json::parse(payload, nullptr, false);
  if (!j.is_object()) return std::string(payload);
  j.erase("retry_count");
  return j.dump();
}

std::optional<uint32_t> PayloadMaxAttempts(std::string_view payload) {
  json j = json::parse(payload, nullptr, false);
  if (!j.is_object()) return std::nullopt;
  auto it = j.find("retry");
  if (it == j.end()) return std::nullopt;
  if (it->is_boolean()) return it->get<bool>() ? std::nullopt : std::optional<uint32_t>(1);
  if (it->is_number_unsigned()) return it->get<uint32_t>() + 1;
  return std::nullopt;
}

}  // namespace desaster
