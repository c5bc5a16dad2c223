#include "web/api.h"

#include <hiredis/hiredis.h>

#include <chrono>
#include <span>

namespace desaster::web {

using nlohmann::json;

namespace {

int64_t NowMs() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

std::string Dump(const json& j) {
  // Payloads are the clients' bytes: invalid UTF-8 is shown replaced rather than refused.
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::vector<std::string> Split(std::string_view path) {
  std::vector<std::string> out;
  while (!path.empty()) {
    size_t slash = path.find('/');
    std::string_view part = path.substr(0, slash);
    if (!part.empty()) out.push_back(PercentDecode(part));
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash + 1);
  }
  return out;
}

// A request's scalar fields: the query parameters of a GET, the scalar members of a JSON body.
using Fields = std::map<std::string, std::string>;

// A field that becomes a command option: `field` -> KEYWORD value; a range reads field_min and
// field_max -> KEYWORD min max (a missing end is open).
struct Option {
  const char* field;
  const char* keyword;
  const char* range_min = nullptr;  // set for ranges: the open lower end
  const char* range_max = nullptr;
};

constexpr Option kJobFilters[] = {
    {"state", "STATE"},
    {"match", "MATCH"},
    {"class", "CLASS"},
    {"args", "ARGS"},
    {"flow", "FLOW"},
    {"capability", "CAPABILITY"},
    {"min_age", "MINAGE"},
    {"max_age", "MAXAGE"},
    {"priority", "PRIORITY", "-2147483648", "2147483647"},
};
constexpr Option kFailedFilters[] = {
    {"state", "STATE"}, {"match", "MATCH"},
    {"queue", "QUEUE"}, {"class", "CLASS"},
    {"error", "ERROR"}, {"fingerprint", "FINGERPRINT"},
    {"job", "JOB"},     {"since", "SINCE"},
    {"until", "UNTIL"}, {"attempt", "ATTEMPT", "0", "4294967295"},
};
constexpr Option kCompletedFilters[] = {
    {"match", "MATCH"},
    {"queue", "QUEUE"},
    {"class", "CLASS"},
    {"worker", "WORKER"},
    {"since", "SINCE"},
    {"until", "UNTIL"},
    {"duration", "DURATION", "0", "9223372036854775807"},
};
constexpr Option kMetricsRange[] = {{"since", "SINCE"},
                                    {"until", "UNTIL"},
                                    {"last", "LAST"},
                                    {"resolution", "RESOLUTION"},
                                    {"limit", "LIMIT"}};
constexpr Option kPaging[] = {{"offset", "OFFSET"}, {"limit", "LIMIT"}};
constexpr Option kQueueOptions[] = {
    {"discipline", "DISCIPLINE"}, {"unique", "UNIQUE"},   {"unique_by", "UNIQUE_BY"},
    {"retry", "RETRY"},           {"backoff", "BACKOFF"}, {"capability", "CAPABILITY"},
    {"paused", "PAUSED"},
};
constexpr Option kPushOptions[] = {
    {"delay_ms", "DELAY"}, {"at", "AT"},         {"priority", "PRIORITY"},
    {"flow", "FLOW"},      {"unique", "UNIQUE"}, {"capability", "CAPABILITY"},
};
constexpr Option kScheduleOptions[] = {
    {"cron", "CRON"},
    {"queue", "QUEUE"},
    {"payload", "PAYLOAD"},
    {"tz", "TZ"},
    {"priority", "PRIORITY"},
    {"flow", "FLOW"},
    {"capability", "CAPABILITY"},
    {"paused", "PAUSED"},
};
constexpr Option kUpdateFields[] = {
    {"priority", "PRIORITY"}, {"flow", "FLOW"}, {"capability", "CAPABILITY"}, {"run_at", "RUNAT"}};

void AppendOptions(const Fields& f, std::span<const Option> options,
                   std::vector<std::string>* argv) {
  for (const Option& o : options) {
    if (o.range_min) {
      auto lo = f.find(std::string(o.field) + "_min"), hi = f.find(std::string(o.field) + "_max");
      bool has_lo = lo != f.end() && !lo->second.empty(),
           has_hi = hi != f.end() && !hi->second.empty();
      if (!has_lo && !has_hi) continue;
      argv->insert(argv->end(), {o.keyword, has_lo ? lo->second : o.range_min,
                                 has_hi ? hi->second : o.range_max});
    } else if (auto it = f.find(o.field); it != f.end() && !it->second.empty()) {
      argv->insert(argv->end(), {o.keyword, it->second});
    }
  }
}

// SORT field [ASC|DESC] from `sort` and `order`.
void AppendSort(const Fields& f, std::vector<std::string>* argv) {
  auto sort = f.find("sort");
  if (sort == f.end() || sort->second.empty()) return;
  argv->insert(argv->end(), {"SORT", sort->second});
  if (auto order = f.find("order"); order != f.end() && !order->second.empty()) {
    argv->push_back(order->second);
  }
}

// The scalar members of a JSON object as strings (booleans as yes/no, objects given as a
// payload as their JSON text); false with *error for other kinds.
bool ScalarFields(const json& body, Fields* out, std::string* error) {
  for (const auto& [name, v] : body.items()) {
    if (v.is_string()) {
      (*out)[name] = v.get<std::string>();
    } else if (v.is_number_integer() || v.is_number_float()) {
      (*out)[name] = v.dump();
    } else if (v.is_boolean()) {
      (*out)[name] = v.get<bool>() ? "yes" : "no";
    } else if (v.is_object() && (name == "payload")) {
      (*out)[name] = Dump(v);
    } else if (!v.is_null() && !v.is_array() && !v.is_object()) {
      *error = "field '" + name + "' has an unsupported type";
      return false;
    }
  }
  return true;
}

// A JSON array of strings (ids, queue keys); false with *error otherwise.
bool Strings(const json& v, const char* name, std::vector<std::string>* out, std::string* error) {
  if (!v.is_array() || v.empty()) {
    *error = std::string("'") + name + "' must be a non-empty array of strings";
    return false;
  }
  for (const json& s : v) {
    if (!s.is_string()) {
      *error = std::string("'") + name + "' must be a non-empty array of strings";
      return false;
    }
    out->push_back(s.get<std::string>());
  }
  return true;
}

// INFO's "name:value" lines as an object.
json ParseInfo(const std::string& text) {
  json out = json::object();
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    std::string line = text.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
    pos = nl == std::string::npos ? text.size() : nl + 1;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    size_t colon = line.find(':');
    if (line.empty() || line[0] == '#' || colon == std::string::npos) continue;
    out[line.substr(0, colon)] = line.substr(colon + 1);
  }
  return out;
}

}  // namespace

