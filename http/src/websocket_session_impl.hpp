// The WebSocket subscription session (see websocket_session.hpp), as a
// template over its stream. Internal to websocket_session.cpp and
// websocket_session_tls.cpp, which instantiate it for plain TCP and for TLS
// apart: Beast's WebSocket stream is the costliest code to compile in
// evstored, and two units build in parallel.
#pragma once

#include "streams.hpp"
#include "subscription_feed.hpp"
#include "websocket_session.hpp"
#include <evstore/event_json.hpp>

#include <boost/asio/bind_executor.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <boost/json.hpp>

#include <limits>
#include <optional>

namespace evstore::http::websocket_detail {
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace ws = boost::beast::websocket;

inline std::string frame_event(const recorded_event& e) {
  std::string out = "{\"event\":";
  append_event_json(out, e);
  out += "}";
  return out;
}

inline std::string frame_caught_up(const subscription_batch& b) {
  return boost::json::serialize(boost::json::object{
      {"caughtUp", true},
      {"version", b.next ? boost::json::value(b.next - 1) : boost::json::value(nullptr)}});
}

// A close code for an engine error: 4000 + the HTTP status of an error the
// client caused or can act on (4400 a bad parameter, 4403 a read-only store,
// 4404 a deleted read stream, 4409 a busy consumer), 1011 for the server's own.
inline std::uint16_t close_code_for(const evstore::error& e) {
  const unsigned status = status_of(e);
  return static_cast<std::uint16_t>(status >= 400 && status < 500 ? 4000 + status : 1011);
}

// A reply to a client's message that was refused: the error body of any route.
inline std::string invalid_message(std::string_view why) {
  return boost::json::serialize(error_object("invalid_message", why));
}

// How a client advances its consumer. {"commit": n} takes the position to
// resume at (the next event number, as everywhere: C++ consumer::commit, the
// position routes show); {"ack": v}, the last version handled, is its older
// alias (a commit of v + 1). The reply echoes the form used.
struct consumer_advance {
  bool is_ack = false;
  std::uint64_t number = 0;  // as sent: v for an ack, n for a commit
  std::uint64_t position() const { return is_ack ? number + 1 : number; }
  const char* key() const { return is_ack ? "ack" : "commit"; }
};

// The reply to an ack or commit that was refused: the error body of any
// route, and the number sent.
inline std::string advance_error(boost::json::object error, const consumer_advance& a) {
  error[a.key()] = a.number;
  return boost::json::serialize(error);
}

inline std::string advanced(const consumer_advance& a) {
  return boost::json::serialize(boost::json::object{{a.is_ack ? "acked" : "committed", a.number}});
}

// Bounded by bytes (see subscription_feed.hpp). The client's messages are
// read one at a time, and not while an ack is being committed or the queue
// is at its limit: a client that sends faster than acks commit, or than it
// reads the replies, waits in its own socket.
template <class Stream>
class websocket_session : public net::connection,
                          public std::enable_shared_from_this<websocket_session<Stream>> {
  using std::enable_shared_from_this<websocket_session<Stream>>::shared_from_this;

 public:
  websocket_session(std::shared_ptr<server::state> st, Stream stream, const beast::flat_buffer& leftover)
      : st_(std::move(st)),
        ws_(std::move(stream)),
        strand_(ws_.get_executor()),
        feed_(st_->metrics, st_->options.send_queue_limit,
              {.event = frame_event, .caught_up = frame_caught_up}) {
    auto& first = ws_.next_layer().buffer();
    first.commit(boost::asio::buffer_copy(first.prepare(leftover.size()), leftover.data()));
  }

  void start(bhttp::request<bhttp::string_body> req, const subscribe_params& p) {
    st_->metrics.subscribers.fetch_add(1);
    // Pings after half the idle time without a frame from the client; closed
    // after the other half passes silent too (browsers answer pings themselves).
    auto timeouts = ws::stream_base::timeout::suggested(beast::role_type::server);
    timeouts.idle_timeout = st_->options.websocket_idle_timeout;
    timeouts.keep_alive_pings = true;
    ws_.set_option(timeouts);
    ws_.read_message_max(st_->options.websocket_max_message);
    // Opening reads files (a stream's index on its first use, a consumer's
    // checkpoint and lock): on the engine's executor, never on the network
    // loop, where one slow disk would stall every connection.
    boost::asio::post(st_->engine, [self = shared_from_this(), req = std::move(req), p]() mutable {
      auto opened = std::make_shared<opening>(self->open(p));
      boost::asio::post(self->strand_, [self, req = std::move(req), opened]() mutable {
        self->adopt(std::move(*opened));
        self->ws_.async_accept(req, beast::bind_front_handler(&websocket_session<Stream>::on_accept, self));
      });
    });
  }

  void shut() override {
    boost::asio::post(strand_, [self = shared_from_this()] {
      self->feed_.cancel();
      beast::error_code ignored;
      beast::get_lowest_layer(self->ws_).close(ignored);
    });
  }

  // A stopping server says so (1001 going away) after the write in progress;
  // the stop timeout's shut() ends a peer that never answers the close.
  void stop_gracefully() override {
    boost::asio::post(strand_, [self = shared_from_this()] {
      self->feed_.cancel();
      self->close_with(1001, "going away");
    });
  }

 private:
  // What open() found: the subscription (and its consumer), or why not.
  struct opening {
    std::optional<consumer> owner;
    std::optional<subscription> sub;
    std::optional<evstore::error> failure;
    std::string invalid;
  };

  // Opens the subscription; runs on the engine's executor and touches no
  // member but the shared state.
  opening open(const subscribe_params& p) const {
    opening out;
    if (!p.invalid.empty()) {
      out.invalid = p.invalid;
      return out;
    }
    const subscription_options batches{
        .max_batch = 256, .max_bytes = subscription_feed::batch_bytes(st_->options.send_queue_limit)};
    store& s = st_->routes.engine();
    result<subscription> sub = error(errc::invalid_argument, "");
    if (p.consumer) {
      auto opened = s.consumer(p.stream, *p.consumer);
      if (!opened) {
        out.failure = opened.error();
        return out;
      }
      out.owner.emplace(std::move(*opened));
      sub = out.owner->subscribe(batches, st_->engine);
    } else {
      auto from = batches;
      from.from = p.from;
      sub = s.subscribe(p.stream, from, st_->engine);
    }
    if (!sub) {
      out.failure = sub.error();
    } else {
      out.sub.emplace(std::move(*sub));
    }
    return out;
  }

  // Back on the strand: keeps the subscription, or why it cannot be opened
  // (fail_code_, fail_reason_) to close with once the handshake is done.
  void adopt(opening o) {
    if (!o.invalid.empty()) {
      fail_reason_ = std::move(o.invalid);
      return;
    }
    if (o.failure) return fail(*o.failure);
    if (o.owner) consumer_.emplace(std::move(*o.owner));
    feed_.attach(std::move(*o.sub));
  }

  void fail(const evstore::error& e) {
    fail_code_ = close_code_for(e);
    fail_reason_ = e.message();
  }

  void on_accept(beast::error_code ec) {
    if (ec) return fail("websocket_handshake", ec);
    if (!fail_reason_.empty()) {
      // A documented close code with the reason, after a handshake the client can read.
      closed_ = true;
      return ws_.async_close(
          ws::close_reason(static_cast<ws::close_code>(fail_code_), fail_reason_.substr(0, 120)),
          [self = shared_from_this()](beast::error_code) { self->finish(); });
    }
    read_client();
    pull();
  }

  void read_client() {
    if (reading_ || committing_ || closed_ || finished_ || feed_.full()) return;
    reading_ = true;
    ws_.async_read(
        in_, beast::bind_front_handler(&websocket_session<Stream>::on_client_message, shared_from_this()));
  }

  void on_client_message(beast::error_code ec, std::size_t) {
    reading_ = false;
    if (ec) return fail("read", ec);
    if (closed_ || finished_) return;
    const std::string text = beast::buffers_to_string(in_.data());
    in_.consume(in_.size());
    boost::system::error_code jec;
    const auto msg = boost::json::parse(text, jec);
    const auto* o = !jec ? msg.if_object() : nullptr;
    const auto* ack = o ? o->if_contains("ack") : nullptr;
    const auto* next = o ? o->if_contains("commit") : nullptr;
    const auto* given = next ? next : ack;
    if (!consumer_ || given == nullptr || !given->is_number() || (ack && next)) {
      enqueue(invalid_message(
          R"(send {"commit": <next position>, "state": {...}} (or {"ack": <last version handled>}) on a consumer subscription)"));
      return read_client();
    }
    boost::system::error_code nec;
    const consumer_advance a{next == nullptr, given->to_number<std::uint64_t>(nec)};
    if (nec) {
      enqueue(invalid_message(std::string(a.key()) + " must be a non-negative integer"));
      return read_client();
    }
    if (a.is_ack && a.number == std::numeric_limits<std::uint64_t>::max()) {
      // Its next position (ack + 1) does not exist: it would wrap to 0.
      enqueue(advance_error(
          error_object("invalid_argument", "ack " + std::to_string(a.number) + " has no next position"), a));
      return read_client();
    }
    std::string state;
    if (const auto* st = o->if_contains("state")) state = boost::json::serialize(*st);
    commit(a, std::move(state));
  }

  // One commit at a time, in the order they came: the engine refuses one
  // that would move the consumer back, and the next message waits.
  void commit(consumer_advance a, std::string state) {
    committing_ = true;
    const auto in_flight = st_->metrics.consumer_commits_in_flight.fetch_add(1) + 1;
    auto peak = st_->metrics.consumer_commits_in_flight_peak.load();
    while (in_flight > peak &&
           !st_->metrics.consumer_commits_in_flight_peak.compare_exchange_weak(peak, in_flight)) {
    }
    consumer_->commit(
        a.position(), state,
        boost::asio::bind_executor(
            strand_, [self = shared_from_this(), a](boost::system::error_code e, std::string detail) {
              self->committing_ = false;
              self->st_->metrics.consumer_commits_in_flight.fetch_sub(1);
              self->enqueue(e ? advance_error(error_object({e, std::move(detail)}), a) : advanced(a));
              self->read_client();
            }));
  }

  // Reads the next batch while the queue is under half its limit.
  void pull() {
    if (ending_ || closed_ || finished_) return;
    feed_.pull(strand_, [self = shared_from_this()](boost::system::error_code ec, std::string detail) {
      if (ec == boost::asio::error::operation_aborted) return self->close_with(1001, "going away");
      if (ec) {
        // The subscription ended: what is queued goes first, then the close
        // with the engine's detail ("stream_deleted: read stream 'x' was deleted").
        const evstore::error why(ec, std::move(detail));
        self->ending_ = true;
        self->end_code_ = close_code_for(why);
        self->end_reason_ = why.message();
        return self->write_next();
      }
      self->write_next();
      self->pull();
    });
  }

  void enqueue(std::string msg) {
    feed_.push(std::move(msg));
    write_next();
  }

  void write_next() {
    if (writing_ || closed_ || finished_) return;
    if (feed_.messages().empty()) {
      if (ending_) close_with(end_code_, end_reason_);
      return;
    }
    writing_ = true;
    deadline.expires_after(st_->options.write_timeout);
    ws_.text(true);
    ws_.async_write(
        boost::asio::buffer(feed_.messages().front()),
        boost::asio::bind_executor(strand_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
          self->writing_ = false;
          self->deadline.expires_never();
          if (ec) return self->fail("write", ec);
          self->feed_.pop(1);
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

  // An unexpected end is logged (see server::state::log_session_error), then the session ends.
  void fail(std::string_view what, const beast::error_code& ec) {
    if (!finished_) st_->log_session_error(what, ec, *this);
    finish();
  }

  void finish() {
    if (finished_) return;
    finished_ = true;
    feed_.cancel();
    st_->metrics.subscribers.fetch_sub(1);
    // Ends a write stalled on a client that does not read; the queue's bytes
    // leave /metrics with the session.
    beast::error_code ignored;
    beast::get_lowest_layer(ws_).close(ignored);
    st_->connections->remove(shared_from_this());
  }

  std::shared_ptr<server::state> st_;
  ws::stream<beast::buffered_read_stream<Stream, beast::flat_buffer>> ws_;
  // The connection's executor (from accept): its strand, or the loop itself
  // when one thread runs it (server_options::one_network_thread).
  boost::asio::any_io_executor strand_;
  beast::flat_buffer in_;
  subscription_feed feed_;
  std::optional<evstore::consumer> consumer_;
  std::uint16_t fail_code_ = 4400;
  std::string fail_reason_;
  bool writing_ = false, reading_ = false, committing_ = false;
  bool ending_ = false;  // the subscription ended: close once the queue is written
  std::uint16_t end_code_ = 1011;
  std::string end_reason_;
  bool closed_ = false, finished_ = false;
};

}  // namespace evstore::http::websocket_detail

namespace evstore::http {

template <class Stream>
void start_websocket_session(std::shared_ptr<server::state> st, const std::shared_ptr<net::connection>& from,
                             Stream stream, const boost::beast::flat_buffer& leftover,
                             boost::beast::http::request<boost::beast::http::string_body> request,
                             subscribe_params p) {
  auto w = std::make_shared<websocket_detail::websocket_session<Stream>>(st, std::move(stream), leftover);
  w->peer = from->peer;
  st->connections->replace(from, w);
  w->start(std::move(request), p);
}

}  // namespace evstore::http
