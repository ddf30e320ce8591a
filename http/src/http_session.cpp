// The HTTP session: requests and responses on one connection, until it
// closes or hands over to a WebSocket or SSE session. See http_session.hpp.
#include "http_session.hpp"

#include "console_assets.hpp"
#include "sse_session.hpp"
#include "streams.hpp"
#include "subscription_feed.hpp"
#include "websocket_session.hpp"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket/rfc6455.hpp>

#include <memory>
#include <optional>

namespace evstore::http {
namespace {
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = boost::asio::ip::tcp;

// RFC 9112 §6.3: framing that two parsers could read two ways is refused
// (400 and close), so the bytes after it never run as a second request.
// Beast already refuses differing Content-Lengths, Content-Length after
// chunked and malformed chunks; it takes any other Transfer-Encoding as "no
// body" and chunked after another coding as chunked.
template <class Message>
std::optional<std::string> framing_error(const Message& req) {
  if (const auto te = req.count(bhttp::field::transfer_encoding); te > 0) {
    std::string_view v = req[bhttp::field::transfer_encoding];
    while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
    while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
    if (te > 1 || !beast::iequals(v, "chunked")) return "Transfer-Encoding must be exactly \"chunked\"";
    if (req.count(bhttp::field::content_length) > 0) return "Content-Length and Transfer-Encoding together";
  }
  if (req.version() >= 11 && req.count(bhttp::field::host) != 1)
    return "an HTTP/1.1 request needs one Host header";
  return std::nullopt;
}

// GET /health or /metrics, whatever the query.
bool is_probe(std::string_view target) {
  const std::string_view path = target.substr(0, target.find('?'));
  return path == "/health" || path == "/metrics";
}

template <class Stream>
class http_session : public net::connection, public std::enable_shared_from_this<http_session<Stream>> {
  using std::enable_shared_from_this<http_session<Stream>>::shared_from_this;

 public:
  http_session(std::shared_ptr<server::state> st, tcp::socket socket) requires(!is_tls<Stream>)
      : st_(std::move(st)), stream_(std::move(socket)), strand_(stream_.get_executor()) {}
  http_session(std::shared_ptr<server::state> st, tcp::socket socket,
               boost::asio::ssl::context& tls) requires is_tls<Stream>
      : st_(std::move(st)), stream_(std::move(socket), tls), strand_(stream_.get_executor()) {}

  void run() {
    if constexpr (is_tls<Stream>) {
      // The handshake counts against the header deadline (a slow-loris could stall it too).
      deadline.expires_after(st_->options.header_timeout);
      stream_.async_handshake(boost::asio::ssl::stream_base::server,
                              [self = shared_from_this()](beast::error_code ec) {
                                if (ec) return self->fail("tls_handshake", ec);
                                self->read_header();
                              });
    } else {
      read_header();
    }
  }

  void shut() override {
    boost::asio::post(strand_, [self = shared_from_this()] { self->close_now(); });
  }

  // A request in flight is answered (with Connection: close) before the
  // connection closes; an idle connection closes now.
  void stop_gracefully() override {
    boost::asio::post(strand_, [self = shared_from_this()] {
      if (!self->busy_) self->close_now();
    });
  }

 private:
  tcp::socket& lowest() { return beast::get_lowest_layer(stream_); }

  void close_now() {
    closed_ = true;
    beast::error_code ignored;
    lowest().shutdown(tcp::socket::shutdown_both, ignored);
    lowest().close(ignored);
  }

  void read_header() {
    if (st_->stopping()) {
      close_now();
      return finish();
    }
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(st_->options.header_limit));
    parser_->body_limit(st_->options.body_limit);
    // Each request logs its own method and path (a 431 after a HEAD is not a HEAD).
    method_ = "-";
    path_ = "-";
    linger_ = false;
    if (!first_ && buffer_.size() == 0) {
      // Between requests: the idle timeout until the next request's first
      // byte, then the header deadline for the rest of its header.
      deadline.expires_after(st_->options.idle_timeout);
      stream_.async_read_some(buffer_.prepare(4096),
                              [self = shared_from_this()](beast::error_code ec, std::size_t n) {
                                if (ec) return self->fail("read", ec);
                                self->buffer_.commit(n);
                                self->read_header_bytes();
                              });
      return;
    }
    read_header_bytes();
  }

