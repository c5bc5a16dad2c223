// A client of etcd's v3 API over its JSON gateway (POST /v3/..., keys and values in base64).
// Calls block: each thread of the cluster layer owns one client, so the event loop never waits
// on etcd. A request that cannot reach an endpoint goes to the next one.
#pragma once

#include <simdjson.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

typedef void CURL;
struct curl_slist;

namespace desaster {

struct EtcdOptions {
  std::vector<std::string> endpoints;  // "http://host:port" or "https://host:port"
  std::string user, password;          // etcd authentication, when its auth is enabled
  std::string cacert;                  // a CA file for https endpoints; empty: the system's
  long timeout_ms = 2000;              // per request (not for watches)
};

struct EtcdKeyValue {
  std::string key, value;
  int64_t create_revision = 0, mod_revision = 0, lease = 0;
};

// A transaction: if every comparison holds, the success operations run, else the failure ones.
struct EtcdTxn {
  struct Compare {
    std::string key;
    enum class Target { kCreate, kMod } target = Target::kCreate;
    int64_t revision = 0;  // the key's create (or mod) revision must equal this; 0: key absent

    // The key was created at `revision` (0: it does not exist).
    static Compare Created(std::string key, int64_t revision) {
      return Compare{std::move(key), Target::kCreate, revision};
    }
  };
  struct Op {
    enum class Kind { kPut, kRange, kDelete } kind = Kind::kPut;
    std::string key, value, range_end;
    int64_t lease = 0;

    static Op Put(std::string key, std::string value, int64_t lease = 0) {
      return Op{Kind::kPut, std::move(key), std::move(value), {}, lease};
    }
    static Op Range(std::string key, std::string range_end = {}) {
      return Op{Kind::kRange, std::move(key), {}, std::move(range_end), 0};
    }
  };
  std::vector<Compare> compare;
  std::vector<Op> success, failure;
};

struct EtcdTxnResult {
  bool succeeded = false;
  int64_t revision = 0;  // the store's revision after the transaction
  // The key-values of each range operation that ran, in order.
  std::vector<std::vector<EtcdKeyValue>> ranges;
};

class Etcd {
 public:
  // kUnknown: no answer came (timeout, reset): a write may or may not have happened.
  // kFailed: etcd answered with an error; nothing happened.
  enum class Status { kOk, kFailed, kUnknown };

  explicit Etcd(EtcdOptions options);
  ~Etcd();
  Etcd(const Etcd&) = delete;
  Etcd& operator=(const Etcd&) = delete;

  // The keys in [key, range_end) (range_end empty: only `key`), at most `limit` (0: all) in key
  // order, read linearizably. *revision is the store's revision the read saw; *more says
  // whether keys beyond `limit` exist.
  Status Range(const std::string& key, const std::string& range_end, int64_t limit,
               std::vector<EtcdKeyValue>* kvs, int64_t* revision, bool* more, std::string* error);
  Status Txn(const EtcdTxn& txn, EtcdTxnResult* result, std::string* error);
  // Deletes [key, range_end); *revision is the store's revision after it.
  Status Delete(const std::string& key, const std::string& range_end, int64_t* revision,
                std::string* error);
  // A lease of `ttl_s` seconds: its id in *id, the TTL etcd granted in *granted_s.
  Status Grant(int64_t ttl_s, int64_t* id, int64_t* granted_s, std::string* error);
  // Renews lease `id`; *ttl_s is its TTL from now, 0 when the lease has expired.
  Status KeepAlive(int64_t id, int64_t* ttl_s, std::string* error);
  Status Revoke(int64_t id, std::string* error);
  // Compacts the history before `revision`.
  Status Compact(int64_t revision, std::string* error);

  // One message of a watch stream: events in revision order, or the stream's end.
  struct WatchMessage {
    struct Event {
      bool deleted = false;
      EtcdKeyValue kv;
    };
    std::vector<Event> events;
    int64_t revision = 0;          // the header's: every change up to it has been sent
    int64_t compact_revision = 0;  // > 0: cancelled, history before it is gone
    bool canceled = false;
  };
  // Watches [key, range_end) from `start_revision` until `on_message` returns false, `*stop`
  // becomes true, or the stream breaks (then kUnknown). The watch fails when its member loses
  // the etcd leader, so it never goes quiet on a partitioned member.
  Status Watch(const std::string& key, const std::string& range_end, int64_t start_revision,
               const std::function<bool(const WatchMessage&)>& on_message,
               const std::atomic<bool>* stop, std::string* error);

  // Maintenance of one member (by its index in the endpoints), not of whichever answers.
  size_t endpoint() const { return current_; }
  size_t endpoints() const { return options_.endpoints.size(); }
  // Its database's size on disk and the part of it in use.
  Status MemberStatus(size_t member, int64_t* db_size, int64_t* in_use, std::string* error);
  // Gives the member's free pages back to the file system (it stalls meanwhile).
  Status Defragment(size_t member, std::string* error);
  // The members (ids) that raised the NOSPACE alarm (a full quota: etcd refuses writes), and
  // clearing one's alarm once space was freed.
  Status NoSpaceAlarms(std::vector<std::string>* members, std::string* error);
  Status DisarmNoSpace(const std::string& member, std::string* error);

  // The smallest key above every key that starts with `prefix` (a range's end for a prefix).
  static std::string PrefixEnd(const std::string& prefix);

 private:
  // POSTs `body` to `path` on the current endpoint, moving on to the next on a connection
  // failure; parses the reply into doc_.
  Status Call(const std::string& path, const std::string& body, simdjson::dom::element* reply,
              std::string* error);
  // Call on one member only.
  Status CallMember(size_t member, const std::string& path, const std::string& body,
                    simdjson::dom::element* reply, std::string* error);
  // Gets a token when the options name a user (etcd's auth).
  Status Authenticate(std::string* error);
  void Configure(CURL* curl, const std::string& url, const std::string& body);
  // The request headers (with the token, once authenticated); `require_leader` makes etcd fail
  // a watch whose member loses its leader.
  curl_slist* Headers(bool require_leader) const;

  EtcdOptions options_;
  size_t current_ = 0;  // the endpoint in use
  CURL* curl_ = nullptr;
  std::string token_;
  std::string response_;
  simdjson::dom::parser parser_;
};

}  // namespace desaster
