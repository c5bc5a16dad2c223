// desaster-web's JSON API: each endpoint is one or a few of the scheduler's native commands
// (QUEUE.*, JOB.*, FAILED.*, SCHEDULE.*, WORKER.*), so anything the UI does can also be done
// with redis-cli. docs/WEB.md lists the endpoints. The API holds no state of its own.
#pragma once

#include <ev++.h>

#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "client/scheduler_connection.h"
#include "web/auth.h"
#include "web/http_server.h"
#include "web/reply_json.h"

namespace desaster::web {

class Api {
 public:
  // `scheduler`: desaster-web's own connection, logged in with `access`; a user's session
  // connects like it, as its user.
  Api(ev::loop_ref loop, client::SchedulerConnection* scheduler,
      const client::SchedulerAccess& access, Auth* auth);

  // Answers a request whose path starts with /api/.
  void Handle(std::shared_ptr<Exchange> exchange);

  // One API request being answered: its path parameters and JSON body.
  struct Call;
  using CallPtr = std::shared_ptr<Call>;

 private:
  using Handler = void (Api::*)(const CallPtr&);
  struct Route {
    std::string method;
    std::vector<std::string> pattern;  // path segments; "{}" matches any one segment
    Handler handler = nullptr;         // or, without one:
    std::string command = {};          // the command run with the path parameters as its args
    Shape shape = Shape::kValue;       // and the shape of its reply
    bool changes = false;              // not a GET: needs the CSRF token
  };
  // The fluent route table (Dragonfly's registration style): a handler, or a command.
  Api& Get(const std::string& path, Handler h);
  Api& Post(const std::string& path, Handler h);
  Api& Delete(const std::string& path, Handler h);
  Api& Get(const std::string& path, std::string command, Shape shape);
  Api& Post(const std::string& path, std::string command, Shape shape);
  Api& Delete(const std::string& path, std::string command, Shape shape);
  Api& Add(Route route, const std::string& path);

  // Sends argv; replies the result shaped as JSON, the scheduler's error as 400, or 503.
  void Forward(const CallPtr& call, std::vector<std::string> argv, Shape shape);
  // Sends every command, then calls `done` with their JSON replies in order (or answers the
  // error of the first that failed). `errors_as_null`: an error reply becomes null instead (a
  // queue deleted between QUEUE.LIST and its QUEUE.INFO).
  void Gather(const CallPtr& call, std::vector<std::vector<std::string>> commands,
              std::vector<Shape> shapes, std::function<void(std::vector<nlohmann::json>)> done,
              bool errors_as_null = false);

  // Runs `list` (queue keys, schedule names), then `info name` for each, and calls `done` with
  // the array of their maps (a name that vanished in between left out).
  void Expand(const CallPtr& call, std::vector<std::string> list, std::string info,
              std::function<void(nlohmann::json)> done);

  // 429: the client sent too many wrong passwords, and waits `wait_ms` more.
  static void TooManyFailures(const CallPtr& call, int64_t wait_ms);

  // The connection a call's commands go to: its user's, or desaster-web's own.
  client::SchedulerConnection* SchedulerOf(const Call& call) const;

  // Endpoints.
  void Session(const CallPtr& call);
  void Login(const CallPtr& call);
  // With users: the scheduler checks the password on a connection of the session's own, and
  // desaster-web's user asks it (ACL DRYRUN) which of the UI's actions the user may run.
  void LoginUser(const CallPtr& call);
  void Logout(const CallPtr& call);
  void Overview(const CallPtr& call);
  void Events(const CallPtr& call);
  void Stats(const CallPtr& call);
  void ListQueues(const CallPtr& call);
  void CreateQueue(const CallPtr& call);
  void ConfigureQueue(const CallPtr& call);
  void QueueJobs(const CallPtr& call);
  void PushJob(const CallPtr& call);
  void JobAction(const CallPtr& call);
  void JobOutput(const CallPtr& call);
  void WorkerAction(const CallPtr& call);
  void FailedList(const CallPtr& call);
  void FailedGroups(const CallPtr& call);
  void FailedAction(const CallPtr& call);
  void CompletedList(const CallPtr& call);
  void CompletedAction(const CallPtr& call);
  void MetricsTop(const CallPtr& call);
  void MetricsRange(const CallPtr& call);
  void Schedules(const CallPtr& call);
  void SetSchedule(const CallPtr& call);

  // The dashboard's snapshot (queues, workers, failures, throughput, node), computed at most
  // once per tick however many pages watch it.
  void Snapshot(const CallPtr& call, std::function<void(nlohmann::json)> done);
  void OnTick(ev::timer&, int);

  ev::loop_ref loop_;
  client::SchedulerConnection* scheduler_;
  client::SchedulerAccess access_;
  Auth* auth_;
  // Connections of logins under way, and of logins refused (freed at the next request: they
  // said so from within their own callback).
  std::vector<std::shared_ptr<client::SchedulerConnection>> logins_, refused_logins_;
  std::vector<Route> routes_;
  // An open event stream, and the connection its snapshots are read with (its user's: a user
  // sees only what the user may read).
  struct Watcher {
    std::shared_ptr<Exchange> exchange;
    std::shared_ptr<client::SchedulerConnection> scheduler;
  };
  std::vector<Watcher> watchers_;
  ev::timer tick_;
  // Connections whose snapshot of the last tick is still being gathered.
  std::set<const client::SchedulerConnection*> snapshots_pending_;
};

}  // namespace desaster::web