  void read_header_bytes() {
    started_ = std::chrono::steady_clock::now();
    deadline.expires_after(st_->options.header_timeout);
    bhttp::async_read_header(stream_, buffer_, *parser_,
                             beast::bind_front_handler(&http_session<Stream>::on_header, shared_from_this()));
  }

  // A malformed request (Beast's parser refused it), as opposed to a client
  // that went away or a socket error.
  static bool is_parse_error(const beast::error_code& ec) {
    return ec.category() == bhttp::make_error_code(bhttp::error::bad_method).category() &&
           ec != bhttp::error::end_of_stream && ec != bhttp::error::partial_message &&
           ec != bhttp::error::need_more;
  }

  // The status that refuses `req` for its token (401, 403), or 0; what the
  // token allows goes to granted_, for the route's own check.
  unsigned access_refusal(const bhttp::request<bhttp::string_body>& req) {
    const bool writes = req.method() == bhttp::verb::post || req.method() == bhttp::verb::put ||
                        req.method() == bhttp::verb::delete_;
    // The console's static files hold no data: a browser loads them without
    // a token, and the console then sends the token the user gives it.
    const bool console_file = (req.method() == bhttp::verb::get || req.method() == bhttp::verb::head) &&
                              find_console_asset(req.target()) != nullptr;
    const bool open_probe =
        st_->options.open_probes && req.method() == bhttp::verb::get && is_probe(req.target());
    granted_ = permissions();
    if (console_file || open_probe) return 0;
    return st_->authorize(req[bhttp::field::authorization], writes, granted_);
  }

  void on_header(beast::error_code ec, std::size_t) {
    first_ = false;
    // Closed (by stop()) while the header came: a header already in the
    // buffer still completes the read, but nobody could read its answer.
    if (closed_) return finish();
    if (const auto& h = parser_->get(); !h.method_string().empty()) {
      method_ = std::string(h.method_string());
      path_ = std::string(h.target());
    }
    if (ec == bhttp::error::header_limit)
      return reply_early(error_response(431, "headers_too_large", "request headers exceed the limit"));
    // Beast refuses a Content-Length over the body limit while parsing the
    // header: answer before reading any of the body.
    if (ec == bhttp::error::body_limit) {
      return reply_early(
          error_response(413, "body_too_large",
                         "request body exceeds " + std::to_string(st_->options.body_limit) + " bytes"));
    }
    if (ec && is_parse_error(ec))
      return reply_early(error_response(400, "bad_request", "malformed request: " + ec.message()));
    if (ec) return fail("read", ec);
    auto& req = parser_->get();
    if (auto why = framing_error(req)) return reply_early(error_response(400, "bad_request", *why));
    // Refused before the body is read.
    if (const auto len = parser_->content_length(); len && *len > st_->options.body_limit) {
      return reply_early(
          error_response(413, "body_too_large",
                         "request body exceeds " + std::to_string(st_->options.body_limit) + " bytes"));
    }
    if (const unsigned denied = access_refusal(req)) {
      return reply_early(
          refusal(denied, granted_.may_read() ? "this token may only read" : "this token may only append"));
    }
    // RFC 9110 §10.1.1: an expectation other than 100-continue cannot be met.
    if (const auto n = req.count(bhttp::field::expect);
        n > 1 || (n == 1 && !beast::iequals(req[bhttp::field::expect], "100-continue"))) {
      return reply_early(
          error_response(417, "expectation_failed", "only \"Expect: 100-continue\" is supported"));
    }
    busy_ = true;  // from here the request is answered, even across stop()
    // A client that asked waits for "100 Continue" before its body (RFC 9110 §10.1.1).
    if (!parser_->is_done() && buffer_.size() == 0 && req.version() == 11 &&
        beast::iequals(req[bhttp::field::expect], "100-continue")) {
      static constexpr std::string_view go_on = "HTTP/1.1 100 Continue\r\n\r\n";
      deadline.expires_after(st_->options.write_timeout);
      return boost::asio::async_write(stream_, boost::asio::buffer(go_on.data(), go_on.size()),
                                      [self = shared_from_this()](beast::error_code wec, std::size_t) {
                                        if (wec) return self->fail("write", wec);
                                        self->read_body();
                                      });
    }
    read_body();
  }

