// evstored's server: wires the transport (net/: listener, connections, TLS)
// to the HTTP sessions. See server.hpp.
#include "server.hpp"

#include "http_session.hpp"
#include "rejected_connection.hpp"
#include "server_state.hpp"
#include "tls.hpp"

#include <boost/asio/ssl/error.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/websocket/error.hpp>

#include <string_view>

namespace evstore::http {
using tcp = boost::asio::ip::tcp;

void server::state::on_connection(tcp::socket socket) {
  if (connections->size() >= options.max_connections) return reject_busy(std::move(socket));
  start_http_session(shared_from_this(), std::move(socket));
}

// Over the connection limit: a short 503 without a session, then the same
// lingering close as an early answer (the client reads the 503, not a reset).
// A TLS listener closes at once instead: its client cannot read clear text,
// and a handshake first would spend the CPU the limit is there to save.
void server::state::reject_busy(tcp::socket socket) {
  if (tls) {
    metrics.rejected_connections.fetch_add(1);
    boost::system::error_code ignored;
    socket.shutdown(tcp::socket::shutdown_both, ignored);
    socket.close(ignored);
    return;
  }
  static constexpr std::string_view reply =
      "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nConnection: "
      "close\r\nContent-Length: 69\r\n\r\n"
      "{\"error\":\"too_many_connections\",\"message\":\"connection limit reached\"}";
  metrics.rejected_connections.fetch_add(1);
  net::reject_connection(std::move(socket), std::string(reply),
                         options.body_limit + options.header_limit + (std::size_t{1} << 20),
                         options.linger_timeout);
}

namespace {
// The peer went away, or the server closed the connection (stop, a deadline).
bool is_ordinary_end(const boost::system::error_code& ec) {
  namespace error = boost::asio::error;
  return ec == error::eof || ec == error::operation_aborted || ec == error::connection_reset ||
         ec == error::broken_pipe || ec == error::bad_descriptor || ec == error::not_connected ||
         ec == boost::asio::ssl::error::stream_truncated || ec == boost::beast::http::error::end_of_stream ||
         ec == boost::beast::websocket::error::closed;
}
}  // namespace

void server::state::log_session_error(std::string_view what, const boost::system::error_code& ec,
                                      const net::connection& c) {
  if (is_ordinary_end(ec)) return;
  if (log.add_error(what, c.peer, ec.message()))
    boost::asio::post(net, [self = shared_from_this()] { self->log.flush(); });
}

server::server(boost::asio::io_context& net, store& s, boost::asio::any_io_executor engine,
               server_options options)
    : state_(std::make_shared<state>(net, s, std::move(engine), std::move(options))) {}

server::~server() { stop(); }

result<void> server::start() {
  boost::system::error_code ec;
  auto& st = *state_;
  const auto& o = st.options;
  if (!o.tls_cert_file.empty() || !o.tls_key_file.empty()) {
    if (o.tls_cert_file.empty() || o.tls_key_file.empty()) {
      return error(errc::invalid_argument, "TLS needs both a certificate and a key file");
    }
    std::string what;
    st.tls = net::server_tls_context(o.tls_cert_file, o.tls_key_file, ec, what);
    if (!st.tls) return error(ec, what);
  }
  const auto address = boost::asio::ip::make_address(o.address, ec);
  if (ec) return error(errc::invalid_argument, "bad listen address " + o.address);
  st.listener = std::make_shared<net::listener>(
      st.net, st.log, st.metrics.accept_errors,
      [weak = std::weak_ptr<state>(state_)](tcp::socket socket) {
        if (auto self = weak.lock()) self->on_connection(std::move(socket));
      },
      o.one_network_thread);
  if (ec = st.listener->listen(tcp::endpoint(address, o.port)); ec) {
    return error(ec, "cannot listen on " + o.address + ":" + std::to_string(o.port));
  }
  st.listener->start();
  st.connections->start_sweep();
  return {};
}

std::uint16_t server::port() const { return state_->listener ? state_->listener->port() : 0; }

void server::stop(std::function<void()> done) {
  boost::asio::post(state_->net, [st = state_, done = std::move(done)]() mutable {
    if (st->listener) st->listener->close();
    st->log.flush();
    st->connections->stop(st->options.stop_timeout, std::move(done));
  });
}

server_metrics& server::metrics() { return state_->metrics; }
std::size_t server::session_count() const { return state_->connections->size(); }

}  // namespace evstore::http
