// The web console's static files (http/console/), embedded at build time by
// http/embed_console.cmake and served at GET /, /console.js and /console.css.
#pragma once

#include <span>
#include <string_view>

namespace evstore::http {

struct console_asset {
  std::string_view path;  // request path, e.g. "/console.js"
  std::string_view content_type;
  std::string_view body;
};

std::span<const console_asset> console_assets();

// The console asset at `path` (without query), or nullptr.
inline const console_asset* find_console_asset(std::string_view path) {
  if (const auto q = path.find('?'); q != std::string_view::npos) path = path.substr(0, q);
  for (const console_asset& a : console_assets()) {
    if (a.path == path) return &a;
  }
  return nullptr;
}

}  // namespace evstore::http
