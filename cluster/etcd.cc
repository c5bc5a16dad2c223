#include "cluster/etcd.h"

#include <curl/curl.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <openssl/evp.h>

#include <cstdlib>
#include <mutex>

#include "server/log.h"

namespace desaster {
namespace {

std::string Base64(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3), '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(bytes.data()),
                          static_cast<int>(bytes.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

std::string Unbase64(std::string_view text) {
  if (text.empty() || text.size() % 4 != 0) return {};
  std::string out(3 * (text.size() / 4), '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(text.data()),
                          static_cast<int>(text.size()));
  if (n < 0) return {};
  size_t pad = text.ends_with("==") ? 2 : text.ends_with("=") ? 1 : 0;
  out.resize(static_cast<size_t>(n) - pad);
  return out;
}

// etcd's JSON writes 64-bit integers as strings and leaves out fields at their zero value.
// Json: a simdjson::dom::element, or the result of looking one up (which may be an error).
template <typename Json>
int64_t Int(Json&& object, std::string_view field) {
  simdjson::dom::element value;
  if (object[field].get(value) != simdjson::SUCCESS) return 0;
  std::string_view text;
  if (value.get(text) == simdjson::SUCCESS)
    return std::strtoll(std::string(text).c_str(), nullptr, 10);
  int64_t number = 0;
  return value.get(number) == simdjson::SUCCESS ? number : 0;
}

template <typename Json>
bool Bool(Json&& object, std::string_view field) {
  bool b = false;
  return object[field].get(b) == simdjson::SUCCESS && b;
}

template <typename Json>
std::string Bytes(Json&& object, std::string_view field) {
  std::string_view text;
  if (object[field].get(text) != simdjson::SUCCESS) return {};
  return Unbase64(text);
}

template <typename Json>
EtcdKeyValue KeyValueOf(Json&& kv) {
  return EtcdKeyValue{Bytes(kv, "key"), Bytes(kv, "value"), Int(kv, "create_revision"),
                      Int(kv, "mod_revision"), Int(kv, "lease")};
}

std::vector<EtcdKeyValue> KeyValuesOf(simdjson::dom::element range) {
  std::vector<EtcdKeyValue> kvs;
  simdjson::dom::array array;
  if (range["kvs"].get(array) == simdjson::SUCCESS) {
    for (simdjson::dom::element kv : array) kvs.push_back(KeyValueOf(kv));
  }
  return kvs;
}

// (The JSON is built with fmt: GCC 12 at -O3 takes "literal" + std::string for an overlapping
// copy and fails the build with -Werror=restrict.)
std::string RangeJson(const std::string& key, const std::string& range_end, int64_t limit) {
  std::string body = fmt::format("{{\"key\":\"{}\"", Base64(key));
  if (!range_end.empty()) body += fmt::format(",\"range_end\":\"{}\"", Base64(range_end));
  if (limit > 0) body += fmt::format(",\"limit\":\"{}\"", limit);
  body += "}";
  return body;
}

std::string OpJson(const EtcdTxn::Op& op) {
  switch (op.kind) {
    case EtcdTxn::Op::Kind::kPut: {
      std::string lease = op.lease ? fmt::format(",\"lease\":\"{}\"", op.lease) : "";
      return fmt::format("{{\"request_put\":{{\"key\":\"{}\",\"value\":\"{}\"{}}}}}",
                         Base64(op.key), Base64(op.value), lease);
    }
    case EtcdTxn::Op::Kind::kRange:
      return fmt::format("{{\"request_range\":{}}}", RangeJson(op.key, op.range_end, 0));
    case EtcdTxn::Op::Kind::kDelete:
      return fmt::format("{{\"request_delete_range\":{}}}", RangeJson(op.key, op.range_end, 0));
  }
  return {};
}

std::string OpsJson(const std::vector<EtcdTxn::Op>& ops) {
  std::vector<std::string> each;
  for (const auto& op : ops) each.push_back(OpJson(op));
  return fmt::format("[{}]", fmt::join(each, ","));
}

// {"<name>":"<value>"}: the body of the requests that take one number.
std::string OneField(std::string_view name, int64_t value) {
  return fmt::format("{{\"{}\":\"{}\"}}", name, value);
}

size_t AppendTo(char* data, size_t size, size_t count, void* out) {
  static_cast<std::string*>(out)->append(data, size * count);
  return size * count;
}

}  // namespace

Etcd::Etcd(EtcdOptions options) : options_(std::move(options)) {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  curl_ = curl_easy_init();
}

Etcd::~Etcd() { curl_easy_cleanup(curl_); }

std::string Etcd::PrefixEnd(const std::string& prefix) {
  std::string end = prefix;
  while (!end.empty()) {
    if (static_cast<unsigned char>(end.back()) < 0xff) {
      end.back() = static_cast<char>(end.back() + 1);
      return end;
    }
    end.pop_back();
  }
  return std::string(1, '\0');  // every key
}

void Etcd::Configure(CURL* curl, const std::string& url, const std::string& body) {
  curl_easy_reset(curl);
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.c_str());
  curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, std::min(options_.timeout_ms, 1000L));
  curl_easy_setopt(curl, CURLOPT_TCP_NODELAY, 1L);
  // A watch is quiet for as long as nothing changes: TCP keepalives notice a dead peer.
  curl_easy_setopt(curl, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(curl, CURLOPT_TCP_KEEPIDLE, 2L);
  curl_easy_setopt(curl, CURLOPT_TCP_KEEPINTVL, 1L);
  if (!options_.cacert.empty()) curl_easy_setopt(curl, CURLOPT_CAINFO, options_.cacert.c_str());
}

curl_slist* Etcd::Headers(bool require_leader) const {
  curl_slist* headers = curl_slist_append(nullptr, "Content-Type: application/json");
  if (require_leader) headers = curl_slist_append(headers, "Grpc-Metadata-Hasleader: true");
  if (!token_.empty()) {
    headers = curl_slist_append(headers, fmt::format("Authorization: {}", token_).c_str());
  }
  return headers;
}

Etcd::Status Etcd::Call(const std::string& path, const std::string& body,
                        simdjson::dom::element* reply, std::string* error) {
  if (!options_.user.empty() && token_.empty() && path != "/v3/auth/authenticate") {
    if (Status s = Authenticate(error); s != Status::kOk) return s;
  }
  for (size_t attempt = 0; attempt < options_.endpoints.size(); attempt++) {
    const std::string& endpoint = options_.endpoints[current_];
    Configure(curl_, endpoint + path, body);
    curl_easy_setopt(curl_, CURLOPT_TIMEOUT_MS, options_.timeout_ms);
    curl_slist* headers = Headers(false);
    curl_easy_setopt(curl_, CURLOPT_HTTPHEADER, headers);
    response_.clear();
    curl_easy_setopt(curl_, CURLOPT_WRITEFUNCTION, AppendTo);
    curl_easy_setopt(curl_, CURLOPT_WRITEDATA, &response_);
    CURLcode code = curl_easy_perform(curl_);
    curl_slist_free_all(headers);
    if (code != CURLE_OK) {
      *error = fmt::format("{}: {}", endpoint, curl_easy_strerror(code));
      current_ = (current_ + 1) % options_.endpoints.size();
      // Refused or unresolved: the request never left, so another endpoint may take it.
      if (code == CURLE_COULDNT_CONNECT || code == CURLE_COULDNT_RESOLVE_HOST) continue;
      return Status::kUnknown;
    }
    long http = 0;
    curl_easy_getinfo(curl_, CURLINFO_RESPONSE_CODE, &http);
    if (parser_.parse(response_).get(*reply) != simdjson::SUCCESS) {
      *error = fmt::format("{}: unreadable reply (HTTP {})", endpoint, http);
      return Status::kUnknown;
    }
    if (http != 200) {
      std::string_view message;
      if ((*reply)["message"].get(message) != simdjson::SUCCESS) message = "no message";
      *error = fmt::format("{}: {}", endpoint, message);
      if (message.find("invalid auth token") != std::string_view::npos) token_.clear();
      // etcd answers 503 while it has no leader; the request did not happen.
      return Status::kFailed;
    }
    return Status::kOk;
  }
  return Status::kUnknown;
}

Etcd::Status Etcd::Authenticate(std::string* error) {
  simdjson::dom::element reply;
  std::string body =
      fmt::format("{{\"name\":\"{}\",\"password\":\"{}\"}}", options_.user, options_.password);
  Status s = Call("/v3/auth/authenticate", body, &reply, error);
  if (s != Status::kOk) return s;
  std::string_view token;
  if (reply["token"].get(token) != simdjson::SUCCESS) {
    *error = "etcd authentication returned no token";
    return Status::kFailed;
  }
  token_ = std::string(token);
  return Status::kOk;
}

Etcd::Status Etcd::Range(const std::string& key, const std::string& range_end, int64_t limit,
                         std::vector<EtcdKeyValue>* kvs, int64_t* revision, bool* more,
                         std::string* error) {
  simdjson::dom::element reply;
  Status s = Call("/v3/kv/range", RangeJson(key, range_end, limit), &reply, error);
  if (s != Status::kOk) return s;
  *kvs = KeyValuesOf(reply);
  *revision = Int(reply["header"], "revision");
  if (more) *more = Bool(reply, "more");
  return Status::kOk;
}

Etcd::Status Etcd::Txn(const EtcdTxn& txn, EtcdTxnResult* result, std::string* error) {
  std::vector<std::string> compares;
  for (const auto& c : txn.compare) {
    bool create = c.target == EtcdTxn::Compare::Target::kCreate;
    compares.push_back(fmt::format("{{\"key\":\"{}\",\"target\":\"{}\",\"{}\":\"{}\"}}",
                                   Base64(c.key), create ? "CREATE" : "MOD",
                                   create ? "create_revision" : "mod_revision", c.revision));
  }
  std::string body =
      fmt::format("{{\"compare\":[{}],\"success\":{},\"failure\":{}}}", fmt::join(compares, ","),
                  OpsJson(txn.success), OpsJson(txn.failure));
  simdjson::dom::element reply;
  Status s = Call("/v3/kv/txn", body, &reply, error);
  if (s != Status::kOk) return s;
  result->succeeded = Bool(reply, "succeeded");
  result->revision = Int(reply["header"], "revision");
  result->ranges.clear();
  simdjson::dom::array responses;
  if (reply["responses"].get(responses) == simdjson::SUCCESS) {
    for (simdjson::dom::element r : responses) {
      simdjson::dom::element range;
      if (r["response_range"].get(range) == simdjson::SUCCESS) {
        result->ranges.push_back(KeyValuesOf(range));
      }
    }
  }
  return Status::kOk;
}

Etcd::Status Etcd::Delete(const std::string& key, const std::string& range_end, int64_t* revision,
                          std::string* error) {
  simdjson::dom::element reply;
  Status s = Call("/v3/kv/deleterange", RangeJson(key, range_end, 0), &reply, error);
  if (s == Status::kOk) *revision = Int(reply["header"], "revision");
  return s;
}

Etcd::Status Etcd::Grant(int64_t ttl_s, int64_t* id, int64_t* granted_s, std::string* error) {
  simdjson::dom::element reply;
  Status s = Call("/v3/lease/grant", OneField("TTL", ttl_s), &reply, error);
  if (s != Status::kOk) return s;
  *id = Int(reply, "ID");
  *granted_s = Int(reply, "TTL");
  return Status::kOk;
}

Etcd::Status Etcd::KeepAlive(int64_t id, int64_t* ttl_s, std::string* error) {
  simdjson::dom::element reply;
  Status s = Call("/v3/lease/keepalive", OneField("ID", id), &reply, error);
  if (s != Status::kOk) return s;
  simdjson::dom::element result;
  if (reply["result"].get(result) != simdjson::SUCCESS) {
    *error = "etcd's keepalive stream returned no result";
    return Status::kUnknown;
  }
  *ttl_s = Int(result, "TTL");
  return Status::kOk;
}

Etcd::Status Etcd::Revoke(int64_t id, std::string* error) {
  simdjson::dom::element reply;
  return Call("/v3/lease/revoke", OneField("ID", id), &reply, error);
}

Etcd::Status Etcd::Compact(int64_t revision, std::string* error) {
  simdjson::dom::element reply;
  return Call("/v3/kv/compaction", OneField("revision", revision), &reply, error);
}

Etcd::Status Etcd::CallMember(size_t member, const std::string& path, const std::string& body,
                              simdjson::dom::element* reply, std::string* error) {
  // The client moves on from a failing endpoint by itself; pinned here, and put back after.
  std::vector<std::string> all = std::exchange(options_.endpoints, {options_.endpoints[member]});
  size_t current = std::exchange(current_, 0);
  Status s = Call(path, body, reply, error);
  options_.endpoints = std::move(all);
  current_ = current;
  return s;
}

Etcd::Status Etcd::MemberStatus(size_t member, int64_t* db_size, int64_t* in_use,
                                std::string* error) {
  simdjson::dom::element reply;
  Status s = CallMember(member, "/v3/maintenance/status", "{}", &reply, error);
  if (s != Status::kOk) return s;
  *db_size = Int(reply, "dbSize");
  *in_use = Int(reply, "dbSizeInUse");
  return s;
}

Etcd::Status Etcd::Defragment(size_t member, std::string* error) {
  simdjson::dom::element reply;
  return CallMember(member, "/v3/maintenance/defragment", "{}", &reply, error);
}

Etcd::Status Etcd::NoSpaceAlarms(std::vector<std::string>* members, std::string* error) {
  simdjson::dom::element reply;
  Status s = Call("/v3/maintenance/alarm", "{\"action\":\"GET\"}", &reply, error);
  if (s != Status::kOk) return s;
  members->clear();
  simdjson::dom::array alarms;
  if (reply["alarms"].get(alarms) == simdjson::SUCCESS) {
    for (simdjson::dom::element a : alarms) {
      std::string_view kind;
      if (a["alarm"].get(kind) == simdjson::SUCCESS && kind == "NOSPACE") {
        members->push_back(std::to_string(Int(a, "memberID")));
      }
    }
  }
  return s;
}

Etcd::Status Etcd::DisarmNoSpace(const std::string& member, std::string* error) {
  simdjson::dom::element reply;
  return Call("/v3/maintenance/alarm",
              fmt::format("{{\"action\":\"DEACTIVATE\",\"alarm\":\"NOSPACE\",\"memberID\":\"{}\"}}",
                          member),
              &reply, error);
}

namespace {

// The state of one watch stream between curl's callbacks.
struct WatchStream {
  simdjson::dom::parser parser;
  std::string buffer;
  const std::function<bool(const Etcd::WatchMessage&)>* on_message;
  const std::atomic<bool>* stop;
  bool ended = false;  // on_message said stop
  std::string error;   // etcd ended the stream with an error

