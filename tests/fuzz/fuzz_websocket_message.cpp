// Fuzz target: the messages a WebSocket client sends to evstored's
// /subscribe. One in-process server on a temporary store (port 0, loopback)
// serves every input. The first byte picks the subscription (odd: a
// consumer on $all, whose acks commit; even: a plain subscription, which
// refuses every message); the rest is split at '\n' into text messages (at
// most 16), each sent, then frames are read until its reply.
// Properties: no crash or sanitizer report; every frame the server sends is
// a JSON object; each message gets its reply within 3 s unless the server
// closes (a message that is not UTF-8 ends the session, by RFC 6455); the
// server still answers GET /health with 200 after each input.
#include "fuzz_check.hpp"
#include "server.hpp"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/json.hpp>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>
#include <thread>

namespace {

using namespace std::chrono_literals;
namespace beast = boost::beast;
namespace ws = boost::beast::websocket;
using tcp = boost::asio::ip::tcp;

struct harness {
  harness() {
    char dir[] = "/tmp/evstore-fuzz-ws-XXXXXX";
    if (::mkdtemp(dir) == nullptr) std::abort();
    directory = dir;
    engine_thread = std::thread([this] { engine_io.run(); });
    auto opened = evstore::store::open(engine_io.get_executor(), {.directory = directory + "/data"});
    FUZZ_CHECK(opened.has_value());
    s.emplace(std::move(*opened));
    evstore::http::server_options o;
    o.port = 0;
    o.header_timeout = 1s;
    o.idle_timeout = 1s;
    o.write_timeout = 1s;
    o.linger_timeout = 100ms;
    o.websocket_max_message = 64 << 10;
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

// A client whose every operation is bounded: each runs the client's own
// io_context for at most 3 s, after which the socket is closed.
class client {
 public:
  explicit client(std::uint16_t port) : port_(port) {}

  // Runs `start(done)` until it calls done(ec); the error, or timed_out.
  template <class Start>
  beast::error_code run(Start start) {
    bool finished = false;
    beast::error_code result;
    start([&](beast::error_code ec) {
      result = ec;
      finished = true;
    });
    io_.restart();
    io_.run_for(3s);
    if (finished) return result;
    beast::error_code ignored;
    beast::get_lowest_layer(ws_).close(ignored);
    io_.restart();
    io_.run();
    return beast::error::timeout;
  }

  beast::error_code open(const std::string& target) {
    auto ec = run([&](auto done) {
      beast::get_lowest_layer(ws_).async_connect({boost::asio::ip::address_v4::loopback(), port_},
                                                 [done](beast::error_code e) { done(e); });
    });
    if (ec) return ec;
    beast::get_lowest_layer(ws_).set_option(tcp::no_delay(true), ec);  // small frames, no Nagle wait
    return run([&](auto done) {
      ws_.async_handshake("127.0.0.1", target, [done](beast::error_code e) { done(e); });
    });
  }

  beast::error_code send(const std::string& text) {
    ws_.text(true);
    return run([&](auto done) {
      ws_.async_write(boost::asio::buffer(text), [done](beast::error_code e, std::size_t) { done(e); });
    });
  }

  // The next frame's text, or the error that ended the read.
  beast::error_code read(std::string& text) {
    in_.clear();
    auto ec =
        run([&](auto done) { ws_.async_read(in_, [done](beast::error_code e, std::size_t) { done(e); }); });
    text = beast::buffers_to_string(in_.data());
    return ec;
  }

  void close() {
    run([&](auto done) {
      ws_.async_close(ws::close_code::normal, [done](beast::error_code e) { done(e); });
    });
  }

 private:
  std::uint16_t port_;
  boost::asio::io_context io_;
  ws::stream<tcp::socket> ws_{io_};
  beast::flat_buffer in_;
};

// GET /health on a new connection: the status line, or "" if none came within 3 s.
std::string health(std::uint16_t port) {
  boost::asio::io_context io;
  tcp::socket sock(io);
  std::string got;
  sock.async_connect({boost::asio::ip::address_v4::loopback(), port}, [&](beast::error_code ec) {
    if (ec) return;
    static const std::string req = "GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    boost::asio::async_write(sock, boost::asio::buffer(req), [&](beast::error_code wec, std::size_t) {
      if (wec) return;
      boost::asio::async_read(sock, boost::asio::dynamic_buffer(got), [](beast::error_code, std::size_t) {});
    });
  });
  io.run_for(3s);
  return got.substr(0, got.find("\r\n"));
}

bool is_event_or_caught_up(const boost::json::object& o) {
  return o.contains("event") || o.contains("caughtUp");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static harness h;
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  const bool consumer = !bytes.empty() && (bytes.front() & 1) != 0;
  if (!bytes.empty()) bytes.remove_prefix(1);
  {
    client c(h.port);
    const auto opened = c.open(consumer ? "/subscribe?consumer=fuzz" : "/subscribe?stream=%24all");
    FUZZ_CHECK(!opened || opened != beast::error::timeout);
    for (int n = 0; !opened && n < 16 && !bytes.empty(); ++n) {
      const auto nl = bytes.find('\n');
      const std::string message(bytes.substr(0, nl));
      bytes.remove_prefix(nl == std::string_view::npos ? bytes.size() : nl + 1);
      if (c.send(message)) break;
      // Events and caughtUp may come first; then the reply to the message.
      bool replied = false, ended = false;
      while (!replied && !ended) {
        std::string frame;
        if (const auto ec = c.read(frame)) {
          FUZZ_CHECK(ec != beast::error::timeout);  // a reply, or a close, within the deadline
          ended = true;
          break;
        }
        boost::system::error_code jec;
        const auto v = boost::json::parse(frame, jec);
        FUZZ_CHECK(!jec && v.is_object());  // every frame is a JSON object
        const auto& o = v.as_object();
        if (is_event_or_caught_up(o)) continue;
        FUZZ_CHECK(o.contains("error") || o.contains("acked"));
        if (o.contains("error")) FUZZ_CHECK(o.at("error").is_string() && o.at("message").is_string());
        replied = true;
      }
      if (ended) break;
    }
    c.close();
  }
  FUZZ_CHECK(health(h.port) == "HTTP/1.1 200 OK");
  return 0;
}
