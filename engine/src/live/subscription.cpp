// Live subscriptions: catch-up reads, the caught-up signal, waiting for new
// events. See subscription_impl.hpp.
#include "links/indexer.hpp"
#include "live/subscription_impl.hpp"
#include "store/store_impl.hpp"
#include "store/tracked_handler.hpp"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/post.hpp>

#include <algorithm>

namespace evstore {

subscription::subscription(std::shared_ptr<detail::subscription_impl> impl) : impl_(std::move(impl)) {}
subscription::subscription(subscription&&) noexcept = default;
subscription& subscription::operator=(subscription&& other) noexcept {
  if (this != &other) {
    if (impl_) impl_->cancel();
    impl_ = std::move(other.impl_);
  }
  return *this;
}
subscription::~subscription() {
  if (impl_) impl_->cancel();
}

void subscription::async_next(boost::asio::any_completion_handler<next_signature> handler) {
  impl_->next(std::move(handler));
}
void subscription::cancel() {
  if (impl_) impl_->cancel();
}
std::uint64_t subscription::position() const { return impl_ ? impl_->position() : 0; }

}  // namespace evstore

namespace evstore::detail {
namespace {

constexpr const char* cancelled_detail = "the subscription was cancelled or destroyed";

// The batch of a failed next(): only its detail.
subscription_batch failed(std::string detail) {
  subscription_batch b;
  b.detail = std::move(detail);
  return b;
}

}  // namespace

subscription_impl::subscription_impl(std::shared_ptr<const store_impl> store, std::string stream,
                                     subscription_options options, subscription::executor_type executor)
    : store_(std::move(store)),
      stream_(std::move(stream)),
      max_batch_(std::max<std::size_t>(1, options.max_batch)),
      max_bytes_(options.max_bytes),
      executor_(std::move(executor)),
      next_(options.from),
      incarnation_(read_stream_incarnation(*store_, stream_)) {}

// Read before asking whether the name is a read stream: a delete that makes
// it none bumps the incarnation afterwards, so this one is the old one.
std::optional<std::uint64_t> subscription_impl::read_stream_incarnation(const store_impl& store,
                                                                        std::string_view stream) {
  auto incarnation = store.links().incarnation(stream);
  return store.links().is_link(stream) ? incarnation : std::nullopt;
}

bool subscription_impl::deleted() const {
  return incarnation_ && store_->links().incarnation(stream_) != incarnation_;
}

std::uint64_t subscription_impl::position() const {
  std::lock_guard lock(mutex_);
  return next_;
}

void subscription_impl::next(next_handler untracked) {
  // A pending next() keeps its executor's run() going, like a pending socket read.
  auto handler = track_work(std::move(untracked), executor_);
  {
    std::lock_guard lock(mutex_);
    if (pending_) {
      deliver(std::move(handler), make_error_code(errc::invalid_argument),
              failed("a next() is already pending"));
      return;
    }
    pending_.emplace(std::move(handler));
  }
  post_attempt();
}

void subscription_impl::run(batch_callback callback) {
  // Weak: the pending handler lives in this object; a strong reference would
  // be a cycle that outlives an executor which never runs it. The
  // subscription object the caller holds keeps this alive.
  next([weak = weak_from_this(), callback = std::move(callback)](boost::system::error_code ec,
                                                                 const subscription_batch& batch) mutable {
    callback(ec, batch);
    if (ec) return;
    if (auto self = weak.lock()) {
      self->run(std::move(callback));
    } else {
      // Destroyed with this batch on its way: no next() can end it, so end
      // it here, as store.hpp promises.
      callback(make_error_code(boost::asio::error::operation_aborted), failed(cancelled_detail));
    }
  });
}

void subscription_impl::cancel() {
  std::optional<next_handler> handler;
  {
    std::lock_guard lock(mutex_);
    if (cancelled_) return;
    cancelled_ = true;
    if (waiter_ != 0) store_->subscriptions().cancel(stream_, waiter_);
    waiter_ = 0;
    // Completed here, whatever is under way: a waiter already taken off the
    // notifier's list may be about to wake an attempt, or find this object
    // gone (its reference is weak) and wake nothing. An attempt that runs
    // later finds no pending handler and stops.
    if (pending_) {
      handler.emplace(std::move(*pending_));
      pending_.reset();
    }
  }
  if (handler)
    deliver(std::move(*handler), make_error_code(boost::asio::error::operation_aborted),
            failed(cancelled_detail));
}

void subscription_impl::post_attempt() {
  boost::asio::post(executor_, [self = shared_from_this()] { self->attempt(); });
}

// Handlers are only ever move-constructed: Boost 1.81's move assignment of
// any_completion_handler wraps the handler in itself without end.
void subscription_impl::complete(boost::system::error_code ec, subscription_batch batch) {
  std::optional<next_handler> handler;
  {
    std::lock_guard lock(mutex_);
    if (!pending_) return;
    handler.emplace(std::move(*pending_));
    pending_.reset();
    waiter_ = 0;
    if (!ec) next_ = batch.next;
  }
  deliver(std::move(*handler), ec, std::move(batch));
}

void subscription_impl::deliver(next_handler handler, boost::system::error_code ec,
                                subscription_batch batch) {
  // Always through the subscription's executor: the caller may hold locks,
  // or be the handler's own frame (no recursion through next()).
  boost::asio::post(executor_, [ex = executor_, h = std::move(handler), ec, b = std::move(batch)]() mutable {
    auto target = boost::asio::get_associated_executor(h, ex);
    boost::asio::dispatch(
        target, [h = std::move(h), ec, b = std::move(b)]() mutable { std::move(h)(ec, std::move(b)); });
  });
}

// A batch of at most max_batch_ events and (when set) max_bytes_ stored
// bytes: the read's own byte budget decides before any record is read.
result<read_page> subscription_impl::read_batch(std::uint64_t from) {
  read_options o{.from = from, .max_count = max_batch_, .direction = direction::forward};
  if (max_bytes_ > 0) o.max_bytes = max_bytes_;
  return store_->read_visible(stream_, o);
}

void subscription_impl::attempt() {
  std::uint64_t from = 0;
  bool cancelled = false;
  {
    std::lock_guard lock(mutex_);
    if (!pending_) return;
    cancelled = cancelled_;
    from = next_;
  }
  // Cancelled after this attempt was posted: cancel() completed the handler.
  if (cancelled)
    return complete(make_error_code(boost::asio::error::operation_aborted), failed(cancelled_detail));
  // Its read stream was deleted (and maybe re-created: another stream by the
  // same name, numbered from 0 again).
  if (deleted())
    return complete(make_error_code(errc::stream_deleted),
                    failed("read stream '" + stream_ + "' was deleted"));
  auto count = store_->published_count(stream_);
  if (!count) return complete(count.error().code, failed(count.error().message()));
  subscription_batch batch;
  batch.next = from;
  if (from < *count) {
    auto page = read_batch(from);
    // Pages of hidden events only (deleted, truncated, capped, expired) are
    // skipped: a batch holds at least one event, or says caught up.
    while (page && page->events.empty() && !page->end && page->next > from && page->next < *count) {
      from = page->next;
      page = read_batch(from);
    }
    if (!page) return complete(page.error().code, failed(page.error().message()));
    batch.events = std::move(page->events);
    batch.next = page->next;
    if (!caught_up_ && batch.next >= *count) caught_up_ = batch.caught_up = true;
    if (!batch.events.empty() || batch.caught_up) return complete({}, std::move(batch));
    // Only hidden events up to the end, and caught up already: wait after them.
    from = batch.next;
    std::lock_guard lock(mutex_);
    next_ = from;
  }
  if (!caught_up_) {
    caught_up_ = batch.caught_up = true;
    return complete({}, std::move(batch));
  }
  if (store_->is_closed())
    return complete(make_error_code(errc::store_closed), failed("the store was closed"));
  // Live and nothing new: park until the stream's published count moves past `from`.
  std::unique_lock lock(mutex_);
  if (cancelled_) {
    lock.unlock();
    return complete(make_error_code(boost::asio::error::operation_aborted), failed(cancelled_detail));
  }
  waiter_ = store_->subscriptions().wait(
      stream_,
      [&] {
        auto now = store_->published_count(stream_);
        return !now || *now > from || store_->is_closed() || deleted();
      },
      [weak = weak_from_this()] {
        // This may run on the writer's or the background thread: the
        // reference goes into the posted attempt, so it is never the last
        // one dropped here (which could destroy the store on that thread).
        if (auto self = weak.lock()) {
          auto ex = self->executor_;
          boost::asio::post(ex, [self = std::move(self)] { self->attempt(); });
        }
      });
}

}  // namespace evstore::detail