struct Api::Call {
  std::shared_ptr<Exchange> exchange;
  Auth::Access access;
  std::vector<std::string> params;  // decoded path parameters, in order
  json body = json::object();       // the JSON body (an object; empty without one)
  Fields fields;                    // query parameters, or the body's scalar members
  // Where failures go instead of the response (the event stream's snapshots).
  std::function<void(int, std::string_view)> on_fail;

  const HttpRequest& request() const { return exchange->request(); }
  void Reply(const json& j, int status = 200,
             std::vector<std::pair<std::string, std::string>> headers = {}) {
    headers.emplace_back("Cache-Control", "no-store");
    exchange->Respond({.status = status, .headers = std::move(headers), .body = Dump(j)});
  }
  void Fail(int status, std::string_view message) {
    if (on_fail) return on_fail(status, message);
    Reply(json{{"error", message}}, status);
  }
  // The scheduler's error reply: 403 when its user may not (NOPERM), else 400.
  void FailWith(const redisReply& error) {
    std::string_view text(error.str, error.len);
    Fail(text.starts_with("NOPERM") ? 403 : 400, text);
  }
};

Api::Api(ev::loop_ref loop, client::SchedulerConnection* scheduler,
         const client::SchedulerAccess& access, Auth* auth)
    : loop_(loop), scheduler_(scheduler), access_(access), auth_(auth), tick_(loop) {
  Get("/api/session", &Api::Session)
      .Post("/api/login", &Api::Login)
      .Post("/api/logout", &Api::Logout)
      .Get("/api/overview", &Api::Overview)
      .Get("/api/events", &Api::Events)
      .Get("/api/stats", &Api::Stats)
      .Get("/api/disciplines", "QUEUE.DISCIPLINES", Shape::kMap)
      .Get("/api/queues", &Api::ListQueues)
      .Post("/api/queues", &Api::CreateQueue)
      .Get("/api/queues/{}", "QUEUE.INFO", Shape::kMap)
      .Delete("/api/queues/{}", "QUEUE.DELETE", Shape::kValue)
      .Post("/api/queues/{}/config", &Api::ConfigureQueue)
      .Post("/api/queues/{}/pause", "QUEUE.PAUSE", Shape::kValue)
      .Post("/api/queues/{}/resume", "QUEUE.RESUME", Shape::kValue)
      .Post("/api/queues/{}/clear", "QUEUE.CLEAR", Shape::kValue)
      .Get("/api/queues/{}/jobs", &Api::QueueJobs)
      .Post("/api/queues/{}/jobs", &Api::PushJob)
      .Get("/api/jobs/{}", "JOB.INFO", Shape::kMap)
      .Post("/api/jobs/{}/kill", "JOB.KILL", Shape::kValue)
      .Get("/api/jobs/{}/output", &Api::JobOutput)
      .Post("/api/jobs/{}", &Api::JobAction)  // delete, move, update, run
      .Get("/api/workers", "WORKER.LIST", Shape::kMapList)
      .Get("/api/cluster", "CLUSTER.STATUS", Shape::kMap)
      .Post("/api/workers/{}/{}", &Api::WorkerAction)  // attach, detach, quiet, unquiet, stop
      .Get("/api/failed", &Api::FailedList)
      .Get("/api/failed/groups", &Api::FailedGroups)
      .Get("/api/failed/counts", "FAILED.COUNTS", Shape::kMap)
      .Get("/api/failed/{}", "FAILED.INFO", Shape::kMap)
      .Post("/api/failed/{}", &Api::FailedAction)  // retry, cancel, remove
      .Get("/api/completed", &Api::CompletedList)
      .Get("/api/completed/{}", "COMPLETED.INFO", Shape::kMap)
      .Post("/api/completed/{}", &Api::CompletedAction)  // rerun, remove
      .Get("/api/metrics/{}", &Api::MetricsTop)
      .Get("/api/metrics/{}/{}", &Api::MetricsRange)
      .Get("/api/schedules", &Api::Schedules)
      .Post("/api/schedules", &Api::SetSchedule)
      .Post("/api/schedules/{}/run", "SCHEDULE.RUN", Shape::kValue)
      .Delete("/api/schedules/{}", "SCHEDULE.DELETE", Shape::kValue);
  tick_.set<Api, &Api::OnTick>(this);
}

