// What SSE and WebSocket sessions share: a subscription pulled into a
// bounded queue of framed messages for one client.
//
// Bounded by bytes: events are pulled while the queue is under half its
// limit, in batches of at most the other half (or one larger event), so a
// client that does not read costs at most the limit until the write timeout
// ends it. The queued bytes are kept in /metrics (the total now and the most
// any one session held).
//
// Threading: one session's strand; not thread-safe.
#pragma once

#include "api.hpp"
#include <evstore/subscription.hpp>

#include <boost/asio/any_io_executor.hpp>

#include <algorithm>
#include <cstddef>
#include <deque>
#include <functional>
#include <string>

namespace evstore::http {

class subscription_feed {
 public:
  // How a session frames what it pulls: one message per event, and one when
  // the subscription has caught up.
  struct framing {
    std::string (*event)(const recorded_event& e);
    std::string (*caught_up)(const subscription_batch& b);
  };

  subscription_feed(server_metrics& metrics, std::size_t limit, framing f);
  subscription_feed(const subscription_feed&) = delete;
  subscription_feed& operator=(const subscription_feed&) = delete;
  ~subscription_feed();

  // The batch size a subscription for this feed reads at most.
  static std::size_t batch_bytes(std::size_t limit) { return std::max<std::size_t>(1, limit / 2); }

  void attach(subscription s) { subscription_ = std::move(s); }
  void cancel() { subscription_.cancel(); }

  // Reads the next batch, unless one is being read or the queue holds half
  // its limit; its events (and its caught-up mark) are queued as messages,
  // then `then(ec, detail)` runs on `strand`: ec is the end of the
  // subscription (operation_aborted: cancelled). The handler must keep the
  // feed's owner alive.
  void pull(const boost::asio::any_io_executor& strand,
            std::function<void(boost::system::error_code, std::string)> then);

  // The queue of messages waiting to be written.
  void push(std::string message);
  const std::deque<std::string>& messages() const { return queue_; }
  void pop(std::size_t n);  // the first n messages were written
  std::size_t queued_bytes() const { return bytes_; }
  bool full() const { return bytes_ >= limit_; }

 private:
  void add(std::size_t n);

  server_metrics& metrics_;
  std::size_t limit_;
  framing framing_;
  subscription subscription_;
  std::deque<std::string> queue_;
  std::size_t bytes_ = 0;
  bool pulling_ = false;
};

}  // namespace evstore::http
