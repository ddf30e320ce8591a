// The accept loop and its backoff. See listener.hpp.
#include "listener.hpp"

#include <boost/asio/strand.hpp>

#include <algorithm>
#include <string>

namespace evstore::net {
using tcp = boost::asio::ip::tcp;

listener::listener(boost::asio::io_context& io, request_log& log, std::atomic<std::uint64_t>& accept_errors,
                   on_accept handler, bool one_thread)
    : io_(io),
      log_(log),
      accept_errors_(accept_errors),
      handler_(std::move(handler)),
      one_thread_(one_thread),
      acceptor_(io),
      retry_(io) {}

boost::system::error_code listener::listen(const tcp::endpoint& at) {
  boost::system::error_code ec;
  acceptor_.open(at.protocol(), ec);
  if (!ec) acceptor_.set_option(boost::asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_.bind(at, ec);
  if (!ec) acceptor_.listen(boost::asio::socket_base::max_listen_connections, ec);
  return ec;
}

void listener::start() { accept(); }

void listener::close() {
  closed_ = true;
  boost::system::error_code ignored;
  acceptor_.close(ignored);
  retry_.cancel();
}

std::uint16_t listener::port() const {
  boost::system::error_code ec;
  const auto ep = acceptor_.local_endpoint(ec);
  return ec ? 0 : ep.port();
}

void listener::accept() {
  // A strand costs every operation of the connection a lock, a queue and a
  // heap-allocated executor (a strand does not fit any_io_executor's inline
  // buffer): only taken when several threads run the loop.
  const auto executor = one_thread_ ? boost::asio::any_io_executor(io_.get_executor())
                                    : boost::asio::any_io_executor(boost::asio::make_strand(io_));
  acceptor_.async_accept(executor,
                         [self = shared_from_this()](boost::system::error_code ec, tcp::socket socket) {
                           if (self->closed_) return;
                           if (ec) return self->accept_failed(ec);
                           self->backoff_ = {};
                           self->handler_(std::move(socket));
                           self->accept();
                         });
}

// Out of descriptors (or buffers), the pending connection stays in the
// backlog and accept fails again at once: wait, then try again, for as long
// as it takes. Never give up: the server must serve again once clients leave.
void listener::accept_failed(const boost::system::error_code& ec) {
  accept_errors_.fetch_add(1);
  backoff_ = std::clamp(backoff_ * 2, std::chrono::milliseconds(10), std::chrono::milliseconds(1000));
  ++unlogged_;
  if (const auto now = std::chrono::steady_clock::now(); now - logged_ >= std::chrono::seconds(1)) {
    logged_ = now;
    log_.note("evstored: accept failed: " + ec.message() + " (" + std::to_string(unlogged_) +
              " since the last such line); retrying in " + std::to_string(backoff_.count()) + " ms\n");
    unlogged_ = 0;
  }
  retry_.expires_after(backoff_);
  retry_.async_wait([self = shared_from_this()](boost::system::error_code tec) {
    if (tec || self->closed_) return;
    self->accept();
  });
}

}  // namespace evstore::net
