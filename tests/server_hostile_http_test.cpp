// evstored's HTTP request path under hostile and careless clients (issue 11):
// the accept loop survives descriptor exhaustion, framing is strict, every
// client reads the status it is sent, Expect: 100-continue, per-request header
// deadlines, a log pipe nobody reads, a graceful SIGTERM, option overflows,
// unexpected session errors in the log, Expect: other than 100-continue, the
// connection limit on a TLS listener.
// Raw sockets on loopback (this file's raw_conn), every wait bounded.
#include "support/server_fixture.hpp"

#include <atomic>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>

using namespace evstore::test::server;

namespace {

// One raw TCP connection to 127.0.0.1:port, non-blocking, every call bounded by a deadline.
class raw_conn {
 public:
  struct response {
    int status = 0;  // 0: none (closed, reset or timed out)
    std::string headers, body;
    std::optional<std::string> header(const std::string& name) const {
      http_response r;
      r.headers = headers;
      return r.header(name);
    }
  };

  explicit raw_conn(int port, int rcvbuf = 0) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (rcvbuf > 0) ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<std::uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    ::fcntl(fd_, F_SETFL, ::fcntl(fd_, F_GETFL) | O_NONBLOCK);
  }
  raw_conn(const raw_conn&) = delete;
  raw_conn& operator=(const raw_conn&) = delete;
  ~raw_conn() { ::close(fd_); }

  bool connected() const { return connected_; }
  int send_errno() const { return send_errno_; }

  // Writes everything; false on an error (errno in send_errno()) or the deadline.
  bool send_all(std::string_view s, std::chrono::milliseconds timeout = 5s) {
    const auto end = clock_type::now() + timeout;
    while (!s.empty()) {
      const ssize_t n = ::send(fd_, s.data(), s.size(), MSG_NOSIGNAL);
      if (n > 0) {
        s.remove_prefix(static_cast<std::size_t>(n));
        continue;
      }
      if (n < 0 && errno != EAGAIN && errno != EINTR) {
        send_errno_ = errno;
        return false;
      }
      if (!wait(POLLOUT, end)) return false;
    }
    return true;
  }

  // The next response (a 100 Continue is one too); its body by Content-Length.
  response read_response(std::chrono::milliseconds timeout = 5s) {
    const auto end = clock_type::now() + timeout;
    response r;
    std::size_t at;
    while ((at = in_.find("\r\n\r\n")) == std::string::npos) {
      if (!fill(end)) return r;
    }
    r.headers = in_.substr(0, at + 2);
    in_.erase(0, at + 4);
    if (r.headers.rfind("HTTP/1.", 0) == 0) r.status = std::atoi(r.headers.c_str() + 9);
    const auto len = r.header("Content-Length");
    const std::size_t n = len ? std::stoull(*len) : 0;
    while (in_.size() < n) {
      if (!fill(end)) return response{};
    }
    r.body = in_.substr(0, n);
    in_.erase(0, n);
    return r;
  }

  // True when the server closes (EOF or reset) within the timeout; what it sent meanwhile is kept.
  bool closed_within(std::chrono::milliseconds timeout) {
    const auto end = clock_type::now() + timeout;
    while (fill(end)) {
    }
    return eof_;
  }
  const std::string& unread() const { return in_; }

 private:
  bool wait(short events, clock_type::time_point end) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - clock_type::now()).count();
    if (left <= 0) return false;
    pollfd p{fd_, events, 0};
    return ::poll(&p, 1, static_cast<int>(left)) > 0;
  }
  // Reads what is there (waiting until the deadline); false at EOF, reset or the deadline.
  bool fill(clock_type::time_point end) {
    for (;;) {
      char buf[65536];
      const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n > 0) {
        in_.append(buf, static_cast<std::size_t>(n));
        return true;
      }
      if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
        eof_ = true;
        return false;
      }
      if (!wait(POLLIN, end)) return false;
    }
  }

  int fd_ = -1;
  bool connected_ = false, eof_ = false;
  int send_errno_ = 0;
  std::string in_;
};

