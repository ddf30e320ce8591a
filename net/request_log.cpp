#include "request_log.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstdio>

namespace evstore::net {

namespace {
constexpr std::size_t flush_at = std::size_t{64} << 10;

void write_all(int fd, std::string_view s) {
  while (!s.empty()) {
    const ssize_t n = ::write(fd, s.data(), s.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // a closed or full stderr loses log lines, never requests
    s.remove_prefix(static_cast<std::size_t>(n));
  }
}
}  // namespace

bool request_log::add(std::string_view method, std::string_view path, unsigned status,
                      std::chrono::steady_clock::duration took) {
  const auto us = std::chrono::duration_cast<std::chrono::microseconds>(took).count();
  if (const auto q = path.find('?'); q != std::string_view::npos) path = path.substr(0, q);
  char tail[64];
  const int n = std::snprintf(tail, sizeof tail, " status=%u duration_us=%lld\n", status, static_cast<long long>(us));
  std::string full;
  bool first = false;
  {
    std::lock_guard lock(mutex_);
    first = pending_.empty();
    pending_ += "evstored method=";
    pending_ += method;
    pending_ += " path=";
    pending_ += path;
    pending_.append(tail, n > 0 ? static_cast<std::size_t>(n) : 0);
    if (pending_.size() >= flush_at) full.swap(pending_);
  }
  if (!full.empty()) write_all(STDERR_FILENO, full);
  return first && full.empty();
}

void request_log::flush() {
  std::string out;
  {
    std::lock_guard lock(mutex_);
    out.swap(pending_);
  }
  write_all(STDERR_FILENO, out);
}

}  // namespace evstore::net
