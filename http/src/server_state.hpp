// What the server and its sessions share: options, metrics, routes, the
// transport (net/: listener, connections, TLS context) and the request log.
// Internal to http/.
#pragma once

#include "connection_set.hpp"
#include "listener.hpp"
#include "request_log.hpp"
#include "server.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/context.hpp>

#include <algorithm>
#include <memory>
#include <optional>

namespace evstore::http {

struct server::state : std::enable_shared_from_this<server::state> {
  state(boost::asio::io_context& n, store& s, boost::asio::any_io_executor e, server_options o)
      : net(n),
        engine(std::move(e)),
        options(std::move(o)),
        routes(s, engine, options.api, metrics),
        connections(std::make_shared<net::connection_set>(
            n, metrics.connections,
            std::min({options.header_timeout, options.idle_timeout, options.write_timeout}))) {
    metrics.log_lines_dropped = [this] { return log.dropped(); };
  }

  boost::asio::io_context& net;
  boost::asio::any_io_executor engine;
  server_options options;
  server_metrics metrics;
  api routes;
  std::optional<boost::asio::ssl::context> tls;  // built once at start when TLS is on
  std::shared_ptr<net::connection_set> connections;
  std::shared_ptr<net::listener> listener;
  net::request_log log;

  void on_connection(boost::asio::ip::tcp::socket socket);
  void reject_busy(boost::asio::ip::tcp::socket socket);
  bool stopping() const { return connections->stopping(); }
  void log_request(std::string_view method, std::string_view path, unsigned status,
                   std::chrono::steady_clock::duration took) {
    if (log.add(method, path, status, took))
      boost::asio::post(net, [self = shared_from_this()] { self->log.flush(); });
  }
  // A session's unexpected end (a failed TLS handshake, read or write), in
  // the request log: `what` names the step. Ends that mean the peer left or
  // the server closed the connection itself are not logged.
  void log_session_error(std::string_view what, const boost::system::error_code& ec,
                         const net::connection& c);
  // 0 if allowed; else the status to answer (401 or 403). `granted`: what
  // the token allows, for the route to check against its streams.
  unsigned authorize(std::string_view header, bool needs_write, permissions& granted) const {
    return http::authorize(options.tokens, header, needs_write, granted);
  }
};

}  // namespace evstore::http
