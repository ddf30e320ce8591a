// The WebSocket session over TLS (websocket_session.cpp: over plain TCP).
#include "websocket_session_impl.hpp"

namespace evstore::http {

template void start_websocket_session<tls_stream>(
    std::shared_ptr<server::state>, const std::shared_ptr<net::connection>&, tls_stream,
    const boost::beast::flat_buffer&, boost::beast::http::request<boost::beast::http::string_body>,
    subscribe_params);

}  // namespace evstore::http
