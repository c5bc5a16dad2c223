// Who may use the UI, and CSRF protection for everything that changes state.
//
// Without a password the UI is open (desaster-web binds to loopback by default); with one, a
// browser logs in for a session cookie (HttpOnly, SameSite=Strict, Secure over HTTPS) and API
// clients send "Authorization: Bearer <password>". With the scheduler's ACL users instead, a
// person logs in as a user: the session holds a scheduler connection logged in as that user,
// so the scheduler allows or refuses each action. Guessing is slowed per client address: after
// a few wrong passwords (at login or as bearer tokens) its next attempt waits, longer each time.
// Every state-changing browser request must carry its session's CSRF token in the X-CSRF-Token
// header: another site can neither read the token (GET /api/session is same-origin only) nor set
// that header on a cross-site request.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "client/scheduler_connection.h"
#include "web/http_server.h"

namespace desaster::web {

class Auth {
 public:
  static constexpr const char* kSessionCookie = "desaster_session";

  // Wrong passwords a client address may try before it has to wait, and the longest wait.
  static constexpr int kFreeFailures = 5;
  static constexpr int64_t kMaxWaitMs = 5 * 60 * 1000;

  // At most this many sessions of ACL users (each holds a scheduler connection).
  static constexpr size_t kMaxUserSessions = 256;

  // `password`: the UI's one password ("": none). `users`: people log in as the scheduler's
  // ACL users instead. `secure`: the UI is served over HTTPS, so cookies are sent over HTTPS
  // only. A session ends `session_ms` after its login.
  Auth(std::string password, bool users, bool secure, int64_t session_ms);

  bool login_required() const { return users_ || !password_.empty(); }
  bool users() const { return users_; }

  struct Access {
    bool authenticated = false;  // may read (and act, given the CSRF token)
    bool token_client = false;   // authenticated by a bearer token: no CSRF token needed
    std::string csrf = {};       // the session's CSRF token ("" when not authenticated)
    std::string user = {};       // the ACL user logged in ("" without users)
    // The session's scheduler connection, logged in as `user` (nullptr: desaster-web's own).
    std::shared_ptr<client::SchedulerConnection> scheduler = nullptr;
    std::vector<std::string> denied = {};  // UI actions (commands) `user` may not run
  };
  // Who sent `request`. A wrong bearer token counts as a failed attempt of its peer. A user's
  // session ends when its scheduler connection has dropped (the user logs in again).
  Access Check(const HttpRequest& request, int64_t now_ms);
  // True when `request` may change state: authenticated, and a bearer client or carrying the
  // session's CSRF token.
  bool MayChange(const HttpRequest& request, const Access& access) const;

  // How long `peer` must wait before a password it sends is checked (0: not at all).
  int64_t WaitMs(const std::string& peer, int64_t now_ms) const;
  // Starts a session when `password` is right: the Set-Cookie value and the CSRF token. A
  // wrong one counts as a failed attempt of `peer`; a right one forgets its failures. The
  // caller checks WaitMs first.
  std::optional<std::pair<std::string, std::string>> Login(std::string_view password,
                                                           const std::string& peer, int64_t now_ms);
  // With users: starts a session for `user`, whose scheduler accepted the login on
  // `scheduler` (a right password forgets `peer`'s failures); the Set-Cookie value and the
  // CSRF token.
  std::pair<std::string, std::string> StartUserSession(
      const std::string& user, std::shared_ptr<client::SchedulerConnection> scheduler,
      std::vector<std::string> denied, const std::string& peer, int64_t now_ms);
  // Records a wrong password from `peer` (a user login the scheduler refused).
  void Failed(const std::string& peer, int64_t now_ms);
  // Ends the request's session; the Set-Cookie value that clears the cookie.
  std::string Logout(const HttpRequest& request);

 private:
  struct Session {
    std::string csrf;
    int64_t expires_ms;
    std::string user = {};
    std::shared_ptr<client::SchedulerConnection> scheduler = nullptr;
    std::vector<std::string> denied = {};
  };
  struct Failures {
    int count = 0;
    int64_t next_try_ms = 0;  // no attempt is checked before this
  };
  // Adds a session (dropping the oldest beyond the limits); its cookie token.
  std::string AddSession(Session session, int64_t now_ms);
  std::string Cookie(const std::string& value, int64_t max_age_s) const;

  std::string password_;
  bool users_;
  bool secure_;
  int64_t session_ms_;
  std::map<std::string, Failures> failures_;  // by peer address
  std::string open_csrf_;                     // the CSRF token of the open UI (no password)
  std::map<std::string, Session> sessions_;
};

// A random token of `bytes` bytes from the kernel, hex-encoded.
std::string RandomToken(size_t bytes = 24);
// Comparison whose time does not depend on where the strings differ.
bool ConstantTimeEquals(std::string_view a, std::string_view b);

}  // namespace desaster::web
