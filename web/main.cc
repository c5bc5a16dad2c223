// desaster-web: the browser UI and JSON API of a desaster scheduler. It keeps no state: every
// page and API call is the scheduler's native commands over one hiredis connection.
#include <signal.h>
#include <sys/resource.h>

#include <algorithm>
#include <boost/program_options.hpp>
#include <cstdio>
#include <cstdlib>
#include <iostream>

#include "client/command_line.h"
#include "client/scheduler_connection.h"
#include "web/api.h"
#include "web/assets.h"
#include "web/auth.h"
#include "web/http_server.h"

namespace po = boost::program_options;
using namespace desaster;
using namespace desaster::web;

namespace {

void Log(const std::string& line) {
  std::fprintf(stderr, "desaster-web: %s\n", line.c_str());
  std::fflush(stderr);
}

// Static files: the built-in app only, with headers that keep it from being framed or fed
// foreign scripts.
void ServeAsset(const std::shared_ptr<Exchange>& ex) {
  const HttpRequest& req = ex->request();
  if (req.method != "GET" && req.method != "HEAD") {
    return ex->Respond({.status = 405, .body = R"({"error":"method not allowed"})"});
  }
  const Asset* asset = FindAsset(req.path);
  if (!asset) return ex->Respond({.status = 404, .body = R"({"error":"no such file"})"});
  ex->Respond({.content_type = std::string(asset->content_type),
               .headers = {{"Content-Security-Policy",
                            "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'"},
                           {"X-Frame-Options", "DENY"},
                           {"Referrer-Policy", "no-referrer"},
                           {"Cache-Control", "no-cache"}},
               .body = std::string(asset->body)});
}

// DNS rebinding: a page from another site whose name is made to resolve to this loopback
// address would be same-origin with the UI and could read its CSRF token. So requests must name
// this server: a loopback name or the --listen host. A wildcard --listen (0.0.0.0, ::) serves
// any name; protect it with --password.
constexpr const char* kForeignHost =
    "{\"error\":\"this server answers to its own names only (localhost, 127.0.0.1, ::1 or the "
    "--listen host)\"}";

bool HostAllowed(std::string_view host, const std::string& listen_host) {
  if (host.empty() || listen_host == "0.0.0.0" || listen_host == "::") return true;
  if (host.starts_with('[')) {
    host = host.substr(1, host.find(']') - 1);  // "[::1]:80" -> "::1" (no ']': the rest)
  } else if (size_t colon = host.rfind(':'); colon != std::string_view::npos) {
    host = host.substr(0, colon);
  }
  return host == "localhost" || host == "127.0.0.1" || host == "::1" || host == listen_host;
}

// A timer that runs the std::function<void()> in its data.
void CallBack(ev::timer& w, int) { (*static_cast<std::function<void()>*>(w.data))(); }
void Stop(ev::sig& w, int) { w.loop.break_loop(ev::ALL); }

}  // namespace