  void read_body() {
    // Usually the body came with the header: parse it from the buffer and
    // go on at once, without another trip through the loop.
    parser_->eager(true);
    while (!parser_->is_done() && buffer_.size() > 0) {
      beast::error_code pec;
      const std::size_t used = parser_->put(buffer_.data(), pec);
      buffer_.consume(used);
      if (pec == bhttp::error::need_more) break;
      if (pec) return on_body(pec, 0);
      if (used == 0) break;
    }
    if (parser_->is_done()) return on_body({}, 0);
    deadline.expires_after(st_->options.header_timeout);
    bhttp::async_read(stream_, buffer_, *parser_,
                      beast::bind_front_handler(&http_session<Stream>::on_body, shared_from_this()));
  }

  void on_body(beast::error_code ec, std::size_t) {
    if (ec == bhttp::error::body_limit) {
      return reply_early(error_response(413, "body_too_large", "request body exceeds the limit"));
    }
    if (ec && is_parse_error(ec))
      return reply_early(error_response(400, "bad_request", "malformed request: " + ec.message()));
    if (ec) return fail("read", ec);
    deadline.expires_never();  // no deadline while the engine works on it
    auto req = parser_->release();
    keep_alive_ = req.keep_alive();
    http10_ = req.version() == 10;
    route to = route_request(req.method_string(), req.target(), beast::websocket::is_upgrade(req),
                             req[bhttp::field::accept], req["Last-Event-ID"]);
    switch (to.kind) {
      case route_kind::websocket: return start_websocket(std::move(req), std::move(to.subscribe));
      case route_kind::upgrade_elsewhere:
        return reply_and_close(error_response(404, "not_found", "WebSocket subscriptions are at /subscribe"));
      case route_kind::sse: return start_sse(to.subscribe);
      case route_kind::plain: break;
    }
    api_request a{std::string(req.method_string()),
                  std::string(req.target()),
                  std::move(req.body()),
                  std::string(req["Expected-Version"]),
                  granted_,
                  std::string(req[bhttp::field::if_match]),
                  std::string(req[bhttp::field::if_none_match])};
    // dispatch, not post: an append completes on the store's strand, on
    // this same loop (evstored), and the answer is written from there
    // without another trip through the loop's queue. From another thread (the
    // read pool, the store's I/O thread) it is queued on the session's strand
    // as a post would.
    st_->routes.handle(std::move(a), [self = shared_from_this()](api_response r) {
      boost::asio::dispatch(self->strand_, [self, r = std::move(r)]() mutable { self->reply(std::move(r)); });
    });
  }

  // Counts the response for /metrics and writes its log line.
  void record(unsigned status) {
    if (status < st_->metrics.responses_by_status.size())
      st_->metrics.responses_by_status[status].fetch_add(1);
    st_->log_request(method_, path_, status, std::chrono::steady_clock::now() - started_);
  }

  void reply(api_response r) { write_response(std::move(r), keep_alive_); }
  void reply_and_close(api_response r) { write_response(std::move(r), false); }
  // Answers before the request is read to its end, then closes lingering:
  // the rest of the request is read and discarded (see drain()).
  void reply_early(api_response r) {
    linger_ = true;
    write_response(std::move(r), false);
  }

  // The response is serialized by hand into one buffer: one send per
  // response, without Beast's header container and buffer sequences.
  // NOLINTNEXTLINE(performance-unnecessary-value-param): callers move it in
  void write_response(api_response r, bool keep_alive) {
    if (st_->stopping()) keep_alive = false;  // stop(): this is the connection's last answer
    const unsigned status = r.status;
    response_.clear();
    response_ += "HTTP/1.1 ";
    response_ += std::to_string(status);
    response_ += ' ';
    response_ += bhttp::obsolete_reason(static_cast<bhttp::status>(status));
    response_ += "\r\nServer: evstored\r\nContent-Type: ";
    response_ += r.content_type;
    response_ += "\r\n";
    for (const auto& [name, value] : r.headers) {
      response_ += name;
      response_ += ": ";
      response_ += value;
      response_ += "\r\n";
    }
    // 204 and 304 carry no body and no length (RFC 9110 §8.6).
    const bool has_body = status != 204 && status != 304;
    const bool head = method_ == "HEAD";
    if (has_body) {
      response_ += "Content-Length: ";
      response_ += std::to_string(head ? 0 : r.body.size());
      response_ += "\r\n";
    }
    if (!keep_alive) {
      response_ += "Connection: close\r\n";
    } else if (http10_) {
      response_ += "Connection: keep-alive\r\n";
    }
    response_ += "\r\n";
    if (has_body && !head) response_ += r.body;
    record(status);
    send_response(keep_alive);
  }

