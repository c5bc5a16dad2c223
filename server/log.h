// Minimal leveled logging to stderr, formatted with fmt.
#pragma once

#include <fmt/core.h>

#include <string_view>

namespace desaster {

enum class LogLevel { kDebug, kVerbose, kNotice, kWarning };

void SetLogLevel(std::string_view name);
bool LogEnabled(LogLevel level);
void LogLine(LogLevel level, std::string_view message);

template <class... Args>
void Log(LogLevel level, fmt::format_string<Args...> format, Args&&... args) {
  if (LogEnabled(level)) LogLine(level, fmt::format(format, std::forward<Args>(args)...));
}

}  // namespace desaster
