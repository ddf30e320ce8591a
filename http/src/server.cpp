// The listener and the HTTP, SSE and WebSocket sessions of evstored.
#include "server.hpp"

#include <evstore/event_json.hpp>

#include "console_assets.hpp"
#include "deadline.hpp"
#include "request_log.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/json.hpp>

#include <openssl/crypto.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdio>
#include <deque>
#include <fstream>
#include <limits>
#include <mutex>
#include <set>
#include <sstream>

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

namespace evstore::http {
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace ws = boost::beast::websocket;
using tcp = boost::asio::ip::tcp;

namespace {

bool constant_time_equal(const std::string& a, const std::string& b) {
  if (a.size() != b.size()) return false;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace

result<std::vector<token>> load_token_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) return error(errc::invalid_argument, "cannot read token file " + path);
  std::vector<token> out;
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    if (const auto hash = line.find('#'); hash != std::string::npos) line.erase(hash);
    std::istringstream words(line);
    std::string scope, secret, extra;
    if (!(words >> scope)) continue;
    if (!(words >> secret) || (words >> extra) || (scope != "read" && scope != "write") || secret.size() < 16) {
      return error(errc::invalid_argument, path + ":" + std::to_string(n) +
                                               ": expected \"read <token>\" or \"write <token>\" (tokens of 16+ characters)");
    }
    out.push_back({secret, scope == "write" ? token_scope::write : token_scope::read});
  }
  if (out.empty()) return error(errc::invalid_argument, path + ": no tokens");
  return out;
}

// --- Shared state of the listener and its sessions.

class session_base {
 public:
  virtual ~session_base() = default;
  virtual void shut() = 0;  // from any thread: close soon
  // From any thread, at server::stop(): finish what is in flight, then close.
  virtual void stop_gracefully() { shut(); }
  net::deadline deadline;   // of the read or write in progress; the sweep shuts the session past it
};

struct server::state : std::enable_shared_from_this<server::state> {
  state(boost::asio::io_context& n, store& s, boost::asio::any_io_executor e, server_options o)
      : net(n), engine(std::move(e)), options(std::move(o)), routes(s, engine, options.api, metrics), acceptor(n), sweep(n),
        accept_retry(n), stop_deadline(n) {
    metrics.log_lines_dropped = [this] { return log.dropped(); };
  }

  boost::asio::io_context& net;
  boost::asio::any_io_executor engine;
  server_options options;
  server_metrics metrics;
  api routes;
  tcp::acceptor acceptor;
  std::optional<boost::asio::ssl::context> tls;  // built once at start when TLS is on
  std::mutex sessions_mutex;
  std::set<std::shared_ptr<session_base>> sessions;
  std::atomic<bool> stopping{false};
  boost::asio::steady_timer sweep;  // enforces every session's deadline
  net::request_log log;
  // A failed accept (EMFILE, ENFILE, ENOBUFS, ...) is retried after a backoff
  // of 10 ms doubling to 1 s, and logged at most once a second.
  boost::asio::steady_timer accept_retry;
  std::chrono::milliseconds accept_backoff{0};
  std::chrono::steady_clock::time_point accept_logged{};
  std::uint64_t accept_errors_unlogged = 0;
  // stop(): closes what is left after options.stop_timeout; on_stopped runs
  // once no session is left. Both under sessions_mutex.
  boost::asio::steady_timer stop_deadline;
  std::function<void()> on_stopped;

  void accept();
  void accept_failed(const beast::error_code& ec);
  void reject_busy(tcp::socket socket);
  void sweep_deadlines();
  void log_request(std::string_view method, std::string_view path, unsigned status,
                   std::chrono::steady_clock::duration took) {
    if (log.add(method, path, status, took)) boost::asio::post(net, [self = shared_from_this()] { self->log.flush(); });
  }
  void add(const std::shared_ptr<session_base>& s) {
    std::lock_guard lock(sessions_mutex);
    sessions.insert(s);
    metrics.connections.store(sessions.size());
  }
  void remove(const std::shared_ptr<session_base>& s) {
    std::function<void()> done;
    {
      std::lock_guard lock(sessions_mutex);
      sessions.erase(s);
      metrics.connections.store(sessions.size());
      if (stopping && sessions.empty()) {
        stop_deadline.cancel();  // else its wait would hold the loop for the stop timeout
        done = std::exchange(on_stopped, nullptr);
      }
    }
    if (done) boost::asio::post(net, std::move(done));
  }
  std::size_t count() {
    std::lock_guard lock(sessions_mutex);
    return sessions.size();
  }
  // 0 if allowed; else the status to answer (401 or 403).
  unsigned authorize(std::string_view header, bool needs_write) const {
    if (options.tokens.empty()) return 0;
    constexpr std::string_view prefix = "Bearer ";
    if (!header.starts_with(prefix)) return 401;
    const std::string presented(header.substr(prefix.size()));
    // Compare with every token, whatever matches, so timing says nothing.
    const token* found = nullptr;
    for (const token& t : options.tokens) {
      if (constant_time_equal(presented, t.secret) && found == nullptr) found = &t;
    }
    if (found == nullptr) return 401;
    if (needs_write && found->scope != token_scope::write) return 403;
    return 0;
  }
};