  // Plain TCP: one non-blocking send first. A response nearly always fits in
  // the socket's buffer, and then the connection goes on at once, without an
  // asynchronous write's operation, completion post and trip through the
  // loop. What the socket does not take is written asynchronously, under
  // the write deadline, as every TLS response is.
  void send_response(bool keep_alive) {
    std::size_t sent = 0;
    if constexpr (!is_tls<Stream>) {
      beast::error_code ec;
      if (!lowest().non_blocking()) lowest().non_blocking(true, ec);
      if (!ec) sent = lowest().write_some(boost::asio::buffer(response_), ec);
      if (ec && ec != boost::asio::error::would_block && ec != boost::asio::error::try_again)
        return after_response(ec, keep_alive);
      if (sent == response_.size()) return after_response({}, keep_alive);
    }
    deadline.expires_after(st_->options.write_timeout);
    boost::asio::async_write(stream_, boost::asio::buffer(response_) + sent,
                             [self = shared_from_this(), keep_alive](beast::error_code ec, std::size_t) {
                               self->after_response(ec, keep_alive);
                             });
  }

  void after_response(const beast::error_code& ec, bool keep_alive) {
    busy_ = false;
    if (ec) {
      st_->log_session_error("write", ec, *this);
      close_now();
      return finish();
    }
    if (!keep_alive) return close_after_response();
    read_header();
  }

  // Plain TCP ends with a FIN, TLS with close_notify (bounded by the linger
  // time). After an early answer, the rest of the request is drained first.
  void close_after_response() {
    if constexpr (!is_tls<Stream>) {
      beast::error_code ignored;
      lowest().shutdown(tcp::socket::shutdown_send, ignored);
    }
    if (!linger_) return end_connection();
    deadline.expires_after(st_->options.linger_timeout);
    lingered_ = buffer_.size();
    buffer_.consume(buffer_.size());
    if constexpr (is_tls<Stream>) {
      // TLS still owes the client a close_notify after the drain: the drain
      // ends by its own timer (cancelling the read), before the sweep would
      // close the socket, and the close is bounded by the linger time again.
      deadline.expires_after(2 * st_->options.linger_timeout);
      linger_timer_.emplace(strand_);
      linger_timer_->expires_after(st_->options.linger_timeout);
      linger_timer_->async_wait([self = shared_from_this()](beast::error_code ec) {
        if (!ec) self->lowest().cancel();
      });
    }
    drain();
  }

  void end_connection() {
    if constexpr (is_tls<Stream>) {
      if (linger_timer_) linger_timer_->cancel();
      deadline.expires_after(st_->options.linger_timeout);
      stream_.async_shutdown([self = shared_from_this()](beast::error_code) {
        self->close_now();
        self->finish();
      });
    } else {
      if (linger_) close_now();
      finish();
    }
  }

  // Reads and discards what the client still sends (over TLS, decrypted),
  // until it closes, the linger time is up (the sweep closes the socket) or
  // enough was read. Closing with unread bytes would make the kernel send a
  // reset, and a client still writing its body would get EPIPE (over TLS, a
  // broken handshake of the close) instead of our status.
  void drain() {
    static constexpr std::size_t chunk = std::size_t{64} << 10;
    if (!drain_) drain_ = std::make_unique<char[]>(chunk);
    auto on_read = [self = shared_from_this()](beast::error_code ec, std::size_t n) {
      self->lingered_ += n;
      const auto& o = self->st_->options;
      if (ec || self->lingered_ > o.body_limit + o.header_limit + (std::size_t{1} << 20)) {
        return self->end_connection();
      }
      self->drain();
    };
    if constexpr (is_tls<Stream>) {
      stream_.async_read_some(boost::asio::buffer(drain_.get(), chunk), std::move(on_read));
    } else {
      lowest().async_read_some(boost::asio::buffer(drain_.get(), chunk), std::move(on_read));
    }
  }

