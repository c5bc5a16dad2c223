// Who may use the UI, and CSRF protection for everything that changes state.
//
// Without a password the UI is open (desaster-web binds to loopback by default); with one, a
// browser logs in for a session cookie (HttpOnly, SameSite=Strict) and API clients send
// "Authorization: Bearer <password>". Every state-changing browser request must carry its
// session's CSRF token in the X-CSRF-Token header: another site can neither read the token
// (GET /api/session is same-origin only) nor set that header on a cross-site request.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "web/http_server.h"

namespace desaster::web {

class Auth {
 public:
  static constexpr const char* kSessionCookie = "desaster_session";
  static constexpr int64_t kSessionMs = 12 * 3600 * 1000;

  explicit Auth(std::string password);

  bool login_required() const { return !password_.empty(); }

  struct Access {
    bool authenticated = false;  // may read (and act, given the CSRF token)
    bool token_client = false;   // authenticated by a bearer token: no CSRF token needed
    std::string csrf = {};       // the session's CSRF token ("" when not authenticated)
  };
  Access Check(const HttpRequest& request, int64_t now_ms);
  // True when `request` may change state: authenticated, and a bearer client or carrying the
  // session's CSRF token.
  bool MayChange(const HttpRequest& request, const Access& access) const;

  // Starts a session when `password` is right: the Set-Cookie value and the CSRF token.
  std::optional<std::pair<std::string, std::string>> Login(std::string_view password,
                                                           int64_t now_ms);
  // Ends the request's session; the Set-Cookie value that clears the cookie.
  std::string Logout(const HttpRequest& request);

 private:
  struct Session {
    std::string csrf;
    int64_t expires_ms;
  };
  std::string password_;
  std::string open_csrf_;  // the CSRF token of the open UI (no password)
  std::map<std::string, Session> sessions_;
};

// A random token of `bytes` bytes from the kernel, hex-encoded.
std::string RandomToken(size_t bytes = 24);
// Comparison whose time does not depend on where the strings differ.
bool ConstantTimeEquals(std::string_view a, std::string_view b);

}  // namespace desaster::web