Api& Api::Add(Route route, const std::string& path) {
  route.pattern = Split(path);
  route.changes = route.method != "GET";
  routes_.push_back(std::move(route));
  return *this;
}
Api& Api::Get(const std::string& path, Handler h) { return Add({"GET", {}, h}, path); }
Api& Api::Post(const std::string& path, Handler h) { return Add({"POST", {}, h}, path); }
Api& Api::Delete(const std::string& path, Handler h) { return Add({"DELETE", {}, h}, path); }
Api& Api::Get(const std::string& path, std::string command, Shape shape) {
  return Add({"GET", {}, nullptr, std::move(command), shape}, path);
}
Api& Api::Post(const std::string& path, std::string command, Shape shape) {
  return Add({"POST", {}, nullptr, std::move(command), shape}, path);
}
Api& Api::Delete(const std::string& path, std::string command, Shape shape) {
  return Add({"DELETE", {}, nullptr, std::move(command), shape}, path);
}

void Api::Handle(std::shared_ptr<Exchange> exchange) {
  refused_logins_.clear();
  auto call = std::make_shared<Call>();
  call->exchange = std::move(exchange);
  const HttpRequest& req = call->request();
  std::vector<std::string> segments = Split(req.path);
  const Route* route = nullptr;
  bool path_known = false;
  for (const Route& r : routes_) {
    if (r.pattern.size() != segments.size()) continue;
    std::vector<std::string> params;
    bool match = true;
    for (size_t i = 0; match && i < segments.size(); i++) {
      if (r.pattern[i] == "{}") {
        params.push_back(segments[i]);
      } else {
        match = r.pattern[i] == segments[i];
      }
    }
    if (!match) continue;
    path_known = true;
    if (r.method == req.method || (r.method == "GET" && req.method == "HEAD")) {
      route = &r;
      call->params = std::move(params);
      break;
    }
  }
  if (!route)
    return call->Fail(path_known ? 405 : 404,
                      path_known ? "method not allowed" : "no such endpoint");

  int64_t wait_ms = auth_->WaitMs(req.peer, NowMs());  // before this request's own attempt
  call->access = auth_->Check(req, NowMs());
  bool open = route->handler == &Api::Session || route->handler == &Api::Login;
  if (!open && !call->access.authenticated) {
    bool bearer = !req.Header("authorization").empty();
    return bearer && wait_ms ? TooManyFailures(call, wait_ms) : call->Fail(401, "log in first");
  }
  if (route->changes && !open && !auth_->MayChange(req, call->access)) {
    return call->Fail(403, "missing or wrong X-CSRF-Token header (GET /api/session gives it)");
  }
  if (route->changes) {
    if (!req.body.empty()) {
      const std::string& type = req.Header("content-type");
      if (!type.starts_with("application/json")) {
        return call->Fail(415, "send the body as application/json");
      }
      call->body = json::parse(req.body, nullptr, false);
      if (call->body.is_discarded() || !call->body.is_object()) {
        return call->Fail(400, "the body must be a JSON object");
      }
    }
    std::string error;
    if (!ScalarFields(call->body, &call->fields, &error)) return call->Fail(400, error);
  } else {
    call->fields = req.query;
  }
  if (route->handler) return (this->*route->handler)(call);
  std::vector<std::string> argv = {route->command};
  argv.insert(argv.end(), call->params.begin(), call->params.end());
  Forward(call, std::move(argv), route->shape);
}