  // --- WebSocket upgrade. The upgrade is a GET, authorized as a read; a
  // consumer also takes the consumer's lock, may create its file, and its
  // acks commit: it needs a write token.
  void start_websocket(bhttp::request<bhttp::string_body> req, subscribe_params p) {
    if (!st_->routes.may_read(granted_, p.stream)) {
      return reply_and_close(refusal(403, "this token may not read '" + p.stream + "'"));
    }
    if (p.consumer && !granted_.may_append()) {
      return reply_and_close(refusal(403, "a consumer commits its acks: it needs a write token"));
    }
    record(101);
    finished_ = true;  // the WebSocket session owns the connection now
    start_websocket_session<Stream>(st_, shared_from_this(), std::move(stream_), buffer_, std::move(req),
                                    std::move(p));
  }

  // --- Server-Sent Events: refused parameters and a subscription that does
  // not open are answered here; the stream is the SSE session's.
  void start_sse(const subscribe_params& p) {
    if (!p.invalid.empty()) return reply_and_close(error_response(400, "invalid_argument", p.invalid));
    if (!st_->routes.may_read(granted_, p.stream)) {
      return reply_and_close(refusal(403, "this token may not read '" + p.stream + "'"));
    }
    // Opening may read the stream's index (its first use): on the engine's
    // executor, never on the network loop.
    boost::asio::post(st_->engine, [self = shared_from_this(), p] {
      auto sub = std::make_shared<result<subscription>>(self->st_->routes.engine().subscribe(
          p.stream,
          {.from = p.from,
           .max_batch = 256,
           .max_bytes = subscription_feed::batch_bytes(self->st_->options.send_queue_limit)},
          self->st_->engine));
      boost::asio::post(self->strand_, [self, sub] { self->sse_opened(std::move(*sub)); });
    });
  }

  void sse_opened(result<subscription> sub) {
    if (!sub) return reply_and_close(from_error(sub.error()));
    record(200);
    finished_ = true;  // the SSE session owns the connection now
    start_sse_session<Stream>(st_, shared_from_this(), std::move(stream_), std::move(*sub));
  }

  // An unexpected end is logged (see server::state::log_session_error), then the session ends.
  void fail(std::string_view what, const beast::error_code& ec) {
    st_->log_session_error(what, ec, *this);
    finish();
  }

  void finish() {
    if (finished_) return;
    finished_ = true;
    st_->connections->remove(shared_from_this());
  }

  std::shared_ptr<server::state> st_;
  Stream stream_;
  // The connection's executor (from accept): its strand, or the loop itself
  // when one thread runs it (server_options::one_network_thread).
  boost::asio::any_io_executor strand_;
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  std::string method_, path_;
  permissions granted_;  // what the current request's token allows
  std::chrono::steady_clock::time_point started_;
  std::string response_;  // the response being written
  bool first_ = true, keep_alive_ = false, http10_ = false, finished_ = false;
  bool busy_ = false;    // a request is read and being answered
  bool closed_ = false;  // close_now() ran: start nothing new
  bool linger_ = false;  // the answer came before the request's end: drain after it
  std::size_t lingered_ = 0;
  std::unique_ptr<char[]> drain_;
  std::optional<boost::asio::steady_timer> linger_timer_;  // TLS: ends the drain before close_notify
};

}  // namespace

void start_http_session(const std::shared_ptr<server::state>& st, tcp::socket socket) {
  // Taken now: once a session ends in an error its socket may be closed.
  boost::system::error_code ec;
  const auto ep = socket.remote_endpoint(ec);
  std::string peer = ec ? "-" : ep.address().to_string() + ":" + std::to_string(ep.port());
  if (st->tls) {
    auto s = std::make_shared<http_session<tls_stream>>(st, std::move(socket), *st->tls);
    s->peer = std::move(peer);
    st->connections->add(s);
    s->run();
  } else {
    auto s = std::make_shared<http_session<plain_stream>>(st, std::move(socket));
    s->peer = std::move(peer);
    st->connections->add(s);
    s->run();
  }
}

}  // namespace evstore::http
