// The WebSocket session over plain TCP (websocket_session_tls.cpp: over TLS).
#include "websocket_session_impl.hpp"

namespace evstore::http {

template void start_websocket_session<plain_stream>(
    std::shared_ptr<server::state>, const std::shared_ptr<net::connection>&, plain_stream,
    const boost::beast::flat_buffer&, boost::beast::http::request<boost::beast::http::string_body>,
    subscribe_params);

}  // namespace evstore::http
