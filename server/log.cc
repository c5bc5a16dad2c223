#include "server/log.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <ctime>

namespace desaster {
namespace {
LogLevel g_level = LogLevel::kNotice;
}

void SetLogLevel(std::string_view name) {
  if (name == "debug") g_level = LogLevel::kDebug;
  if (name == "verbose") g_level = LogLevel::kVerbose;
  if (name == "notice") g_level = LogLevel::kNotice;
  if (name == "warning") g_level = LogLevel::kWarning;
}

bool LogEnabled(LogLevel level) { return level >= g_level; }

void LogLine(LogLevel level, std::string_view message) {
  static const char marks[] = {'.', '-', '*', '#'};
  auto now = std::chrono::system_clock::now();
  std::time_t t = std::chrono::system_clock::to_time_t(now);
  int ms = static_cast<int>(
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000);
  struct tm tm;
  localtime_r(&t, &tm);
  char stamp[64];
  strftime(stamp, sizeof(stamp), "%d %b %Y %H:%M:%S", &tm);
  fprintf(stderr, "%d:M %s.%03d %c %.*s\n", getpid(), stamp, ms, marks[static_cast<int>(level)],
          static_cast<int>(message.size()), message.data());
}

}  // namespace desaster
