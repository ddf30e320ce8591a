// A TCP listener that hands each accepted socket (on its own strand, or on
// the io_context itself when one thread runs it) to its owner, and keeps
// accepting through errors: out of descriptors or buffers
// (EMFILE, ENFILE, ENOBUFS, ...) it backs off from 10 ms doubling to 1 s,
// counts each failure and logs at most a line a second.
//
// Threading: on the io_context given to the constructor.
#pragma once

#include "request_log.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>

namespace evstore::net {

class listener : public std::enable_shared_from_this<listener> {
 public:
  using on_accept = std::function<void(boost::asio::ip::tcp::socket)>;

  // `accept_errors` counts failed accepts (for /metrics); `log` takes their lines.
  // `one_thread`: only one thread runs `io`, so a socket's handlers never run
  // concurrently and it needs no strand (see server_options::one_network_thread).
  listener(boost::asio::io_context& io, request_log& log, std::atomic<std::uint64_t>& accept_errors,
           on_accept handler, bool one_thread = false);

  // Binds and listens (SO_REUSEADDR). Errors: the open, bind or listen error.
  [[nodiscard]] boost::system::error_code listen(const boost::asio::ip::tcp::endpoint& at);
  void start();
  // Stops accepting (the pending accept and a backoff in progress).
  void close();
  // The bound port (useful with port 0), 0 if none.
  std::uint16_t port() const;

 private:
  void accept();
  void accept_failed(const boost::system::error_code& ec);

  boost::asio::io_context& io_;
  request_log& log_;
  std::atomic<std::uint64_t>& accept_errors_;
  on_accept handler_;
  bool one_thread_;
  boost::asio::ip::tcp::acceptor acceptor_;
  std::atomic<bool> closed_{false};
  boost::asio::steady_timer retry_;
  std::chrono::milliseconds backoff_{0};
  std::chrono::steady_clock::time_point logged_{};
  std::uint64_t unlogged_ = 0;
};

}  // namespace evstore::net
