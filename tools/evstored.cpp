// evstored: serves an evstore directory over HTTP, WebSocket and SSE (docs/http.md).
//
//   evstored --data ./data [--listen 127.0.0.1:2113] [--fsync] [--read-only]
//            [--token-file F] [limits...]
//
// Two loops: the network loop (listener, sessions and the store's strand, so
// that an append is answered without waking another thread) and the read loop
// (reads and subscriptions' reads, on their own threads so that a large read
// never delays an append or a connection). SIGINT/SIGTERM stop
// accepting, close the sessions, close the store (flush, fsync) and exit 0.
//
// main() is the sequence: parse the options, load the tokens, open the store,
// start the server, serve until a signal has stopped it, stop the loops.
// Exit codes: 0 after a clean stop or --help, 2 for bad flags or a bad token
// file, 1 when the store does not open or the server does not start.
// Every line it logs (stdout's banner, stderr's lines from the token file on)
// starts with the time (net::log_timestamp); --help and flag errors are not
// log lines.
#include "request_log.hpp"
#include "server.hpp"
#include "tools/io_threads.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/program_options.hpp>

#include <charconv>
#include <cstdio>
#include <functional>
#include <iostream>
#include <optional>
#include <thread>
#include <vector>

#include <sys/resource.h>

namespace po = boost::program_options;

