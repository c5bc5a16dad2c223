#include "compat/failures.h"

#include <nlohmann/json.hpp>

namespace desaster {

using nlohmann::json;

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
  if (keep_failed_at) f.failed_at_ms = ParseLibraryTime(text("failed_at")).value_or(now_ms);
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