namespace {

std::string frame_event(const recorded_event& e) {
  std::string out = "{\"event\":";
  append_event_json(out, e);
  out += "}";
  return out;
}

// The byte stream under HTTP: plain TCP, or TLS over it.
// Deadlines are the sessions' own (session_base::deadline), not tcp_stream's
// per-operation timers.
using plain_stream = tcp::socket;
using tls_stream = beast::ssl_stream<tcp::socket>;
template <class Stream>
constexpr bool is_tls = std::is_same_v<Stream, tls_stream>;

// A live session's bytes waiting to be sent to its client (events, replies),
// kept in /metrics: the total now and the most any one session held.
class queued_bytes {
 public:
  explicit queued_bytes(server_metrics& m) : metrics_(m) {}
  queued_bytes(const queued_bytes&) = delete;
  queued_bytes& operator=(const queued_bytes&) = delete;
  ~queued_bytes() { metrics_.send_queue_bytes.fetch_sub(bytes_); }
  void add(std::size_t n) {
    bytes_ += n;
    metrics_.send_queue_bytes.fetch_add(n);
    auto peak = metrics_.send_queue_peak_bytes.load();
    while (bytes_ > peak && !metrics_.send_queue_peak_bytes.compare_exchange_weak(peak, bytes_)) {
    }
  }
  void remove(std::size_t n) {
    bytes_ -= n;
    metrics_.send_queue_bytes.fetch_sub(n);
  }
  std::size_t size() const { return bytes_; }

 private:
  server_metrics& metrics_;
  std::size_t bytes_ = 0;
};

// A close code for an engine error: 4000 + the HTTP status of an error the
// client caused or can act on (4400 a bad parameter, 4403 a read-only store,
// 4404 a deleted read stream, 4409 a busy consumer), 1011 for the server's own.
std::uint16_t close_code_for(const evstore::error& e) {
  const unsigned status = from_error(e).status;
  return static_cast<std::uint16_t>(status >= 400 && status < 500 ? 4000 + status : 1011);
}

// The reply to an ack that was refused: the error body of any route, and the ack.
std::string ack_error(const api_response& r, std::uint64_t ack) {
  std::string body = r.body;
  body.pop_back();
  return body + ",\"ack\":" + std::to_string(ack) + "}";
}

// --- WebSocket subscription session: catch-up, caughtUp, live; consumer acks.
//
// Bounded by bytes: events are pulled while the send queue is under half its
// limit, in batches of at most the other half (or one event), so a client
// that does not read costs at most the limit until the write timeout ends
// it. The client's messages are read one at a time, and not while an ack is
// being committed or the queue is at its limit: a client that sends faster
// than acks commit, or than it reads the replies, waits in its own socket.
template <class Stream>
class websocket_session : public session_base, public std::enable_shared_from_this<websocket_session<Stream>> {
  using std::enable_shared_from_this<websocket_session<Stream>>::shared_from_this;

 public:
  // `leftover`: bytes the HTTP session read past the upgrade request (frames
  // the client sent in the same write): the WebSocket reads them first.
  websocket_session(std::shared_ptr<server::state> st, Stream stream, const beast::flat_buffer& leftover)
      : st_(std::move(st)), ws_(std::move(stream)), strand_(ws_.get_executor()), queued_(st_->metrics) {
    auto& first = ws_.next_layer().buffer();
    first.commit(boost::asio::buffer_copy(first.prepare(leftover.size()), leftover.data()));
  }

  void start(bhttp::request<bhttp::string_body> req, target t) {
    st_->metrics.subscribers.fetch_add(1);
    // Pings after half the idle time without a frame from the client; closed
    // after the other half passes silent too (browsers answer pings themselves).
    auto timeouts = ws::stream_base::timeout::suggested(beast::role_type::server);
    timeouts.idle_timeout = st_->options.websocket_idle_timeout;
    timeouts.keep_alive_pings = true;
    ws_.set_option(timeouts);
    ws_.read_message_max(st_->options.websocket_max_message);
    const std::string stream = t.query.count("stream") ? t.query["stream"] : "$all";
    const subscription_options batches{.max_batch = 256, .max_bytes = half_limit()};
    store& s = st_->routes.engine();
    result<subscription> sub = error(errc::invalid_argument, "");
    if (auto c = t.query.find("consumer"); c != t.query.end()) {
      auto opened = s.consumer(stream, c->second);
      if (!opened) {
        fail_code_ = close_code_for(opened.error());
        fail_reason_ = opened.error().message();
      } else {
        consumer_.emplace(std::move(*opened));
        sub = consumer_->subscribe(batches);
        if (!sub) {
          fail_code_ = close_code_for(sub.error());
          fail_reason_ = sub.error().message();
        }
      }
    } else {
      auto from = batches;
      from.from = from_end;
      if (auto f = t.query.find("from"); f != t.query.end()) {
        if (auto v = to_u64(f->second)) {
          from.from = *v;
        } else {
          fail_reason_ = "from must be a non-negative integer";
        }
      }
      if (fail_reason_.empty()) {
        sub = s.subscribe(stream, from, st_->engine);
        if (!sub) {
          fail_code_ = close_code_for(sub.error());
          fail_reason_ = sub.error().message();
        }
      }
    }
    if (sub) subscription_ = std::move(*sub);
    ws_.async_accept(req, beast::bind_front_handler(&websocket_session<Stream>::on_accept, shared_from_this()));
  }

