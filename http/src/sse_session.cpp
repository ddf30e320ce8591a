// The Server-Sent Events session. See sse_session.hpp.
#include "sse_session.hpp"

#include "streams.hpp"
#include "subscription_feed.hpp"
#include <evstore/event_json.hpp>

#include <boost/asio/bind_executor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/ssl.hpp>

#include <array>
#include <vector>

namespace evstore::http {
namespace {
namespace beast = boost::beast;
using tcp = boost::asio::ip::tcp;

std::string frame_event(const recorded_event& e) {
  std::string out = "id: " + std::to_string(e.sequence) + "\nevent: event\ndata: ";
  append_event_json(out, e);
  out += "\n\n";
  return out;
}

std::string frame_caught_up(const subscription_batch&) {
  return "event: caughtUp\ndata: {\"caughtUp\":true}\n\n";
}

// Bounded by bytes as the WebSocket is (see subscription_feed.hpp), and a
// read stays pending on the socket, so a client that closes ends its
// session at once. Everything queued is written in one write.
template <class Stream>
class sse_session : public net::connection, public std::enable_shared_from_this<sse_session<Stream>> {
  using std::enable_shared_from_this<sse_session<Stream>>::shared_from_this;

 public:
  sse_session(std::shared_ptr<server::state> st, Stream stream, subscription live)
      : st_(std::move(st)),
        stream_(std::move(stream)),
        strand_(stream_.get_executor()),
        feed_(st_->metrics, st_->options.send_queue_limit,
              {.event = frame_event, .caught_up = frame_caught_up}),
        keepalive_(strand_) {
    feed_.attach(std::move(live));
  }

  void start() {
    st_->metrics.subscribers.fetch_add(1);
    feed_.push(
        "HTTP/1.1 200 OK\r\nServer: evstored\r\nContent-Type: text/event-stream\r\nCache-Control: "
        "no-cache\r\n"
        "Connection: close\r\n\r\n");
    write();
    pull();
    keepalive();
    read();
  }

  void shut() override {
    boost::asio::post(strand_, [self = shared_from_this()] { self->close_now(); });
  }
  // A stream has nothing in flight to finish: it closes now.
  void stop_gracefully() override { shut(); }

 private:
  tcp::socket& lowest() { return beast::get_lowest_layer(stream_); }

  void close_now() {
    feed_.cancel();
    beast::error_code ignored;
    lowest().shutdown(tcp::socket::shutdown_both, ignored);
    lowest().close(ignored);
  }

  // The client sends nothing after its request: what it sends is dropped, and
  // its end of the stream (or an error) ends the session.
  void read() {
    stream_.async_read_some(
        boost::asio::buffer(in_),
        boost::asio::bind_executor(strand_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
          if (self->finished_) return;
          if (ec) {
            self->st_->log_session_error("read", ec, *self);
            beast::error_code ignored;
            self->lowest().close(ignored);  // ends a write in flight too
            return self->finish();
          }
          self->read();
        }));
  }

  void pull() {
    if (ending_ || finished_) return;
    feed_.pull(strand_, [self = shared_from_this()](boost::system::error_code ec, std::string detail) {
      if (ec == boost::asio::error::operation_aborted) return self->finish();
      if (ec) {
        // The subscription ended (stream_deleted, store_closed, a read
        // error): say why, as the error body of any other route, then close.
        self->feed_.push("event: error\ndata: " + from_error({ec, std::move(detail)}).body + "\n\n");
        self->ending_ = true;
        return self->write();
      }
      self->write();
      self->pull();
    });
  }

  void write() {
    if (writing_ || finished_) return;
    const auto& queued = feed_.messages();
    if (queued.empty()) {
      if (ending_) return finish();
      return pull();
    }
    writing_ = true;
    out_.clear();
    for (const auto& m : queued) out_.push_back(boost::asio::buffer(m));
    deadline.expires_after(st_->options.write_timeout);
    boost::asio::async_write(
        stream_, out_,
        boost::asio::bind_executor(strand_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
          self->writing_ = false;
          self->feed_.pop(self->out_.size());
          if (ec) {
            if (!self->finished_) self->st_->log_session_error("write", ec, *self);
            return self->finish();
          }
          self->deadline.expires_never();
          self->write();
          self->pull();
        }));
  }

  // A comment line now and then keeps proxies from closing an idle stream
  // and finds clients that went away.
  void keepalive() {
    keepalive_.expires_after(st_->options.sse_keepalive);
    keepalive_.async_wait([self = shared_from_this()](beast::error_code ec) {
      if (ec || self->finished_) return;
      self->feed_.push(": keep-alive\n\n");
      self->write();
      self->keepalive();
    });
  }

  void finish() {
    if (finished_) return;
    finished_ = true;
    st_->metrics.subscribers.fetch_sub(1);
    feed_.cancel();
    keepalive_.cancel();
    st_->connections->remove(shared_from_this());
  }

  std::shared_ptr<server::state> st_;
  Stream stream_;
  // The connection's executor (from accept): its strand, or the loop itself
  // when one thread runs it (server_options::one_network_thread).
  boost::asio::any_io_executor strand_;
  subscription_feed feed_;
  std::vector<boost::asio::const_buffer> out_;  // the messages being written
  std::array<char, 512> in_;
  boost::asio::steady_timer keepalive_;
  bool writing_ = false;
  bool ending_ = false;  // the error event is queued: close once it is written
  bool finished_ = false;
};

}  // namespace

template <class Stream>
void start_sse_session(std::shared_ptr<server::state> st, const std::shared_ptr<net::connection>& from,
                       Stream stream, subscription live) {
  auto s = std::make_shared<sse_session<Stream>>(st, std::move(stream), std::move(live));
  s->peer = from->peer;
  st->connections->replace(from, s);
  s->start();
}

template void start_sse_session<plain_stream>(std::shared_ptr<server::state>,
                                              const std::shared_ptr<net::connection>&, plain_stream,
                                              subscription);
template void start_sse_session<tls_stream>(std::shared_ptr<server::state>,
                                            const std::shared_ptr<net::connection>&, tls_stream,
                                            subscription);

}  // namespace evstore::http
