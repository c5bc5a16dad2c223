// The browser app, built into the binary (web/ui and uPlot from npm, embedded by CMake), so
// static files come from a fixed table: no path reaches the file system.
#pragma once

#include <string_view>

namespace desaster::web {

struct Asset {
  std::string_view path;  // "/app.js"
  std::string_view content_type;
  std::string_view body;
};

// The asset served at `path` ("/" is "/index.html"), or nullptr.
const Asset* FindAsset(std::string_view path);

}  // namespace desaster::web