client::SchedulerConnection* Api::SchedulerOf(const Call& call) const {
  return call.access.scheduler ? call.access.scheduler.get() : scheduler_;
}

void Api::Forward(const CallPtr& call, std::vector<std::string> argv, Shape shape) {
  SchedulerOf(*call)->Send(argv, [call, shape](redisReply* r) {
    if (!r) return call->Fail(503, "the scheduler is not reachable");
    if (r->type == REDIS_REPLY_ERROR) return call->FailWith(*r);
    call->Reply(json{{"result", ToJson(r, shape)}});
  });
}

void Api::Gather(const CallPtr& call, std::vector<std::vector<std::string>> commands,
                 std::vector<Shape> shapes, std::function<void(std::vector<json>)> done,
                 bool errors_as_null) {
  struct State {
    std::vector<json> replies;
    size_t left;
    bool failed = false;
  };
  auto state = std::make_shared<State>(State{std::vector<json>(commands.size()), commands.size()});
  if (commands.empty()) return done({});
  for (size_t i = 0; i < commands.size(); i++) {
    SchedulerOf(*call)->Send(commands[i], [=](redisReply* r) {
      if (state->failed) return;
      if (r && r->type == REDIS_REPLY_ERROR && errors_as_null) {
        state->replies[i] = nullptr;
      } else if (!r || r->type == REDIS_REPLY_ERROR) {
        state->failed = true;
        return r ? call->FailWith(*r) : call->Fail(503, "the scheduler is not reachable");
      } else {
        state->replies[i] = ToJson(r, shapes[i]);
      }
      if (--state->left == 0) done(std::move(state->replies));
    });
  }
}

// ---- session ----

void Api::TooManyFailures(const CallPtr& call, int64_t wait_ms) {
  int64_t seconds = (wait_ms + 999) / 1000;
  call->Reply(
      json{{"error", "too many wrong passwords: try again in " + std::to_string(seconds) + " s"}},
      429, {{"Retry-After", std::to_string(seconds)}});
}

void Api::Session(const CallPtr& call) {
  call->Reply({{"login_required", auth_->login_required()},
               {"users", auth_->users()},
               {"authenticated", call->access.authenticated},
               {"user", call->access.user},
               {"denied", call->access.denied},
               {"csrf", call->access.csrf}});
}

void Api::Login(const CallPtr& call) {
  const std::string& peer = call->request().peer;
  if (int64_t wait_ms = auth_->WaitMs(peer, NowMs())) return TooManyFailures(call, wait_ms);
  if (auth_->users()) return LoginUser(call);
  auto session = auth_->Login(call->fields["password"], peer, NowMs());
  if (!session) {
    return call->Fail(auth_->login_required() ? 401 : 400,
                      auth_->login_required() ? "wrong password" : "this UI has no login");
  }
  call->Reply({{"authenticated", true}, {"csrf", session->second}}, 200,
              {{"Set-Cookie", session->first}});
}

