// Fuzz target: what a WebSocket client says to evstored once subscribed. The
// input's first byte picks the subscription (plain from 0, plain from the
// end, or a consumer); the rest, split at '\n', is up to 8 messages sent as
// text (a message starting with 0x01 goes as binary). One in-process server
// on a temporary store holding a few events serves every input; each input
// gets a fresh connection, upgraded with Beast's client.
// Properties: no crash or sanitizer report; every message the server sends
// is a JSON object; the connection ends within its deadlines once the client
// closes; and the server still answers GET /health with 200 after each input.
#include "fuzz_check.hpp"
#include "server.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/websocket/stream.hpp>
#include <boost/json/parse.hpp>

#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace std::chrono_literals;
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace ws = boost::beast::websocket;
using tcp = asio::ip::tcp;

struct harness {
  harness() {
    char dir[] = "/tmp/evstore-fuzz-ws-XXXXXX";
    if (::mkdtemp(dir) == nullptr) std::abort();
    directory = dir;
    engine_thread = std::thread([this] { engine_io.run(); });
    auto opened = evstore::store::open(engine_io.get_executor(), {.directory = directory + "/data"});
    FUZZ_CHECK(opened.has_value());
    s.emplace(std::move(*opened));
    std::vector<evstore::event_data> events;
    for (int i = 0; i < 5; ++i) events.push_back({"Fuzzed", R"({"n":)" + std::to_string(i) + "}", {}, std::nullopt});
    std::promise<boost::system::error_code> appended;
    s->append("fz", std::move(events), evstore::expect::any,
              [&](boost::system::error_code ec, evstore::append_result) { appended.set_value(ec); });
    FUZZ_CHECK(!appended.get_future().get());
    evstore::http::server_options o;
    o.port = 0;
    o.header_timeout = 300ms;
    o.idle_timeout = 300ms;
    o.write_timeout = 1s;
    o.linger_timeout = 100ms;
    o.websocket_max_message = 4 << 10;
    o.send_queue_limit = 64 << 10;
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

  // One subscription: upgrade to `target`, send `messages`, read what comes
  // back for a while, close. Returns false if the connection did not end
  // within its deadlines; every message received goes to `received`.
  bool converse(const std::string& target, const std::vector<std::pair<bool, std::string>>& messages,
                std::vector<std::string>& received) const {
    asio::io_context io;
    ws::stream<beast::tcp_stream> c(io);
    beast::error_code ec;
    c.next_layer().connect(tcp::endpoint(asio::ip::address_v4::loopback(), port), ec);
    FUZZ_CHECK(!ec);
    c.next_layer().expires_after(2s);
    c.handshake("127.0.0.1", target, ec);
    if (ec) return true;  // refused with an HTTP status: nothing to say
    c.next_layer().expires_never();  // from here the websocket's own timeouts

    bool ended = false;
    beast::flat_buffer buffer;
    // Reads until the server closes or the io_context stops.
    std::function<void()> read_next = [&] {
      c.async_read(buffer, [&](beast::error_code rec, std::size_t) {
        if (rec) {
          ended = true;
          return;
        }
        received.push_back(beast::buffers_to_string(buffer.data()));
        buffer.consume(buffer.size());
        read_next();
      });
    };
    read_next();
    std::size_t sent = 0;
    std::function<void()> send_next = [&] {
      if (ended || sent == messages.size()) return;
      const auto& [binary, text] = messages[sent++];
      c.binary(binary);
      c.async_write(asio::buffer(text), [&](beast::error_code wec, std::size_t) {
        if (!wec) send_next();
      });
    };
    send_next();
    // Until everything is sent and the server has been quiet for 100 ms (at most 1 s):
    // a consumer's ack is answered once its commit is durable.
    const auto stop_by = std::chrono::steady_clock::now() + 1s;
    for (std::size_t seen = SIZE_MAX; !ended && std::chrono::steady_clock::now() < stop_by;) {
      if (seen == received.size() && sent == messages.size()) break;
      seen = received.size();
      io.run_for(100ms);
    }
    if (!ended) {
      c.async_close(ws::close_code::normal, [](beast::error_code) {});
      io.restart();
      io.run_for(3s);  // the pending read completes once the close handshake is done
    }
    return ended;
  }

  std::string directory;
  asio::io_context engine_io{1}, net_io{1};
  asio::executor_work_guard<asio::io_context::executor_type> engine_guard = asio::make_work_guard(engine_io);
  asio::executor_work_guard<asio::io_context::executor_type> net_guard = asio::make_work_guard(net_io);
  std::thread engine_thread, net_thread;
  std::optional<evstore::store> s;
  std::optional<evstore::http::server> srv;
  std::uint16_t port = 0;
};

bool health(std::uint16_t port) {
  asio::io_context io;
  beast::tcp_stream t(io);
  beast::error_code ec;
  t.connect(tcp::endpoint(asio::ip::address_v4::loopback(), port), ec);
  if (ec) return false;
  const std::string req = "GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  std::string in;
  t.expires_after(3s);
  t.async_write_some(asio::buffer(req), [](beast::error_code, std::size_t) {});
  std::array<char, 4096> buf{};
  std::function<void()> read_more = [&] {
    t.async_read_some(asio::buffer(buf), [&](beast::error_code rec, std::size_t n) {
      in.append(buf.data(), n);
      if (!rec) read_more();
    });
  };
  read_more();
  io.run();
  return in.rfind("HTTP/1.1 200 ", 0) == 0;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static harness h;
  if (size == 0) return 0;
  const std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  static const char* const targets[] = {"/subscribe?stream=fz&from=0", "/subscribe?stream=fz",
                                        "/subscribe?stream=fz&consumer=fuzzer", "/subscribe?stream=$all&from=3"};
  const std::string target = targets[data[0] % 4];
  std::vector<std::pair<bool, std::string>> messages;
  for (std::size_t at = 0; at <= rest.size() && messages.size() < 8;) {
    const std::size_t end = std::min(rest.find('\n', at), rest.size());
    std::string m(rest.substr(at, end - at));
    const bool binary = !m.empty() && m[0] == '\x01';
    messages.emplace_back(binary, binary ? m.substr(1) : m);
    at = end + 1;
  }
  std::vector<std::string> received;
  FUZZ_CHECK(h.converse(target, messages, received));  // ended within its deadlines
  static const bool verbose = std::getenv("FUZZ_VERBOSE") != nullptr;  // to read a crash's conversation
  for (const auto& m : received) {
    if (verbose) std::fprintf(stderr, "server: %s\n", m.c_str());
    boost::system::error_code ec;
    const auto v = boost::json::parse(m, ec);
    FUZZ_CHECK(!ec && v.is_object());
  }
  FUZZ_CHECK(health(h.port));
  return 0;
}