int main(int argc, char** argv) {
  std::string scheduler = "127.0.0.1:6379", listen = "127.0.0.1:8080";
  std::string password = client::Env("DESASTER_WEB_PASSWORD");
  bool users = false;
  double session_hours = 12;
  net::TlsSettings https;  // clients are browsers: no client certificates
  https.auth_clients = "no";
  po::options_description desc(
      "desaster-web: the browser UI and JSON API of a desaster scheduler.\n"
      "Open http://<listen>/ in a browser; the API is under /api (docs/WEB.md).\n\nOptions");
  // clang-format off
  desc.add_options()
    ("help,h", "show this help")
    ("scheduler", po::value(&scheduler)->default_value(scheduler),
     "host:port of the scheduler; in a cluster, any nodes' host:port,host:port,... (tried in "
     "turn: any node passes commands on to the master)")
    ("listen", po::value(&listen)->default_value(listen),
     "host:port to serve on (loopback by default; port 0 picks a free one)")
    ("users", po::bool_switch(&users),
     "people log in as the scheduler's ACL users (user name and password): each session's "
     "actions run as its user, and the UI offers only the actions the user may run. "
     "desaster-web's own --scheduler-user needs ACL DRYRUN for that")
    ("session-hours", po::value(&session_hours)->default_value(session_hours),
     "a login lasts this long (fractions allowed), then the browser logs in again")
    ("https-cert-file", po::value(&https.cert_file),
     "serve HTTPS with this PEM certificate (chain) instead of HTTP")
    ("https-key-file", po::value(&https.key_file), "the key of --https-cert-file")
    ("password", po::value(&password),
     "require this password to log in to the UI, or as 'Authorization: Bearer <password>' for "
     "API clients (or env DESASTER_WEB_PASSWORD; without one the UI is open)");
  // clang-format on
  client::SchedulerAccessOptions access_options(&desc);
  if (auto exit_status = client::ParseCommandLine("desaster-web", argc, argv, desc)) {
    return *exit_status;
  }
  std::string error;
  std::optional<client::SchedulerAccess> access = access_options.Resolve(&error);
  if (!access) {
    std::cerr << "desaster-web: " << error << "\n";
    return 1;
  }
  if (!(session_hours > 0 && session_hours <= 24 * 365)) {
    std::cerr << "desaster-web: --session-hours must be more than 0 and at most a year\n";
    return 1;
  }
  if (users && !password.empty()) {
    std::cerr << "desaster-web: --users and --password exclude each other\n";
    return 1;
  }
  std::shared_ptr<net::TlsContext> https_context;
  if (!https.cert_file.empty() || !https.key_file.empty()) {
    https_context = net::TlsContext::ForServer(https, &error);
    if (!https_context) {
      std::cerr << "desaster-web: --https-cert-file: " << error << "\n";
      return 1;
    }
  }
  struct Address {
    std::string text, host;
    int port = 0;
  };
  std::vector<Address> schedulers;
  for (size_t start = 0; start <= scheduler.size();) {
    size_t comma = std::min(scheduler.find(',', start), scheduler.size());
    Address a;
    a.text = scheduler.substr(start, comma - start);
    if (!client::ParseHostPort(a.text, &a.host, &a.port)) {
      std::cerr << "desaster-web: --scheduler takes host:port[,host:port...], not '" << scheduler
                << "'\n";
      return 1;
    }
    schedulers.push_back(std::move(a));
    start = comma + 1;
  }
  std::string listen_host;
  int listen_port;
  if (!client::ParseHostPort(listen, &listen_host, &listen_port)) {
    std::cerr << "desaster-web: --listen takes host:port, not '" << listen << "'\n";
    return 1;
  }

  signal(SIGPIPE, SIG_IGN);
  // Each connection is a descriptor: raise the soft limit, and accept no more connections than
  // it allows (an accept failing for lack of descriptors would spin the loop).
  HttpLimits limits;
  rlimit files;
  if (getrlimit(RLIMIT_NOFILE, &files) == 0) {
    files.rlim_cur =
        std::max(files.rlim_cur, std::min<rlim_t>(files.rlim_max, limits.max_connections + 64));
    setrlimit(RLIMIT_NOFILE, &files);
    limits.max_connections =
        std::min<size_t>(limits.max_connections, files.rlim_cur > 80 ? files.rlim_cur - 64 : 16);
  }
  ev::default_loop loop;
  client::SchedulerConnection connection(loop);
  Auth auth(password, users, https_context != nullptr,
            static_cast<int64_t>(session_hours * 3600 * 1000));
  Api api(loop, &connection, *access, &auth);
  HttpServer http(
      loop,
      [&](std::shared_ptr<Exchange> ex) {
        if (!HostAllowed(ex->request().Header("host"), listen_host)) {
          return ex->Respond({.status = 403, .body = kForeignHost});
        }
        if (ex->request().path.starts_with("/api/")) return api.Handle(std::move(ex));
        ServeAsset(ex);
      },
      limits);
  if (!http.Listen(listen_host, listen_port, https_context, &error)) {
    std::cerr << "desaster-web: " << error << "\n";
    return 1;
  }

  // The scheduler may start later or restart: keep trying every second, the next node of a
  // cluster each time (the one that answered first after a failover serves).
  ev::timer reconnect(loop);
  bool was_up = false;
  size_t current = 0;
  std::function<void()> connect = [&] {
    const Address& at = schedulers[current];
    auto next = [&] {
      current = (current + 1) % schedulers.size();
      reconnect.start(schedulers.size() > 1 && current != 0 ? 0.1 : 1.0, 0);
    };
    connection.Connect(
        at.host, at.port, *access,
        [&, next, text = at.text](bool ok, const std::string& why) {
          if (ok) {
            Log("connected to the scheduler at " + text);
            was_up = true;
          } else {
            if (was_up) Log("cannot reach the scheduler at " + text + ": " + why);
            was_up = false;
            next();
          }
        },
        [&, next, text = at.text] {
          Log("lost the scheduler at " + text + "; reconnecting");
          next();
        });
  };
  reconnect.set<&CallBack>(&connect);
  connect();

  ev::sig sigterm(loop), sigint(loop);
  sigterm.set<&Stop>();
  sigint.set<&Stop>();
  sigterm.start(SIGTERM);
  sigint.start(SIGINT);

  std::string where =
      listen_host.find(':') != std::string::npos ? "[" + listen_host + "]" : listen_host;
  std::printf("desaster-web: serving %s://%s:%d/ (scheduler %s%s)\n",
              https_context ? "https" : "http", where.c_str(), http.port(), scheduler.c_str(),
              auth.login_required() ? ", login required" : "");
  std::fflush(stdout);
  loop.run(0);
  return 0;
}
