// evstore::consumer — a named, durable reader of one stream.
//
// A consumer remembers how far it got (the next event number to deliver) and,
// optionally, a JSON state, and stores both in one atomic step. After a
// restart it resumes at the stored position: events handled after the last
// commit are delivered again (at-least-once), and a state committed together
// with its position has every event applied exactly once.
//
//   auto c = store.consumer("$et-OrderPaid", "mailer");      // result<consumer>
//   auto sub = c->subscribe();                                  // from c->position()
//   ... handle a batch, fold it into the state ...
//   c->commit(batch.next, new_state_json, asio::use_awaitable);
//
// Only one live instance of a consumer may exist per consumer directory
// (errc::consumer_busy): in this process or any other.
//
// Threading: every member may be called from any thread; commit() completions
// run on their associated executor (plain callbacks: the store's executor).
// The file work of a commit runs on a store-owned background thread.
#pragma once

#include <evstore/completion.hpp>
#include <evstore/error.hpp>
#include <evstore/subscription.hpp>

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/async_result.hpp>

#include <cstdint>
#include <memory>
#include <string>

namespace evstore {

namespace detail {
class consumer_impl;
}

// A consumer's stored checkpoint, read without opening the consumer.
struct consumer_info {
  std::uint64_t position = 0;  // the next event number to deliver
  std::string state;           // JSON, empty if none
  std::string stream;          // the stream it consumes
  std::string name;
};

class consumer {
 public:
  using commit_signature = void(boost::system::error_code);

  consumer(consumer&&) noexcept;
  consumer& operator=(consumer&&) noexcept;
  // Releases the consumer's name (a commit in progress still completes).
  ~consumer();

  const std::string& stream() const;
  const std::string& name() const;
  // The next event number to deliver: one past the last committed one (0 at first).
  std::uint64_t position() const;
  // The JSON state stored with the position; empty if none was ever stored.
  std::string state() const;

  // A subscription to the stream from position(); options.from is ignored.
  // Its reads run on `executor` (default: the store's, which also runs the
  // appends' flushes: a server gives its consumers a read executor of their
  // own, as with store::subscribe).
  [[nodiscard]] result<subscription> subscribe(subscription_options options = {}) const;
  [[nodiscard]] result<subscription> subscribe(subscription_options options,
                                               subscription::executor_type executor) const;

  // Stores `position` (the next event number to deliver, usually a batch's
  // `next`: the number of the last event handled plus one — the one
  // numbering of consumers everywhere, HTTP and WebSocket included) and
  // `state_json` (JSON text, or empty for none) atomically and durably.
  // Completes once both are on disk. Errors: invalid_argument (a position
  // beyond the stream's published events, going backwards, or a commit made
  // before a reset() that was called since), invalid_event (state is not
  // JSON), I/O errors (the stored pair is then still the previous one or
  // this one). With use_future / use_awaitable an error is thrown as an
  // operation_error with its detail; a callback taking (error_code,
  // std::string) gets the detail (completion.hpp).
  template <class CompletionToken>
  auto commit(std::uint64_t position, std::string state_json, CompletionToken&& token) {
    return detail::initiate_detailed(std::forward<CompletionToken>(token),
                                     [this, position, s = std::move(state_json)](auto handler) mutable {
                                       async_commit(position, std::move(s), std::move(handler));
                                     });
  }

  // Moves the consumer to `position` (any position up to the stream's
  // published events, backwards too: rebuilding a projection is reset(0, ""))
  // with `state_json`, atomically and durably, as commit() does. A batch
  // handled before a rewind never moves the consumer forward again: every
  // commit called before the reset and not yet on disk is refused
  // (invalid_argument) rather than applied after it, the subscriptions this
  // consumer's subscribe() made end (operation_aborted), and commits are
  // refused ("subscribe again before committing") until subscribe() is
  // called again — once the reset has completed, so that it starts at the
  // new position. Errors as commit()'s, less going backwards.
  template <class CompletionToken>
  auto reset(std::uint64_t position, std::string state_json, CompletionToken&& token) {
    return detail::initiate_detailed(std::forward<CompletionToken>(token),
                                     [this, position, s = std::move(state_json)](auto handler) mutable {
                                       async_reset(position, std::move(s), std::move(handler));
                                     });
  }

 private:
  friend class store;
  explicit consumer(std::shared_ptr<detail::consumer_impl> impl);
  void async_commit(std::uint64_t position, std::string state,
                    boost::asio::any_completion_handler<detail::detailed_signature> handler);
  void async_reset(std::uint64_t position, std::string state,
                   boost::asio::any_completion_handler<detail::detailed_signature> handler);

  std::shared_ptr<detail::consumer_impl> impl_;
};

}  // namespace evstore
