#include "migrate/verify.h"

#include <algorithm>
#include <map>
#include <set>

#include "migrate/target.h"

namespace desaster::migrate {
namespace {

// A reply as text that compares equal exactly when the values are equal. (Built by appending:
// GCC 12 at -O3 warns, -Wrestrict, about a one-character literal + std::string.)
std::string Canonical(const redisReply* r, bool unordered_pairs, bool unordered) {
  switch (r->type) {
    case REDIS_REPLY_ARRAY: {
      std::vector<std::string> items;
      for (size_t i = 0; i < r->elements; i++) {
        std::string item = Canonical(r->element[i], false, false);
        if (unordered_pairs && i + 1 < r->elements) {
          item += '=';
          item += Canonical(r->element[++i], false, false);
        }
        items.push_back(item);
      }
      if (unordered || unordered_pairs) std::sort(items.begin(), items.end());
      std::string out = "[";
      for (const auto& item : items) out += std::to_string(item.size()) + ":" + item;
      return out + "]";
    }
    case REDIS_REPLY_INTEGER:
      return std::string(1, 'i').append(std::to_string(r->integer));
    case REDIS_REPLY_NIL:
      return "nil";
    default:
      return std::string(1, 's').append(ReplyText(r));
  }
}

// The value of `key` (of Redis type `type`) in canonical form.
std::string ValueOf(Target& server, const std::string& key, const std::string& type,
                    std::string* error) {
  std::vector<std::string> read;
  bool pairs = false, unordered = false;
  if (type == "string") {
    read = {"GET", key};
  } else if (type == "list") {
    read = {"LRANGE", key, "0", "-1"};
  } else if (type == "set") {
    read = {"SMEMBERS", key};
    unordered = true;
  } else if (type == "zset") {
    read = {"ZRANGE", key, "0", "-1", "WITHSCORES"};
  } else if (type == "hash") {
    read = {"HGETALL", key};
    pairs = true;
  } else if (type == "stream") {
    read = {"XRANGE", key, "-", "+"};
  } else {
    return "type " + type;
  }
  Reply r = server.Call(read, error);
  return r ? Canonical(r.get(), pairs, unordered) : "";
}

}  // namespace

int Verify(const Address& from, const Address& to, Progress& progress) {
  std::string error;
  Target source, target;
  if (!source.Connect(from, &error) || !target.Connect(to, &error)) {
    progress.Event({{"event", "error"}, {"error", error}});
    return 1;
  }
  std::map<std::string, uint64_t> source_types, target_types;
  uint64_t compared = 0, differing = 0;
  std::vector<std::string> examples;
  std::set<int> dbs = {0};
  for (Target* server : {&source, &target}) {
    if (auto keyspace = server->Keyspace(&error)) {
      for (const auto& [db, keys] : *keyspace) dbs.insert(db);
    }
  }
  auto note = [&](const std::string& what) {
    differing++;
    if (examples.size() < 10) examples.push_back(what);
  };
  for (int db : dbs) {
    for (Target* server : {&source, &target}) server->Call({"SELECT", std::to_string(db)}, &error);
    // Every key of each side, then each key of either compared.
    std::set<std::string> keys;
    for (Target* server : {&source, &target}) {
      server->ScanKeys(
          [&](const std::string& key) {
            keys.insert(key);
            return true;
          },
          &error);
    }
    for (const std::string& key : keys) {
      Reply st = source.Call({"TYPE", key}, &error), tt = target.Call({"TYPE", key}, &error);
      if (!st || !tt) break;
      std::string s = ReplyText(st.get()), t = ReplyText(tt.get());
      if (s != "none") source_types[s]++;
      if (t != "none") target_types[t]++;
      compared++;
      std::string where = "db" + std::to_string(db) + " '" + key + "'";
      if (s != t) {
        note(where + ": " + s + " in the source, " + t + " in desaster");
      } else if (ValueOf(source, key, s, &error) != ValueOf(target, key, t, &error)) {
        note(where + ": the values differ");
      }
    }
  }
  auto counts = [](const std::map<std::string, uint64_t>& m) {
    std::string out;
    for (const auto& [type, n] : m)
      out += (out.empty() ? "" : " ") + type + "=" + std::to_string(n);
    return out;
  };
  std::vector<std::pair<std::string, std::string>> fields = {
      {"event", "verified"},
      {"keys", std::to_string(compared)},
      {"differing", std::to_string(differing)},
      {"source_types", counts(source_types)},
      {"target_types", counts(target_types)}};
  for (size_t i = 0; i < examples.size(); i++)
    fields.push_back({"difference_" + std::to_string(i + 1), examples[i]});
  progress.Event(fields);
  return differing == 0 && error.empty() ? 0 : 1;
}

}  // namespace desaster::migrate