namespace {

// Everything the flags say, checked.
struct options {
  std::string data;
  std::string listen = "127.0.0.1:2113";
  std::string token_file;
  bool fsync = false;
  bool read_only = false;
  unsigned network_threads = 1;
  unsigned read_threads = 2;
  std::uint64_t index_cache_mb = evstore::store_options{}.index_cache_bytes >> 20;
  evstore::http::server_options server;  // address, port, limits, TLS files; tokens once loaded
};

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
// `apply` stores the checked value into the options.
struct number_flag {
  const char* name;
  std::uint64_t low, high;
  std::string text;  // the default (server_options' own) until the command line sets it
  const char* help;
  std::function<void(options&, std::uint64_t)> apply;
};

std::optional<std::uint64_t> parse_flag(const number_flag& f) {
  std::uint64_t v = 0;
  const char* end = f.text.data() + f.text.size();
  const auto [ptr, ec] = std::from_chars(f.text.data(), end, v);
  if (ec != std::errc{} || ptr != end || v < f.low || v > f.high) {
    std::cerr << "evstored: --" << f.name << " must be an integer from " << f.low << " to " << f.high
              << ", got '" << f.text << "'\n";
    return std::nullopt;
  }
  return v;
}

std::chrono::milliseconds ms(std::uint64_t v) { return std::chrono::milliseconds(v); }

// The numeric flags in the order --help lists them, with their ranges and
// defaults (server_options' defaults; 1 network and 2 read threads).
std::vector<number_flag> number_flags(const options& defaults) {
  constexpr std::uint64_t day_ms = 86'400'000, gib = std::uint64_t{1} << 30;
  const evstore::http::server_options& so = defaults.server;
  const auto text = [](auto v) { return std::to_string(v); };
  return {
      {"body-limit", 1, gib, text(so.body_limit), "largest request body, bytes (413 above; 1 to 1 GiB)",
       [](options& o, std::uint64_t v) { o.server.body_limit = v; }},
      {"header-limit", 1024, std::uint64_t{1} << 20, text(so.header_limit),
       "largest request header, bytes (431 above; 1 KiB to 1 MiB)",
       [](options& o, std::uint64_t v) { o.server.header_limit = v; }},
      {"header-timeout-ms", 1, day_ms, text(so.header_timeout.count()),
       "time to send a request's headers, from its first byte (every request)",
       [](options& o, std::uint64_t v) { o.server.header_timeout = ms(v); }},
      {"idle-timeout-ms", 1, day_ms, text(so.idle_timeout.count()),
       "keep-alive idle time until the next request's first byte",
       [](options& o, std::uint64_t v) { o.server.idle_timeout = ms(v); }},
      {"write-timeout-ms", 1, day_ms, text(so.write_timeout.count()), "time for one write to a client",
       [](options& o, std::uint64_t v) { o.server.write_timeout = ms(v); }},
      {"linger-ms", 0, 60'000, text(so.linger_timeout.count()),
       "after an early answer (413, 431, 400, 401, 403, 503), time to read and discard the rest of the "
       "request",
       [](options& o, std::uint64_t v) { o.server.linger_timeout = ms(v); }},
      {"stop-timeout-ms", 0, 3'600'000, text(so.stop_timeout.count()),
       "SIGTERM/SIGINT: time for requests in flight to finish and answer",
       [](options& o, std::uint64_t v) { o.server.stop_timeout = ms(v); }},
      {"threads", 1, 64, text(defaults.network_threads),
       "threads running the network loop, 1 to 64 (sessions stay on their strands)",
       [](options& o, std::uint64_t v) { o.network_threads = static_cast<unsigned>(v); }},
      {"read-threads", 1, 64, text(defaults.read_threads),
       "threads serving reads and subscriptions, 1 to 64 (appends have their own)",
       [](options& o, std::uint64_t v) { o.read_threads = static_cast<unsigned>(v); }},
      {"index-cache-mb", 0, 1 << 20, text(defaults.index_cache_mb),
       "MiB of decoded stream-index blocks kept in memory (0: none; lookups of streams not appended "
       "to lately read their block once while it stays)",
       [](options& o, std::uint64_t v) { o.index_cache_mb = v; }},
      {"read-page-bytes", 1, gib, text(so.api.max_read_bytes),
       "largest page of a read, in stored event bytes (a page always holds one event)",
       [](options& o, std::uint64_t v) { o.server.api.max_read_bytes = v; }},
      {"max-connections", 1, 1'000'000, text(so.max_connections), "open connections at most (503 above)",
       [](options& o, std::uint64_t v) { o.server.max_connections = v; }},
      {"ws-max-message", 1, gib, text(so.websocket_max_message),
       "largest WebSocket message from a client, bytes",
       [](options& o, std::uint64_t v) { o.server.websocket_max_message = v; }},
      {"send-queue-limit", 4096, gib, text(so.send_queue_limit),
       "bytes queued for one WebSocket or SSE client (4096 to 1 GiB)",
       [](options& o, std::uint64_t v) { o.server.send_queue_limit = v; }},
      {"ws-idle-timeout-ms", 100, day_ms, text(so.websocket_idle_timeout.count()),
       "WebSocket: ping after half this silence, close after all of it (100 ms to 1 day)",
       [](options& o, std::uint64_t v) { o.server.websocket_idle_timeout = ms(v); }},
  };
}

// Step 1: the command line into `o`, every value checked. Returns the exit
// code when the process ends here: 0 after --help, 2 for a bad flag.
std::optional<int> parse_options(int argc, char** argv, options& o) {
  std::vector<number_flag> numbers = number_flags(o);
  po::options_description desc("evstored — serve an evstore directory over HTTP, WebSocket and SSE");
  auto add = desc.add_options();
  add("help,h", "this help")("version", "print the version and exit")("data", po::value(&o.data)->required(),
                                                                      "store directory (created if missing)")(
      "listen", po::value(&o.listen)->default_value(o.listen),
      "address:port to listen on (port 0: any free port)")(
      "fsync", "acknowledge appends only after fdatasync (group commit)")(
      "read-only", "serve a store another process writes, following it; writes answer 403")(
      "token-file", po::value(&o.token_file),
      "require bearer tokens: lines \"<read|write|append> <token> [<stream prefix>...]\"")(
      "open-probes",
      "with --token-file: answer GET /health and /metrics without a token (probes, Prometheus)")(
      "tls-cert", po::value(&o.server.tls_cert_file), "PEM certificate chain: serve HTTPS/WSS only")(
      "tls-key", po::value(&o.server.tls_key_file), "PEM private key of --tls-cert");
  for (number_flag& f : numbers) add(f.name, po::value(&f.text)->default_value(f.text), f.help);
  po::variables_map vm;
  try {
    po::store(po::parse_command_line(argc, argv, desc), vm);
    if (vm.count("help")) {
      std::cout << desc << "\n";
      return 0;
    }
    if (vm.count("version")) {
      std::cout << "evstored " EVSTORE_VERSION "\n";
      return 0;
    }
    po::notify(vm);
    o.fsync = vm.count("fsync") > 0;
    o.read_only = vm.count("read-only") > 0;
    o.server.open_probes = vm.count("open-probes") > 0;
  } catch (const std::exception& e) {
    std::cerr << "evstored: " << e.what() << "\n" << desc << "\n";
    return 2;
  }
  for (const number_flag& f : numbers) {
    const auto v = parse_flag(f);
    if (!v) return 2;
    f.apply(o, *v);
  }
  const auto where = parse_listen(o.listen);
  if (!where) {
    std::cerr << "evstored: --listen must be host:port, got " << o.listen << "\n";
    return 2;
  }
  o.server.address = where->host;
  o.server.port = where->port;
  return std::nullopt;
}

// Step 2: the bearer tokens of --token-file, if given. Returns 2 after
// saying why when the file does not load.
std::optional<int> load_tokens(options& o) {
  if (o.token_file.empty()) return std::nullopt;
  auto tokens = evstore::http::load_token_file(o.token_file);
  if (!tokens) {
    // Names the file and line, never a token.
    evstore::net::log_line_nowait("evstored: " + tokens.error().message() + "\n");
    return 2;
  }
  o.server.tokens = std::move(*tokens);
  return std::nullopt;
}

// Step 3: the listen address is free, checked before the store is opened
// (which makes the data directory), so a second evstored on a port in use
// leaves nothing behind. Binding without listening leaves no TIME_WAIT: the
// server binds the same address right after. Returns 1 after saying why.
std::optional<int> check_listen_address(const options& o) {
  if (o.server.port == 0) return std::nullopt;  // any free port: nothing to check
  boost::asio::io_context io;
  boost::system::error_code ec;
  const auto address = boost::asio::ip::make_address(o.server.address, ec);
  if (!ec) {
    boost::asio::ip::tcp::acceptor probe(io);
    const boost::asio::ip::tcp::endpoint at(address, o.server.port);
    probe.open(at.protocol(), ec);
    if (!ec) probe.set_option(boost::asio::ip::tcp::acceptor::reuse_address(true), ec);
    if (!ec) probe.bind(at, ec);
  }
  if (!ec) return std::nullopt;
  evstore::net::log_line_nowait("evstored: cannot listen on " + o.listen + ": " + ec.message() + "\n");
  return 1;
}

// A server holds a descriptor per connection and per cached store file:
// take the whole allowance (the soft limit is often 1024 of a far larger hard one).
void raise_descriptor_limit() {
  if (rlimit limit{}; ::getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    (void)::setrlimit(RLIMIT_NOFILE, &limit);
  }
}

void print_serving(const options& o, std::uint16_t port) {
  const auto& so = o.server;
  const std::string host = so.address.find(':') != std::string::npos ? "[" + so.address + "]" : so.address;
  const char* scheme = so.tls_cert_file.empty() ? "http" : "https";
  std::printf("%sevstored: serving %s on %s://%s:%u/ (console at %s://%s:%u/)%s\n",
              evstore::net::log_timestamp().c_str(), o.data.c_str(), scheme, host.c_str(), port, scheme,
              host.c_str(), port, so.tokens.empty() ? "" : ", bearer tokens required");
  std::fflush(stdout);
}

// Shutdown on SIGINT/SIGTERM: stop accepting; requests in flight finish and
// answer within --stop-timeout-ms (subscriptions and idle connections close at
// once); once every session is gone (server::stop's completion), close the
// store (flush, fsync, checkpoint) and let the network loop run out of work. A
// last deadline (stop timeout + 5 s) stops the loop if the store's close hangs.
// Messages on stderr do not wait on a full pipe.
class stop_on_signal {
 public:
  stop_on_signal(boost::asio::io_context& net, evstore::http::server& srv, evstore::store& store,
                 std::chrono::milliseconds stop_timeout)
      : net_(net),
        srv_(srv),
        store_(store),
        stop_timeout_(stop_timeout),
        signals_(net, SIGINT, SIGTERM),
        deadline_(net) {
    signals_.async_wait([this](boost::system::error_code ec, int) {
      if (!ec) stop();
    });
  }

