// evstored: serves an evstore directory over HTTP, WebSocket and SSE (API.md).
//
//   evstored --data ./data [--listen 127.0.0.1:2113] [--fsync] [--read-only]
//            [--token-file F] [limits...]
//
// Two loops: the network loop (listener and sessions) and the engine loop
// (appends' strand, reads, subscriptions' reads). SIGINT/SIGTERM stop
// accepting, close the sessions, close the store (flush, fsync) and exit 0.
#include "server.hpp"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/program_options.hpp>

#include <sys/resource.h>

#include <algorithm>
#include <cstdio>
#include <functional>
#include <vector>
#include <future>
#include <iostream>
#include <thread>

namespace po = boost::program_options;

namespace {

struct listen_address {
  std::string host;
  std::uint16_t port = 0;
};

std::optional<listen_address> parse_listen(const std::string& s) {
  const auto colon = s.rfind(':');
  if (colon == std::string::npos || colon == 0) return std::nullopt;
  const std::string port = s.substr(colon + 1);
  char* end = nullptr;
  const unsigned long p = std::strtoul(port.c_str(), &end, 10);
  if (port.empty() || *end != '\0' || p > 65535) return std::nullopt;
  std::string host = s.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  return listen_address{host, static_cast<std::uint16_t>(p)};
}

}  // namespace

