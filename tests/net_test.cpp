// net/: the connection deadline the server's sweep enforces, and the batched
// request log.
#include "deadline.hpp"
#include "request_log.hpp"

#include <gtest/gtest.h>

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
  EXPECT_EQ(all,
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
  EXPECT_EQ(late.size(),
            2001 * std::string("evstored method=GET path=/health status=200 duration_us=1\n").size());
}
