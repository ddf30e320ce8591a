// Durable consumers: load, lock and atomically replace a consumer's
// checkpoint file (format.hpp, "Consumer checkpoint").
#include "format/format.hpp"
#include "format/layout.hpp"
#include "format/stream_name.hpp"
#include "io/io_util.hpp"
#include "json/json_check.hpp"
#include "live/consumer_files.hpp"
#include "live/store_consumers.hpp"
#include "live/subscription_impl.hpp"
#include "store/detailed_handler.hpp"
#include "store/store_impl.hpp"
#include "store/test_hooks.hpp"
#include "store/tracked_handler.hpp"
#include <evstore/consumer.hpp>

#include <boost/asio/post.hpp>

#include <algorithm>
#include <mutex>
#include <optional>
#include <string>
#include <tuple>

namespace evstore::detail {

class consumer_impl : public std::enable_shared_from_this<consumer_impl> {
 public:
  using commit_handler = detailed_handler_type;

  consumer_impl(std::shared_ptr<store_impl> store, std::string stream, std::string name, std::string path,
                std::unique_ptr<file_lock> lock, format::consumer_checkpoint stored)
      : store_(std::move(store)),
        stream_(std::move(stream)),
        name_(std::move(name)),
        path_(std::move(path)),
        lock_(std::move(lock)),
        position_(stored.position),
        state_(stored.state) {}

  const std::string& stream() const { return stream_; }
  const std::string& name() const { return name_; }
  std::uint64_t position() const {
    std::lock_guard lock(mutex_);
    return position_;
  }
  std::string state() const {
    std::lock_guard lock(mutex_);
    return state_;
  }
  const std::shared_ptr<store_impl>& store() const { return store_; }

  void commit(std::uint64_t position, std::string state, commit_handler handler);
  void reset(std::uint64_t position, std::string state, commit_handler handler);
  // A subscription subscribe() made: counted as the consumer's until it ends.
  void subscribed(const std::shared_ptr<subscription_impl>& sub);

 private:
  // The reason `position` cannot be stored, if any (checked when a commit or
  // a reset is called).
  std::optional<error> refuse(std::uint64_t position, const std::string& state) const;
  [[nodiscard]] boost::system::error_code write(std::uint64_t position, const std::string& state) const;
  // The detail of a commit going back over handled events.
  std::string behind(std::uint64_t committed, std::uint64_t position) const;
  // Takes `self` by value: the completion carries the last reference back to
  // the store's executor, so a store is never destroyed on its background thread.
  static void complete(std::shared_ptr<consumer_impl> self, commit_handler handler,
                       boost::system::error_code ec, std::string detail = {});