namespace {

// The commands behind the UI's actions, with arguments of the right shape for ACL DRYRUN. A
// refusal of the key means the user may run the command on other keys: only a refusal of the
// command itself hides an action.
const std::vector<std::vector<std::string>> kUiActions = {
    {"QUEUE.CREATE", "q"},
    {"QUEUE.CONFIG", "q"},
    {"QUEUE.PAUSE", "q"},
    {"QUEUE.RESUME", "q"},
    {"QUEUE.CLEAR", "q"},
    {"QUEUE.DELETE", "q"},
    {"JOB.PUSH", "q", "{}"},
    {"JOB.KILL", "0"},
    {"JOB.DELETE", "0"},
    {"JOB.MOVE", "q", "0"},
    {"JOB.RUN", "0"},
    {"JOB.UPDATE", "0", "SET", "PRIORITY", "0"},
    {"WORKER.ATTACH", "w", "q"},
    {"WORKER.DETACH", "w", "q"},
    {"WORKER.STOP", "w"},
    {"WORKER.QUIET", "w"},
    {"FAILED.RETRY", "0"},
    {"FAILED.CANCEL", "0"},
    {"FAILED.REMOVE", "0"},
    {"COMPLETED.RERUN", "0"},
    {"COMPLETED.REMOVE", "0"},
    {"SCHEDULE.SET", "s", "CRON", "* * * * *", "QUEUE", "q"},
    {"SCHEDULE.RUN", "s"},
    {"SCHEDULE.DELETE", "s"},
};

}  // namespace

void Api::LoginUser(const CallPtr& call) {
  std::string user = call->fields["user"];
  if (user.empty()) return call->Fail(400, "give a user name");
  if (!scheduler_->connected()) return call->Fail(503, "the scheduler is not reachable");
  auto session = std::make_shared<client::SchedulerConnection>(loop_);
  client::SchedulerAccess access = access_;
  access.user = user;
  access.password = call->fields["password"];
  logins_.push_back(session);
  std::weak_ptr<client::SchedulerConnection> weak = session;
  auto up = [this, call, weak, user](bool ok, const std::string& why) {
    auto session = weak.lock();
    if (!session) return;
    std::erase(logins_, session);
    if (!ok) {
      // Freed later: this runs inside the connection's own callback.
      refused_logins_.push_back(std::move(session));
      if (!why.starts_with("WRONGPASS")) return call->Fail(503, "the scheduler is not reachable");
      auth_->Failed(call->request().peer, NowMs());
      return call->Fail(401, "wrong user name or password");
    }
    auto denied = std::make_shared<std::vector<std::string>>();
    auto left = std::make_shared<size_t>(kUiActions.size());
    for (const auto& action : kUiActions) {
      std::vector<std::string> argv = {"ACL", "DRYRUN", user};
      argv.insert(argv.end(), action.begin(), action.end());
      scheduler_->Send(argv, [=, this](redisReply* r) {
        // ("This user has no permissions to run the 'x' command": the command is refused.)
        if (r && r->type == REDIS_REPLY_STRING &&
            std::string_view(r->str, r->len).find("permissions to run the") !=
                std::string_view::npos) {
          std::string name = action[0];
          for (char& ch : name)
            ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
          denied->push_back(name);
        }
        if (--*left > 0) return;
        if (!session->connected()) return call->Fail(503, "the scheduler is not reachable");
        auto [cookie, csrf] =
            auth_->StartUserSession(user, session, *denied, call->request().peer, NowMs());
        call->Reply({{"authenticated", true}, {"user", user}, {"denied", *denied}, {"csrf", csrf}},
                    200, {{"Set-Cookie", cookie}});
      });
    }
  };
  session->Connect(scheduler_->host(), scheduler_->port(), access, up, [] {});
}

void Api::Logout(const CallPtr& call) {
  call->Reply({{"authenticated", false}}, 200, {{"Set-Cookie", auth_->Logout(call->request())}});
}

// ---- dashboard ----

// A part the user may not read (an ACL user without INFO, say) is null.
void Api::Snapshot(const CallPtr& call, std::function<void(json)> done) {
  Gather(
      call,
      {{"WORKER.LIST"},
       {"QUEUE.STATS", "SECONDS", "300"},
       {"QUEUE.STATS", "MINUTES", "1440"},
       {"FAILED.COUNTS"},
       {"INFO"}},
      {Shape::kMapList, Shape::kMap, Shape::kMap, Shape::kMap, Shape::kValue},
      [this, call, done](std::vector<json> r) {
        json base = {{"workers", r[0]},
                     {"seconds", r[1]},
                     {"minutes", r[2]},
                     {"failed", r[3]},
                     {"node", r[4].is_string() ? ParseInfo(r[4].get<std::string>()) : json()},
                     {"time", NowMs()}};
        Expand(call, {"QUEUE.LIST"}, "QUEUE.INFO", [base, done](json queues) mutable {
          base["queues"] = std::move(queues);
          done(std::move(base));
        });
      },
      true);
}