std::string post_head(const std::string& path, std::size_t length, const std::string& extra = {}) {
  return "POST " + path +
         " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: " +
         std::to_string(length) + "\r\n" + extra + "\r\n";
}

// The value of a /metrics counter or gauge (-1 if absent).
long long metric(const std::string& metrics, const std::string& name) {
  const auto at = metrics.find("\n" + name + " ");
  if (at == std::string::npos) return -1;
  return std::atoll(metrics.c_str() + at + name.size() + 2);
}

class hostile_http_test : public server_test {
 protected:
  // GET /health on a fresh connection: its status (0 if none within the timeout).
  static int health(int port, std::chrono::milliseconds timeout) {
    raw_conn c(port);
    if (!c.connected() || !c.send_all("GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", timeout)) return 0;
    return c.read_response(timeout).status;
  }
};

TEST_F(hostile_http_test, accepting_survives_running_out_of_descriptors_and_serves_again_once_clients_leave) {
  auto& s = start();
  ASSERT_EQ(health(s.port(), 5s), 200);
  // 64 descriptors for the whole server (its store files included), soft and hard.
  const rlimit low{64, 64};
  ASSERT_EQ(::prlimit(s.pid(), RLIMIT_NOFILE, &low, nullptr), 0) << std::strerror(errno);
  std::vector<std::unique_ptr<raw_conn>> held;
  for (int i = 0; i < 100; ++i) held.push_back(std::make_unique<raw_conn>(s.port()));
  // The server is out of descriptors: a new client waits in the backlog.
  EXPECT_EQ(health(s.port(), 500ms), 0);
  held.clear();
  // Once the clients left, new connections are served again (the backlog's too).
  int status = 0;
  for (const auto end = clock_type::now() + 10s; status != 200 && clock_type::now() < end;)
    status = health(s.port(), 2s);
  EXPECT_EQ(status, 200) << tail(s.log());
  const std::string m = get("/metrics").body;
  EXPECT_GT(metric(m, "evstore_http_accept_errors_total"), 0) << m;
  EXPECT_NE(s.log().find("accept"), std::string::npos) << tail(s.log());
}

