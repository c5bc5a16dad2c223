// htb: hierarchical token bucket. Jobs fall into classes by flow; each class earns tokens at its
// `rate` (jobs/s, up to `burst`) and sends one job per token. A class out of tokens may borrow
// from its parent up to its `ceil`. While no class may send, a pop returns nothing and
// NextAvailableMs() says when one may: rate limiting without rescheduling.
//
// Parameters: rate, ceil, burst            the root class (absent: unlimited)
//             class.<name>                 "rate=R[,ceil=C][,burst=B][,parent=P]" (parent: root)
//             map.<flow>                   the class of a flow (default: the class named like
//             default                      the flow, else `default`, else root)
#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>
#include <unordered_map>

#include "server/queue/discipline.h"

namespace desaster {
namespace {

struct ClassSpec {
  double rate = 0, ceil = 0, burst = 0;  // 0: unlimited (rate, ceil), one second's worth (burst)
  std::string parent;
};

class Htb : public Discipline {
 public:
  struct Class {
    std::string name;
    Class* parent = nullptr;
    double rate = 0, ceil = 0, burst = 1;
    double tokens = 0, ctokens = 0;
    int64_t updated_ms = -1;
    JobFifo jobs;
  };

  Htb(std::unordered_map<std::string, ClassSpec> specs, Params flow_map, std::string fallback)
      : flow_map_(std::move(flow_map)), fallback_(std::move(fallback)) {
    for (auto& [name, spec] : specs) {
      Class& c = classes_[name];
      c.name = name;
      c.rate = spec.rate;
      c.ceil = std::max(spec.ceil, spec.rate);
      c.burst = spec.burst > 0 ? spec.burst : std::max(1.0, c.rate);
      c.tokens = c.ctokens = c.burst;
    }
    for (auto& [name, spec] : specs) {
      if (name != "root")
        classes_[name].parent = &classes_[spec.parent.empty() ? "root" : spec.parent];
    }
  }

  void Enqueue(Job* job) override {
    Class& c = ClassOf(job->flow.str());
    if (c.jobs.empty()) rr_.Activate(&c);
    c.jobs.Insert(job);
    size_++;
  }

  void Remove(const Job* job) override {
    Class& c = ClassOf(job->flow.str());
    if (!c.jobs.Remove(job)) return;
    size_--;
    if (c.jobs.empty()) rr_.Deactivate(&c);
  }

  Job* Peek(int64_t now_ms) override {
    for (auto& [name, c] : classes_) Refill(&c, now_ms);
    for (Class* c : rr_.ring()) {
      if (CanSend(*c)) {
        // Serve it next: the ring's head is whose turn it is.
        while (rr_.Current() != c) rr_.Rotate();
        return c->jobs.Front();
      }
    }
    return nullptr;
  }

  void Take(Job* job, int64_t) override {
    Class* c = rr_.Current();
    c->jobs.Remove(job);
    size_--;
    for (Class* k = c; k; k = k->parent) {
      k->tokens -= 1;
      k->ctokens -= 1;
    }
    if (c->jobs.empty()) {
      rr_.Deactivate(c);
    } else {
      rr_.Rotate();
    }
  }

  void ForEachInOrder(const std::function<bool(Job*)>& visit, size_t skip) const override {
    auto fn = Skipping(skip, visit);
    std::deque<std::pair<const Class*, size_t>> ring;
    for (const Class* c : rr_.ring()) ring.emplace_back(c, 0);
    while (!ring.empty()) {
      auto [c, next] = ring.front();
      ring.pop_front();
      if (!fn(c->jobs.Next(&next))) return;
      if (c->jobs.HasFrom(next)) ring.emplace_back(c, next);
    }
  }

  size_t size() const override { return size_; }

  int64_t NextAvailableMs(int64_t now_ms) const override {
    double best = std::numeric_limits<double>::infinity();
    for (const Class* c : rr_.ring()) best = std::min(best, SendableInMs(*c));
    if (!std::isfinite(best)) return now_ms + 1000;
    return now_ms + std::max<int64_t>(1, static_cast<int64_t>(std::ceil(best)));
  }

  double RateFor(const Job* job) const override {
    double rate = 0;
    for (const Class* c = &const_cast<Htb*>(this)->ClassOf(job->flow.str()); c; c = c->parent) {
      double limit = c->ceil;
      if (limit > 0) rate = rate == 0 ? limit : std::min(rate, limit);
    }
    return rate;
  }

 private:
  Class& ClassOf(const std::string& flow) {
    auto mapped = flow_map_.find(flow);
    if (mapped != flow_map_.end()) return classes_[mapped->second];
    auto named = classes_.find(flow);
    if (named != classes_.end()) return named->second;
    return classes_[fallback_];
  }