  void shut() override {
    boost::asio::post(strand_, [self = shared_from_this()] {
      self->subscription_.cancel();
      beast::error_code ignored;
      beast::get_lowest_layer(self->ws_).close(ignored);
    });
  }

  // A stopping server says so (1001 going away) after the write in progress;
  // the stop timeout's shut() ends a peer that never answers the close.
  void stop_gracefully() override {
    boost::asio::post(strand_, [self = shared_from_this()] {
      self->subscription_.cancel();
      self->close_with(1001, "going away");
    });
  }

 private:
  std::size_t half_limit() const { return std::max<std::size_t>(1, st_->options.send_queue_limit / 2); }

  void on_accept(beast::error_code ec) {
    if (ec) return finish();
    if (!fail_reason_.empty()) {
      // A documented close code with the reason, after a handshake the client can read.
      closed_ = true;
      return ws_.async_close(ws::close_reason(static_cast<ws::close_code>(fail_code_), fail_reason_.substr(0, 120)),
                             [self = shared_from_this()](beast::error_code) { self->finish(); });
    }
    read_client();
    pull();
  }

  void read_client() {
    if (reading_ || committing_ || closed_ || finished_ || queued_.size() >= st_->options.send_queue_limit) return;
    reading_ = true;
    ws_.async_read(in_, beast::bind_front_handler(&websocket_session<Stream>::on_client_message, shared_from_this()));
  }

  void on_client_message(beast::error_code ec, std::size_t) {
    reading_ = false;
    if (ec) return finish();
    if (closed_ || finished_) return;
    const std::string text = beast::buffers_to_string(in_.data());
    in_.consume(in_.size());
    boost::system::error_code jec;
    const auto msg = boost::json::parse(text, jec);
    const auto* o = !jec ? msg.if_object() : nullptr;
    const auto* ack = o ? o->if_contains("ack") : nullptr;
    if (!consumer_ || ack == nullptr || !ack->is_number()) {
      enqueue("{\"error\":\"invalid_message\",\"message\":\"send {\\\"ack\\\": <version>, \\\"state\\\": {...}} on a consumer subscription\"}");
      return read_client();
    }
    boost::system::error_code nec;
    const auto acked = ack->to_number<std::uint64_t>(nec);
    if (nec) {
      enqueue("{\"error\":\"invalid_message\",\"message\":\"ack must be a non-negative integer\"}");
      return read_client();
    }
    if (acked == std::numeric_limits<std::uint64_t>::max()) {
      // Its next position (ack + 1) does not exist: it would wrap to 0.
      enqueue(ack_error(error_response(400, "invalid_argument", "ack " + std::to_string(acked) + " has no next position"),
                        acked));
      return read_client();
    }
    std::string state;
    if (const auto* st = o->if_contains("state")) state = boost::json::serialize(*st);
    // One commit at a time, in the order the acks came: the engine refuses
    // one that would move the consumer back, and the next message waits.
    committing_ = true;
    const auto in_flight = st_->metrics.consumer_commits_in_flight.fetch_add(1) + 1;
    auto peak = st_->metrics.consumer_commits_in_flight_peak.load();
    while (in_flight > peak && !st_->metrics.consumer_commits_in_flight_peak.compare_exchange_weak(peak, in_flight)) {
    }
    consumer_->commit(acked + 1, state,
                      boost::asio::bind_executor(strand_, [self = shared_from_this(), acked](boost::system::error_code e,
                                                                                             std::string detail) {
                        self->committing_ = false;
                        self->st_->metrics.consumer_commits_in_flight.fetch_sub(1);
                        if (e) {
                          self->enqueue(ack_error(from_error({e, std::move(detail)}), acked));
                        } else {
                          self->enqueue("{\"acked\":" + std::to_string(acked) + "}");
                        }
                        self->read_client();
                      }));
  }

  // Reads the next batch while the queue is under half its limit.
  void pull() {
    if (pulling_ || ending_ || closed_ || finished_ || queued_.size() >= half_limit()) return;
    pulling_ = true;
    subscription_.next(boost::asio::bind_executor(
        strand_, [self = shared_from_this()](boost::system::error_code ec, const subscription_batch& b) {
          self->pulling_ = false;
          if (ec == boost::asio::error::operation_aborted) return self->close_with(1001, "going away");
          if (ec) {
            // The subscription ended: what is queued goes first, then the close
            // with the engine's detail ("stream_deleted: read stream 'x' was deleted").
            const evstore::error why(ec, b.detail);
            self->ending_ = true;
            self->end_code_ = close_code_for(why);
            self->end_reason_ = why.message();
            return self->write_next();
          }
          for (const auto& e : b.events) self->push(frame_event(e));
          if (b.caught_up) {
            self->push("{\"caughtUp\":true,\"version\":" + (b.next ? std::to_string(b.next - 1) : std::string("null")) +
                       "}");
          }
          self->write_next();
          self->pull();
        }));
  }