// RFC 9112 §6.3: a request whose framing is ambiguous gets 400 and the
// connection is closed, so the bytes after it never run as a second request.
TEST_F(hostile_http_test, ambiguous_or_malformed_framing_gets_400_and_close_and_nothing_is_smuggled) {
  auto& s = start();
  const std::string smuggled = "POST /streams/smuggled HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: " +
                               std::to_string(event_json("S").size()) + "\r\n\r\n" + event_json("S");
  const std::string ev = event_json("A");
  struct bad_case {
    std::string what, bytes;
  };
  const std::string chunk = [&] {
    char size[16];
    std::snprintf(size, sizeof size, "%zx", ev.size());
    return std::string(size) + "\r\n" + ev + "\r\n0\r\n\r\n";
  }();
  const std::vector<bad_case> cases = {
      {"TE xchunked",
       "POST /streams/a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n\r\n" + smuggled},
      {"TE chunked, identity",
       "POST /streams/a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, identity\r\n\r\n" + smuggled},
      {"TE gzip, chunked",
       "POST /streams/a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n" + chunk},
      {"TE gzip and CL",
       "POST /streams/a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\nContent-Length: " +
           std::to_string(ev.size()) + "\r\n\r\n" + ev},
      {"TE identity",
       "POST /streams/a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: identity\r\n\r\n" + smuggled},
      {"two TE fields",
       "POST /streams/a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: "
       "chunked\r\n\r\n" +
           chunk},
      {"CL then TE chunked",
       "POST /streams/a HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n" +
           chunk},
      {"TE chunked then CL",
       "POST /streams/a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n" +
           chunk},
      {"differing CLs", "POST /streams/a HTTP/1.1\r\nHost: x\r\nContent-Length: " +
                            std::to_string(ev.size()) + "\r\nContent-Length: 2\r\n\r\n" + ev},
      {"CL not a number", "POST /streams/a HTTP/1.1\r\nHost: x\r\nContent-Length: 1x\r\n\r\n" + ev},
      {"no Host on HTTP/1.1",
       "POST /streams/a HTTP/1.1\r\nContent-Length: " + std::to_string(ev.size()) + "\r\n\r\n" + ev},
      {"two Hosts", "GET /health HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"},
      {"bad chunk size", "POST /streams/a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n" +
                             ev + "\r\n0\r\n\r\n"},
      {"chunk without CRLF",
       "POST /streams/a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcdef\r\n0\r\n\r\n"},
      {"bad request line", "GET /health HTTP/1.1 extra\r\nHost: x\r\n\r\n"},
      {"space before colon", "GET /health HTTP/1.1\r\nHost : x\r\n\r\n"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.what);
    raw_conn conn(s.port());
    ASSERT_TRUE(conn.send_all(c.bytes));
    const auto r = conn.read_response();
    EXPECT_EQ(r.status, 400) << r.headers << r.body;
    EXPECT_TRUE(conn.closed_within(2s)) << "after the 400: " << conn.unread();
    EXPECT_EQ(conn.unread(), "") << "a second response: the body ran as a request";
  }
  // An exact "chunked" (any case) is the one Transfer-Encoding served.
  {
    raw_conn conn(s.port());
    ASSERT_TRUE(conn.send_all(
        "POST /streams/chunky HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: Chunked\r\n\r\n" + chunk));
    EXPECT_EQ(conn.read_response().status, 201);
  }
  EXPECT_EQ(get("/streams/smuggled").status, 404);
  EXPECT_EQ(get("/streams/a").status, 404);
  // Each refusal is logged.
  const std::string log = s.log();
  std::size_t n400 = 0;
  for (std::size_t at = 0; (at = log.find("status=400", at)) != std::string::npos; ++at) ++n400;
  EXPECT_GE(n400, cases.size()) << tail(log);
}

// A client that writes its whole request before reading (Python's http.client)
// reads the early status instead of a reset.
TEST_F(hostile_http_test, a_client_that_writes_its_whole_body_first_reads_the_early_status) {
  const std::string tokens = scratch() + "/tokens";
  write_file(tokens, "write " + std::string(32, 'w') + "\n");
  auto& s = start({"--body-limit", "2097152", "--header-limit", "8192", "--token-file", tokens});
  const std::string auth = "Authorization: Bearer " + std::string(32, 'w') + "\r\n";
  const std::string big(1 << 20, 'x'), bigger(3 << 20, 'x');
  struct early_case {
    std::string what, head, body;
    int status;
  };
  const std::vector<early_case> cases = {
      {"413 by Content-Length", post_head("/streams/big", bigger.size(), auth), bigger, 413},
      {"401 without a token", post_head("/streams/big", big.size()), big, 401},
      {"431", post_head("/streams/big", big.size(), auth + "X-Big: " + std::string(16384, 'h') + "\r\n"), big,
       431},
      {"400 bad framing", post_head("/streams/big", big.size(), auth + "Transfer-Encoding: gzip\r\n"), big,
       400},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.what);
    for (int round = 0; round < 3; ++round) {
      raw_conn conn(s.port());
      const bool sent = conn.send_all(c.head + c.body, 10s);
      EXPECT_TRUE(sent) << "send failed: " << std::strerror(conn.send_errno());
      EXPECT_EQ(conn.read_response().status, c.status);
    }
  }
  // Chunked past the body limit: 413 while the body is read.
  {
    raw_conn conn(s.port());
    std::string chunked =
        "POST /streams/big HTTP/1.1\r\nHost: x\r\n" + auth + "Transfer-Encoding: chunked\r\n\r\n";
    for (int i = 0; i < 160; ++i) chunked += "4000\r\n" + std::string(0x4000, 'c') + "\r\n";
    chunked += "0\r\n\r\n";
    EXPECT_TRUE(conn.send_all(chunked, 10s)) << std::strerror(conn.send_errno());
    EXPECT_EQ(conn.read_response().status, 413);
  }
  // Over --max-connections: the 503 too.
  auto& full = start({"--max-connections", "2"}, "data-full");
  raw_conn a(full.port()), b(full.port());
  ASSERT_TRUE(a.send_all("GET /health HTTP/1.1\r\nHost: x\r\n" + auth + "\r\n"));
  ASSERT_TRUE(b.send_all("GET /health HTTP/1.1\r\nHost: x\r\n" + auth + "\r\n"));
  ASSERT_EQ(a.read_response().status, 200);
  ASSERT_EQ(b.read_response().status, 200);
  for (int round = 0; round < 5; ++round) {
    raw_conn over(full.port());
    EXPECT_TRUE(over.send_all(post_head("/streams/big", big.size(), auth) + big, 10s))
        << std::strerror(over.send_errno());
    EXPECT_EQ(over.read_response().status, 503);
  }
}

