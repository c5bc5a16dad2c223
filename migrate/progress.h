// What desaster-migrate tells its user while it works: on a terminal a progress bar (keys,
// bytes, rate, ETA; the stream's lag afterwards), otherwise one JSON object per line.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace desaster::migrate {

class Progress {
 public:
  enum class Style { kBar, kJson };
  explicit Progress(Style style) : style_(style) {}

  // The snapshot: `keys` written, `bytes` of `total` read (total 0: still arriving).
  void Snapshot(const char* phase, uint64_t keys, uint64_t bytes, uint64_t total);
  // The stream: the offset desaster has, the source's offset as far as received, commands so far.
  void Stream(int64_t applied, int64_t received, uint64_t commands);
  // A one-off event, e.g. {"event":"cutover","pause_to_ready_ms":"42"}: a line either way.
  // Values are JSON numbers when they are decimal numbers, strings otherwise.
  void Event(const std::vector<std::pair<std::string, std::string>>& fields);

 private:
  bool Due(bool final);
  void Line(const std::string& bar_text, const std::string& json);

  Style style_;
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now(), last_{};
  bool bar_open_ = false;
};

}  // namespace desaster::migrate
