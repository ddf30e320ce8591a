// evstored's network side: a TCP listener (loopback by default) whose
// sessions speak HTTP/1.1 (api.hpp routes), Server-Sent Events and WebSocket
// subscriptions, with limits, deadlines and bearer-token auth.
//
// Threading: the listener and every session run on the network io_context
// (each session on its own strand, unless one_network_thread); engine work (reads, subscriptions'
// reads) runs on the `engine` executor given to the constructor and comes
// back to the session's strand, so the network loop never waits on a disk.
// Give it threads other than the store's own executor (evstored gives it a
// read pool) and a large read never delays an append.
#pragma once

#include "api.hpp"
#include "auth.hpp"  // token, load_token_file
#include <evstore/error.hpp>
#include <evstore/store.hpp>

#include <boost/asio/io_context.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace evstore::http {

struct server_options {
  std::string address = "127.0.0.1";
  std::uint16_t port = 2113;  // 0: any free port (see server::port())
  std::size_t body_limit = std::size_t{4} << 20;
  std::size_t header_limit = std::size_t{16} << 10;
  // To receive a request's headers, from its first byte (slow-loris); every request on a connection.
  std::chrono::milliseconds header_timeout{10'000};
  std::chrono::milliseconds idle_timeout{
      60'000};  // keep-alive between requests, until the next one's first byte
  std::chrono::milliseconds write_timeout{30'000};  // per write to a client
  std::size_t max_connections = 1024;
  std::size_t websocket_max_message = std::size_t{1} << 20;
  std::chrono::milliseconds sse_keepalive{15'000};
  // Bytes queued for one WebSocket or SSE client (events and replies). Events
  // are pulled while the queue is under half of it, in batches of at most the
  // other half (or one larger event); at the limit the session also stops
  // reading the client's messages. A client that does not read is slowed,
  // then closed by write_timeout.
  std::size_t send_queue_limit = std::size_t{4} << 20;
  // A WebSocket client is pinged after half this time without a frame from it,
  // and closed if the other half passes silent too.
  std::chrono::milliseconds websocket_idle_timeout{60'000};
  std::vector<token> tokens;  // empty: no authentication
  // With tokens: GET /health and /metrics are answered without one, for
  // load balancers' probes and Prometheus (neither shows an event).
  bool open_probes = false;
  std::string tls_cert_file, tls_key_file;  // both set: HTTPS and WSS only (TLS 1.2+)
  // After an early response (413, 431, 400, 401, 403, 503) the rest of the
  // request is read and discarded for this long, and at most body_limit +
  // header_limit + 1 MiB bytes, so the client reads the status instead of a reset.
  std::chrono::milliseconds linger_timeout{1'000};
  // stop(): in-flight requests have this long to finish and answer.
  std::chrono::milliseconds stop_timeout{5'000};
  // Only one thread runs the network io_context (evstored --threads 1): a
  // connection's handlers can never run at once, so it gets no strand of its
  // own (cheaper: no lock, queue and executor allocation per operation).
  // Leave it false if several threads may run the io_context.
  bool one_network_thread = false;
  api_options api;
};

class server {
 public:
  server(boost::asio::io_context& net, store& s, boost::asio::any_io_executor engine, server_options options);
  ~server();
  // Binds and starts accepting. Errors: the bind/listen error, a TLS file that does not load.
  [[nodiscard]] result<void> start();
  // The bound port (useful with port 0).
  std::uint16_t port() const;
  // Stops accepting, closes idle connections and subscriptions, lets each
  // request in flight finish and answer (Connection: close), and closes what
  // is left after options.stop_timeout. Returns at once; `done` (if any)
  // runs on the network loop once every session is gone.
  void stop(std::function<void()> done = {});
  server_metrics& metrics();
  // Open sessions (HTTP, SSE and WebSocket).
  std::size_t session_count() const;

  struct state;

 private:
  std::shared_ptr<state> state_;
};

}  // namespace evstore::http