  void push(std::string msg) {
    queued_.add(msg.size());
    queue_.push_back(std::move(msg));
  }

  void enqueue(std::string msg) {
    push(std::move(msg));
    write_next();
  }

  void write_next() {
    if (writing_ || closed_ || finished_) return;
    if (queue_.empty()) {
      if (ending_) close_with(end_code_, end_reason_);
      return;
    }
    writing_ = true;
    deadline.expires_after(st_->options.write_timeout);
    ws_.text(true);
    ws_.async_write(boost::asio::buffer(queue_.front()),
                    boost::asio::bind_executor(strand_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
                      self->writing_ = false;
                      self->deadline.expires_never();
                      if (ec) return self->finish();
                      self->queued_.remove(self->queue_.front().size());
                      self->queue_.pop_front();
                      self->write_next();
                      self->pull();
                      self->read_client();
                    }));
  }

  void close_with(std::uint16_t code, const std::string& reason) {
    if (closed_ || finished_) return;
    closed_ = true;
    ws_.async_close(ws::close_reason(static_cast<ws::close_code>(code), reason.substr(0, 120)),
                    [self = shared_from_this()](beast::error_code) { self->finish(); });
  }

  void finish() {
    if (finished_) return;
    finished_ = true;
    subscription_.cancel();
    st_->metrics.subscribers.fetch_sub(1);
    // Ends a write stalled on a client that does not read; the queue's bytes
    // leave /metrics with the session.
    beast::error_code ignored;
    beast::get_lowest_layer(ws_).close(ignored);
    st_->remove(shared_from_this());
  }

  std::shared_ptr<server::state> st_;
  ws::stream<beast::buffered_read_stream<Stream, beast::flat_buffer>> ws_;
  boost::asio::any_io_executor strand_;  // the connection's strand (from accept)
  beast::flat_buffer in_;
  subscription subscription_;
  std::optional<evstore::consumer> consumer_;
  std::uint16_t fail_code_ = 4400;
  std::string fail_reason_;
  std::deque<std::string> queue_;
  queued_bytes queued_;
  bool writing_ = false, pulling_ = false, reading_ = false, committing_ = false;
  bool ending_ = false;  // the subscription ended: close once the queue is written
  std::uint16_t end_code_ = 1011;
  std::string end_reason_;
  bool closed_ = false, finished_ = false;
};

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
  if (req.version() >= 11 && req.count(bhttp::field::host) != 1) return "an HTTP/1.1 request needs one Host header";
  return std::nullopt;
}

// --- HTTP session: requests, responses, and Server-Sent Events.
template <class Stream>
class http_session : public session_base, public std::enable_shared_from_this<http_session<Stream>> {
  using std::enable_shared_from_this<http_session<Stream>>::shared_from_this;

 public:
  http_session(std::shared_ptr<server::state> st, tcp::socket socket)
    requires(!is_tls<Stream>)
      : st_(std::move(st)), stream_(std::move(socket)), strand_(stream_.get_executor()) {}
  http_session(std::shared_ptr<server::state> st, tcp::socket socket, boost::asio::ssl::context& tls)
    requires is_tls<Stream>
      : st_(std::move(st)), stream_(std::move(socket), tls), strand_(stream_.get_executor()) {}