void Api::Expand(const CallPtr& call, std::vector<std::string> list, std::string info,
                 std::function<void(json)> done) {
  Gather(call, {std::move(list)}, {Shape::kValue}, [=, this](std::vector<json> names) {
    std::vector<std::vector<std::string>> infos;
    for (const json& name : names[0]) infos.push_back({info, name.get<std::string>()});
    Gather(
        call, infos, std::vector<Shape>(infos.size(), Shape::kMap),
        [done](std::vector<json> maps) {
          std::erase_if(maps, [](const json& m) { return m.is_null(); });
          done(json(std::move(maps)));
        },
        true);
  });
}

void Api::Overview(const CallPtr& call) {
  Snapshot(call, [call](json overview) { call->Reply(overview); });
}

void Api::Events(const CallPtr& call) {
  call->exchange->StartEvents();
  watchers_.push_back({call->exchange, call->access.scheduler});
  if (!tick_.is_active()) tick_.start(0, 1.0);  // the first snapshot goes out at once
}

void Api::OnTick(ev::timer&, int) {
  // A stream lasts as long as its session: one that logged out (or expired) is told so.
  std::erase_if(watchers_, [this](const Watcher& w) {
    if (!w.exchange->open()) return true;
    if (auth_->Check(w.exchange->request(), NowMs()).authenticated) return false;
    w.exchange->SendEvent("error", Dump(json{{"error", "log in first"}}));
    w.exchange->EndEvents();
    return true;
  });
  if (watchers_.empty()) return tick_.stop();
  // One snapshot per connection however many pages watch through it; a scheduler slower than
  // the tick gets no second request on top of the first.
  for (const Watcher& watcher : watchers_) {
    std::shared_ptr<client::SchedulerConnection> scheduler = watcher.scheduler;
    if (!snapshots_pending_.insert(scheduler.get()).second) continue;
    auto send = [this, scheduler](std::string_view event, const std::string& data) {
      snapshots_pending_.erase(scheduler.get());
      for (const Watcher& w : watchers_) {
        if (w.scheduler == scheduler) w.exchange->SendEvent(event, data);
      }
    };
    // The snapshot answers no request: a failure becomes an "error" event.
    auto tick = std::make_shared<Call>();
    tick->access.scheduler = scheduler;
    tick->on_fail = [send](int, std::string_view message) {
      send("error", Dump(json{{"error", message}}));
    };
    Snapshot(tick, [send](json overview) { send("overview", Dump(overview)); });
  }
}

void Api::Stats(const CallPtr& call) {
  std::string range = call->fields["range"] == "minutes" ? "MINUTES" : "SECONDS";
  std::string count = call->fields.count("count") ? call->fields["count"] : "300";
  Forward(call, {"QUEUE.STATS", range, count}, Shape::kMap);
}

// ---- queues ----

void Api::ListQueues(const CallPtr& call) {
  std::vector<std::string> list = {"QUEUE.LIST"};
  if (!call->fields["match"].empty()) list.insert(list.end(), {"MATCH", call->fields["match"]});
  Expand(call, list, "QUEUE.INFO", [call](json queues) { call->Reply({{"result", queues}}); });
}

// QUEUE.CREATE/CONFIG options from the body; `params` is an object of discipline parameters.
static bool QueueArgv(Api::Call& call, std::vector<std::string>* argv) {
  AppendOptions(call.fields, kQueueOptions, argv);
  if (call.body.contains("params")) {
    const json& params = call.body["params"];
    if (!params.is_object()) return call.Fail(400, "'params' must be an object"), false;
    for (const auto& [name, value] : params.items()) {
      argv->insert(argv->end(),
                   {"PARAM", name, value.is_string() ? value.get<std::string>() : Dump(value)});
    }
  }
  return true;
}

void Api::CreateQueue(const CallPtr& call) {
  std::string key = call->fields["queue"];
  if (key.empty()) return call->Fail(400, "'queue' (the queue's key) is required");
  std::vector<std::string> argv = {"QUEUE.CREATE", key};
  if (QueueArgv(*call, &argv)) Forward(call, argv, Shape::kValue);
}