  // Handles every complete line of the buffer; false to stop.
  bool Consume() {
    size_t start = 0;
    for (size_t nl; (nl = buffer.find('\n', start)) != std::string::npos; start = nl + 1) {
      std::string_view line(buffer.data() + start, nl - start);
      if (line.find_first_not_of(" \r\t") == std::string_view::npos) continue;
      simdjson::dom::element doc, result;
      if (parser.parse(line.data(), line.size(), true).get(doc) != simdjson::SUCCESS) {
        error = "unreadable watch message";
        return false;
      }
      if (doc["result"].get(result) != simdjson::SUCCESS) {
        std::string_view message = "the watch ended";
        simdjson::dom::element e;
        if (doc["error"].get(e) == simdjson::SUCCESS) {
          if (e["message"].get(message) != simdjson::SUCCESS) message = "watch error";
        }
        error = std::string(message);
        return false;
      }
      Etcd::WatchMessage m;
      m.revision = Int(result["header"], "revision");
      m.compact_revision = Int(result, "compact_revision");
      m.canceled = Bool(result, "canceled");
      simdjson::dom::array events;
      if (result["events"].get(events) == simdjson::SUCCESS) {
        for (simdjson::dom::element e : events) {
          std::string_view type;
          bool deleted = e["type"].get(type) == simdjson::SUCCESS && type == "DELETE";
          m.events.push_back({deleted, KeyValueOf(e["kv"])});
        }
      }
      if (!(*on_message)(m) || m.canceled) {
        ended = true;
        return false;
      }
    }
    buffer.erase(0, start);
    return true;
  }

