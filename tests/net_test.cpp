// net/: the connection deadline the server's sweep enforces, and the batched
// request log.
#include "deadline.hpp"
#include "request_log.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <regex>
#include <string>

#include <fcntl.h>
#include <unistd.h>

using namespace std::chrono_literals;
using evstore::net::deadline;

TEST(net_deadline, expires_once_and_only_after_its_time) {
  deadline d;
  const auto now = deadline::clock::now();
  EXPECT_FALSE(d.take_expired(now + 1000h)) << "no deadline set: never expires";
  d.expires_after(50ms);
  EXPECT_FALSE(d.take_expired(now));
  EXPECT_TRUE(d.take_expired(now + 1s));
  EXPECT_FALSE(d.take_expired(now + 2s)) << "reported once";
  d.expires_after(50ms);
  d.expires_never();
  EXPECT_FALSE(d.take_expired(now + 1s));
}

TEST(net_deadline, sweep_interval_is_an_eighth_of_the_shortest_timeout_within_bounds) {
  EXPECT_EQ(evstore::net::sweep_interval(400ms), 50ms);
  EXPECT_EQ(evstore::net::sweep_interval(1ms), 10ms);
  EXPECT_EQ(evstore::net::sweep_interval(60s), 250ms);
}

namespace {
// Runs `f` with stderr sent to a pipe; returns what was written.
template <class F>
std::string capture_stderr(F f) {
  int fds[2];
  if (::pipe(fds) != 0) return "pipe failed";
  ::fcntl(fds[0], F_SETFL, O_NONBLOCK);
  ::fcntl(fds[1], F_SETPIPE_SZ, 1 << 20);  // room for everything the test writes: nobody reads until the end
  const int saved = ::dup(STDERR_FILENO);
  ::dup2(fds[1], STDERR_FILENO);
  f();
  ::dup2(saved, STDERR_FILENO);
  ::close(saved);
  ::close(fds[1]);
  std::string out;
  char buf[4096];
  for (ssize_t n; (n = ::read(fds[0], buf, sizeof buf)) > 0;) out.append(buf, static_cast<std::size_t>(n));
  ::close(fds[0]);
  return out;
}

// `log` with the time each line starts with taken off, after checking that
// every line has one ("2026-11-30T20:19:06.123Z "); "(no time)" marks a line
// without.
std::string without_times(const std::string& log) {
  static const std::regex stamp(R"(^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z )");
  std::string out;
  std::size_t at = 0;
  while (at < log.size()) {
    std::size_t end = log.find('\n', at);
    end = end == std::string::npos ? log.size() : end + 1;
    const std::string line = log.substr(at, end - at);
    out += std::regex_search(line, stamp) ? line.substr(25) : "(no time)" + line;
    at = end;
  }
  return out;
}
}  // namespace

TEST(net_request_log, lines_wait_for_flush_and_never_carry_the_query) {
  bool first = false, second = true;
  const std::string all = capture_stderr([&] {
    evstore::net::request_log log;
    first = log.add("GET", "/streams/orders?from=3&token=secret", 200, 1500us);
    second = log.add("POST", "/streams/orders", 201, 20us);
    log.flush();
  });
  EXPECT_TRUE(first) << "the first line asks for a flush";
  EXPECT_FALSE(second) << "later lines ride on the flush already asked for";
  EXPECT_EQ(without_times(all),
            "evstored method=GET path=/streams/orders status=200 duration_us=1500\n"
            "evstored method=POST path=/streams/orders status=201 duration_us=20\n");
}

TEST(net_request_log, nothing_is_written_before_flush_until_64_KiB_wait) {
  std::string early, late;
  late = capture_stderr([&] {
    evstore::net::request_log log;
    early = capture_stderr([&] { log.add("GET", "/health", 200, 1us); });
    // Lines beyond 64 KiB are written without waiting for flush().
    for (int i = 0; i < 2000; ++i) log.add("GET", "/health", 200, 1us);
    log.flush();
  });
  EXPECT_EQ(early, "");
  EXPECT_EQ(without_times(late).size(),
            2001 * std::string("evstored method=GET path=/health status=200 duration_us=1\n").size());
}

// Every line of the log starts with its time, RFC 3339 in UTC with
// milliseconds: requests, session errors, notes and evstored's own lines.
TEST(net_request_log, every_line_starts_with_an_rfc_3339_utc_time_with_milliseconds) {
  using namespace std::chrono;
  const auto t = sys_days{year{2026} / 11 / 30} + 20h + 19min + 6s + 123ms;
  EXPECT_EQ(evstore::net::log_timestamp(t), "2026-11-30T20:19:06.123Z ");
  EXPECT_EQ(evstore::net::log_timestamp(sys_days{year{1999} / 1 / 2} + 3h + 4min + 5s + 7ms),
            "1999-01-02T03:04:05.007Z ");
  const auto before = system_clock::now();
  const std::string all = capture_stderr([&] {
    evstore::net::request_log log;
    log.add("GET", "/health", 200, 1us);
    log.add_error("tls_handshake", "127.0.0.1:5", "wrong version number");
    log.note("evstored: accept failed: too many open files\n");
    log.flush();
    evstore::net::log_line_nowait("evstored: stopped\n");
  });
  EXPECT_EQ(without_times(all),
            "evstored method=GET path=/health status=200 duration_us=1\n"
            "evstored error=tls_handshake peer=127.0.0.1:5 message=wrong version number\n"
            "evstored: accept failed: too many open files\n"
            "evstored: stopped\n")
      << all;
  // The time is now's, in UTC: the same date as a UTC clock read around it.
  const std::string today = evstore::net::log_timestamp(before).substr(0, 10);
  const std::string later = evstore::net::log_timestamp().substr(0, 10);
  EXPECT_TRUE(all.substr(0, 10) == today || all.substr(0, 10) == later) << all;
}