  const std::shared_ptr<store_impl> store_;
  const std::string stream_;
  const std::string name_;
  const std::string path_;
  const std::unique_ptr<file_lock> lock_;
  mutable std::mutex mutex_;
  std::uint64_t position_;
  std::string state_;
  // Raised by each reset() call: a commit carries the generation it was
  // called in, and one called before a reset is refused when its turn comes,
  // so a commit in flight never undoes a reset (nor lands on its position).
  std::uint64_t generation_ = 0;
  // Set by reset(), cleared by subscribe(): a commit from a loop that ran
  // before the reset (its batch handled, its commit called after it) is
  // refused until the application subscribes again.
  bool awaiting_subscribe_ = false;
  // The live subscriptions subscribe() made: reset() ends them.
  std::vector<std::weak_ptr<subscription_impl>> subscriptions_;
  std::mutex commit_mutex_;  // one file replacement at a time
};

boost::system::error_code consumer_impl::write(std::uint64_t position, const std::string& state) const {
  return write_file_atomically(*store_->options().file_system, path_,
                               format::encode_consumer_checkpoint({position, state}));
}

std::optional<error> consumer_impl::refuse(std::uint64_t position, const std::string& state) const {
  auto published = store_->published_count(stream_);
  if (!published) return published.error();
  if (position > *published) {
    // Never ahead of what a crash keeps.
    return error(errc::invalid_argument, "position " + std::to_string(position) + " is beyond the " +
                                             std::to_string(*published) + " published events of '" + stream_ +
                                             "'");
  }
  if (!state.empty() && !is_valid_json(state)) return error(errc::invalid_event, "the state is not JSON");
  return std::nullopt;
}

// Writes run on the store's background thread, one at a time in the order
// they were posted (a pool of one thread), so a reset's write follows every
// commit called before it.
void consumer_impl::commit(std::uint64_t position, std::string state, commit_handler handler) {
  std::optional<error> invalid = refuse(position, state);
  std::uint64_t generation = 0;
  if (!invalid) {
    std::lock_guard lock(mutex_);
    generation = generation_;
    if (awaiting_subscribe_) {
      invalid.emplace(errc::invalid_argument,
                      "consumer '" + name_ + "' was reset: subscribe again before committing");
    } else if (position < position_) {
      // Never back over handled events.
      invalid.emplace(errc::invalid_argument, behind(position_, position));
    }
  }
  if (invalid)
    return complete(shared_from_this(), std::move(handler), invalid->code, std::move(invalid->detail));
  // fsync and rename are blocking: off the caller's executor.
  boost::asio::post(
      store_->background_executor(), [self = shared_from_this(), position, generation,
                                      state = std::move(state), handler = std::move(handler)]() mutable {
        EVSTORE_TEST_POINT("consumer.commit.write");
        boost::system::error_code ec;
        std::string detail;
        {
          std::lock_guard serial(self->commit_mutex_);
          // Checked again in turn: commit() checked against the position before
          // any commit still in flight, and one of those may have passed this one.
          std::uint64_t now = 0;
          bool was_reset = false;
          {
            std::lock_guard lock(self->mutex_);
            now = self->position_;
            was_reset = generation != self->generation_;
          }
          if (was_reset) {
            ec = make_error_code(errc::invalid_argument);
            detail = "consumer '" + self->name_ +
                     "' was reset after this commit was made: subscribe again from its position";
          } else if (position < now) {
            ec = make_error_code(errc::invalid_argument);
            detail = self->behind(now, position);
          } else if ((ec = self->write(position, state))) {
            detail = describe_failure("writing the checkpoint " + self->path_, ec);
          }
          if (!ec) {
            std::lock_guard lock(self->mutex_);
            self->position_ = std::max(self->position_, position);
            self->state_ = std::move(state);
          }
        }
        complete(std::move(self), std::move(handler), ec, std::move(detail));
      });
}

void consumer_impl::reset(std::uint64_t position, std::string state, commit_handler handler) {
  if (auto invalid = refuse(position, state))
    return complete(shared_from_this(), std::move(handler), invalid->code, std::move(invalid->detail));
  std::vector<std::shared_ptr<subscription_impl>> live;
  {
    std::lock_guard lock(mutex_);
    ++generation_;
    awaiting_subscribe_ = true;
    for (const auto& weak : subscriptions_) {
      if (auto sub = weak.lock()) live.push_back(std::move(sub));
    }
    subscriptions_.clear();
  }
  // Their loops end (operation_aborted) instead of going on from the old place.
  for (const auto& sub : live) sub->cancel();
  boost::asio::post(store_->background_executor(),
                    [self = shared_from_this(), position, state = std::move(state),
                     handler = std::move(handler)]() mutable {
                      EVSTORE_TEST_POINT("consumer.reset.write");
                      boost::system::error_code ec;
                      std::string detail;
                      {
                        std::lock_guard serial(self->commit_mutex_);
                        if ((ec = self->write(position, state))) {
                          detail = describe_failure("writing the checkpoint " + self->path_, ec);
                        } else {
                          // What is on disk now, whatever comes after: writes run in
                          // order, so memory follows the last one that succeeded.
                          std::lock_guard lock(self->mutex_);
                          self->position_ = position;
                          self->state_ = std::move(state);
                        }
                      }
                      complete(std::move(self), std::move(handler), ec, std::move(detail));
                    });
}

void consumer_impl::subscribed(const std::shared_ptr<subscription_impl>& sub) {
  std::lock_guard lock(mutex_);
  awaiting_subscribe_ = false;
  std::erase_if(subscriptions_, [](const auto& weak) { return weak.expired(); });
  subscriptions_.push_back(sub);
}

std::string consumer_impl::behind(std::uint64_t committed, std::uint64_t position) const {
  return "position " + std::to_string(position) + " is behind the committed position " +
         std::to_string(committed) + " of consumer '" + name_ + "' (reset() moves it back)";
}

void consumer_impl::complete(std::shared_ptr<consumer_impl> self, commit_handler handler,
                             boost::system::error_code ec, std::string detail) {
  // The store lets go of `self` before the handler runs: the caller may then
  // reopen the store and must not find this consumer (or its store) alive.
  store_impl& store = *self->store_;
  store.complete_on_executor(with_detail(std::move(handler),
                                         [d = std::move(detail)](boost::system::error_code e) {
                                           return d.empty() ? e.message() : d;
                                         }),
                             ec, std::move(self));
}

namespace {

struct consumer_location {
  std::string root;
  std::string path;
};

[[nodiscard]] result<consumer_location> locate_consumer(const store_impl& store, std::string_view stream,
                                                        std::string_view name) {
  if (auto invalid = stream_name_error(stream, name_use::read); invalid.code) return invalid;
  if (validate_stream_name(name, name_use::read)) {
    return error(errc::invalid_argument, "invalid consumer name: " + std::string(name));
  }
  std::string root = store.consumer_directory();
  if (root.empty()) {
    return error(errc::read_only, "a read-only store keeps consumers in store_options::consumer_directory");
  }
  const std::string dir = layout::join(root, encode_stream_file_name(stream));
  return consumer_location{std::move(root), layout::join(dir, encode_stream_file_name(name) + ".consumer")};
}

}  // namespace

[[nodiscard]] result<std::shared_ptr<consumer_impl>> open_consumer(const std::shared_ptr<store_impl>& store,
                                                                   std::string_view stream,
                                                                   std::string_view name) {
  auto where = locate_consumer(*store, stream, name);
  if (!where) return where.error();
  const std::string& root = where->root;
  const std::string& path = where->path;
  file_system& fs = *store->options().file_system;
  const std::string parent = layout::parent(path);
  if (!fs.exists(parent)) {
    if (auto ec = fs.create_directories(parent); ec) return error(ec, parent);
    // Make the new directories durable, so a committed checkpoint cannot vanish with them.
    for (std::string d = parent; d.size() >= root.size(); d = layout::parent(d)) {
      if (auto ec = fs.sync_directory(layout::parent(d)); ec) return error(ec, layout::parent(d));
      if (d.size() == root.size()) break;
    }
  }
  auto lock = fs.lock(path + ".lock");
  if (!lock) {
    if (lock.error() == errc::store_locked) {
      return error(errc::consumer_busy,
                   "consumer '" + std::string(name) + "' of '" + std::string(stream) + "' is open elsewhere");
    }
    return error(lock.error(), path + ".lock");
  }
  std::vector<std::byte> bytes;
  auto stored = load_consumer_checkpoint(fs, path, bytes);
  if (!stored) return stored.error();
  return std::make_shared<consumer_impl>(store, std::string(stream), std::string(name), path,
                                         std::move(*lock), *stored);
}

[[nodiscard]] result<consumer_info> read_consumer_info(const store_impl& store, std::string_view stream,
                                                       std::string_view name) {
  auto where = locate_consumer(store, stream, name);
  if (!where) return where.error();
  std::vector<std::byte> bytes;
  file_system& fs = *store.options().file_system;
  if (!fs.exists(where->path))
    return error(errc::stream_not_found,
                 "no consumer '" + std::string(name) + "' of '" + std::string(stream) + "'");
  auto stored = load_consumer_checkpoint(fs, where->path, bytes);
  if (!stored) return stored.error();
  return consumer_info{stored->position, std::string(stored->state), std::string(stream), std::string(name)};
}

[[nodiscard]] result<std::vector<consumer_info>> list_consumer_infos(const store_impl& store) {
  const std::string root = store.consumer_directory();
  file_system& fs = *store.options().file_system;
  if (root.empty()) return std::vector<consumer_info>{};  // a read-only store keeps none of its own
  return list_consumer_checkpoints(fs, root);
}

}  // namespace evstore::detail

