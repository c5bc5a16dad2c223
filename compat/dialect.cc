#include "compat/dialect.h"

#include <simdjson.h>

#include <cctype>
#include <cstring>
#include <ctime>
#include <functional>

#include "server/queue/mix.h"

namespace desaster {

namespace {

// Parses `json` as an object with one reused parser and padded buffer (the server is one
// thread); false when it is not one.
bool ParseObject(std::string_view json, simdjson::ondemand::document* doc,
                 simdjson::ondemand::object* obj) {
  if (json.empty() || json.front() != '{') return false;
  static simdjson::ondemand::parser parser;
  static std::string buffer;
  buffer.assign(json);
  buffer.resize(json.size() + simdjson::SIMDJSON_PADDING);
  return !parser.iterate(buffer.data(), json.size(), buffer.size()).get(*doc) &&
         !doc->get_object().get(*obj);
}

uint64_t Mix(uint64_t h, uint64_t v) { return MixBits(MixBits(h) ^ v); }

uint64_t Digest(simdjson::dom::element e) {
  using Type = simdjson::dom::element_type;
  std::hash<std::string_view> text;
  switch (e.type()) {
    case Type::OBJECT: {
      uint64_t sum = 0;  // a sum: the same whatever the members' order
      for (simdjson::dom::key_value_pair field : simdjson::dom::object(e)) {
        sum += Mix(text(field.key), Digest(field.value));
      }
      return Mix(1, sum);
    }
    case Type::ARRAY: {
      uint64_t h = 2;
      for (simdjson::dom::element item : simdjson::dom::array(e)) h = Mix(h, Digest(item));
      return h;
    }
    case Type::STRING:
      return Mix(3, text(std::string_view(e)));
    case Type::INT64:
    case Type::UINT64:
    case Type::DOUBLE: {
      double d = double(e) + 0.0;  // (-0 and 0 alike)
      uint64_t bits;
      std::memcpy(&bits, &d, sizeof bits);
      return Mix(4, bits);
    }
    case Type::BOOL:
      return Mix(5, bool(e));
    case Type::NULL_VALUE:
      break;
  }
  return 6;
}

}  // namespace

std::optional<uint64_t> JsonDigest(std::string_view json) {
  static simdjson::dom::parser parser;
  simdjson::dom::element root;
  // Depth is bounded by the parser's (1024 levels): deeper documents are not JSON here.
  if (parser.parse(json.data(), json.size()).get(root)) return std::nullopt;
  return Digest(root);
}

std::optional<std::string> JsonField(std::string_view json, std::string_view field) {
  simdjson::ondemand::document doc;
  simdjson::ondemand::object obj;
  if (!ParseObject(json, &doc, &obj)) return std::nullopt;
  for (auto f : obj) {
    std::string_view key;
    if (f.unescaped_key().get(key) || key != field) continue;
    simdjson::ondemand::value value;
    if (f.value().get(value)) return std::nullopt;
    simdjson::ondemand::json_type type;
    if (value.type().get(type)) return std::nullopt;
    std::string_view text;
    simdjson::error_code error;
    switch (type) {
      case simdjson::ondemand::json_type::string:
        error = value.get_string().get(text);
        break;
      case simdjson::ondemand::json_type::array: {
        simdjson::ondemand::array array;
        error = value.get_array().get(array);
        if (!error) error = array.raw_json().get(text);
        break;
      }
      case simdjson::ondemand::json_type::object: {
        simdjson::ondemand::object object;
        error = value.get_object().get(object);
        if (!error) error = object.raw_json().get(text);
        break;
      }
      default:
        text = value.raw_json_token();
        error = simdjson::SUCCESS;
        break;
    }
    if (error) return std::nullopt;
    while (!text.empty() && (text.back() == ' ' || text.back() == '\n')) text.remove_suffix(1);
    return std::string(text);
  }
  return std::nullopt;
}

std::optional<int64_t> ParseLibraryTime(std::string_view text) {
  size_t pos = 0;
  auto number = [&](size_t digits, int* out) {
    if (pos + digits > text.size()) return false;
    *out = 0;
    for (size_t i = 0; i < digits; i++) {
      char c = text[pos + i];
      if (!std::isdigit(static_cast<unsigned char>(c))) return false;
      *out = *out * 10 + (c - '0');
    }
    pos += digits;
    return true;
  };
  auto separator = [&](std::string_view allowed) {
    if (pos >= text.size() || allowed.find(text[pos]) == std::string_view::npos) return false;
    pos++;
    return true;
  };
  std::tm tm{};
  int y, mo, d, h, mi, s;
  if (!number(4, &y) || !separator("-/") || !number(2, &mo) || !separator("-/") || !number(2, &d) ||
      !separator("T ") || !number(2, &h) || !separator(":") || !number(2, &mi) || !separator(":") ||
      !number(2, &s)) {
    return std::nullopt;
  }
  int millis = 0;
  if (pos < text.size() && text[pos] == '.') {  // a fraction: milliseconds kept
    pos++;
    for (int scale = 100; pos < text.size() && std::isdigit(static_cast<unsigned char>(text[pos]));
         pos++, scale /= 10) {
      millis += (text[pos] - '0') * scale;
    }
  }
  if (pos < text.size() && text[pos] == ' ') pos++;
  std::string_view zone = text.substr(pos);
  int offset_s = 0;
  if (zone == "Z" || zone == "UTC" || zone == "GMT") {
    offset_s = 0;
  } else if (!zone.empty() && (zone[0] == '+' || zone[0] == '-')) {
    int zh, zm;
    pos++;
    if (!number(2, &zh)) return std::nullopt;
    if (pos < text.size() && text[pos] == ':') pos++;
    if (!number(2, &zm) || pos != text.size()) return std::nullopt;
    offset_s = (zh * 3600 + zm * 60) * (zone[0] == '-' ? -1 : 1);
  } else {
    return std::nullopt;
  }
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 60) return std::nullopt;
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = s;
  return (static_cast<int64_t>(timegm(&tm)) - offset_s) * 1000 + millis;
}