TEST_F(hostile_http_test, expect_100_continue_is_answered_before_the_body_or_refused_at_once) {
  auto& s = start({"--body-limit", "4096"});
  const std::string ev = event_json("A");
  {
    raw_conn c(s.port());
    ASSERT_TRUE(c.send_all(post_head("/streams/cont", ev.size(), "Expect: 100-continue\r\n")));
    EXPECT_EQ(c.read_response(2s).status, 100);
    ASSERT_TRUE(c.send_all(ev));
    EXPECT_EQ(c.read_response().status, 201);
  }
  {
    raw_conn c(s.port());
    ASSERT_TRUE(c.send_all(post_head("/streams/cont", 10000, "Expect: 100-continue\r\n")));
    const auto r = c.read_response(2s);
    EXPECT_EQ(r.status, 413) << r.headers;
  }
  // curl waits for the 100 (up to 1 s) before a body over 1 MiB.
  auto r =
      http(s, {.method = "POST", .path = "/streams/cont", .body = ev, .headers = {"Expect: 100-continue"}});
  EXPECT_EQ(r.status, 201) << r;
}

TEST_F(hostile_http_test,
       every_request_on_a_connection_gets_the_header_deadline_once_its_first_byte_arrives) {
  auto& s = start({"--header-timeout-ms", "300", "--idle-timeout-ms", "20000"});
  raw_conn c(s.port());
  ASSERT_TRUE(c.send_all("GET /health HTTP/1.1\r\nHost: x\r\n\r\n"));
  ASSERT_EQ(c.read_response().status, 200);
  // Idle between requests: the idle timeout, not the header one.
  EXPECT_FALSE(c.closed_within(1s));
  ASSERT_TRUE(c.send_all("GET /health HTTP/1.1\r\nHost: x\r\n\r\n"));
  ASSERT_EQ(c.read_response().status, 200);
  // A second request's header that never ends is cut at the header deadline.
  const auto t0 = clock_type::now();
  ASSERT_TRUE(c.send_all("GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: "));
  EXPECT_TRUE(c.closed_within(5s));
  EXPECT_LT(clock_type::now() - t0, 2s);
}