namespace evstore {

consumer::consumer(std::shared_ptr<detail::consumer_impl> impl) : impl_(std::move(impl)) {}
consumer::consumer(consumer&&) noexcept = default;
consumer& consumer::operator=(consumer&&) noexcept = default;
consumer::~consumer() = default;

const std::string& consumer::stream() const { return impl_->stream(); }
const std::string& consumer::name() const { return impl_->name(); }
std::uint64_t consumer::position() const { return impl_->position(); }
std::string consumer::state() const { return impl_->state(); }

result<subscription> consumer::subscribe(subscription_options options) const {
  return subscribe(options, impl_->store()->executor());
}

result<subscription> consumer::subscribe(subscription_options options,
                                         subscription::executor_type executor) const {
  options.from = impl_->position();
  auto sub = std::make_shared<detail::subscription_impl>(impl_->store(), impl_->stream(), options,
                                                         std::move(executor));
  impl_->subscribed(sub);
  return subscription(std::move(sub));
}

void consumer::async_commit(std::uint64_t position, std::string state,
                            boost::asio::any_completion_handler<detail::detailed_signature> handler) {
  impl_->commit(position, std::move(state),
                detail::track_work(std::move(handler), impl_->store()->executor()));
}

void consumer::async_reset(std::uint64_t position, std::string state,
                           boost::asio::any_completion_handler<detail::detailed_signature> handler) {
  impl_->reset(position, std::move(state),
               detail::track_work(std::move(handler), impl_->store()->executor()));
}

}  // namespace evstore
