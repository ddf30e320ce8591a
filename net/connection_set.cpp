// The set of open connections, their deadlines and the graceful stop. See connection_set.hpp.
#include "connection_set.hpp"

#include <boost/asio/post.hpp>

#include <utility>

namespace evstore::net {

connection_set::connection_set(boost::asio::io_context& io, std::atomic<std::uint64_t>& gauge,
                               std::chrono::milliseconds shortest_timeout)
    : io_(io),
      gauge_(gauge),
      sweep_every_(sweep_interval(shortest_timeout)),
      sweep_timer_(io),
      stop_deadline_(io) {}

void connection_set::add(const std::shared_ptr<connection>& c) {
  std::lock_guard lock(mutex_);
  connections_.insert(c);
  gauge_.store(connections_.size());
}

void connection_set::remove(const std::shared_ptr<connection>& c) {
  std::function<void()> done;
  {
    std::lock_guard lock(mutex_);
    connections_.erase(c);
    gauge_.store(connections_.size());
    if (stopping_ && connections_.empty()) {
      stop_deadline_.cancel();  // else its wait would hold the loop for the stop timeout
      done = std::exchange(on_stopped_, nullptr);
    }
  }
  if (done) boost::asio::post(io_, std::move(done));
}

void connection_set::replace(const std::shared_ptr<connection>& from, const std::shared_ptr<connection>& to) {
  std::lock_guard lock(mutex_);
  connections_.erase(from);
  connections_.insert(to);
  gauge_.store(connections_.size());
}

std::size_t connection_set::size() {
  std::lock_guard lock(mutex_);
  return connections_.size();
}

void connection_set::start_sweep() { sweep(); }

void connection_set::sweep() {
  sweep_timer_.expires_after(sweep_every_);
  sweep_timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
    // The sweep goes on while stop() lets the last requests finish.
    if (ec || (self->stopping_ && self->size() == 0)) return;
    const auto now = net::deadline::clock::now();
    {
      std::lock_guard lock(self->mutex_);
      for (const auto& c : self->connections_) {
        if (c->deadline.take_expired(now)) c->shut();
      }
    }
    self->sweep();
  });
}

void connection_set::stop(std::chrono::milliseconds timeout, std::function<void()> done) {
  stopping_ = true;
  std::set<std::shared_ptr<connection>> all;
  {
    std::lock_guard lock(mutex_);
    all = connections_;
    if (!all.empty()) {
      if (done) on_stopped_ = std::move(done);
      // What is still open after the stop timeout is closed.
      stop_deadline_.expires_after(timeout);
      stop_deadline_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
        if (ec) return;
        std::lock_guard guard(self->mutex_);
        for (const auto& c : self->connections_) c->shut();
      });
    }
  }
  if (all.empty()) {
    if (done) done();  // NOLINT(bugprone-use-after-move): moved above only when `all` is not empty
    return;
  }
  for (const auto& c : all) c->stop_gracefully();
}

}  // namespace evstore::net
