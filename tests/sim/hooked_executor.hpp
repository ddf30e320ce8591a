// The executor of the subscriptions that sub-churn destroys at any point: it
// posts to the writer's io_context like its own executor would, and counts
// the work it is given on the driver's thread. When the count the driver set
// runs out, it first runs the driver's action (which destroys or cancels a
// subscription) and only then posts. So a subscription is destroyed at an
// exact point of the engine's work: while the notifier wakes the parked
// subscriptions of one stream (each wake-up posts here), or with a batch on
// its way to a handler (the delivery posts here). Work given on another
// thread (the indexer waking a subscription) is posted and not counted: its
// timing is the indexer's, and the run must be the same on every replay.
#pragma once

#include <boost/asio/execution.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include <cstdint>
#include <functional>
#include <thread>

namespace evstore::sim {

struct execute_hook {
  std::thread::id thread = std::this_thread::get_id();
  std::int64_t countdown = -1;  // -1: off
  // Called with the owner of the executor being given work (see hooked_executor::owner).
  std::function<void(const void*)> action;

  void pass(const void* owner) {
    if (countdown < 0 || std::this_thread::get_id() != thread) return;
    if (countdown-- > 0) return;
    countdown = -1;
    auto a = std::move(action);
    action = nullptr;
    if (a) a(owner);
  }
};

struct hooked_executor {
  boost::asio::io_context* context;
  execute_hook* hook;
  const void* owner;  // the subscription it runs (the driver's live_subscription)

  friend bool operator==(const hooked_executor& a, const hooked_executor& b) noexcept {
    return a.context == b.context && a.hook == b.hook && a.owner == b.owner;
  }
  friend bool operator!=(const hooked_executor& a, const hooked_executor& b) noexcept { return !(a == b); }
  boost::asio::execution_context& query(boost::asio::execution::context_t) const noexcept { return *context; }
  static constexpr boost::asio::execution::blocking_t query(boost::asio::execution::blocking_t) noexcept {
    return boost::asio::execution::blocking.never;
  }
  hooked_executor require(boost::asio::execution::blocking_t::never_t) const { return *this; }
  template <class F>
  void execute(F&& f) const {
    hook->pass(owner);
    boost::asio::post(context->get_executor(), std::forward<F>(f));
  }
};

}  // namespace evstore::sim
