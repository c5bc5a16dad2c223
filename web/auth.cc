#include "web/auth.h"

#include <sys/random.h>

#include <stdexcept>

namespace desaster::web {

namespace {

constexpr size_t kMaxSessions = 10000;
constexpr size_t kMaxPeers = 10000;  // peers with failures remembered

}  // namespace

std::string RandomToken(size_t bytes) {
  std::string raw(bytes, '\0');
  size_t got = 0;
  while (got < bytes) {
    ssize_t n = getrandom(raw.data() + got, bytes - got, 0);
    if (n < 0) throw std::runtime_error("getrandom failed");
    got += static_cast<size_t>(n);
  }
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (unsigned char c : raw) {
    out += hex[c >> 4];
    out += hex[c & 15];
  }
  return out;
}

bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;  // tokens have a public length; passwords leak only it
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); i++) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

Auth::Auth(std::string password, bool users, bool secure, int64_t session_ms)
    : password_(std::move(password)),
      users_(users),
      secure_(secure),
      session_ms_(session_ms),
      open_csrf_(RandomToken()) {}

Auth::Access Auth::Check(const HttpRequest& request, int64_t now_ms) {
  if (!login_required()) return {.authenticated = true, .csrf = open_csrf_};
  const std::string& authorization = request.Header("authorization");
  if (!users_ && authorization.starts_with("Bearer ") && WaitMs(request.peer, now_ms) == 0) {
    if (ConstantTimeEquals(std::string_view(authorization).substr(7), password_)) {
      return {.authenticated = true, .token_client = true};
    }
    Failed(request.peer, now_ms);
  }
  auto it = sessions_.find(request.Cookie(kSessionCookie));
  if (it == sessions_.end()) return {};
  if (it->second.expires_ms < now_ms ||
      (it->second.scheduler && !it->second.scheduler->connected())) {
    sessions_.erase(it);
    return {};
  }
  const Session& s = it->second;
  return {.authenticated = true,
          .csrf = s.csrf,
          .user = s.user,
          .scheduler = s.scheduler,
          .denied = s.denied};
}

bool Auth::MayChange(const HttpRequest& request, const Access& access) const {
  if (!access.authenticated) return false;
  return access.token_client || ConstantTimeEquals(request.Header("x-csrf-token"), access.csrf);
}

int64_t Auth::WaitMs(const std::string& peer, int64_t now_ms) const {
  auto it = failures_.find(peer);
  return it == failures_.end() ? 0 : std::max<int64_t>(0, it->second.next_try_ms - now_ms);
}

void Auth::Failed(const std::string& peer, int64_t now_ms) {
  if (failures_.size() >= kMaxPeers && !failures_.count(peer)) {
    // Forget those that may try again anyway; failing that, the oldest entry by address.
    std::erase_if(failures_, [&](const auto& f) { return f.second.next_try_ms <= now_ms; });
    if (failures_.size() >= kMaxPeers) failures_.erase(failures_.begin());
  }
  Failures& f = failures_[peer];
  f.count++;
  if (f.count >= kFreeFailures) {
    // 1 s after the last free attempt, doubling with each further one.
    int doublings = std::min(f.count - kFreeFailures, 20);
    f.next_try_ms = now_ms + std::min<int64_t>(kMaxWaitMs, 1000LL << doublings);
  }
}

std::optional<std::pair<std::string, std::string>> Auth::Login(std::string_view password,
                                                               const std::string& peer,
                                                               int64_t now_ms) {
  if (password_.empty()) return std::nullopt;
  if (!ConstantTimeEquals(password, password_)) {
    Failed(peer, now_ms);
    return std::nullopt;
  }
  failures_.erase(peer);
  std::string csrf = RandomToken();
  return std::make_pair(AddSession({.csrf = csrf, .expires_ms = now_ms + session_ms_}, now_ms),
                        csrf);
}

std::pair<std::string, std::string> Auth::StartUserSession(
    const std::string& user, std::shared_ptr<client::SchedulerConnection> scheduler,
    std::vector<std::string> denied, const std::string& peer, int64_t now_ms) {
  failures_.erase(peer);
  std::string csrf = RandomToken();
  return {AddSession({.csrf = csrf,
                      .expires_ms = now_ms + session_ms_,
                      .user = user,
                      .scheduler = std::move(scheduler),
                      .denied = std::move(denied)},
                     now_ms),
          csrf};
}

std::string Auth::AddSession(Session session, int64_t now_ms) {
  std::erase_if(sessions_, [&](const auto& s) { return s.second.expires_ms < now_ms; });
  size_t limit = users_ ? kMaxUserSessions : kMaxSessions;
  while (sessions_.size() >= limit) {
    auto oldest = std::min_element(sessions_.begin(), sessions_.end(), [](auto& a, auto& b) {
      return a.second.expires_ms < b.second.expires_ms;
    });
    sessions_.erase(oldest);
  }
  std::string token = RandomToken();
  sessions_[token] = std::move(session);
  return Cookie(token, (session_ms_ + 999) / 1000);
}

std::string Auth::Logout(const HttpRequest& request) {
  sessions_.erase(request.Cookie(kSessionCookie));
  return Cookie("", 0);
}

std::string Auth::Cookie(const std::string& value, int64_t max_age_s) const {
  return std::string(kSessionCookie) + "=" + value + "; Path=/; HttpOnly; SameSite=Strict" +
         (secure_ ? "; Secure" : "") + "; Max-Age=" + std::to_string(max_age_s);
}

}  // namespace desaster::web