PayloadFields ParsePayload(std::string_view payload) {
  PayloadFields out;
  simdjson::ondemand::document doc;
  simdjson::ondemand::object obj;
  if (!ParseObject(payload, &doc, &obj)) return out;
  std::string wrapped;
  for (auto field : obj) {
    std::string_view key;
    if (field.unescaped_key().get(key)) return out;
    if (key == "class" || key == "wrapped") {
      std::string_view v;
      if (field.value().get_string().get(v)) continue;
      (key == "class" ? out.klass : wrapped) = v;
    } else if (key == "args") {
      simdjson::ondemand::array array;
      std::string_view raw;
      if (!field.value().get_array().get(array) && !array.raw_json().get(raw)) out.args = raw;
    }
  }
  if (!wrapped.empty()) out.klass = wrapped;  // ActiveJob: the job class, not the adapter
  // Trailing spaces of raw_json() are not part of the value.
  while (!out.args.empty() && (out.args.back() == ' ' || out.args.back() == '\n'))
    out.args.pop_back();
  return out;
}

std::optional<Dialects> Dialects::Parse(std::string_view spec, std::string* error) {
  Dialects out;
  while (!spec.empty()) {
    size_t comma = spec.find(',');
    std::string_view item = spec.substr(0, comma);
    spec = comma == std::string_view::npos ? "" : spec.substr(comma + 1);
    if (item.empty()) continue;
    size_t colon = item.find(':');
    std::string_view name = item.substr(0, colon);
    std::optional<std::string> ns;
    if (colon != std::string_view::npos) ns = std::string(item.substr(colon + 1));
    auto prefixed = [&](std::string_view fallback, std::string_view rest) {
      std::string n = ns.value_or(std::string(fallback));
      return n.empty() ? std::string(rest) : n + ":" + std::string(rest);
    };
    Dialect d;
    d.name = name;
    if (name == "resque") {
      d.queue_prefix = prefixed("resque", "queue:");
      d.queues_set = prefixed("resque", "queues");
      d.workers_set = prefixed("resque", "workers");
      d.failed_list = prefixed("resque", "failed");
      d.running_prefix = prefixed("resque", "worker:");
      d.processed_prefix = prefixed("resque", "stat:processed:");
      d.failed_prefix = prefixed("resque", "stat:failed:");
    } else if (name == "sidekiq") {
      d.queue_prefix = prefixed("", "queue:");
      d.queues_set = prefixed("", "queues");
      d.workers_set = prefixed("", "processes");
      d.head_left = false;
      d.retries_itself = true;
    } else if (name == "rq") {
      d.queue_prefix = prefixed("rq", "queue:");
      d.queues_set = prefixed("rq", "queues");
      d.json_payloads = false;  // the queue holds job ids; the job is a hash
      d.job_prefix = prefixed("rq", "job:");
      d.finished_prefix = prefixed("rq", "finished:");
      d.failed_registry_prefix = prefixed("rq", "failed:");
    } else {
      *error = "unknown dialect '" + std::string(name) + "' (known: resque, sidekiq, rq)";
      return std::nullopt;
    }
    out.dialects_.push_back(std::move(d));
  }
  return out;
}

Dialects Dialects::Default() {
  std::string error;
  return *Parse("resque,sidekiq,rq", &error);
}

const Dialect* Dialects::Match(std::string_view key) const {
  for (const Dialect& d : dialects_) {
    if (key.size() > d.queue_prefix.size() && key.starts_with(d.queue_prefix)) return &d;
  }
  return nullptr;
}

const Dialect* Dialects::MatchFailedList(std::string_view key) const {
  for (const Dialect& d : dialects_) {
    if (!d.failed_list.empty() && key == d.failed_list) return &d;
  }
  return nullptr;
}

namespace {
// Whether `key` is `prefix` (one the dialect has) and more.
bool Under(std::string_view key, const std::string& prefix) {
  return !prefix.empty() && key.size() > prefix.size() && key.starts_with(prefix);
}
}  // namespace

const Dialect* Dialects::MatchWorkerKey(std::string_view key, WorkerKey* kind) const {
  for (const Dialect& d : dialects_) {
    for (auto [prefix, k] : {std::pair{&d.running_prefix, WorkerKey::kRunning},
                             {&d.processed_prefix, WorkerKey::kProcessed},
                             {&d.failed_prefix, WorkerKey::kFailed}}) {
      if (Under(key, *prefix)) return *kind = k, &d;
    }
  }
  return nullptr;
}

const Dialect* Dialects::MatchRegistry(std::string_view key, bool* finished) const {
  for (const Dialect& d : dialects_) {
    *finished = Under(key, d.finished_prefix);
    if (*finished || Under(key, d.failed_registry_prefix)) return &d;
  }
  return nullptr;
}

const Dialect& Dialects::Native() {
  static const Dialect kNative{"native", "", "", true, true, "", "", "", "", "", "", "", ""};
  return kNative;
}

}  // namespace desaster