  void run() {
    if constexpr (is_tls<Stream>) {
      // The handshake counts against the header deadline (a slow-loris could stall it too).
      deadline.expires_after(st_->options.header_timeout);
      stream_.async_handshake(boost::asio::ssl::stream_base::server,
                              [self = shared_from_this()](beast::error_code ec) {
                                if (ec) return self->finish();
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
  // connection closes; an idle connection or an SSE stream closes now.
  void stop_gracefully() override {
    boost::asio::post(strand_, [self = shared_from_this()] {
      if (!self->busy_ || self->sse_) self->close_now();
    });
  }

 private:
  tcp::socket& lowest() { return beast::get_lowest_layer(stream_); }

  void close_now() {
    closed_ = true;
    live_.cancel();
    beast::error_code ignored;
    lowest().shutdown(tcp::socket::shutdown_both, ignored);
    lowest().close(ignored);
  }

  void read_header() {
    if (st_->stopping) {
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
      stream_.async_read_some(buffer_.prepare(4096), [self = shared_from_this()](beast::error_code ec, std::size_t n) {
        if (ec) return self->finish();
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
           ec != bhttp::error::end_of_stream && ec != bhttp::error::partial_message && ec != bhttp::error::need_more;
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
    if (ec == bhttp::error::header_limit) return reply_early(error_response(431, "headers_too_large", "request headers exceed the limit"));
    // Beast refuses a Content-Length over the body limit while parsing the
    // header: answer before reading any of the body.
    if (ec == bhttp::error::body_limit) {
      return reply_early(error_response(413, "body_too_large", "request body exceeds " +
                                                                   std::to_string(st_->options.body_limit) + " bytes"));
    }
    if (ec && is_parse_error(ec)) return reply_early(error_response(400, "bad_request", "malformed request: " + ec.message()));
    if (ec) return finish();
    auto& req = parser_->get();
    if (auto why = framing_error(req)) return reply_early(error_response(400, "bad_request", *why));
    // Refused before the body is read.
    if (const auto len = parser_->content_length(); len && *len > st_->options.body_limit) {
      return reply_early(error_response(413, "body_too_large", "request body exceeds " +
                                                                   std::to_string(st_->options.body_limit) + " bytes"));
    }
    const bool writes = req.method() == bhttp::verb::post || req.method() == bhttp::verb::put ||
                        req.method() == bhttp::verb::delete_;
    // The console's static files hold no data: a browser loads them without
    // a token, and the console then sends the token the user gives it.
    const bool console_file = (req.method() == bhttp::verb::get || req.method() == bhttp::verb::head) &&
                              find_console_asset(req.target()) != nullptr;
    if (const unsigned denied = console_file ? 0 : st_->authorize(req[bhttp::field::authorization], writes)) {
      auto r = denied == 401 ? error_response(401, "unauthorized", "a valid bearer token is required")
                             : error_response(403, "forbidden", "this token may only read");
      if (denied == 401) r.headers.emplace_back("WWW-Authenticate", "Bearer");
      return reply_early(std::move(r));
    }
    busy_ = true;  // from here the request is answered, even across stop()
    // A client that asked waits for "100 Continue" before its body (RFC 9110 §10.1.1).
    if (!parser_->is_done() && buffer_.size() == 0 && req.version() == 11 &&
        beast::iequals(req[bhttp::field::expect], "100-continue")) {
      static constexpr std::string_view go_on = "HTTP/1.1 100 Continue\r\n\r\n";
      deadline.expires_after(st_->options.write_timeout);
      return boost::asio::async_write(stream_, boost::asio::buffer(go_on.data(), go_on.size()),
                                      [self = shared_from_this()](beast::error_code wec, std::size_t) {
                                        if (wec) return self->finish();
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
    bhttp::async_read(stream_, buffer_, *parser_, beast::bind_front_handler(&http_session<Stream>::on_body, shared_from_this()));
  }

  void on_body(beast::error_code ec, std::size_t) {
    if (ec == bhttp::error::body_limit) {
      return reply_early(error_response(413, "body_too_large", "request body exceeds the limit"));
    }
    if (ec && is_parse_error(ec)) return reply_early(error_response(400, "bad_request", "malformed request: " + ec.message()));
    if (ec) return finish();
    deadline.expires_never();  // no deadline while the engine works on it
    auto req = parser_->release();
    keep_alive_ = req.keep_alive();
    http10_ = req.version() == 10;
    auto t = parse_target(req.target());
    if (t && ws::is_upgrade(req)) {
      if (t->segments.size() == 1 && t->segments[0] == "subscribe") return start_websocket(std::move(req), std::move(*t));
      return reply_and_close(error_response(404, "not_found", "WebSocket subscriptions are at /subscribe"));
    }
    if (t && req.method() == bhttp::verb::get && t->segments.size() == 2 && t->segments[0] == "streams" &&
        t->query.count("live") && t->query["live"] == "true" &&
        req[bhttp::field::accept].find("text/event-stream") != std::string_view::npos) {
      return start_sse(t->segments[1], *t, std::string(req["Last-Event-ID"]));
    }
    api_request a{std::string(req.method_string()), std::string(req.target()), std::move(req.body()),
                  std::string(req["Expected-Version"])};
    st_->routes.handle(std::move(a), [self = shared_from_this()](api_response r) {
      boost::asio::post(self->strand_, [self, r = std::move(r)]() mutable { self->reply(std::move(r)); });
    });
  }

  // Counts the response for /metrics and writes its log line.
  void record(unsigned status) {
    if (status < st_->metrics.responses_by_status.size()) st_->metrics.responses_by_status[status].fetch_add(1);
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
  void write_response(api_response r, bool keep_alive) {  // NOLINT(performance-unnecessary-value-param): callers move it in
    if (st_->stopping) keep_alive = false;  // stop(): this is the connection's last answer
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
    deadline.expires_after(st_->options.write_timeout);
    boost::asio::async_write(stream_, boost::asio::buffer(response_),
                             [self = shared_from_this(), keep_alive](beast::error_code ec, std::size_t) {
                               self->busy_ = false;
                               if (ec) {
                                 self->close_now();
                                 return self->finish();
                               }
                               if (!keep_alive) return self->close_after_response();
                               self->read_header();
                             });
  }

  // TLS ends with close_notify (bounded by the linger time); plain TCP with
  // a FIN, then, after an early answer, the lingering drain.
  void close_after_response() {
    if constexpr (is_tls<Stream>) {
      deadline.expires_after(st_->options.linger_timeout);
      stream_.async_shutdown([self = shared_from_this()](beast::error_code) {
        self->close_now();
        self->finish();
      });
    } else {
      beast::error_code ignored;
      lowest().shutdown(tcp::socket::shutdown_send, ignored);
      if (!linger_) return finish();
      deadline.expires_after(st_->options.linger_timeout);
      lingered_ = buffer_.size();
      buffer_.consume(buffer_.size());
      drain();
    }
  }

  // Reads and discards what the client still sends, until it closes, the
  // linger time is up (the sweep closes the socket) or enough was read.
  // Closing with unread bytes would make the kernel send a reset, and a
  // client still writing its body would get EPIPE instead of our status.
  void drain() {
    static constexpr std::size_t chunk = std::size_t{64} << 10;
    if (!drain_) drain_ = std::make_unique<char[]>(chunk);
    lowest().async_read_some(boost::asio::buffer(drain_.get(), chunk),
                             [self = shared_from_this()](beast::error_code ec, std::size_t n) {
                               self->lingered_ += n;
                               const auto& o = self->st_->options;
                               if (ec || self->lingered_ > o.body_limit + o.header_limit + (std::size_t{1} << 20)) {
                                 self->close_now();
                                 return self->finish();
                               }
                               self->drain();
                             });
  }

  // --- WebSocket upgrade. The upgrade is a GET, authorized as a read; a
  // consumer also takes the consumer's lock, may create its file, and its
  // acks commit: it needs a write token.
  void start_websocket(bhttp::request<bhttp::string_body> req, target t) {
    if (t.query.count("consumer")) {
      if (const unsigned denied = st_->authorize(req[bhttp::field::authorization], true)) {
        auto r = denied == 401 ? error_response(401, "unauthorized", "a valid bearer token is required")
                               : error_response(403, "forbidden", "a consumer commits its acks: it needs a write token");
        if (denied == 401) r.headers.emplace_back("WWW-Authenticate", "Bearer");
        return reply_and_close(std::move(r));
      }
    }
    record(101);
    auto w = std::make_shared<websocket_session<Stream>>(st_, std::move(stream_), buffer_);
    st_->remove(shared_from_this());
    st_->add(w);
    w->start(std::move(req), std::move(t));
  }

  // --- Server-Sent Events: the same catch-up, then live, as `id:`/`data:` messages.
  // Bounded by bytes as the WebSocket is (pulls while the queue is under half
  // its limit, batches of at most the other half), and a read stays pending
  // on the socket, so a client that closes ends its session at once.
  void start_sse(const std::string& stream, target& t, const std::string& last_event_id) {
    std::uint64_t from = 0;
    if (!last_event_id.empty()) {
      const auto id = to_u64(last_event_id);
      if (!id || *id == from_end) {
        return reply_and_close(error_response(400, "invalid_argument", "Last-Event-ID must be an event number"));
      }
      from = *id + 1;
    } else if (auto f = t.query.find("from"); f != t.query.end()) {
      const auto v = to_u64(f->second);
      if (!v) return reply_and_close(error_response(400, "invalid_argument", "from must be a non-negative integer"));
      from = *v;
    }
    auto sub = st_->routes.engine().subscribe(
        stream, {.from = from, .max_batch = 256, .max_bytes = sse_half_limit()}, st_->engine);
    if (!sub) {
      return reply_and_close(from_error(sub.error()));
    }
    live_ = std::move(*sub);
    st_->metrics.subscribers.fetch_add(1);
    sse_ = true;
    sse_queued_.emplace(st_->metrics);
    record(200);
    out_ = "HTTP/1.1 200 OK\r\nServer: evstored\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
           "Connection: close\r\n\r\n";
    sse_queued_->add(out_.size());
    keepalive_.emplace(strand_);
    sse_write();
    sse_pull();
    sse_keepalive();
    sse_read();
  }

  std::size_t sse_half_limit() const { return std::max<std::size_t>(1, st_->options.send_queue_limit / 2); }

  // The client sends nothing after its request: what it sends is dropped, and
  // its end of the stream (or an error) ends the session.
  void sse_read() {
    stream_.async_read_some(boost::asio::buffer(sse_in_),
                            boost::asio::bind_executor(strand_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
                              if (self->finished_) return;
                              if (ec) {
                                beast::error_code ignored;
                                self->lowest().close(ignored);  // ends a write in flight too
                                return self->finish();
                              }
                              self->sse_read();
                            }));
  }

  // Appends to what waits to be written, counted against the limit.
  void sse_queue(std::string_view text) {
    pending_ += text;
    sse_queued_->add(text.size());
  }

  void sse_pull() {
    if (sse_pulling_ || sse_ending_ || finished_ || sse_queued_->size() >= sse_half_limit()) return;
    live_.next(boost::asio::bind_executor(strand_, [self = shared_from_this()](boost::system::error_code ec,
                                                                              const subscription_batch& b) {
      if (ec == boost::asio::error::operation_aborted) return self->finish();
      if (ec) {
        // The subscription ended (stream_deleted, store_closed, a read
        // error): say why, as the error body of any other route, then close.
        self->sse_queue("event: error\ndata: " + from_error({ec, b.detail}).body + "\n\n");
        self->sse_ending_ = true;
        self->sse_pulling_ = false;
        return self->sse_write();
      }
      const std::size_t before = self->pending_.size();
      for (const auto& e : b.events) {
        self->pending_ += "id: " + std::to_string(e.sequence) + "\nevent: event\ndata: ";
        append_event_json(self->pending_, e);
        self->pending_ += "\n\n";
      }
      if (b.caught_up) self->pending_ += "event: caughtUp\ndata: {\"caughtUp\":true}\n\n";
      self->sse_queued_->add(self->pending_.size() - before);
      self->sse_pulling_ = false;
      self->sse_write();
      self->sse_pull();
    }));
    sse_pulling_ = true;
  }

  void sse_write() {
    if (sse_writing_ || finished_) return;
    if (out_.empty()) std::swap(out_, pending_);
    if (out_.empty()) {
      if (sse_ending_) return finish();
      return sse_pull();
    }
    sse_writing_ = true;
    deadline.expires_after(st_->options.write_timeout);
    boost::asio::async_write(stream_, boost::asio::buffer(out_),
                             boost::asio::bind_executor(strand_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
                               self->sse_writing_ = false;
                               self->sse_queued_->remove(self->out_.size());
                               self->out_.clear();
                               if (ec) return self->finish();
                               self->deadline.expires_never();
                               self->sse_write();
                               self->sse_pull();
                             }));
  }

  // A comment line now and then keeps proxies from closing an idle stream
  // and finds clients that went away.
  void sse_keepalive() {
    keepalive_->expires_after(st_->options.sse_keepalive);
    keepalive_->async_wait([self = shared_from_this()](beast::error_code ec) {
      if (ec || self->finished_) return;
      self->sse_queue(": keep-alive\n\n");
      self->sse_write();
      self->sse_keepalive();
    });
  }

  void finish() {
    if (finished_) return;
    finished_ = true;
    if (sse_) st_->metrics.subscribers.fetch_sub(1);
    live_.cancel();
    if (keepalive_) keepalive_->cancel();
    st_->remove(shared_from_this());
  }

  std::shared_ptr<server::state> st_;
  Stream stream_;
  boost::asio::any_io_executor strand_;  // the connection's strand (from accept)
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  std::string method_, path_;
  std::chrono::steady_clock::time_point started_;
  std::string response_;  // the response being written
  bool first_ = true, keep_alive_ = false, http10_ = false, finished_ = false;
  bool busy_ = false;   // a request is read and being answered
  bool closed_ = false;  // close_now() ran: start nothing new
  bool linger_ = false;  // the answer came before the request's end: drain after it
  std::size_t lingered_ = 0;
  std::unique_ptr<char[]> drain_;
  // SSE
  bool sse_ = false, sse_writing_ = false, sse_pulling_ = false;
  bool sse_ending_ = false;  // the error event is queued: close once it is written
  subscription live_;
  std::string out_, pending_;
  std::optional<queued_bytes> sse_queued_;  // out_ and pending_
  std::array<char, 512> sse_in_;
  std::optional<boost::asio::steady_timer> keepalive_;
};

}  // namespace

void server::state::accept() {
  acceptor.async_accept(boost::asio::make_strand(net), [self = shared_from_this()](beast::error_code ec, tcp::socket socket) {
    if (self->stopping) return;
    if (ec) return self->accept_failed(ec);
    self->accept_backoff = {};
    if (self->count() >= self->options.max_connections) {
      self->reject_busy(std::move(socket));
    } else {
      if (self->tls) {
        auto s = std::make_shared<http_session<tls_stream>>(self, std::move(socket), *self->tls);
        self->add(s);
        s->run();
      } else {
        auto s = std::make_shared<http_session<plain_stream>>(self, std::move(socket));
        self->add(s);
        s->run();
      }
    }
    self->accept();
  });
}

// Out of descriptors (or buffers), the pending connection stays in the
// backlog and accept fails again at once: wait, then try again, for as long
// as it takes. Never give up: the server must serve again once clients leave.
void server::state::accept_failed(const beast::error_code& ec) {
  metrics.accept_errors.fetch_add(1);
  accept_backoff = std::clamp(accept_backoff * 2, std::chrono::milliseconds(10), std::chrono::milliseconds(1000));
  ++accept_errors_unlogged;
  if (const auto now = std::chrono::steady_clock::now(); now - accept_logged >= std::chrono::seconds(1)) {
    accept_logged = now;
    log.note("evstored: accept failed: " + ec.message() + " (" + std::to_string(accept_errors_unlogged) +
             " since the last such line); retrying in " + std::to_string(accept_backoff.count()) + " ms\n");
    accept_errors_unlogged = 0;
  }
  accept_retry.expires_after(accept_backoff);
  accept_retry.async_wait([self = shared_from_this()](beast::error_code tec) {
    if (tec || self->stopping) return;
    self->accept();
  });
}

namespace {
// Over the connection limit: a short 503 without a session, then the same
// lingering close as an early answer (the client reads the 503, not a reset).
struct rejected_connection : std::enable_shared_from_this<rejected_connection> {
  rejected_connection(tcp::socket s, std::size_t most) : socket(std::move(s)), timer(socket.get_executor()), limit(most) {}
  void start(std::chrono::milliseconds linger) {
    static constexpr std::string_view reply =
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: 69\r\n\r\n"
        "{\"error\":\"too_many_connections\",\"message\":\"connection limit reached\"}";
    timer.expires_after(linger);
    timer.async_wait([self = shared_from_this()](beast::error_code ec) {
      if (!ec) self->end();
    });
    boost::asio::async_write(socket, boost::asio::buffer(reply.data(), reply.size()),
                             [self = shared_from_this()](beast::error_code ec, std::size_t) {
                               if (ec) return self->end();
                               beast::error_code ignored;
                               self->socket.shutdown(tcp::socket::shutdown_send, ignored);
                               self->drain();
                             });
  }
  void drain() {
    socket.async_read_some(boost::asio::buffer(buf), [self = shared_from_this()](beast::error_code ec, std::size_t n) {
      self->drained += n;
      if (ec || self->drained > self->limit) return self->end();
      self->drain();
    });
  }
  void end() {
    timer.cancel();
    beast::error_code ignored;
    socket.close(ignored);
  }
  tcp::socket socket;
  boost::asio::steady_timer timer;
  std::size_t limit, drained = 0;
  std::array<char, 16384> buf{};
};
}  // namespace

void server::state::reject_busy(tcp::socket socket) {
  metrics.rejected_connections.fetch_add(1);
  std::make_shared<rejected_connection>(std::move(socket), options.body_limit + options.header_limit + (std::size_t{1} << 20))
      ->start(options.linger_timeout);
}

void server::state::sweep_deadlines() {
  const auto shortest = std::min({options.header_timeout, options.idle_timeout, options.write_timeout});
  sweep.expires_after(net::sweep_interval(shortest));
  sweep.async_wait([self = shared_from_this()](beast::error_code ec) {
    // The sweep goes on while stop() lets the last requests finish.
    if (ec || (self->stopping && self->count() == 0)) return;
    const auto now = net::deadline::clock::now();
    {
      std::lock_guard lock(self->sessions_mutex);
      for (const auto& s : self->sessions) {
        if (s->deadline.take_expired(now)) s->shut();
      }
    }
    self->sweep_deadlines();
  });
}

server::server(boost::asio::io_context& net, store& s, boost::asio::any_io_executor engine, server_options options)
    : state_(std::make_shared<state>(net, s, std::move(engine), std::move(options))) {}

server::~server() { stop(); }

result<void> server::start() {
  beast::error_code ec;
  const auto& o = state_->options;
  if (!o.tls_cert_file.empty() || !o.tls_key_file.empty()) {
    if (o.tls_cert_file.empty() || o.tls_key_file.empty()) {
      return error(errc::invalid_argument, "TLS needs both a certificate and a key file");
    }
    auto& ctx = state_->tls.emplace(boost::asio::ssl::context::tls_server);
    // TLS 1.2 at least; no compression, fresh DH keys.
    ctx.set_options(boost::asio::ssl::context::default_workarounds | boost::asio::ssl::context::no_sslv2 |
                    boost::asio::ssl::context::no_sslv3 | boost::asio::ssl::context::no_tlsv1 |
                    boost::asio::ssl::context::no_tlsv1_1 | boost::asio::ssl::context::no_compression |
                    boost::asio::ssl::context::single_dh_use);
    ctx.use_certificate_chain_file(o.tls_cert_file, ec);
    if (ec) return error(ec, "cannot load TLS certificate " + o.tls_cert_file);
    ctx.use_private_key_file(o.tls_key_file, boost::asio::ssl::context::pem, ec);
    if (ec) return error(ec, "cannot load TLS key " + o.tls_key_file);
  }
  const auto address = boost::asio::ip::make_address(state_->options.address, ec);
  if (ec) return error(errc::invalid_argument, "bad listen address " + state_->options.address);
  const tcp::endpoint ep(address, state_->options.port);
  auto& a = state_->acceptor;
  a.open(ep.protocol(), ec);
  if (!ec) a.set_option(boost::asio::socket_base::reuse_address(true), ec);
  if (!ec) a.bind(ep, ec);
  if (!ec) a.listen(boost::asio::socket_base::max_listen_connections, ec);
  if (ec) return error(ec, "cannot listen on " + state_->options.address + ":" + std::to_string(state_->options.port));
  state_->accept();
  state_->sweep_deadlines();
  return {};
}

std::uint16_t server::port() const {
  beast::error_code ec;
  const auto ep = state_->acceptor.local_endpoint(ec);
  return ec ? 0 : ep.port();
}

void server::stop(std::function<void()> done) {
  boost::asio::post(state_->net, [st = state_, done = std::move(done)]() mutable {
    st->stopping = true;
    beast::error_code ignored;
    st->acceptor.close(ignored);
    st->accept_retry.cancel();
    st->log.flush();
    std::set<std::shared_ptr<session_base>> all;
    {
      std::lock_guard lock(st->sessions_mutex);
      all = st->sessions;
      if (!all.empty()) {
        if (done) st->on_stopped = std::move(done);
        // What is still open after the stop timeout is closed.
        st->stop_deadline.expires_after(st->options.stop_timeout);
        st->stop_deadline.async_wait([st](beast::error_code ec) {
          if (ec) return;
          std::lock_guard guard(st->sessions_mutex);
          for (const auto& s : st->sessions) s->shut();
        });
      }
    }
    if (all.empty()) {
      if (done) done();  // NOLINT(bugprone-use-after-move): moved above only when `all` is not empty
      return;
    }
    for (const auto& s : all) s->stop_gracefully();
  });
}

server_metrics& server::metrics() { return state_->metrics; }
std::size_t server::session_count() const { return state_->count(); }

}  // namespace evstore::http
