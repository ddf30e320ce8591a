// The state behind evstore::subscription (see subscription.hpp for the contract).
//
// One attempt at a time runs on the subscription's executor: it reads the
// next batch from storage if the stream's published count is ahead of the
// subscription, reports caught-up once when it is not, and otherwise parks a
// waiter in the store's notifier, which posts the next attempt. At most one
// next() is outstanding, so attempts never overlap; cancel() may race with
// them and is resolved under mutex_: whichever of an attempt and cancel()
// takes the pending handler completes it, so it is called exactly once.
// A subscription to a read stream ends with stream_deleted once the read
// stream is deleted (its link's incarnation moves on).
#pragma once

#include <evstore/store.hpp>
#include <evstore/subscription.hpp>

#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

namespace evstore::detail {

class store_impl;

class subscription_impl : public std::enable_shared_from_this<subscription_impl> {
 public:
  using next_handler = boost::asio::any_completion_handler<subscription::next_signature>;
  using batch_callback = std::function<void(boost::system::error_code, const subscription_batch&)>;

  subscription_impl(std::shared_ptr<const store_impl> store, std::string stream, subscription_options options,
                    subscription::executor_type executor);

  void next(next_handler handler);
  // Delivers every batch to `callback` until an error (operation_aborted after cancel()).
  void run(batch_callback callback);
  void cancel();
  std::uint64_t position() const;

 private:
  void post_attempt();
  void attempt();
  void complete(boost::system::error_code ec, subscription_batch batch);
  void deliver(next_handler handler, boost::system::error_code ec, subscription_batch batch);
  // The incarnation of `stream` if it is a read stream now (indexer::incarnation).
  static std::optional<std::uint64_t> read_stream_incarnation(const store_impl& store,
                                                              std::string_view stream);
  // The read stream subscribed to was deleted since.
  bool deleted() const;
  // The events from `from` on (fewer than `published`), bounded by max_batch_
  // and max_bytes_.
  [[nodiscard]] result<read_page> read_batch(std::uint64_t from);

  const std::shared_ptr<const store_impl> store_;
  const std::string stream_;
  const std::size_t max_batch_;
  const std::size_t max_bytes_;
  const subscription::executor_type executor_;

  mutable std::mutex mutex_;
  std::optional<next_handler> pending_;
  std::uint64_t waiter_ = 0;  // notifier id while parked
  bool cancelled_ = false;
  std::uint64_t next_;                              // guarded by mutex_ for position(); written by attempts
  bool caught_up_ = false;                          // attempts only
  const std::optional<std::uint64_t> incarnation_;  // of the read stream subscribed to, if it is one
};

}  // namespace evstore::detail
