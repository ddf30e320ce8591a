// The byte streams under HTTP: plain TCP, or TLS over it. Deadlines are the
// connections' own (net::connection::deadline), not tcp_stream's
// per-operation timers.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/buffered_read_stream.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <boost/beast/websocket/teardown.hpp>

#include <type_traits>

namespace evstore::http {

using plain_stream = boost::asio::ip::tcp::socket;
using tls_stream = boost::beast::ssl_stream<boost::asio::ip::tcp::socket>;
template <class Stream>
constexpr bool is_tls = std::is_same_v<Stream, tls_stream>;

}  // namespace evstore::http

// The WebSocket stream reads through a buffered_read_stream (the bytes the
// HTTP session read past the upgrade request come first); closing tears down
// the stream under it.
namespace boost::beast {
template <class Stream, class Buffer>
void teardown(role_type role, buffered_read_stream<Stream, Buffer>& s, error_code& ec) {
  using boost::beast::websocket::teardown;
  teardown(role, s.next_layer(), ec);
}
template <class Stream, class Buffer, class Handler>
void async_teardown(role_type role, buffered_read_stream<Stream, Buffer>& s, Handler&& handler) {
  using boost::beast::websocket::async_teardown;
  async_teardown(role, s.next_layer(), std::forward<Handler>(handler));
}
}  // namespace boost::beast
