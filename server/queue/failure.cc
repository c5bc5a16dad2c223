#include "server/queue/failure.h"

#include <cctype>
#include <cmath>
#include <cstdlib>
#include <functional>

#include "server/queue/job.h"
#include "server/queue/record.h"

namespace desaster {

std::string_view FailureStateName(FailureState s) {
  switch (s) {
    case FailureState::kRetrying:
      return "retrying";
    case FailureState::kRetried:
      return "retried";
    case FailureState::kDead:
      return "dead";
  }
  return "dead";
}

std::optional<FailureState> ParseFailureState(std::string_view s) {
  for (FailureState st : {FailureState::kRetrying, FailureState::kRetried, FailureState::kDead}) {
    if (s.size() == FailureStateName(st).size() &&
        std::equal(s.begin(), s.end(), FailureStateName(st).begin(),
                   [](char a, char b) { return std::tolower(a) == b; })) {
      return st;
    }
  }
  return std::nullopt;
}

std::string NormalizeMessage(std::string_view m) {
  std::string out;
  out.reserve(m.size());
  for (size_t i = 0; i < m.size();) {
    char c = m[i];
    if (std::isdigit(static_cast<unsigned char>(c))) {
      // Numbers and hex-ish ids (digits mixed with a-f) become N.
      while (i < m.size() && std::isxdigit(static_cast<unsigned char>(m[i]))) i++;
      out += 'N';
    } else if (c == '"' || c == '\'') {
      size_t end = m.find(c, i + 1);
      if (end == std::string_view::npos) {  // an apostrophe, not a quote
        out += c;
        i++;
        continue;
      }
      out += c;
      out += '?';
      out += c;
      i = end + 1;
    } else {
      out += c;
      i++;
    }
  }
  return out;
}

uint64_t Failure::Fingerprint() const {
  std::string key = queue + '\0' + klass + '\0' + error_class + '\0' + NormalizeMessage(message);
  // FNV-1a: stable across runs and builds, unlike std::hash.
  uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : key) h = (h ^ c) * 1099511628211ULL;
  return h;
}

std::string Failure::JobKey() const {
  // Appended rather than "#" + ...: GCC 12 at -O3 reports a false -Wrestrict for the latter.
  std::string key(1, job != 0 ? '#' : '=');
  if (job != 0) return key += FormatJobId(job);
  return key.append(queue).append(1, '\0').append(payload);
}

void Failure::Follow(Failure&& earlier) {
  history = std::move(earlier.history);
  history.push_back({earlier.started_at_ms, earlier.failed_at_ms, earlier.attempt,
                     std::move(earlier.error_class),
                     std::move(earlier.message), std::move(earlier.worker)});
  if (history.size() > kHistoryKept) {
    history.erase(history.begin(),
                  history.begin() + static_cast<ptrdiff_t>(history.size() - kHistoryKept));
  }
}

namespace {
// 2 added the history of earlier attempts, 3 when each run started; versions 1 (none) and 2
// still load.
constexpr char kRecordVersion = 3;
}  // namespace

std::string Failure::Encode() const {
  std::string out(1, kRecordVersion);
  for (const std::string* s :
       {&queue, &payload, &klass, &args, &error_class, &message, &backtrace, &worker}) {
    record::PutString(&out, *s);
  }
  record::PutSigned(&out, failed_at_ms);
  record::PutVarint(&out, attempt);
  record::PutVarint(&out, static_cast<uint64_t>(state));
  record::PutVarint(&out, retry_job);
  record::PutSigned(&out, retry_at_ms);
  record::PutVarint(&out, job);
  record::PutVarint(&out, history.size());
  for (const Attempt& a : history) {
    record::PutSigned(&out, a.failed_at_ms);
    record::PutVarint(&out, a.attempt);
    for (const std::string* s : {&a.error_class, &a.message, &a.worker})
      record::PutString(&out, *s);
  }
  record::PutSigned(&out, started_at_ms);
  for (const Attempt& a : history) record::PutSigned(&out, a.started_at_ms);
  return out;
}

bool Failure::IsPerRunRecord(std::string_view record) { return !record.empty() && record[0] == 1; }

bool Failure::Decode(std::string_view data, Failure* f) {
  if (data.empty() || data[0] < 1 || data[0] > kRecordVersion) return false;
  char version = data[0];
  record::Reader r(data.substr(1));
  for (std::string* s : {&f->queue, &f->payload, &f->klass, &f->args, &f->error_class, &f->message,
                         &f->backtrace, &f->worker}) {
    *s = r.String();
  }
  f->failed_at_ms = r.Signed();
  f->attempt = static_cast<uint32_t>(r.Varint());
  uint64_t state = r.Varint();
  f->retry_job = r.Varint();
  f->retry_at_ms = r.Signed();
  f->job = r.done() ? 0 : r.Varint();  // records written before job ids were kept end here
  if (state > static_cast<uint64_t>(FailureState::kDead)) return false;
  f->state = static_cast<FailureState>(state);
  f->history.clear();
  if (version >= 2) {
    uint64_t n = r.Varint();
    if (n > kHistoryKept) return false;
    f->history.resize(n);
    for (Attempt& a : f->history) {
      a.failed_at_ms = r.Signed();
      a.attempt = static_cast<uint32_t>(r.Varint());
      for (std::string* s : {&a.error_class, &a.message, &a.worker}) *s = r.String();
    }
  }
  if (version >= 3) {
    f->started_at_ms = r.Signed();
    for (Attempt& a : f->history) a.started_at_ms = r.Signed();
  }
  return r.done();
}

int64_t RetryPolicy::DelayMs(uint32_t attempt, std::mt19937_64& rng) const {
  double n = attempt > 0 ? attempt - 1 : 0;
  double seconds = 0;
  switch (backoff) {
    case Backoff::kPolynomial:
      seconds = std::pow(n, 4) + 15 + static_cast<double>(rng() % 10) * (n + 1);
      break;
    case Backoff::kExponential: {
      double base = 15 + std::pow(2.0, std::min(n, 40.0));
      seconds = base + base * 0.1 * static_cast<double>(rng() % 1000) / 1000.0;
      break;
    }
    case Backoff::kFixed:
      seconds = fixed_seconds;
      break;
  }
  return static_cast<int64_t>(seconds * 1000);
}

bool RetryPolicy::ParseBackoff(std::string_view s) {
  if (s == "poly") return backoff = Backoff::kPolynomial, true;
  if (s == "exp") return backoff = Backoff::kExponential, true;
  std::string text(s);
  char* end = nullptr;
  double v = std::strtod(text.c_str(), &end);
  if (text.empty() || end != text.c_str() + text.size() || !std::isfinite(v) || v < 0 || v > 1e9) {
    return false;
  }
  backoff = Backoff::kFixed;
  fixed_seconds = v;
  return true;
}

std::string RetryPolicy::BackoffName() const {
  switch (backoff) {
    case Backoff::kPolynomial:
      return "poly";
    case Backoff::kExponential:
      return "exp";
    case Backoff::kFixed: {
      std::string s = std::to_string(fixed_seconds);
      s.erase(s.find_last_not_of('0') + 1);
      if (s.back() == '.') s.pop_back();
      return s;
    }
  }
  return "poly";
}

}  // namespace desaster
