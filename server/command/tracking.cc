#include "server/command/tracking.h"

#include <algorithm>

#include "resp/writer.h"
#include "server/command/registry.h"
#include "server/command/server_state.h"

namespace desaster {
namespace {

// Whether one of `a` and `b` begins with the other: then a key may fall under both.
bool Overlap(std::string_view a, std::string_view b) {
  size_t n = std::min(a.size(), b.size());
  return a.substr(0, n) == b.substr(0, n);
}

std::string OverlapError(std::string_view prefix, std::string_view other, const char* whose) {
  return "ERR Prefix '" + std::string(prefix) + "' overlaps with " + whose + " prefix '" +
         std::string(other) + "'. Prefixes for a single client must not overlap.";
}

}  // namespace

bool Tracking::Enable(Client& c, const TrackingMode& mode, const std::vector<std::string>& prefixes,
                      std::string* error) {
  if (mode.bcast) {
    for (size_t i = 0; i < prefixes.size(); i++) {
      for (const std::string& existing : c.tracking.prefixes) {
        if (Overlap(existing, prefixes[i])) {
          *error = OverlapError(prefixes[i], existing, "an existing");
          return false;
        }
      }
      for (size_t j = i + 1; j < prefixes.size(); j++) {
        if (Overlap(prefixes[i], prefixes[j])) {
          *error = OverlapError(prefixes[i], prefixes[j], "another provided");
          return false;
        }
      }
    }
  }
  if (!c.tracking.on) clients_++;
  TrackingMode& m = c.tracking;
  m.on = true;
  m.bcast = mode.bcast;
  m.optin = mode.optin;
  m.optout = mode.optout;
  m.noloop = mode.noloop;
  m.broken_redirect = false;
  m.redirect = mode.redirect;
  if (mode.bcast) {
    for (const std::string& p : prefixes.empty() ? std::vector<std::string>{""} : prefixes) {
      prefixes_[p].clients.insert(c.id);
      m.prefixes.insert(p);
    }
  }
  return true;
}

void Tracking::Disable(Client& c) {
  for (const std::string& p : c.tracking.prefixes) {
    auto it = prefixes_.find(p);
    if (it == prefixes_.end()) continue;
    it->second.clients.erase(c.id);
    if (it->second.clients.empty()) prefixes_.erase(it);
  }
  if (c.tracking.on) clients_--;
  c.tracking = TrackingMode{};
}

void Tracking::Remember(const Client& c, const CommandSpec& spec,
                        const std::vector<std::string>& argv) {
  const TrackingMode& m = c.tracking;
  if (!m.on || m.bcast || (m.optin && !m.caching) || (m.optout && m.caching)) return;
  if (spec.Has(cmd::kPubSub)) return;
  for (size_t position : spec.KeyPositions(argv)) {
    std::vector<uint64_t>& ids = table_[argv[position]];
    if (std::find(ids.begin(), ids.end(), c.id) == ids.end()) {
      ids.push_back(c.id);
      items_++;
    }
  }
  while (max_keys_ > 0 && table_.size() > max_keys_) {
    std::string evicted = table_.begin()->first;
    Invalidate(evicted, false);
  }
}

void Tracking::Invalidate(std::string_view key, bool broadcast) {
  if (broadcast) {
    for (auto& [prefix, state] : prefixes_) {
      if (key.starts_with(prefix)) state.changed[std::string(key)] = current_ ? current_->id : 0;
    }
  }
  auto it = table_.find(std::string(key));
  if (it == table_.end()) return;
  std::vector<uint64_t> ids = std::move(it->second);
  table_.erase(it);
  items_ -= ids.size();
  std::string value;
  resp::ReplyWriter w(&value, 2);
  w.Array(1);
  w.Bulk(key);
  for (uint64_t id : ids) {
    Client* target = server_->FindClient(id);
    // A client that switched to BCAST since it read the key hears of prefixes only.
    if (target == nullptr || !target->tracking.on || target->tracking.bcast) continue;
    if (target != current_) {
      Send(*target, value);
    } else if (!target->tracking.noloop) {
      deferred_.push_back(value);
    }
  }
}

void Tracking::AllChanged() {
  for (const auto& [id, c] : server_->clients) {
    if (!c->tracking.on) continue;
    std::string null;
    resp::ReplyWriter(&null, c->protocol).NullBulk();
    c == current_ ? deferred_.push_back(null) : Send(*c, null);
  }
  table_.clear();
  items_ = 0;
}

void Tracking::SendDeferred() {
  if (current_) {
    for (const std::string& value : deferred_) Send(*current_, value);
  }
  deferred_.clear();
}

void Tracking::Broadcast() {
  for (auto& [prefix, state] : prefixes_) {
    if (state.changed.empty()) continue;
    std::string all;  // what clients without NOLOOP get, made once
    for (uint64_t id : state.clients) {
      Client* c = server_->FindClient(id);
      if (c == nullptr) continue;
      bool skip_own = c->tracking.noloop;
      if (!skip_own && !all.empty()) {
        Send(*c, all);
        continue;
      }
      size_t n = 0;
      for (const auto& [key, by] : state.changed) n += !(skip_own && by == id);
      if (n == 0) continue;
      std::string value;
      resp::ReplyWriter w(&value, 2);
      w.Array(n);
      for (const auto& [key, by] : state.changed) {
        if (!(skip_own && by == id)) w.Bulk(key);
      }
      Send(*c, value);
      if (!skip_own) all = std::move(value);
    }
    state.changed.clear();
  }
}

void Tracking::Send(Client& c, std::string_view value) {
  Client* target = &c;
  if (c.tracking.redirect != 0) {
    target = server_->FindClient(c.tracking.redirect);
    if (target == nullptr) {
      // The client redirected to is gone: a RESP3 client hears so, a RESP2 one cannot.
      c.tracking.broken_redirect = true;
      if (c.protocol > 2) {
        resp::ReplyWriter w(&c.output, c.protocol);
        w.Push(2);
        w.Bulk("tracking-redir-broken");
        w.Integer(static_cast<long long>(c.tracking.redirect));
        if (server_->on_output) server_->on_output(&c);
      }
      return;
    }
  }
  resp::ReplyWriter w(&target->output, target->protocol);
  if (target->protocol > 2) {
    w.Push(2);
    w.Bulk("invalidate");
  } else if (c.tracking.redirect != 0 && target->subscriptions() > 0) {
    w.Push(3);
    w.Bulk("message");
    w.Bulk("__redis__:invalidate");
  } else {
    return;  // RESP2 has no way to tell a client out of band on its own connection
  }
  target->output.append(value);
  if (server_->on_output) server_->on_output(target);
}

}  // namespace desaster
