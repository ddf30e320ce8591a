// The set of open connections: each with its deadline, enforced by one
// periodic sweep (instead of a timer armed and cancelled around every read
// and write), and the graceful stop that lets each finish what it is doing.
//
// Threading: add, remove, size and stop may be called from any thread; the
// sweep and the stop timeout run on the io_context given to the constructor.
#pragma once

#include "deadline.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>

namespace evstore::net {

// One connection, whatever its protocol.
class connection {
 public:
  virtual ~connection() = default;
  virtual void shut() = 0;  // from any thread: close soon
  // From any thread, at stop(): finish what is in flight, then close.
  virtual void stop_gracefully() { shut(); }
  net::deadline deadline;  // of the read or write in progress; the sweep shuts the connection past it
  std::string peer;        // the client's "address:port", for log lines ("-" if unknown)
};

class connection_set : public std::enable_shared_from_this<connection_set> {
 public:
  // `gauge` follows the number of connections (for /metrics); `shortest_timeout`
  // sets how often the sweep looks (see sweep_interval()).
  connection_set(boost::asio::io_context& io, std::atomic<std::uint64_t>& gauge,
                 std::chrono::milliseconds shortest_timeout);

  void add(const std::shared_ptr<connection>& c);
  void remove(const std::shared_ptr<connection>& c);
  // `from` hands its socket to `to` (an HTTP connection that became a
  // WebSocket or SSE stream): one step, so a stop never sees the set empty.
  void replace(const std::shared_ptr<connection>& from, const std::shared_ptr<connection>& to);
  std::size_t size();
  bool stopping() const { return stopping_.load(); }

  // Starts the sweep that shuts each connection past its deadline.
  void start_sweep();
  // On the io_context's thread: asks every connection to stop gracefully and
  // shuts what is left after `timeout`. `done` (if any) runs on the io_context
  // once no connection is left (at once if none is open).
  void stop(std::chrono::milliseconds timeout, std::function<void()> done);

 private:
  void sweep();

  boost::asio::io_context& io_;
  std::atomic<std::uint64_t>& gauge_;
  std::chrono::milliseconds sweep_every_;
  std::mutex mutex_;
  std::set<std::shared_ptr<connection>> connections_;  // under mutex_
  std::atomic<bool> stopping_{false};
  boost::asio::steady_timer sweep_timer_;
  // stop(): closes what is left after the timeout; on_stopped_ runs once no
  // connection is left. Both under mutex_.
  boost::asio::steady_timer stop_deadline_;
  std::function<void()> on_stopped_;
};

}  // namespace evstore::net