int main(int argc, char** argv) {
  std::string data, listen = "127.0.0.1:2113", token_file;
  evstore::http::server_options so;
  std::size_t header_timeout_ms = 10'000, idle_timeout_ms = 60'000, write_timeout_ms = 30'000;
  std::size_t ws_idle_timeout_ms = 60'000;
  unsigned network_threads = 1;
  po::options_description desc("evstored — serve an evstore directory over HTTP, WebSocket and SSE");
  desc.add_options()("help,h", "this help")
      ("data", po::value(&data)->required(), "store directory (created if missing)")
      ("listen", po::value(&listen)->default_value(listen), "address:port to listen on (port 0: any free port)")
      ("fsync", "acknowledge appends only after fdatasync (group commit)")
      ("read-only", "serve a store another process writes, following it; writes answer 403")
      ("token-file", po::value(&token_file), "require bearer tokens: lines \"read <token>\" or \"write <token>\"")
      ("tls-cert", po::value(&so.tls_cert_file), "PEM certificate chain: serve HTTPS/WSS only")
      ("tls-key", po::value(&so.tls_key_file), "PEM private key of --tls-cert")
      ("body-limit", po::value(&so.body_limit)->default_value(so.body_limit), "largest request body, bytes (413 above)")
      ("header-limit", po::value(&so.header_limit)->default_value(so.header_limit), "largest request header, bytes (431 above)")
      ("header-timeout-ms", po::value(&header_timeout_ms)->default_value(header_timeout_ms), "time to send a request's headers")
      ("idle-timeout-ms", po::value(&idle_timeout_ms)->default_value(idle_timeout_ms), "keep-alive idle time between requests")
      ("write-timeout-ms", po::value(&write_timeout_ms)->default_value(write_timeout_ms), "time for one write to a client")
      ("threads", po::value(&network_threads)->default_value(network_threads), "threads running the network loop (sessions stay on their strands)")
      ("max-connections", po::value(&so.max_connections)->default_value(so.max_connections), "open connections at most (503 above)")
      ("ws-max-message", po::value(&so.websocket_max_message)->default_value(so.websocket_max_message), "largest WebSocket message from a client, bytes")
      ("send-queue-limit", po::value(&so.send_queue_limit)->default_value(so.send_queue_limit), "bytes queued for one WebSocket or SSE client (4096 to 1 GiB)")
      ("ws-idle-timeout-ms", po::value(&ws_idle_timeout_ms)->default_value(ws_idle_timeout_ms), "WebSocket: ping after half this silence, close after all of it (100 ms to 1 day)");
  po::variables_map vm;
  try {
    po::store(po::parse_command_line(argc, argv, desc), vm);
    if (vm.count("help")) {
      std::cout << desc << "\n";
      return 0;
    }
    po::notify(vm);
  } catch (const std::exception& e) {
    std::cerr << "evstored: " << e.what() << "\n" << desc << "\n";
    return 2;
  }
  const auto where = parse_listen(listen);
  if (!where) {
    std::cerr << "evstored: --listen must be host:port, got " << listen << "\n";
    return 2;
  }
  so.address = where->host;
  so.port = where->port;
  so.header_timeout = std::chrono::milliseconds(header_timeout_ms);
  so.idle_timeout = std::chrono::milliseconds(idle_timeout_ms);
  so.write_timeout = std::chrono::milliseconds(write_timeout_ms);
  if (so.send_queue_limit < 4096 || so.send_queue_limit > (std::size_t{1} << 30)) {
    std::cerr << "evstored: --send-queue-limit must be 4096 to 1073741824 bytes, got " << so.send_queue_limit << "\n";
    return 2;
  }
  if (ws_idle_timeout_ms < 100 || ws_idle_timeout_ms > 86'400'000) {
    std::cerr << "evstored: --ws-idle-timeout-ms must be 100 to 86400000, got " << ws_idle_timeout_ms << "\n";
    return 2;
  }
  so.websocket_idle_timeout = std::chrono::milliseconds(ws_idle_timeout_ms);
  if (!token_file.empty()) {
    auto tokens = evstore::http::load_token_file(token_file);
    if (!tokens) {
      std::cerr << "evstored: " << tokens.error().message() << "\n";  // names the file and line, never a token
      return 2;
    }
    so.tokens = std::move(*tokens);
  }

  network_threads = std::clamp(network_threads, 1u, 64u);
  // A server holds a descriptor per connection and per cached store file:
  // take the whole allowance (the soft limit is often 1024 of a far larger hard one).
  if (rlimit limit{}; ::getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    (void)::setrlimit(RLIMIT_NOFILE, &limit);
  }
  boost::asio::io_context engine_io(1), net_io(static_cast<int>(network_threads));
  auto engine_guard = boost::asio::make_work_guard(engine_io);
  std::thread engine_thread([&] { engine_io.run(); });
  auto stop_engine = [&] {
    engine_guard.reset();
    engine_io.stop();
    engine_thread.join();
  };

  auto opened = evstore::store::open(engine_io.get_executor(), {.directory = data,
                                                                .fsync_on_flush = vm.count("fsync") > 0,
                                                                .read_only = vm.count("read-only") > 0});
  if (!opened) {
    std::cerr << "evstored: cannot open " << data << ": " << opened.error().message() << "\n";
    stop_engine();
    return 1;
  }
  evstore::store& store = *opened;
  evstore::http::server srv(net_io, store, engine_io.get_executor(), so);
  if (auto started = srv.start(); !started) {
    std::cerr << "evstored: " << started.error().message() << "\n";
    stop_engine();
    return 1;
  }
  const std::string host = so.address.find(':') != std::string::npos ? "[" + so.address + "]" : so.address;
  const char* scheme = so.tls_cert_file.empty() ? "http" : "https";
  std::printf("evstored: serving %s on %s://%s:%u/ (console at %s://%s:%u/)%s\n", data.c_str(), scheme, host.c_str(),
              srv.port(), scheme, host.c_str(), srv.port(), so.tokens.empty() ? "" : ", bearer tokens required");
  std::fflush(stdout);

  boost::asio::signal_set signals(net_io, SIGINT, SIGTERM);
  // Shutdown: stop accepting and close every session, close the store (flush,
  // fsync, checkpoint), and let the network loop run out of work, so that
  // every session (and the subscriptions and consumers it holds) is gone
  // before anything is destroyed. A deadline stops the loop if a session
  // does not go within 10 s.
  boost::asio::steady_timer deadline(net_io), recheck(net_io);
  std::function<void()> wait_for_sessions = [&] {
    if (srv.session_count() == 0) {
      deadline.cancel();  // the loop now runs out of work
      return;
    }
    recheck.expires_after(std::chrono::milliseconds(10));
    recheck.async_wait([&](boost::system::error_code rec) {
      if (!rec) wait_for_sessions();
    });
  };
  signals.async_wait([&](boost::system::error_code ec, int) {
    if (ec) return;
    std::fprintf(stderr, "evstored: stopping\n");
    srv.stop();
    deadline.expires_after(std::chrono::seconds(10));
    deadline.async_wait([&net_io](boost::system::error_code tec) {
      if (!tec) net_io.stop();
    });
    store.close([&](boost::system::error_code cec) {
      if (cec) std::fprintf(stderr, "evstored: close: %s\n", cec.message().c_str());
      boost::asio::post(net_io, [&] { wait_for_sessions(); });
    });
  });
  std::vector<std::thread> extra;
  for (unsigned i = 1; i < network_threads; ++i) extra.emplace_back([&net_io] { net_io.run(); });
  net_io.run();
  for (auto& t : extra) t.join();
  stop_engine();
  std::fprintf(stderr, "evstored: stopped\n");
  return 0;
}
