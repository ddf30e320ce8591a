// Fuzz target: evstored's whole HTTP request path. The input is the bytes a
// client sends on one connection: Beast's parser, the framing checks, the
// limits and deadlines, the router and the responses all see them. One
// in-process server on a temporary store (port 0, loopback) serves every
// input; each input is written on a fresh connection whose write side is
// then shut, and the answer is read until the server closes.
// Properties: no crash or sanitizer report; whatever the server sends starts
// with a status line; it closes each connection within its deadlines; and it
// still answers GET /health with 200 after each input.
#include "fuzz_check.hpp"
#include "server.hpp"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

namespace {

using namespace std::chrono_literals;

struct harness {
  harness() {
    char dir[] = "/tmp/evstore-fuzz-http-XXXXXX";
    if (::mkdtemp(dir) == nullptr) std::abort();
    directory = dir;
    engine_thread = std::thread([this] { engine_io.run(); });
    auto opened = evstore::store::open(engine_io.get_executor(), {.directory = directory + "/data"});
    FUZZ_CHECK(opened.has_value());
    s.emplace(std::move(*opened));
    evstore::http::server_options o;
    o.port = 0;
    o.body_limit = 64 << 10;
    o.header_limit = 4 << 10;
    o.header_timeout = 300ms;
    o.idle_timeout = 300ms;
    o.write_timeout = 1s;
    o.linger_timeout = 100ms;
    o.sse_keepalive = 100ms;
    srv.emplace(net_io, *s, engine_io.get_executor(), o);
    FUZZ_CHECK(srv->start().has_value());
    port = srv->port();
    net_thread = std::thread([this] { net_io.run(); });
  }
  ~harness() {
    srv->stop();
    net_guard.reset();
    net_thread.join();
    srv.reset();
    s->close([](boost::system::error_code) {});
    engine_guard.reset();
    engine_thread.join();
    std::error_code ignored;
    std::filesystem::remove_all(directory, ignored);
  }

  // Sends `bytes` on a new connection, shuts the write side, returns what
  // the server sent until it closed (nullopt if it did not within 3 s).
  std::optional<std::string> exchange(std::string_view bytes) const {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    FUZZ_CHECK(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
    const auto end = std::chrono::steady_clock::now() + 3s;
    std::string in;
    bool write_open = true, closed = false;
    while (!closed && std::chrono::steady_clock::now() < end) {
      if (write_open && bytes.empty()) {
        ::shutdown(fd, SHUT_WR);
        write_open = false;
      }
      pollfd p{fd, static_cast<short>(POLLIN | (write_open ? POLLOUT : 0)), 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      if (write_open && (p.revents & POLLOUT)) {
        const ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
        if (n > 0) {
          bytes.remove_prefix(static_cast<std::size_t>(n));
        } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
          write_open = false;  // the server closed after an early answer
        }
      }
      if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
        char buf[16384];
        const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        if (n > 0) {
          in.append(buf, static_cast<std::size_t>(n));
        } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
          closed = true;
        }
      }
    }
    ::close(fd);
    if (!closed) return std::nullopt;
    return in;
  }

  std::string directory;
  boost::asio::io_context engine_io{1}, net_io{1};
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> engine_guard =
      boost::asio::make_work_guard(engine_io);
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> net_guard =
      boost::asio::make_work_guard(net_io);
  std::thread engine_thread, net_thread;
  std::optional<evstore::store> s;
  std::optional<evstore::http::server> srv;
  std::uint16_t port = 0;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static harness h;
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  const auto answer = h.exchange(bytes);
  FUZZ_CHECK(answer.has_value());  // closed within its deadlines
  FUZZ_CHECK(answer->empty() || answer->rfind("HTTP/1.1 ", 0) == 0);
  const auto health = h.exchange("GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  FUZZ_CHECK(health && health->rfind("HTTP/1.1 200 ", 0) == 0);
  return 0;
}
