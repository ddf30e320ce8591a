// evstored: serves an evstore directory over HTTP, WebSocket and SSE (API.md).
//
//   evstored --data ./data [--listen 127.0.0.1:2113] [--fsync] [--read-only]
//            [--token-file F] [limits...]
//
// Three loops: the network loop (listener and sessions), the engine loop
// (the appends' strand) and the read loop (reads and subscriptions' reads, on
// their own threads so that a large read never delays an append). SIGINT/SIGTERM stop
// accepting, close the sessions, close the store (flush, fsync) and exit 0.
#include "request_log.hpp"
#include "server.hpp"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/program_options.hpp>

#include <sys/resource.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <functional>
#include <iostream>
#include <thread>
#include <vector>

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

// A numeric flag, read as text and checked here: program_options would take
// "-1" for a size_t as 2^64-1, and a value past a field's range would wrap.
struct number_flag {
  const char* name;
  std::uint64_t low, high;
  std::string text;
};

std::optional<std::uint64_t> parse_flag(const number_flag& f) {
  std::uint64_t v = 0;
  const char* end = f.text.data() + f.text.size();
  const auto [ptr, ec] = std::from_chars(f.text.data(), end, v);
  if (ec != std::errc{} || ptr != end || v < f.low || v > f.high) {
    std::cerr << "evstored: --" << f.name << " must be an integer from " << f.low << " to " << f.high << ", got '"
              << f.text << "'\n";
    return std::nullopt;
  }
  return v;
}

}  // namespace

