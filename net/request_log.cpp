#include "request_log.hpp"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <limits>

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

namespace evstore::net {

namespace {
constexpr std::size_t flush_at = std::size_t{64} << 10;
constexpr std::size_t pending_limit = std::size_t{1} << 20;

// stderr as something to write without blocking. fd 2's own description
// cannot be made non-blocking: it is shared with whoever started us (a
// shell's terminal). A pipe, FIFO or terminal is opened anew through
// /proc/self/fd/2 with O_NONBLOCK; a socket takes MSG_DONTWAIT; a regular
// file is written as it is (writes to it do not wait on a reader). The
// target is looked up again when fd 2 changes (tests redirect it).
class stderr_target {
 public:
  ~stderr_target() { reset(); }
  // Bytes written, 0 if stderr takes nothing now.
  std::size_t write(std::string_view s) {
    struct stat st {};
    if (::fstat(STDERR_FILENO, &st) != 0) return 0;
    if (st.st_dev != dev_ || st.st_ino != ino_ || st.st_rdev != rdev_ || kind_ == kind::none) open(st);
    for (;;) {
      ssize_t n = -1;
      if (kind_ == kind::socket) {
        n = ::send(STDERR_FILENO, s.data(), s.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
      } else {
        n = ::write(fd_ >= 0 ? fd_ : STDERR_FILENO, s.data(), s.size());
      }
      if (n < 0 && errno == EINTR) continue;
      return n > 0 ? static_cast<std::size_t>(n) : 0;
    }
  }

 private:
  enum class kind { none, own, socket, plain };
  void reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    kind_ = kind::none;
  }
  void open(const struct stat& st) {
    reset();
    dev_ = st.st_dev;
    ino_ = st.st_ino;
    rdev_ = st.st_rdev;
    if (S_ISSOCK(st.st_mode)) {
      kind_ = kind::socket;
    } else if (S_ISFIFO(st.st_mode) || S_ISCHR(st.st_mode)) {
      fd_ = ::open("/proc/self/fd/2", O_WRONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
      kind_ = fd_ >= 0 ? kind::own : kind::plain;
    } else {
      kind_ = kind::plain;
    }
  }
  kind kind_ = kind::none;
  int fd_ = -1;
  dev_t dev_ = 0, rdev_ = 0;
  ino_t ino_ = 0;
};

std::mutex target_mutex;
stderr_target target;

std::size_t write_some(std::string_view s) {
  std::lock_guard lock(target_mutex);
  std::size_t done = 0;
  while (done < s.size()) {
    const std::size_t n = target.write(s.substr(done));
    if (n == 0) break;
    done += n;
  }
  return done;
}
}  // namespace

std::size_t write_stderr_nowait(std::string_view s) { return write_some(s); }

namespace {
// "2026-11-30T20:19:06.123Z " into `out`. The date and time up to the
// second are formatted (gmtime_r, snprintf) once per second and per thread,
// then reused: a request's log line is the server's most frequent write,
// and formatting the whole time each time cost more than the rest of it.
void append_timestamp(std::string& out, std::chrono::system_clock::time_point t) {
  struct cached_second {
    std::int64_t second = std::numeric_limits<std::int64_t>::min();
    char text[32] = {};  // "2026-11-30T20:19:06."
    std::size_t size = 0;
  };
  thread_local cached_second cache;
  const auto ms = std::chrono::floor<std::chrono::milliseconds>(t.time_since_epoch()).count();
  const std::int64_t second = ms >= 0 ? ms / 1000 : (ms - 999) / 1000;
  if (second != cache.second) {
    const auto seconds = static_cast<std::time_t>(second);
    std::tm utc{};
    ::gmtime_r(&seconds, &utc);
    const int n =
        std::snprintf(cache.text, sizeof cache.text, "%04d-%02d-%02dT%02d:%02d:%02d.", utc.tm_year + 1900,
                      utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec);
    cache.size = n > 0 ? std::min(static_cast<std::size_t>(n), sizeof cache.text - 1) : 0;
    cache.second = second;
  }
  const auto milli = static_cast<int>(ms - second * 1000);
  const char tail[] = {static_cast<char>('0' + milli / 100), static_cast<char>('0' + milli / 10 % 10),
                       static_cast<char>('0' + milli % 10), 'Z', ' '};
  out.append(cache.text, cache.size);
  out.append(tail, sizeof tail);
}

void append_number(std::string& out, std::uint64_t v) {
  char digits[20];
  const auto r = std::to_chars(digits, digits + sizeof digits, v);
  out.append(digits, r.ptr);
}
}  // namespace

std::string log_timestamp(std::chrono::system_clock::time_point t) {
  std::string s;
  append_timestamp(s, t);
  return s;
}

void log_line_nowait(std::string_view line) {
  std::string stamped = log_timestamp();
  stamped += line;
  write_some(stamped);
}

bool request_log::append_locked(std::string_view line) {
  if (pending_.size() + line.size() > pending_limit) {
    dropped_.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  pending_ += line;
  return true;
}

void request_log::write_locked() {
  if (pending_.empty()) return;
  pending_.erase(0, write_some(pending_));
}

bool request_log::add(std::string_view method, std::string_view path, unsigned status,
                      std::chrono::steady_clock::duration took) {
  const auto us = std::chrono::duration_cast<std::chrono::microseconds>(took).count();
  if (const auto q = path.find('?'); q != std::string_view::npos) path = path.substr(0, q);
  // Built with appends into a buffer each thread reuses (no snprintf, no
  // allocation once it is large enough): this runs once per request.
  thread_local std::string line;
  line.clear();
  append_timestamp(line, std::chrono::system_clock::now());
  line += "evstored method=";
  line += method;
  line += " path=";
  line += path;
  line += " status=";
  append_number(line, status);
  line += " duration_us=";
  if (us < 0) {
    line += '-';
    append_number(line, static_cast<std::uint64_t>(-us));
  } else {
    append_number(line, static_cast<std::uint64_t>(us));
  }
  line += '\n';
  std::lock_guard lock(mutex_);
  append_locked(line);
  if (pending_.size() >= flush_at) write_locked();
  if (flush_asked_ || pending_.empty()) return false;
  flush_asked_ = true;
  return true;
}

bool request_log::add_error(std::string_view what, std::string_view peer, std::string_view message) {
  std::string line = log_timestamp();
  line += "evstored error=";
  line += what;
  line += " peer=";
  line += peer;
  line += " message=";
  line += message;
  line += '\n';
  std::lock_guard lock(mutex_);
  append_locked(line);
  if (pending_.size() >= flush_at) write_locked();
  if (flush_asked_ || pending_.empty()) return false;
  flush_asked_ = true;
  return true;
}

void request_log::note(std::string_view text) {
  std::string line = log_timestamp();
  line += text;
  std::lock_guard lock(mutex_);
  append_locked(line);
  write_locked();
}

void request_log::flush() {
  std::lock_guard lock(mutex_);
  flush_asked_ = false;
  write_locked();
}

}  // namespace evstore::net