void Api::ConfigureQueue(const CallPtr& call) {
  std::vector<std::string> argv = {"QUEUE.CONFIG", call->params[0]};
  if (!QueueArgv(*call, &argv)) return;
  if (argv.size() == 2) return call->Fail(400, "nothing to change");
  Forward(call, argv, Shape::kValue);
}

// A listing command (QUEUE.JOBS, FAILED.LIST, COMPLETED.LIST) with the filters, sort and
// page of a query.
std::vector<std::string> ListArgv(std::vector<std::string> argv, const Fields& f,
                                  std::span<const Option> filters) {
  AppendOptions(f, filters, &argv);
  AppendSort(f, &argv);
  AppendOptions(f, kPaging, &argv);
  return argv;
}

void Api::QueueJobs(const CallPtr& call) {
  Forward(call, ListArgv({"QUEUE.JOBS", call->params[0]}, call->fields, kJobFilters), Shape::kMap);
}

void Api::PushJob(const CallPtr& call) {
  auto payload = call->fields.find("payload");
  if (payload == call->fields.end()) return call->Fail(400, "'payload' is required");
  std::vector<std::string> argv = {"JOB.PUSH", call->params[0], payload->second};
  AppendOptions(call->fields, kPushOptions, &argv);
  Forward(call, argv, Shape::kValue);
}

// ---- jobs ----

// The jobs an action is for: {"ids": [...]} or {"where": {"queue": key, filters...}}.
// `where_needs_queue`: the WHERE form names a queue first (JOB.*), or not (FAILED.*).
static bool Targets(Api::Call& call, bool where_needs_queue, std::span<const Option> filters,
                    std::vector<std::string>* argv) {
  std::string error;
  if (call.body.contains("ids")) {
    if (!Strings(call.body["ids"], "ids", argv, &error)) return call.Fail(400, error), false;
    return true;
  }
  if (!call.body.contains("where") || !call.body["where"].is_object()) {
    return call.Fail(400, "say which: 'ids' (an array) or 'where' (an object of filters)"), false;
  }
  Fields where;
  if (!ScalarFields(call.body["where"], &where, &error)) return call.Fail(400, error), false;
  argv->push_back("WHERE");
  if (where_needs_queue) {
    if (where["queue"].empty()) return call.Fail(400, "'where' needs the 'queue'"), false;
    argv->push_back(where["queue"]);
  }
  AppendOptions(where, filters, argv);
  return true;
}

void Api::JobOutput(const CallPtr& call) {
  std::vector<std::string> argv = {"JOB.OUTPUT", call->params[0]};
  if (const std::string& from = call->fields["from"]; !from.empty()) {
    argv.insert(argv.end(), {"FROM", from});
  }
  Forward(call, argv, Shape::kMap);
}

void Api::JobAction(const CallPtr& call) {
  const std::string& action = call->params[0];
  std::vector<std::string> argv;
  if (action == "delete") {
    argv = {"JOB.DELETE"};
  } else if (action == "run") {
    argv = {"JOB.RUN"};
  } else if (action == "move") {
    if (call->fields["to"].empty())
      return call->Fail(400, "'to' (the destination queue) is required");
    argv = {"JOB.MOVE", call->fields["to"]};
  } else if (action != "update") {
    return call->Fail(404, "no such job action (delete, move, update, run)");
  }
  if (action == "update") {
    // JOB.UPDATE targets SET fields: the targets come first.
    std::vector<std::string> targets;
    if (!Targets(*call, true, kJobFilters, &targets)) return;
    Fields set;
    std::string error;
    if (!call->body.contains("set") || !call->body["set"].is_object() ||
        !ScalarFields(call->body["set"], &set, &error)) {
      return call->Fail(400, error.empty() ? "'set' (an object of fields) is required" : error);
    }
    std::vector<std::string> fields;
    AppendOptions(set, kUpdateFields, &fields);
    if (fields.empty())
      return call->Fail(400, "'set' changes priority, flow, capability or run_at");
    argv = {"JOB.UPDATE"};
    argv.insert(argv.end(), targets.begin(), targets.end());
    argv.push_back("SET");
    argv.insert(argv.end(), fields.begin(), fields.end());
    return Forward(call, argv, Shape::kValue);
  }
  if (Targets(*call, true, kJobFilters, &argv)) Forward(call, argv, Shape::kValue);
}

