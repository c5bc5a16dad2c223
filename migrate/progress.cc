#include "migrate/progress.h"

#include <cstdio>

namespace desaster::migrate {
namespace {

std::string Human(double n) {
  const char* units[] = {"", "k", "M", "G", "T"};
  int u = 0;
  while (n >= 1000 && u < 4) {
    n /= 1000;
    u++;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f%s" : "%.1f%s", n, units[u]);
  return buf;
}

// A decimal number as JSON writes one: -?digits(.digits)? ("7.0.15" is a string).
bool IsNumber(const std::string& s) {
  size_t i = s.starts_with('-') ? 1 : 0, digits = 0, dots = 0;
  for (; i < s.size(); i++) {
    if (s[i] == '.' && digits > 0 && dots++ == 0) continue;
    if (s[i] < '0' || s[i] > '9') return false;
    digits++;
  }
  return digits > 0 && s.back() != '.';
}

std::string JsonString(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

}  // namespace

bool Progress::Due(bool final) {
  auto now = std::chrono::steady_clock::now();
  auto every = style_ == Style::kBar ? std::chrono::milliseconds(200) : std::chrono::seconds(1);
  if (!final && now - last_ < every) return false;
  last_ = now;
  return true;
}

void Progress::Line(const std::string& bar_text, const std::string& json) {
  if (style_ == Style::kBar) {
    std::fprintf(stderr, "\r\033[K%s", bar_text.c_str());
    bar_open_ = true;
  } else {
    std::fprintf(stderr, "%s\n", json.c_str());
  }
  std::fflush(stderr);
}

void Progress::Snapshot(const char* phase, uint64_t keys, uint64_t bytes, uint64_t total) {
  bool final = total != 0 && bytes >= total;
  if (!Due(final)) return;
  double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count() + 1e-9;
  double rate = bytes / seconds;
  double eta = total > bytes && rate > 0 ? (total - bytes) / rate : 0;
  std::string bar;
  if (total != 0) {
    int filled = static_cast<int>(30.0 * bytes / total);
    bar.assign(1, '[');  // (not "[" + std::string: GCC 12 at -O3 warns, -Wrestrict)
    bar += std::string(filled, '=') + std::string(30 - filled, ' ') + "] ";
    bar += std::to_string(100 * bytes / total) + "% ";
  }
  char text[256];
  std::snprintf(text, sizeof text, "%s%s: %s keys, %sB, %s keys/s, %sB/s, ETA %.0f s", bar.c_str(),
                phase, Human(keys).c_str(), Human(bytes).c_str(), Human(keys / seconds).c_str(),
                Human(rate).c_str(), eta);
  char json[256];
  std::snprintf(json, sizeof json,
                "{\"phase\":\"%s\",\"keys\":%llu,\"bytes\":%llu,\"total_bytes\":%llu,"
                "\"keys_per_s\":%.0f,\"bytes_per_s\":%.0f,\"eta_s\":%.0f}",
                phase, static_cast<unsigned long long>(keys),
                static_cast<unsigned long long>(bytes), static_cast<unsigned long long>(total),
                keys / seconds, rate, eta);
  Line(text, json);
}

void Progress::Stream(int64_t applied, int64_t received, uint64_t commands) {
  if (!Due(false)) return;
  long long lag = received - applied;
  char text[256], json[256];
  std::snprintf(text, sizeof text, "stream: offset %lld, %s commands applied, lag %sB",
                static_cast<long long>(applied), Human(commands).c_str(), Human(lag).c_str());
  std::snprintf(json, sizeof json,
                "{\"phase\":\"stream\",\"offset\":%lld,\"received\":%lld,\"lag_bytes\":%lld,"
                "\"commands\":%llu}",
                static_cast<long long>(applied), static_cast<long long>(received), lag,
                static_cast<unsigned long long>(commands));
  Line(text, json);
}

void Progress::Event(const std::vector<std::pair<std::string, std::string>>& fields) {
  std::string text, json = "{";
  for (const auto& [k, v] : fields) {
    if (json.size() > 1) json += ",";
    json += JsonString(k) + ":" + (IsNumber(v) ? v : JsonString(v));
    if (!text.empty()) text += ", ";
    text += k + " " + v;
  }
  json += "}";
  if (style_ == Style::kBar) {
    std::fprintf(stderr, "%s%s\n", bar_open_ ? "\r\033[K" : "", text.c_str());
    bar_open_ = false;
    std::fflush(stderr);
  } else {
    Line(text, json);
  }
}

}  // namespace desaster::migrate
