// evstored's request log: one structured line per request (method, path
// without the query, status, duration), never headers, bodies or tokens.
// Lines are gathered and written to stderr once per turn of the network loop
// (or when 64 KiB are waiting), not with a write(2) per request.
#pragma once

#include <chrono>
#include <mutex>
#include <string>
#include <string_view>

namespace evstore::net {

class request_log {
 public:
  request_log() = default;
  request_log(const request_log&) = delete;
  request_log& operator=(const request_log&) = delete;
  ~request_log() { flush(); }

  // Thread-safe. Returns true when the caller should arrange a flush() soon
  // (the first line after the last flush).
  bool add(std::string_view method, std::string_view path, unsigned status, std::chrono::steady_clock::duration took);
  // Writes what is gathered. Thread-safe.
  void flush();

 private:
  std::mutex mutex_;
  std::string pending_;
};

}  // namespace evstore::net