TEST_F(hostile_http_test, a_431_after_a_head_carries_its_body_and_logs_its_own_request) {
  auto& s = start({"--header-limit", "4096"});
  append_ok("headed", event_json("A"));
  raw_conn c(s.port());
  ASSERT_TRUE(c.send_all("HEAD /streams/headed HTTP/1.1\r\nHost: x\r\n\r\n"));
  const auto head = c.read_response();
  ASSERT_EQ(head.status, 200);
  ASSERT_TRUE(c.send_all("GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(8192, 'h') + "\r\n\r\n"));
  const auto r = c.read_response();
  EXPECT_EQ(r.status, 431) << r.headers;
  EXPECT_NE(r.body.find("headers_too_large"), std::string::npos) << r.headers << r.body;
  s.stop();
  const std::string log = s.log();
  EXPECT_EQ(log.find("method=HEAD path=/streams/headed status=431"), std::string::npos) << tail(log);
  EXPECT_NE(log.find("status=431"), std::string::npos) << tail(log);
}

// stderr on a pipe nobody reads: lines are lost (and counted), requests are not.
TEST_F(hostile_http_test, a_log_pipe_nobody_reads_costs_log_lines_never_requests) {
  const std::string fifo = scratch() + "/log.fifo";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  const int keep = ::open(fifo.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);  // a reader that never reads
  ASSERT_GE(keep, 0);
  evstored s(sandbox(), data_dir(), fifo, {});
  ASSERT_GT(s.port(), 0);
  raw_conn c(s.port());
  // 4 KiB paths: each log line is 4 KiB; the pipe (64 KiB) fills after ~16,
  // then the log's own 1 MiB after ~250 more.
  const std::string req = "GET /no-such-route/" + std::string(4000, 'p') + " HTTP/1.1\r\nHost: x\r\n\r\n";
  for (int i = 0; i < 400; ++i) {
    ASSERT_TRUE(c.send_all(req)) << i;
    ASSERT_EQ(c.read_response().status, 404) << "request " << i;
  }
  ASSERT_TRUE(c.send_all("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"));
  const auto m = c.read_response();
  EXPECT_GT(metric(m.body, "evstore_log_lines_dropped_total"), 0) << m.body;
  // Stopping does not wait on the pipe either.
  EXPECT_EQ(s.stop(), 0);
  ::close(keep);
}

// SIGTERM while appends are in flight: each stored event was answered 201
// (the clients read every answer), and the server exits within its deadline.
TEST_F(hostile_http_test, sigterm_answers_every_append_it_stores_and_exits_within_the_deadline) {
  auto& s = start();
  constexpr int clients = 6;
  std::atomic<bool> go{true};
  std::atomic<int> created{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < clients; ++i) {
    threads.emplace_back([&, i] {
      raw_conn c(s.port());
      const std::string ev = event_json("T", "{\"i\":" + std::to_string(i) + "}");
      while (go) {
        if (!c.send_all(post_head("/streams/term-" + std::to_string(i), ev.size()) + ev)) return;
        const auto r = c.read_response(10s);
        if (r.status == 201) created.fetch_add(1);
        if (r.status == 0 || r.header("Connection") == std::optional<std::string>("close")) return;
      }
    });
  }
  while (created.load() < 200) std::this_thread::sleep_for(1ms);
  const auto t0 = clock_type::now();
  const int rc = s.stop();
  const auto took = clock_type::now() - t0;
  go = false;
  for (auto& t : threads) t.join();
  EXPECT_EQ(rc, 0);
  EXPECT_LT(took, 5s);
  auto& again = start();
  std::size_t stored = 0;
  for (int i = 0; i < clients; ++i) {
    auto r = http(again, {.path = "/streams/term-" + std::to_string(i) + "?limit=1000"});
    if (r.status == 200) stored += r.json().at("events").as_array().size();
  }
  EXPECT_EQ(stored, static_cast<std::size_t>(created.load())) << "events stored without their 201";
}

// A TLS connection the server closes ends with close_notify: a client that
// checks (Python's ssl without suppress_ragged_eofs) sees a clean end, not a truncation.
TEST_F(hostile_http_test, tls_connections_the_server_closes_end_with_close_notify) {
  const auto [cert, key] = self_signed_certificate();
  ASSERT_FALSE(cert.empty()) << read_file(scratch() + "/openssl.err");
  auto& s = start({"--tls-cert", cert, "--tls-key", key});
  const std::string script = R"(
import socket, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[2])
ctx.options &= ~0x80  # OP_IGNORE_UNEXPECTED_EOF, which some builds set by default
raw = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
s = ctx.wrap_socket(raw, server_hostname="127.0.0.1", suppress_ragged_eofs=False)
s.sendall(sys.argv[3].encode().replace(b"|", b"\r\n"))
data = b""
try:
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    print("CLEAN", data.split(b"\r\n", 1)[0].decode())
except ssl.SSLError:  # UNEXPECTED_EOF_WHILE_READING: no close_notify
    print("TRUNCATED", data.split(b"\r\n", 1)[0].decode())
)";
  for (const std::string req : {"GET /health HTTP/1.1|Host: x|Connection: close||",
                                "GET /health HTTP/1.1|Host: x|Content-Length: 99999999999||"}) {
    SCOPED_TRACE(req);
    child_process py({python, "-c", script, std::to_string(s.port()), cert, req}, scratch() + "/tls.err");
    const auto line = py.read_line(10s);
    ASSERT_TRUE(line) << read_file(scratch() + "/tls.err");
    EXPECT_EQ(line->rfind("CLEAN HTTP/1.1 ", 0), 0u) << *line;
    py.wait_exit(5s);
  }
}

