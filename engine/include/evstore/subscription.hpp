// evstore::subscription — a live, ordered view of one stream.
//
// A subscription starts at any event number of a stream (write stream, read
// stream, system stream or "$all"), delivers the stored events from there
// (catch-up), says once that it has caught up, then delivers new events as
// their appends complete (live). Catch-up and live are one mechanism: the
// subscription reads the stream from storage at its own pace, and waits for a
// notification only once it has read everything. So the switch has no gap and
// no duplicate, and a slow subscriber costs the writer nothing: it never holds
// more than one batch, however far behind it falls.
//
// Only published events are delivered: flushed ones, and with fsync_on_flush
// fsynced ones. A position taken from a delivered event never runs ahead of
// what a crash keeps.
//
// Threading: next() and cancel() may be called from any thread; at most one
// next() may be outstanding. Completion handlers run on their associated
// executor (plain callbacks: the subscription's executor). A pending next()
// holds work on that executor, like a pending socket read: run() does not
// return until it completes (cancel(), destruction, or the store's close()).
#pragma once

#include <evstore/completion.hpp>
#include <evstore/error.hpp>
#include <evstore/types.hpp>

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/async_result.hpp>

#include <cstdint>
#include <exception>
#include <memory>
#include <string>
#include <vector>

namespace evstore {

class consumer;
class store;

namespace detail {
class subscription_impl;
}

struct subscription_options {
  // First event number to deliver (a version, a $all position or a read-stream
  // entry number; see recorded_event::sequence); from_end: only new events.
  std::uint64_t from = 0;
  // Most events per batch.
  std::size_t max_batch = 512;
  // Most bytes per batch (0: no limit), counted as read_options::max_bytes
  // counts them: the events' stored records (type, data and metadata plus 84
  // bytes each, docs/format.md). Decided before the records are read, so a
  // batch never reads more. A batch always holds at least one event, so an
  // event larger than this comes alone.
  std::size_t max_bytes = 0;
};

// What one next() delivers: some events, and/or the one-time caught-up signal.
struct subscription_batch {
  std::vector<recorded_event> events;
  // Set once, on the batch after which the subscription has delivered every
  // event that existed when it reached the end (events may then be empty).
  bool caught_up = false;
  // The event number next() continues from.
  std::uint64_t next = 0;
  // When next() fails: why, for people (the file and offset of a failed
  // read, the deleted read stream's name...). Empty otherwise.
  std::string detail;
};

class subscription {
 public:
  using executor_type = boost::asio::any_io_executor;
  using next_signature = void(boost::system::error_code, subscription_batch);

  subscription() = default;
  subscription(subscription&&) noexcept;
  subscription& operator=(subscription&&) noexcept;
  // Cancels: a pending next() completes with operation_aborted.
  ~subscription();

  // Completes with the next batch once there is one: at once while catching
  // up, when new events are published once live. Errors: operation_aborted
  // (cancelled or destroyed), store_closed (after close()), stream_deleted
  // (the read stream subscribed to was deleted), corrupt_data and I/O errors
  // of the read; subscription_batch::detail says more. With use_future /
  // use_awaitable an error is thrown as an operation_error with that detail.
  template <class CompletionToken>
  auto next(CompletionToken&& token) {
    if constexpr (detail::throws_on_error<std::decay_t<CompletionToken>>) {
      return boost::asio::async_initiate<CompletionToken, void(std::exception_ptr, subscription_batch)>(
          [this](auto handler) {
            async_next(detail::result_detail_adapter<decltype(handler)>{std::move(handler)});
          },
          token);
    } else {
      return boost::asio::async_initiate<CompletionToken, next_signature>(
          [this](auto handler) { async_next(std::move(handler)); }, token);
    }
  }

  void cancel();
  // The event number the next batch starts at.
  std::uint64_t position() const;
  bool valid() const noexcept { return impl_ != nullptr; }

 private:
  friend class store;
  friend class consumer;
  explicit subscription(std::shared_ptr<detail::subscription_impl> impl);
  void async_next(boost::asio::any_completion_handler<next_signature> handler);

  std::shared_ptr<detail::subscription_impl> impl_;
};

}  // namespace evstore