 private:
  void stop() {
    evstore::net::log_line_nowait("evstored: stopping\n");
    deadline_.expires_after(stop_timeout_ + std::chrono::seconds(5));
    deadline_.async_wait([this](boost::system::error_code ec) {
      if (!ec) net_.stop();
    });
    srv_.stop([this] {
      store_.close([this](boost::system::error_code ec) {
        if (ec) evstore::net::log_line_nowait("evstored: close: " + ec.message() + "\n");
        boost::asio::post(net_, [this] { deadline_.cancel(); });  // the loop now runs out of work
      });
    });
  }

  boost::asio::io_context& net_;
  evstore::http::server& srv_;
  evstore::store& store_;
  const std::chrono::milliseconds stop_timeout_;
  boost::asio::signal_set signals_;
  boost::asio::steady_timer deadline_;
};

// Runs the network loop on this thread and `count - 1` others until it runs
// out of work (after a stop) or is stopped.
void run_network_loop(boost::asio::io_context& net, unsigned count) {
  std::vector<std::thread> extra;
  for (unsigned i = 1; i < count; ++i) extra.emplace_back([&net] { net.run(); });
  net.run();
  for (auto& t : extra) t.join();
}

}  // namespace

int main(int argc, char** argv) {
  options o;
  if (auto exit_code = parse_options(argc, argv, o)) return *exit_code;
  if (auto exit_code = load_tokens(o)) return *exit_code;
  if (auto exit_code = check_listen_address(o)) return *exit_code;
  raise_descriptor_limit();

  boost::asio::io_context net_io(static_cast<int>(o.network_threads));
  boost::asio::io_context read_io(static_cast<int>(o.read_threads));
  evstore::tools::io_threads read_loop(read_io, o.read_threads);
  const auto stop_reads = [&] { read_loop.stop(); };

  // The store's strand runs on the network loop: an append goes from its
  // session to the strand and back without a cross-thread post and wake-up
  // (two of each per request on a thread of its own). The loop still never
  // waits on a disk flush: with --fsync the writes and fdatasync run on the
  // store's I/O thread; buffered, a flush is a few writes to the page cache.
  // (The first append to a stream not loaded since open reads its index once.)
  auto opened = evstore::store::open(net_io.get_executor(),
                                     {.directory = o.data,
                                      .fsync_on_flush = o.fsync,
                                      .read_only = o.read_only,
                                      .index_cache_bytes = static_cast<std::size_t>(o.index_cache_mb) << 20});
  if (!opened) {
    evstore::net::log_line_nowait("evstored: cannot open " + o.data + ": " + opened.error().message() + "\n");
    stop_reads();
    return 1;
  }
  evstore::store& store = *opened;
  // With one network thread (the default) connections need no strands.
  o.server.one_network_thread = o.network_threads == 1;
  evstore::http::server srv(net_io, store, read_io.get_executor(), o.server);
  if (auto started = srv.start(); !started) {
    evstore::net::log_line_nowait("evstored: " + started.error().message() + "\n");
    stop_reads();
    return 1;
  }
  print_serving(o, srv.port());

  stop_on_signal stopper(net_io, srv, store, o.server.stop_timeout);
  run_network_loop(net_io, o.network_threads);
  stop_reads();
  evstore::net::log_line_nowait("evstored: stopped\n");
  return 0;
}
