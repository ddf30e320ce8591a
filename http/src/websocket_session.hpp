// The WebSocket subscription session: catch-up, caughtUp, live; consumer
// acks. An HTTP session hands its connection over after an upgrade request
// that api.hpp's router sent to /subscribe.
#pragma once

#include "server_state.hpp"

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include <memory>

namespace evstore::http {

// Replaces `from` in the server's connections by a WebSocket session on
// `stream`, which answers the upgrade `request`. `leftover`: bytes the HTTP
// session read past the upgrade request (frames the client sent in the same
// write): the WebSocket reads them first. Stream: plain_stream or tls_stream.
template <class Stream>
void start_websocket_session(std::shared_ptr<server::state> st, const std::shared_ptr<net::connection>& from,
                             Stream stream, const boost::beast::flat_buffer& leftover,
                             boost::beast::http::request<boost::beast::http::string_body> request,
                             subscribe_params p);

}  // namespace evstore::http