  static size_t Write(char* data, size_t size, size_t count, void* self) {
    auto* w = static_cast<WatchStream*>(self);
    w->buffer.append(data, size * count);
    return w->Consume() ? size * count : 0;
  }
  static int Progress(void* self, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
    return static_cast<WatchStream*>(self)->stop->load() ? 1 : 0;
  }
};

}  // namespace

Etcd::Status Etcd::Watch(const std::string& key, const std::string& range_end,
                         int64_t start_revision,
                         const std::function<bool(const WatchMessage&)>& on_message,
                         const std::atomic<bool>* stop, std::string* error) {
  if (!options_.user.empty() && token_.empty()) {
    if (Status s = Authenticate(error); s != Status::kOk) return s;
  }
  std::string body = fmt::format(
      "{{\"create_request\":{{\"key\":\"{}\",\"range_end\":\"{}\",\"start_revision\":\"{}\","
      "\"progress_notify\":true}}}}",
      Base64(key), Base64(range_end), start_revision);
  const std::string& endpoint = options_.endpoints[current_];
  Configure(curl_, endpoint + "/v3/watch", body);
  curl_slist* headers = Headers(true);
  curl_easy_setopt(curl_, CURLOPT_HTTPHEADER, headers);
  WatchStream stream;
  stream.on_message = &on_message;
  stream.stop = stop;
  curl_easy_setopt(curl_, CURLOPT_WRITEFUNCTION, WatchStream::Write);
  curl_easy_setopt(curl_, CURLOPT_WRITEDATA, &stream);
  curl_easy_setopt(curl_, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(curl_, CURLOPT_XFERINFOFUNCTION, WatchStream::Progress);
  curl_easy_setopt(curl_, CURLOPT_XFERINFODATA, &stream);
  CURLcode code = curl_easy_perform(curl_);
  curl_slist_free_all(headers);
  if (stream.ended || stop->load()) return Status::kOk;
  *error = fmt::format("{}: {}", endpoint,
                       stream.error.empty() ? curl_easy_strerror(code) : stream.error);
  if (stream.error.find("auth") != std::string::npos) token_.clear();
  current_ = (current_ + 1) % options_.endpoints.size();
  return Status::kUnknown;
}

}  // namespace desaster