// ---- workers ----

void Api::WorkerAction(const CallPtr& call) {
  const std::string &id = call->params[0], &action = call->params[1];
  if (action == "stop") return Forward(call, {"WORKER.STOP", id}, Shape::kValue);
  if (action == "quiet" || action == "unquiet") {
    return Forward(call, {"WORKER.QUIET", id, action == "quiet" ? "ON" : "OFF"}, Shape::kValue);
  }
  if (action != "attach" && action != "detach") {
    return call->Fail(404, "no such worker action (attach, detach, quiet, unquiet, stop)");
  }
  std::vector<std::string> argv = {action == "attach" ? "WORKER.ATTACH" : "WORKER.DETACH", id};
  std::string error;
  if (!Strings(call->body.value("queues", json()), "queues", &argv, &error)) {
    return call->Fail(400, error);
  }
  Forward(call, argv, Shape::kValue);
}

// ---- failures ----

void Api::FailedList(const CallPtr& call) {
  Forward(call, ListArgv({"FAILED.LIST"}, call->fields, kFailedFilters), Shape::kMap);
}

void Api::FailedGroups(const CallPtr& call) {
  std::string by = call->fields["by"].empty() ? "fingerprint" : call->fields["by"];
  std::vector<std::string> argv = {"FAILED.GROUPS", "BY", by};
  AppendOptions(call->fields, kFailedFilters, &argv);
  Forward(call, argv, Shape::kMapList);
}

// The command of a store's action (params[0]) on the ids or the `where` of the body; false
// when it failed the call.
static bool StoreAction(Api::Call& call, const std::map<std::string, std::string>& commands,
                        std::string_view what, std::span<const Option> filters,
                        std::vector<std::string>* argv) {
  auto command = commands.find(call.params[0]);
  if (command == commands.end()) {
    std::string names;
    for (const auto& [name, _] : commands) names += (names.empty() ? "" : ", ") + name;
    return call.Fail(404, "no such " + std::string(what) + " action (" + names + ")"), false;
  }
  argv->push_back(command->second);
  return Targets(call, false, filters, argv);
}

void Api::FailedAction(const CallPtr& call) {
  static const std::map<std::string, std::string> kCommands = {
      {"retry", "FAILED.RETRY"}, {"cancel", "FAILED.CANCEL"}, {"remove", "FAILED.REMOVE"}};
  std::vector<std::string> argv;
  if (StoreAction(*call, kCommands, "failure", kFailedFilters, &argv)) {
    Forward(call, argv, Shape::kValue);
  }
}

// ---- metrics ----

void Api::MetricsTop(const CallPtr& call) {
  std::vector<std::string> argv = {"METRICS.TOP", call->params[0]};
  AppendOptions(call->fields, kMetricsRange, &argv);
  Forward(call, argv, Shape::kMap);
}

void Api::MetricsRange(const CallPtr& call) {
  std::vector<std::string> argv = {"METRICS.RANGE", call->params[0], call->params[1]};
  AppendOptions(call->fields, kMetricsRange, &argv);
  Forward(call, argv, Shape::kMap);
}

// ---- completed jobs ----

void Api::CompletedList(const CallPtr& call) {
  Forward(call, ListArgv({"COMPLETED.LIST"}, call->fields, kCompletedFilters), Shape::kMap);
}

void Api::CompletedAction(const CallPtr& call) {
  static const std::map<std::string, std::string> kCommands = {{"rerun", "COMPLETED.RERUN"},
                                                               {"remove", "COMPLETED.REMOVE"}};
  std::vector<std::string> argv;
  if (StoreAction(*call, kCommands, "completed job", kCompletedFilters, &argv)) {
    Forward(call, argv, Shape::kValue);
  }
}

// ---- schedules ----

void Api::Schedules(const CallPtr& call) {
  Expand(call, {"SCHEDULE.LIST"}, "SCHEDULE.INFO", [call](json schedules) {
    call->Reply({{"result", schedules}});
  });
}

void Api::SetSchedule(const CallPtr& call) {
  std::string name = call->fields["name"];
  if (name.empty()) return call->Fail(400, "'name' is required");
  std::vector<std::string> argv = {"SCHEDULE.SET", name};
  AppendOptions(call->fields, kScheduleOptions, &argv);
  Forward(call, argv, Shape::kValue);
}

}  // namespace desaster::web