int main(int argc, char** argv) {
  std::string data, listen = "127.0.0.1:2113", token_file;
  evstore::http::server_options so;
  constexpr std::uint64_t day_ms = 86'400'000, gib = std::uint64_t{1} << 30;
  // name, range, default (the defaults of server_options).
  number_flag body_limit{"body-limit", 1, gib, std::to_string(so.body_limit)};
  number_flag header_limit{"header-limit", 1024, std::uint64_t{1} << 20, std::to_string(so.header_limit)};
  number_flag header_timeout{"header-timeout-ms", 1, day_ms, std::to_string(so.header_timeout.count())};
  number_flag idle_timeout{"idle-timeout-ms", 1, day_ms, std::to_string(so.idle_timeout.count())};
  number_flag write_timeout{"write-timeout-ms", 1, day_ms, std::to_string(so.write_timeout.count())};
  number_flag linger{"linger-ms", 0, 60'000, std::to_string(so.linger_timeout.count())};
  number_flag stop_timeout{"stop-timeout-ms", 0, 3'600'000, std::to_string(so.stop_timeout.count())};
  number_flag threads{"threads", 1, 64, "1"};
  number_flag read_threads{"read-threads", 1, 64, "2"};
  number_flag read_page_bytes{"read-page-bytes", 1, gib, std::to_string(so.api.max_read_bytes)};
  number_flag max_connections{"max-connections", 1, 1'000'000, std::to_string(so.max_connections)};
  number_flag ws_max_message{"ws-max-message", 1, gib, std::to_string(so.websocket_max_message)};
  number_flag send_queue_limit{"send-queue-limit", 4096, gib, std::to_string(so.send_queue_limit)};
  number_flag ws_idle_timeout{"ws-idle-timeout-ms", 100, day_ms, std::to_string(so.websocket_idle_timeout.count())};
  po::options_description desc("evstored — serve an evstore directory over HTTP, WebSocket and SSE");
  desc.add_options()("help,h", "this help")
      ("data", po::value(&data)->required(), "store directory (created if missing)")
      ("listen", po::value(&listen)->default_value(listen), "address:port to listen on (port 0: any free port)")
      ("fsync", "acknowledge appends only after fdatasync (group commit)")
      ("read-only", "serve a store another process writes, following it; writes answer 403")
      ("token-file", po::value(&token_file), "require bearer tokens: lines \"read <token>\" or \"write <token>\"")
      ("tls-cert", po::value(&so.tls_cert_file), "PEM certificate chain: serve HTTPS/WSS only")
      ("tls-key", po::value(&so.tls_key_file), "PEM private key of --tls-cert")
      ("body-limit", po::value(&body_limit.text)->default_value(body_limit.text), "largest request body, bytes (413 above; 1 to 1 GiB)")
      ("header-limit", po::value(&header_limit.text)->default_value(header_limit.text), "largest request header, bytes (431 above; 1 KiB to 1 MiB)")
      ("header-timeout-ms", po::value(&header_timeout.text)->default_value(header_timeout.text), "time to send a request's headers, from its first byte (every request)")
      ("idle-timeout-ms", po::value(&idle_timeout.text)->default_value(idle_timeout.text), "keep-alive idle time until the next request's first byte")
      ("write-timeout-ms", po::value(&write_timeout.text)->default_value(write_timeout.text), "time for one write to a client")
      ("linger-ms", po::value(&linger.text)->default_value(linger.text), "after an early answer (413, 431, 400, 401, 403, 503), time to read and discard the rest of the request")
      ("stop-timeout-ms", po::value(&stop_timeout.text)->default_value(stop_timeout.text), "SIGTERM/SIGINT: time for requests in flight to finish and answer")
      ("threads", po::value(&threads.text)->default_value(threads.text), "threads running the network loop, 1 to 64 (sessions stay on their strands)")
      ("read-threads", po::value(&read_threads.text)->default_value(read_threads.text), "threads serving reads and subscriptions, 1 to 64 (appends have their own)")
      ("read-page-bytes", po::value(&read_page_bytes.text)->default_value(read_page_bytes.text), "largest page of a read, in stored event bytes (a page always holds one event)")
      ("max-connections", po::value(&max_connections.text)->default_value(max_connections.text), "open connections at most (503 above)")
      ("ws-max-message", po::value(&ws_max_message.text)->default_value(ws_max_message.text), "largest WebSocket message from a client, bytes")
      ("send-queue-limit", po::value(&send_queue_limit.text)->default_value(send_queue_limit.text), "bytes queued for one WebSocket or SSE client (4096 to 1 GiB)")
      ("ws-idle-timeout-ms", po::value(&ws_idle_timeout.text)->default_value(ws_idle_timeout.text), "WebSocket: ping after half this silence, close after all of it (100 ms to 1 day)");
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
  std::uint64_t values[14];
  std::size_t n = 0;
  for (const number_flag* f : {&body_limit, &header_limit, &header_timeout, &idle_timeout, &write_timeout, &linger,
                               &stop_timeout, &threads, &max_connections, &ws_max_message, &read_threads,
                               &read_page_bytes, &send_queue_limit, &ws_idle_timeout}) {
    const auto v = parse_flag(*f);
    if (!v) return 2;
    values[n++] = *v;
  }
  so.body_limit = values[0];
  so.header_limit = values[1];
  so.header_timeout = std::chrono::milliseconds(values[2]);
  so.idle_timeout = std::chrono::milliseconds(values[3]);
  so.write_timeout = std::chrono::milliseconds(values[4]);
  so.linger_timeout = std::chrono::milliseconds(values[5]);
  so.stop_timeout = std::chrono::milliseconds(values[6]);
  const auto network_threads = static_cast<unsigned>(values[7]);
  so.max_connections = values[8];
  so.websocket_max_message = values[9];
  const auto read_thread_count = static_cast<unsigned>(values[10]);
  so.api.max_read_bytes = values[11];
  so.send_queue_limit = values[12];
  so.websocket_idle_timeout = std::chrono::milliseconds(values[13]);
  const auto where = parse_listen(listen);
  if (!where) {
    std::cerr << "evstored: --listen must be host:port, got " << listen << "\n";
    return 2;
  }
  so.address = where->host;
  so.port = where->port;
  if (!token_file.empty()) {
    auto tokens = evstore::http::load_token_file(token_file);
    if (!tokens) {
      std::cerr << "evstored: " << tokens.error().message() << "\n";  // names the file and line, never a token
      return 2;
    }
    so.tokens = std::move(*tokens);
  }

  // A server holds a descriptor per connection and per cached store file:
  // take the whole allowance (the soft limit is often 1024 of a far larger hard one).
  if (rlimit limit{}; ::getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    (void)::setrlimit(RLIMIT_NOFILE, &limit);
  }
  boost::asio::io_context engine_io(1), net_io(static_cast<int>(network_threads));
  boost::asio::io_context read_io(static_cast<int>(read_thread_count));
  auto engine_guard = boost::asio::make_work_guard(engine_io);
  auto read_guard = boost::asio::make_work_guard(read_io);
  std::thread engine_thread([&] { engine_io.run(); });
  std::vector<std::thread> read_pool;
  for (unsigned i = 0; i < read_thread_count; ++i) read_pool.emplace_back([&read_io] { read_io.run(); });
  auto stop_engine = [&] {
    read_guard.reset();
    read_io.stop();
    for (auto& t : read_pool) t.join();
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
  evstore::http::server srv(net_io, store, read_io.get_executor(), so);
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
  // Shutdown: stop accepting; requests in flight finish and answer within
  // --stop-timeout-ms (subscriptions and idle connections close at once);
  // once every session is gone, close the store (flush, fsync, checkpoint)
  // and let the network loop run out of work. A last deadline (stop timeout
  // + 5 s) stops the loop if the store's close hangs. Messages on stderr do
  // not wait on a full pipe.
  boost::asio::steady_timer deadline(net_io);
  signals.async_wait([&](boost::system::error_code ec, int) {
    if (ec) return;
    evstore::net::write_stderr_nowait("evstored: stopping\n");
    deadline.expires_after(so.stop_timeout + std::chrono::seconds(5));
    deadline.async_wait([&net_io](boost::system::error_code tec) {
      if (!tec) net_io.stop();
    });
    srv.stop([&] {
      store.close([&](boost::system::error_code cec) {
        if (cec) evstore::net::write_stderr_nowait("evstored: close: " + cec.message() + "\n");
        boost::asio::post(net_io, [&] { deadline.cancel(); });  // the loop now runs out of work
      });
    });
  });
  std::vector<std::thread> extra;
  for (unsigned i = 1; i < network_threads; ++i) extra.emplace_back([&net_io] { net_io.run(); });
  net_io.run();
  for (auto& t : extra) t.join();
  stop_engine();
  evstore::net::write_stderr_nowait("evstored: stopped\n");
  return 0;
}