  static void Refill(Class* c, int64_t now_ms) {
    if (c->updated_ms >= 0 && now_ms > c->updated_ms) {
      double secs = static_cast<double>(now_ms - c->updated_ms) / 1000.0;
      c->tokens = std::min(c->burst, c->tokens + c->rate * secs);
      c->ctokens = std::min(c->burst, c->ctokens + c->ceil * secs);
    }
    if (now_ms > c->updated_ms) c->updated_ms = now_ms;
  }

  static bool Green(const Class& c) { return c.rate == 0 || c.tokens >= 1; }
  static bool CanSend(const Class& c) {
    if (Green(c)) return true;
    bool ceil_ok = c.ceil > c.rate && c.ctokens >= 1;
    return ceil_ok && c.parent && CanSend(*c.parent);
  }

  // Milliseconds until CanSend(c) may hold, assuming nothing else sends.
  static double SendableInMs(const Class& c) {
    auto until = [](double tokens, double rate) {
      return tokens >= 1 ? 0.0 : (1 - tokens) / rate * 1000.0;
    };
    double green = c.rate == 0 ? 0 : until(c.tokens, c.rate);
    if (c.parent && c.ceil > c.rate) {
      double borrow = std::max(until(c.ctokens, c.ceil), SendableInMs(*c.parent));
      green = std::min(green, borrow);
    }
    return green;
  }

  std::unordered_map<std::string, Class> classes_;
  Params flow_map_;
  std::string fallback_;
  RoundRobin<Class> rr_;
  size_t size_ = 0;
};

// "rate=10,ceil=20,burst=5,parent=root" -> spec.
bool ParseClassSpec(const std::string& name, const std::string& text, ClassSpec* spec,
                    std::string* error) {
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    auto eq = item.find('=');
    std::string key = item.substr(0, eq),
                value = eq == std::string::npos ? "" : item.substr(eq + 1);
    if (key == "parent") {
      spec->parent = value;
      continue;
    }
    double* field = key == "rate"    ? &spec->rate
                    : key == "ceil"  ? &spec->ceil
                    : key == "burst" ? &spec->burst
                                     : nullptr;
    Params one{{"class." + name + "." + key, value}};
    auto v = field ? NumberParam(one, one.begin()->first, 0, 0, error) : std::nullopt;
    if (!field) *error = "unknown htb class field '" + key + "' in class." + name;
    if (!v) return false;
    *field = *v;
  }
  return true;
}

}  // namespace

std::unique_ptr<Discipline> MakeHtb(const Params& params, std::string* error) {
  std::unordered_map<std::string, ClassSpec> specs;
  ClassSpec& root = specs["root"];
  Params flow_map;
  std::string fallback = "root";
  for (const auto& [name, value] : params) {
    if (name == "rate" || name == "ceil" || name == "burst") {
      auto v = NumberParam(params, name, 0, 0, error);
      if (!v) return nullptr;
      (name == "rate" ? root.rate : name == "ceil" ? root.ceil : root.burst) = *v;
    } else if (name.starts_with("class.")) {
      std::string cls = name.substr(6);
      if (cls.empty() || cls == "root") {
        *error = "htb class names must be non-empty and not 'root' (set rate/ceil/burst for root)";
        return nullptr;
      }
      if (!ParseClassSpec(cls, value, &specs[cls], error)) return nullptr;
    } else if (name.starts_with("map.")) {
      flow_map[name.substr(4)] = value;
    } else if (name == "default") {
      fallback = value;
    } else {
      *error = "unknown htb parameter '" + name +
               "' (expected rate, ceil, burst, class.<name>, map.<flow> or default)";
      return nullptr;
    }
  }
  // Every reference must name a class, and parents must not loop.
  auto known = [&](const std::string& c) { return specs.count(c) > 0; };
  for (const auto& [flow, cls] : flow_map) {
    if (!known(cls)) {
      *error = "map." + flow + " names an unknown htb class '" + cls + "'";
      return nullptr;
    }
  }
  if (!known(fallback)) {
    *error = "default names an unknown htb class '" + fallback + "'";
    return nullptr;
  }
  for (const auto& [name, spec] : specs) {
    std::string at = name;
    for (size_t depth = 0; at != "root"; depth++) {
      const std::string& parent = specs[at].parent.empty() ? "root" : specs[at].parent;
      if (!known(parent) || depth > specs.size()) {
        *error = "htb class '" + name + "' has " +
                 (known(parent) ? "a parent loop" : "an unknown parent '" + parent + "'");
        return nullptr;
      }
      at = parent;
    }
  }
  return std::make_unique<Htb>(std::move(specs), std::move(flow_map), std::move(fallback));
}

}  // namespace desaster
