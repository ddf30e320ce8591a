// The HTTP/1.1 session of one accepted connection (TLS first when the server
// has a TLS context): reads each request within its deadlines and limits,
// authorizes it, asks the router (api.hpp) where it goes, and writes the
// answer; or hands the connection over to a WebSocket or SSE session.
#pragma once

#include "server_state.hpp"

#include <boost/asio/ip/tcp.hpp>

#include <memory>

namespace evstore::http {

// Adds the session to the server's connections and starts it.
void start_http_session(const std::shared_ptr<server::state>& st, boost::asio::ip::tcp::socket socket);

}  // namespace evstore::http
