// A subscription pulled into a bounded queue. See subscription_feed.hpp.
#include "subscription_feed.hpp"

#include <boost/asio/bind_executor.hpp>

namespace evstore::http {

subscription_feed::subscription_feed(server_metrics& metrics, std::size_t limit, framing f)
    : metrics_(metrics), limit_(limit), framing_(f) {}

subscription_feed::~subscription_feed() { metrics_.send_queue_bytes.fetch_sub(bytes_); }

void subscription_feed::add(std::size_t n) {
  bytes_ += n;
  metrics_.send_queue_bytes.fetch_add(n);
  auto peak = metrics_.send_queue_peak_bytes.load();
  while (bytes_ > peak && !metrics_.send_queue_peak_bytes.compare_exchange_weak(peak, bytes_)) {
  }
}

void subscription_feed::push(std::string message) {
  add(message.size());
  queue_.push_back(std::move(message));
}

void subscription_feed::pop(std::size_t n) {
  for (; n > 0 && !queue_.empty(); --n) {
    bytes_ -= queue_.front().size();
    metrics_.send_queue_bytes.fetch_sub(queue_.front().size());
    queue_.pop_front();
  }
}

void subscription_feed::pull(const boost::asio::any_io_executor& strand,
                             std::function<void(boost::system::error_code, std::string)> then) {
  if (pulling_ || bytes_ >= batch_bytes(limit_)) return;
  pulling_ = true;
  subscription_.next(boost::asio::bind_executor(
      strand, [this, then = std::move(then)](boost::system::error_code ec, subscription_batch b) {
        pulling_ = false;
        if (!ec) {
          for (const auto& e : b.events) push(framing_.event(e));
          if (b.caught_up) push(framing_.caught_up(b));
        }
        then(ec, std::move(b.detail));
      }));
}

}  // namespace evstore::http