// Over TLS too, a client that writes its whole body before reading reads the
// early status (here 401: no token) instead of a reset: the server drains
// the rest of the request, decrypting and discarding it, before it closes.
TEST_F(hostile_http_test, a_tls_client_that_writes_its_whole_body_first_reads_the_early_status) {
  const auto [cert, key] = self_signed_certificate();
  ASSERT_FALSE(cert.empty()) << read_file(scratch() + "/openssl.err");
  const std::string tokens = scratch() + "/tokens";
  write_file(tokens, "write " + std::string(32, 'w') + "\n");
  auto& s = start({"--tls-cert", cert, "--tls-key", key, "--token-file", tokens, "--body-limit", "8388608"});
  for (int round = 0; round < 3; ++round) {
    child_process c({python, tcp_client, "tlsearly", std::to_string(s.port()), cert, std::to_string(4 << 20)},
                    scratch() + "/tlsearly.err");
    const auto line = c.read_line(20s);
    ASSERT_TRUE(line) << read_file(scratch() + "/tlsearly.err");
    EXPECT_EQ(*line, "STATUS 401") << "round " << round;
    c.wait_exit(5s);
  }
}

// A connection that ends in an error, not because its client left or the
// server closed it (here plain HTTP sent to a TLS listener: the handshake
// fails), leaves one line in the log naming the step and the peer.
TEST_F(hostile_http_test, a_failed_tls_handshake_is_logged_once_with_its_peer) {
  const auto [cert, key] = self_signed_certificate();
  ASSERT_FALSE(cert.empty()) << read_file(scratch() + "/openssl.err");
  auto& s = start({"--tls-cert", cert, "--tls-key", key});
  {
    raw_conn c(s.port());
    ASSERT_TRUE(c.connected());
    ASSERT_TRUE(c.send_all("GET /health HTTP/1.1\r\nHost: x\r\n\r\n"));
    EXPECT_TRUE(c.closed_within(5s));
  }
  EXPECT_EQ(s.stop(), 0);  // the log is flushed at the stop
  const std::string log = s.log();
  std::size_t lines = 0;
  for (std::size_t at = 0; (at = log.find("error=tls_handshake", at)) != std::string::npos; ++at) ++lines;
  EXPECT_EQ(lines, 1u) << tail(log);
  EXPECT_NE(log.find("error=tls_handshake peer=127.0.0.1:"), std::string::npos) << tail(log);
}

