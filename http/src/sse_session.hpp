// The Server-Sent Events session: the same catch-up, then live, as a
// WebSocket subscription, as `id:`/`data:` messages. An HTTP session hands
// its connection over once the subscription is open.
#pragma once

#include "server_state.hpp"
#include <evstore/subscription.hpp>

#include <memory>

namespace evstore::http {

// Replaces `from` in the server's connections by an SSE session on `stream`,
// which answers 200 and sends what `live` reads. Stream: plain_stream or tls_stream.
template <class Stream>
void start_sse_session(std::shared_ptr<server::state> st, const std::shared_ptr<net::connection>& from,
                       Stream stream, subscription live);

}  // namespace evstore::http