// RFC 9110 §10.1.1: an expectation the server cannot meet (anything but
// 100-continue) is refused with 417 before the request runs, and the
// connection is closed (the body, if any, is drained, not read as a request).
TEST_F(hostile_http_test, an_expectation_other_than_100_continue_gets_417_and_the_connection_closes) {
  auto& s = start();
  for (const std::string expect : {"something-else", "100-continue, x-other"}) {
    SCOPED_TRACE(expect);
    raw_conn c(s.port());
    ASSERT_TRUE(c.connected());
    ASSERT_TRUE(c.send_all("GET /health HTTP/1.1\r\nHost: x\r\nExpect: " + expect + "\r\n\r\n"));
    const auto r = c.read_response();
    EXPECT_EQ(r.status, 417) << r.headers;
    EXPECT_EQ(json::parse(r.body).at("error"), "expectation_failed") << r.body;
    EXPECT_EQ(r.header("Connection"), "close") << r.headers;
    EXPECT_TRUE(c.closed_within(5s));
  }
  EXPECT_EQ(http(s, {.path = "/health"}).status, 200);
}

// At the connection limit a TLS listener sends nothing in clear text (a TLS
// client cannot read it, and it would be a reply before any handshake): it
// closes the connection at once.
TEST_F(hostile_http_test, a_tls_listener_at_the_connection_limit_closes_without_clear_text) {
  const auto [cert, key] = self_signed_certificate();
  ASSERT_FALSE(cert.empty()) << read_file(scratch() + "/openssl.err");
  auto& s = start({"--tls-cert", cert, "--tls-key", key, "--max-connections", "1"});
  raw_conn holder(s.port());  // the one connection allowed, in its handshake
  ASSERT_TRUE(holder.connected());
  raw_conn refused(s.port());
  ASSERT_TRUE(refused.connected());
  refused.send_all("\x16\x03\x01");  // the first bytes of a ClientHello
  EXPECT_TRUE(refused.closed_within(5s));
  EXPECT_EQ(refused.unread(), "") << "sent before any handshake";
}

// A second evstored on a port in use fails at once, naming the address, and
// leaves no data directory behind (it never got as far as opening a store).
TEST_F(hostile_http_test, a_port_in_use_fails_before_the_data_directory_is_made) {
  auto& first = start();
  const std::string err = scratch() + "/second.err", listen = "127.0.0.1:" + std::to_string(first.port());
  child_process second({EVSTORE_SERVER, "--data", data_dir("second"), "--listen", listen}, err);
  second.read_line(10s);
  EXPECT_EQ(second.wait_exit(10s), 1);
  EXPECT_NE(read_file(err).find(listen), std::string::npos) << read_file(err);
  EXPECT_FALSE(std::filesystem::exists(data_dir("second"))) << "the refused server made its data directory";
  EXPECT_EQ(get("/health").status, 200) << "the first server still serves";
}

TEST_F(hostile_http_test, out_of_range_options_are_refused_with_a_clear_message) {
  const std::vector<std::vector<std::string>> bad = {
      {"--header-limit", "4294967296"},
      {"--header-limit", "0"},
      {"--body-limit", "-1"},
      {"--body-limit", "99999999999999999999"},
      {"--idle-timeout-ms", "99999999999999999"},
      {"--header-timeout-ms", "0"},
      {"--write-timeout-ms", "-5"},
      {"--max-connections", "0"},
      {"--stop-timeout-ms", "abc"},
  };
  for (const auto& args : bad) {
    SCOPED_TRACE(args[0] + " " + args[1]);
    const std::string err = scratch() + "/opt.err";
    std::filesystem::remove(err);
    std::vector<std::string> argv = {EVSTORE_SERVER, "--data", data_dir("opts"), "--listen", "127.0.0.1:0"};
    argv.insert(argv.end(), args.begin(), args.end());
    child_process p(argv, err);
    const auto out = p.read_line(10s);
    EXPECT_EQ(p.wait_exit(10s), 2) << (out ? *out : "");
    EXPECT_NE(read_file(err).find(args[0]), std::string::npos) << read_file(err);
  }
}

}  // namespace
